// The control-plane HTTP client against a canned loopback server: framings, timeouts, streaming,
// cancellation and malformed answers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "unit/loopback_server.h"
#include "discovery/http_client.h"

using namespace portcullis::discovery;
namespace net = boost::asio;

namespace {

// Answers every connection with `pieces`, each its own TCP segment, then closes unless `hold` (the
// client must time out or cancel).
class CannedServer {
 public:
  CannedServer(std::vector<std::string> pieces, bool hold = false)
      : server_([pieces = std::move(pieces), hold](int c, const std::string&, const std::atomic<bool>& stopping) {
          for (const auto& p : pieces) {
            ::send(c, p.data(), p.size(), MSG_NOSIGNAL);
            std::this_thread::sleep_for(std::chrono::milliseconds(5));  // separate TCP segments
          }
          char buf[4096];
          while (hold && !stopping) {
            pollfd p{c, POLLIN, 0};
            if (poll(&p, 1, 20) > 0 && ::recv(c, buf, sizeof buf, 0) <= 0) break;
          }
        }) {}
  std::string url(const std::string& path = "/x") const { return server_.url(path); }
  std::string received() const { return server_.received(); }

 private:
  unit_support::LoopbackServer server_;
};

HttpResult run(HttpRequest req) {
  net::io_context ioc;
  HttpResult out;
  net::co_spawn(ioc, [&]() -> net::awaitable<void> { out = co_await http_request(ioc, req); }, net::detached);
  ioc.run();
  return out;
}

}  // namespace

TEST_CASE("URLs parse and bad ones are named", "[discovery][http_client]") {
  std::string error;
  auto u = parse_url("http://127.0.0.1:8761/eureka/", error);
  REQUIRE(u);
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == 8761);
  CHECK(u->target == "/eureka/");
  u = parse_url("HTTP://[::1]:2379", error);
  REQUIRE(u);
  CHECK(u->host == "::1");
  CHECK(u->target == "/");
  CHECK(u->authority() == "[::1]:2379");
  u = parse_url("http://localhost?x=1", error);
  REQUIRE(u);
  CHECK(u->port == 80);
  CHECK(u->target == "/?x=1");
  u = parse_url("https://keys.example.com/.well-known/jwks.json", error);
  REQUIRE(u);
  CHECK(u->https);
  CHECK(u->port == 443);
  CHECK(u->target == "/.well-known/jwks.json");
  CHECK_FALSE(parse_url("ftp://x/", error));
  CHECK(error.find("https://") != std::string::npos);
  CHECK_FALSE(parse_url("http://:80/", error));
  CHECK_FALSE(parse_url("http://x:99999/", error));
  CHECK_FALSE(parse_url("http://[::1/", error));
}

TEST_CASE("responses are read with each framing", "[discovery][http_client]") {
  SECTION("content-length, in pieces") {
    CannedServer s({"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: b\r\n\r\nhello", " world"});
    HttpRequest req;
    req.method = "POST";
    req.url = s.url("/apps?x=1");
    req.headers = {{"Accept", "application/json"}};
    req.body = "{}";
    HttpResult r = run(req);
    REQUIRE(r.ok());
    CHECK(r.status == 200);
    CHECK(r.body == "hello world");
    CHECK(r.header("x-a") == "b");
    CHECK(s.received().starts_with("POST /apps?x=1 HTTP/1.1\r\nHost: 127.0.0.1:"));
    CHECK(s.received().find("Content-Length: 2\r\n") != std::string::npos);
    CHECK(s.received().find("Accept: application/json\r\n") != std::string::npos);
  }
  SECTION("chunked after a 100 Continue") {
    CannedServer s({"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc",
                    "\r\n2\r\nde\r\n0\r\n\r\n"});
    HttpResult r = run({.url = s.url()});
    REQUIRE(r.ok());
    CHECK(r.status == 404);
    CHECK(r.body == "abcde");
  }
  SECTION("until close") {
    CannedServer s({"HTTP/1.1 200 OK\r\n\r\nall of ", "it"});
    HttpResult r = run({.url = s.url()});
    REQUIRE(r.ok());
    CHECK(r.body == "all of it");
  }
  SECTION("204 has no body") {
    CannedServer s({"HTTP/1.1 204 No Content\r\n\r\n"}, true);
    HttpResult r = run({.url = s.url(), .timeout = std::chrono::milliseconds(2000)});
    REQUIRE(r.ok());
    CHECK(r.status == 204);
  }
}

TEST_CASE("failures come back as errors, never hangs", "[discovery][http_client]") {
  SECTION("timeout") {
    CannedServer s({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"}, true);
    auto start = std::chrono::steady_clock::now();
    HttpResult r = run({.url = s.url(), .timeout = std::chrono::milliseconds(200)});
    CHECK(r.timed_out);
    CHECK(r.error.find("timeout") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  }
  SECTION("garbage") {
    CannedServer s({"SSH-2.0-OpenSSH\r\n\r\n"});
    HttpResult r = run({.url = s.url()});
    CHECK_FALSE(r.ok());
  }
  SECTION("truncated body") {
    CannedServer s({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"});
    HttpResult r = run({.url = s.url()});
    CHECK(r.error.find("before the body ended") != std::string::npos);
  }
  SECTION("body too large") {
    CannedServer s({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"});
    HttpResult r = run({.url = s.url(), .max_body = 4});
    CHECK(r.error.find("exceeds") != std::string::npos);
  }
  SECTION("refused") {
    int port = 0;
    {
      CannedServer s({});
      port = std::stoi(s.url().substr(17));
      run({.url = s.url(), .timeout = std::chrono::milliseconds(500)});  // lets the server thread finish
    }
    HttpResult r = run({.url = "http://127.0.0.1:" + std::to_string(port) + "/"});
    CHECK(r.error.find("cannot connect") != std::string::npos);
  }
}

TEST_CASE("a stream delivers pieces until cancelled", "[discovery][http_client]") {
  CannedServer s({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n", "3\r\n1}\n\r\n"}, true);
  net::io_context ioc;
  auto cancel = std::make_shared<HttpCancel>();
  std::string got;
  HttpResult result;
  HttpRequest req{.url = s.url(), .timeout = std::chrono::milliseconds(200), .cancel = cancel};
  net::co_spawn(ioc, [&]() -> net::awaitable<void> {
    result = co_await http_stream(ioc, req, [&](std::string_view piece) {
      got += piece;
      if (got == "{\"a\":1}\n") cancel->cancel();  // from inside the loop, as a provider's stop() would
      return true;
    });
  }, net::detached);
  ioc.run();  // the head arrived within 200ms, so the timeout no longer applies to the stream
  CHECK(got == "{\"a\":1}\n");
  CHECK(result.error == "cancelled");
  CHECK(result.status == 200);
}
