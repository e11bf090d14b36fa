// HTTP/1.1 semantics a gateway owes both sides (RFC 9110 / RFC 9112), checked through the real
// daemon and the example backend, whose /headers endpoint shows exactly what was forwarded:
// Connection-named and hop-by-hop fields, Upgrade, TRACE/Max-Forwards, X-Forwarded-For trust,
// the canonical path, pipelining, 100-continue, HTTP/1.0 clients, chunked uploads, and pooled
// upstream connections that the origin closes.
#include <strings.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.h"

using namespace harness;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

std::string hello(const Backend& b, const std::string& server_extra = "") {
  return config("  hello:\n    instances: [\"" + b.address() + "\"]\n",
                "  - id: hello\n    path: /hello/**\n    service: hello\n"
                "  - id: ab\n    path: /a/b/**\n    service: hello\n",
                server_extra);
}

// What the backend's /headers saw.
struct Seen {
  std::string method, target, version;
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<std::string> all(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : fields)
      if (strcasecmp(k.c_str(), name.c_str()) == 0) out.push_back(v);
    return out;
  }
  bool has(const std::string& name) const { return !all(name).empty(); }
  std::string one(const std::string& name) const {
    auto v = all(name);
    return v.size() == 1 ? v[0] : "<" + std::to_string(v.size()) + " fields>";
  }
  bool mentions(const std::string& text) const {
    for (const auto& [k, v] : fields)
      if (strcasestr(k.c_str(), text.c_str()) || strcasestr(v.c_str(), text.c_str())) return true;
    return false;
  }
};

Seen seen_by_backend(const Response& r) {
  REQUIRE(r.status == 200);
  REQUIRE(r.header("Content-Type") == "application/json");
  auto j = json::parse(r.body);
  Seen s{j["method"].get<std::string>(), j["target"].get<std::string>(), j["version"].get<std::string>(), {}};
  for (const auto& f : j["headers"]) s.fields.emplace_back(f[0].get<std::string>(), f[1].get<std::string>());
  return s;
}

std::string raw_get(const std::string& target, const std::string& fields) {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\n" + fields + "\r\n";
}

}  // namespace

// --- forwarding semantics -----------------------------------------------------------------------

TEST_CASE("fields named in Connection and hop-by-hop fields stop at the gateway", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  Client c(gw.port());
  c.send(raw_get("/hello/headers",
                 "Connection: X-Secret, keep-alive\r\nConnection: X-Other\r\nX-Secret: 1\r\nX-Other: 2\r\n"
                 "Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n"));
  auto r = c.read_response();
  REQUIRE(r);
  Seen s = seen_by_backend(*r);
  CHECK(!s.has("X-Secret"));
  CHECK(!s.has("X-Other"));  // named in a second Connection field
  CHECK(!s.has("Keep-Alive"));
  CHECK(!s.has("TE"));
  CHECK(!s.has("Proxy-Connection"));
  CHECK(!s.mentions("X-Secret"));  // not even inside a forwarded Connection value
  CHECK(s.one("X-Kept") == "yes");
}

TEST_CASE("Upgrade and h2c are not forwarded on a route that does not allow upgrades", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  Client c(gw.port());
  c.send(raw_get("/hello/headers", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c, websocket\r\n"
                                   "HTTP2-Settings: AAMAAABkAAQAAP__\r\n"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);  // an ordinary response, not 101
  Seen s = seen_by_backend(*r);
  CHECK(!s.has("Upgrade"));
  CHECK(!s.has("HTTP2-Settings"));
  CHECK(!s.mentions("upgrade"));
  CHECK(!s.mentions("h2c"));
  // And the client connection is still plain HTTP/1.1.
  c.send(raw_get("/hello/x", ""));
  auto next = c.read_response();
  REQUIRE(next);
  CHECK(next->header("X-Seen-Path") == "/x");
}

TEST_CASE("TRACE with Max-Forwards: 0 is answered by the gateway", "[protocol]") {
  ScriptedOrigin origin({{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
  Gateway gw(config("  origin:\n    instances: [\"" + origin.address() + "\"]\n",
                    "  - id: origin\n    path: /**\n    service: origin\n    strip_prefix: false\n"));
  Client c(gw.port());
  const std::string trace = "TRACE /t?q=1 HTTP/1.1\r\nHost: t\r\nMax-Forwards: 0\r\nX-Probe: p\r\n\r\n";
  c.send(trace);
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Type") == "message/http");
  CHECK(r->body.rfind("TRACE /t?q=1 HTTP/1.1\r\n", 0) == 0);
  CHECK(r->body.find("X-Probe: p\r\n") != std::string::npos);
  // The same connection then proxies normally; only that request reached the origin.
  c.send("GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
  auto after = c.read_response();
  REQUIRE(after);
  CHECK(after->body == "ok");
  REQUIRE(origin.wait_requests(1));
  CHECK(origin.requests() == 1);
  CHECK(origin.received_all().find("TRACE") == std::string::npos);
}

TEST_CASE("Max-Forwards is honoured for OPTIONS and decremented when forwarded", "[protocol]") {
  // RFC 9110 7.6.2: an intermediary receiving TRACE or OPTIONS with Max-Forwards MUST answer itself
  // when the value is 0, and otherwise forward the value decremented by one.
  Backend b("b");
  Gateway gw(hello(b));
  auto options = request(gw.port(), "OPTIONS", "/hello/headers", {{"Max-Forwards", "0"}});
  REQUIRE(options);
  CHECK(!options->has_header("X-Backend"));
  auto traced = request(gw.port(), "TRACE", "/hello/headers", {{"Max-Forwards", "3"}});
  REQUIRE(traced);
  REQUIRE(traced->status == 200);
  CHECK(seen_by_backend(*traced).one("Max-Forwards") == "2");
}

TEST_CASE("X-Forwarded-For from an untrusted peer is replaced, from a trusted one extended", "[protocol]") {
  Backend b("b");
  const std::string forged =
      "X-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Host: evil.example\r\n"
      "X-Forwarded-Proto: https\r\n";
  {
    Gateway gw(hello(b));
    Client c(gw.port());
    c.send(raw_get("/hello/headers", forged));
    auto r = c.read_response();
    REQUIRE(r);
    Seen s = seen_by_backend(*r);
    CHECK(s.one("X-Forwarded-For") == "127.0.0.1");
    CHECK(s.one("X-Forwarded-Proto") == "http");
    CHECK(s.one("X-Forwarded-Host") == "t");
    CHECK(!s.has("Forwarded"));
    CHECK(!s.mentions("6.6.6.6"));
    CHECK(!s.mentions("evil.example"));
  }
  {
    Gateway gw(hello(b, "  trusted_proxies: [\"127.0.0.1/32\"]\n"));
    Client c(gw.port());
    c.send(raw_get("/hello/headers", "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"));
    auto r = c.read_response();
    REQUIRE(r);
    Seen s = seen_by_backend(*r);
    CHECK(s.one("X-Forwarded-For") == "203.0.113.9, 127.0.0.1");
    CHECK(s.one("X-Forwarded-Proto") == "https");
  }
}

TEST_CASE("a trusted chain sent as two X-Forwarded-For fields is kept whole", "[protocol]") {
  // RFC 9110 5.3: field lines of one list-based field are one comma-separated list.
  Backend b("b");
  Gateway gw(hello(b, "  trusted_proxies: [\"127.0.0.1/32\"]\n"));
  Client c(gw.port());
  c.send(raw_get("/hello/headers", "X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 203.0.113.9\r\n"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(seen_by_backend(*r).one("X-Forwarded-For") == "198.51.100.1, 203.0.113.9, 127.0.0.1");
}

TEST_CASE("routing uses the canonical path, the origin gets the target as sent", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  auto dotted = request(gw.port(), "GET", "/hello/../hello/x");
  REQUIRE(dotted);
  CHECK(dotted->status == 200);
  CHECK(dotted->header("X-Backend") == "b");
  auto above = request(gw.port(), "GET", "/a/../../x");
  REQUIRE(above);
  CHECK(above->status == 400);
  CHECK(!above->has_header("X-Backend"));
  // %2F is data, not a separator: /a%2Fb/x is not under /a/b/.
  auto encoded = request(gw.port(), "GET", "/a%2Fb/x");
  REQUIRE(encoded);
  CHECK(encoded->status == 404);
  CHECK(encoded->header("Content-Type") == "application/json");
  CHECK(!encoded->has_header("X-Backend"));
  auto real = request(gw.port(), "GET", "/a/b/x");
  REQUIRE(real);
  CHECK(real->status == 200);
  // Byte for byte after strip_prefix: no decoding, no re-encoding, the query untouched.
  auto exact = request(gw.port(), "GET", "/hello/x%2Fy?q=%41&r=a+b");
  REQUIRE(exact);
  CHECK(exact->header("X-Seen-Path") == "/x%2Fy?q=%41&r=a+b");
}

TEST_CASE("strip_prefix applies to the path the route matched", "[protocol]") {
  // The route matched the canonical path /hello/x, so the origin should get /x. The prefix is
  // stripped from the raw target instead, so dot-segments or escapes in the prefix leak through.
  Backend b("b");
  Gateway gw(hello(b));
  auto dotted = request(gw.port(), "GET", "/hello/../hello/x");
  REQUIRE(dotted);
  CHECK(dotted->header("X-Seen-Path") == "/x");
  auto escaped = request(gw.port(), "GET", "/%68ello/x");
  REQUIRE(escaped);
  CHECK(escaped->header("X-Seen-Path") == "/x");
}

// --- connection handling -------------------------------------------------------------------------

TEST_CASE("pipelined requests are answered in order", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  Client c(gw.port());
  c.send("GET /hello/one HTTP/1.1\r\nHost: t\r\n\r\n"
         "POST /hello/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
         "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"
         "GET /hello/three HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r1 = c.read_response();
  auto r2 = c.read_response();
  auto r3 = c.read_response();
  auto r4 = c.read_response();
  REQUIRE((r1 && r2 && r3 && r4));
  CHECK(r1->header("X-Seen-Path") == "/one");
  CHECK(r2->header("X-Seen-Path") == "/echo");
  CHECK(r2->body == "hello");
  CHECK(r3->status == 404);
  CHECK(r4->header("X-Seen-Path") == "/three");
  CHECK(c.pending().empty());
}

TEST_CASE("a malformed request in a pipeline ends the connection after the earlier answers", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  Client c(gw.port());
  c.send("GET /hello/one HTTP/1.1\r\nHost: t\r\n\r\n"
         "GET /hello/two HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx"
         "GET /hello/three HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r1 = c.read_response();
  REQUIRE(r1);
  CHECK(r1->header("X-Seen-Path") == "/one");
  auto r2 = c.read_response();
  REQUIRE(r2);
  CHECK(r2->status == 400);
  CHECK(r2->header("Connection") == "close");
  CHECK(c.closed_by_peer());
  CHECK(c.pending().empty());  // /hello/three was never answered
}

TEST_CASE("the request after a body starts exactly where the body ends", "[protocol]") {
  // The body is read after the head went upstream; the next request arrives in the same segment
  // as the end of the body and must be neither lost nor forwarded as body bytes.
  ScriptedOrigin origin({{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
  Gateway gw(config("  origin:\n    instances: [\"" + origin.address() + "\"]\n",
                    "  - id: origin\n    path: /**\n    service: origin\n    strip_prefix: false\n"));
  struct Case {
    const char* name;
    std::string head, rest, forwarded_body;
  };
  const std::vector<Case> cases = {
      {"chunked", "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
       "5\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n"},
      {"content-length", "POST /l HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n", "hello", "hello"},
  };
  int requests = 0;
  for (const auto& cs : cases) {
    INFO(cs.name);
    Client c(gw.port());
    c.send(cs.head);
    // Wait until the head has gone upstream, so the rest is read from the socket as body.
    REQUIRE(eventually([&] { return origin.received_all().find(cs.head.substr(0, 8)) != std::string::npos; }));
    c.send(cs.rest + "GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    auto next = c.read_response();
    REQUIRE(next);
    CHECK(next->status == 200);
    requests += 2;
    REQUIRE(origin.wait_requests(requests));
    const std::string seen = origin.received_all();
    CHECK(seen.find("\r\n\r\n" + cs.forwarded_body + "GET /next HTTP/1.1\r\n") != std::string::npos);
  }
}

TEST_CASE("Connection: close from the client, and a client that half-closes", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  {
    Client c(gw.port());
    c.send("GET /hello/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /hello/y HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("Connection") == "close");
    CHECK(c.closed_by_peer());
    CHECK(c.pending().empty());  // the request after "close" is not answered
  }
  {
    // A request followed by the client's FIN is still answered (RFC 9112 9.6 allows half-close).
    Client c(gw.port());
    c.send("GET /hello/x HTTP/1.1\r\nHost: t\r\n\r\n");
    ::shutdown(c.fd(), SHUT_WR);
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("X-Seen-Path") == "/x");
    CHECK(c.closed_by_peer());
  }
}

TEST_CASE("Expect: 100-continue", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  {
    Client c(gw.port());
    c.send("POST /hello/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    auto interim = c.read_response();  // the body is held back until this arrives
    REQUIRE(interim);
    CHECK(interim->status == 100);
    CHECK(interim->version == "HTTP/1.1");
    c.send("data");
    auto final = c.read_response();
    REQUIRE(final);
    CHECK(final->status == 200);
    CHECK(final->body == "data");
    // The connection stays usable after a 100-continue exchange.
    c.send("GET /hello/x HTTP/1.1\r\nHost: t\r\n\r\n");
    auto next = c.read_response();
    REQUIRE(next);
    CHECK(next->header("X-Seen-Path") == "/x");
  }
  {
    // Refused before the body is needed: the final status and no 100. The unsent body would be
    // read as the next request, so the connection ends.
    Client c(gw.port());
    c.send("POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK(c.closed_by_peer());
    CHECK(c.pending().find("100 Continue") == std::string::npos);
  }
  {
    // An expectation the gateway cannot meet.
    Client c(gw.port());
    c.send("POST /hello/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: teapot\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 417);
  }
}

TEST_CASE("a final status sent before the body says whether the connection closes", "[protocol]") {
  // RFC 9110 10.1.1: a server that responds before reading the whole content SHOULD indicate
  // whether it will close the connection. The gateway closes (the body was never asked for), so the
  // answer should carry Connection: close; a client that reuses the connection otherwise races it.
  Backend b("b");
  Gateway gw(hello(b));
  Client c(gw.port());
  c.send("POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(r->header("Connection") == "close");
  CHECK(c.closed_by_peer());
}

TEST_CASE("HTTP/1.0 clients: no chunked coding, no keep-alive unless asked", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  {
    // The origin answers chunked; an HTTP/1.0 client gets the body delimited by close.
    Client c(gw.port());
    c.send("GET /hello/bytes?n=1000&chunked=1 HTTP/1.0\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->version == "HTTP/1.0");
    CHECK(!r->chunked);
    CHECK(!r->has_header("Transfer-Encoding"));
    CHECK(r->header("Connection") != "keep-alive");
    CHECK(r->body == std::string(1000, 'x'));
    CHECK(c.closed_by_peer());
  }
  {
    // A length the origin gave is kept; without keep-alive the connection still closes.
    Client c(gw.port());
    c.send("GET /hello/x HTTP/1.0\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->version == "HTTP/1.0");
    CHECK(r->has_header("Content-Length"));
    CHECK(r->header("Connection") != "keep-alive");
    CHECK(c.closed_by_peer());
  }
  {
    Client c(gw.port());
    c.send("GET /hello/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->version == "HTTP/1.0");
    CHECK(r->header("Connection") == "keep-alive");
    CHECK(r->has_header("Content-Length"));
    c.send("GET /hello/y HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto again = c.read_response();
    REQUIRE(again);
    CHECK(again->header("X-Seen-Path") == "/y");
    // A keep-alive HTTP/1.0 request whose answer has no length: delimited by close after all.
    c.send("GET /hello/bytes?n=300&chunked=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto unframed = c.read_response();
    REQUIRE(unframed);
    CHECK(unframed->header("Connection") != "keep-alive");
    CHECK(unframed->body == std::string(300, 'x'));
    CHECK(c.closed_by_peer());
  }
}

TEST_CASE("chunked uploads are forwarded whole", "[protocol]") {
  Backend b("b");
  Gateway gw(hello(b));
  {
    Client c(gw.port());
    c.send("POST /hello/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "hello world");
  }
  {
    // Larger than one read, sent in pieces that split chunk-size lines and data.
    Client c(gw.port());
    std::string body;
    for (int i = 0; i < 40; ++i) body += "1000\r\n" + std::string(4096, static_cast<char>('a' + i % 26)) + "\r\n";
    body += "0\r\n\r\n";
    c.send("POST /hello/sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (std::size_t at = 0; at < body.size(); at += 7001) c.send(body.substr(at, 7001));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    auto j = json::parse(r->body);
    CHECK(j["bytes"] == 40 * 4096);
    CHECK(j["chunked"] == true);
  }
}

TEST_CASE("a pooled connection the origin closed does not fail the next request", "[protocol]") {
  {
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
      CHECK(next->header("X-Seen-Path") == "/x");
    }
  }
  {
    // An origin that says nothing about closing (a keep-alive response) and then closes anyway:
    // the gateway has pooled the connection and must not hand the next request a dead socket.
    ScriptedOrigin origin({{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true}});
    Gateway gw(config("  origin:\n    instances: [\"" + origin.address() + "\"]\n",
                      "  - id: origin\n    path: /**\n    service: origin\n    strip_prefix: false\n"));
    Client c(gw.port());
    for (int i = 0; i < 4; ++i) {
      c.send(i % 2 ? "POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" : "GET /g HTTP/1.1\r\nHost: t\r\n\r\n");
      auto r = c.read_response();
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(r->body == "ok");
      // Once the origin has closed its end, the next request (a POST, which may not be replayed)
      // must not be handed that connection, even when the close is not yet processed. (An origin
      // that closes while a request is already on its way is a race no proxy can win.)
      REQUIRE(eventually([&] { return origin.closed() == i + 1; }));
    }
    CHECK(origin.requests() == 4);
    CHECK(origin.connections() == 4);
  }
}
