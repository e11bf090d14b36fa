// The parts of an HMAC-signed request the hmac_auth filter reads before it computes anything:
//
//   Authorization: HMAC-SHA256 keyId="client-1",headers="date x-content-sha256",signature="BASE64"
//
// and the IMF-fixdate of its Date or X-Date header. Each parser returns views into its input.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace portcullis::filters::hmac {

constexpr std::size_t max_authorization = 8192;
constexpr std::size_t max_signed_headers = 32;

enum class Algorithm { sha256, sha512 };

struct Signature {
  Algorithm algorithm = Algorithm::sha256;
  std::string_view key_id, headers, signature;
};

// The Authorization value (surrounding whitespace allowed): the scheme (case-insensitive, only the
// allowed ones), then keyId, headers and signature, each quoted, once, in any order. nullptr when
// it parses, else the refusal's message.
const char* parse_authorization(std::string_view value, bool allow_sha256, bool allow_sha512, Signature& out);

// The names in headers="...", separated by spaces: lower case, none twice, at most
// max_signed_headers. nullptr when they are, else the refusal's message.
struct SignedNames {
  std::array<std::string_view, max_signed_headers> names;
  std::size_t count = 0;
};
const char* split_signed_names(std::string_view list, SignedNames& out);

// "Sun, 06 Nov 1994 08:49:37 GMT" to seconds since the Unix epoch; nothing for any other form.
std::optional<std::int64_t> parse_imf_fixdate(std::string_view text);

}  // namespace portcullis::filters::hmac
