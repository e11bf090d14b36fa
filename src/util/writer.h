// Appending many small pieces to a std::string without a capacity check and a terminator write per
// piece: room is made in one step and the pieces are copied through a raw pointer. The string is
// trimmed to what was written when the writer goes away. For the heads and log lines the data path
// builds per request, into strings whose capacity is kept from one request to the next.
#pragma once
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace portcullis {

class StringWriter {
 public:
  // `expect`: the bytes this writer will probably append (more is fine: it grows).
  explicit StringWriter(std::string& out, std::size_t expect = 1024) : out_(out), used_(out.size()) { grow(expect); }
  ~StringWriter() { out_.resize(used()); }
  StringWriter(const StringWriter&) = delete;
  StringWriter& operator=(const StringWriter&) = delete;

  void put(std::string_view s) {
    if (static_cast<std::size_t>(end_ - cur_) < s.size()) grow(s.size());
    std::memcpy(cur_, s.data(), s.size());
    cur_ += s.size();
  }
  void put(char c) {
    if (cur_ == end_) grow(1);
    *cur_++ = c;
  }
  void number(std::uint64_t n) {
    if (end_ - cur_ < 24) grow(24);
    cur_ = std::to_chars(cur_, cur_ + 24, n).ptr;
  }
  // Room for `n` bytes written directly at the returned pointer; advance() says how many were.
  char* room(std::size_t n) {
    if (static_cast<std::size_t>(end_ - cur_) < n) grow(n);
    return cur_;
  }
  void advance(std::size_t n) { cur_ += n; }
  std::size_t used() const { return static_cast<std::size_t>(cur_ - out_.data()); }

 private:
  // Makes the string long enough for `n` more bytes (and some slack); the string keeps its
  // capacity between writers, so this is usually a fill of the new bytes, not an allocation.
  void grow(std::size_t n) {
    const std::size_t at = cur_ ? used() : used_;
    if (out_.size() < at + n) out_.resize(at + n + 256);
    cur_ = out_.data() + at;
    end_ = out_.data() + out_.size();
  }

  std::string& out_;
  std::size_t used_;
  char* cur_ = nullptr;
  char* end_ = nullptr;
};

}  // namespace portcullis
