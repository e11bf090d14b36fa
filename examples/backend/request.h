// The example backend's view of a request: the head as Boost.Beast's parser read it, checked for
// what Beast leaves to a server, and the target split for routing. Included by backend.cpp only.
#pragma once
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "text.h"

namespace backend {

namespace bhttp = boost::beast::http;
using boost::system::error_code;

constexpr std::size_t max_fields = 100;

// ---------------------------------------------------------------------------------------------
// Requests, parsed by Boost.Beast's request parser fed from the read buffer

struct Field {
  std::string_view name;
  std::string_view value;
};

using RequestParser = bhttp::request_parser<bhttp::buffer_body>;

// What the handlers need of one request head. The views point into the parser's message, which
// lives until the next request's head is read.
struct RequestHead {
  std::string_view method;
  std::string_view target;
  int minor = 1;  // HTTP/1.minor
  std::vector<Field> fields;
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

// Empty lines before a request line are ignored (RFC 9112 2.2): some clients send a stray CRLF
// after a body. Returns how many bytes of them start `v`.
inline std::size_t leading_empty_lines(std::string_view v) {
  std::size_t n = 0;
  for (;;) {
    if (n < v.size() && v[n] == '\n') n += 1;
    else if (n + 1 < v.size() && v[n] == '\r' && v[n + 1] == '\n') n += 2;
    else return n;
  }
}

// The status a parse error is refused with.
inline int status_for(const error_code& ec) {
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::bad_version) return 505;
  return 400;
}

// Copies what the handlers use out of the parsed head and checks what Beast leaves to the server
// (RFC 9112 3.2, 6.1): one Host in HTTP/1.1, no transfer coding in HTTP/1.0 or before chunked,
// at most max_fields fields. Returns 0 or the status to refuse the request with.
inline int take_head(const RequestParser& parser, RequestHead& req) {
  const auto& message = parser.get();
  req.method = message.method_string();
  req.target = message.target();
  req.minor = message.version() % 10;
  if (message.version() / 10 != 1) return 505;
  req.fields.clear();
  int hosts = 0;
  bool transfer_coding = false, other_coding = false;
  for (const auto& f : message) {
    if (req.fields.size() == max_fields) return 431;
    req.fields.push_back({f.name_string(), f.value()});
    if (f.name() == bhttp::field::host) ++hosts;
    if (f.name() == bhttp::field::transfer_encoding) {
      transfer_coding = true;
      for_each_element(f.value(), [&](std::string_view coding) {
        other_coding = other_coding || !iequals(coding, "chunked");
        return true;
      });
    }
  }
  if (hosts > 1 || (hosts == 0 && req.minor >= 1)) return 400;
  req.chunked = parser.chunked();
  req.content_length = parser.content_length().value_or(0);
  if (transfer_coding && (req.minor == 0 || !req.chunked)) return 400;
  if (other_coding) return 501;
  req.keep_alive = message.keep_alive();
  req.expect_continue = iequals(message[bhttp::field::expect], "100-continue");
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Routing on the request target

struct TargetParts {
  std::string_view last;    // the last path segment: what selects the endpoint
  std::string_view parent;  // the one before it (for /status/NNN)
  std::string_view query;
};

inline TargetParts split_target(std::string_view target) {
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
inline std::optional<std::string_view> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == npos ? std::string_view{} : pair.substr(eq + 1);
    query = amp == npos ? std::string_view{} : query.substr(amp + 1);
  }
  return std::nullopt;
}

}  // namespace backend
