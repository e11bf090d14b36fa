// The canary split decision: accuracy, stickiness and monotone ramps.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "canary/canary.h"

using namespace portcullis::canary;

TEST_CASE("without a key, the realised share matches the percent closely", "[canary]") {
  for (double percent : {0.5, 1.0, 5.0, 33.3, 50.0, 99.0}) {
    std::uint32_t sequence = 0;
    const std::uint64_t threshold = threshold_for(percent);
    int canary = 0;
    for (int i = 0; i < 100000; ++i) canary += split_point(false, 0, sequence) < threshold;
    INFO(percent);
    CHECK(std::abs(canary / 1000.0 - percent) < 0.01);
  }
  CHECK(threshold_for(0) == 0);
  CHECK(threshold_for(100) == kWhole);
}

TEST_CASE("sticky keys: the share is near the percent, and raising it only moves keys to the canary", "[canary]") {
  std::vector<std::uint32_t> points;
  for (int u = 0; u < 100000; ++u) {
    std::uint32_t unused = 0;
    points.push_back(split_point(true, hash_key("user-" + std::to_string(u)), unused));
  }
  std::vector<bool> was(points.size(), false);
  for (double percent : {1.0, 5.0, 25.0, 50.0, 100.0}) {
    const std::uint64_t threshold = threshold_for(percent);
    int canary = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
      const bool now = points[i] < threshold;
      CHECK((!was[i] || now));  // never back from canary to baseline
      was[i] = now;
      canary += now;
    }
    INFO(percent);
    CHECK(std::abs(canary / 1000.0 - percent) < 0.5);
  }
}

TEST_CASE("split variants by cumulative bounds", "[canary]") {
  const std::uint64_t upto[] = {threshold_for(90), threshold_for(99), threshold_for(100)};
  std::uint32_t sequence = 0;
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 100000; ++i) ++counts[variant_for(split_point(false, 0, sequence), upto, 3)];
  CHECK(std::abs(counts[0] - 90000) < 20);
  CHECK(std::abs(counts[1] - 9000) < 20);
  CHECK(std::abs(counts[2] - 1000) < 20);
}

TEST_CASE("query parameters", "[canary]") {
  CHECK(query_param("percent=5&x=1", "percent") == std::string_view("5"));
  CHECK(query_param("a=1&action=pause", "action") == std::string_view("pause"));
  CHECK_FALSE(query_param("a=1", "percent").has_value());
  CHECK(query_param("flag", "flag") == std::string_view(""));
}
