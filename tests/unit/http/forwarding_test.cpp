// The forwarding rules as tables: which fields pass to the origin and back, and what the gateway
// adds (X-Forwarded-*, Via, X-Request-Id, framing, Connection).
#include <catch2/catch.hpp>

#include "http/forwarding.h"
#include "http/parser.h"

using namespace portcullis::http;

namespace {

struct Parsed {
  std::string text;
  RequestHead head;
  explicit Parsed(std::string t) : text(std::move(t)) {
    REQUIRE(parse_request_head(text, {}, head).status == ParseStatus::complete);
  }
};

std::string upstream_head(const RequestHead& head, bool trusted = false, std::string_view prefix = {},
                          std::string_view subject = {}, bool upgrade = false) {
  ForwardedRequest r;
  r.head = &head;
  r.path = head.path;
  r.stripped_prefix = prefix;
  r.authority = "10.1.2.3:8080";
  r.client_ip = "192.0.2.7";
  r.client_trusted = trusted;
  r.secure = false;
  r.client_cert_header = "X-Client-Cert-Subject";
  r.client_cert_subject = subject;
  r.via = "portcullis";
  r.upgrade = upgrade;
  std::string out;
  append_request_head(out, r);
  return out;
}

bool has_line(const std::string& head, const std::string& line) { return head.find("\r\n" + line + "\r\n") != std::string::npos; }

}  // namespace

TEST_CASE("hop-by-hop fields and those named in Connection are not forwarded", "[forwarding]") {
  for (const char* name : {"Connection", "Keep-Alive", "TE", "Trailer", "Upgrade", "Transfer-Encoding",
                           "Proxy-Connection", "Proxy-Authenticate", "keep-alive", "te"})
    CHECK(is_hop_by_hop(name));
  for (const char* name : {"Host", "Content-Length", "Accept", "X-Te", "Trailers", "Connections"}) CHECK_FALSE(is_hop_by_hop(name));

  Parsed p("GET /a HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nX-Open: 2\r\nKeep-Alive: 5\r\n\r\n");
  const std::string out = upstream_head(p.head);
  CHECK_FALSE(has_line(out, "X-Secret: 1"));
  CHECK_FALSE(has_line(out, "Keep-Alive: 5"));
  CHECK(out.find("Connection") == std::string::npos);
  CHECK(has_line(out, "X-Open: 2"));
}

TEST_CASE("the upstream request head: Host, X-Forwarded-*, Via, framing", "[forwarding]") {
  struct Case {
    const char* name;
    std::string request;
    bool trusted;
    std::vector<std::string> present;
    std::vector<std::string> absent;
  };
  const std::vector<Case> cases = {
      {"an untrusted client's forwarding fields are replaced",
       "GET /x?q=1 HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n"
       "X-Forwarded-Host: evil\r\nForwarded: for=6.6.6.6\r\n\r\n",
       false,
       {"Host: 10.1.2.3:8080", "X-Forwarded-For: 192.0.2.7", "X-Forwarded-Proto: http", "X-Forwarded-Host: shop.example",
        "Via: 1.1 portcullis"},
       {"X-Forwarded-For: 6.6.6.6", "X-Forwarded-Proto: https", "X-Forwarded-Host: evil", "Forwarded: for=6.6.6.6",
        "Host: shop.example"}},
      {"a trusted proxy's chain is extended and its proto and host kept",
       "GET /x HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n"
       "X-Forwarded-Proto: https\r\nX-Forwarded-Host: front.example\r\n\r\n",
       true,
       {"X-Forwarded-For: 1.1.1.1, 2.2.2.2, 192.0.2.7", "X-Forwarded-Proto: https", "X-Forwarded-Host: front.example"},
       {"X-Forwarded-Proto: http", "X-Forwarded-Host: shop.example"}},
      {"an earlier Via is extended; HTTP/1.0 says so",
       "GET /x HTTP/1.0\r\nVia: 1.1 edge\r\n\r\n", false, {"Via: 1.1 edge, 1.0 portcullis"}, {"Via: 1.1 edge"}},
      {"Expect and the client's Content-Length are the gateway's to send",
       "POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
       false,
       {"Content-Length: 3"},
       {"Expect: 100-continue"}},
      {"a chunked body stays chunked", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", false,
       {"Transfer-Encoding: chunked"}, {"Content-Length: 0"}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    Parsed p(c.request);
    const std::string out = upstream_head(p.head, c.trusted);
    for (const auto& line : c.present) CHECK(has_line(out, line));
    for (const auto& line : c.absent) CHECK_FALSE(has_line(out, line));
    CHECK(out.ends_with("\r\n\r\n"));
  }
}

TEST_CASE("the request line keeps the target byte for byte, Max-Forwards counts down", "[forwarding]") {
  Parsed p("OPTIONS /a%2Fb?x=%20 HTTP/1.1\r\nHost: h\r\nMax-Forwards: 3\r\n\r\n");
  const std::string out = upstream_head(p.head);
  CHECK(out.rfind("OPTIONS /a%2Fb?x=%20 HTTP/1.1\r\n", 0) == 0);
  CHECK(has_line(out, "Max-Forwards: 2"));
  Parsed get("GET /p HTTP/1.1\r\nHost: h\r\nMax-Forwards: 3\r\n\r\n");
  CHECK(has_line(upstream_head(get.head), "Max-Forwards: 3"));  // only TRACE and OPTIONS count it
}

TEST_CASE("prefix, client certificate and upgrade are forwarded when given", "[forwarding]") {
  Parsed p("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  const std::string with = upstream_head(p.head, false, "/api", "CN=client", true);
  CHECK(has_line(with, "X-Forwarded-Prefix: /api"));
  CHECK(has_line(with, "X-Client-Cert-Subject: CN=client"));
  CHECK(has_line(with, "Connection: upgrade"));
  CHECK(has_line(with, "Upgrade: websocket"));
  const std::string without = upstream_head(p.head);
  CHECK(without.find("Upgrade") == std::string::npos);
  CHECK(without.find("X-Forwarded-Prefix") == std::string::npos);
  CHECK(without.find("X-Client-Cert-Subject") == std::string::npos);
}

TEST_CASE("the response head for the client", "[forwarding]") {
  Fields fields;
  fields.add("Content-Type", "text/plain");
  fields.add("Connection", "X-Hidden");
  fields.add("X-Hidden", "1");
  fields.add("Transfer-Encoding", "chunked");
  fields.add("Content-Length", "99");
  ForwardedResponse r;
  r.status = 200;
  r.fields = &fields;
  r.content_length = 5;
  r.request_id = "abc";
  r.via = "portcullis";
  std::string out;
  append_response_head(out, r);
  CHECK(out.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(has_line(out, "Content-Type: text/plain"));
  CHECK(has_line(out, "Content-Length: 5"));
  CHECK(has_line(out, "X-Request-Id: abc"));
  CHECK(has_line(out, "Via: 1.1 portcullis"));
  CHECK(out.find("Date: ") != std::string::npos);
  CHECK(out.find("X-Hidden") == std::string::npos);
  CHECK(out.find("Content-Length: 99") == std::string::npos);
  CHECK(out.find("Transfer-Encoding") == std::string::npos);
  CHECK(out.find("Connection") == std::string::npos);

  SECTION("closing, chunked, HTTP/1.0 and the gateway's own answers") {
    Fields none;
    ForwardedResponse c;
    c.status = 503;
    c.fields = &none;
    c.chunked = true;
    c.close = true;
    c.server_header = true;
    std::string a;
    append_response_head(a, c);
    CHECK(has_line(a, "Transfer-Encoding: chunked"));
    CHECK(has_line(a, "Connection: close"));
    CHECK(has_line(a, "Server: portcullis"));
    CHECK(a.find("X-Request-Id") == std::string::npos);
    c.chunked = c.close = false;
    c.client_version = 10;
    std::string b;
    append_response_head(b, c);
    CHECK(b.rfind("HTTP/1.0 503 Service Unavailable\r\n", 0) == 0);
    CHECK(has_line(b, "Connection: keep-alive"));
  }
}

TEST_CASE("request ids: a client's is kept when usable, a fresh one is prefix then counter", "[forwarding]") {
  CHECK(usable_request_id("abc-123"));
  CHECK_FALSE(usable_request_id(""));
  CHECK_FALSE(usable_request_id("has space"));
  CHECK_FALSE(usable_request_id("quote\""));
  CHECK_FALSE(usable_request_id(std::string(129, 'a')));
  CHECK(usable_request_id(std::string(128, 'a')));
  char buf[48];
  CHECK(format_request_id("0a1b2c3d00", 0x2a, buf) == "0a1b2c3d0000000000002a");
}
