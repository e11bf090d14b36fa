// The one canonical path that routing and filters see. The upstream still gets the request-target
// byte for byte (minus a configured prefix strip); only matching uses this form.
#pragma once
#include <string>
#include <string_view>

namespace portcullis::routing {

enum class PathError { none, bad_percent_encoding, above_root, not_absolute, bad_character };

// Canonicalise an origin-form path (no query):
//  - percent-escapes are decoded once, except %2F (kept as "%2F", upper-cased) and %00 (bad);
//    other escapes of reserved characters are decoded too: matching is on decoded text;
//  - dot-segments ("." and "..", also when they came from %2E) are removed per RFC 3986 5.2.4;
//    a ".." that would climb above the root is an error (400), not clamped;
//  - %25 stays "%25", so every '%' left in the result starts an escape (see encode_path);
//  - empty segments ("//") are kept; nothing is decoded twice.
// Writes the result into `out` (cleared first) and returns none on success.
PathError canonicalize_path(std::string_view raw_path, std::string& out);

// Percent-encodes a canonical path for sending upstream: characters outside RFC 3986 pchar and '/'
// become %XX; existing escapes (%2F, %25) are kept as they are.
std::string encode_path(std::string_view canonical);

}  // namespace portcullis::routing
