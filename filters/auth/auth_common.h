// Pieces the authentication filters share: SHA-256 without a heap allocation per request, strict
// base64 and hex decoding into caller buffers, reading `name:value` credential files with line
// numbers, the consumer header sent upstream, and the 401/403 answers.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/auth/trim.h"
#include "pipeline/registry.h"

namespace portcullis::filters::auth {

using Sha256 = std::array<std::uint8_t, 32>;

// SHA-256 of the concatenation of `parts` (one EVP digest context per thread, reused).
Sha256 sha256(std::initializer_list<std::string_view> parts);

// Standard base64 (RFC 4648 section 4) with the padding required; nothing else accepted (no
// whitespace, no URL alphabet). Returns the decoded length, or nullopt when malformed or when the
// result would not fit in `capacity` bytes.
std::optional<std::size_t> base64_decode(std::string_view in, std::uint8_t* out, std::size_t capacity);
std::string base64_encode(const std::uint8_t* data, std::size_t size);

// Exactly 2*size hex digits (either case) into `size` bytes.
bool hex_decode(std::string_view in, std::uint8_t* out, std::size_t size);
std::string hex_encode(const std::uint8_t* data, std::size_t size);

bool is_header_name(std::string_view name);
std::string lower(std::string_view text);

// One line of a credentials file, with its 1-based line number; comments (#) and blank lines
// are already dropped, surrounding whitespace trimmed.
struct FileLine {
  int number = 0;
  std::string text;
};
// nullopt (and `error` set, naming the file) when the file cannot be read.
std::optional<std::vector<FileLine>> read_credential_lines(const std::string& path, std::string& error);

// The request header that tells the upstream who the consumer is. Any copy the client sent is
// replaced, so the upstream can trust it. An empty name sends nothing.
void pass_consumer(Context& ctx, const std::string& header, std::string_view consumer);

// Refuses the request with `status` and the gateway's JSON error; `challenge` (a view that lives
// as long as the filter) is sent as WWW-Authenticate when not empty.
Outcome refuse(Context& ctx, int status, const char* message, std::string_view challenge = {});

// Shared args: `realm` (quoted into a challenge, so no quotes, backslashes or controls) and
// `consumer_header` (a header name, or "" for none).
std::string read_realm(FilterArgs& args, const char* fallback);
std::string read_consumer_header(FilterArgs& args);

}  // namespace portcullis::filters::auth
