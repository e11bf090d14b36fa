// CIDR ranges for trusted proxies and address filters.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace portcullis {

struct Cidr {
  std::array<std::uint8_t, 16> bytes{};  // IPv4 kept as IPv4-mapped IPv6
  int prefix = 128;
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const std::array<std::uint8_t, 16>& address) const;
};

// Parses an IPv4 or IPv6 address into the mapped 16-byte form.
std::optional<std::array<std::uint8_t, 16>> parse_ip(std::string_view text);

bool any_contains(const std::vector<Cidr>& list, const std::array<std::uint8_t, 16>& address);

}  // namespace portcullis
