// JWS compact tokens on arbitrary bytes, every algorithm allowed: a token is taken apart or refused
// with a reason; one taken apart signed exactly its first two parts, its decoded parts are no longer
// than the text, its signature fits its algorithm, and its claims go through the JSON parser as the
// filter's would (for the sanitizers, nothing asserted). With no algorithm allowed, nothing is
// ever accepted.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "filters/auth/jwt_token.h"
#include "fuzz_check.h"

using namespace portcullis::filters::jwt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  std::array<bool, alg_count> all{};
  all.fill(true);
  Token token;
  const char* problem = decode_token(text, all, token);
  if (problem) {
    FUZZ_CHECK(*problem != '\0');
  } else {
    FUZZ_CHECK(token.signing_input.data() == text.data());
    FUZZ_CHECK(token.signing_input.size() < text.size() && text[token.signing_input.size()] == '.');
    FUZZ_CHECK(token.signing_input.find('.') != std::string_view::npos);
    FUZZ_CHECK(text.substr(token.signing_input.size() + 1).find('.') == std::string_view::npos);
    FUZZ_CHECK(token.header_text.size() + token.payload_text.size() + token.signature.size() <= size);
    FUZZ_CHECK(signature_length_ok(token.alg, token.signature.size()));
    FUZZ_CHECK(!token.has_kid || token.kid.size() <= token.header_text.size());
    (void)nlohmann::json::parse(token.payload_text, nullptr, false);
  }
  const std::array<bool, alg_count> none{};
  Token refused;
  FUZZ_CHECK(decode_token(text, none, refused) != nullptr);
  return 0;
}
