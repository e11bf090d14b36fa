// api_key: keys from the config (digests or plain keys hashed at load) and from a file, the header
// and query parameter, the consumer passed upstream, what is stripped, and every refusal.
#include <catch2/catch.hpp>

#include "auth_support.h"
#include "filters/auth/auth_filters.h"
#include "support.h"

using namespace portcullis;
using auth_support::sha256_hex;
using auth_support::TempFile;
using filter_support::build;
using filter_support::Request;

namespace {

const std::string mobile_key = "mk-7d1c2a90f3e44b0b";
const std::string partner_key = "pk-0b8e55c1aa2f4de9";

std::string args_with_keys(const std::string& extra = "") {
  return "{ keys: [{ name: mobile, key_sha256: " + sha256_hex(mobile_key) + " }, { name: partner, key_sha256: " +
         sha256_hex(partner_key) + " }]" + extra + " }";
}

bool has_challenge(const Context& ctx, std::string_view value) {
  for (const auto& [name, v] : ctx.added_response_headers)
    if (name == "WWW-Authenticate" && v == value) return true;
  return false;
}

}  // namespace

TEST_CASE("api_key admits a known key from the header and names its consumer", "[filters][api_key]") {
  auto f = build("api_key", args_with_keys());
  REQUIRE(f->filter);
  CHECK(f->filter->type() == FilterType::pre);
  Request r;
  r.head.fields.add("X-Api-Key", partner_key);
  r.head.fields.add("X-Consumer", "admin");  // a client's claim is replaced
  REQUIRE(f->filter->run(r.ctx) == Outcome::proceed);
  CHECK(r.ctx.consumer == "partner");
  CHECK(r.head.fields.count("x-consumer") == 1);
  CHECK(r.head.fields.get("x-consumer") == "partner");
  CHECK_FALSE(r.head.fields.contains("x-api-key"));  // stripped by default
  CHECK_FALSE(r.ctx.error);
}

TEST_CASE("api_key runs before rate_limit, which counts per consumer", "[filters][api_key]") {
  auto key = build("api_key", args_with_keys());
  auto limit = build("rate_limit", "{ key: api_key, rate: 1/s, burst: 1 }");
  REQUIRE(key->filter);
  REQUIRE(limit->filter);
  CHECK(key->filter->order() < limit->filter->order());
  CHECK(key->filter->order() == filters::auth_filter_order);
}

TEST_CASE("api_key: missing key is 401 with a challenge, unknown key 403", "[filters][api_key]") {
  auto f = build("api_key", args_with_keys(", realm: mobile-api"));
  REQUIRE(f->filter);
  Request missing;
  CHECK(f->filter->run(missing.ctx) == Outcome::fail);
  CHECK(missing.ctx.error.status == 401);
  CHECK(has_challenge(missing.ctx, "ApiKey realm=\"mobile-api\""));
  CHECK(missing.ctx.consumer.empty());

  Request empty;
  empty.head.fields.add("X-API-Key", "   ");
  CHECK(f->filter->run(empty.ctx) == Outcome::fail);
  CHECK(empty.ctx.error.status == 401);

  Request unknown;
  const std::string wrong = mobile_key + "x";
  unknown.head.fields.add("X-API-Key", wrong);
  CHECK(f->filter->run(unknown.ctx) == Outcome::fail);
  CHECK(unknown.ctx.error.status == 403);
  CHECK(unknown.ctx.added_response_headers.empty());
  CHECK(unknown.head.fields.contains("x-api-key"));  // nothing changed on a refusal

  Request repeated;
  repeated.head.fields.add("X-API-Key", mobile_key);
  repeated.head.fields.add("X-API-Key", partner_key);
  CHECK(f->filter->run(repeated.ctx) == Outcome::fail);
  CHECK(repeated.ctx.error.status == 401);
}

TEST_CASE("api_key refuses unicode, oversized and truncated keys as unknown", "[filters][api_key]") {
  auto f = build("api_key", args_with_keys());
  REQUIRE(f->filter);
  for (const std::string& bad : {std::string("mk-\xc3\xa9\xe2\x82\xac"), std::string(100000, 'k'),
                                 mobile_key.substr(0, mobile_key.size() - 1), std::string("\xff\xfe")}) {
    Request r;
    r.head.fields.add("X-API-Key", bad);
    CHECK(f->filter->run(r.ctx) == Outcome::fail);
    CHECK(r.ctx.error.status == 403);
    CHECK(r.ctx.error.message.find(bad) == std::string::npos);
  }
}

TEST_CASE("api_key reads a query parameter, the header wins, and the parameter is stripped", "[filters][api_key]") {
  auto f = build("api_key", args_with_keys(", query_param: api_key"));
  REQUIRE(f->filter);
  Request q;
  const std::string query = "a=1&api_key=" + mobile_key + "&b=2";
  q.head.query = query;
  REQUIRE(f->filter->run(q.ctx) == Outcome::proceed);
  CHECK(q.ctx.consumer == "mobile");
  CHECK(q.head.query == "a=1&b=2");

  Request encoded;
  const std::string enc = "api_key=mk%2D7d1c2a90f3e44b0b";
  encoded.head.query = enc;
  REQUIRE(f->filter->run(encoded.ctx) == Outcome::proceed);
  CHECK(encoded.ctx.consumer == "mobile");
  CHECK(encoded.head.query.empty());

  Request both;  // the header wins over the query parameter
  const std::string both_query = "api_key=" + mobile_key;
  both.head.query = both_query;
  both.head.fields.add("X-API-Key", partner_key);
  REQUIRE(f->filter->run(both.ctx) == Outcome::proceed);
  CHECK(both.ctx.consumer == "partner");

  Request bad_escape;
  const std::string bad_query = "api_key=mk%2";
  bad_escape.head.query = bad_query;
  CHECK(f->filter->run(bad_escape.ctx) == Outcome::fail);
  CHECK(bad_escape.ctx.error.status == 403);

  Request twice;
  const std::string twice_query = "api_key=" + mobile_key + "&api_key=" + partner_key;
  twice.head.query = twice_query;
  CHECK(f->filter->run(twice.ctx) == Outcome::fail);
  CHECK(twice.ctx.error.status == 401);

  Request no_value;
  const std::string no_value_query = "api_key=&x=1";
  no_value.head.query = no_value_query;
  CHECK(f->filter->run(no_value.ctx) == Outcome::fail);
  CHECK(no_value.ctx.error.status == 401);
}

TEST_CASE("api_key: strip false keeps the key, a custom header and consumer header", "[filters][api_key]") {
  auto f = build("api_key", args_with_keys(", header: Authorization-Key, strip: false, consumer_header: X-Client"));
  REQUIRE(f->filter);
  Request r;
  r.head.fields.add("authorization-key", mobile_key);
  REQUIRE(f->filter->run(r.ctx) == Outcome::proceed);
  CHECK(r.head.fields.get("Authorization-Key") == mobile_key);
  CHECK(r.head.fields.get("X-Client") == "mobile");
  CHECK_FALSE(r.head.fields.contains("X-Consumer"));

  auto none = build("api_key", args_with_keys(", consumer_header: \"\""));
  REQUIRE(none->filter);
  Request n;
  n.head.fields.add("X-API-Key", mobile_key);
  REQUIRE(none->filter->run(n.ctx) == Outcome::proceed);
  CHECK(n.ctx.consumer == "mobile");
  CHECK_FALSE(n.head.fields.contains("X-Consumer"));
}

TEST_CASE("api_key hashes a plain key from the config at load", "[filters][api_key]") {
  auto f = build("api_key", "{ keys: [{ name: ci, key: " + mobile_key + " }] }");
  REQUIRE(f->filter);
  Request r;
  r.head.fields.add("X-API-Key", mobile_key);
  REQUIRE(f->filter->run(r.ctx) == Outcome::proceed);
  CHECK(r.ctx.consumer == "ci");
}

TEST_CASE("api_key reads a keys file with comments, and several keys per consumer", "[filters][api_key]") {
  TempFile file("# rotated 2026-11\n\nmobile:" + sha256_hex(mobile_key) + "\n  mobile : " +
                sha256_hex("mk-new-2026-11-30") + "  \n# partner\npartner:" + sha256_hex(partner_key) + "\n");
  auto f = build("api_key", "{ keys_file: " + file.path() + " }");
  REQUIRE(f->filter);
  for (const auto& [key, consumer] : {std::pair{mobile_key, "mobile"}, std::pair{std::string("mk-new-2026-11-30"), "mobile"},
                                      std::pair{partner_key, "partner"}}) {
    Request r;
    r.head.fields.add("X-API-Key", key);
    REQUIRE(f->filter->run(r.ctx) == Outcome::proceed);
    CHECK(r.ctx.consumer == consumer);
  }
  // Config keys and file keys together.
  TempFile extra("ops:" + sha256_hex("ops-key-0001") + "\n");
  auto both = build("api_key", "{ keys: [{ name: ci, key: ci-key-0001 }], keys_file: " + extra.path() + " }");
  REQUIRE(both->filter);
  Request r;
  r.head.fields.add("X-API-Key", "ops-key-0001");
  REQUIRE(both->filter->run(r.ctx) == Outcome::proceed);
  CHECK(r.ctx.consumer == "ops");
}

TEST_CASE("api_key: bad keys files are config errors naming the file and line", "[filters][api_key]") {
  TempFile empty("# nothing yet\n\n");
  auto e = build("api_key", "{ keys_file: " + empty.path() + " }");
  CHECK_FALSE(e->filter);
  CHECK(e->errors.joined().find(empty.path() + " holds no keys") != std::string::npos);

  TempFile bad("ok:" + sha256_hex("k1") + "\nno-colon-here\nshort:abcd\nsp ace:" + sha256_hex("k2") + "\n:" +
               sha256_hex("k3") + "\n");
  auto b = build("api_key", "{ keys_file: " + bad.path() + " }");
  CHECK_FALSE(b->filter);
  const std::string errors = b->errors.joined();
  CHECK(errors.find(bad.path() + ":2: expected name:sha256hex") != std::string::npos);
  CHECK(errors.find(bad.path() + ":3: expected 64 hex digits") != std::string::npos);
  CHECK(errors.find(bad.path() + ":4: the name must be") != std::string::npos);
  CHECK(errors.find(bad.path() + ":5: the name must be") != std::string::npos);
  CHECK(errors.find(bad.path() + ":1:") == std::string::npos);  // line 1 is fine

  auto missing = build("api_key", "{ keys_file: /nonexistent/portcullis-keys }");
  CHECK_FALSE(missing->filter);
  CHECK(missing->errors.joined().find("cannot read /nonexistent/portcullis-keys") != std::string::npos);
}

TEST_CASE("api_key refuses bad args", "[filters][api_key]") {
  const std::string digest = sha256_hex(mobile_key);
  auto check = [](const std::string& args, const std::string& expected) {
    auto f = build("api_key", args);
    CHECK_FALSE(f->filter);
    INFO(f->errors.joined());
    CHECK(f->errors.joined().find(expected) != std::string::npos);
  };
  check("{}", "keys or keys_file is required");
  check("{ keys: [] }", "is empty");
  check("{ keys: [{ name: a, key_sha256: abc }] }", "keys[0].key_sha256: must be 64 hex digits");
  check("{ keys: [{ name: a }] }", "needs exactly one of key_sha256 and key");
  check("{ keys: [{ name: \"a b\", key_sha256: " + digest + " }] }", "keys[0].name: must be");
  check("{ keys: [{ name: a, key_sha256: " + digest + ", note: x }] }", "only name, key_sha256 and key are allowed");
  check("{ keys: [{ name: a, key_sha256: " + digest + " }, { name: b, key: " + mobile_key + " }] }",
        "consumers a and b have the same key");
  check("{ keys: [{ name: a, key_sha256: " + digest + " }], header: \"bad header\" }", "is not a valid header name");
  check("{ keys: [{ name: a, key_sha256: " + digest + " }], realm: \"a\\\"b\" }", "must not contain quotes");
  check("{ keys: [{ name: a, key_sha256: " + digest + " }], query_param: \"a&b\" }", "plain parameter name");
  check("{ keys: [{ name: a, key_sha256: " + digest + " }], consumer_header: \"x y\" }", "not a valid header name");
}

TEST_CASE("api_key never puts a key in its config errors or refusals", "[filters][api_key]") {
  const std::string secret = "plain-secret-key-4f1e9b";
  auto dup = build("api_key", "{ keys: [{ name: a, key: " + secret + " }, { name: b, key: " + secret + " }] }");
  CHECK_FALSE(dup->filter);
  CHECK(dup->errors.joined().find("same key") != std::string::npos);
  CHECK(dup->errors.joined().find(secret) == std::string::npos);
  auto both = build("api_key", "{ keys: [{ name: a, key: " + secret + ", key_sha256: " + sha256_hex(secret) + " }] }");
  CHECK_FALSE(both->filter);
  CHECK(both->errors.joined().find(secret) == std::string::npos);
  CHECK(both->errors.joined().find(sha256_hex(secret)) == std::string::npos);

  auto f = build("api_key", "{ keys: [{ name: a, key: " + secret + " }] }");
  REQUIRE(f->filter);
  Request r;
  const std::string wrong = secret + "-wrong";
  r.head.fields.add("X-API-Key", wrong);
  CHECK(f->filter->run(r.ctx) == Outcome::fail);
  CHECK(r.ctx.error.message.find(secret) == std::string::npos);
}
