// jwt filter: checks a bearer JSON Web Token (signature, exp/nbf, iss, aud) before the request
// goes on, forwards chosen claims to the origin as request headers and names the consumer.
#pragma once
#include <cstdint>
#include <memory>
#include <string_view>

#include "filters/auth/jwks.h"
#include "pipeline/registry.h"

namespace portcullis::filters {

std::unique_ptr<Filter> make_jwt(FilterBuild& build);

namespace jwt {

// Verifies a JWS signature over `signing_input` ("header.payload" as sent) with `key`, which must
// fit `alg` (Key::fits). ES signatures are JOSE's raw r||s (RFC 7518 3.4), of exactly the curve's
// size; RSA ones exactly the modulus size.
bool verify_signature(const Key& key, Alg alg, std::string_view signing_input, std::string_view signature);

// Seconds since the Unix epoch, as exp and nbf are compared with. Tests pin it (0 = the real
// clock) to check the leeway boundaries to the second.
std::int64_t now_seconds();
void pin_clock_for_tests(std::int64_t seconds);

}  // namespace jwt
}  // namespace portcullis::filters
