// The example backend's text helpers: tokens, field lists, numbers, JSON strings, the Date header,
// the /bytes pattern, and its read buffer. Included by backend.cpp only.
#pragma once
#include <boost/asio/buffer.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace backend {

constexpr std::size_t initial_buffer = 4 * 1024;  // holds any ordinary request head
constexpr std::size_t io_chunk = 64 * 1024;       // body reads and /bytes writes
constexpr auto npos = std::string_view::npos;

// ---------------------------------------------------------------------------------------------
// Text helpers

constexpr std::array<bool, 256> make_token_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto token_table = make_token_table();

inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!token_table[static_cast<unsigned char>(c)]) return false;
  return true;
}


inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

inline std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Calls fn on each non-empty element of a comma-separated field value; stops at the first false.
template <typename Fn>
inline bool for_each_element(std::string_view list, Fn fn) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty() && !fn(item)) return false;
    list = comma == npos ? std::string_view{} : list.substr(comma + 1);
  }
  return true;
}

// 1*DIGIT, capped at 18 digits so the value can never overflow.
inline bool parse_decimal(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  std::uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = n;
  return true;
}


inline void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

inline const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: break;
  }
  // Any other code still gets a phrase naming its class; clients must not depend on it anyway.
  if (status < 300) return "Success";
  if (status < 400) return "Redirection";
  if (status < 500) return "Client Error";
  return "Server Error";
}

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 where there is none.
inline std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = at(i), lo = 0x80, hi = 0xbf;
  std::size_t n = 0;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  if (c >= 0xe0 && c <= 0xef) n = 3;
  if (c >= 0xf0 && c <= 0xf4) n = 4;
  if (c == 0xe0) lo = 0xa0;  // overlong
  if (c == 0xed) hi = 0x9f;  // surrogates
  if (c == 0xf0) lo = 0x90;  // overlong
  if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
  if (n == 0 || i + n > s.size() || at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (at(i + k) < 0x80 || at(i + k) > 0xbf) return 0;
  return n;
}

// Appends s as a JSON string. Header values may hold obs-text that is not UTF-8; such bytes are
// read as Latin-1 so the document always parses.
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c >= 0x80 ? utf8_length(s, i) : 0;
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x80) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

// Origin servers with a clock send Date; formatting it once a second keeps it off the hot path.
inline std::string_view http_date() {
  static std::time_t cached = -1;
  static char text[64];
  static std::size_t length = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = now;
  }
  return {text, length};
}

// The /bytes body: one shared 64 KiB block, so a download of any size costs no memory per client.
inline std::string_view pattern_block() {
  static const std::string block(io_chunk, 'x');
  return block;
}

// ---------------------------------------------------------------------------------------------
// Read buffer: bytes received but not yet consumed, kept contiguous so a head parses in place.

class ReadBuffer {
 public:
  ReadBuffer() : data_(initial_buffer) {}

  std::string_view view() const { return {data_.data() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }

  // Only moves the start: views handed out stay valid until the next prepare().
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Free space of at least `want` bytes after the data, compacting first and growing if needed.
  boost::asio::mutable_buffer prepare(std::size_t want) {
    if (data_.size() - end_ < want && begin_ > 0) {
      std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (data_.size() - end_ < want) data_.resize(std::max(end_ + want, data_.size() * 2));
    return boost::asio::buffer(data_.data() + end_, data_.size() - end_);
  }

  void commit(std::size_t n) { end_ += n; }

  // Gives back memory a large body or head needed once the data fits the ordinary size again.
  void shrink() {
    if (data_.size() <= initial_buffer || size() > initial_buffer) return;
    std::vector<char> smaller(initial_buffer);
    std::memcpy(smaller.data(), data_.data() + begin_, size());
    end_ = size();
    begin_ = 0;
    data_.swap(smaller);
  }

 private:
  std::vector<char> data_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace backend
