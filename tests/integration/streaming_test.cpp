// Large bodies stream through in bounded memory, both ways.
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.h"

using namespace harness;
using json = nlohmann::json;

namespace {
constexpr std::uint64_t body_size = 256ull * 1024 * 1024;
constexpr long max_rss_growth_kib = 48 * 1024;  // far below the 256 MiB that buffering would need
}

TEST_CASE("a 256 MiB upload and a 256 MiB download pass through in bounded memory", "[streaming]") {
  Backend b("b");
  Gateway gw(config("  hello:\n    instances: [\"" + b.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n",
                    "  limits: { max_request_body_bytes: 1GiB }\n"));
  long rss_before = gw.process().rss_kib();
  REQUIRE(rss_before > 0);
  long peak = rss_before;

  SECTION("upload with Content-Length") {
    Client c(gw.port());
    c.send("POST /hello/sink HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body_size) + "\r\n\r\n");
    std::string chunk(1 << 20, 'u');
    for (std::uint64_t sent = 0; sent < body_size; sent += chunk.size()) {
      c.send(chunk);
      if ((sent >> 20) % 32 == 0) peak = std::max(peak, gw.process().rss_kib());
    }
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(json::parse(r->body)["bytes"] == body_size);
  }
  SECTION("chunked upload") {
    Client c(gw.port());
    c.send("POST /hello/sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    std::string data(1 << 20, 'c');
    char size_line[32];
    std::snprintf(size_line, sizeof(size_line), "%zx\r\n", data.size());
    std::string chunk = size_line + data + "\r\n";
    for (std::uint64_t sent = 0; sent < body_size; sent += data.size()) {
      c.send(chunk);
      if ((sent >> 20) % 32 == 0) peak = std::max(peak, gw.process().rss_kib());
    }
    c.send("0\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(json::parse(r->body)["bytes"] == body_size);
  }
  SECTION("download, chunked from the origin") {
    Client c(gw.port());
    c.send("GET /hello/bytes?n=" + std::to_string(body_size) + "&chunked=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    // Read the head, then count body bytes without keeping them (the client must not buffer either).
    std::uint64_t received = 0;
    std::string& pending = c.pending();
    char buf[1 << 16];
    while (pending.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(c.fd(), buf, sizeof(buf), 0);
      REQUIRE(n > 0);
      pending.append(buf, static_cast<std::size_t>(n));
    }
    REQUIRE(pending.rfind("HTTP/1.1 200", 0) == 0);
    std::size_t head_end = pending.find("\r\n\r\n") + 4;
    received = pending.size() - head_end;
    std::uint64_t reads = 0;
    bool ended = false;
    std::string tail;
    while (!ended) {
      ssize_t n = ::recv(c.fd(), buf, sizeof(buf), 0);
      REQUIRE(n > 0);
      received += static_cast<std::uint64_t>(n);
      tail.append(buf, static_cast<std::size_t>(n));
      if (tail.size() > 16) tail.erase(0, tail.size() - 16);
      ended = tail.size() >= 5 && tail.compare(tail.size() - 5, 5, "0\r\n\r\n") == 0;
      if (++reads % 512 == 0) peak = std::max(peak, gw.process().rss_kib());
    }
    CHECK(received > body_size);  // payload plus chunk framing
  }
  peak = std::max(peak, gw.process().rss_kib());
  INFO("RSS before " << rss_before << " KiB, peak " << peak << " KiB");
  CHECK(peak - rss_before < max_rss_growth_kib);
}
