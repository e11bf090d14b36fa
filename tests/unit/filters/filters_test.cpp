// Built-in filters: their args validation (config errors) and what they do to a request.
#include <catch2/catch.hpp>

#include "config/errors.h"
#include "filters/path/path_filters.h"
#include "observability/metrics.h"
#include "pipeline/registry.h"
#include "support.h"

using namespace portcullis;
using filter_support::build;
using filter_support::Request;


TEST_CASE("every built-in filter is registered", "[filters]") {
  for (const char* name : {"static_response", "add_request_header", "add_response_header", "remove_request_header",
                           "remove_response_header", "set_path", "rewrite_path", "request_id", "access_log", "set_priority", "rate_limit",
                           "ip_filter", "api_key", "basic_auth", "hmac_auth",
                           "cors", "request_size_limit", "redirect", "https_redirect", "security_headers", "jwt"})
    CHECK(FilterRegistry::instance().find(name) != nullptr);
}

TEST_CASE("header filters add, replace and remove fields", "[filters]") {
  Request r;
  auto add = build("add_request_header", "{ name: X-Gateway, value: portcullis }");
  REQUIRE(add->filter);
  CHECK(add->filter->type() == FilterType::pre);
  CHECK(add->filter->run(r.ctx) == Outcome::proceed);
  CHECK(r.head.fields.get("x-gateway") == "portcullis");

  auto replace = build("add_request_header", "{ name: Cookie, value: c=d, replace: true }");
  replace->filter->run(r.ctx);
  CHECK(r.head.fields.count("cookie") == 1);
  CHECK(r.head.fields.get("cookie") == "c=d");

  auto remove = build("remove_request_header", "{ name: cookie }");
  remove->filter->run(r.ctx);
  CHECK(!r.head.fields.contains("Cookie"));

  auto add_resp = build("add_response_header", "{ name: X-Frame-Options, value: DENY }");
  CHECK(add_resp->filter->type() == FilterType::post);
  add_resp->filter->run(r.ctx);
  CHECK(r.ctx.response_fields.get("x-frame-options") == "DENY");
  auto rm_resp = build("remove_response_header", "{ name: X-Frame-Options }");
  rm_resp->filter->run(r.ctx);
  CHECK(r.ctx.response_fields.size() == 0);
}

TEST_CASE("header filter args are validated", "[filters]") {
  auto missing = build("add_request_header", "{ name: X-A }");
  CHECK(!missing->filter);
  CHECK(missing->errors.joined().find("value") != std::string::npos);
  auto bad_name = build("add_request_header", "{ name: \"X A\", value: v }");
  CHECK(!bad_name->filter);
  auto unknown = build("remove_request_header", "{ name: X-A, extra: 1 }");
  CHECK(!unknown->filter);
  CHECK(unknown->errors.joined().find("test.yaml:1:") != std::string::npos);
  CHECK(unknown->errors.joined().find("unknown key") != std::string::npos);
}

TEST_CASE("static_response answers with its status, headers and body", "[filters]") {
  Request r;
  auto f = build("static_response", "{ status: 418, body: teapot, headers: { Content-Type: text/plain } }");
  REQUIRE(f->filter);
  CHECK(f->filter->type() == FilterType::route);
  CHECK(f->filter->run(r.ctx) == Outcome::respond);
  REQUIRE(r.ctx.local_response);
  CHECK(r.ctx.local_response->status == 418);
  CHECK(r.ctx.local_response->body == "teapot");
  CHECK(r.ctx.local_response->headers.at(0).first == "Content-Type");
  CHECK(!build("static_response", "{ status: 99 }")->filter);
}

TEST_CASE("set_path and rewrite_path change the upstream path", "[filters]") {
  Request r;
  auto set = build("set_path", "{ path: /v2/items }");
  REQUIRE(set->filter);
  set->filter->run(r.ctx);
  CHECK(r.ctx.upstream_path == "/v2/items");

  Request r2;
  auto rewrite = build("rewrite_path", "{ regex: \"^/api/v1/(.*)$\", replacement: \"/internal/$1\" }");
  REQUIRE(rewrite->filter);
  rewrite->filter->run(r2.ctx);
  CHECK(r2.ctx.upstream_path == "/internal/items");
  CHECK(filters::current_upstream_path(r2.ctx) == "/internal/items");

  CHECK(!build("set_path", "{ path: no-slash }")->filter);
  CHECK(!build("set_path", "{ path: \"/a b\" }")->filter);
  auto bad_regex = build("rewrite_path", "{ regex: \"(\", replacement: x }");
  CHECK(!bad_regex->filter);
  CHECK(bad_regex->errors.joined().find("regular expression") != std::string::npos);
}

TEST_CASE("request_id passes the correlation id under another header", "[filters]") {
  Request r;
  r.ctx.request_id = "abc123";
  auto f = build("request_id", "{ header: X-Correlation-Id }");
  REQUIRE(f->filter);
  f->filter->run(r.ctx);
  CHECK(r.head.fields.get("x-correlation-id") == "abc123");
}

TEST_CASE("access_log refuses a file it cannot open", "[filters]") {
  auto f = build("access_log", "{ path: /nonexistent-dir/x/access.log }");
  CHECK(!f->filter);
  CHECK(f->errors.joined().find("cannot open") != std::string::npos);
  CHECK(build("access_log", "{}")->filter);
}
