// Canary traffic splitting: the per-route runtime state an operator and the analysis change
// without a reload (percent, state, pin) and the split decision the data path makes per request.
// The control-thread side (ramps, analysis, admin operations) is in canary/manager.h.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "observability/metrics.h"

namespace portcullis::canary {

enum class State : std::uint8_t { running, paused, promoted, rolled_back };
std::string_view to_string(State s);

constexpr std::uint64_t kWhole = std::uint64_t{1} << 32;  // the split space: points are 32-bit

// The share of the split space for `percent` (0..100).
inline std::uint64_t threshold_for(double percent) {
  if (percent <= 0) return 0;
  if (percent >= 100) return kWhole;
  return static_cast<std::uint64_t>(percent / 100.0 * static_cast<double>(kWhole) + 0.5);
}

// A 64-bit hash of a sticky or consistent-hash key (FNV-1a, then a murmur finaliser to spread the
// high bits that split_point uses).
inline std::uint64_t hash_key(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  return h ^ (h >> 33);
}

// A request's point in the split space. A sticky key maps to a fixed point, so the key stays on
// its side while the percent holds and only moves baseline -> canary when it rises (hash
// threshold). Without a key, a per-worker Weyl sequence (golden-ratio steps) spreads consecutive
// requests evenly: any share is met within a few requests in a thousand, without randomness.
inline std::uint32_t split_point(bool has_key, std::uint64_t key_hash, std::uint32_t& sequence) {
  if (has_key) return static_cast<std::uint32_t>(key_hash >> 32);
  sequence += 0x9E3779B9u;
  return sequence;
}

// Index of the variant for `point`: the first whose cumulative bound is above it.
inline std::size_t variant_for(std::uint32_t point, const std::uint64_t* upto, std::size_t count) {
  for (std::size_t i = 0; i + 1 < count; ++i)
    if (point < upto[i]) return i;
  return count - 1;
}

// Per route id, kept across reloads.
class RouteCanary {
 public:
  RouteCanary(std::string route, observability::Registry& metrics);
  const std::string& route() const { return route_; }

  // ---- data path ----
  std::uint64_t threshold() const { return threshold_.load(std::memory_order_relaxed); }
  int pinned() const { return pinned_.load(std::memory_order_relaxed); }

  // ---- control thread ----
  void set_percent(double percent, std::string_view why);
  double percent() const { return percent_; }
  State state() const { return state_; }
  void set_state(State s) { state_ = s; }
  void pin(int variant, std::string service) {
    pinned_service_ = std::move(service);
    pinned_.store(variant, std::memory_order_relaxed);
  }
  const std::string& pinned_service() const { return pinned_service_; }

  // The file's canary block last applied; a reload with the same block keeps runtime changes.
  std::optional<CanaryConfig> file_config;
  std::vector<std::string> variant_services;  // as of the last reconcile, for the pin check
  std::size_t ramp_step = 0;                   // next index in ramp_steps
  std::chrono::steady_clock::time_point next_ramp{}, next_analysis{};
  bool last_analysis_healthy = true;
  std::string last_verdict;                    // the last analysis, for /admin/canary
  std::vector<std::uint64_t> seen;             // metric totals at the last analysis
  observability::CounterId rollbacks;
  observability::GaugeId percent_gauge;

 private:
  std::string route_;
  observability::Registry& metrics_;
  std::atomic<std::uint64_t> threshold_{0};
  std::atomic<int> pinned_{-1};
  double percent_ = 0;
  State state_ = State::running;
  std::string pinned_service_;
};


// The query parameter `name` of "a=1&b=2" (undecoded), or nullopt.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name);

}  // namespace portcullis::canary
