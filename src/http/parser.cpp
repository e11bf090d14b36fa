// Strict HTTP/1.1 head parsing and chunked decoding. See parser.h for the contract.
#include "http/parser.h"

#include <array>
#include <charconv>
#include <cstring>

namespace portcullis::http {
namespace {

constexpr std::array<bool, 256> make_token_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto token_table = make_token_table();

// field-vchar / SP / HTAB / obs-text; everything else (CTLs, DEL, NUL, bare CR) is refused.
constexpr std::array<bool, 256> make_value_table() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<std::size_t>(c)] = c == '\t' || (c >= 0x20 && c != 0x7f);
  return t;
}
constexpr auto value_table = make_value_table();
inline bool is_value_char(unsigned char c) { return value_table[c]; }

ParseResult error(int status, const char* message) {
  return ParseResult{ParseStatus::error, status, message};
}

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Finds the end of the head ("\r\n\r\n"); returns npos when not yet there.
std::size_t find_head_end(std::string_view data) {
  std::size_t pos = data.find("\r\n\r\n");
  return pos == std::string_view::npos ? pos : pos + 4;
}

// Parses "HTTP/1.x" into 10/11; returns 0 when malformed, -1 when well-formed but unsupported.
int parse_version(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.') return 0;
  if (v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9') return 0;
  if (v[5] == '1' && v[7] == '1') return 11;
  if (v[5] == '1' && v[7] == '0') return 10;
  return -1;
}

// Content-Length: 1*DIGIT, identical repeats ("5, 5" or two fields) allowed, anything else refused.
bool merge_content_length(std::string_view value, bool& seen, std::uint64_t& length) {
  bool ok = true;
  bool any = false;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t comma = value.find(',', start);
    std::string_view item = trim_ows(value.substr(start, comma == std::string_view::npos ? value.npos : comma - start));
    if (item.empty() || item.size() > 19) return false;
    std::uint64_t n = 0;
    for (char c : item) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (seen && n != length) ok = false;
    seen = true;
    length = n;
    any = true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return ok && any;
}

// Parses the field lines between `data` start and the final CRLF. Shared by requests and responses.
ParseResult parse_fields(std::string_view block, std::size_t max_fields, Fields& fields) {
  while (!block.empty()) {
    std::size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol + 2);
    if (line.front() == ' ' || line.front() == '\t') return error(400, "obsolete line folding");
    std::size_t colon = 0;
    while (colon < line.size() && token_table[static_cast<unsigned char>(line[colon])]) ++colon;
    if (colon == line.size()) return error(400, "header line without a colon");
    if (line[colon] != ':') {
      return error(400, line[colon] == ' ' || line[colon] == '\t' ? "whitespace before colon in header"
                                                                  : "invalid character in header name");
    }
    if (colon == 0) return error(400, "empty header name");
    std::string_view value = line.substr(colon + 1);
    for (char c : value)
      if (!is_value_char(static_cast<unsigned char>(c))) return error(400, "invalid character in header value");
    if (fields.size() >= max_fields) return error(431, "too many header fields");
    fields.add(line.substr(0, colon), trim_ows(value));
  }
  return {};
}

// Checks that the head contains only CRLF line ends (no bare CR or LF). A well-formed head never
// needs it: a bare CR or LF always makes the line it is in fail the field syntax, and only then is
// the head searched, to say which error it is.
bool line_ends_are_crlf(std::string_view head) {
  if (head.empty()) return true;  // memchr must not see the null data() of an empty view
  const char* begin = head.data();
  const char* end = begin + head.size();
  for (const char* p = begin; (p = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(end - p)))); ++p)
    if (p + 1 >= end || p[1] != '\n') return false;
  for (const char* p = begin; (p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)))); ++p)
    if (p == begin || p[-1] != '\r') return false;
  return true;
}

// The same check for a head still arriving: a CR at the very end may yet be followed by its LF.
bool partial_line_ends_are_crlf(std::string_view partial) {
  if (!partial.empty() && partial.back() == '\r') partial.remove_suffix(1);
  return line_ends_are_crlf(partial);
}

// The field names framing and connection handling look at, recognised in one pass over the head.
enum class Known { other, host, content_length, transfer_encoding, connection, upgrade, expect };

Known known_name(std::string_view n) {
  switch (n.size()) {
    case 4: return iequals(n, "host") ? Known::host : Known::other;
    case 6: return iequals(n, "expect") ? Known::expect : Known::other;
    case 7: return iequals(n, "upgrade") ? Known::upgrade : Known::other;
    case 10: return iequals(n, "connection") ? Known::connection : Known::other;
    case 14: return iequals(n, "content-length") ? Known::content_length : Known::other;
    case 17: return iequals(n, "transfer-encoding") ? Known::transfer_encoding : Known::other;
    default: return Known::other;
  }
}

ParseResult apply_transfer_encoding(const Fields& fields, bool& chunked) {
  int codings = 0;
  bool last_chunked = false;
  bool unknown = false;
  bool chunked_not_last = false;
  for (const auto& f : fields.items()) {
    if (!iequals(f.name, "transfer-encoding")) continue;
    if (trim_ows(f.value).empty()) return error(400, "empty Transfer-Encoding");
    for_each_list_item(f.value, [&](std::string_view coding) {
      if (last_chunked) chunked_not_last = true;
      ++codings;
      last_chunked = iequals(coding, "chunked");
      if (!last_chunked) unknown = true;
    });
  }
  if (codings == 0) return {};
  if (chunked_not_last) return error(400, "chunked must be the final transfer coding, applied once");
  if (unknown) return error(501, "unsupported transfer coding");
  chunked = true;
  return {};
}

bool parse_authority_form(std::string_view target) {
  return !target.empty() && target.front() != '/' && target.find("://") == std::string_view::npos &&
         target.find(':') != std::string_view::npos && valid_host(target);
}

// Splits the request target into host/path/query according to its form.
ParseResult classify_target(RequestHead& head) {
  std::string_view t = head.target;
  if (t == "*") {
    if (head.method != Method::options) return error(400, "asterisk-form is only for OPTIONS");
    head.path = t;
    return {};
  }
  if (head.method == Method::connect) {
    if (!parse_authority_form(t)) return error(400, "CONNECT needs an authority-form target");
    return error(501, "CONNECT tunnelling is not enabled");
  }
  if (t.front() != '/') {
    std::size_t scheme_end = t.find("://");
    if (scheme_end == std::string_view::npos) return error(400, "invalid request target");
    std::string_view scheme = t.substr(0, scheme_end);
    if (!iequals(scheme, "http") && !iequals(scheme, "https")) return error(400, "unsupported target scheme");
    std::string_view rest = t.substr(scheme_end + 3);
    std::size_t path_start = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, path_start);
    if (authority.empty() || authority.find('@') != std::string_view::npos || !valid_host(authority))
      return error(400, "invalid authority in absolute-form target");
    head.absolute_form = true;
    head.host = authority;
    t = path_start == std::string_view::npos ? std::string_view("/") : rest.substr(path_start);
    if (t.front() == '?') {
      head.path = "/";
      head.query = t.substr(1);
      return {};
    }
  }
  std::size_t q = t.find('?');
  head.path = t.substr(0, q);
  if (q != std::string_view::npos) head.query = t.substr(q + 1);
  std::size_t hash = head.path.find('#');
  if (hash != std::string_view::npos || head.query.find('#') != std::string_view::npos)
    return error(400, "fragment in request target");
  // RFC 3986 has no backslash in a URI, and origins disagree on it: some take it for '/', so
  // "/public\..\admin" would be one segment here and "/admin" there. Routing could not be trusted.
  if (head.path.find('\\') != std::string_view::npos) return error(400, "backslash in request path");
  return {};
}

ParseResult apply_request_semantics(RequestHead& head) {
  const Fields& f = head.fields;
  // One pass collects what the checks below need; they then run in their order of precedence.
  std::size_t hosts = 0;
  std::string_view host;
  bool cl_seen = false, cl_bad = false, te_present = false, upgrade_present = false;
  bool connection_close = false, connection_keep_alive = false, connection_upgrade = false;
  const Field* expect = nullptr;
  for (const auto& field : f.items()) {
    switch (known_name(field.name)) {
      case Known::host:
        if (hosts++ == 0) host = field.value;
        break;
      case Known::content_length:
        if (!merge_content_length(field.value, cl_seen, head.content_length)) cl_bad = true;
        break;
      case Known::transfer_encoding: te_present = true; break;
      case Known::connection:
        for_each_list_item(field.value, [&](std::string_view opt) {
          if (iequals(opt, "close")) connection_close = true;
          else if (iequals(opt, "keep-alive")) connection_keep_alive = true;
          else if (iequals(opt, "upgrade")) connection_upgrade = true;
        });
        break;
      case Known::upgrade: upgrade_present = true; break;
      case Known::expect:
        if (!expect) expect = &field;
        break;
      case Known::other: break;
    }
  }
  // Host
  if (hosts > 1) return error(400, "more than one Host header");
  if (hosts == 0 && head.version == 11) return error(400, "missing Host header");
  if (hosts == 1) {
    if (!valid_host(host)) return error(400, "invalid Host header");
    if (!head.absolute_form) head.host = host;
  }
  // Framing
  if (cl_bad) return error(400, "invalid or conflicting Content-Length");
  head.has_content_length = cl_seen;
  if (te_present) {
    if (auto r = apply_transfer_encoding(f, head.chunked); r.status == ParseStatus::error) return r;
    if (head.version == 10) return error(400, "Transfer-Encoding in an HTTP/1.0 request");
  }
  if (head.chunked && cl_seen) return error(400, "both Content-Length and Transfer-Encoding");
  // Connection
  head.keep_alive = connection_close ? false : (head.version == 11 || connection_keep_alive);
  head.upgrade = connection_upgrade && upgrade_present;
  // Expect
  if (expect) {
    if (!iequals(expect->value, "100-continue")) return error(417, "unsupported expectation");
    head.expect_continue = head.version == 11;
  }
  return {};
}

}  // namespace

bool is_token_char(unsigned char c) { return token_table[c]; }
bool is_field_value_char(unsigned char c) { return value_table[c]; }

bool holds_whole_response(std::string_view bytes) {
  // Run on every response read, before the head is parsed: a line walk that looks only at lines
  // that can be Content-Length or Transfer-Encoding (by first letter and colon position).
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  if (bytes.size() < 16 || std::memcmp(p, "HTTP/1.", 7) != 0) return false;
  const char* status = p + 9;
  if (status[0] == '1') return false;  // informational: more follows
  const bool bodiless = (status[0] == '2' || status[0] == '3') && status[1] == '0' && status[2] == '4';
  p = static_cast<const char*>(std::memchr(p, '\n', bytes.size()));
  if (!p) return false;
  ++p;
  bool has_length = false, chunked = false;
  std::uint64_t length = 0;
  while (true) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (!nl || nl == p || nl[-1] != '\r') return false;
    const std::size_t len = static_cast<std::size_t>(nl - p) - 1;  // without the CR
    if (len == 0) {
      p = nl + 1;
      break;  // the empty line: the body follows
    }
    const char first = static_cast<char>(*p | 0x20);
    if (first == 'c' && len > 15 && p[14] == ':' && iequals({p, 14}, "content-length")) {
      if (has_length) return false;
      std::string_view value = trim_ows({p + 15, len - 15});
      if (value.empty() || value.size() > 18) return false;
      for (char c : value) {
        if (c < '0' || c > '9') return false;
        length = length * 10 + static_cast<std::uint64_t>(c - '0');
      }
      has_length = true;
    } else if (first == 't' && len > 18 && p[17] == ':' && iequals({p, 17}, "transfer-encoding")) {
      chunked = true;
    }
    p = nl + 1;
  }
  const std::string_view body(p, static_cast<std::size_t>(end - p));
  if (bodiless) return body.empty();
  if (chunked) return !has_length && (body == "0\r\n\r\n" || body.ends_with("\r\n0\r\n\r\n"));
  return has_length && body.size() == length;
}

bool valid_host(std::string_view host) {
  if (host.empty()) return true;
  std::string_view name = host;
  std::string_view port;
  if (host.front() == '[') {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : host.substr(1, close - 1))
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
        return false;
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
    name = {};
  } else {
    std::size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      name = host.substr(0, colon);
      if (port.empty()) return false;
    }
    if (name.empty()) return false;
  }
  for (char c : name) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
              c == '.' || c == '_' || c == '~' || c == '%' || c == '!' || c == '$' || c == '&' ||
              c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=';
    if (!ok) return false;
  }
  if (port.size() > 5) return false;
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return true;
}

namespace {
ParseResult parse_whole_request(std::string_view whole, std::size_t line_end, const ParseLimits& limits,
                                RequestHead& head);
}

ParseResult parse_request_head(std::string_view data, const ParseLimits& limits, RequestHead& head) {
  std::size_t skipped = 0;
  while (data.size() - skipped >= 2 && data[skipped] == '\r' && data[skipped + 1] == '\n') skipped += 2;
  std::string_view rest = data.substr(skipped);
  std::size_t line_end = rest.find("\r\n");
  if (line_end == std::string_view::npos) {
    if (rest.size() > limits.max_request_line) return error(414, "request line too long");
    if (rest.find('\n') != std::string_view::npos) return error(400, "bare LF in request line");
    if (!partial_line_ends_are_crlf(rest)) return error(400, "bare CR in request line");
    if (skipped > limits.max_head_bytes) return error(400, "too many empty lines");
    return {};
  }
  if (line_end > limits.max_request_line) return error(414, "request line too long");
  std::size_t end = find_head_end(rest.substr(line_end));
  if (end == std::string_view::npos) {
    if (rest.size() > limits.max_head_bytes) return error(431, "request header section too large");
    // A bare CR or LF already received means the head can never end in CRLF CRLF as required:
    // refuse it now rather than wait for the header deadline (a head ended by "\n\n" would
    // otherwise hang until then and get no answer).
    if (!partial_line_ends_are_crlf(rest)) return error(400, "bare CR or LF in request head");
    // Headers may end right after the request line ("...\r\n\r\n" spans the line end).
    return {};
  }
  end += line_end;
  if (end > limits.max_head_bytes) return error(431, "request header section too large");
  const std::string_view whole = rest.substr(0, end);
  ParseResult r = parse_whole_request(whole, line_end, limits, head);
  if (r.status == ParseStatus::error) {
    // A bare CR or LF fails the line it is in; it is the error to report wherever it is.
    if (!line_ends_are_crlf(whole)) return error(400, "bare CR or LF in request head");
    return r;
  }
  head.head_bytes = skipped + end;
  return r;
}

namespace {

ParseResult parse_whole_request(std::string_view whole, std::size_t line_end, const ParseLimits& limits,
                                RequestHead& head) {
  const std::size_t end = whole.size();
  const std::string_view rest = whole;
  head.reset();
  std::string_view line = rest.substr(0, line_end);
  std::size_t sp1 = line.find(' ');
  std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1)
    return error(400, "malformed request line");
  head.method_text = line.substr(0, sp1);
  for (char c : head.method_text)
    if (!token_table[static_cast<unsigned char>(c)]) return error(400, "invalid method");
  head.method = method_from(head.method_text);
  head.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (char c : head.target)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return error(400, "invalid character in request target");
  int version = parse_version(line.substr(sp2 + 1));
  if (version == 0) return error(400, "malformed HTTP version");
  if (version < 0) return error(505, "HTTP version not supported");
  head.version = version;

  std::string_view block = whole.substr(line_end + 2, end - line_end - 4);  // field lines, each CRLF-ended
  if (auto r = parse_fields(block, limits.max_fields, head.fields); r.status == ParseStatus::error) return r;
  if (auto r = classify_target(head); r.status == ParseStatus::error) return r;
  if (auto r = apply_request_semantics(head); r.status == ParseStatus::error) return r;
  return ParseResult{ParseStatus::complete, 0, ""};
}

}  // namespace

namespace {
ParseResult parse_whole_response(std::string_view whole, ResponseHead& head, ResponseFraming& framing);
}

ParseResult parse_response_head(std::string_view data, std::size_t max_head_bytes, ResponseHead& head,
                                ResponseFraming& framing) {
  std::size_t end = find_head_end(data);
  if (end == std::string_view::npos) {
    if (data.size() > max_head_bytes) return error(502, "upstream response head too large");
    if (data.size() >= 5 && data.substr(0, 5) != "HTTP/") return error(502, "upstream sent garbage");
    if (!partial_line_ends_are_crlf(data)) return error(502, "bare CR or LF in upstream response");
    return {};
  }
  if (end > max_head_bytes) return error(502, "upstream response head too large");
  const std::string_view whole = data.substr(0, end);
  ParseResult r = parse_whole_response(whole, head, framing);
  if (r.status == ParseStatus::error && !line_ends_are_crlf(whole)) return error(502, "bare CR or LF in upstream response");
  return r;
}

namespace {

ParseResult parse_whole_response(std::string_view whole, ResponseHead& head, ResponseFraming& framing) {
  const std::size_t end = whole.size();
  head.reset();
  framing = {};
  std::size_t line_end = whole.find("\r\n");
  std::string_view line = whole.substr(0, line_end);
  if (line.size() < 12 || line[8] != ' ') return error(502, "malformed upstream status line");
  int version = parse_version(line.substr(0, 8));
  if (version <= 0) return error(502, "unsupported upstream HTTP version");
  head.version = version;
  std::string_view code = line.substr(9, 3);
  for (char c : code)
    if (c < '0' || c > '9') return error(502, "upstream status is not three digits");
  if (line.size() > 12 && line[12] != ' ') return error(502, "upstream status is not three digits");
  head.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  if (head.status < 100) return error(502, "invalid upstream status");
  head.reason = line.size() > 13 ? line.substr(13) : std::string_view{};
  for (char c : head.reason)
    if (!is_value_char(static_cast<unsigned char>(c))) return error(502, "invalid upstream reason phrase");

  std::string_view block = whole.substr(line_end + 2, end - line_end - 4);
  if (auto r = parse_fields(block, 1000, head.fields); r.status == ParseStatus::error)
    return error(502, "invalid upstream header field");
  // One pass over the fields for framing and connection handling.
  bool cl_seen = false, cl_bad = false, te_present = false, connection_close = false, connection_keep_alive = false;
  for (const auto& f : head.fields.items()) {
    switch (known_name(f.name)) {
      case Known::content_length:
        if (!merge_content_length(f.value, cl_seen, head.content_length)) cl_bad = true;
        break;
      case Known::transfer_encoding: te_present = true; break;
      case Known::connection:
        for_each_list_item(f.value, [&](std::string_view opt) {
          if (iequals(opt, "close")) connection_close = true;
          else if (iequals(opt, "keep-alive")) connection_keep_alive = true;
        });
        break;
      default: break;
    }
  }
  if (cl_bad) return error(502, "invalid or conflicting upstream Content-Length");
  head.has_content_length = cl_seen;
  bool framing_conflict = false;
  if (te_present) {
    // Only "chunked" alone is relayed. Any other coding would have to reach the client with its
    // name (the data path re-frames bodies and drops Transfer-Encoding as hop-by-hop), so it would
    // arrive as if it were the content itself: "gzip" bytes unlabelled, or "gzip, chunked" read to
    // close and chunked twice. Refusing is the only answer that cannot corrupt a body.
    bool chunked = false;
    auto r = apply_transfer_encoding(head.fields, chunked);
    if (r.status == ParseStatus::error || !chunked)
      return error(502, "upstream transfer coding other than chunked");
    // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
    if (head.version == 10) return error(502, "Transfer-Encoding in an HTTP/1.0 upstream response");
    head.chunked = true;
    // RFC 9112 6.3: TE overrides CL, and CL is removed before forwarding. Such a message may be a
    // response-splitting attempt: relay it, but never send another request on that connection.
    framing_conflict = cl_seen;
    head.has_content_length = false;
    head.content_length = 0;
    head.fields.remove("content-length");
  }
  head.keep_alive = !connection_close && (head.version == 11 || connection_keep_alive);
  if (!head.chunked && !head.has_content_length && !framing.until_close) {
    bool bodiless = head.status < 200 || head.status == 204 || head.status == 304;
    if (!bodiless) framing.until_close = true;
  }
  if (framing.until_close || framing_conflict) head.keep_alive = false;
  head.head_bytes = end;
  return ParseResult{ParseStatus::complete, 0, ""};
}

}  // namespace

}  // namespace portcullis::http
