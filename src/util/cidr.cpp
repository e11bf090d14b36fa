// CIDR parsing and matching (IPv4 ranges are stored IPv4-mapped, so one comparison serves both).
#include "util/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <string>

namespace portcullis {

std::optional<std::array<std::uint8_t, 16>> parse_ip(std::string_view text) {
  std::string s(text);
  std::array<std::uint8_t, 16> out{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(&out[12], &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  std::size_t slash = text.find('/');
  auto address = parse_ip(text.substr(0, slash));
  if (!address) return std::nullopt;
  bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
  Cidr cidr;
  cidr.bytes = *address;
  cidr.prefix = 128;
  if (slash != std::string_view::npos) {
    std::string_view len = text.substr(slash + 1);
    int n = -1;
    auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), n);
    if (ec != std::errc() || p != len.data() + len.size() || n < 0 || n > (v4 ? 32 : 128)) return std::nullopt;
    cidr.prefix = v4 ? n + 96 : n;
  }
  return cidr;
}

bool Cidr::contains(const std::array<std::uint8_t, 16>& address) const {
  int bits = prefix;
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((address[i] & mask) != (bytes[i] & mask)) return false;
  }
  return true;
}

bool any_contains(const std::vector<Cidr>& list, const std::array<std::uint8_t, 16>& address) {
  for (const auto& c : list)
    if (c.contains(address)) return true;
  return false;
}

}  // namespace portcullis
