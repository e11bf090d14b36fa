// The HMAC Authorization header, its signed-header list and the IMF-fixdate on arbitrary bytes.
// A parsed header's parameters are views into it without quotes; the names of a parsed list are
// non-empty, lower case, distinct, space-free and at most max_signed_headers; a parsed date formats
// back to the same text (the weekday aside, which is not checked).
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "filters/auth/hmac_signature.h"
#include "fuzz_check.h"

using namespace portcullis::filters::hmac;

namespace {

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check_header(std::string_view text) {
  Signature sig;
  if (parse_authorization(text, true, true, sig)) return;
  for (std::string_view part : {sig.key_id, sig.headers, sig.signature}) {
    FUZZ_CHECK(inside(part, text));
    FUZZ_CHECK(part.find('"') == std::string_view::npos);
  }
  const std::size_t first = text.find_first_not_of(" \t\r"), last = text.find_last_not_of(" \t\r");
  FUZZ_CHECK(first != std::string_view::npos && last - first + 1 <= max_authorization);
  Signature refused;
  FUZZ_CHECK(parse_authorization(text, false, false, refused) != nullptr);
}

void check_names(std::string_view text) {
  SignedNames names;
  if (split_signed_names(text, names)) return;
  FUZZ_CHECK(names.count <= max_signed_headers);
  for (std::size_t i = 0; i < names.count; ++i) {
    const std::string_view name = names.names[i];
    FUZZ_CHECK(!name.empty() && inside(name, text));
    FUZZ_CHECK(name.find(' ') == std::string_view::npos);
    for (char c : name) FUZZ_CHECK(c < 'A' || c > 'Z');
    for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(names.names[j] != name);
  }
}

void check_date(std::string_view text) {
  const auto seconds = parse_imf_fixdate(text);
  if (!seconds) return;
  FUZZ_CHECK(*seconds >= 0);
  if (text.substr(23, 2) == "60") return;  // a leap second formats as the next minute
  const std::time_t t = static_cast<std::time_t>(*seconds);
  std::tm tm{};
  FUZZ_CHECK(gmtime_r(&t, &tm) != nullptr);
  char back[64];
  const std::size_t n = std::strftime(back, sizeof back, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  FUZZ_CHECK(n == 29 && std::string_view(back + 5, n - 5) == text.substr(5));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  check_header(text);
  check_names(text);
  check_date(text);
  return 0;
}
