// Header blocks as they arrive (see header_block.h).
#include "http/h2/header_block.h"

namespace portcullis::http::h2 {

void HeaderBlock::clear() {
  fields.clear();
  text_.clear();
  at_.clear();
  bytes = 0;
}

bool HeaderBlock::add(std::string_view name, std::string_view value, std::size_t limit) {
  bytes += name.size() + value.size() + 32;
  if (bytes > limit) return false;
  at_.push_back(static_cast<std::uint32_t>(text_.size()));
  at_.push_back(static_cast<std::uint32_t>(name.size()));
  at_.push_back(static_cast<std::uint32_t>(value.size()));
  text_.append(name);
  text_.append(value);
  return true;
}

void HeaderBlock::finish() {
  fields.clear();
  const std::string_view text = text_;
  for (std::size_t i = 0; i + 2 < at_.size(); i += 3)
    fields.add(text.substr(at_[i], at_[i + 1]), text.substr(at_[i] + at_[i + 1], at_[i + 2]));
}

// --- the request -----------------------------------------------------------------------------------

}  // namespace portcullis::http::h2
