// cors: preflights answered or refused at the edge, allowed origins marked, and the origin
// matching that decides it (exact, one-label wildcard, "*"), plus its config errors.
#include <catch2/catch.hpp>

#include "edge_support.h"
#include "support.h"

using namespace portcullis;
using edge_support::added;
using edge_support::added_count;
using edge_support::has_error;
using filter_support::build;
using filter_support::Request;

namespace {

const char* const kListed =
    "{ allowed_origins: [\"https://app.example.com\", \"https://*.example.org\", \"http://localhost:3000\"], "
    "allowed_methods: [GET, POST, PUT], allowed_headers: [Content-Type, X-Trace], exposed_headers: [X-Request-Id], "
    "allow_credentials: true, max_age: 10m }";

// Runs the filter on a GET (or a preflight when `method` is set) from `origin`.
Outcome run(const Filter& f, Request& r, std::string_view origin, std::string_view method = {},
            std::string_view headers = {}) {
  r.head.method = http::Method::get;
  if (!origin.empty()) r.head.fields.add("Origin", origin);
  if (!method.empty()) {
    r.head.method = http::Method::options;
    r.head.method_text = "OPTIONS";
    r.head.fields.add("Access-Control-Request-Method", method);
  }
  if (!headers.empty()) r.head.fields.add("Access-Control-Request-Headers", headers);
  REQUIRE(f.should_filter(r.ctx));
  return f.run(r.ctx);
}

bool allows(const Filter& f, std::string_view origin) {
  Request r;
  CHECK(run(f, r, origin) == Outcome::proceed);
  return added(r.ctx, "Access-Control-Allow-Origin") != "<absent>";
}

}  // namespace

TEST_CASE("cors marks a response to an allowed origin and echoes the origin", "[filters][edge][cors]") {
  auto f = build("cors", kListed);
  REQUIRE(f->filter);
  CHECK(f->filter->type() == FilterType::pre);
  Request r;
  std::string origin = "https://app.example.com";
  CHECK(run(*f->filter, r, origin) == Outcome::proceed);
  origin.assign(origin.size(), 'x');  // the echoed value must not point into the request's buffer
  CHECK(added(r.ctx, "Access-Control-Allow-Origin") == "https://app.example.com");
  CHECK(added(r.ctx, "Access-Control-Allow-Credentials") == "true");
  CHECK(added(r.ctx, "Access-Control-Expose-Headers") == "X-Request-Id");
  CHECK(added(r.ctx, "Vary") == "Origin");
  CHECK_FALSE(r.ctx.local_response);
  CHECK_FALSE(r.ctx.error);
}

TEST_CASE("cors passes a disallowed or absent origin through without CORS fields", "[filters][edge][cors]") {
  auto f = build("cors", kListed);
  for (std::string_view origin : {"https://evil.example", "https://app.example.com.evil.net", "null", ""}) {
    Request r;
    CHECK(run(*f->filter, r, origin) == Outcome::proceed);
    CHECK(added_count(r.ctx, "Access-Control-Allow-Origin") == 0);
    CHECK(added_count(r.ctx, "Access-Control-Allow-Credentials") == 0);
    CHECK(added(r.ctx, "Vary") == "Origin");  // still: a cache must not mix answers across origins
    CHECK_FALSE(r.ctx.error);
  }
}

TEST_CASE("cors matches exact origins by scheme, host and port", "[filters][edge][cors]") {
  auto f = build("cors", kListed);
  CHECK(allows(*f->filter, "http://localhost:3000"));
  CHECK(allows(*f->filter, "HTTPS://APP.EXAMPLE.COM"));  // case-insensitive; echoed as sent
  CHECK_FALSE(allows(*f->filter, "http://app.example.com"));
  CHECK_FALSE(allows(*f->filter, "https://app.example.com:8443"));
  CHECK_FALSE(allows(*f->filter, "http://localhost:30000"));
  CHECK_FALSE(allows(*f->filter, "http://localhost"));
  CHECK_FALSE(allows(*f->filter, "https://app.example.com/"));
  CHECK_FALSE(allows(*f->filter, "https://app.example.co"));
}

TEST_CASE("cors wildcard origins stand for exactly one DNS label", "[filters][edge][cors]") {
  auto f = build("cors", kListed);
  CHECK(allows(*f->filter, "https://api.example.org"));
  CHECK(allows(*f->filter, "https://a-1.example.org"));
  CHECK(allows(*f->filter, "https://" + std::string(63, 'a') + ".example.org"));
  CHECK_FALSE(allows(*f->filter, "https://" + std::string(64, 'a') + ".example.org"));
  CHECK_FALSE(allows(*f->filter, "https://example.org"));
  CHECK_FALSE(allows(*f->filter, "https://.example.org"));
  CHECK_FALSE(allows(*f->filter, "https://a.b.example.org"));
  CHECK_FALSE(allows(*f->filter, "https://evil.com.example.org.attacker.net"));
  CHECK_FALSE(allows(*f->filter, "https://evil.comexample.org"));
  CHECK_FALSE(allows(*f->filter, "https://evil.com/.example.org"));
  CHECK_FALSE(allows(*f->filter, "https://evil.com?.example.org"));
  CHECK_FALSE(allows(*f->filter, "https://evil.com@x.example.org"));
  CHECK_FALSE(allows(*f->filter, "https://a_b.example.org"));
  CHECK_FALSE(allows(*f->filter, "https://-a.example.org"));
  CHECK_FALSE(allows(*f->filter, "https://a-.example.org"));
  CHECK_FALSE(allows(*f->filter, "http://api.example.org"));
  CHECK_FALSE(allows(*f->filter, "https://api.example.org:443"));
  CHECK_FALSE(allows(*f->filter, "https://api.example.org."));
  CHECK_FALSE(allows(*f->filter, "https://\xc3\xa9t\xc3\xa9.example.org"));  // UTF-8 label
  CHECK_FALSE(allows(*f->filter, "https://xn--t-9fa.example.org.evil"));
  CHECK(allows(*f->filter, "https://xn--tt-bjab.example.org"));  // punycode is a plain label
}

TEST_CASE("cors with \"*\" answers any well-formed origin with *", "[filters][edge][cors]") {
  auto f = build("cors", "{ allowed_origins: \"*\" }");
  REQUIRE(f->filter);
  Request r;
  CHECK(run(*f->filter, r, "https://anyone.test") == Outcome::proceed);
  CHECK(added(r.ctx, "Access-Control-Allow-Origin") == "*");
  CHECK(added_count(r.ctx, "Vary") == 0);
  CHECK(added_count(r.ctx, "Access-Control-Allow-Credentials") == 0);
  CHECK(allows(*f->filter, "null"));
  // Oversized or non-ASCII Origin values are never answered, not even with *.
  CHECK_FALSE(allows(*f->filter, "https://" + std::string(2000, 'a') + ".test"));
  CHECK_FALSE(allows(*f->filter, "https://b\xc3\xbcro.test"));
  CHECK_FALSE(allows(*f->filter, "https://a b.test"));
}

TEST_CASE("cors answers an allowed preflight with 204 and the allow fields", "[filters][edge][cors]") {
  auto f = build("cors", kListed);
  Request r;
  CHECK(run(*f->filter, r, "https://api.example.org", "PUT", "content-type, x-trace") == Outcome::respond);
  REQUIRE(r.ctx.local_response);
  CHECK(r.ctx.local_response->status == 204);
  CHECK(r.ctx.local_response->body.empty());
  CHECK(added(r.ctx, "Access-Control-Allow-Origin") == "https://api.example.org");
  CHECK(added(r.ctx, "Access-Control-Allow-Credentials") == "true");
  CHECK(added(r.ctx, "Access-Control-Allow-Methods") == "GET, POST, PUT");
  CHECK(added(r.ctx, "Access-Control-Allow-Headers") == "Content-Type, X-Trace");
  CHECK(added(r.ctx, "Access-Control-Max-Age") == "600");
  CHECK(added(r.ctx, "Vary") == "Origin");

  Request bare;  // no headers asked for: no Access-Control-Allow-Headers
  CHECK(run(*f->filter, bare, "https://app.example.com", "GET") == Outcome::respond);
  CHECK(added_count(bare.ctx, "Access-Control-Allow-Headers") == 0);
}

TEST_CASE("cors refuses a preflight for an origin, method or header it does not allow", "[filters][edge][cors]") {
  auto f = build("cors", kListed);
  struct Case {
    const char* origin;
    const char* method;
    const char* headers;
  };
  const std::string long_list = "x-trace" + std::string(5000, ' ') + ",content-type";
  for (const Case& c : {Case{"https://evil.test", "GET", ""}, Case{"null", "GET", ""},
                        Case{"https://app.example.com", "DELETE", ""}, Case{"https://app.example.com", "put", ""},
                        Case{"https://app.example.com", "PU T", ""},
                        Case{"https://app.example.com", "PUT", "content-type, authorization"},
                        Case{"https://app.example.com", "PUT", "x-tr\xc3\xa4" "ce"},
                        Case{"https://app.example.com", "PUT", "content-type; x-trace"},
                        Case{"https://app.example.com", "PUT", long_list.c_str()}}) {
    Request r;
    CHECK(run(*f->filter, r, c.origin, c.method, c.headers) == Outcome::fail);
    CHECK(r.ctx.error.status == 403);
    CHECK(r.ctx.error.kind == ErrorKind::rejected);
    CHECK(r.ctx.error.message.find("CORS preflight refused") == 0);
    CHECK_FALSE(r.ctx.local_response);
    CHECK(added_count(r.ctx, "Access-Control-Allow-Origin") == 0);
    CHECK(added_count(r.ctx, "Access-Control-Allow-Methods") == 0);
  }
}

TEST_CASE("cors checks every Access-Control-Request-Headers field of a preflight", "[filters][edge][cors]") {
  auto f = build("cors", kListed);
  Request r;
  r.head.fields.add("Access-Control-Request-Headers", "x-trace");
  CHECK(run(*f->filter, r, "https://app.example.com", "POST", "x-other") == Outcome::fail);
  CHECK(r.ctx.error.status == 403);
}

TEST_CASE("cors with allowed_headers and allowed_methods \"*\" echoes what was asked", "[filters][edge][cors]") {
  auto f = build("cors", "{ allowed_origins: [\"https://app.example.com\"], allowed_methods: \"*\", "
                         "allowed_headers: \"*\", allow_credentials: true }");
  REQUIRE(f->filter);
  Request r;
  CHECK(run(*f->filter, r, "https://app.example.com", "PURGE", "x-a, X-B") == Outcome::respond);
  CHECK(added(r.ctx, "Access-Control-Allow-Methods") == "PURGE");
  CHECK(added(r.ctx, "Access-Control-Allow-Headers") == "x-a, X-B");
  CHECK(added_count(r.ctx, "Access-Control-Max-Age") == 0);

  Request two;
  two.head.fields.add("Access-Control-Request-Headers", "x-c");
  CHECK(run(*f->filter, two, "https://app.example.com", "GET", "x-a,x-b") == Outcome::respond);
  CHECK(added(two.ctx, "Access-Control-Allow-Headers") == "x-c, x-a, x-b");

  Request bad;  // still tokens only
  CHECK(run(*f->filter, bad, "https://app.example.com", "GET", "x-a, x\"b") == Outcome::fail);
}

TEST_CASE("cors treats OPTIONS without Access-Control-Request-Method as an actual request", "[filters][edge][cors]") {
  auto f = build("cors", kListed);
  Request r;
  r.head.method = http::Method::options;
  r.head.fields.add("Origin", "https://app.example.com");
  CHECK(f->filter->run(r.ctx) == Outcome::proceed);
  CHECK_FALSE(r.ctx.local_response);
  CHECK(added(r.ctx, "Access-Control-Allow-Origin") == "https://app.example.com");

  Request get;  // and a GET carrying the preflight field is no preflight either
  get.head.method = http::Method::get;
  get.head.fields.add("Origin", "https://app.example.com");
  get.head.fields.add("Access-Control-Request-Method", "PUT");
  CHECK(f->filter->run(get.ctx) == Outcome::proceed);
}

TEST_CASE("cors reads max_age as a duration or seconds", "[filters][edge][cors]") {
  for (auto [age, text] : {std::pair{"600", "600"}, std::pair{"2h", "7200"}, std::pair{"0", "0"}}) {
    auto f = build("cors", std::string("{ allowed_origins: \"*\", max_age: ") + age + " }");
    REQUIRE(f->filter);
    Request r;
    CHECK(run(*f->filter, r, "https://a.test", "GET") == Outcome::respond);
    CHECK(added(r.ctx, "Access-Control-Max-Age") == text);
  }
}

TEST_CASE("cors refuses bad args", "[filters][edge][cors]") {
  struct Case {
    const char* args;
    const char* error;
  };
  for (const Case& c : {
           Case{"{}", "allowed_origins: is required"},
           Case{"{ allowed_origins: [] }", "allowed_origins: is required"},
           Case{"{ allowed_origins: \"*\", allow_credentials: true }", "cannot be used with allow_credentials"},
           Case{"{ allowed_origins: [\"*\", \"https://a.test\"] }", "must be the only entry"},
           Case{"{ allowed_origins: [\"https://a.test/\"] }", "no path"},
           Case{"{ allowed_origins: [\"https://a.test/app\"] }", "no path"},
           Case{"{ allowed_origins: [\"a.test\"] }", "expected scheme://host[:port]"},
           Case{"{ allowed_origins: [\"https://\"] }", "invalid host"},
           Case{"{ allowed_origins: [\"https://a.test:port\"] }", "invalid host"},
           Case{"{ allowed_origins: [\"null\"] }", "\"null\" is refused"},
           Case{"{ allowed_origins: [\"https://b\xc3\xbcro.test\"] }", "printable ASCII"},
           Case{"{ allowed_origins: [\"https://a.test\\r\\nX: y\"] }", "printable ASCII"},
           Case{"{ allowed_origins: [\"https://*.com\"] }", "must use '*' once"},
           Case{"{ allowed_origins: [\"https://*\"] }", "must use '*' once"},
           Case{"{ allowed_origins: [\"https://a*.example.com\"] }", "must use '*' once"},
           Case{"{ allowed_origins: [\"https://*.*.example.com\"] }", "must use '*' once"},
           Case{"{ allowed_origins: [\"https://*.example.com:*\"] }", "must use '*' once"},
           Case{"{ allowed_origins: [\"*.example.com\"] }", "expected scheme://host[:port]"},
           Case{"{ allowed_origins: \"*\", allowed_methods: [\"GE T\"] }", "is not a valid name"},
           Case{"{ allowed_origins: \"*\", allowed_methods: [GET, \"*\"] }", "must be the only entry"},
           Case{"{ allowed_origins: \"*\", allowed_headers: [\"X-A:\"] }", "is not a valid name"},
           Case{"{ allowed_origins: [\"https://a.test\"], exposed_headers: \"*\", allow_credentials: true }",
                "is no wildcard with allow_credentials"},
           Case{"{ allowed_origins: \"*\", max_age: 2d }", "invalid duration \"2d\""},
           Case{"{ allowed_origins: \"*\", max_age: 90000 }", "must be a duration from 0 to 24h"},
           Case{"{ allowed_origins: \"*\", max_age: -5 }", "invalid duration \"-5\""},
           Case{"{ allowed_origins: \"*\", allow_credentials: maybe }", "must be true or false"},
           Case{"{ allowed_origins: \"*\", origins: [x] }", "unknown key"},
       }) {
    INFO(c.args);
    auto f = build("cors", c.args);
    CHECK_FALSE(f->filter);
    CHECK(has_error(f->errors.joined(), c.error));
  }
}

TEST_CASE("cors error messages do not echo non-ASCII config text", "[filters][edge][cors]") {
  auto f = build("cors", "{ allowed_origins: [\"https://a.test\\r\\nSet-Cookie: x\"] }");
  CHECK_FALSE(f->filter);
  CHECK(f->errors.joined().find("Set-Cookie") == std::string::npos);
}
