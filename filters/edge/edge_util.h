// Helpers shared by the edge filters (cors, redirects, security_headers, request_size_limit):
// checks on header text the gateway writes, and the readers for args given as durations.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pipeline/registry.h"

namespace portcullis::filters::edge {

// The longest header value an edge filter accepts in its config.
constexpr std::size_t max_value_bytes = 8192;

// Header value text the gateway may write: printable ASCII (0x20..0x7e), not empty, no leading or
// trailing space. CR, LF, other controls and non-ASCII bytes can never reach the wire through it.
bool is_header_text(std::string_view text);
// Printable ASCII without spaces (a URI, a token list without whitespace).
bool is_visible_ascii(std::string_view text);
// RFC 9110 token: header names, method names.
bool is_token(std::string_view text);
// Whether `text` is in `list`, ignoring ASCII case.
bool contains_ignoring_case(const std::vector<std::string>& list, std::string_view text);
std::string lower(std::string_view text);

// A duration ("10m", "1h") or a bare number of seconds, in whole seconds within min..max.
// Reports a config error and gives nullopt when malformed or out of range.
std::optional<std::int64_t> read_seconds(FilterArgs& args, const std::string& key, std::int64_t min, std::int64_t max);

// 301, 302, 303, 307 or 308.
bool is_redirect_status(long long status);

// The host of a Host value without its port ("[::1]:8443" -> "[::1]"); empty when `host` is not
// a valid Host value or holds bytes that must not go into a Location.
std::string_view host_without_port(std::string_view host);

}  // namespace portcullis::filters::edge
