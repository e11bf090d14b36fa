// Durations and sizes as text: the forms the docs and messages show, and what is said of a
// malformed value wherever one is read (config keys and filter args alike).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/units.h"

namespace portcullis {

// The shortest exact form: "250ms", "90s", "5m", "1h"; "0" for zero.
std::string format_duration(Duration d);
// "64KiB", "10MiB", "1GiB" when exact, else the bytes: "1000".
std::string format_bytes(std::uint64_t bytes);

// What is said of a malformed value, wherever it is read (config keys and filter args alike).
// `shown` is the text as written, nullopt when the value was not a scalar.
std::string invalid_duration(std::optional<std::string_view> shown);
std::string invalid_size(std::optional<std::string_view> shown);

}  // namespace portcullis
