// Canonical form of a request path for matching: one decoding pass and dot-segment removal, done
// in a single left-to-right sweep so a path costs one pass and at most one allocation.
#include "routing/path.h"

namespace portcullis::routing {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Raw bytes a request-target may never carry. Bytes >= 0x80 are let through: the parser decides
// whether obs-text is acceptable, and matching simply treats them as text.
bool forbidden_raw(unsigned char c) { return c <= 0x20 || c == 0x7f; }

}  // namespace

PathError canonicalize_path(std::string_view raw_path, std::string& out) {
  out.clear();
  if (raw_path.empty() || raw_path.front() != '/') return PathError::not_absolute;
  out.reserve(raw_path.size());

  // `out` only ever holds "/segment" runs, and a decoded slash is written as the text "%2F", so
  // the last real separator in `out` is always where the previous segment starts. That lets ".."
  // pop with rfind instead of keeping a separate stack of segment offsets.
  bool last_was_dot = false;
  std::size_t pos = 1;  // just past the leading '/'
  for (;;) {
    const std::size_t seg_start = out.size();
    out += '/';
    std::size_t i = pos;
    for (; i < raw_path.size() && raw_path[i] != '/'; ++i) {
      const char c = raw_path[i];
      if (forbidden_raw(static_cast<unsigned char>(c))) return PathError::bad_character;
      if (c != '%') {
        out += c;
        continue;
      }
      if (i + 2 >= raw_path.size()) return PathError::bad_percent_encoding;
      const int hi = hex_value(raw_path[i + 1]);
      const int lo = hex_value(raw_path[i + 2]);
      if (hi < 0 || lo < 0) return PathError::bad_percent_encoding;
      const char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '\0') return PathError::bad_percent_encoding;
      // An encoded slash is data, not structure: keep it escaped so it can never split or climb.
      // An encoded slash is data, and an encoded '%' stays encoded too, so that every '%' left in
      // the canonical path starts an escape and the path can be re-encoded unambiguously.
      if (decoded == '/')
        out += "%2F";
      else if (decoded == '%')
        out += "%25";
      else
        out += decoded;
      i += 2;
    }

    const std::string_view segment = std::string_view(out).substr(seg_start + 1);
    last_was_dot = segment == "." || segment == "..";
    if (segment == "..") {
      out.resize(seg_start);
      const std::size_t prev = out.rfind('/');
      // Clamping to "/" would quietly route "/../admin" like "/admin"; refusing is safer.
      if (prev == std::string::npos) return PathError::above_root;
      out.resize(prev);
    } else if (segment == ".") {
      out.resize(seg_start);
    }

    if (i >= raw_path.size()) break;
    pos = i + 1;
  }

  // A path that ended in a dot-segment names a directory ("/a/b/.." is "/a/"), as in RFC 3986.
  if (last_was_dot) out += '/';
  return PathError::none;
}

std::string encode_path(std::string_view canonical) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(canonical.size() + 8);
  for (unsigned char c : canonical) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 std::string_view("-._~!$&'()*+,;=:@/%").find(static_cast<char>(c)) != std::string_view::npos;
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace portcullis::routing
