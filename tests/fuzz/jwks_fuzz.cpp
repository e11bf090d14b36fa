// JWKS documents and base64url on arbitrary bytes: a key set parses or gives an error message;
// base64url output is never longer than its input.
#include <cstdint>
#include <string>
#include <string_view>

#include "filters/auth/jwks.h"
#include "fuzz_check.h"

using namespace portcullis::filters::jwt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  std::string error;
  auto keys = parse_jwks(data, error);
  if (!keys) FUZZ_CHECK(!error.empty());
  std::string decoded;
  if (base64url_decode(data, decoded)) FUZZ_CHECK(decoded.size() <= size);
  return 0;
}
