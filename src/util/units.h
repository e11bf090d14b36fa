// Parsers for the two value kinds every config section uses: durations and byte sizes.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace portcullis {

using Duration = std::chrono::nanoseconds;

// "250ms", "3s", "2m", "1h", "500us", "10ns"; a bare number is seconds. nullopt when malformed.
std::optional<Duration> parse_duration(std::string_view text);

// "1024", "64KiB", "10MiB", "1GiB", "10KB", "5MB" (decimal), "512B". nullopt when malformed.
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace portcullis
