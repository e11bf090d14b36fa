// The chunked transfer coding's decoder (RFC 9112 7.1). See parser.h for the contract.
#include "http/parser.h"

namespace portcullis::http {

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), where the name is a
// token and the value a token or a quoted-string (RFC 9112 7.1.1). One character of it, after
// the first ";": false when it breaks the grammar.
bool ChunkedDecoder::extension_char(unsigned char c) {
  const bool ws = c == ' ' || c == '\t';
  const bool token = is_token_char(c);
  switch (extension_) {
    case Ext::before_name:
      if (token) extension_ = Ext::name;
      return ws || token;
    case Ext::name:
    case Ext::after_name:
      if (token && extension_ == Ext::name) return true;
      if (ws) extension_ = Ext::after_name;
      else if (c == '=') extension_ = Ext::before_value;
      else if (c == ';') extension_ = Ext::before_name;
      else return false;
      return true;
    case Ext::before_value:
      if (c == '"') extension_ = Ext::quoted;
      else if (token) extension_ = Ext::token_value;
      else return ws;
      return true;
    case Ext::token_value:
    case Ext::after_value:
      if (token && extension_ == Ext::token_value) return true;
      if (ws) extension_ = Ext::after_value;
      else if (c == ';') extension_ = Ext::before_name;
      else return false;
      return true;
    case Ext::quoted:  // qdtext: HTAB, SP, VCHAR but '"' and '\\', obs-text
      if (c == '"') extension_ = Ext::after_value;
      else if (c == '\\') extension_ = Ext::quoted_escape;
      else return ws || (c >= 0x21 && c != 0x7f);
      return true;
    case Ext::quoted_escape:  // quoted-pair: "\\" ( HTAB / SP / VCHAR / obs-text )
      extension_ = Ext::quoted;
      return ws || (c >= 0x21 && c != 0x7f);
  }
  return false;
}

// Whether a chunk-size line may end here: after a name or a complete value, not after ";", "="
// or inside a quoted-string.
bool ChunkedDecoder::extension_can_end() const {
  return extension_ == Ext::name || extension_ == Ext::after_name || extension_ == Ext::token_value ||
         extension_ == Ext::after_value;
}

// One character of a chunk-size line before any extension: a hex digit, whitespace before ";",
// ";" or the CR that ends the line.
ChunkedDecoder::Result ChunkedDecoder::size_char(char c) {
  const int digit = (c >= '0' && c <= '9') ? c - '0'
                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
  if (digit >= 0) {
    if (in_bws_) return fail("whitespace inside chunk size");
    if (++size_digits_ > 15) return fail("chunk size too large");
    remaining_ = remaining_ * 16 + static_cast<unsigned>(digit);
    return Result::need_more;
  }
  if (size_digits_ == 0) return fail("invalid chunk size");
  if (c == ' ' || c == '\t') {
    in_bws_ = true;
  } else if (c == ';') {
    state_ = State::extension;
    extension_ = Ext::before_name;
  } else if (c == '\r') {
    // Whitespace after the size is allowed only before an extension (RFC 9112 7.1.1).
    if (in_bws_) return fail("whitespace after chunk size");
    state_ = State::size_lf;
  } else {
    return fail(c == '\n' ? "chunk size line ends in bare LF" : "invalid chunk size");
  }
  return Result::need_more;
}

ChunkedDecoder::Result ChunkedDecoder::next(std::string_view& in, std::string_view& out) {
  while (!in.empty()) {
    const char c = in.front();
    switch (state_) {
      case State::size:
        if (size_char(c) == Result::error) return Result::error;
        in.remove_prefix(1);
        break;
      case State::extension:
        if (c == '\r') {
          if (!extension_can_end()) return fail(extension_ == Ext::quoted || extension_ == Ext::quoted_escape
                                                    ? "unterminated quoted chunk extension value"
                                                    : "incomplete chunk extension");
          state_ = State::size_lf;
          in.remove_prefix(1);
          break;
        }
        if (c == '\n') return fail("chunk extension ends in bare LF");
        if (++extension_bytes_ > max_extension_) return fail("chunk extension too long");
        if (!extension_char(static_cast<unsigned char>(c))) return fail("invalid chunk extension");
        in.remove_prefix(1);
        break;
      case State::size_lf:
        if (c != '\n') return fail("chunk size line without LF");
        in.remove_prefix(1);
        size_digits_ = 0;
        in_bws_ = false;
        extension_bytes_ = 0;
        state_ = remaining_ == 0 ? State::trailer_line : State::data;
        line_bytes_ = 0;
        break;
      case State::data: {
        std::size_t n = in.size() < remaining_ ? in.size() : static_cast<std::size_t>(remaining_);
        out = in.substr(0, n);
        in.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::data_cr;
        return Result::data;
      }
      case State::data_cr:
        if (c != '\r') return fail("chunk data not followed by CRLF");
        state_ = State::data_lf;
        in.remove_prefix(1);
        break;
      case State::data_lf:
        if (c != '\n') return fail("chunk data not followed by CRLF");
        state_ = State::size;
        in.remove_prefix(1);
        break;
      case State::trailer_line:
        if (++trailer_bytes_ > max_trailer_) return fail("trailer section too large");
        if (c == '\r') { state_ = State::trailer_lf; in.remove_prefix(1); break; }
        if (c == '\n') return fail("trailer line ends in bare LF");
        if (!is_field_value_char(static_cast<unsigned char>(c))) return fail("invalid character in trailer");
        if (trailers_) trailers_->push_back(c);
        ++line_bytes_;
        in.remove_prefix(1);
        break;
      case State::trailer_lf:
        if (c != '\n') return fail("trailer line without LF");
        in.remove_prefix(1);
        if (line_bytes_ == 0) {
          state_ = State::done;
          return Result::done;
        }
        line_bytes_ = 0;
        if (trailers_) trailers_->push_back('\n');
        state_ = State::trailer_line;
        break;
      case State::done:
        return Result::done;
    }
  }
  return state_ == State::done ? Result::done : Result::need_more;
}

}  // namespace portcullis::http
