// A header block as nghttp2 hands it over, field by field: names and values copied into one text,
// views into it made once the block is complete. Response heads and trailers from origins, and
// request trailers from clients.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace portcullis::http::h2 {

class HeaderBlock {
 public:
  void clear();
  // False once the block is over `limit` bytes (RFC 9113 counting: name + value + 32 a field).
  bool add(std::string_view name, std::string_view value, std::size_t limit);
  void finish();  // the views into the text, in `fields`
  Fields fields;
  std::size_t bytes = 0;

 private:
  std::string text_;
  std::vector<std::uint32_t> at_;  // offset, name size, value size: three entries a field
};

}  // namespace portcullis::http::h2
