// ip_filter: allow and deny lists over IPv4 and IPv6, deny winning, an unknown peer, and the client
// taken from X-Forwarded-For only behind trusted proxies (right to left, skipping trusted hops).
#include <catch2/catch.hpp>

#include "filters/auth/auth_filters.h"
#include "support.h"
#include "util/cidr.h"

using namespace portcullis;
using filter_support::build;
using filter_support::Request;

namespace {

struct Client {
  Request r;
  std::array<std::uint8_t, 16> bytes{};
  explicit Client(const char* address) {
    if (address) {
      bytes = *parse_ip(address);
      r.ctx.client_bytes = &bytes;
    }
  }
};

Outcome run(const Filter& f, const char* peer, const char* xff = nullptr, const char* xff2 = nullptr) {
  Client c(peer);
  if (xff) c.r.head.fields.add("X-Forwarded-For", xff);
  if (xff2) c.r.head.fields.add("x-forwarded-for", xff2);
  const Outcome out = f.run(c.r.ctx);
  if (out == Outcome::fail) {
    CHECK(c.r.ctx.error.kind == ErrorKind::rejected);
    CHECK(c.r.ctx.added_response_headers.empty());
  }
  return out;
}

}  // namespace

TEST_CASE("ip_filter: an allow list admits only its ranges, IPv4 and IPv6", "[filters][ip_filter]") {
  auto f = build("ip_filter", "{ allow: [10.0.0.0/8, \"2001:db8::/32\", 192.0.2.7] }");
  REQUIRE(f->filter);
  CHECK(f->filter->type() == FilterType::pre);
  CHECK(f->filter->order() == filters::ip_filter_order);
  CHECK(run(*f->filter, "10.1.2.3") == Outcome::proceed);
  CHECK(run(*f->filter, "2001:db8:1::5") == Outcome::proceed);
  CHECK(run(*f->filter, "192.0.2.7") == Outcome::proceed);
  CHECK(run(*f->filter, "::ffff:10.9.9.9") == Outcome::proceed);  // mapped form of an allowed IPv4
  CHECK(run(*f->filter, "192.0.2.8") == Outcome::fail);
  CHECK(run(*f->filter, "11.0.0.1") == Outcome::fail);
  CHECK(run(*f->filter, "2001:db9::1") == Outcome::fail);
  CHECK(run(*f->filter, nullptr) == Outcome::fail);  // unknown peer: not in any allowed range
  Client c("8.8.8.8");
  f->filter->run(c.r.ctx);
  CHECK(c.r.ctx.error.status == 403);
}

TEST_CASE("ip_filter: deny wins over allow; a deny list alone admits the rest", "[filters][ip_filter]") {
  auto both = build("ip_filter", "{ allow: [10.0.0.0/8], deny: [10.6.6.0/24, \"::1\"], status: 404 }");
  REQUIRE(both->filter);
  CHECK(run(*both->filter, "10.6.5.255") == Outcome::proceed);
  CHECK(run(*both->filter, "10.6.6.1") == Outcome::fail);
  Client c("10.6.6.1");
  both->filter->run(c.r.ctx);
  CHECK(c.r.ctx.error.status == 404);

  auto deny = build("ip_filter", "{ deny: [203.0.113.0/24, \"2001:db8:bad::/48\"] }");
  REQUIRE(deny->filter);
  CHECK(run(*deny->filter, "203.0.113.77") == Outcome::fail);
  CHECK(run(*deny->filter, "2001:db8:bad:1::1") == Outcome::fail);
  CHECK(run(*deny->filter, "203.0.114.1") == Outcome::proceed);
  CHECK(run(*deny->filter, "2001:db8:bae::1") == Outcome::proceed);
  CHECK(run(*deny->filter, nullptr) == Outcome::proceed);
}

TEST_CASE("ip_filter ignores X-Forwarded-For from an untrusted peer", "[filters][ip_filter]") {
  auto f = build("ip_filter", "{ allow: [198.51.100.0/24], trusted_proxies: [10.1.0.0/16] }");
  REQUIRE(f->filter);
  CHECK(run(*f->filter, "203.0.113.9", "198.51.100.4") == Outcome::fail);  // spoofed
  auto no_trust = build("ip_filter", "{ allow: [198.51.100.0/24] }");
  CHECK(run(*no_trust->filter, "10.1.0.5", "198.51.100.4") == Outcome::fail);
}

TEST_CASE("ip_filter takes the right-most untrusted X-Forwarded-For entry behind trusted proxies",
          "[filters][ip_filter]") {
  auto f = build("ip_filter", "{ deny: [198.51.100.66], trusted_proxies: [10.1.0.0/16, \"fd00::/8\"] }");
  REQUIRE(f->filter);
  // Client 198.51.100.66 -> proxy 10.1.0.7 -> proxy (peer) 10.1.0.5.
  CHECK(run(*f->filter, "10.1.0.5", "198.51.100.66, 10.1.0.7") == Outcome::fail);
  // The client spoofed a left entry; the right-most untrusted one is the real client.
  CHECK(run(*f->filter, "10.1.0.5", "198.51.100.66, 198.51.100.1, 10.1.0.7") == Outcome::proceed);
  CHECK(run(*f->filter, "10.1.0.5", "198.51.100.1, 198.51.100.66") == Outcome::fail);
  // Several X-Forwarded-For fields read as one list, in order.
  CHECK(run(*f->filter, "10.1.0.5", "198.51.100.66", "10.1.0.7") == Outcome::fail);
  CHECK(run(*f->filter, "10.1.0.5", "198.51.100.66", "198.51.100.2") == Outcome::proceed);
  // IPv6 hops.
  CHECK(run(*f->filter, "fd00::5", "198.51.100.66,fd00::9") == Outcome::fail);
  // All entries trusted: the left-most.
  auto allow = build("ip_filter", "{ allow: [10.1.0.3], trusted_proxies: [10.1.0.0/16] }");
  CHECK(run(*allow->filter, "10.1.0.5", "10.1.0.3, 10.1.0.4") == Outcome::proceed);
  CHECK(run(*allow->filter, "10.1.0.5", "10.1.0.4, 10.1.0.3") == Outcome::fail);
  // No X-Forwarded-For: the (trusted) peer itself.
  CHECK(run(*f->filter, "10.1.0.5") == Outcome::proceed);
}

TEST_CASE("ip_filter uses the socket peer when X-Forwarded-For is malformed", "[filters][ip_filter]") {
  auto f = build("ip_filter", "{ allow: [10.1.0.0/16], trusted_proxies: [10.1.0.0/16] }");
  REQUIRE(f->filter);
  // Each malformed list falls back to the trusted peer 10.1.0.5 (allowed), never to a left entry.
  for (const char* bad : {"198.51.100.4, not-an-ip", "198.51.100.4,,", "", "198.51.100.4:8080",
                          "198.51.100.4, [2001:db8::1]", "\xc3\xa9\xc3\xa9", "198.51.100.4, 10.1.0.7 10.1.0.8",
                          "999.1.1.1"}) {
    INFO(bad);
    CHECK(run(*f->filter, "10.1.0.5", bad) == Outcome::proceed);
  }
  const std::string huge(70000, '1');
  CHECK(run(*f->filter, "10.1.0.5", huge.c_str()) == Outcome::proceed);
  // A malformed entry right of an untrusted client does not hide the client either: the peer is used.
  auto deny = build("ip_filter", "{ deny: [10.1.0.5], trusted_proxies: [10.1.0.0/16] }");
  CHECK(run(*deny->filter, "10.1.0.5", "198.51.100.4, bogus") == Outcome::fail);
}

TEST_CASE("ip_filter refuses bad args", "[filters][ip_filter]") {
  auto check = [](const std::string& args, const std::string& expected) {
    auto f = build("ip_filter", args);
    CHECK_FALSE(f->filter);
    INFO(f->errors.joined());
    CHECK(f->errors.joined().find(expected) != std::string::npos);
  };
  check("{}", "allow or deny is required");
  check("{ allow: [10.0.0.0/33] }", "invalid CIDR 10.0.0.0/33");
  check("{ allow: [\"2001:db8::/129\"] }", "invalid CIDR 2001:db8::/129");
  check("{ deny: [example.com] }", "invalid CIDR example.com");
  check("{ deny: [10.0.0.0/8], trusted_proxies: [10.0.0.0/x] }", "invalid CIDR 10.0.0.0/x");
  check("{ deny: [10.0.0.0/8], status: 200 }", "must be an integer in 400..599");
  check("{ deny: 10.0.0.0/8, allow: { a: b } }", "must be a string or a list of strings");
}
