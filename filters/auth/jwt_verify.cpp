// JWS signature verification with OpenSSL 3: EVP_MAC HMAC for HS*, EVP_DigestVerify for
// RS*/PS*/ES*.
// ES signatures arrive as JOSE's fixed-size r||s and are re-encoded as the DER ECDSA-Sig-Value
// OpenSSL expects, on the stack.
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "filters/auth/jwt.h"

namespace portcullis::filters::jwt {
namespace {

// Digests fetched once: passing EVP_sha256() and friends would make OpenSSL 3 look the
// implementation up again on every verification.
struct Digests {
  EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  EVP_MD* sha384 = EVP_MD_fetch(nullptr, "SHA2-384", nullptr);
  EVP_MD* sha512 = EVP_MD_fetch(nullptr, "SHA2-512", nullptr);
  ~Digests() {
    EVP_MD_free(sha256);
    EVP_MD_free(sha384);
    EVP_MD_free(sha512);
  }
};

const EVP_MD* digest_for(Alg alg) {
  static const Digests digests;
  switch (alg) {
    case Alg::hs256: case Alg::rs256: case Alg::ps256: case Alg::es256: return digests.sha256;
    case Alg::hs384: case Alg::rs384: case Alg::ps384: case Alg::es384: return digests.sha384;
    case Alg::hs512: case Alg::rs512: case Alg::ps512: return digests.sha512;
  }
  return nullptr;
}

bool is_pss(Alg alg) { return alg == Alg::ps256 || alg == Alg::ps384 || alg == Alg::ps512; }
bool is_ec(Alg alg) { return alg == Alg::es256 || alg == Alg::es384; }

// One DER INTEGER from an unsigned big-endian number: leading zeros dropped, a zero byte added
// when the top bit is set (DER integers are signed).
std::size_t der_integer(const unsigned char* p, std::size_t n, unsigned char* out) {
  while (n > 1 && *p == 0) {
    ++p;
    --n;
  }
  const std::size_t pad = (*p & 0x80) ? 1 : 0;
  out[0] = 0x02;
  out[1] = static_cast<unsigned char>(n + pad);
  out[2] = 0;
  std::memcpy(out + 2 + pad, p, n);
  return 2 + pad + n;
}

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
};

bool verify_hmac(const Key& key, Alg alg, std::string_view input, std::string_view signature) {
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);  // once, not per token
  const char* digest = alg == Alg::hs256 ? "SHA2-256" : alg == Alg::hs384 ? "SHA2-384" : "SHA2-512";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
                         OSSL_PARAM_construct_end()};
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(hmac ? EVP_MAC_CTX_new(hmac) : nullptr);
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t mac_len = 0;
  if (!ctx || EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.secret.data()), key.secret.size(),
                           params) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1 ||
      EVP_MAC_final(ctx.get(), mac, &mac_len, sizeof mac) != 1)
    return false;
  return signature.size() == mac_len && CRYPTO_memcmp(mac, signature.data(), mac_len) == 0;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};

}  // namespace

bool verify_signature(const Key& key, Alg alg, std::string_view input, std::string_view signature) {
  if (!key.fits(alg)) return false;
  if (key.type == KeyType::oct) return verify_hmac(key, alg, input, signature);
  if (signature.size() != key.signature_bytes) return false;
  unsigned char der[2 + 2 * (3 + 66)];
  const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());
  std::size_t sig_len = signature.size();
  if (is_ec(alg)) {
    const std::size_t half = signature.size() / 2;
    std::size_t len = der_integer(sig, half, der + 2);
    len += der_integer(sig + half, half, der + 2 + len);
    der[0] = 0x30;
    der[1] = static_cast<unsigned char>(len);  // at most 2 x 51 bytes: the short length form
    sig = der;
    sig_len = len + 2;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = digest_for(alg);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key.pkey.get()) != 1) return false;
  if (is_pss(alg) && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                      EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
                      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
    return false;
  return EVP_DigestVerify(ctx.get(), sig, sig_len, reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

namespace {
std::atomic<std::int64_t> pinned_now{0};
}

std::int64_t now_seconds() {
  const std::int64_t pinned = pinned_now.load(std::memory_order_relaxed);
  if (pinned != 0) return pinned;
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void pin_clock_for_tests(std::int64_t seconds) { pinned_now.store(seconds, std::memory_order_relaxed); }

}  // namespace portcullis::filters::jwt
