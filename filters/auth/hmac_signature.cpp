#include "filters/auth/hmac_signature.h"

#include <chrono>

#include "filters/auth/trim.h"
#include "http/message.h"

namespace portcullis::filters::hmac {
namespace {

// keyId="...",headers="...",signature="..." (each once, in any order, spaces around commas allowed).
bool parse_params(std::string_view text, Signature& out) {
  bool key_id = false, headers = false, signature = false;
  while (true) {
    text = auth::trim(text);
    const std::size_t eq = text.find('=');
    if (eq == std::string_view::npos || eq + 1 >= text.size() || text[eq + 1] != '"') return false;
    const std::string_view name = auth::trim(text.substr(0, eq));
    const std::size_t close = text.find('"', eq + 2);
    if (close == std::string_view::npos) return false;
    const std::string_view value = text.substr(eq + 2, close - eq - 2);
    bool* seen = name == "keyId" ? &key_id : name == "headers" ? &headers : name == "signature" ? &signature : nullptr;
    if (!seen || *seen) return false;
    *seen = true;
    (name == "keyId" ? out.key_id : name == "headers" ? out.headers : out.signature) = value;
    text = auth::trim(text.substr(close + 1));
    if (text.empty()) break;
    if (text.front() != ',') return false;
    text.remove_prefix(1);
  }
  return key_id && headers && signature;
}

}  // namespace

const char* parse_authorization(std::string_view value, bool allow_sha256, bool allow_sha512, Signature& out) {
  value = auth::trim(value);
  if (value.size() > max_authorization) return "Authorization header too long";
  const std::size_t space = value.find(' ');
  if (space == std::string_view::npos) return "malformed HMAC signature";
  const std::string_view scheme = value.substr(0, space);
  if (http::iequals(scheme, "HMAC-SHA256") && allow_sha256) out.algorithm = Algorithm::sha256;
  else if (http::iequals(scheme, "HMAC-SHA512") && allow_sha512) out.algorithm = Algorithm::sha512;
  else return "expected an HMAC-SHA256 or HMAC-SHA512 signature";
  if (!parse_params(value.substr(space + 1), out)) return "malformed HMAC signature";
  return nullptr;
}

const char* split_signed_names(std::string_view list, SignedNames& out) {
  out.count = 0;
  for (std::string_view rest = list; !(rest = auth::trim(rest)).empty();) {
    const std::size_t end = rest.find(' ');
    const std::string_view name = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (out.count == out.names.size()) return "too many signed headers";
    for (std::size_t i = 0; i < out.count; ++i)
      if (out.names[i] == name) return "a signed header is listed twice";
    for (char c : name)
      if (c >= 'A' && c <= 'Z') return "signed header names must be lower case";
    out.names[out.count++] = name;
  }
  return nullptr;
}

std::optional<std::int64_t> parse_imf_fixdate(std::string_view s) {
  static constexpr std::string_view months = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' ||
      s[22] != ':' || s[25] != ' ' || s.substr(26) != "GMT")
    return std::nullopt;
  auto number = [&](std::size_t at, std::size_t n) -> int {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const int day = number(5, 2), year = number(12, 4), hour = number(17, 2), minute = number(20, 2),
            second = number(23, 2);
  const std::size_t month_at = months.find(s.substr(8, 3));
  if (day < 1 || day > 31 || year < 1970 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 ||
      second > 60 || month_at == std::string_view::npos || month_at % 3 != 0)
    return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month_at / 3 + 1)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;
  const std::int64_t days = std::chrono::sys_days(ymd).time_since_epoch().count();
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

}  // namespace portcullis::filters::hmac
