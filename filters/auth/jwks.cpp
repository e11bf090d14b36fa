// JWK parsing into OpenSSL keys (EVP_PKEY_fromdata from the JWK's public numbers), and the
// algorithm table shared with the verifier. The remote key fetcher lives in jwks_fetch.cpp.
#include "filters/auth/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include <array>

#include <nlohmann/json.hpp>

namespace portcullis::filters::jwt {
namespace {

constexpr std::array<std::string_view, alg_count> alg_names = {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
                                                                "PS256", "PS384", "PS512", "ES256", "ES384"};

// 0xFF = not in the base64url alphabet.
constexpr std::array<std::uint8_t, 256> make_decode_table() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = 0xFF;
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<std::uint8_t>(i);
    t['a' + i] = static_cast<std::uint8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<std::uint8_t>(52 + i);
  t['-'] = 62;
  t['_'] = 63;
  return t;
}
constexpr auto decode_table = make_decode_table();

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};

std::shared_ptr<EVP_PKEY> from_params(const char* type, OSSL_PARAM* params) {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    return nullptr;
  std::shared_ptr<EVP_PKEY> out(pkey, EVP_PKEY_free);
  // Refuse points off the curve and other malformed public keys now, not at verification.
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return out;
}

// Reads a base64url member of a JWK; "" with `error` set when absent or malformed.
std::string member(const nlohmann::json& jwk, const char* name, std::string& error) {
  std::string out;
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) {
    error = std::string("missing \"") + name + "\"";
    return out;
  }
  if (!base64url_decode(it->get_ref<const std::string&>(), out) || out.empty()) {
    error = std::string("\"") + name + "\" is not base64url";
    out.clear();
  }
  return out;
}

std::optional<Key> rsa_key(const nlohmann::json& jwk, std::string& error) {
  std::string n = member(jwk, "n", error);
  if (n.empty()) return std::nullopt;
  std::string e = member(jwk, "e", error);
  if (e.empty()) return std::nullopt;
  const auto* nb = reinterpret_cast<const unsigned char*>(n.data());
  std::unique_ptr<BIGNUM, BnFree> bn_n(BN_bin2bn(nb, static_cast<int>(n.size()), nullptr));
  std::unique_ptr<BIGNUM, BnFree> bn_e(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
  if (!bn_n || !bn_e) {
    error = "out of memory";
    return std::nullopt;
  }
  const int bits = BN_num_bits(bn_n.get());
  if (bits < 2048) {
    error = "RSA modulus of " + std::to_string(bits) + " bits (at least 2048 needed)";
    return std::nullopt;
  }
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    error = "out of memory";
    return std::nullopt;
  }
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
  Key key;
  key.type = KeyType::rsa;
  key.pkey = params ? from_params("RSA", params.get()) : nullptr;
  if (!key.pkey) {
    error = "not a valid RSA public key";
    return std::nullopt;
  }
  key.signature_bytes = static_cast<std::size_t>((bits + 7) / 8);
  return key;
}

std::optional<Key> ec_key(const nlohmann::json& jwk, std::string& error) {
  auto crv = jwk.find("crv");
  Key key;
  std::size_t coordinate = 0;
  const char* group = nullptr;
  if (crv != jwk.end() && *crv == "P-256") {
    key.type = KeyType::ec_p256;
    coordinate = 32;
    group = "prime256v1";
  } else if (crv != jwk.end() && *crv == "P-384") {
    key.type = KeyType::ec_p384;
    coordinate = 48;
    group = "secp384r1";
  } else {
    error = "unsupported \"crv\" (P-256 and P-384 are)";
    return std::nullopt;
  }
  std::string x = member(jwk, "x", error);
  if (x.empty()) return std::nullopt;
  std::string y = member(jwk, "y", error);
  if (y.empty()) return std::nullopt;
  if (x.size() != coordinate || y.size() != coordinate) {
    error = "\"x\" and \"y\" must be " + std::to_string(coordinate) + " bytes each";
    return std::nullopt;
  }
  std::string point = "\x04" + x + y;  // uncompressed SEC1 point
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size())) {
    error = "out of memory";
    return std::nullopt;
  }
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
  key.pkey = params ? from_params("EC", params.get()) : nullptr;
  if (!key.pkey) {
    error = "not a valid EC public key (point not on the curve?)";
    return std::nullopt;
  }
  key.signature_bytes = 2 * coordinate;
  return key;
}

// One JWK; nullopt with `error` empty when it is of a kind the filter skips.
std::optional<Key> parse_key(const nlohmann::json& jwk, std::string& error) {
  if (!jwk.is_object()) {
    error = "not an object";
    return std::nullopt;
  }
  auto use = jwk.find("use");
  if (use != jwk.end() && *use != "sig") return std::nullopt;  // encryption keys are not for us
  auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) {
    error = "missing \"kty\"";
    return std::nullopt;
  }
  std::optional<Key> key;
  if (*kty == "RSA") {
    key = rsa_key(jwk, error);
  } else if (*kty == "EC") {
    key = ec_key(jwk, error);
  } else if (*kty == "oct") {
    std::string k = member(jwk, "k", error);
    if (k.empty()) return std::nullopt;
    if (k.size() < min_secret_bytes) {
      error = "oct key shorter than " + std::to_string(min_secret_bytes) + " bytes";
      return std::nullopt;
    }
    key = secret_key(std::move(k));
  } else {
    return std::nullopt;  // OKP and future types: skipped
  }
  if (!key) return std::nullopt;
  if (auto kid = jwk.find("kid"); kid != jwk.end()) {
    if (!kid->is_string()) {
      error = "\"kid\" is not a string";
      return std::nullopt;
    }
    key->kid = kid->get<std::string>();
  }
  if (auto alg = jwk.find("alg"); alg != jwk.end()) {
    key->alg = alg->is_string() ? alg_from(alg->get_ref<const std::string&>()) : std::nullopt;
    if (!key->alg) {
      error = "unsupported \"alg\"";
      return std::nullopt;
    }
    if (!key->fits(*key->alg)) {
      error = "\"alg\" does not match the key type";
      return std::nullopt;
    }
  }
  return key;
}

}  // namespace

std::optional<Alg> alg_from(std::string_view name) {
  for (std::size_t i = 0; i < alg_names.size(); ++i)
    if (alg_names[i] == name) return static_cast<Alg>(i);
  return std::nullopt;
}

std::string_view name_of(Alg alg) { return alg_names[static_cast<std::size_t>(alg)]; }

bool Key::fits(Alg a) const {
  if (alg && *alg != a) return false;
  switch (a) {
    case Alg::hs256: return type == KeyType::oct && secret.size() >= 32;
    case Alg::hs384: return type == KeyType::oct && secret.size() >= 48;
    case Alg::hs512: return type == KeyType::oct && secret.size() >= 64;
    case Alg::rs256: case Alg::rs384: case Alg::rs512:
    case Alg::ps256: case Alg::ps384: case Alg::ps512: return type == KeyType::rsa;
    case Alg::es256: return type == KeyType::ec_p256;
    case Alg::es384: return type == KeyType::ec_p384;
  }
  return false;
}

bool base64url_decode(std::string_view in, std::string& out) {
  if (in.size() % 4 == 1) return false;
  const std::size_t start = out.size();
  out.resize(start + in.size() * 3 / 4);
  char* o = out.data() + start;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    const std::uint8_t v = decode_table[c];
    if (v == 0xFF) return false;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      *o++ = static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  // Leftover bits must be zero, so each byte string has exactly one encoding.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return false;
  out.resize(static_cast<std::size_t>(o - out.data()));
  return true;
}

Key secret_key(std::string secret) {
  Key key;
  key.type = KeyType::oct;
  key.secret = std::move(secret);
  return key;
}

std::shared_ptr<const KeySet> parse_jwks(std::string_view json, std::string& error) {
  auto doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    error = "not a JWK set (a JSON object with a \"keys\" array)";
    return nullptr;
  }
  auto set = std::make_shared<KeySet>();
  std::size_t index = 0;
  for (const auto& jwk : doc["keys"]) {
    std::string key_error;
    if (auto key = parse_key(jwk, key_error)) {
      set->keys.push_back(std::move(*key));
    } else if (!key_error.empty()) {
      std::string kid = jwk.is_object() && jwk.contains("kid") && jwk["kid"].is_string() ? jwk["kid"].get<std::string>() : "";
      error = "key " + std::to_string(index) + (kid.empty() ? "" : " (kid " + kid + ")") + ": " + key_error;
      return nullptr;
    }
    ++index;
  }
  if (set->keys.empty()) {
    error = "no usable signing key (RSA, EC P-256/P-384 or oct with use: sig)";
    return nullptr;
  }
  return set;
}

}  // namespace portcullis::filters::jwt
