// request_size_limit: 413 on a declared length over the limit, and the lowered limit for bodies
// the session streams (chunked, or a length that fits).
#include <catch2/catch.hpp>

#include "edge_support.h"
#include "support.h"

using namespace portcullis;
using edge_support::has_error;
using filter_support::build;
using filter_support::Request;

namespace {

void with_length(Request& r, std::uint64_t n) {
  r.head.method = http::Method::post;
  r.head.has_content_length = true;
  r.head.content_length = n;
}

}  // namespace

TEST_CASE("request_size_limit answers 413 when Content-Length is over the limit", "[filters][edge][request_size_limit]") {
  auto f = build("request_size_limit", "{ max_bytes: 1024 }");
  REQUIRE(f->filter);
  CHECK(f->filter->type() == FilterType::pre);
  Request r;
  with_length(r, 1025);
  REQUIRE(f->filter->should_filter(r.ctx));
  CHECK(f->filter->run(r.ctx) == Outcome::fail);
  CHECK(r.ctx.error.status == 413);
  CHECK(r.ctx.error.kind == ErrorKind::rejected);
  CHECK(r.ctx.error.source == ErrorSource::downstream);
}

TEST_CASE("request_size_limit lowers the body limit when the length fits or is unknown", "[filters][edge][request_size_limit]") {
  auto f = build("request_size_limit", "{ max_bytes: 1MiB }");
  REQUIRE(f->filter);
  Request fits;
  with_length(fits, 1048576);
  CHECK(f->filter->run(fits.ctx) == Outcome::proceed);
  CHECK(fits.ctx.max_body_bytes == 1048576);

  Request chunked;
  chunked.head.method = http::Method::post;
  chunked.head.chunked = true;
  CHECK(chunked.ctx.max_body_bytes == 0);
  CHECK(f->filter->run(chunked.ctx) == Outcome::proceed);
  CHECK(chunked.ctx.max_body_bytes == 1048576);

  Request none;  // a GET without a body gets the limit too: nothing to enforce, nothing lost
  CHECK(f->filter->run(none.ctx) == Outcome::proceed);
  CHECK_FALSE(none.ctx.error);
}

TEST_CASE("request_size_limit never raises a limit another filter lowered", "[filters][edge][request_size_limit]") {
  auto loose = build("request_size_limit", "{ max_bytes: 10KB }");
  auto tight = build("request_size_limit", "{ max_bytes: 512 }");
  Request r;
  r.head.chunked = true;
  CHECK(tight->filter->run(r.ctx) == Outcome::proceed);
  CHECK(loose->filter->run(r.ctx) == Outcome::proceed);
  CHECK(r.ctx.max_body_bytes == 512);
  Request l;
  l.head.chunked = true;
  CHECK(loose->filter->run(l.ctx) == Outcome::proceed);
  CHECK(l.ctx.max_body_bytes == 10000);
}

TEST_CASE("request_size_limit with max_bytes 0 refuses any body", "[filters][edge][request_size_limit]") {
  auto f = build("request_size_limit", "{ max_bytes: 0 }");
  REQUIRE(f->filter);
  Request empty;
  with_length(empty, 0);
  CHECK(f->filter->run(empty.ctx) == Outcome::proceed);
  Request one;
  with_length(one, 1);
  CHECK(f->filter->run(one.ctx) == Outcome::fail);
  CHECK(one.ctx.error.status == 413);
  Request chunked;
  chunked.head.chunked = true;
  CHECK(f->filter->run(chunked.ctx) == Outcome::fail);
  CHECK(chunked.ctx.error.status == 413);
}

TEST_CASE("request_size_limit refuses bad args", "[filters][edge][request_size_limit]") {
  struct Case {
    const char* args;
    const char* error;
  };
  for (const Case& c : {Case{"{}", "max_bytes: is required"}, Case{"{ max_bytes: 10XB }", "invalid size"},
                        Case{"{ max_bytes: -1 }", "invalid size"}, Case{"{ max_bytes: 1.5 }", "invalid size"},
                        Case{"{ max_bytes: [1] }", "invalid size"}, Case{"{ max_bytes: \"1 MiB\\n\" }", "invalid size"},
                        Case{"{ max_bytes: 1, max_header_bytes: 10 }", "unknown key"}}) {
    INFO(c.args);
    auto f = build("request_size_limit", c.args);
    CHECK_FALSE(f->filter);
    CHECK(has_error(f->errors.joined(), c.error));
  }
}
