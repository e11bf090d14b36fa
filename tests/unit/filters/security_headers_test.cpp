// security_headers: the default fields, HSTS on TLS only, each field turned off or replaced,
// fields removed, and the values refused when the config loads.
#include <catch2/catch.hpp>

#include "edge_support.h"
#include "support.h"

using namespace portcullis;
using edge_support::has_error;
using filter_support::build;
using filter_support::Request;

namespace {

std::string field(const Request& r, std::string_view name) {
  const http::Field* f = r.ctx.response_fields.find(name);
  return f ? std::string(f->value) : "<absent>";
}

void run(const Filter& f, Request& r) {
  REQUIRE(f.should_filter(r.ctx));
  CHECK(f.run(r.ctx) == Outcome::proceed);
}

}  // namespace

TEST_CASE("security_headers sends its defaults, and HSTS only over TLS", "[filters][edge][security_headers]") {
  auto f = build("security_headers", "{}");
  REQUIRE(f->filter);
  CHECK(f->filter->type() == FilterType::post);
  Request plain;
  run(*f->filter, plain);
  CHECK(field(plain, "X-Content-Type-Options") == "nosniff");
  CHECK(field(plain, "X-Frame-Options") == "DENY");
  CHECK(field(plain, "Referrer-Policy") == "strict-origin-when-cross-origin");
  CHECK(field(plain, "Strict-Transport-Security") == "<absent>");
  CHECK(field(plain, "Content-Security-Policy") == "<absent>");
  CHECK(field(plain, "Permissions-Policy") == "<absent>");
  CHECK(field(plain, "Cross-Origin-Opener-Policy") == "<absent>");

  Request tls;
  tls.ctx.secure = true;
  run(*f->filter, tls);
  CHECK(field(tls, "Strict-Transport-Security") == "max-age=31536000");
}

TEST_CASE("security_headers builds HSTS from its settings", "[filters][edge][security_headers]") {
  struct Case {
    const char* args;
    const char* want;
  };
  for (const Case& c : {Case{"{ hsts: { max_age: 31536000, include_subdomains: true, preload: true } }",
                             "max-age=31536000; includeSubDomains; preload"},
                        Case{"{ hsts: { max_age: 1h, include_subdomains: true } }", "max-age=3600; includeSubDomains"},
                        Case{"{ hsts: { max_age: 0 } }", "max-age=0"}, Case{"{ hsts: true }", "max-age=31536000"},
                        Case{"{ hsts: false }", "<absent>"}, Case{"{ hsts: null }", "<absent>"},
                        Case{"{ hsts: ~ }", "<absent>"}, Case{"{ hsts: \"\" }", "<absent>"}}) {
    INFO(c.args);
    auto f = build("security_headers", c.args);
    REQUIRE(f->filter);
    Request r;
    r.ctx.secure = true;
    run(*f->filter, r);
    CHECK(field(r, "Strict-Transport-Security") == c.want);
  }
}

TEST_CASE("security_headers turns each field off with false, null or an empty string", "[filters][edge][security_headers]") {
  for (const char* off : {"false", "null", "\"\""}) {
    const std::string o(off);
    auto f = build("security_headers", "{ hsts: " + o + ", content_type_options: " + o + ", frame_options: " + o +
                                           ", referrer_policy: " + o + ", content_security_policy: " + o +
                                           ", permissions_policy: " + o + ", cross_origin_opener_policy: " + o + " }");
    REQUIRE(f->filter);
    Request r;
    r.ctx.secure = true;
    run(*f->filter, r);
    CHECK(r.ctx.response_fields.size() == 0);
  }
}

TEST_CASE("security_headers sends the configured values", "[filters][edge][security_headers]") {
  auto f = build("security_headers",
                 "{ frame_options: sameorigin, referrer_policy: \"no-referrer, strict-origin-when-cross-origin\", "
                 "content_security_policy: \"default-src 'self'; img-src https:\", "
                 "permissions_policy: \"geolocation=(), camera=()\", cross_origin_opener_policy: same-origin, "
                 "content_type_options: true }");
  REQUIRE(f->filter);
  Request r;
  run(*f->filter, r);
  CHECK(field(r, "X-Frame-Options") == "SAMEORIGIN");
  CHECK(field(r, "Referrer-Policy") == "no-referrer, strict-origin-when-cross-origin");
  CHECK(field(r, "Content-Security-Policy") == "default-src 'self'; img-src https:");
  CHECK(field(r, "Permissions-Policy") == "geolocation=(), camera=()");
  CHECK(field(r, "Cross-Origin-Opener-Policy") == "same-origin");
  CHECK(field(r, "X-Content-Type-Options") == "nosniff");
}

TEST_CASE("security_headers replaces the origin's fields unless override is false", "[filters][edge][security_headers]") {
  auto replace = build("security_headers", "{}");
  Request r;
  r.ctx.response_fields.add("X-Frame-Options", "ALLOWALL");
  r.ctx.response_fields.add("x-frame-options", "SAMEORIGIN");
  run(*replace->filter, r);
  CHECK(r.ctx.response_fields.count("X-Frame-Options") == 1);
  CHECK(field(r, "X-Frame-Options") == "DENY");

  auto keep = build("security_headers", "{ override: false }");
  Request k;
  k.ctx.response_fields.add("X-Frame-Options", "SAMEORIGIN");
  run(*keep->filter, k);
  CHECK(k.ctx.response_fields.count("X-Frame-Options") == 1);
  CHECK(field(k, "X-Frame-Options") == "SAMEORIGIN");
  CHECK(field(k, "X-Content-Type-Options") == "nosniff");
}

TEST_CASE("security_headers removes the fields it is told to", "[filters][edge][security_headers]") {
  auto f = build("security_headers", "{ remove: [Server, X-Powered-By] }");
  REQUIRE(f->filter);
  Request r;
  r.ctx.response_fields.add("server", "nginx/1.25");
  r.ctx.response_fields.add("X-Powered-By", "PHP/8");
  r.ctx.response_fields.add("X-POWERED-BY", "Express");
  r.ctx.response_fields.add("Content-Type", "text/html");
  run(*f->filter, r);
  CHECK_FALSE(r.ctx.response_fields.contains("Server"));
  CHECK_FALSE(r.ctx.response_fields.contains("X-Powered-By"));
  CHECK(field(r, "Content-Type") == "text/html");
}

TEST_CASE("security_headers refuses bad args", "[filters][edge][security_headers]") {
  struct Case {
    std::string args;
    const char* error;
  };
  const std::string oversized = "{ content_security_policy: \"default-src " + std::string(9000, 'a') + "\" }";
  for (const Case& c : {
           Case{"{ content_security_policy: \"default-src 'self'\\r\\nSet-Cookie: a=b\" }", "printable ASCII"},
           Case{"{ content_security_policy: \"default-src 'self'\\n\" }", "printable ASCII"},
           Case{"{ permissions_policy: \"camera=(\xc3\xa9)\" }", "printable ASCII"},
           Case{"{ content_security_policy: \" default-src\" }", "printable ASCII"},
           Case{oversized, "longer than 8192 bytes"},
           Case{"{ content_security_policy: true }", "has no default"},
           Case{"{ content_security_policy: [a] }", "must be a string"},
           Case{"{ frame_options: \"ALLOW-FROM https://a.test\" }", "one of DENY, SAMEORIGIN"},
           Case{"{ content_type_options: sniff }", "one of nosniff"},
           Case{"{ referrer_policy: \"no-referrer, everything\" }", "a list of no-referrer"},
           Case{"{ referrer_policy: \",\" }", "a list of no-referrer"},
           Case{"{ cross_origin_opener_policy: same-site }", "one of same-origin"},
           Case{"{ hsts: { include_subdomains: true, preload: true, max_age: 86400 } }", "preload: needs include_subdomains"},
           Case{"{ hsts: { preload: true } }", "preload: needs include_subdomains"},
           Case{"{ hsts: { max_age: -1 } }", "hsts.max_age: invalid duration"},
           Case{"{ hsts: { max_age: 1y } }", "hsts.max_age: invalid duration"},
           Case{"{ hsts: { maxage: 10 } }", "hsts.maxage: unknown key"},
           Case{"{ hsts: please }", "must be a map"},
           Case{"{ hsts: [1] }", "must be a map"},
           Case{"{ remove: [\"Bad Name\"] }", "is not a valid header name"},
           Case{"{ remove: [\"X-A\\r\\nX-B\"] }", "is not a valid header name"},
           Case{"{ override: sometimes }", "must be true or false"},
           Case{"{ x_xss_protection: \"1\" }", "unknown key"},
       }) {
    INFO(c.args.substr(0, 120));
    auto f = build("security_headers", c.args);
    CHECK_FALSE(f->filter);
    CHECK(has_error(f->errors.joined(), c.error));
  }
}

TEST_CASE("security_headers error messages do not echo header text with line breaks", "[filters][edge][security_headers]") {
  auto f = build("security_headers", "{ remove: [\"X-A\\r\\nSet-Cookie: x\"] }");
  CHECK_FALSE(f->filter);
  CHECK(f->errors.joined().find("Set-Cookie") == std::string::npos);
}
