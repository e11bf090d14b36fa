// A JSON Web Token in the JWS compact form taken apart (RFC 7515 3.1 and 7.1, RFC 7519 7.2):
// three base64url parts, a header that is a JSON object naming an accepted algorithm, and a
// signature of exactly that algorithm's size. The claims are parsed by the filter only once the
// signature has been checked.
#pragma once
#include <array>
#include <string>
#include <string_view>

#include "filters/auth/jwks.h"

namespace portcullis::filters::jwt {

struct Token {
  std::string header_text, payload_text, signature;  // decoded; reused from one token to the next
  std::string_view signing_input;                     // "header.payload" as sent: what was signed
  Alg alg = Alg::hs256;
  bool has_kid = false;
  std::string kid;
};

// nullptr when `text` is a well-formed token whose algorithm `allowed` holds, else the refusal's
// reason ("malformed token", "algorithm not accepted", "unsupported critical header"). `none` and
// unknown algorithm names are never accepted.
const char* decode_token(std::string_view text, const std::array<bool, alg_count>& allowed, Token& out);

// The size a signature of `alg` must have: an HMAC's digest, ES's raw r||s, RSA's modulus (2048 to
// 8192 bits here; the key checks it exactly).
bool signature_length_ok(Alg alg, std::size_t size);

}  // namespace portcullis::filters::jwt
