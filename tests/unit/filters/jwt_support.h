// Shared by the jwt and jwks tests: keys generated with OpenSSL, a JWS signer (every algorithm,
// ES signatures as JOSE's raw r||s), JWK builders, and running the filter on a bearer token.
#pragma once
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "filters/auth/jwt.h"
#include "support.h"

namespace jwt_support {

using namespace portcullis;
using filter_support::build;
using filter_support::Request;
using json = nlohmann::json;

constexpr std::int64_t t_now = 1'700'000'000;

// --- signing helpers ------------------------------------------------------------------------

inline std::string b64url(std::string_view in) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 63];
  return out;
}

using Pkey = std::shared_ptr<EVP_PKEY>;

inline Pkey rsa_key() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048)), EVP_PKEY_free); }
inline Pkey ec_key(const char* curve) { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve), EVP_PKEY_free); }

inline std::string bn_param(EVP_PKEY* key, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(key, name, &bn) == 1);
  std::string out(static_cast<std::size_t>(pad ? pad : BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

inline json rsa_jwk(EVP_PKEY* key, const std::string& kid) {
  return {{"kty", "RSA"}, {"kid", kid}, {"use", "sig"},
          {"n", b64url(bn_param(key, OSSL_PKEY_PARAM_RSA_N))}, {"e", b64url(bn_param(key, OSSL_PKEY_PARAM_RSA_E))}};
}

inline json ec_jwk(EVP_PKEY* key, const std::string& kid, const char* crv, int size) {
  return {{"kty", "EC"}, {"kid", kid}, {"crv", crv},
          {"x", b64url(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, size))},
          {"y", b64url(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, size))}};
}

inline const EVP_MD* md_of(std::string_view alg) {
  if (alg.ends_with("384")) return EVP_sha384();
  if (alg.ends_with("512")) return EVP_sha512();
  return EVP_sha256();
}

inline std::string sign(std::string_view alg, const std::string& input, EVP_PKEY* key, const std::string& secret) {
  const EVP_MD* md = md_of(alg);
  if (alg.starts_with("HS")) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
         input.size(), mac, &len);
    return std::string(reinterpret_cast<char*>(mac), len);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  REQUIRE(EVP_DigestSignInit(ctx, &pctx, md, nullptr, key) == 1);
  if (alg.starts_with("PS")) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  std::size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  REQUIRE(EVP_DigestSign(ctx, nullptr, &len, data, input.size()) == 1);
  std::string sig(len, '\0');
  REQUIRE(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) == 1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (!alg.starts_with("ES")) return sig;
  // DER ECDSA-Sig-Value -> JOSE r||s, each padded to the curve size.
  const int half = alg == "ES256" ? 32 : 48;
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  REQUIRE(es);
  std::string raw(static_cast<std::size_t>(2 * half), '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), half);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + half, half);
  ECDSA_SIG_free(es);
  return raw;
}

inline std::string token(const json& header, const json& claims, EVP_PKEY* key = nullptr, const std::string& secret = {}) {
  const std::string input = b64url(header.dump()) + "." + b64url(claims.dump());
  return input + "." + b64url(sign(header.value("alg", std::string()), input, key, secret));
}

// The keys every test shares (RSA generation is slow: once per process).
struct Keys {
  Pkey rsa = rsa_key(), rsa2 = rsa_key(), p256 = ec_key("P-256"), p384 = ec_key("P-384");
  std::string secret = std::string(64, 'k');
  std::string jwks_path;
  Keys() {
    json set = {{"keys",
                 {rsa_jwk(rsa.get(), "rsa-1"), ec_jwk(p256.get(), "ec-256", "P-256", 32),
                  ec_jwk(p384.get(), "ec-384", "P-384", 48),
                  {{"kty", "oct"}, {"kid", "hmac-1"}, {"k", b64url(secret)}}}}};
    jwks_path = (std::filesystem::temp_directory_path() / ("portcullis-jwt-" + std::to_string(::getpid()) + ".json"));
    std::ofstream(jwks_path) << set.dump();
  }
  ~Keys() { std::filesystem::remove(jwks_path); }
};

inline Keys& keys() {
  static Keys k;
  return k;
}

inline std::string file_args(const std::string& extra = "") {
  return "{ jwks_file: " + keys().jwks_path + (extra.empty() ? "" : ", " + extra) + " }";
}

// Pins the filter's clock for one test.
struct PinnedClock {
  explicit PinnedClock(std::int64_t t) { filters::jwt::pin_clock_for_tests(t); }
  ~PinnedClock() { filters::jwt::pin_clock_for_tests(0); }
};

struct Call {
  Outcome outcome;
  int status;
  std::string message;
  std::string challenge;
};

inline Call run(Filter& filter, Request& r) {
  const Outcome o = filter.run(r.ctx);
  std::string challenge;
  for (const auto& [name, value] : r.ctx.added_response_headers)
    if (name == "WWW-Authenticate") challenge = value;
  return {o, r.ctx.error.status, r.ctx.error.message, challenge};
}

inline Call run_bearer(Filter& filter, const std::string& tok) {
  Request r;
  r.head.fields.add("Authorization", r.ctx.keep("Bearer " + tok));
  return run(filter, r);
}

inline json claims(json extra = json::object()) {
  json c = {{"sub", "user-1"}, {"exp", t_now + 600}, {"iat", t_now}};
  for (auto& [k, v] : extra.items()) c[k] = v;
  return c;
}

inline bool accepted(Filter& f, const std::string& tok) { return run_bearer(f, tok).outcome == Outcome::proceed; }

// Expects a 401 invalid_token refusal whose message is `reason`.
inline void check_invalid(Filter& f, const std::string& tok, const std::string& reason) {
  const Call c = run_bearer(f, tok);
  CHECK(c.outcome == Outcome::fail);
  CHECK(c.status == 401);
  CHECK(c.message == reason);
  CHECK(c.challenge == "Bearer realm=\"portcullis\", error=\"invalid_token\"");
  CHECK(c.message.find(tok.substr(0, 20)) == std::string::npos);
}


}  // namespace jwt_support
