// The response head parser on arbitrary bytes: a complete head fits in what it was given, has a
// status from 100 to 999 and at most one framing; field values hold no CR, LF or NUL.
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "http/parser.h"

using namespace portcullis::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  ResponseHead head;
  ResponseFraming framing;
  const ParseResult r = parse_response_head(data, 65536, head, framing);
  if (r.status != ParseStatus::complete) return 0;
  FUZZ_CHECK(head.head_bytes > 0 && head.head_bytes <= size);
  FUZZ_CHECK(head.status >= 100 && head.status <= 999);
  FUZZ_CHECK(!(head.chunked && head.has_content_length));
  for (const auto& f : head.fields.items())
    for (char c : f.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
  return 0;
}
