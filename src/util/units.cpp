// Duration and size parsing shared by every config section.
#include "util/units.h"
#include "util/units_text.h"

#include <charconv>
#include <cmath>

namespace portcullis {
namespace {

struct NumberAndUnit {
  double number = 0;
  std::string_view unit;
};

std::optional<NumberAndUnit> split(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  std::size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  NumberAndUnit out;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, out.number);
  if (ec != std::errc() || ptr != text.data() + i || !std::isfinite(out.number) || out.number < 0)
    return std::nullopt;
  out.unit = text.substr(i);
  while (!out.unit.empty() && out.unit.front() == ' ') out.unit.remove_prefix(1);
  return out;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  auto parts = split(text);
  if (!parts) return std::nullopt;
  double ns_per_unit = 0;
  const auto unit = parts->unit;
  if (unit.empty() || unit == "s") ns_per_unit = 1e9;
  else if (unit == "ms") ns_per_unit = 1e6;
  else if (unit == "us") ns_per_unit = 1e3;
  else if (unit == "ns") ns_per_unit = 1;
  else if (unit == "m") ns_per_unit = 60e9;
  else if (unit == "h") ns_per_unit = 3600e9;
  else return std::nullopt;
  const double ns = parts->number * ns_per_unit;
  if (ns > 1e18) return std::nullopt;
  return Duration(static_cast<std::int64_t>(ns));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto parts = split(text);
  if (!parts) return std::nullopt;
  double factor = 0;
  const auto unit = parts->unit;
  if (unit.empty() || unit == "B") factor = 1;
  else if (unit == "KiB") factor = 1024.0;
  else if (unit == "MiB") factor = 1024.0 * 1024;
  else if (unit == "GiB") factor = 1024.0 * 1024 * 1024;
  else if (unit == "KB" || unit == "kB") factor = 1e3;
  else if (unit == "MB") factor = 1e6;
  else if (unit == "GB") factor = 1e9;
  else return std::nullopt;
  const double bytes = parts->number * factor;
  if (bytes > 9.2e18 || bytes != std::floor(bytes)) return std::nullopt;
  return static_cast<std::uint64_t>(bytes);
}

std::string format_duration(Duration d) {
  const std::int64_t n = d.count();
  if (n == 0) return "0";
  struct Unit {
    std::int64_t ns;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{3600'000'000'000, "h"}, {60'000'000'000, "m"}, {1'000'000'000, "s"},
                                    {1'000'000, "ms"},       {1'000, "us"},          {1, "ns"}};
  for (const Unit& unit : kUnits)
    if (n % unit.ns == 0) return std::to_string(n / unit.ns) + unit.name;
  return std::to_string(n) + "ns";
}

std::string format_bytes(std::uint64_t bytes) {
  struct Unit {
    std::uint64_t factor;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
  for (const Unit& unit : kUnits)
    if (bytes >= unit.factor && bytes % unit.factor == 0) return std::to_string(bytes / unit.factor) + unit.name;
  return std::to_string(bytes);
}

std::string invalid_duration(std::optional<std::string_view> shown) {
  return "invalid duration " + (shown ? "\"" + std::string(*shown) + "\" " : std::string()) +
         "(expected e.g. 250ms, 3s, 2m, 1h; a bare number is seconds)";
}

std::string invalid_size(std::optional<std::string_view> shown) {
  return "invalid size " + (shown ? "\"" + std::string(*shown) + "\" " : std::string()) +
         "(expected bytes, or a number with B, KiB, MiB, GiB, KB, MB or GB)";
}

}  // namespace portcullis
