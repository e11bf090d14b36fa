// portcullis-example-backend: the origin server that `make demo`, the integration tests and the peer
// benchmark (portcullis, nginx, HAProxy) put behind a proxy. It is one thread of Boost.Asio
// coroutines with its own small HTTP/1.1 parser, fast enough that a benchmark measures the proxy
// rather than the backend, and it reports what it received (X-Seen-* headers, /headers) so tests
// can check what a proxy forwarded.
//
// Endpoints are matched on the last path segment, so /hello/echo and /echo are the same; anything
// else gets the default "hello from NAME". Every response carries X-Backend, X-Seen-Method and
// X-Seen-Path (the request target exactly as received).
//   /headers               the request head as JSON       /echo       the request body back
//   /sink                  count a streamed body (JSON)   /close      answer, then close
//   /bytes?n=N[&chunked=1] N bytes of 'x', 64 KiB writes  /status/NNN answer with that status
//   /sleep?ms=N            answer after N ms
//
// Usage: portcullis-example-backend --port N [--host 127.0.0.1] [--name NAME] [--ready-file PATH]
//          [--capacity N]
//          [--register EUREKA_URL [--app APP] [--instance-id ID] [--zone Z] [--heartbeat S]
//           [--lease-duration S]]
// With --capacity N at most N requests are served at once, as by a server with N worker threads:
// the others wait their turn in arrival order (they queue, they are never refused), and /sleep
// holds its slot for the whole sleep, so /sleep?ms=10 with --capacity 20 serves at most 2000 req/s
// (benchmarks/overload.sh).
// With --register it joins a Eureka registry (the gateway's own: http://127.0.0.1:9901/eureka) once
// it listens, heartbeats every S seconds, and leaves (DELETE) on SIGTERM/SIGINT; see registration.h.
//   portcullis-example-backend --port 8081 --name a &
//   curl -v localhost:8081/ localhost:8081/headers          # two requests on one connection
//   curl --data-binary hi -H 'Content-Type: text/x' localhost:8081/echo
//   curl -H 'Transfer-Encoding: chunked' -T big.file localhost:8081/sink    # -T streams the file
//   curl -s 'localhost:8081/bytes?n=1073741824&chunked=1' -o /dev/null -w '%{size_download}\n'
//   curl -i localhost:8081/status/503; curl -I 'localhost:8081/sleep?ms=200'
//   printf 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /close HTTP/1.1\r\nHost: x\r\n\r\n' | nc localhost 8081
//   portcullis-example-backend --port 8082 --capacity 2 &      # the third of three waits 200 ms:
//   for i in 1 2 3; do curl -s -o /dev/null -w '%{time_total}\n' 'localhost:8082/sleep?ms=200' & done
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "registration.h"

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

namespace {

// Every asynchronous call reports errors as values: a dropped connection is ordinary here.
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr auto npos = std::string_view::npos;

constexpr std::size_t initial_buffer = 4 * 1024;     // holds any ordinary request head
constexpr std::size_t min_read = 1024;               // smallest free space worth a read
constexpr std::size_t max_head = 64 * 1024;          // request line plus fields
constexpr std::size_t max_fields = 100;
constexpr std::size_t io_chunk = 64 * 1024;          // body reads and /bytes writes
constexpr std::size_t max_echo = 64 * 1024 * 1024;   // /echo holds the body, so it is capped
constexpr std::size_t kept_payload = 64 * 1024;      // larger payload buffers are freed when idle
constexpr std::size_t max_chunk_line = 4 * 1024;
constexpr std::size_t max_trailers = 16 * 1024;
constexpr std::size_t linger_budget = 1024 * 1024;
constexpr auto linger_time = 1s;
constexpr std::uint64_t max_sleep_ms = 3'600'000;
constexpr std::uint64_t max_capacity = 1'000'000;

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

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!token_table[static_cast<unsigned char>(c)]) return false;
  return true;
}

// field-vchar, SP, HTAB and obs-text; CTLs (bare CR and NUL included) and DEL are refused.
bool is_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Calls fn on each non-empty element of a comma-separated field value; stops at the first false.
template <typename Fn>
bool for_each_element(std::string_view list, Fn fn) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty() && !fn(item)) return false;
    list = comma == npos ? std::string_view{} : list.substr(comma + 1);
  }
  return true;
}

// 1*DIGIT, capped at 18 digits so the value can never overflow.
bool parse_decimal(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  std::uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = n;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = ascii_lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

const char* reason_phrase(int status) {
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
std::size_t utf8_length(std::string_view s, std::size_t i) {
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
void append_json_string(std::string& out, std::string_view s) {
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
std::string_view http_date() {
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
std::string_view pattern_block() {
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
  asio::mutable_buffer prepare(std::size_t want) {
    if (data_.size() - end_ < want && begin_ > 0) {
      std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (data_.size() - end_ < want) data_.resize(std::max(end_ + want, data_.size() * 2));
    return asio::buffer(data_.data() + end_, data_.size() - end_);
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

// ---------------------------------------------------------------------------------------------
// Request head parsing

struct Field {
  std::string_view name;
  std::string_view value;
};

// One parsed request head. The views point into raw, which is reused from request to request.
struct RequestHead {
  std::string raw;
  std::string_view method;
  std::string_view target;
  int minor = 1;  // HTTP/1.minor
  std::vector<Field> fields;
  bool has_length = false;
  std::uint64_t content_length = 0;
  bool chunked = false;
  bool keep_alive = true;
  bool expect_continue = false;

  std::string_view field(std::string_view name) const {
    for (const Field& f : fields)
      if (iequals(f.name, name)) return f.value;
    return {};
  }
};

// Where the head ends (just past the empty line), or npos. `from` remembers how far the search
// got, so a head that trickles in is not rescanned from the start on every read.
std::size_t find_head_end(std::string_view v, std::size_t& from) {
  std::size_t p = from;
  while ((p = v.find('\n', p)) != npos) {
    if (p + 1 >= v.size()) break;
    if (v[p + 1] == '\n') return p + 2;
    if (v[p + 1] == '\r') {
      if (p + 2 >= v.size()) break;
      if (v[p + 2] == '\n') return p + 3;
    }
    ++p;
  }
  from = p == npos ? v.size() : p;
  return npos;
}

// Empty lines before a request line are ignored (RFC 9112 2.2): some clients send a stray CRLF
// after a body. Returns how many bytes of them start `v`.
std::size_t leading_empty_lines(std::string_view v) {
  std::size_t n = 0;
  for (;;) {
    if (n < v.size() && v[n] == '\n') n += 1;
    else if (n + 1 < v.size() && v[n] == '\r' && v[n + 1] == '\n') n += 2;
    else return n;
  }
}

// Takes the next line off `rest`. CRLF ends a line; a lone LF is accepted too (RFC 9112 2.2).
bool next_line(std::string_view& rest, std::string_view& line) {
  std::size_t lf = rest.find('\n');
  if (lf == npos) return false;
  line = rest.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  rest.remove_prefix(lf + 1);
  return true;
}

// method SP request-target SP HTTP-version. Returns 0 or the status to refuse it with.
int parse_request_line(std::string_view line, RequestHead& req) {
  std::size_t sp1 = line.find(' ');
  if (sp1 == npos) return 400;
  std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == npos) return 400;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method) || target.empty()) return 400;
  for (char c : target)  // a URI is visible ASCII; whitespace or control bytes mean a broken line
    if (c <= 0x20 || c >= 0x7f) return 400;
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.') return 400;
  if (version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') return 400;
  if (version[5] != '1') return 505;
  req.method = method;
  req.target = target;
  req.minor = version[7] - '0';
  return 0;
}

// field-name ":" OWS field-value OWS. Whitespace before the colon and obs-fold are refused.
std::optional<Field> parse_field_line(std::string_view line) {
  std::size_t colon = line.find(':');
  if (colon == npos || !is_token(line.substr(0, colon))) return std::nullopt;
  std::string_view value = trim_ows(line.substr(colon + 1));
  for (char c : value)
    if (!is_value_char(static_cast<unsigned char>(c))) return std::nullopt;
  return Field{line.substr(0, colon), value};
}

// Content-Length: identical repeats ("5, 5" or two fields) are one length; anything else is not.
bool merge_content_length(std::string_view value, RequestHead& req) {
  bool any = false;
  bool ok = for_each_element(value, [&](std::string_view item) {
    std::uint64_t n = 0;
    if (!parse_decimal(item, n) || (req.has_length && n != req.content_length)) return false;
    req.has_length = true;
    req.content_length = n;
    any = true;
    return true;
  });
  return ok && any;
}

// What the request's connection and body framing fields say, checked the way RFC 9112 6 asks so
// that no two readers of this request could disagree on where it ends. Returns 0 or a status.
int apply_fields(RequestHead& req) {
  bool transfer_coding = false, other_coding = false, chunked_not_last = false;
  bool close = false, keep_alive = false;
  int hosts = 0;
  for (const Field& f : req.fields) {
    if (iequals(f.name, "content-length")) {
      if (!merge_content_length(f.value, req)) return 400;
    } else if (iequals(f.name, "transfer-encoding")) {
      transfer_coding = true;
      for_each_element(f.value, [&](std::string_view coding) {
        if (req.chunked) chunked_not_last = true;  // chunked must be applied last, and only once
        if (iequals(coding, "chunked")) req.chunked = true;
        else other_coding = true;
        return true;
      });
    } else if (iequals(f.name, "host")) {
      ++hosts;
    } else if (iequals(f.name, "connection")) {
      for_each_element(f.value, [&](std::string_view option) {
        close = close || iequals(option, "close");
        keep_alive = keep_alive || iequals(option, "keep-alive");
        return true;
      });
    } else if (iequals(f.name, "expect")) {
      req.expect_continue = iequals(f.value, "100-continue");
    }
  }
  if (hosts > 1 || (hosts == 0 && req.minor >= 1)) return 400;
  if (transfer_coding) {
    if (req.minor == 0 || req.has_length || chunked_not_last || !req.chunked) return 400;
    if (other_coding) return 501;
  }
  req.keep_alive = req.minor >= 1 ? !close : keep_alive && !close;
  return 0;
}

// Parses req.raw (a whole head, empty line included). Returns 0, or the status to refuse it with.
int parse_head(RequestHead& req) {
  req.method = req.target = {};
  req.fields.clear();
  req.has_length = req.chunked = req.expect_continue = false;
  req.content_length = 0;
  std::string_view rest = req.raw, line;
  next_line(rest, line);
  if (int status = parse_request_line(line, req)) return status;
  while (next_line(rest, line) && !line.empty()) {
    if (req.fields.size() == max_fields) return 431;
    std::optional<Field> field = parse_field_line(line);
    if (!field) return 400;
    req.fields.push_back(*field);
  }
  return apply_fields(req);
}

// ---------------------------------------------------------------------------------------------
// Request body decoding: Content-Length or chunked, decoded in place from the read buffer.

enum class Decoded { data, need_more, done, error, progress };

class ChunkedDecoder {
 public:
  void reset() {
    state_ = State::size_line;
    left_ = 0;
    trailer_bytes_ = 0;
  }

  std::uint64_t chunk_left() const { return state_ == State::data ? left_ : 0; }

  // Decodes from the start of `in`; `used` says how much of it was consumed. On Decoded::data,
  // `piece` is body bytes inside `in`.
  Decoded decode(std::string_view in, std::size_t& used, std::string_view& piece) {
    used = 0;
    for (;;) {
      std::size_t n = 0;
      Decoded r = step(in.substr(used), n, piece);
      used += n;
      if (r != Decoded::progress) return r;
    }
  }

 private:
  enum class State { size_line, data, data_end, trailer, finished };

  Decoded step(std::string_view in, std::size_t& used, std::string_view& piece) {
    switch (state_) {
      case State::size_line: return size_line(in, used);
      case State::data: {
        if (in.empty()) return Decoded::need_more;
        used = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
        piece = in.substr(0, used);
        left_ -= used;
        if (left_ == 0) state_ = State::data_end;
        return Decoded::data;
      }
      case State::data_end: return data_end(in, used);
      case State::trailer: return trailer(in, used);
      case State::finished: return Decoded::done;
    }
    return Decoded::error;
  }

  // Like next_line, but says whether a missing line end means "wait" or "too long".
  static Decoded take_line(std::string_view in, std::size_t limit, std::string_view& line,
                           std::size_t& used) {
    std::size_t lf = in.substr(0, limit + 2).find('\n');
    if (lf == npos) return in.size() > limit + 1 ? Decoded::error : Decoded::need_more;
    line = in.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    used = lf + 1;
    return Decoded::progress;
  }

  // chunk-size [ chunk-ext ] CRLF. Extensions mean nothing to us; they only must be clean bytes.
  Decoded size_line(std::string_view in, std::size_t& used) {
    std::string_view line;
    if (Decoded r = take_line(in, max_chunk_line, line, used); r != Decoded::progress) return r;
    std::size_t i = 0;
    std::uint64_t size = 0;
    for (; i < line.size() && hex_value(line[i]) >= 0; ++i) {
      if (i == 15) return Decoded::error;  // 15 hex digits is already far beyond any real body
      size = size * 16 + static_cast<std::uint64_t>(hex_value(line[i]));
    }
    std::string_view ext = trim_ows(line.substr(i));
    if (i == 0 || (!ext.empty() && ext.front() != ';')) return Decoded::error;
    for (char c : ext)
      if (!is_value_char(static_cast<unsigned char>(c))) return Decoded::error;
    left_ = size;
    state_ = size == 0 ? State::trailer : State::data;
    return Decoded::progress;
  }

  Decoded data_end(std::string_view in, std::size_t& used) {
    if (in.empty() || (in[0] == '\r' && in.size() < 2)) return Decoded::need_more;
    if (in[0] == '\n') used = 1;
    else if (in[0] == '\r' && in[1] == '\n') used = 2;
    else return Decoded::error;
    state_ = State::size_line;
    return Decoded::progress;
  }

  // Trailer fields are checked for form, then dropped: nothing here uses them.
  Decoded trailer(std::string_view in, std::size_t& used) {
    std::string_view line;
    if (Decoded r = take_line(in, max_trailers, line, used); r != Decoded::progress) return r;
    if (line.empty()) {
      state_ = State::finished;
      return Decoded::done;
    }
    trailer_bytes_ += used;
    if (trailer_bytes_ > max_trailers || !parse_field_line(line)) return Decoded::error;
    return Decoded::progress;
  }

  State state_ = State::size_line;
  std::uint64_t left_ = 0;
  std::size_t trailer_bytes_ = 0;
};

class BodyDecoder {
 public:
  void start(const RequestHead& req) {
    chunked_ = req.chunked;
    left_ = req.chunked ? 0 : req.content_length;
    if (chunked_) chunks_.reset();
  }

  bool expects_body() const { return chunked_ || left_ > 0; }

  // How much free buffer a read should have: the whole rest of the body, up to one io_chunk.
  std::size_t read_size() const {
    std::uint64_t want = chunked_ ? std::max<std::uint64_t>(chunks_.chunk_left(), min_read) : left_;
    return static_cast<std::size_t>(std::clamp<std::uint64_t>(want, min_read, io_chunk));
  }

  Decoded decode(std::string_view in, std::size_t& used, std::string_view& piece) {
    if (chunked_) return chunks_.decode(in, used, piece);
    used = 0;
    if (left_ == 0) return Decoded::done;
    if (in.empty()) return Decoded::need_more;
    used = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
    piece = in.substr(0, used);
    left_ -= used;
    return Decoded::data;
  }

 private:
  bool chunked_ = false;
  std::uint64_t left_ = 0;
  ChunkedDecoder chunks_;
};

// ---------------------------------------------------------------------------------------------
// Routing on the request target

struct TargetParts {
  std::string_view last;    // the last path segment: what selects the endpoint
  std::string_view parent;  // the one before it (for /status/NNN)
  std::string_view query;
};

TargetParts split_target(std::string_view target) {
  TargetParts parts;
  std::size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != npos) parts.query = target.substr(q + 1);
  // absolute-form (http://host/path): the path starts after the authority
  if (std::size_t scheme = path.find("://"); scheme != npos && path.find('/') > scheme) {
    std::size_t slash = path.find('/', scheme + 3);
    path = slash == npos ? std::string_view{} : path.substr(slash);
  }
  std::size_t cut = path.rfind('/');
  parts.last = cut == npos ? path : path.substr(cut + 1);
  if (cut != npos && cut > 0) {
    std::string_view before = path.substr(0, cut);
    std::size_t prev = before.rfind('/');
    parts.parent = prev == npos ? before : before.substr(prev + 1);
  }
  return parts;
}

// The raw value of query parameter `key` (the numbers and flags used here need no decoding).
std::optional<std::string_view> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == npos ? std::string_view{} : pair.substr(eq + 1);
    query = amp == npos ? std::string_view{} : query.substr(amp + 1);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Connection: reads requests one after another (pipelined ones are answered in order because
// each is finished before the next is parsed) and writes each response with one gathered write.

// --capacity: N slots handed out in arrival order. A request that finds none free waits on a timer
// that never expires by itself; release() passes its slot straight to the oldest waiter and wakes
// it by cancelling that timer, so a newcomer can never overtake the queue.
class Capacity {
 public:
  explicit Capacity(std::size_t slots) : free_(slots) {}

  awaitable<void> acquire() {
    if (free_ > 0 && waiting_.empty()) {
      --free_;
      co_return;
    }
    Waiter waiter(*this, co_await asio::this_coro::executor);
    while (!waiter.granted) co_await waiter.timer.async_wait(use_nothrow);
  }

  void release() {
    if (closed_) return;
    if (waiting_.empty()) {
      ++free_;
      return;
    }
    Waiter* next = waiting_.front();
    waiting_.pop_front();
    next->granted = true;
    next->timer.cancel();
  }

  // At exit the io_context destroys suspended coroutines in no particular order: from then on no
  // slot is handed on, so no timer of an already destroyed waiter is touched.
  void close() {
    closed_ = true;
    waiting_.clear();
  }

 private:
  // Lives in the waiting coroutine's frame; a waiter destroyed before its turn leaves the queue.
  struct Waiter {
    Waiter(Capacity& owner, const asio::any_io_executor& executor)
        : owner(owner), timer(executor, asio::steady_timer::time_point::max()) {
      owner.waiting_.push_back(this);
    }
    ~Waiter() {
      if (!granted) std::erase(owner.waiting_, this);
    }
    Capacity& owner;
    asio::steady_timer timer;
    bool granted = false;
  };

  std::size_t free_;
  std::deque<Waiter*> waiting_;
  bool closed_ = false;
};

// Holds one slot for the life of a request; a no-op without --capacity.
class CapacitySlot {
 public:
  explicit CapacitySlot(Capacity* capacity) : capacity_(capacity) {}
  CapacitySlot(const CapacitySlot&) = delete;
  CapacitySlot& operator=(const CapacitySlot&) = delete;
  ~CapacitySlot() {
    if (capacity_) capacity_->release();
  }

 private:
  Capacity* capacity_;
};

struct ServerConfig {
  std::string name;
  std::string hello;             // the default body, built once
  Capacity* capacity = nullptr;  // --capacity, else no limit
};

enum class BodyStatus { data, done, malformed, too_large, io_error };

struct BodyPiece {
  BodyStatus status;
  std::string_view data;
};

enum class Framing { length, chunked, none };

struct Reply {
  int status;
  std::string_view content_type;
  std::string_view body;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, const ServerConfig& config)
      : socket_(std::move(socket)), config_(config) {}

  awaitable<void> run();

 private:
  awaitable<bool> fill(std::size_t want);
  awaitable<int> read_head();
  awaitable<BodyPiece> next_body_piece();
  awaitable<BodyStatus> consume_body(bool keep, std::uint64_t& total);
  awaitable<bool> dispatch();
  Reply reply_for(const TargetParts& target, std::uint64_t received);
  awaitable<bool> send_bytes(std::string_view query);
  awaitable<bool> stream_plain(std::uint64_t n);
  awaitable<bool> stream_chunked(std::uint64_t n);
  awaitable<bool> sleep(std::string_view query);
  awaitable<bool> respond(Reply reply);
  awaitable<bool> reject(int status);
  awaitable<bool> write_out(std::string_view body);
  awaitable<void> linger_close();
  void start_head(int status);
  void finish_head(std::string_view content_type, Framing framing, std::uint64_t length);
  void build_headers_json();
  void trim_idle_memory();

  tcp::socket socket_;
  const ServerConfig& config_;
  ReadBuffer in_;
  RequestHead req_;
  bool head_parsed_ = false;  // whether req_ describes the request being answered
  BodyDecoder decoder_;
  bool continue_pending_ = false;
  bool keep_alive_ = true;
  bool head_only_ = false;
  std::string out_;      // response head, reused
  std::string payload_;  // request body for /echo, else the response body; reused
};

awaitable<void> Connection::run() {
  error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);  // responses are whole: never hold them back
  for (;;) {
    int status = co_await read_head();
    if (status < 0) break;  // the peer left (or failed) between requests: nothing to answer
    bool keep = false;
    if (status == 0) keep = co_await dispatch();
    else keep = co_await reject(status);
    if (!keep) {
      co_await linger_close();
      co_return;
    }
    trim_idle_memory();
  }
  socket_.close(ec);
}

awaitable<bool> Connection::fill(std::size_t want) {
  auto [ec, n] = co_await socket_.async_read_some(in_.prepare(want), use_nothrow);
  if (ec) co_return false;
  in_.commit(n);
  co_return true;
}

// Reads until a whole head is buffered and parses it into req_. Returns 0 when a request is
// ready, -1 when the peer went away, or the status to refuse the request with.
awaitable<int> Connection::read_head() {
  head_parsed_ = false;
  std::size_t scanned = 0;
  for (;;) {
    std::string_view v = in_.view();
    if (std::size_t skip = leading_empty_lines(v); skip > 0) {
      in_.consume(skip);
      v = in_.view();
      scanned = 0;
    }
    std::size_t end = find_head_end(v, scanned);
    if (end != npos) {
      if (end > max_head) co_return 431;
      req_.raw.assign(v.data(), end);
      in_.consume(end);
      int status = parse_head(req_);
      head_parsed_ = !req_.target.empty();
      co_return status;
    }
    if (v.size() >= max_head) co_return 431;
    auto [ec, n] = co_await socket_.async_read_some(in_.prepare(min_read), use_nothrow);
    if (ec) co_return -1;
    in_.commit(n);
  }
}

// The next piece of request body (a view into the read buffer, valid until the next call).
awaitable<BodyPiece> Connection::next_body_piece() {
  for (;;) {
    std::size_t used = 0;
    std::string_view piece;
    Decoded r = decoder_.decode(in_.view(), used, piece);
    in_.consume(used);
    if (r == Decoded::data) co_return BodyPiece{BodyStatus::data, piece};
    if (r == Decoded::done) co_return BodyPiece{BodyStatus::done, {}};
    if (r == Decoded::error) co_return BodyPiece{BodyStatus::malformed, {}};
    if (continue_pending_) {
      // The client waits for this before sending the body; only say it once we need the body.
      continue_pending_ = false;
      static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(go_on), use_nothrow);
      if (ec) co_return BodyPiece{BodyStatus::io_error, {}};
    }
    const bool filled = co_await fill(decoder_.read_size());
    if (!filled) co_return BodyPiece{BodyStatus::io_error, {}};
  }
}

// Reads the whole request body, counting it and, when `keep`, appending it to payload_.
awaitable<BodyStatus> Connection::consume_body(bool keep, std::uint64_t& total) {
  for (;;) {
    BodyPiece p = co_await next_body_piece();
    if (p.status != BodyStatus::data) co_return p.status;
    total += p.data.size();
    if (keep) {
      if (payload_.size() + p.data.size() > max_echo) co_return BodyStatus::too_large;
      payload_.append(p.data);
    }
  }
}

// Answers the request in req_. Returns whether the connection stays open for another request.
awaitable<bool> Connection::dispatch() {
  // With --capacity the whole request, body and response included, is served inside a slot.
  if (config_.capacity) co_await config_.capacity->acquire();
  CapacitySlot slot(config_.capacity);
  TargetParts target = split_target(req_.target);
  keep_alive_ = req_.keep_alive;
  head_only_ = req_.method == "HEAD";
  payload_.clear();
  decoder_.start(req_);
  continue_pending_ = req_.expect_continue && req_.minor >= 1 && decoder_.expects_body();
  bool echo = target.last == "echo";
  // Refused before the body is read, so a client that expects 100-continue never sends it.
  if (echo && req_.content_length > max_echo) co_return co_await reject(413);
  std::uint64_t received = 0;
  if (echo) payload_.reserve(static_cast<std::size_t>(req_.content_length));  // 0 when chunked
  if (decoder_.expects_body()) {
    // Every request's body is read (and dropped unless needed) so the next request can follow.
    BodyStatus s = co_await consume_body(echo, received);
    if (s == BodyStatus::io_error) co_return false;
    if (s == BodyStatus::too_large) co_return co_await reject(413);
    if (s == BodyStatus::malformed) co_return co_await reject(400);
  }
  if (target.last == "bytes") co_return co_await send_bytes(target.query);
  if (target.last == "sleep") {
    bool slept = co_await sleep(target.query);
    if (!slept) co_return co_await respond({400, "text/plain", "sleep needs ?ms=N (N <= 3600000)\n"});
  }
  co_return co_await respond(reply_for(target, received));
}

// The answer of every endpoint that needs no further I/O, built without a coroutine of its own
// because this is the path every benchmark request takes.
Reply Connection::reply_for(const TargetParts& target, std::uint64_t received) {
  const std::string_view last = target.last;
  if (last == "headers") {
    build_headers_json();
    return {200, "application/json", payload_};
  }
  if (last == "echo") return {200, req_.field("content-type"), payload_};
  if (last == "sink") {
    payload_ = "{\"bytes\":";
    append_number(payload_, received);
    payload_ += req_.chunked ? ",\"chunked\":true}" : ",\"chunked\":false}";
    return {200, "application/json", payload_};
  }
  if (target.parent == "status") {
    std::uint64_t status = 0;
    // 1xx are not final responses, so they cannot be the answer to a request.
    if (last.size() != 3 || !parse_decimal(last, status) || status < 200 || status > 599)
      return {400, "text/plain", "status must be 200..599\n"};
    payload_ = "status ";
    payload_ += last;
    payload_ += '\n';
    return {static_cast<int>(status), "text/plain", payload_};
  }
  if (last == "close") keep_alive_ = false;
  return {200, "text/plain", config_.hello};
}

void Connection::build_headers_json() {
  payload_ = "{\"method\":";
  append_json_string(payload_, req_.method);
  payload_ += ",\"target\":";
  append_json_string(payload_, req_.target);
  payload_ += ",\"version\":\"1.";
  payload_ += static_cast<char>('0' + req_.minor);
  payload_ += "\",\"headers\":[";
  for (std::size_t i = 0; i < req_.fields.size(); ++i) {
    payload_ += i == 0 ? "[" : ",[";
    append_json_string(payload_, req_.fields[i].name);
    payload_ += ',';
    append_json_string(payload_, req_.fields[i].value);
    payload_ += ']';
  }
  payload_ += "]}";
}

// Waits ?ms=N without blocking the thread. False when the parameter is missing or out of range.
awaitable<bool> Connection::sleep(std::string_view query) {
  std::optional<std::string_view> ms = query_param(query, "ms");
  std::uint64_t n = 0;
  if (!ms || !parse_decimal(*ms, n) || n > max_sleep_ms) co_return false;
  asio::steady_timer timer(socket_.get_executor(), std::chrono::milliseconds(n));
  co_await timer.async_wait(use_nothrow);
  co_return true;
}

awaitable<bool> Connection::send_bytes(std::string_view query) {
  std::optional<std::string_view> n_text = query_param(query, "n");
  std::uint64_t n = 0;
  if (!n_text || !parse_decimal(*n_text, n))
    co_return co_await respond({400, "text/plain", "bytes needs ?n=N\n"});
  std::optional<std::string_view> flag = query_param(query, "chunked");
  // HTTP/1.0 has no chunked coding; such a client gets the same bytes with a Content-Length.
  bool chunked = flag && (*flag == "1" || *flag == "true") && req_.minor >= 1;
  start_head(200);
  finish_head("application/octet-stream", chunked ? Framing::chunked : Framing::length, n);
  bool ok = false;
  if (head_only_) ok = co_await write_out({});
  else if (chunked) ok = co_await stream_chunked(n);
  else ok = co_await stream_plain(n);
  co_return ok && keep_alive_;
}

// n bytes of the pattern in io_chunk writes; the first one carries the head too.
awaitable<bool> Connection::stream_plain(std::uint64_t n) {
  std::string_view block = pattern_block();
  std::size_t first = static_cast<std::size_t>(std::min<std::uint64_t>(n, io_chunk));
  const bool written = co_await write_out(block.substr(0, first));
  if (!written) co_return false;
  for (n -= first; n > 0;) {
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, io_chunk));
    auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(block.data(), k), use_nothrow);
    if (ec) co_return false;
    n -= k;
  }
  co_return true;
}

// n bytes as io_chunk-sized chunks. Each write is one chunk (size line, data, CRLF); the head
// rides on the first and the last-chunk on the last, so a small body is a single write.
awaitable<bool> Connection::stream_chunked(std::uint64_t n) {
  static constexpr std::string_view crlf = "\r\n", last_chunk = "0\r\n\r\n";
  std::string_view block = pattern_block();
  bool first = true;
  do {
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, io_chunk));
    n -= k;
    char size_line[24];
    char* end = std::to_chars(size_line, size_line + 16, k, 16).ptr;
    end = std::copy(crlf.begin(), crlf.end(), end);
    std::array<asio::const_buffer, 5> parts{
        asio::buffer(first ? std::string_view(out_) : std::string_view{}),
        asio::buffer(size_line, k > 0 ? static_cast<std::size_t>(end - size_line) : 0),
        asio::buffer(block.data(), k), asio::buffer(k > 0 ? crlf : std::string_view{}),
        asio::buffer(n == 0 ? last_chunk : std::string_view{})};
    auto [ec, written] = co_await asio::async_write(socket_, parts, use_nothrow);
    if (ec) co_return false;
    first = false;
  } while (n > 0);
  co_return true;
}

awaitable<bool> Connection::respond(Reply reply) {
  bool bodiless = reply.status == 204 || reply.status == 304;  // never content, nor its length
  start_head(reply.status);
  finish_head(bodiless ? std::string_view{} : reply.content_type, bodiless ? Framing::none : Framing::length,
              reply.body.size());
  if (head_only_ || bodiless) reply.body = {};
  // Written here rather than through write_out: one coroutine frame less on the hot path.
  std::array<asio::const_buffer, 2> parts{asio::buffer(out_), asio::buffer(reply.body)};
  auto [ec, n] = co_await asio::async_write(socket_, parts, use_nothrow);
  co_return !ec && keep_alive_;
}

// Refuses the request and ends the connection: after a framing error, nothing later on it can be
// trusted to start where we think it does.
awaitable<bool> Connection::reject(int status) {
  keep_alive_ = false;
  head_only_ = false;
  std::string body = std::to_string(status) + ' ' + reason_phrase(status) + '\n';
  co_await respond({status, "text/plain", body});
  co_return false;
}

void Connection::start_head(int status) {
  out_ = "HTTP/1.1 ";
  append_number(out_, static_cast<std::uint64_t>(status));
  out_ += ' ';
  out_ += reason_phrase(status);
  out_ += "\r\nDate: ";
  out_ += http_date();
  out_ += "\r\nX-Backend: ";
  out_ += config_.name;
  if (head_parsed_) {
    out_ += "\r\nX-Seen-Method: ";
    out_ += req_.method;
    out_ += "\r\nX-Seen-Path: ";
    out_ += req_.target;
  }
  out_ += "\r\n";
}

void Connection::finish_head(std::string_view content_type, Framing framing, std::uint64_t length) {
  if (!content_type.empty()) {
    out_ += "Content-Type: ";
    out_ += content_type;
    out_ += "\r\n";
  }
  if (framing == Framing::length) {
    out_ += "Content-Length: ";
    append_number(out_, length);
    out_ += "\r\n";
  } else if (framing == Framing::chunked) {
    out_ += "Transfer-Encoding: chunked\r\n";
  }
  // HTTP/1.1 persists unless told otherwise; an HTTP/1.0 client needs to hear that it does.
  if (!keep_alive_) out_ += "Connection: close\r\n";
  else if (req_.minor == 0) out_ += "Connection: keep-alive\r\n";
  out_ += "\r\n";
}

awaitable<bool> Connection::write_out(std::string_view body) {
  std::array<asio::const_buffer, 2> parts{asio::buffer(out_), asio::buffer(body)};
  auto [ec, n] = co_await asio::async_write(socket_, parts, use_nothrow);
  co_return !ec;
}

// Closes after the last response without losing it: closing with unread input makes the kernel
// send a reset, which can destroy the response before the client reads it. So: stop sending, read
// and drop what still comes (bounded in time and bytes), then close.
awaitable<void> Connection::linger_close() {
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (!ec) {
    asio::steady_timer timer(socket_.get_executor(), linger_time);
    // The handler owns a reference, so it may safely run after this coroutine is gone.
    timer.async_wait([self = shared_from_this()](error_code e) {
      if (!e) self->socket_.cancel(e);
    });
    for (std::size_t budget = linger_budget; budget > 0;) {
      in_.consume(in_.size());
      auto [read_ec, n] = co_await socket_.async_read_some(in_.prepare(min_read), use_nothrow);
      if (read_ec) break;
      budget -= std::min(budget, n);
    }
  }
  socket_.close(ec);
}

// Idle connections should cost little: drop what one large request made the buffers grow to.
void Connection::trim_idle_memory() {
  bool released_large = payload_.capacity() > kept_payload;
  if (released_large) std::string().swap(payload_);
  if (req_.raw.capacity() > initial_buffer) {
    req_.fields.clear();  // views into raw
    std::string().swap(req_.raw);
  }
  in_.shrink();
#ifdef __GLIBC__
  // glibc keeps freed heap for reuse; after a large /echo that would be megabytes of idle RSS.
  if (released_large) malloc_trim(0);
#endif
}

awaitable<void> serve(std::shared_ptr<Connection> connection) { co_await connection->run(); }

awaitable<void> accept_loop(tcp::acceptor& acceptor, const ServerConfig& config) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Usually out of descriptors: pause instead of spinning on the same error.
      asio::steady_timer pause(acceptor.get_executor(), 50ms);
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    auto connection = std::make_shared<Connection>(std::move(socket), config);
    asio::co_spawn(acceptor.get_executor(), serve(std::move(connection)), asio::detached);
  }
}

// ---------------------------------------------------------------------------------------------
// Command line and start-up

struct Options {
  std::string host = "127.0.0.1";
  int port = -1;
  std::string name = "backend";
  std::string ready_file;
  std::string register_url;
  std::string app = "backend";
  std::string instance_id;
  std::string zone;
  unsigned heartbeat_s = 30;
  unsigned lease_s = 90;
  std::uint64_t capacity = 0;  // 0: no limit
};

constexpr const char* usage =
    "usage: portcullis-example-backend --port N [--host 127.0.0.1] [--name NAME] [--ready-file PATH]\n"
    "         [--capacity N]   serve at most N requests at once, the others wait in arrival order\n"
    "         [--register EUREKA_URL [--app APP] [--instance-id ID] [--zone Z] [--heartbeat SECONDS]\n"
    "          [--lease-duration SECONDS]]\n";

bool is_token_or_colon(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c != ':' && !token_table[static_cast<unsigned char>(c)]) return false;
  return true;
}

// "30" or "30s", 1..3600.
bool parse_seconds(std::string_view s, unsigned& out) {
  if (s.ends_with('s')) s.remove_suffix(1);
  std::uint64_t n = 0;
  if (!parse_decimal(s, n) || n == 0 || n > 3600) return false;
  out = static_cast<unsigned>(n);
  return true;
}

// 1..1,000,000 slots.
bool parse_capacity(std::string_view s, std::uint64_t& out) {
  return parse_decimal(s, out) && out >= 1 && out <= max_capacity;
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view key = argv[i], value;
    if (key == "-h" || key == "--help") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
    if (std::size_t eq = key.find('='); key.starts_with("--") && eq != npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "%.*s needs a value\n%s", static_cast<int>(key.size()), key.data(), usage);
      return std::nullopt;
    }
    std::uint64_t port = 0;
    if (key == "--port" && parse_decimal(value, port) && port <= 65535) o.port = static_cast<int>(port);
    else if (key == "--host" && !value.empty()) o.host = value;
    else if (key == "--name" && is_token(value)) o.name = value;  // it goes into a header
    else if (key == "--ready-file" && !value.empty()) o.ready_file = value;
    else if (key == "--capacity" && parse_capacity(value, o.capacity)) {
    }
    else if (key == "--register" && value.starts_with("http://")) o.register_url = value;
    else if (key == "--app" && is_token(value)) o.app = value;
    else if (key == "--instance-id" && is_token_or_colon(value)) o.instance_id = value;  // ids hold ':'

    else if (key == "--zone" && is_token(value)) o.zone = value;
    else if (key == "--heartbeat" && parse_seconds(value, o.heartbeat_s)) {
    } else if (key == "--lease-duration" && parse_seconds(value, o.lease_s)) {
    }
    else {
      std::fprintf(stderr, "bad argument %.*s\n%s", static_cast<int>(key.size()), key.data(), usage);
      return std::nullopt;
    }
  }
  if (o.port < 0) std::fputs(usage, stderr);
  return o.port < 0 ? std::nullopt : std::optional<Options>(o);
}

// An address literal as is, else a name looked up once (e.g. "localhost").
std::optional<tcp::endpoint> listen_endpoint(asio::io_context& io, const Options& o) {
  std::string host = o.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  error_code ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (!ec) return tcp::endpoint(address, static_cast<unsigned short>(o.port));
  tcp::resolver resolver(io);
  auto results = resolver.resolve(host, std::to_string(o.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) return std::nullopt;
  return results.begin()->endpoint();
}

// Written to a temporary name and renamed, so a watcher never reads a half-written port.
bool write_ready_file(const std::string& path, unsigned short port) {
  std::string temp = path + ".tmp";
  std::FILE* f = std::fopen(temp.c_str(), "w");
  if (!f) return false;
  bool ok = std::fprintf(f, "%u\n", static_cast<unsigned>(port)) > 0;
  ok = std::fclose(f) == 0 && ok;
  return ok && std::rename(temp.c_str(), path.c_str()) == 0;
}

bool open_acceptor(tcp::acceptor& acceptor, const tcp::endpoint& endpoint, error_code& ec) {
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Options> options = parse_options(argc, argv);
  if (!options) return 2;
  // Declared before the io_context: the coroutines it destroys at exit still release their slots.
  std::optional<Capacity> capacity;
  if (options->capacity > 0) capacity.emplace(static_cast<std::size_t>(options->capacity));
  ServerConfig config{options->name, "hello from " + options->name + "\n", capacity ? &*capacity : nullptr};

  asio::io_context io(1);  // one thread: lets Asio skip most of its locking
  // Installed before anything announces readiness, so a SIGTERM sent right after "listening"
  // already takes the clean exit path.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const error_code&, int) { io.stop(); });
  std::optional<tcp::endpoint> endpoint = listen_endpoint(io, *options);
  tcp::acceptor acceptor(io);
  error_code ec;
  if (!endpoint || !open_acceptor(acceptor, *endpoint, ec)) {
    std::fprintf(stderr, "portcullis-example-backend: cannot listen on %s:%d: %s\n", options->host.c_str(),
                 options->port, endpoint ? ec.message().c_str() : "unknown host");
    return 1;
  }
  unsigned short port = acceptor.local_endpoint().port();
  std::printf("listening %s:%u\n", options->host.c_str(), static_cast<unsigned>(port));
  std::fflush(stdout);
  if (!options->ready_file.empty() && !write_ready_file(options->ready_file, port)) {
    std::fprintf(stderr, "portcullis-example-backend: cannot write %s\n", options->ready_file.c_str());
    return 1;
  }

  std::optional<registration::Registrar> registrar;
  if (!options->register_url.empty()) {
    registration::Settings rs;
    rs.url = options->register_url;
    rs.app = options->app;
    rs.instance_id = options->instance_id;
    rs.zone = options->zone;
    // The registry hands out this address for traffic: a wildcard bind is reached over loopback.
    asio::ip::address bound = acceptor.local_endpoint().address();
    rs.ip = bound.is_unspecified() ? (bound.is_v6() ? "::1" : "127.0.0.1") : bound.to_string();
    rs.port = port;
    rs.heartbeat_s = options->heartbeat_s;
    rs.lease_s = options->lease_s;
    registrar.emplace(std::move(rs));
    registrar->start();
  }

  asio::co_spawn(io, accept_loop(acceptor, config), asio::detached);
  io.run();
  if (capacity) capacity->close();
  if (registrar) registrar->stop();  // leave the registry before exiting
  return 0;
}
