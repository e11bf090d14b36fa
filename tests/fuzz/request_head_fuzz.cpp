// The request head parser on arbitrary bytes: a complete head never claims more bytes than it was
// given, never carries both Content-Length and chunked framing, and only ever holds views into
// the input; an error always has a 4xx/5xx status.
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "http/parser.h"

using namespace portcullis::http;

namespace {
bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  RequestHead head;
  const ParseResult r = parse_request_head(data, ParseLimits{}, head);
  if (r.status == ParseStatus::error) FUZZ_CHECK(r.error_status >= 400 && r.error_status < 600);
  if (r.status != ParseStatus::complete) return 0;
  FUZZ_CHECK(head.head_bytes > 0 && head.head_bytes <= size);
  FUZZ_CHECK(!(head.chunked && head.has_content_length));
  FUZZ_CHECK(inside(head.method_text, data) && inside(head.target, data) && inside(head.host, data));
  for (const auto& f : head.fields.items()) {
    FUZZ_CHECK(!f.name.empty());
    for (char c : f.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
  }
  return 0;
}
