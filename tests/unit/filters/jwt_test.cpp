// jwt: tokens signed here with keys generated here (RSA 2048, EC P-256/P-384, HMAC) for every
// algorithm; the reject paths (alg none, algorithm confusion, kid, exp/nbf/leeway on a pinned
// clock, iss/aud, malformed and oversized tokens); claim forwarding and header stripping; args
// validation. Key sets and jwks_url are in jwks_test.cpp.
#include <openssl/pem.h>

#include <filesystem>
#include <fstream>

#include "jwt_support.h"

using namespace jwt_support;


TEST_CASE("jwt accepts every algorithm with a key of the right type", "[filters][jwt]") {
  PinnedClock clock(t_now);
  Keys& k = keys();
  auto f = build("jwt", file_args());
  REQUIRE(f->filter);
  CHECK(f->filter->type() == FilterType::pre);
  for (const char* alg : {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}) {
    INFO(alg);
    CHECK(accepted(*f->filter, token({{"alg", alg}, {"kid", "rsa-1"}}, claims(), k.rsa.get())));
    CHECK(accepted(*f->filter, token({{"alg", alg}}, claims(), k.rsa.get())));  // no kid: type-compatible keys
  }
  CHECK(accepted(*f->filter, token({{"alg", "ES256"}, {"kid", "ec-256"}}, claims(), k.p256.get())));
  CHECK(accepted(*f->filter, token({{"alg", "ES384"}, {"kid", "ec-384"}}, claims(), k.p384.get())));
  CHECK(accepted(*f->filter, token({{"alg", "ES384"}}, claims(), k.p384.get())));
  for (const char* alg : {"HS256", "HS384", "HS512"}) {
    INFO(alg);
    CHECK(accepted(*f->filter, token({{"alg", alg}, {"kid", "hmac-1"}, {"typ", "JWT"}}, claims(), nullptr, k.secret)));
  }
  // An inline secret; 40 bytes fits HS256 only (HS384 needs 48).
  const std::string secret(40, 's');
  auto inline_secret = build("jwt", "{ secret: " + secret + " }");
  REQUIRE(inline_secret->filter);
  CHECK(accepted(*inline_secret->filter, token({{"alg", "HS256"}}, claims(), nullptr, secret)));
  check_invalid(*inline_secret->filter, token({{"alg", "HS384"}}, claims(), nullptr, secret), "algorithm not accepted");
}

TEST_CASE("jwt refuses alg none, unknown algorithms and algorithm confusion", "[filters][jwt]") {
  PinnedClock clock(t_now);
  Keys& k = keys();
  auto f = build("jwt", file_args());
  const std::string unsigned_token = b64url(R"({"alg":"none"})") + "." + b64url(claims().dump()) + ".";
  check_invalid(*f->filter, unsigned_token, "algorithm not accepted");
  check_invalid(*f->filter, b64url(R"({"alg":"None"})") + "." + b64url(claims().dump()) + ".", "algorithm not accepted");
  check_invalid(*f->filter, token({{"alg", "HS1"}}, claims(), nullptr, k.secret), "algorithm not accepted");
  check_invalid(*f->filter, b64url(R"({"typ":"JWT"})") + "." + b64url(claims().dump()) + ".", "malformed token");

  // The classic confusion: an HS256 token whose HMAC key is the RSA public key (PEM), sent to a
  // filter that only has that RSA key.
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, k.rsa.get());
  char* pem_data = nullptr;
  const long pem_len = BIO_get_mem_data(bio, &pem_data);
  const std::string pem(pem_data, static_cast<std::size_t>(pem_len));
  BIO_free(bio);
  const std::string rsa_only = (std::filesystem::temp_directory_path() / "portcullis-jwt-rsa-only.json").string();
  std::ofstream(rsa_only) << json{{"keys", {rsa_jwk(k.rsa.get(), "rsa-1")}}}.dump();
  const json forged_header = {{"alg", "HS256"}, {"kid", "rsa-1"}};
  auto by_default = build("jwt", "{ jwks_file: " + rsa_only + " }");
  REQUIRE(by_default->filter);
  check_invalid(*by_default->filter, token(forged_header, claims(), nullptr, pem), "algorithm not accepted");
  // Even with HS256 listed, an RSA key never verifies an HMAC.
  auto listed = build("jwt", "{ jwks_file: " + rsa_only + ", algorithms: [RS256, HS256] }");
  REQUIRE(listed->filter);
  check_invalid(*listed->filter, token(forged_header, claims(), nullptr, pem), "no key for this algorithm");
  check_invalid(*listed->filter, token({{"alg", "HS256"}}, claims(), nullptr, pem), "no key for this algorithm");
  CHECK(accepted(*listed->filter, token({{"alg", "RS256"}}, claims(), k.rsa.get())));
  std::filesystem::remove(rsa_only);

  // ES256 against the P-384 key (by kid) and an RSA token against an EC key are refused.
  check_invalid(*f->filter, token({{"alg", "ES256"}, {"kid", "ec-384"}}, claims(), k.p256.get()), "no key for this algorithm");
  check_invalid(*f->filter, token({{"alg", "RS256"}, {"kid", "ec-256"}}, claims(), k.rsa.get()), "no key for this algorithm");
  // `algorithms` restricts what the keys could verify.
  auto rs_only = build("jwt", file_args("algorithms: [RS256]"));
  REQUIRE(rs_only->filter);
  check_invalid(*rs_only->filter, token({{"alg", "ES256"}}, claims(), k.p256.get()), "algorithm not accepted");
  check_invalid(*rs_only->filter, token({{"alg", "PS256"}}, claims(), k.rsa.get()), "algorithm not accepted");
  CHECK(accepted(*rs_only->filter, token({{"alg", "RS256"}}, claims(), k.rsa.get())));
  check_invalid(*f->filter, token({{"alg", "RS256"}, {"crit", {"exp"}}}, claims(), k.rsa.get()),
                "unsupported critical header");
}

TEST_CASE("jwt selects keys by kid", "[filters][jwt]") {
  PinnedClock clock(t_now);
  Keys& k = keys();
  auto f = build("jwt", file_args());
  check_invalid(*f->filter, token({{"alg", "RS256"}, {"kid", "rsa-9"}}, claims(), k.rsa.get()), "unknown key");
  // The right kid, another key's signature.
  check_invalid(*f->filter, token({{"alg", "RS256"}, {"kid", "rsa-1"}}, claims(), k.rsa2.get()), "invalid signature");
  check_invalid(*f->filter, token({{"alg", "RS256"}}, claims(), k.rsa2.get()), "invalid signature");
  check_invalid(*f->filter, token({{"alg", "RS256"}, {"kid", 7}}, claims(), k.rsa.get()), "malformed token");
}

TEST_CASE("jwt checks exp and nbf with the leeway, to the second", "[filters][jwt]") {
  PinnedClock clock(t_now);
  Keys& k = keys();
  auto f = build("jwt", file_args());
  auto tok = [&](json extra) { return token({{"alg", "ES256"}}, claims(std::move(extra)), k.p256.get()); };
  CHECK(accepted(*f->filter, tok({{"exp", t_now - 29}})));  // default leeway 30 s
  check_invalid(*f->filter, tok({{"exp", t_now - 30}}), "token expired");
  check_invalid(*f->filter, tok({{"exp", t_now - 3600}}), "token expired");
  CHECK(accepted(*f->filter, tok({{"nbf", t_now + 30}})));
  check_invalid(*f->filter, tok({{"nbf", t_now + 31}}), "token not yet valid");
  check_invalid(*f->filter, tok({{"exp", "tomorrow"}}), "malformed token");
  check_invalid(*f->filter, tok({{"nbf", nullptr}}), "malformed token");
  CHECK(accepted(*f->filter, tok({{"exp", static_cast<double>(t_now) + 0.5}})));  // NumericDate may be fractional

  auto strict = build("jwt", file_args("leeway: 0s"));
  REQUIRE(strict->filter);
  CHECK(accepted(*strict->filter, tok({{"exp", t_now + 1}})));
  check_invalid(*strict->filter, tok({{"exp", t_now}}), "token expired");
  CHECK(accepted(*strict->filter, tok({{"nbf", t_now}})));
  check_invalid(*strict->filter, tok({{"nbf", t_now + 1}}), "token not yet valid");

  json no_exp = claims();
  no_exp.erase("exp");
  CHECK(accepted(*f->filter, token({{"alg", "ES256"}}, no_exp, k.p256.get())));
  auto require = build("jwt", file_args("require: [exp, jti]"));
  REQUIRE(require->filter);
  check_invalid(*require->filter, token({{"alg", "ES256"}}, no_exp, k.p256.get()), "required claim missing");
  check_invalid(*require->filter, tok({}), "required claim missing");
  CHECK(accepted(*require->filter, tok({{"jti", "abc"}})));
}

TEST_CASE("jwt checks the issuer and the audience", "[filters][jwt]") {
  PinnedClock clock(t_now);
  Keys& k = keys();
  auto f = build("jwt", file_args("issuers: [https://idp.example/, other], audiences: [orders, billing]"));
  REQUIRE(f->filter);
  auto tok = [&](json extra) { return token({{"alg", "RS256"}}, claims(std::move(extra)), k.rsa.get()); };
  CHECK(accepted(*f->filter, tok({{"iss", "https://idp.example/"}, {"aud", "orders"}})));
  CHECK(accepted(*f->filter, tok({{"iss", "other"}, {"aud", {"web", "billing"}}})));
  check_invalid(*f->filter, tok({{"iss", "https://evil.example/"}, {"aud", "orders"}}), "issuer not accepted");
  check_invalid(*f->filter, tok({{"aud", "orders"}}), "issuer not accepted");
  check_invalid(*f->filter, tok({{"iss", 5}, {"aud", "orders"}}), "issuer not accepted");
  check_invalid(*f->filter, tok({{"iss", "other"}, {"aud", "web"}}), "audience not accepted");
  check_invalid(*f->filter, tok({{"iss", "other"}, {"aud", {"web", "mobile"}}}), "audience not accepted");
  check_invalid(*f->filter, tok({{"iss", "other"}, {"aud", json::array()}}), "audience not accepted");
  check_invalid(*f->filter, tok({{"iss", "other"}}), "audience not accepted");
  check_invalid(*f->filter, tok({{"iss", "other"}, {"aud", {{"orders", 1}}}}), "audience not accepted");
}

TEST_CASE("jwt refuses malformed and oversized tokens", "[filters][jwt]") {
  PinnedClock clock(t_now);
  Keys& k = keys();
  auto f = build("jwt", file_args());
  const std::string good = token({{"alg", "RS256"}}, claims(), k.rsa.get());
  const std::size_t dot2 = good.rfind('.');
  const std::string head = b64url(R"({"alg":"RS256"})");
  const std::string body = b64url(claims().dump());
  check_invalid(*f->filter, head + "." + body, "malformed token");                       // two parts
  check_invalid(*f->filter, good + ".x", "malformed token");                             // four parts
  check_invalid(*f->filter, good.substr(0, dot2 + 10), "malformed token");               // truncated signature
  check_invalid(*f->filter, good.substr(0, good.size() - 1), "malformed token");         // one char short
  check_invalid(*f->filter, "!!" + good, "malformed token");                             // not base64url
  check_invalid(*f->filter, good.substr(0, 10) + " " + good.substr(10), "malformed token");  // a space inside
  check_invalid(*f->filter, "..", "malformed token");
  const std::string empty_payload = head + ".";
  check_invalid(*f->filter, empty_payload + "." + b64url(sign("RS256", empty_payload, k.rsa.get(), "")), "malformed token");
  check_invalid(*f->filter, head + "=." + body + good.substr(dot2), "malformed token");  // padding
  check_invalid(*f->filter, b64url("alg=RS256") + "." + body + good.substr(dot2), "malformed token");  // not JSON
  check_invalid(*f->filter, b64url(R"(["RS256"])") + "." + body + good.substr(dot2), "malformed token");  // not an object
  check_invalid(*f->filter, b64url(R"({"alg":"RS256")") + "." + body + good.substr(dot2), "malformed token");
  // The header is signed: changing it breaks the signature.
  check_invalid(*f->filter, b64url(R"({"alg":"RS256","x":1})") + "." + body + good.substr(dot2), "invalid signature");
  // A well-signed payload that is not a JSON object.
  const std::string input = head + "." + b64url("[1,2]");
  check_invalid(*f->filter, input + "." + b64url(sign("RS256", input, k.rsa.get(), "")), "malformed token");
  const std::string bad_utf8 = head + "." + b64url("{\"sub\":\"\xff\xfe\"}");
  check_invalid(*f->filter, bad_utf8 + "." + b64url(sign("RS256", bad_utf8, k.rsa.get(), "")), "malformed token");

  // ES signatures have exactly the curve's size (r||s), never DER or a byte more or less.
  const std::string es = token({{"alg", "ES256"}}, claims(), k.p256.get());
  const std::size_t es_dot = es.rfind('.');
  std::string raw;
  REQUIRE(filters::jwt::base64url_decode(es.substr(es_dot + 1), raw));
  CHECK(raw.size() == 64);
  check_invalid(*f->filter, es.substr(0, es_dot + 1) + b64url(raw.substr(0, 63)), "malformed token");
  check_invalid(*f->filter, es.substr(0, es_dot + 1) + b64url(raw + "\x01"), "malformed token");
  check_invalid(*f->filter, es.substr(0, es_dot + 1) + b64url(std::string(64, '\0')), "invalid signature");
  std::string flipped = raw;
  flipped[40] ^= 1;
  check_invalid(*f->filter, es.substr(0, es_dot + 1) + b64url(flipped), "invalid signature");
  // A 96-byte signature on an ES256 token (the P-384 size) is refused before any key is tried.
  check_invalid(*f->filter, es.substr(0, es_dot + 1) + b64url(raw + raw.substr(0, 32)), "malformed token");
  const std::string hs = token({{"alg", "HS256"}}, claims(), nullptr, k.secret);
  check_invalid(*f->filter, hs.substr(0, hs.size() - 2), "malformed token");

  // Oversized: refused before any decoding.
  auto small = build("jwt", file_args("max_token_bytes: 256"));
  REQUIRE(small->filter);
  CHECK(good.size() > 256);
  check_invalid(*small->filter, good, "token too large");
  auto defaults = build("jwt", file_args());
  check_invalid(*defaults->filter, token({{"alg", "ES256"}}, claims({{"pad", std::string(9000, 'a')}}), k.p256.get()),
                "token too large");
}

TEST_CASE("jwt answers a missing token with a realm challenge and finds tokens where told", "[filters][jwt]") {
  PinnedClock clock(t_now);
  Keys& k = keys();
  const std::string good = token({{"alg", "ES256"}}, claims(), k.p256.get());
  auto f = build("jwt", file_args("realm: orders, cookie: session, query_param: access_token"));
  REQUIRE(f->filter);
  {
    Request r;
    const Call c = run(*f->filter, r);
    CHECK(c.outcome == Outcome::fail);
    CHECK(c.status == 401);
    CHECK(c.challenge == "Bearer realm=\"orders\"");
  }
  {
    Request r;  // the scheme without a token
    r.head.fields.add("Authorization", "Bearer ");
    CHECK(run(*f->filter, r).challenge == "Bearer realm=\"orders\"");
  }
  {
    Request r;
    r.head.fields.add("Authorization", "Basic dXNlcjpwYXNz");
    CHECK(run(*f->filter, r).challenge == "Bearer realm=\"orders\"");
  }
  {
    Request r;
    r.head.fields.add("authorization", r.ctx.keep("bearer   " + good));  // scheme case-insensitive, extra spaces
    CHECK(run(*f->filter, r).outcome == Outcome::proceed);
  }
  {
    Request r;  // two Authorization headers: ambiguous
    r.head.fields.add("Authorization", r.ctx.keep("Bearer " + good));
    r.head.fields.add("Authorization", "Bearer x.y.z");
    const Call c = run(*f->filter, r);
    CHECK(c.status == 400);
    CHECK(c.challenge == "Bearer realm=\"orders\", error=\"invalid_request\"");
  }
  {
    Request r;
    const std::string cookie = "theme=dark; session=" + good + "; x=1";
    r.head.fields.add("Cookie", cookie);
    CHECK(run(*f->filter, r).outcome == Outcome::proceed);
  }
  {
    Request r;
    const std::string query = "a=1&access_token=" + good;
    r.head.query = query;
    CHECK(run(*f->filter, r).outcome == Outcome::proceed);
    Request bad;
    bad.head.query = "access_token=abc";
    CHECK(run(*f->filter, bad).status == 401);
  }
  auto custom = build("jwt", file_args("header: X-Token"));
  REQUIRE(custom->filter);
  Request r;
  r.head.fields.add("X-Token", good);  // a custom header may carry the bare token
  CHECK(run(*custom->filter, r).outcome == Outcome::proceed);
}

TEST_CASE("jwt forwards claims as headers and always drops the client's copies", "[filters][jwt]") {
  PinnedClock clock(t_now);
  Keys& k = keys();
  auto f = build("jwt", file_args("forward_claims: { sub: X-User-Id, scope: X-Scopes, tier: X-Tier, roles: X-Roles }"));
  REQUIRE(f->filter);
  auto tok = [&](json c) { return token({{"alg", "RS256"}}, c, k.rsa.get()); };
  {
    Request r;
    r.head.fields.add("X-User-Id", "admin");
    r.head.fields.add("x-scopes", "root");
    const std::string t = tok(claims({{"sub", "Jürgen 用户"}, {"scope", {"read", "write"}}, {"tier", 3}}));
    r.head.fields.add("Authorization", r.ctx.keep("Bearer " + t));
    CHECK(run(*f->filter, r).outcome == Outcome::proceed);
    CHECK(r.head.fields.count("x-user-id") == 1);
    CHECK(r.head.fields.get("x-user-id") == "Jürgen 用户");
    CHECK(r.head.fields.get("x-scopes") == "read write");
    CHECK(r.head.fields.get("x-tier") == "3");
    CHECK(r.ctx.consumer == "Jürgen 用户");
    CHECK(r.head.fields.contains("authorization"));  // strip_token defaults to false
  }
  {
    Request r;  // the claim is absent: the client's header still goes
    r.head.fields.add("X-Roles", "admin");
    json c = claims();
    c.erase("sub");
    r.head.fields.add("Authorization", r.ctx.keep("Bearer " + tok(c)));
    CHECK(run(*f->filter, r).outcome == Outcome::proceed);
    CHECK_FALSE(r.head.fields.contains("x-roles"));
    CHECK_FALSE(r.head.fields.contains("x-user-id"));
    CHECK(r.ctx.consumer.empty());
  }
  {
    Request r;  // refused requests lose them too
    r.head.fields.add("X-User-Id", "admin");
    r.head.fields.add("Authorization", "Bearer nonsense");
    CHECK(run(*f->filter, r).status == 401);
    CHECK_FALSE(r.head.fields.contains("x-user-id"));
  }
  {
    Request r;  // objects are not forwarded; nested arrays neither
    r.head.fields.add("Authorization", r.ctx.keep(
                      "Bearer " + tok(claims({{"scope", {{"a", 1}}}, {"roles", json::array({json::array({"x"}), "y"})}}))));
    CHECK(run(*f->filter, r).outcome == Outcome::proceed);
    CHECK_FALSE(r.head.fields.contains("x-scopes"));
    CHECK_FALSE(r.head.fields.contains("x-roles"));
  }
  // A claim that would put a line break into a header refuses the token.
  check_invalid(*f->filter, tok(claims({{"sub", "a\r\nX-Admin: 1"}})), "claim not usable as a header value");
  check_invalid(*f->filter, tok(claims({{"scope", {"a", "b\n"}}})), "claim not usable as a header value");

  auto strip = build("jwt", file_args("strip_token: true, consumer_claim: client_id"));
  REQUIRE(strip->filter);
  Request r;
  r.head.fields.add("Authorization", r.ctx.keep("Bearer " + tok(claims({{"client_id", "mobile-app"}}))));
  CHECK(run(*strip->filter, r).outcome == Outcome::proceed);
  CHECK_FALSE(r.head.fields.contains("authorization"));
  CHECK(r.ctx.consumer == "mobile-app");
  check_invalid(*strip->filter, tok(claims({{"client_id", std::string("a\0b", 3)}})), "claim not usable as a header value");
}

TEST_CASE("jwt refuses bad args without echoing secrets", "[filters][jwt]") {
  auto none = build("jwt", "{ issuers: [x] }");
  CHECK_FALSE(none->filter);
  CHECK(none->errors.joined().find("needs keys") != std::string::npos);
  auto short_secret = build("jwt", "{ secret: tooshort-s3cr3t }");
  CHECK_FALSE(short_secret->filter);
  CHECK(short_secret->errors.joined().find("at least 32 bytes") != std::string::npos);
  CHECK(short_secret->errors.joined().find("s3cr3t") == std::string::npos);
  auto missing_file = build("jwt", "{ jwks_file: /nonexistent/jwks.json }");
  CHECK_FALSE(missing_file->filter);
  CHECK(missing_file->errors.joined().find("cannot read") != std::string::npos);
  auto bad_url = build("jwt", "{ jwks_url: \"ftp://idp/jwks\" }");
  CHECK_FALSE(bad_url->filter);
  CHECK(bad_url->errors.joined().find("must start with http:// or https://") != std::string::npos);
  auto alg_none = build("jwt", file_args("algorithms: [RS256, none]"));
  CHECK_FALSE(alg_none->filter);
  CHECK(alg_none->errors.joined().find("\"none\" is never accepted") != std::string::npos);
  auto unfit = build("jwt", "{ secret: " + std::string(32, 'x') + ", algorithms: [RS256] }");
  CHECK_FALSE(unfit->filter);
  CHECK(unfit->errors.joined().find("no configured key") != std::string::npos);
  auto host = build("jwt", file_args("forward_claims: { sub: Host }"));
  CHECK_FALSE(host->filter);
  CHECK(host->errors.joined().find("cannot forward a claim into header Host") != std::string::npos);
  auto refresh = build("jwt", file_args("jwks_refresh: 5m"));
  CHECK_FALSE(refresh->filter);
  CHECK(refresh->errors.joined().find("only with jwks_url") != std::string::npos);
  auto realm = build("jwt", file_args("realm: 'a\"b'"));
  CHECK_FALSE(realm->filter);
  const std::string broken = (std::filesystem::temp_directory_path() / "portcullis-jwt-broken.json").string();
  std::ofstream(broken) << "{\"keys\": [{\"kty\": \"oct\", \"kid\": \"h\", \"k\": \"c2hvcnQ\"}]}";
  auto broken_file = build("jwt", "{ jwks_file: " + broken + " }");
  CHECK_FALSE(broken_file->filter);
  CHECK(broken_file->errors.joined().find("key 0 (kid h): oct key shorter than 32 bytes") != std::string::npos);
  std::filesystem::remove(broken);
  CHECK_FALSE(build("jwt", file_args("algorithms: []"))->filter);
  CHECK_FALSE(build("jwt", file_args("algorithms: [RS257]"))->filter);
  CHECK_FALSE(build("jwt", file_args("header: \"bad name\""))->filter);
  CHECK_FALSE(build("jwt", file_args("query_param: \"a&b\""))->filter);
  CHECK_FALSE(build("jwt", file_args("cookie: \"a;b\""))->filter);
  CHECK_FALSE(build("jwt", file_args("forward_claims: [sub]"))->filter);
  CHECK_FALSE(build("jwt", file_args("forward_claims: { sub: \"X User\" }"))->filter);
  CHECK_FALSE(build("jwt", "{ jwks_url: \"http://127.0.0.1:1/jwks\", jwks_refresh: 10ms }")->filter);
  CHECK_FALSE(build("jwt", file_args("leeway: soon"))->filter);
  CHECK_FALSE(build("jwt", file_args("max_token_bytes: 10"))->filter);
  CHECK_FALSE(build("jwt", file_args("unknown_arg: 1"))->filter);
}
