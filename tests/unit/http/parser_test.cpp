// The strict request/response parser and the chunked decoder.
#include <catch2/catch.hpp>

#include "http/parser.h"

using namespace portcullis::http;

namespace {

ParseResult parse(std::string_view text, RequestHead& head, ParseLimits limits = {}) {
  return parse_request_head(text, limits, head);
}

int status_of(const std::string& text, ParseLimits limits = {}) {
  RequestHead head;
  auto r = parse(text, head, limits);
  if (r.status == ParseStatus::complete) return 0;
  if (r.status == ParseStatus::incomplete) return -1;
  return r.error_status;
}

std::string decode_all(ChunkedDecoder& d, std::string input, ChunkedDecoder::Result& last) {
  std::string out;
  std::string_view in = input;
  while (true) {
    std::string_view piece;
    last = d.next(in, piece);
    if (last == ChunkedDecoder::Result::data) {
      out.append(piece);
      continue;
    }
    return out;
  }
}

}  // namespace

TEST_CASE("parses a request head into views", "[parser]") {
  RequestHead head;
  std::string text = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nX-Thing:  spaced value \r\n\r\nBODY";
  auto r = parse(text, head);
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(head.method == Method::get);
  CHECK(head.target == "/a/b?x=1");
  CHECK(head.path == "/a/b");
  CHECK(head.query == "x=1");
  CHECK(head.host == "example.com:8080");
  CHECK(head.fields.get("x-thing") == "spaced value");
  CHECK(head.head_bytes == text.size() - 4);
  CHECK(head.keep_alive);
}

TEST_CASE("incomplete heads ask for more bytes", "[parser]") {
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\n") == -1);
  CHECK(status_of("GET / HT") == -1);
  CHECK(status_of("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") == 0);  // leading empty lines skipped
}

TEST_CASE("framing ambiguities are refused", "[parser]") {
  CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n") == 0);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n") == 0);
  for (const char* bad : {"+5", "-1", "0x5", "5 5", "", "99999999999999999999", "5a"})
    CHECK(status_of(std::string("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ") + bad + "\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == 501);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\n\r\n") == 501);
  CHECK(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
  RequestHead head;
  REQUIRE(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", head).status == ParseStatus::complete);
  CHECK(head.chunked);
}

TEST_CASE("header syntax errors are refused", "[parser]") {
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n") == 400);       // obs-fold
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n") == 400);          // bare CR
  CHECK(status_of(std::string("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 35)) == 400);  // NUL
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n") == 400);            // space before colon
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX(y): a\r\n\r\n") == 400);          // bad token char
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\nHost: a\r\n\r\n") == 400);                       // bare LF
  CHECK(status_of("GET / HTTP/1.1\r\n\r\n") == 400);                                // missing Host
  CHECK(status_of("GET / HTTP/1.0\r\n\r\n") == 0);                                  // fine in 1.0
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a b\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n") == 0);
}

TEST_CASE("request-target forms", "[parser]") {
  RequestHead head;
  REQUIRE(parse("GET http://api.example.com/x?y HTTP/1.1\r\nHost: other\r\n\r\n", head).status == ParseStatus::complete);
  CHECK(head.absolute_form);
  CHECK(head.host == "api.example.com");
  CHECK(head.path == "/x");
  CHECK(head.query == "y");
  CHECK(status_of("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
  CHECK(status_of("GET * HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  CHECK(status_of("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n") == 501);
  CHECK(status_of("GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  CHECK(status_of("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  CHECK(status_of("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n") == 505);
  CHECK(status_of("GET / HTTP/1.2\r\nHost: a\r\n\r\n") == 505);
  CHECK(status_of("GET / HTTP/x\r\nHost: a\r\n\r\n") == 400);
  CHECK(status_of("GET  / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
}

TEST_CASE("limits map to 414 and 431", "[parser]") {
  ParseLimits limits{64, 256, 4};
  CHECK(status_of("GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", limits) == 414);
  CHECK(status_of("GET /" + std::string(100, 'a'), limits) == 414);  // even before the line ends
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'b') + "\r\n\r\n", limits) == 431);
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n", limits) == 431);
}

TEST_CASE("connection semantics", "[parser]") {
  RequestHead head;
  REQUIRE(parse("GET / HTTP/1.0\r\n\r\n", head).status == ParseStatus::complete);
  CHECK(!head.keep_alive);
  REQUIRE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", head).status == ParseStatus::complete);
  CHECK(head.keep_alive);
  REQUIRE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", head).status == ParseStatus::complete);
  CHECK(!head.keep_alive);
  REQUIRE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", head).status ==
          ParseStatus::complete);
  CHECK(head.upgrade);
  REQUIRE(parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", head).status ==
          ParseStatus::complete);
  CHECK(head.expect_continue);
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n") == 417);
}

TEST_CASE("response heads: framing rules for what the origin sends", "[parser]") {
  ResponseHead head;
  ResponseFraming framing;
  auto r = parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 4096, head, framing);
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(head.status == 200);
  CHECK(head.content_length == 5);
  CHECK(!framing.until_close);

  r = parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 4096, head, framing);
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(head.chunked);
  CHECK(!head.has_content_length);
  CHECK(!head.fields.contains("content-length"));

  CHECK(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 4096, head, framing)
            .error_status == 502);
  CHECK(parse_response_head("HTTP/1.1 20 OK\r\n\r\n", 4096, head, framing).status == ParseStatus::error);
  CHECK(parse_response_head("HTTP/1.1 2000 OK\r\n\r\n", 4096, head, framing).status == ParseStatus::error);
  CHECK(parse_response_head("HELLO\r\n\r\n", 4096, head, framing).status == ParseStatus::error);
  CHECK(parse_response_head("HTTP/1.1 200 OK\r\nX: " + std::string(5000, 'a'), 4096, head, framing).status ==
        ParseStatus::error);

  r = parse_response_head("HTTP/1.1 200 OK\r\n\r\n", 4096, head, framing);
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(framing.until_close);
  CHECK(!head.keep_alive);
  r = parse_response_head("HTTP/1.1 204 No Content\r\n\r\n", 4096, head, framing);
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(!framing.until_close);
  r = parse_response_head("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 4096, head, framing);
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(head.reason.empty());
}

TEST_CASE("chunked decoder", "[parser]") {
  ChunkedDecoder::Result last;
  {
    ChunkedDecoder d;
    CHECK(decode_all(d, "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n", last) == "hello world");
    CHECK(last == ChunkedDecoder::Result::done);
  }
  {
    // Trailers kept for a sink that sends them on, fed byte by byte: each line ended by '\n'.
    ChunkedDecoder d;
    std::string trailers;
    d.keep_trailers(&trailers);
    std::string out;
    for (char c : std::string("3\r\nabc\r\n0\r\nX-A: 1\r\nX-B: two\r\n\r\n")) out += decode_all(d, std::string(1, c), last);
    CHECK(out == "abc");
    CHECK(last == ChunkedDecoder::Result::done);
    CHECK(trailers == "X-A: 1\nX-B: two\n");
    ChunkedDecoder none;
    none.keep_trailers(&trailers);
    trailers.clear();
    CHECK(decode_all(none, "3\r\nabc\r\n0\r\n\r\n", last) == "abc");
    CHECK(trailers.empty());
  }
  {
    ChunkedDecoder d;  // byte by byte
    std::string input = "A\r\n0123456789\r\n0\r\n\r\n";
    std::string out;
    for (char c : input) out += decode_all(d, std::string(1, c), last);
    CHECK(out == "0123456789");
    CHECK(last == ChunkedDecoder::Result::done);
  }
  for (const char* bad : {"zz\r\n", "5\nhello\r\n", "5\r\nhelloX\r\n", "5;a\n", "\r\n", "12345678901234567\r\n",
                          "0\r\nBad\nTrailer\r\n\r\n"}) {
    ChunkedDecoder d;
    decode_all(d, bad, last);
    INFO(bad);
    CHECK(last == ChunkedDecoder::Result::error);
  }
  // Chunk extensions as RFC 9112 7.1.1 writes them: names, token or quoted values, BWS around.
  for (const char* good : {"5;name\r\nhello\r\n0\r\n\r\n", "5;name=value\r\nhello\r\n0\r\n\r\n",
                           "5 ;name=value\r\nhello\r\n0\r\n\r\n", "5; a = b ;c\r\nhello\r\n0\r\n\r\n",
                           "5;q=\"quoted \\\" ;=value\"\r\nhello\r\n0\r\n\r\n", "5;a;b=c\r\nhello\r\n0;x=\"\"\r\n\r\n"}) {
    ChunkedDecoder d;
    INFO(good);
    CHECK(decode_all(d, good, last) == "hello");
    CHECK(last == ChunkedDecoder::Result::done);
  }
  // Whitespace only before an extension; no empty extension, name or value; quoted strings end.
  for (const char* bad : {"5 \r\nhello\r\n", "5\t\r\nhello\r\n", "5;\r\nhello\r\n", "5; \r\nhello\r\n",
                          "5;=x\r\nhello\r\n", "5;a=\r\nhello\r\n", "5;a=\"open\r\nhello\r\n",
                          "5;a b\r\nhello\r\n", "5;a=b c\r\nhello\r\n", "5;a=\"x\"y\r\nhello\r\n",
                          "5;a=\"x\\\r\nhello\r\n", "5;a;;b\r\nhello\r\n", "5;a=b=c\r\nhello\r\n"}) {
    ChunkedDecoder d;
    decode_all(d, bad, last);
    INFO(bad);
    CHECK(last == ChunkedDecoder::Result::error);
  }
  ChunkedDecoder small(8);
  decode_all(small, "1;" + std::string(20, 'e') + "\r\n", last);
  CHECK(last == ChunkedDecoder::Result::error);
}
