// rate_limit filter: GCRA limits per client IP, header, API key or route, counted in this process
// (lock-free table shared by the workers) or in Redis (shared by every gateway).
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

#include "pipeline/registry.h"

namespace portcullis::filters {

struct Rate {
  double per_second = 0;
  std::int64_t interval_ns = 0;  // 1 / rate: the GCRA emission interval
};

// "100/s", "6000/m", "10/h", or a plain number (per second); fractions allowed ("0.5/s").
// nullopt when malformed, not positive, or out of range (an interval under 1 ns or over 100 days).
std::optional<Rate> parse_rate(std::string_view text);

std::unique_ptr<Filter> make_rate_limit(FilterBuild& build);

}  // namespace portcullis::filters
