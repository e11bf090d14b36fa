// Upstream responses the example backend would never send, from a ScriptedOrigin: the gateway
// relays only well-framed responses (RFC 9112 section 6), answers 502 for the rest, never lets
// bytes past the end of a response reach the client, and never reuses an upstream connection whose
// framing it could not trust.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

std::string origin_config(const std::string& address) {
  return config("  origin:\n    instances: [\"" + address + "\"]\n    read_timeout: 2s\n",
                "  - id: origin\n    path: /**\n    service: origin\n    strip_prefix: false\n",
                "  limits: { max_response_header_bytes: 8KiB }\n");
}

// One origin with its replies and one gateway in front of it.
struct Rig {
  explicit Rig(std::vector<ScriptedOrigin::Reply> replies) : origin(std::move(replies)), gw(origin_config(origin.address())) {}
  ScriptedOrigin origin;
  Gateway gw;
};

const std::string two = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo";

// The response `reply` is refused with a 502 from the gateway itself; the gateway drops that upstream
// connection, and the client connection still serves the next request (from a new upstream
// connection).
void expect_bad_gateway(const std::string& name, const std::string& reply) {
  INFO(name);
  Rig rig({{reply}, {two}});
  Client c(rig.gw.port());
  c.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read_response(false, 5s);
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK(r->header("Content-Type") == "application/json");
  CHECK(r->body.find("\"status\":502") != std::string::npos);
  CHECK(!r->has_header("X-Evil"));
  CHECK(r->body.find("ok") == std::string::npos);
  CHECK(eventually([&] { return rig.origin.closed() == 1; }));  // the gateway closed it
  if (r->header("Connection") == "close") {
    CHECK(c.closed_by_peer(5s));
  } else {
    c.send("GET /y HTTP/1.1\r\nHost: t\r\n\r\n");
    auto next = c.read_response(false, 5s);
    REQUIRE(next);
    CHECK(next->status == 200);
    CHECK(next->body == "two");
    CHECK(rig.origin.connections() == 2);
  }
}

}  // namespace

TEST_CASE("malformed upstream responses become 502", "[hostile-upstream]") {
  const std::string ok = "Content-Length: 2\r\n\r\nok";
  expect_bad_gateway("differing CL fields", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok");
  expect_bad_gateway("CL list 2, 3", "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok");
  expect_bad_gateway("CL +2", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok");
  expect_bad_gateway("two-digit status", "HTTP/1.1 20 OK\r\n" + ok);
  expect_bad_gateway("four-digit status", "HTTP/1.1 2000 OK\r\n" + ok);
  expect_bad_gateway("status below 100", "HTTP/1.1 099 Odd\r\n" + ok);
  expect_bad_gateway("letters in status", "HTTP/1.1 2x0 OK\r\n" + ok);
  expect_bad_gateway("HTTP/2.0 status line", "HTTP/2.0 200 OK\r\n" + ok);
  expect_bad_gateway("garbage head", "HELLO\r\n\r\n");
  expect_bad_gateway("garbage without a line end", "HELLO");
  expect_bad_gateway("unsolicited 101", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\nok");
  expect_bad_gateway("head over max_response_header_bytes",
                     "HTTP/1.1 200 OK\r\nX-Big: " + std::string(9000, 'a') + "\r\n" + ok);
  expect_bad_gateway("head over the limit, no end in sight", "HTTP/1.1 200 OK\r\nX-Big: " + std::string(20000, 'a'));
  expect_bad_gateway("obs-fold", "HTTP/1.1 200 OK\r\nX-Evil: a\r\n b\r\n" + ok);
  expect_bad_gateway("space before colon", "HTTP/1.1 200 OK\r\nX-Evil : a\r\n" + ok);
  expect_bad_gateway("NUL in a value", std::string("HTTP/1.1 200 OK\r\nX-Evil: a\0b\r\n", 30) + ok);
  expect_bad_gateway("bare CR in a value", "HTTP/1.1 200 OK\r\nX-Evil: a\rb\r\n" + ok);
  // Bare-LF heads never end in CRLF CRLF: refused at once, not after read_timeout (504).
  expect_bad_gateway("bare-LF head", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok");
  expect_bad_gateway("bare LF in the status line", "HTTP/1.1 200 OK\nX-Evil: 1\r\n" + ok);
}

TEST_CASE("Content-Length and chunked together: chunked wins, the length is dropped", "[hostile-upstream]") {
  Rig rig({{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
           {two}});
  Client c(rig.gw.port());
  c.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read_response(false, 5s);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->chunked);
  CHECK(!r->has_header("Content-Length"));
  CHECK(r->body == "hello");
  c.send("GET /y HTTP/1.1\r\nHost: t\r\n\r\n");  // the client connection is in step
  auto next = c.read_response(false, 5s);
  REQUIRE(next);
  CHECK(next->body == "two");
  // A message framed two ways may be a splitting attempt: its connection carries nothing more.
  CHECK(rig.origin.connections() == 2);
}

TEST_CASE("bytes after a complete response reach no client and end that upstream connection",
          "[hostile-upstream]") {
  // The trailing bytes are a whole forged response: relayed, it would answer the next request.
  const std::string forged = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged";
  Rig rig({{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + forged}, {two}});
  Client c(rig.gw.port());
  c.send("GET /1 HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read_response(false, 5s);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "ok");
  CHECK(c.pending().empty());
  c.send("GET /2 HTTP/1.1\r\nHost: t\r\n\r\n");
  auto next = c.read_response(false, 5s);
  REQUIRE(next);
  CHECK(next->status == 200);
  CHECK(next->body == "two");
  CHECK(c.pending().empty());
  // The second request went out on a new connection; the first one carried exactly one request.
  CHECK(rig.origin.connections() == 2);
  auto received = rig.origin.received();
  REQUIRE(received.size() == 2);
  CHECK(received[0].find("GET /2 ") == std::string::npos);
  CHECK(received[1].rfind("GET /2 HTTP/1.1\r\n", 0) == 0);
  CHECK(eventually([&] { return rig.origin.closed() >= 1; }));  // the tainted one was closed
}

TEST_CASE("an upstream connection the origin means to close is never reused", "[hostile-upstream]") {
  // RFC 9112 9.6: after "Connection: close" (or an HTTP/1.0 response without keep-alive) no further
  // request may go on that connection, even though this origin leaves it open.
  for (const std::string& first : {std::string("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"),
                                   std::string("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")}) {
    INFO(first);
    Rig rig({{first}, {two}});
    Client c(rig.gw.port());
    c.send("GET /1 HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.read_response(false, 5s);
    REQUIRE(r);
    CHECK(r->body == "ok");
    CHECK(r->header("Connection") != "close");  // the client connection is not the origin's business
    c.send("GET /2 HTTP/1.1\r\nHost: t\r\n\r\n");
    auto next = c.read_response(false, 5s);
    REQUIRE(next);
    CHECK(next->body == "two");
    CHECK(rig.origin.connections() == 2);
    auto received = rig.origin.received();
    REQUIRE(!received.empty());
    CHECK(received[0].find("GET /2 ") == std::string::npos);
  }
}

TEST_CASE("HEAD, 204 and 304 responses carry no body to the client", "[hostile-upstream]") {
  const std::string hello = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  struct Case {
    const char* name;
    std::string method;
    std::string reply;
    int status;
  };
  const std::vector<Case> cases = {
      {"HEAD with a length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 200},
      {"HEAD of a chunked resource", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200},
      {"204", "GET", "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", 204},
      {"204 with a stray body", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", 204},
      {"304 with a length", "GET", "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 5\r\n\r\n", 304},
      {"304 chunked", "GET", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", 304},
  };
  for (const auto& cs : cases) {
    INFO(cs.name);
    Rig rig({{cs.reply}, {hello}});
    Client c(rig.gw.port());
    // Pipelined: any body bytes after the first head would be read as the second response's head.
    c.send(cs.method + " /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.read_response(true, 5s);
    REQUIRE(r);
    CHECK(r->status == cs.status);
    if (cs.status != 200) {
      CHECK(!r->has_header("Content-Length"));
      CHECK(!r->has_header("Transfer-Encoding"));
    }
    if (cs.method == "HEAD" && cs.reply.find("Content-Length: 5") != std::string::npos)
      CHECK(r->header("Content-Length") == "5");
    auto next = c.read_response(false, 5s);
    REQUIRE(next);
    CHECK(next->status == 200);
    CHECK(next->body == "hello");
    CHECK(c.pending().empty());
  }
}

TEST_CASE("a response cut short is never completed for the client", "[hostile-upstream]") {
  struct Case {
    const char* name;
    std::string reply;
  };
  const std::vector<Case> cases = {
      {"length 100, 10 bytes", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b"},
      {"chunked without its last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
      {"chunked cut inside a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhello"},
      {"broken chunk framing", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"},
      {"whitespace after a chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0 \r\n\r\n"},
      {"unterminated quoted chunk extension",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0;a=\"x\r\n\r\n"},
  };
  for (const auto& cs : cases) {
    INFO(cs.name);
    Rig rig({{cs.reply, true}});
    Client c(rig.gw.port());
    c.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    const std::string all = c.read_until_close(5s);
    CHECK(c.eof());  // the client connection is closed: that is how it learns the body is short
    CHECK(all.rfind("HTTP/1.1 200 ", 0) == 0);
    const std::size_t head_end = all.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    CHECK(all.find("0\r\n\r\n", head_end + 4) == std::string::npos);  // no last chunk made up for it
    // Not a complete-looking response either way.
    c.pending() = all;
    CHECK(!c.read_response(false, 1s));
  }
  {
    // A body delimited by close is complete at the close: re-framed as chunked for HTTP/1.1.
    Rig rig({{"HTTP/1.1 200 OK\r\n\r\nuntil close", true}});
    Client c(rig.gw.port());
    c.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.read_response(false, 5s);
    REQUIRE(r);
    CHECK(r->chunked);
    CHECK(r->body == "until close");
  }
}

TEST_CASE("an origin that does not answer gets 504 at read_timeout", "[hostile-upstream]") {
  ScriptedOrigin origin({{""}});  // reads the request, never answers
  Gateway gw(config("  origin:\n    instances: [\"" + origin.address() + "\"]\n    read_timeout: 300ms\n",
                    "  - id: origin\n    path: /**\n    service: origin\n    strip_prefix: false\n"));
  const auto start = std::chrono::steady_clock::now();
  auto r = request(gw.port(), "GET", "/x");
  REQUIRE(r);
  CHECK(r->status == 504);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  CHECK(eventually([&] { return origin.closed() == 1; }));
}

TEST_CASE("1xx responses, 100 included, go to HTTP/1.1 clients only", "[hostile-upstream]") {
  const std::string early = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
  const std::string final = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  {
    Rig rig({{early + final}});
    Client c(rig.gw.port());
    c.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    auto hints = c.read_response(false, 5s);
    REQUIRE(hints);
    CHECK(hints->status == 103);
    CHECK(hints->header("Link") == "</style.css>; rel=preload");
    auto r = c.read_response(false, 5s);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "ok");
  }
  {
    Rig rig({{early + final}});
    Client c(rig.gw.port());
    c.send("GET /x HTTP/1.0\r\n\r\n");
    auto r = c.read_response(false, 5s);
    REQUIRE(r);
    CHECK(r->status == 200);  // the first thing an HTTP/1.0 client sees is the final response
    CHECK(r->version == "HTTP/1.0");
    CHECK(r->body == "ok");
  }
  {
    // A 100 the client did not ask for (no Expect) is still relayed: RFC 9110 15.2 has a proxy
    // forward every 1xx it did not ask for itself, as nginx and HAProxy do.
    Rig rig({{"HTTP/1.1 100 Continue\r\n\r\n" + early + final}});
    Client c(rig.gw.port());
    c.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    auto first = c.read_response(false, 5s);
    REQUIRE(first);
    CHECK(first->status == 100);
    auto hints = c.read_response(false, 5s);
    REQUIRE(hints);
    CHECK(hints->status == 103);
    auto r = c.read_response(false, 5s);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "ok");
  }
  {
    // Never to an HTTP/1.0 client.
    Rig rig({{"HTTP/1.1 100 Continue\r\n\r\n" + early + final}});
    Client c(rig.gw.port());
    c.send("GET /x HTTP/1.0\r\n\r\n");
    auto r = c.read_response(false, 5s);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "ok");
  }
}

TEST_CASE("hop-by-hop fields of a response stay at the gateway", "[hostile-upstream]") {
  Rig rig({{"HTTP/1.1 200 OK\r\nConnection: X-Internal, keep-alive\r\nX-Internal: secret\r\nKeep-Alive: timeout=5\r\n"
            "Proxy-Connection: keep-alive\r\nX-Public: yes\r\nContent-Length: 2\r\n\r\nok"}});
  auto r = request(rig.gw.port(), "GET", "/x");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("X-Public") == "yes");
  CHECK(!r->has_header("X-Internal"));
  CHECK(!r->has_header("Keep-Alive"));
  CHECK(!r->has_header("Proxy-Connection"));
  CHECK(r->header("Connection").find("X-Internal") == std::string::npos);
  CHECK(r->body == "ok");
}

TEST_CASE("transfer codings other than chunked are refused, not passed on unlabelled", "[hostile-upstream]") {
  // The gateway re-frames bodies and drops Transfer-Encoding as hop-by-hop: relayed, a gzip-coded
  // body would reach the client as if it were the content, and "gzip, chunked" would be read to
  // close and chunked twice. RFC 9112 6.1 also calls TE in an HTTP/1.0 message faulty framing.
  expect_bad_gateway("TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b-not-really-gzip");
  expect_bad_gateway("TE gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
  expect_bad_gateway("TE chunked, gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n2\r\nok\r\n0\r\n\r\n");
  expect_bad_gateway("TE chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n");
  expect_bad_gateway("TE empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\nok");
  expect_bad_gateway("TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
}

TEST_CASE("an origin that closes before answering gets a 502, and no retry goes back to it", "[hostile-upstream]") {
  // One instance, the default policy (one next-server retry): the next server would be the same
  // instance, which this request has tried, so there is no retry and the error stands.
  Rig rig({{"", true}, {two}});
  Client c(rig.gw.port());
  c.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read_response(false, 10s);
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK(rig.origin.connections() == 1);  // no second attempt at the instance it had tried
  CHECK(rig.origin.requests() == 1);
}
