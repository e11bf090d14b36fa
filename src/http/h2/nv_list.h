// Header fields as nghttp2 takes them: names and values copied into one text (names lower-cased
// when asked, as HTTP/2 wants them), their nghttp2_nv entries pointed at the text once it is
// complete (it may move while it grows). Cleared and refilled per message, its memory is kept.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nghttp2/nghttp2.h>

namespace portcullis::http::h2 {

class NvList {
 public:
  void clear() {
    text_.clear();
    at_.clear();
    nv_.clear();
  }
  // `prefix` goes before the value (Via's protocol version).
  void add(std::string_view name, std::string_view value, bool fold = false, std::string_view prefix = {}) {
    at_.push_back(text_.size());
    if (fold) {
      for (char c : name) text_.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c);
    } else {
      text_.append(name);
    }
    text_.append(prefix);
    text_.append(value);
    nv_.push_back({nullptr, nullptr, name.size(), prefix.size() + value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  // The entries, pointing into the text; valid until the next add() or clear().
  const std::vector<nghttp2_nv>& finish() {
    auto* base = reinterpret_cast<std::uint8_t*>(text_.data());
    for (std::size_t i = 0; i < nv_.size(); ++i) {
      nv_[i].name = base + at_[i];
      nv_[i].value = nv_[i].name + nv_[i].namelen;
    }
    return nv_;
  }
  const std::vector<nghttp2_nv>& entries() const { return nv_; }  // after finish()
  bool empty() const { return nv_.empty(); }

 private:
  std::string text_;
  std::vector<std::size_t> at_;
  std::vector<nghttp2_nv> nv_;
};

}  // namespace portcullis::http::h2
