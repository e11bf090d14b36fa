// set_priority: its args are validated, and it sets the priority only on the requests it matches.
#include <catch2/catch.hpp>

#include "support.h"

using namespace portcullis;
using filter_support::build;
using filter_support::Request;

TEST_CASE("set_priority sets the priority of every request without criteria", "[filters]") {
  Request r;
  auto f = build("set_priority", "{ priority: 90 }");
  REQUIRE(f->filter);
  CHECK(f->filter->type() == FilterType::pre);
  REQUIRE(f->filter->should_filter(r.ctx));
  CHECK(f->filter->run(r.ctx) == Outcome::proceed);
  CHECK(r.ctx.priority == 90);
}

TEST_CASE("set_priority matches a header by name or by name and value, and methods", "[filters]") {
  Request r;
  r.head.method = http::Method::get;
  r.head.fields.add("X-Request-Kind", "prefetch");
  CHECK(build("set_priority", "{ priority: 5, header: X-Request-Kind }")->filter->should_filter(r.ctx));
  CHECK(build("set_priority", "{ priority: 5, header: \"x-request-kind: prefetch\" }")->filter->should_filter(r.ctx));
  CHECK_FALSE(build("set_priority", "{ priority: 5, header: \"X-Request-Kind: play\" }")->filter->should_filter(r.ctx));
  CHECK_FALSE(build("set_priority", "{ priority: 5, header: X-Other }")->filter->should_filter(r.ctx));
  CHECK(build("set_priority", "{ priority: 5, methods: [GET, HEAD] }")->filter->should_filter(r.ctx));
  CHECK_FALSE(build("set_priority", "{ priority: 5, methods: [POST] }")->filter->should_filter(r.ctx));
}

TEST_CASE("set_priority refuses bad args", "[filters]") {
  auto missing = build("set_priority", "{ header: X-A }");
  CHECK_FALSE(missing->filter);
  CHECK(missing->errors.joined().find("filters[0].args.priority: is required") != std::string::npos);
  auto range = build("set_priority", "{ priority: 100 }");
  CHECK_FALSE(range->filter);
  CHECK(range->errors.joined().find("must be an integer in 0..99") != std::string::npos);
  auto header = build("set_priority", "{ priority: 1, header: \"bad name: x\" }");
  CHECK_FALSE(header->filter);
  CHECK(header->errors.joined().find("expected \"Name\" or \"Name: value\"") != std::string::npos);
  auto method = build("set_priority", "{ priority: 1, methods: [get] }");
  CHECK_FALSE(method->filter);
  CHECK(method->errors.joined().find("unknown method get") != std::string::npos);
}
