// redirect and https_redirect: the Location built from the template or the request, the status
// by method, and the refusals of a Host, path or query that could break the header.
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

// Runs `f` on a GET of /api/v1/items?x=1 with `host`; gives the Location, or "" when it failed.
std::string location(const Filter& f, Request& r, std::string_view host = "example.com") {
  r.head.method = http::Method::get;
  r.head.host = host;
  const Outcome o = f.run(r.ctx);
  if (o != Outcome::respond) return "";
  REQUIRE(r.ctx.local_response);
  CHECK(r.ctx.local_response->body.empty());
  CHECK(added_count(r.ctx, "Location") == 1);
  return added(r.ctx, "Location");
}

}  // namespace

TEST_CASE("redirect fills the location template", "[filters][edge][redirect]") {
  struct Case {
    const char* location;
    const char* want;
  };
  for (const Case& c : {Case{"https://new.example.com{request_uri}", "https://new.example.com/api/v1/items?x=1"},
                        Case{"{scheme}://{host}/v2{path}{?query}", "http://example.com:8080/v2/api/v1/items?x=1"},
                        Case{"https://{hostname}:8443{path}", "https://example.com:8443/api/v1/items"},
                        Case{"/moved?from={path}&{query}", "/moved?from=/api/v1/items&x=1"},
                        Case{"https://static.example.com/", "https://static.example.com/"}}) {
    auto f = build("redirect", std::string("{ location: \"") + c.location + "\" }");
    REQUIRE(f->filter);
    Request r;
    CHECK(location(*f->filter, r, "example.com:8080") == c.want);
    CHECK(r.ctx.local_response->status == 302);
  }
}

TEST_CASE("redirect leaves out the ? of {?query} and {request_uri} without a query", "[filters][edge][redirect]") {
  auto f = build("redirect", "{ location: \"https://a.test{path}{?query}|{request_uri}\", status: 301 }");
  REQUIRE(f->filter);
  Request r;
  r.head.query = {};
  CHECK(location(*f->filter, r) == "https://a.test/api/v1/items|/api/v1/items");
  CHECK(r.ctx.local_response->status == 301);
}

TEST_CASE("redirect uses https for {scheme} on a TLS connection, and / for OPTIONS *", "[filters][edge][redirect]") {
  auto f = build("redirect", "{ location: \"{scheme}://b.test{request_uri}\", status: 308 }");
  Request r;
  r.ctx.secure = true;
  CHECK(location(*f->filter, r) == "https://b.test/api/v1/items?x=1");
  CHECK(r.ctx.local_response->status == 308);
  Request star;
  star.head.path = "*";
  star.head.query = {};
  CHECK(location(*f->filter, star) == "http://b.test/");
}

TEST_CASE("redirect runs as a pre or a route filter", "[filters][edge][redirect]") {
  CHECK(build("redirect", "{ location: /x }")->filter->type() == FilterType::pre);
  CHECK(build("redirect", "{ location: /x, stage: route }")->filter->type() == FilterType::route);
}

TEST_CASE("redirect refuses a Host, path or query that could not go into a Location", "[filters][edge][redirect]") {
  auto f = build("redirect", "{ location: \"https://{host}{request_uri}\" }");
  for (std::string_view host : {"evil.test\r\nSet-Cookie: a=b", "evil.test\nX: y", "evil.test\r", "a b.test", "",
                                "b\xc3\xbcro.test", "a.test:80:80", "a.test:", "[::1", "a.test/x", "a.test:123456"}) {
    Request r;
    INFO(host);
    CHECK(location(*f->filter, r, host).empty());
    CHECK(r.ctx.error.status == 400);
    CHECK(r.ctx.error.kind == ErrorKind::bad_request);
    CHECK_FALSE(r.ctx.local_response);
    CHECK(added_count(r.ctx, "Location") == 0);
  }
  for (auto [path, query] : {std::pair{"/a\r\nX: y", ""}, std::pair{"/\xc3\xa9", ""}, std::pair{"/a b", ""},
                             std::pair{"/a", "q=\r\n"}, std::pair{"/a", "q=\x7f"}, std::pair{"/a", "q=\xff"}}) {
    Request r;
    r.head.path = path;
    r.head.query = query;
    CHECK(location(*f->filter, r).empty());
    CHECK(r.ctx.error.status == 400);
  }
}

TEST_CASE("redirect needs no Host when the template does not use it", "[filters][edge][redirect]") {
  auto f = build("redirect", "{ location: \"https://fixed.test{path}\" }");
  Request r;
  CHECK(location(*f->filter, r, "") == "https://fixed.test/api/v1/items");
}

TEST_CASE("redirect refuses bad args", "[filters][edge][redirect]") {
  struct Case {
    const char* args;
    const char* error;
  };
  for (const Case& c : {Case{"{}", "location: is required"}, Case{"{ location: \"\" }", "location: is empty"},
                        Case{"{ location: \"https://{domain}/\" }", "unknown placeholder"},
                        Case{"{ location: \"https://{host/\" }", "unmatched brace"},
                        Case{"{ location: \"https://a}/\" }", "unmatched brace"},
                        Case{"{ location: \"https://a.test/a b\" }", "printable ASCII without spaces"},
                        Case{"{ location: \"https://a.test/\\r\\nSet-Cookie: x\" }", "printable ASCII"},
                        Case{"{ location: \"https://b\xc3\xbcro.test/\" }", "printable ASCII"},
                        Case{"{ location: /x, status: 200 }", "must be 301, 302, 303, 307 or 308"},
                        Case{"{ location: /x, status: 304 }", "must be 301, 302, 303, 307 or 308"},
                        Case{"{ location: /x, status: abc }", "must be an integer"},
                        Case{"{ location: /x, stage: post }", "must be pre or route"},
                        Case{"{ location: /x, to: /y }", "unknown key"}}) {
    INFO(c.args);
    auto f = build("redirect", c.args);
    CHECK_FALSE(f->filter);
    CHECK(has_error(f->errors.joined(), c.error));
  }
}

TEST_CASE("https_redirect lets requests over TLS through", "[filters][edge][https_redirect]") {
  auto f = build("https_redirect", "{}");
  REQUIRE(f->filter);
  CHECK(f->filter->type() == FilterType::pre);
  CHECK(f->filter->order() == 0);
  Request r;
  r.ctx.secure = true;
  CHECK_FALSE(f->filter->should_filter(r.ctx));
  r.ctx.secure = false;
  CHECK(f->filter->should_filter(r.ctx));
}

TEST_CASE("https_redirect sends a plain request to https on the same host", "[filters][edge][https_redirect]") {
  auto f = build("https_redirect", "{}");
  for (auto [host, want] : {std::pair{"example.com", "https://example.com/api/v1/items?x=1"},
                            std::pair{"example.com:8080", "https://example.com/api/v1/items?x=1"},
                            std::pair{"[::1]:80", "https://[::1]/api/v1/items?x=1"},
                            std::pair{"10.0.0.1", "https://10.0.0.1/api/v1/items?x=1"}}) {
    Request r;
    CHECK(location(*f->filter, r, host) == want);
    CHECK(r.ctx.local_response->status == 301);
  }
  auto port = build("https_redirect", "{ port: 8443 }");
  Request r;
  r.head.query = {};
  CHECK(location(*port->filter, r, "example.com:8080") == "https://example.com:8443/api/v1/items");
}

TEST_CASE("https_redirect keeps the method with 308 for other than GET and HEAD", "[filters][edge][https_redirect]") {
  auto f = build("https_redirect", "{}");
  auto custom = build("https_redirect", "{ status: 302, preserve_method_status: 307 }");
  REQUIRE(custom->filter);
  for (auto [method, want, want_custom] : {std::tuple{http::Method::get, 301, 302}, std::tuple{http::Method::head, 301, 302},
                                           std::tuple{http::Method::post, 308, 307}, std::tuple{http::Method::delete_, 308, 307},
                                           std::tuple{http::Method::other, 308, 307}}) {
    Request r, c;
    r.head.method = c.head.method = method;
    r.head.host = c.head.host = "example.com";
    CHECK(f->filter->run(r.ctx) == Outcome::respond);
    CHECK(r.ctx.local_response->status == want);
    CHECK(custom->filter->run(c.ctx) == Outcome::respond);
    CHECK(c.ctx.local_response->status == want_custom);
  }
}

TEST_CASE("https_redirect refuses a missing or malformed Host", "[filters][edge][https_redirect]") {
  auto f = build("https_redirect", "{}");
  for (std::string_view host : {"", "evil.test\r\nLocation: http://x", "\xe2\x80\xa8.test", ":443", "a.test:x"}) {
    Request r;
    CHECK(location(*f->filter, r, host).empty());
    CHECK(r.ctx.error.status == 400);
  }
}

TEST_CASE("https_redirect refuses bad args", "[filters][edge][https_redirect]") {
  struct Case {
    const char* args;
    const char* error;
  };
  for (const Case& c : {Case{"{ port: 0 }", "port: must be an integer in 1..65535"},
                        Case{"{ port: 70000 }", "port: must be an integer in 1..65535"},
                        Case{"{ status: 200 }", "status: must be 301"},
                        Case{"{ preserve_method_status: 399 }", "preserve_method_status: must be 301"},
                        Case{"{ preserve_method_status: x }", "must be an integer"},
                        Case{"{ host: a.test }", "unknown key"}}) {
    INFO(c.args);
    auto f = build("https_redirect", c.args);
    CHECK_FALSE(f->filter);
    CHECK(has_error(f->errors.joined(), c.error));
  }
}

TEST_CASE("redirect never lets a path name another host in a Location that starts with it", "[filters][edge][redirect]") {
  auto f = build("redirect", "{ location: \"{path}\" }");
  REQUIRE(f->filter);
  Request slashes;
  slashes.head.path = "//evil.example/x";
  CHECK(location(*f->filter, slashes) == "/evil.example/x");
  Request backslash;
  backslash.head.path = "/\\evil.example/x";
  CHECK(location(*f->filter, backslash).empty());
  CHECK(backslash.ctx.error.status == 400);
  Request normal;
  CHECK(location(*f->filter, normal) == "/api/v1/items");
}
