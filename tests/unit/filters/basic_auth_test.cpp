// basic_auth: htpasswd formats (bcrypt, SHA-crypt, {SHA}) accepted and refused at load with
// file:line, every malformed or wrong credential refused with a Basic challenge, the consumer passed
// upstream, and the cache that spares bcrypt for credentials already verified.
#include <crypt.h>

#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "auth_support.h"
#include "support.h"

using namespace portcullis;
using auth_support::base64;
using auth_support::TempFile;
using filter_support::build;
using filter_support::Request;

namespace {

// A crypt(3) hash made here with libxcrypt's own salt generator (prefix "$2b$", "$5$", "$6$").
std::string crypt_hash(const char* prefix, unsigned long cost, const std::string& password) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn(prefix, cost, nullptr, 0, setting, sizeof setting));
  crypt_data data{};
  const char* out = crypt_rn(password.c_str(), setting, &data, sizeof data);
  REQUIRE(out);
  REQUIRE(out[0] != '*');
  return out;
}

std::string sha_entry(const std::string& password) {
  return "{SHA}" + base64(auth_support::digest(EVP_sha1(), password));
}

// alice: bcrypt, bob: SHA-256-crypt, carol: SHA-512-crypt, dave: {SHA}.
const std::string& htpasswd_text() {
  static const std::string text = "# users of the admin API\nalice:" + crypt_hash("$2b$", 4, "alice-pw") +
                                  "\n\nbob:" + crypt_hash("$5$", 1000, "bob-pw") + "\ncarol:" +
                                  crypt_hash("$6$", 1000, "carol-pw") + "\ndave:" + sha_entry("dave-pw") + "\n";
  return text;
}

std::string basic(const std::string& user_colon_password) { return "Basic " + base64(user_colon_password); }

bool challenged(const Context& ctx, std::string_view realm) {
  for (const auto& [name, v] : ctx.added_response_headers)
    if (name == "WWW-Authenticate" && v == "Basic realm=\"" + std::string(realm) + "\", charset=\"UTF-8\"") return true;
  return false;
}

Outcome run_with(const Filter& f, Request& r, const std::string& authorization) {
  r.head.fields.add("Authorization", authorization);
  return f.run(r.ctx);
}

}  // namespace

TEST_CASE("basic_auth admits every supported hash format and names the user", "[filters][basic_auth]") {
  TempFile file(htpasswd_text());
  auto f = build("basic_auth", "{ htpasswd: " + file.path() + ", realm: admin }");
  REQUIRE(f->filter);
  CHECK(f->filter->type() == FilterType::pre);
  for (const std::string user : {"alice", "bob", "carol", "dave"}) {
    Request r;
    r.head.fields.add("X-Consumer", "root");
    REQUIRE(run_with(*f->filter, r, basic(user + ":" + user + "-pw")) == Outcome::proceed);
    CHECK(r.ctx.consumer == user);
    CHECK(r.head.fields.count("x-consumer") == 1);
    CHECK(r.head.fields.get("x-consumer") == user);
    CHECK_FALSE(r.head.fields.contains("authorization"));
  }
}

TEST_CASE("basic_auth: scheme case, extra spaces, passwords with colons, strip false", "[filters][basic_auth]") {
  const std::string pw = "p:a:ss word";
  TempFile file("erin:" + crypt_hash("$2b$", 4, pw) + "\n");
  auto f = build("basic_auth", "{ htpasswd: " + file.path() + ", strip: false, consumer_header: X-User }");
  REQUIRE(f->filter);
  Request r;
  REQUIRE(run_with(*f->filter, r, "bAsIc   " + base64("erin:" + pw) + "  ") == Outcome::proceed);
  CHECK(r.head.fields.contains("authorization"));
  CHECK(r.head.fields.get("x-user") == "erin");
}

TEST_CASE("basic_auth refuses missing, malformed and wrong credentials with 401 and a challenge",
          "[filters][basic_auth]") {
  TempFile file(htpasswd_text());
  auto f = build("basic_auth", "{ htpasswd: " + file.path() + ", realm: admin }");
  REQUIRE(f->filter);
  Request none;
  CHECK(f->filter->run(none.ctx) == Outcome::fail);
  CHECK(none.ctx.error.status == 401);
  CHECK(challenged(none.ctx, "admin"));

  const std::string sixty_k(60000, 'A');
  for (const std::string& value :
       {std::string("Bearer abc"), std::string("Basic"), std::string("Basic "), std::string("Basic !!!!"),
        std::string("Basic YWxpY2U6YWxpY2UtcHc"),  // unpadded
        std::string("Basic YWxp Y2U6"), "Basic " + base64("alice"),  // no colon
        basic("alice:wrong"), basic("alice:alice-p"), basic("alice:alice-pw "), basic("ALICE:alice-pw"),
        basic("mallory:alice-pw"), basic(":alice-pw"), basic("dave:dave-pW"), basic("bob:carol-pw"),
        basic(std::string("alice:alice-pw\0tail", 19)), basic("al\xc3\xaf" "ce:alice-pw"),
        basic("alice:\xe2\x82\xac\xe2\x82\xac"), "Basic " + sixty_k, "Basic " + base64(std::string(3000, 'x') + ":y")}) {
    Request r;
    INFO(value.substr(0, 60));
    CHECK(run_with(*f->filter, r, value) == Outcome::fail);
    CHECK(r.ctx.error.status == 401);
    CHECK(challenged(r.ctx, "admin"));
    CHECK(r.ctx.consumer.empty());
    CHECK(r.head.fields.contains("authorization"));
  }

  Request twice;
  const std::string good = basic("alice:alice-pw");
  twice.head.fields.add("Authorization", good);
  CHECK(run_with(*f->filter, twice, good) == Outcome::fail);
  CHECK(twice.ctx.error.status == 401);
}

TEST_CASE("basic_auth accepts a UTF-8 password", "[filters][basic_auth]") {
  const std::string pw = "p\xc3\xa4ssw\xc3\xb6rd-\xe2\x82\xac";
  TempFile file("frank:" + crypt_hash("$6$", 1000, pw) + "\n");
  auto f = build("basic_auth", "{ htpasswd: " + file.path() + " }");
  REQUIRE(f->filter);
  Request r;
  CHECK(run_with(*f->filter, r, basic("frank:" + pw)) == Outcome::proceed);
  Request wrong;
  CHECK(run_with(*f->filter, wrong, basic("frank:passwOrd-\xe2\x82\xac")) == Outcome::fail);
  CHECK(challenged(wrong.ctx, "restricted"));  // the default realm
}

TEST_CASE("basic_auth remembers verified credentials: bcrypt runs once, wrong passwords still fail",
          "[filters][basic_auth]") {
  // Cost 10: 2^10 rounds, long enough that a repeated bcrypt would dwarf a cache hit.
  TempFile file("gina:" + crypt_hash("$2b$", 10, "gina-pw") + "\n");
  auto f = build("basic_auth", "{ htpasswd: " + file.path() + " }");
  auto uncached = build("basic_auth", "{ htpasswd: " + file.path() + ", cache: false }");
  REQUIRE(f->filter);
  REQUIRE(uncached->filter);
  using clock = std::chrono::steady_clock;
  auto timed = [](const Filter& filter, const std::string& auth, Outcome expected) {
    Request r;
    const auto start = clock::now();
    CHECK(run_with(filter, r, auth) == expected);
    return clock::now() - start;
  };
  const auto first = timed(*f->filter, basic("gina:gina-pw"), Outcome::proceed);
  auto repeats = clock::duration::zero();
  for (int i = 0; i < 20; ++i) repeats += timed(*f->filter, basic("gina:gina-pw"), Outcome::proceed);
  CHECK(repeats < first / 4);  // 20 cache hits cost less than a quarter of one bcrypt
  // The cache is keyed by the password: a wrong one is checked (and refused) every time.
  CHECK(timed(*f->filter, basic("gina:gina-pX"), Outcome::fail) > first / 4);
  // Without the cache each request runs bcrypt.
  const auto a = timed(*uncached->filter, basic("gina:gina-pw"), Outcome::proceed);
  const auto b = timed(*uncached->filter, basic("gina:gina-pw"), Outcome::proceed);
  CHECK(b > a / 4);
}

TEST_CASE("basic_auth is safe from several threads", "[filters][basic_auth]") {
  TempFile file(htpasswd_text());
  auto f = build("basic_auth", "{ htpasswd: " + file.path() + " }");
  REQUIRE(f->filter);
  std::atomic<int> admitted{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        Request r;
        const bool good = (i + t) % 2 == 0;
        const std::string authorization = basic(good ? "alice:alice-pw" : "alice:nope");
        r.head.fields.add("Authorization", authorization);
        (f->filter->run(r.ctx) == Outcome::proceed ? admitted : refused)++;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(admitted == 40);
  CHECK(refused == 40);
}

TEST_CASE("basic_auth: bad htpasswd lines are config errors naming file and line", "[filters][basic_auth]") {
  const std::string bcrypt = crypt_hash("$2b$", 4, "x");
  TempFile file("ok:" + bcrypt + "\nplain:hunter2-plain\napr:$apr1$abcdefgh$0123456789abcdefghijkl\nmd5:$1$salt$hash\n"
                "short:" + bcrypt.substr(0, 40) + "\nbadsha:{SHA}notbase64!\nsha5:$5$salt$tooshort\n"
                "nocolon\nok:" + bcrypt + "\n");
  auto f = build("basic_auth", "{ htpasswd: " + file.path() + " }");
  CHECK_FALSE(f->filter);
  const std::string errors = f->errors.joined();
  INFO(errors);
  const std::string p = file.path();
  CHECK(errors.find(p + ":2: user plain: plaintext or unsupported hash") != std::string::npos);
  CHECK(errors.find(p + ":3: user apr: MD5 hashes ($apr1$, $1$) are not supported") != std::string::npos);
  CHECK(errors.find(p + ":4: user md5: MD5 hashes") != std::string::npos);
  CHECK(errors.find(p + ":5: user short: malformed bcrypt hash") != std::string::npos);
  CHECK(errors.find(p + ":6: user badsha: {SHA} must be followed") != std::string::npos);
  CHECK(errors.find(p + ":7: user sha5: malformed SHA-crypt hash") != std::string::npos);
  CHECK(errors.find(p + ":8: expected user:hash") != std::string::npos);
  CHECK(errors.find(p + ":9: user ok is repeated") != std::string::npos);
  CHECK(errors.find(p + ":1:") == std::string::npos);

  TempFile empty("# nobody\n");
  auto e = build("basic_auth", "{ htpasswd: " + empty.path() + " }");
  CHECK_FALSE(e->filter);
  CHECK(e->errors.joined().find(empty.path() + " holds no users") != std::string::npos);

  auto missing = build("basic_auth", "{ realm: x }");
  CHECK_FALSE(missing->filter);
  CHECK(missing->errors.joined().find("htpasswd: is required") != std::string::npos);
  auto unreadable = build("basic_auth", "{ htpasswd: /nonexistent/htpasswd }");
  CHECK_FALSE(unreadable->filter);
  CHECK(unreadable->errors.joined().find("cannot read /nonexistent/htpasswd") != std::string::npos);
  TempFile good("ok:" + bcrypt + "\n");
  auto realm = build("basic_auth", "{ htpasswd: " + good.path() + ", realm: \"a\\nb\" }");
  CHECK_FALSE(realm->filter);
  CHECK(realm->errors.joined().find("must not contain quotes") != std::string::npos);
}

TEST_CASE("basic_auth never puts a password or hash in its config errors or refusals", "[filters][basic_auth]") {
  const std::string bcrypt = crypt_hash("$2b$", 4, "right-pw");
  TempFile file("plain:hunter2-plain-secret\ntrunc:" + bcrypt.substr(0, 50) + "\n");
  auto f = build("basic_auth", "{ htpasswd: " + file.path() + " }");
  CHECK_FALSE(f->filter);
  const std::string errors = f->errors.joined();
  CHECK(errors.find("hunter2-plain-secret") == std::string::npos);
  CHECK(errors.find(bcrypt.substr(7, 20)) == std::string::npos);

  TempFile good("henry:" + bcrypt + "\n");
  auto g = build("basic_auth", "{ htpasswd: " + good.path() + " }");
  REQUIRE(g->filter);
  Request r;
  CHECK(run_with(*g->filter, r, basic("henry:wrong-pw-secret")) == Outcome::fail);
  CHECK(r.ctx.error.message.find("wrong-pw-secret") == std::string::npos);
  CHECK(r.ctx.error.message.find("henry") == std::string::npos);
}
