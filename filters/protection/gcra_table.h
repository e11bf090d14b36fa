// GCRA (generic cell rate algorithm) for the rate_limit filter: the arithmetic, and the lock-free
// bucket table the `local` backend shares between every worker thread.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace portcullis::filters {

// A limit in GCRA terms: one request per `interval_ns` (1 / rate), up to `burst` at once.
struct GcraLimit {
  std::int64_t interval_ns = 1;
  std::int64_t burst = 1;
  std::int64_t tolerance_ns() const { return interval_ns * burst; }
};

struct GcraDecision {
  bool allowed = false;
  std::int64_t remaining = 0;       // requests still allowed right now, after this one
  std::int64_t retry_after_ns = 0;  // limited: how long until this request would be allowed
  std::int64_t reset_ns = 0;        // how long until the bucket is full again
};

// One step on a bucket whose theoretical arrival time is `tat` (0 = never used). On `allowed`,
// `new_tat` is the bucket's next state; a limited request leaves the bucket unchanged.
GcraDecision gcra_step(std::int64_t tat, std::int64_t now_ns, const GcraLimit& limit, std::int64_t& new_tat);

// A fixed-size open-addressing table of buckets, one timestamp each, shared by all workers without
// a lock: a key probes `probe_length` slots from its hash, claims a free or expired slot (an expired
// bucket is full, the same as a fresh one) with one CAS, and moves its timestamp with a CAS loop.
// When every probed slot holds another key's live bucket, the request is charged to the one closest
// to full and that slot keeps its owner: a flood of keys beyond the table's size shares buckets,
// which makes limits stricter, never looser.
class GcraTable {
 public:
  static constexpr std::size_t probe_length = 8;

  // `max_keys` is rounded up to a power of two (at least probe_length).
  GcraTable(std::size_t max_keys, GcraLimit limit);

  GcraDecision decide(std::uint64_t key_hash, std::int64_t now_ns);

  std::size_t size() const { return mask_ + 1; }
  const GcraLimit& limit() const { return limit_; }

 private:
  // Two words per key; 16 bytes so four slots share a cache line and a probe touches two lines.
  struct alignas(16) Slot {
    std::atomic<std::uint64_t> key{0};  // 0 = never used
    std::atomic<std::int64_t> tat{0};   // only ever grows, so a CAS on it cannot suffer ABA
  };

  GcraDecision charge(Slot& slot, std::int64_t now_ns);

  GcraLimit limit_;
  std::size_t mask_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace portcullis::filters
