// The Exchange without sockets: an in-memory client (TestDownstream) and in-memory origins drive
// one request through the whole lifecycle, and the tests check what each side saw.
#include <catch2/catch.hpp>

#include "unit/http/exchange_rig.h"

using namespace http_support;
using portcullis::http::Disposition;

namespace {

const std::string ok_reply = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Origin: a\r\n\r\nhello";

std::string config(const std::string& services, const std::string& routes) {
  return "server: { listen: \"127.0.0.1:0\" }\nadmin: { enabled: false }\nservices:\n" + services + "routes:\n" + routes;
}

const std::string one_service = config(R"(  app:
    instances: ["127.0.0.1:9001"]
)", R"(  - id: app
    path: /app/**
    service: app
  - id: ping
    path: /ping
    static: { status: 200, body: "pong\n", headers: { Content-Type: text/plain } }
)");

}  // namespace

TEST_CASE("exchange: a proxied answer, with the forwarding rules applied both ways", "[exchange]") {
  Rig rig(one_service);
  std::vector<std::string> seen;
  rig.origins.origin("127.0.0.1:9001", answering(ok_reply, &seen));
  TestDownstream client(rig.ioc, "GET /app/items?x=1 HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive\r\n\r\n");
  CHECK(rig.run(client) == Disposition::keep);
  CHECK(client.status == 200);
  CHECK(client.body == "hello");
  CHECK(client.ended);
  CHECK(client.content_length == 5);
  CHECK(client.field("X-Origin") == "a");
  CHECK(client.via == "portcullis");
  CHECK_FALSE(client.request_id.empty());
  REQUIRE(seen.size() == 1);
  const std::string& request = seen[0];
  CHECK(request.rfind("GET /items?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n", 0) == 0);  // prefix stripped
  CHECK(request.find("X-Forwarded-For: 127.0.0.1\r\n") != std::string::npos);
  CHECK(request.find("X-Forwarded-Host: example.com\r\n") != std::string::npos);
  CHECK(request.find("X-Forwarded-Prefix: /app\r\n") != std::string::npos);
  CHECK(request.find("X-Request-Id: " + client.request_id + "\r\n") != std::string::npos);
  CHECK(request.find("Connection") == std::string::npos);  // hop-by-hop: not forwarded
}

TEST_CASE("exchange: a local answer never reaches an origin", "[exchange]") {
  Rig rig(one_service);
  rig.origins.origin("127.0.0.1:9001", answering(ok_reply));
  TestDownstream client(rig.ioc, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(rig.run(client) == Disposition::keep);
  CHECK(client.status == 200);
  CHECK(client.body == "pong\n");
  CHECK(client.field("Content-Type") == "text/plain");
  CHECK(client.via.empty());  // not proxied
  CHECK(rig.origins.connections("127.0.0.1:9001") == 0);
}

TEST_CASE("exchange: errors are answered with the JSON error their kind maps to", "[exchange]") {
  Rig rig(one_service);  // no origin script: the instance refuses connections
  SECTION("no route: 404") {
    TestDownstream client(rig.ioc, "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
    rig.run(client);
    CHECK(client.status == 404);
    CHECK(client.field("Content-Type") == "application/json");
    CHECK(client.body.find("\"status\":404,\"error\":\"Not Found\",\"message\":\"no route matches the request\"") !=
          std::string::npos);
    CHECK(client.body.find("\"request_id\":\"" + client.request_id + "\"") != std::string::npos);
  }
  SECTION("refused connections: 502, and the next-server retry does not go back to the one instance") {
    TestDownstream client(rig.ioc, "GET /app/x HTTP/1.1\r\nHost: t\r\n\r\n");
    rig.run(client);
    CHECK(client.status == 502);
    CHECK(client.body.find("cannot connect to 127.0.0.1:9001") != std::string::npos);
    CHECK(rig.origins.connections("127.0.0.1:9001") == 1);  // tried once: no untried instance is left
  }
  SECTION("an invalid path: 400 and the connection closes") {
    TestDownstream client(rig.ioc, "GET /app/../../etc HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(rig.run(client) == Disposition::close);
    CHECK(client.status == 400);
    CHECK(client.close);
  }
}

TEST_CASE("exchange: with no untried instance left, a same-server retry is used if one is allowed", "[exchange]") {
  Rig rig(config(R"(  app:
    instances: ["127.0.0.1:9001"]
    retries: { max_auto_retries: 1, max_auto_retries_next_server: 1 }
)", "  - { id: app, path: /**, service: app }\n"));
  TestDownstream client(rig.ioc, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
  rig.run(client);
  CHECK(client.status == 502);
  CHECK(rig.origins.connections("127.0.0.1:9001") == 2);  // the first try and one same-server retry
}

TEST_CASE("exchange: a failed attempt is retried on the next instance", "[exchange]") {
  Rig rig(config(R"(  app:
    instances: ["127.0.0.1:9001", "127.0.0.1:9002"]
    lb: round_robin
)", "  - { id: app, path: /**, service: app }\n"));
  SECTION("connection refused") {
    rig.origins.origin("127.0.0.1:9002", answering(ok_reply));
    for (int i = 0; i < 4; ++i) {
      TestDownstream client(rig.ioc, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
      rig.run(client);
      CHECK(client.status == 200);
      CHECK(client.body == "hello");
    }
    // Round robin picked the refusing instance at least once; each time the retry went on to
    // the other one instead of trying it again.
    CHECK(rig.origins.connections("127.0.0.1:9001") >= 1);
    CHECK(rig.origins.connections("127.0.0.1:9001") <= 4);
    CHECK(rig.origins.connections("127.0.0.1:9002") == 4);  // every request ended there
  }
  SECTION("503 from the first, 200 from the next") {
    rig.origins.origin("127.0.0.1:9001", answering("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"));
    rig.origins.origin("127.0.0.1:9002", answering(ok_reply));
    int answered = 0;
    for (int i = 0; i < 2; ++i) {
      TestDownstream client(rig.ioc, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
      rig.run(client);
      answered += client.status == 200;
    }
    CHECK(answered == 2);
  }
}

TEST_CASE("exchange: a streamed body goes through both ways, framed as it came", "[exchange]") {
  Rig rig(one_service);
  std::string received;
  rig.origins.origin("127.0.0.1:9001", [&](std::shared_ptr<MemoryEnd> end) -> net::awaitable<void> {
    received = co_await end->read_until("0\r\n\r\n");  // the request head and its chunked body
    co_await end->send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    co_await end->send("4\r\nabcd\r\n");
    co_await end->send("3\r\nefg\r\n0\r\n\r\n");
  });
  TestDownstream client(rig.ioc, "POST /app/up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
                        {"first ", "second ", "third"});
  client.hold_body(1);  // one piece now, the others one by one
  Disposition out{};
  bool done = false;
  portcullis::http::Exchange exchange(rig.worker());
  rig.start(client, exchange, out, done);
  CHECK(client.body_pieces_read == 1);
  CHECK_FALSE(done);
  client.give_body();
  rig.settle();
  CHECK(client.body_pieces_read == 2);
  client.give_body();
  rig.ioc.restart();
  rig.ioc.run();
  REQUIRE(done);
  const auto body_at = received.find("\r\n\r\n") + 4;
  CHECK(received.substr(body_at) == "6\r\nfirst \r\n7\r\nsecond \r\n5\r\nthird\r\n0\r\n\r\n");
  CHECK(client.status == 200);
  CHECK(client.body == "abcdefg");
  CHECK(client.ended);
  CHECK(client.content_length == -1);  // the sink frames it (chunked for HTTP/1.1)
}

TEST_CASE("exchange: an answer before the body was read leaves the body unread", "[exchange]") {
  Rig rig(one_service);
  TestDownstream client(rig.ioc, "POST /ping HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n", {"hello world"});
  client.hold_body(0);  // the client has not sent it
  CHECK(rig.run(client) == Disposition::keep);  // the connection decides whether to drain or close
  CHECK(client.status == 200);
  CHECK(client.body == "pong\n");
  CHECK(client.body_pieces_read == 0);
  CHECK(client.body_pending());
}

TEST_CASE("exchange: a slow client holds the origin back (back-pressure)", "[exchange]") {
  Rig rig(one_service);
  const std::size_t total = 8 * 1024 * 1024;
  const std::size_t pipe = 64 * 1024;
  rig.origins.origin(
      "127.0.0.1:9001",
      [&](std::shared_ptr<MemoryEnd> end) -> net::awaitable<void> {
        co_await read_request(*end);
        co_await end->send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(total) + "\r\n\r\n");
        const std::string block(16 * 1024, 'x');
        for (std::size_t sent = 0; sent < total; sent += block.size()) {
          const bool ok = co_await end->send(block);
          if (!ok) break;
        }
      },
      pipe);
  TestDownstream client(rig.ioc, "GET /app/big HTTP/1.1\r\nHost: t\r\n\r\n");
  client.close_sink();
  Disposition out{};
  bool done = false;
  portcullis::http::Exchange exchange(rig.worker());
  rig.start(client, exchange, out, done);
  // The client takes nothing: the gateway holds one read buffer and one batch of pieces, and the
  // origin is stopped by the full pipe instead of being read into memory.
  const std::size_t written_while_blocked = rig.origins.ends.at(0)->outgoing().written;
  CHECK(written_while_blocked < 4 * pipe + 64 * 1024);
  CHECK(client.body.empty());
  client.open_sink();
  rig.ioc.restart();
  rig.ioc.run();
  REQUIRE(done);
  CHECK(client.body.size() == total);
  CHECK(client.ended);
}
