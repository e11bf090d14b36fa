// Route matching compiled once per config snapshot: a segment trie over the path patterns, so the
// cost of a match grows with the depth of the path, not with the number of routes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/message.h"

namespace portcullis::routing {

// One route's matching rules. Path patterns (Zuul / Spring Cloud / Ant style):
//   "/ping"            exact
//   "/hello/**"        "/hello" itself and anything below it
//   "/api/*/items"     '*' matches exactly one non-empty segment
//   "/static/*.css"    '*' inside a segment matches any run of characters within that segment
//   "/**"              everything
// "**" is allowed only as the last segment.
struct RouteRule {
  std::string path;
  std::vector<std::string> methods;  // empty = any; compared exactly (methods are case-sensitive)
  std::string host;                  // empty = any; exact (case-insensitive, port ignored) or "*.suffix"
  std::vector<std::pair<std::string, std::string>> headers;  // name case-insensitive, value exact
};

// Validates a pattern; returns an empty string when fine, else a message for the config error.
std::string validate_pattern(std::string_view pattern);

// The literal part of a pattern before its first wildcard segment, without a trailing '/':
// "/hello/**" -> "/hello", "/api/*/x" -> "/api", "/ping" -> "/ping", "/**" -> "".
std::string literal_prefix(std::string_view pattern);

class RouteTable {
 public:
  RouteTable();
  explicit RouteTable(const std::vector<RouteRule>& rules);  // rules must be valid patterns
  ~RouteTable();
  RouteTable(RouteTable&&) noexcept;
  RouteTable& operator=(RouteTable&&) noexcept;

  // Index (into the rules given at construction) of the first rule in file order whose path,
  // method, host and headers all match, or -1. `path` is the canonical path; `host` may carry a
  // port, which is ignored.
  int match(std::string_view path, std::string_view method, std::string_view host,
            const http::Fields& fields) const;

  std::size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::routing
