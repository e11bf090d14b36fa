// The chunked decoder on arbitrary bytes, fed in pieces the input's first byte chooses: every data
// span lies inside the piece it came from, the body is never longer than the input, and once the
// decoder says done or error it stays there.
#include <algorithm>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "http/parser.h"

using portcullis::http::ChunkedDecoder;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + bytes[0] % 17;
  std::string_view rest(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  ChunkedDecoder decoder;
  std::size_t body = 0;
  ChunkedDecoder::Result last = ChunkedDecoder::Result::need_more;
  while (!rest.empty() && last != ChunkedDecoder::Result::done && last != ChunkedDecoder::Result::error) {
    const std::string_view fed = rest.substr(0, std::min(piece, rest.size()));
    std::string_view in = fed;
    for (;;) {
      std::string_view out;
      const std::size_t before = in.size();
      last = decoder.next(in, out);
      FUZZ_CHECK(in.size() <= before);
      if (last == ChunkedDecoder::Result::data) {
        FUZZ_CHECK(!out.empty() && out.data() >= fed.data() && out.data() + out.size() <= fed.data() + fed.size());
        body += out.size();
        continue;
      }
      break;
    }
    if (last == ChunkedDecoder::Result::need_more) FUZZ_CHECK(in.empty());
    rest.remove_prefix(fed.size() - in.size());
    if (last == ChunkedDecoder::Result::need_more && in.size() == fed.size() && fed.size() == rest.size()) break;
  }
  FUZZ_CHECK(body <= size);
  if (last == ChunkedDecoder::Result::error) FUZZ_CHECK(decoder.error() && *decoder.error());
  return 0;
}
