// The request an HTTP/2 origin gets, made from the gateway's HTTP/1.1 head (so both protocols
// share the forwarding rules), and the gRPC deadline read from grpc-timeout.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include "http/grpc.h"
#include "http/h2/origin_stream.h"
#include "http/parser.h"

using namespace portcullis::http;
using namespace std::chrono_literals;

namespace {

std::vector<std::pair<std::string, std::string>> fields_of(const h2::OriginStream& s) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const nghttp2_nv& nv : s.request_fields())
    out.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                     std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
  return out;
}

std::optional<std::chrono::nanoseconds> timeout_of(const std::string& value) {
  const std::string text = "POST /s.S/M HTTP/1.1\r\nHost: a\r\ngrpc-timeout: " + value + "\r\n\r\n";
  RequestHead head;
  REQUIRE(parse_request_head(text, {}, head).status == ParseStatus::complete);
  return grpc_timeout(head);
}

}  // namespace

TEST_CASE("An HTTP/2 origin's request: pseudo-fields first, names lower-cased, connection fields left out",
          "[http2][upstream]") {
  boost::asio::io_context ioc;
  h2::OriginStream s(ioc);
  s.build_request("POST /a/b?c=1 HTTP/1.1\r\nHost: 10.0.0.1:50051\r\nX-Forwarded-For: 192.0.2.1\r\n"
                  "Connection: upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n"
                  "Keep-Alive: 5\r\nContent-Type: application/grpc\r\nVia: 1.1 portcullis\r\n\r\n",
                  "https", true);
  const std::vector<std::pair<std::string, std::string>> expected{
      {":method", "POST"},
      {":scheme", "https"},
      {":authority", "10.0.0.1:50051"},
      {":path", "/a/b?c=1"},
      {"x-forwarded-for", "192.0.2.1"},
      {"content-type", "application/grpc"},
      {"via", "1.1 portcullis"},
      {"te", "trailers"},
  };
  CHECK(fields_of(s) == expected);

  // Built again on the same stream: nothing of the first request is left.
  s.build_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "http", false);
  const std::vector<std::pair<std::string, std::string>> plain{
      {":method", "GET"}, {":scheme", "http"}, {":authority", "h"}, {":path", "/"}};
  CHECK(fields_of(s) == plain);
}

TEST_CASE("grpc-timeout: 1 to 8 digits and a unit, else no deadline", "[grpc]") {
  CHECK(timeout_of("200m") == std::chrono::nanoseconds(200ms));
  CHECK(timeout_of("3S") == std::chrono::nanoseconds(3s));
  CHECK(timeout_of("2M") == std::chrono::nanoseconds(2min));
  CHECK(timeout_of("1H") == std::chrono::nanoseconds(1h));
  CHECK(timeout_of("750u") == std::chrono::nanoseconds(750us));
  CHECK(timeout_of("99999999n") == std::chrono::nanoseconds(99999999));
  // Eight digits of hours do not fit in nanoseconds: the deadline is capped, never negative.
  CHECK(timeout_of("99999999H") == std::chrono::nanoseconds(std::chrono::hours(2'000'000)));
  CHECK_FALSE(timeout_of("123456789S"));  // nine digits
  CHECK_FALSE(timeout_of("S"));
  CHECK_FALSE(timeout_of("10"));
  CHECK_FALSE(timeout_of("10s"));  // units are case-sensitive: s is not seconds
  CHECK_FALSE(timeout_of("-1S"));
  CHECK_FALSE(timeout_of("1 S"));
  RequestHead none;
  CHECK_FALSE(grpc_timeout(none));
}
