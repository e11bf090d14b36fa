// Path canonicalisation on arbitrary bytes: a canonical path starts with '/', has no dot-segment
// and no NUL, and encoding it for upstream gives a path that canonicalises back to it. (The
// canonical path itself may hold bytes a raw path may not, decoded from %20 or %1E, so it is not
// fed back raw.)
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "routing/path.h"

using namespace portcullis::routing;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(bytes), size);
  std::string canonical;
  if (canonicalize_path(raw, canonical) != PathError::none) return 0;
  FUZZ_CHECK(!canonical.empty() && canonical[0] == '/');
  FUZZ_CHECK(canonical.find('\0') == std::string::npos);
  const std::string wrapped = canonical + "/";
  FUZZ_CHECK(wrapped.find("/./") == std::string::npos && wrapped.find("/../") == std::string::npos);
  std::string round_trip;
  FUZZ_CHECK(canonicalize_path(encode_path(canonical), round_trip) == PathError::none && round_trip == canonical);
  return 0;
}
