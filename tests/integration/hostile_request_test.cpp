// Hostile and malformed requests against the real daemon (RFC 9110 / RFC 9112): each one gets its
// status, its connection is closed where the message framing can no longer be trusted, and nothing
// ambiguous reaches the origin. The origin is a ScriptedOrigin so the test sees every byte the
// gateway sent upstream.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

const std::string ok_reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const std::string limits =
    "  limits: { max_request_line_bytes: 1024, max_request_header_bytes: 4096, max_header_count: 20, "
    "max_request_body_bytes: 100 }\n";

// Everything goes to the origin, target unchanged.
std::string origin_config(const std::string& address, const std::string& server_extra = "") {
  return config("  origin:\n    instances: [\"" + address + "\"]\n    read_timeout: 2s\n",
                "  - id: origin\n    path: /**\n    service: origin\n    strip_prefix: false\n", server_extra);
}

struct Refusal {
  const char* name;
  std::string bytes;
  int status;
};

// Sends `bytes` on a fresh connection: the answer is `status` from the gateway itself (JSON), says
// Connection: close, and the gateway really closes.
void expect_refused(int port, const Refusal& c) {
  INFO(c.name);
  Client client(port);
  client.send(c.bytes);
  auto r = client.read_response(false, 5s);
  REQUIRE(r);
  CHECK(r->status == c.status);
  CHECK(r->header("Content-Type") == "application/json");
  CHECK(r->body.find("\"status\":" + std::to_string(c.status)) != std::string::npos);
  CHECK(r->header("Connection") == "close");
  CHECK(client.closed_by_peer(5s));
}

// After a series of refusals: a well-formed request goes through, and it is the first and only
// thing the origin ever saw (a refused request that had reached the origin would have been accepted
// on an earlier connection, or would sit in front of this one on a pooled connection).
void expect_origin_untouched(int port, const ScriptedOrigin& origin) {
  auto r = request(port, "GET", "/sentinel");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "ok");
  REQUIRE(origin.wait_requests(1));
  CHECK(origin.requests() == 1);
  auto received = origin.received();
  REQUIRE(received.size() == 1);
  CHECK(received[0].rfind("GET /sentinel HTTP/1.1\r\n", 0) == 0);
}

std::string post(const std::string& fields, const std::string& body = "") {
  return "POST /p HTTP/1.1\r\nHost: t\r\n" + fields + "\r\n" + body;
}

}  // namespace

TEST_CASE("ambiguous request framing is refused before anything reaches the origin", "[hostile-request]") {
  ScriptedOrigin origin({{ok_reply}});
  Gateway gw(origin_config(origin.address(), limits));
  const std::vector<Refusal> cases = {
      {"CL and TE", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400},
      {"TE and CL", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"), 400},
      {"two differing CL fields", post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"), 400},
      {"CL list 5, 6", post("Content-Length: 5, 6\r\n", "hello!"), 400},
      {"CL +5", post("Content-Length: +5\r\n", "hello"), 400},
      {"CL 0x5", post("Content-Length: 0x5\r\n", "hello"), 400},
      {"CL 5 5", post("Content-Length: 5 5\r\n", "hello"), 400},
      {"CL -1", post("Content-Length: -1\r\n", "hello"), 400},
      {"CL empty", post("Content-Length: \r\n", "hello"), 400},
      {"CL 20 digits", post("Content-Length: 99999999999999999999\r\n", "hello"), 400},
      {"CL 2^64", post("Content-Length: 18446744073709551616\r\n", "hello"), 400},
      {"CL list with empty element", post("Content-Length: 5,\r\n", "hello"), 400},
      {"TE gzip, chunked", post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), 501},
      {"TE chunked, gzip", post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"), 400},
      {"TE chunked twice", post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"), 400},
      {"TE chunked then gzip field", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", "0\r\n\r\n"),
       400},
      {"TE foo", post("Transfer-Encoding: foo\r\n", "0\r\n\r\n"), 501},
      {"TE empty", post("Transfer-Encoding: \r\n", "0\r\n\r\n"), 400},
      {"chunked in HTTP/1.0", "POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
  };
  for (const auto& c : cases) expect_refused(gw.port(), c);
  expect_origin_untouched(gw.port(), origin);
}

TEST_CASE("an identical repeated Content-Length is one length", "[hostile-request]") {
  ScriptedOrigin origin({{ok_reply}});
  Gateway gw(origin_config(origin.address()));
  for (const std::string fields : {"Content-Length: 5, 5\r\n", "Content-Length: 5\r\nContent-Length: 5\r\n"}) {
    INFO(fields);
    Client c(gw.port());
    c.send(post(fields, "hello") + "GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    auto next = c.read_response();  // the body was exactly five bytes: the next request follows it
    REQUIRE(next);
    CHECK(next->status == 200);
  }
  REQUIRE(origin.wait_requests(4));
  std::string seen = origin.received_all();
  // Forwarded with one clean length, never the list.
  CHECK(seen.find("5, 5") == std::string::npos);
  std::size_t count = 0;
  for (std::size_t pos = 0; (pos = seen.find("Content-Length: 5\r\n", pos)) != std::string::npos; ++pos) ++count;
  CHECK(count == 2);
  CHECK(seen.find("\r\n\r\nhelloGET /next HTTP/1.1\r\n") != std::string::npos);
}

TEST_CASE("a broken chunked body is refused and never completes upstream", "[hostile-request]") {
  // The head is streamed upstream before the body is seen; a body error aborts that upstream
  // connection, so the origin never holds a complete message, let alone a smuggled one.
  ScriptedOrigin origin({{ok_reply}});
  Gateway gw(origin_config(origin.address(), limits));
  const std::string te = "Transfer-Encoding: chunked\r\n";
  const std::string smuggle = "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
  const std::vector<Refusal> cases = {
      {"chunk size zz", post(te, "zz\r\nhello\r\n" + smuggle), 400},
      {"chunk size line bare LF", post(te, "5\nhello\r\n" + smuggle), 400},
      {"chunk size line bare CR", post(te, "5\rhello\r\n" + smuggle), 400},
      {"chunk extension over 1 KiB", post(te, "5;" + std::string(2000, 'x') + "\r\nhello\r\n" + smuggle), 400},
      {"chunk size overflow", post(te, "10000000000000005\r\nhello\r\n" + smuggle), 400},
      {"chunk size with 0x", post(te, "0x5\r\nhello\r\n" + smuggle), 400},
      {"negative chunk size", post(te, "-5\r\nhello\r\n" + smuggle), 400},
      {"chunk data too long", post(te, "3\r\nhello\r\n" + smuggle), 400},
      {"chunk data without CRLF", post(te, "5\r\nhello" + smuggle), 400},
      {"whitespace after the chunk size", post(te, "5 \r\nhello\r\n" + smuggle), 400},
      {"empty chunk extension", post(te, "5;\r\nhello\r\n" + smuggle), 400},
      {"chunk extension without a value", post(te, "5;a=\r\nhello\r\n" + smuggle), 400},
      {"unterminated quoted chunk extension", post(te, "5;a=\"open\r\nhello\r\n" + smuggle), 400},
  };
  for (const auto& c : cases) expect_refused(gw.port(), c);
  // Every upstream connection the refused requests opened is gone (not pooled, not left open).
  CHECK(eventually([&] { return origin.closed() == origin.connections(); }));
  CHECK(origin.requests() == 0);
  const std::string seen = origin.received_all();
  CHECK(seen.find("smuggled") == std::string::npos);
  CHECK(seen.find("0\r\n\r\n") == std::string::npos);  // no last chunk: never a complete body
  CHECK(seen.find("zz") == std::string::npos);
  CHECK(seen.find("xxxxxxxx") == std::string::npos);  // extensions are not passed on
}

TEST_CASE("field syntax errors are refused with 400", "[hostile-request]") {
  ScriptedOrigin origin({{ok_reply}});
  Gateway gw(origin_config(origin.address(), limits));
  const std::string h = "Host: t\r\n";
  auto get = [&](const std::string& fields) { return "GET /g HTTP/1.1\r\n" + h + fields + "\r\n"; };
  const std::vector<Refusal> cases = {
      {"obs-fold", get("X-A: 1\r\n 2\r\n"), 400},
      {"obs-fold with tab", get("X-A: 1\r\n\t2\r\n"), 400},
      {"obs-fold on the first field", "GET /g HTTP/1.1\r\n X-A: 1\r\n" + h + "\r\n", 400},
      {"bare CR in a value", get("X-A: a\rb\r\n"), 400},
      {"NUL in a value", get(std::string("X-A: a\0b\r\n", 10)), 400},
      {"DEL in a value", get("X-A: a\x7f" "b\r\n"), 400},
      {"space before colon", get("X-A : 1\r\n"), 400},
      {"tab before colon", get("X-A\t: 1\r\n"), 400},
      {"parenthesis in a name", get("X(A): 1\r\n"), 400},
      {"at sign in a name", get("X@A: 1\r\n"), 400},
      {"non-ASCII name", get("X-\xc3\xa9: 1\r\n"), 400},
      {"empty name", get(": 1\r\n"), 400},
      {"line without colon", get("garbage\r\n"), 400},
      {"bare LF between fields", "GET /g HTTP/1.1\r\n" + h + "X-A: 1\nX-B: 2\r\n\r\n", 400},
      {"bare LF request line", "GET /g HTTP/1.1\nHost: t\r\n\r\n", 400},
      {"bare-LF head end", "GET /g HTTP/1.1\r\nHost: t\n\n", 400},
      {"missing Host in 1.1", "GET /g HTTP/1.1\r\nX-A: 1\r\n\r\n", 400},
      {"two Host fields", "GET /g HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"Host list", "GET /g HTTP/1.1\r\nHost: a, b\r\n\r\n", 400},
      {"Host with slash", "GET /g HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
      {"Host with userinfo", "GET /g HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
      {"Host with space", "GET /g HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
      {"Host with bad port", "GET /g HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400},
      {"Host with long port", "GET /g HTTP/1.1\r\nHost: a:123456\r\n\r\n", 400},
      {"Host unclosed IPv6", "GET /g HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},
  };
  for (const auto& c : cases) expect_refused(gw.port(), c);
  expect_origin_untouched(gw.port(), origin);
}

TEST_CASE("request-line forms and versions", "[hostile-request]") {
  ScriptedOrigin origin({{ok_reply}});
  Gateway gw(origin_config(origin.address(), limits));
  const std::vector<Refusal> cases = {
      {"asterisk with GET", "GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501},
      {"HTTP/2.0", "GET /g HTTP/2.0\r\nHost: t\r\n\r\n", 505},
      {"HTTP/3.0", "GET /g HTTP/3.0\r\nHost: t\r\n\r\n", 505},
      {"lower-case version", "GET /g http/1.1\r\nHost: t\r\n\r\n", 400},
      {"two-digit version", "GET /g HTTP/1.10\r\nHost: t\r\n\r\n", 400},
      {"no version", "GET /g\r\nHost: t\r\n\r\n", 400},
      {"double space", "GET  /g HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"tab separator", "GET\t/g HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"space in target", "GET /a b HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"control in target", "GET /a\x01 HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"relative target", "GET g HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"fragment", "GET /g#f HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"absolute-form with userinfo", "GET http://u@example.com/g HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"absolute-form ftp", "GET ftp://example.com/g HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"absolute-form without Host", "GET http://example.com/g HTTP/1.1\r\n\r\n", 400},
      {"method with a slash", "GE/T /g HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"dot-segments above the root", "GET /a/../../x HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"bad percent escape", "GET /a%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"encoded NUL", "GET /a%00b HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"backslash in the path", "GET /public\\..\\admin HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"backslash in an absolute-form path", "GET http://t/a\\b HTTP/1.1\r\nHost: t\r\n\r\n", 400},
  };
  for (const auto& c : cases) expect_refused(gw.port(), c);
  expect_origin_untouched(gw.port(), origin);
}

TEST_CASE("absolute-form targets and OPTIONS *", "[hostile-request]") {
  Backend b("b");
  Gateway gw(config("  hello:\n    instances: [\"" + b.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n"));
  Client c(gw.port());
  // The authority of an absolute-form target takes the place of Host (RFC 9112 3.2.2).
  c.send("GET http://example.com:8080/hello/headers?x=1 HTTP/1.1\r\nHost: ignored.invalid\r\n\r\n");
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("X-Seen-Path") == "/headers?x=1");  // origin-form upstream, prefix stripped
  CHECK(r->body.find("[\"X-Forwarded-Host\",\"example.com:8080\"]") != std::string::npos);
  CHECK(r->body.find("ignored.invalid") == std::string::npos);
  // OPTIONS * is a valid request that no route takes: a JSON 404, and the connection lives on.
  c.send("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
  auto options = c.read_response();
  REQUIRE(options);
  CHECK(options->status == 404);
  CHECK(options->header("Content-Type") == "application/json");
  c.send("GET /hello/x HTTP/1.1\r\nHost: t\r\n\r\n");
  auto after = c.read_response();
  REQUIRE(after);
  CHECK(after->status == 200);
  CHECK(after->header("X-Seen-Path") == "/x");
  CHECK(gw.process().running());
}

TEST_CASE("size limits: 414, 431 and 413, and the boundaries are accepted", "[hostile-request]") {
  ScriptedOrigin origin({{ok_reply}});
  Gateway gw(origin_config(origin.address(), limits));
  auto line_of = [](std::size_t n) {  // a request line of exactly n bytes (without its CRLF)
    const std::string fixed = "GET / HTTP/1.1";
    return "GET /" + std::string(n - fixed.size(), 'a') + " HTTP/1.1";
  };
  auto head_of = [](std::size_t n) {  // a head of exactly n bytes, final CRLFCRLF included
    std::string start = "GET /h HTTP/1.1\r\nHost: t\r\nX-Big: ";
    return start + std::string(n - start.size() - 4, 'b') + "\r\n\r\n";
  };
  auto fields = [](int n) {
    std::string head = "GET /f HTTP/1.1\r\nHost: t\r\n";
    for (int i = 1; i < n; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
    return head + "\r\n";
  };
  std::string chunked_over;  // each chunk is small; together they pass the 100-byte limit
  for (int i = 0; i < 3; ++i) chunked_over += "32\r\n" + std::string(50, 'c') + "\r\n";
  const std::vector<Refusal> cases = {
      {"request line 1025", line_of(1025) + "\r\nHost: t\r\n\r\n", 414},
      {"request line 1025, no end yet", line_of(1025), 414},
      {"request line far over, no end yet", "GET /" + std::string(3000, 'a'), 414},
      {"head 4097", head_of(4097), 431},
      {"head far over, no end yet", "GET /h HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(6000, 'b'), 431},
      {"21 fields", fields(21), 431},
      {"CL over the body limit", post("Content-Length: 101\r\n", std::string(101, 'x')), 413},
      {"huge CL", post("Content-Length: 9999999999999999999\r\n", "x"), 413},
  };
  for (const auto& c : cases) expect_refused(gw.port(), c);
  expect_origin_untouched(gw.port(), origin);

  // The limits themselves are allowed.
  for (const std::string& ok : {line_of(1024) + "\r\nHost: t\r\n\r\n", head_of(4096), fields(20),
                                post("Content-Length: 100\r\n", std::string(100, 'x'))}) {
    INFO(ok.substr(0, 40));
    Client c(gw.port());
    c.send(ok);
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  REQUIRE(origin.wait_requests(5));

  // A chunked body is counted as it streams: refused once the total passes the limit, and the
  // upstream message is abandoned without its last chunk.
  const int before = origin.requests();
  expect_refused(gw.port(), {"chunked over the limit", post("Transfer-Encoding: chunked\r\n", chunked_over + "0\r\n\r\n"), 413});
  expect_refused(gw.port(), {"one big chunk", post("Transfer-Encoding: chunked\r\n", "c8\r\n" + std::string(200, 'x') + "\r\n0\r\n\r\n"), 413});
  CHECK(eventually([&] { return origin.closed() == origin.connections(); }));
  CHECK(origin.requests() == before);
}

TEST_CASE("slowloris: a head sent byte by byte is cut off at its deadline", "[hostile-request]") {
  ScriptedOrigin origin({{ok_reply}});
  Gateway gw(origin_config(origin.address(), "  timeouts: { request_header: 500ms, idle: 5s }\n"));
  Client c(gw.port());
  const std::string head = "GET /slow HTTP/1.1\r\nHost: t\r\nX-Slow: ";
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  int sent = 0;
  // A byte every 50 ms: each gap is far below the deadline, the whole head never is.
  while (!closed && std::chrono::steady_clock::now() - start < 5s) {
    c.send(std::string(1, sent < static_cast<int>(head.size()) ? head[static_cast<std::size_t>(sent)] : 'a'));
    ++sent;
    closed = c.closed_by_peer(50ms);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(closed);
  CHECK(elapsed >= 450ms);
  CHECK(elapsed < 2500ms);
  CHECK(sent > 5);  // bytes were still arriving when it was cut
  CHECK(origin.connections() == 0);
}

TEST_CASE("connections that send nothing, or nothing more, are closed on time", "[hostile-request]") {
  ScriptedOrigin origin({{ok_reply}});
  Gateway gw(origin_config(origin.address(), "  timeouts: { request_header: 400ms, idle: 300ms }\n"));
  {
    // Never a byte: the first request's header deadline applies.
    Client c(gw.port());
    const auto start = std::chrono::steady_clock::now();
    CHECK(c.closed_by_peer(5s));
    CHECK(std::chrono::steady_clock::now() - start < 2500ms);
  }
  {
    // Idle keep-alive after a response: closed after timeouts.idle, and not before it.
    Client c(gw.port());
    c.send("GET /one HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("Connection") != "close");
    const auto start = std::chrono::steady_clock::now();
    CHECK(c.closed_by_peer(5s));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed >= 250ms);
    CHECK(elapsed < 2500ms);
    CHECK(c.pending().empty());  // closed quietly, no stray bytes
  }
  {
    // A partial head of a second request gets the header deadline, not a fresh idle period each byte.
    Client c(gw.port());
    c.send("GET /one HTTP/1.1\r\nHost: t\r\n\r\nGET /two HTTP/1.1\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(c.closed_by_peer(5s));
    CHECK(origin.requests() == 2);  // /one above and /one here; /two never completed
  }
}
