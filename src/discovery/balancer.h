// Client-side load balancing, one balancer per service per worker: it caches the service's
// current instance set (refreshed when the runtime's generation moves) and keeps the policy's
// cursor, random state and weighted schedule, so a pick takes no lock and allocates nothing.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <queue>
#include <span>
#include <string>
#include <vector>

#include "config/config.h"
#include "discovery/service_runtime.h"

namespace portcullis::discovery {

enum class Policy : std::uint8_t { round_robin, weighted_round_robin, random, least_request, consistent_hash };
bool parse_policy(std::string_view name, Policy& out);

// Instances a pick avoids: those a request already tried. A strict exclusion never picks them;
// otherwise one comes back when it is the sole candidate.
struct Exclusion {
  std::span<const std::uint32_t> ids;
  bool strict = false;
  bool has(std::uint32_t id) const {
    for (std::uint32_t i : ids)
      if (i == id) return true;
    return false;
  }
};

struct PickResult {
  const Instance* instance = nullptr;
  bool panic = false;  // nothing was available: picked among UP instances regardless of health
};

class Balancer {
 public:
  // The set to pick from: the runtime's latest, loaded only when its generation changed.
  const InstanceSet& refresh(const ServiceRuntime& runtime) {
    shared_cursor_ = &runtime.round_robin_cursor();
    const std::uint64_t g = runtime.generation();
    if (g != generation_ || !set_) {
      runtime_ = &runtime;
      set_ = runtime.instances();
      holder_ = std::make_shared<const Holder>(Holder{set_});
      generation_ = set_->generation;
      schedule_built_ = false;
    }
    return *set_;
  }

  // Keeps the current set (and so every Instance a pick returned) alive for as long as the
  // returned pointer lives, even if a newer set replaces it meanwhile. The holder is this worker's
  // own object, so copying it touches no cache line another worker writes.
  std::shared_ptr<const void> hold() const { return holder_; }

  // Lets go of a cached set a newer one replaced (requests that picked from it hold their own
  // reference), so the instances only it had can be forgotten. Worker upkeep, between requests.
  void drop_stale() {
    if (set_ && runtime_ && runtime_->generation() != generation_) {
      set_.reset();
      holder_.reset();
    }
  }

  // `exclude` = an instance already tried by this request (UINT32_MAX = none); it is picked again
  // only when it is the sole candidate. `hash` is used by consistent_hash.
  PickResult pick(Policy policy, bool zone_aware, double zone_min_percent, std::uint64_t hash, std::int64_t now_ns,
                  std::uint32_t exclude = UINT32_MAX) {
    return pick(policy, zone_aware, zone_min_percent, hash, now_ns,
                Exclusion{exclude == UINT32_MAX ? std::span<const std::uint32_t>() : std::span(&exclude, 1), false});
  }
  PickResult pick(Policy policy, bool zone_aware, double zone_min_percent, std::uint64_t hash, std::int64_t now_ns,
                  const Exclusion& exclude);

 private:
  const std::vector<std::uint32_t>& candidates(bool zone_aware, double zone_min_percent, std::int64_t now_ns);
  const Instance* scan(const std::vector<std::uint32_t>& list, std::uint32_t start, std::int64_t now_ns,
                       const Exclusion& exclude, bool ignore_health) const;
  const Instance* weighted(const std::vector<std::uint32_t>& list, std::int64_t now_ns, const Exclusion& exclude);
  std::uint64_t next_random() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }

  struct Holder {
    std::shared_ptr<const InstanceSet> set;
  };
  const ServiceRuntime* runtime_ = nullptr;  // kept for the process's life by RuntimeState
  std::shared_ptr<const InstanceSet> set_;
  std::shared_ptr<const Holder> holder_;
  std::uint64_t generation_ = 0;
  std::uint32_t cursor_ = 0;                                 // this worker's, for the other scans
  std::atomic<std::uint32_t>* shared_cursor_ = nullptr;     // the service's, for round_robin
  std::uint64_t rng_ = 0x9e3779b97f4a7c15ULL;
  // zone awareness: whether the local zone is healthy enough, re-evaluated every 100ms
  std::int64_t zone_checked_ns_ = -1;
  bool zone_ok_ = false;
  // weighted_round_robin: earliest-deadline-first schedule over the current candidate list
  struct Entry {
    double deadline;
    std::uint32_t seq;
    std::uint32_t index;
    bool operator>(const Entry& o) const { return deadline != o.deadline ? deadline > o.deadline : seq > o.seq; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> schedule_;
  const std::vector<std::uint32_t>* schedule_list_ = nullptr;
  bool schedule_built_ = false;
};

}  // namespace portcullis::discovery
