// HTTP/1.1 behaviour a client relies on: pipelining, 100-continue, HTTP/1.0, chunked uploads, and
// pooled upstream connections that the origin closes.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.h"

using namespace harness;
using json = nlohmann::json;

namespace {
std::string hello(const Backend& b) {
  return config("  hello:\n    instances: [\"" + b.address() + "\"]\n",
                "  - id: hello\n    path: /hello/**\n    service: hello\n");
}
}  // namespace

TEST_CASE("pipelined requests are answered in order", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  Client c(gw.port());
  c.send("GET /hello/one HTTP/1.1\r\nHost: t\r\n\r\n"
         "POST /hello/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
         "GET /ping-missing HTTP/1.1\r\nHost: t\r\n\r\n"
         "GET /hello/three HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r1 = c.read_response();
  auto r2 = c.read_response();
  auto r3 = c.read_response();
  auto r4 = c.read_response();
  REQUIRE((r1 && r2 && r3 && r4));
  CHECK(r1->header("X-Seen-Path") == "/one");
  CHECK(r2->body == "hello");
  CHECK(r3->status == 404);
  CHECK(r4->header("X-Seen-Path") == "/three");
}

TEST_CASE("Expect: 100-continue", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  {
    Client c(gw.port());
    c.send("POST /hello/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    auto interim = c.read_response();
    REQUIRE(interim);
    CHECK(interim->status == 100);
    c.send("data");
    auto final = c.read_response();
    REQUIRE(final);
    CHECK(final->status == 200);
    CHECK(final->body == "data");
  }
  {
    // Refused before the body is needed: the final status comes without a 100.
    Client c(gw.port());
    c.send("POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 404);
  }
}

TEST_CASE("HTTP/1.0 clients", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  {
    Client c(gw.port());
    c.send("GET /hello/bytes?n=1000&chunked=1 HTTP/1.0\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->version == "HTTP/1.0");
    CHECK(!r->chunked);  // no chunked coding for a 1.0 client
    CHECK(r->body.size() == 1000);
    CHECK(c.closed_by_peer());
  }
  {
    Client c(gw.port());
    c.send("GET /hello/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->header("Connection") == "keep-alive");
    c.send("GET /hello/y HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto again = c.read_response();
    REQUIRE(again);
    CHECK(again->header("X-Seen-Path") == "/y");
  }
}

TEST_CASE("chunked uploads are forwarded whole", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  Client c(gw.port());
  c.send("POST /hello/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "hello world");
}

TEST_CASE("a pooled connection the origin closed does not fail the next request", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  Client c(gw.port());
  for (int i = 0; i < 5; ++i) {
    c.send("GET /hello/close HTTP/1.1\r\nHost: t\r\n\r\n");  // the backend closes after answering
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    c.send("GET /hello/x HTTP/1.1\r\nHost: t\r\n\r\n");
    auto next = c.read_response();
    REQUIRE(next);
    CHECK(next->status == 200);
  }
}
