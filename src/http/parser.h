// Strict HTTP/1.1 head parsing and chunked decoding (RFC 9110 / RFC 9112). The gateway sits in front
// of servers that may read a message differently from it, so anything ambiguous is refused here,
// before it can reach an upstream: the parser follows the RFC where the trusted proxies disagree.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"

namespace portcullis::http {

struct ParseLimits {
  std::size_t max_request_line = 8192;
  std::size_t max_head_bytes = 65536;
  std::size_t max_fields = 100;
};

enum class ParseStatus { incomplete, complete, error };

struct ParseResult {
  ParseStatus status = ParseStatus::incomplete;
  int error_status = 0;       // 400, 414, 431, 501, 505, 417, ... when status == error
  const char* error_message = "";
};

// Parses a request head from the start of `data` (which may hold more than the head). On complete,
// `head` views into `data` and head.head_bytes tells how much it used. Leading empty lines are
// skipped (RFC 9112 section 2.2) and counted in head_bytes.
ParseResult parse_request_head(std::string_view data, const ParseLimits& limits, RequestHead& head);

// Parses a response head. Errors mean the upstream sent something the gateway will not relay
// (the caller answers 502). Framing: CL and TE together -> chunked wins and CL is removed;
// a final coding other than chunked -> the body runs to connection close.
struct ResponseFraming {
  bool until_close = false;  // no length: read to EOF
};
ParseResult parse_response_head(std::string_view data, std::size_t max_head_bytes, ResponseHead& head,
                                ResponseFraming& framing);

// Incremental chunked-body decoder. Feed it bytes; it hands out data spans (views into the input)
// and reports the end of the body. Trailers are never merged into the header section: they are
// read and discarded, or kept as their lines for a sink that can send them on (keep_trailers).
class ChunkedDecoder {
 public:
  enum class Result { need_more, data, done, error };

  explicit ChunkedDecoder(std::size_t max_extension_bytes = 1024, std::size_t max_trailer_bytes = 8192)
      : max_extension_(max_extension_bytes), max_trailer_(max_trailer_bytes) {}

  // Consumes from the front of `in`. On Result::data, `out` is a non-empty span of body bytes.
  Result next(std::string_view& in, std::string_view& out);
  const char* error() const { return error_; }
  void reset() { *this = ChunkedDecoder(max_extension_, max_trailer_); }
  // The trailer section's lines go into `sink`, each ended by '\n' (at most max_trailer_bytes).
  void keep_trailers(std::string* sink) { trailers_ = sink; }

 private:
  enum class State { size, extension, size_lf, data, data_cr, data_lf, trailer_line, trailer_lf, done };
  // Where in a chunk extension the decoder is (see chunked.cpp).
  enum class Ext : std::uint8_t { before_name, name, after_name, before_value, token_value, quoted, quoted_escape, after_value };
  Result size_char(char c);
  bool extension_char(unsigned char c);
  bool extension_can_end() const;
  Result fail(const char* why) {
    error_ = why;
    return Result::error;
  }

  State state_ = State::size;
  std::uint64_t remaining_ = 0;
  int size_digits_ = 0;
  std::size_t extension_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
  std::size_t line_bytes_ = 0;
  bool in_bws_ = false;
  Ext extension_ = Ext::before_name;
  std::string* trailers_ = nullptr;
  std::size_t max_extension_;
  std::size_t max_trailer_;
  const char* error_ = "";
};

// Whether `bytes` (what one read returned) are exactly one whole response and nothing after it:
// a head with Content-Length and that many body bytes, a 204 or 304 head, or a chunked body that
// ends with its last chunk. Conservative, false whenever in doubt: the reads use it to know that
// a socket has nothing more to give until the next request (http/stream.cpp).
bool holds_whole_response(std::string_view bytes);
// The same for a request read: it ended exactly at the end of a head (CRLF CRLF).
inline bool ends_at_head_end(std::string_view bytes) { return bytes.ends_with("\r\n\r\n"); }

// Token characters (RFC 9110 5.6.2).
bool is_token_char(unsigned char c);
// field-vchar / SP / HTAB / obs-text (RFC 9110 5.5).
bool is_field_value_char(unsigned char c);

// Validates a Host value: reg-name / IPv4 / [IPv6] with an optional :port. Empty is valid.
bool valid_host(std::string_view host);

// Splits a comma-separated list value, calling fn(token) for each trimmed non-empty element.
template <class Fn>
void for_each_list_item(std::string_view value, Fn&& fn) {
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace portcullis::http
