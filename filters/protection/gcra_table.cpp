// GCRA and the lock-free bucket table of the rate_limit filter's local backend.
#include "filters/protection/gcra_table.h"

#include <algorithm>
#include <bit>
#include <limits>

namespace portcullis::filters {

GcraDecision gcra_step(std::int64_t tat, std::int64_t now_ns, const GcraLimit& limit, std::int64_t& new_tat) {
  GcraDecision d;
  const std::int64_t tolerance = limit.tolerance_ns();
  // A bucket idle since its TAT passed is full: it behaves as if it had just been created.
  const std::int64_t base = std::max(tat, now_ns);
  const std::int64_t next = base + limit.interval_ns;
  const std::int64_t wait = next - now_ns;
  if (wait > tolerance) {
    d.retry_after_ns = wait - tolerance;
    d.reset_ns = base - now_ns;
    new_tat = tat;
    return d;
  }
  d.allowed = true;
  d.remaining = (tolerance - wait) / limit.interval_ns;
  d.reset_ns = wait;
  new_tat = next;
  return d;
}

GcraTable::GcraTable(std::size_t max_keys, GcraLimit limit)
    : limit_(limit), mask_(std::bit_ceil(std::max(max_keys, probe_length)) - 1),
      slots_(std::make_unique<Slot[]>(mask_ + 1)) {}

GcraDecision GcraTable::charge(Slot& slot, std::int64_t now_ns) {
  std::int64_t tat = slot.tat.load(std::memory_order_relaxed);
  for (;;) {
    std::int64_t next = 0;
    const GcraDecision d = gcra_step(tat, now_ns, limit_, next);
    if (!d.allowed) return d;  // a refusal writes nothing: a limited flood costs loads only
    if (slot.tat.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return d;
  }
}

GcraDecision GcraTable::decide(std::uint64_t key_hash, std::int64_t now_ns) {
  const std::uint64_t key = key_hash != 0 ? key_hash : 0x9E3779B97F4A7C15ULL;  // 0 marks a free slot
  const std::size_t home = static_cast<std::size_t>(key) & mask_;
  // A lost claim race usually means another thread just claimed a slot for this same key: look
  // again and find it. The bound keeps a pathological race from spinning.
  for (int round = 0; round < 4; ++round) {
    Slot* claimable = nullptr;
    std::uint64_t claimable_key = 0;
    Slot* fullest = nullptr;  // the live bucket closest to full, shared when nothing is claimable
    std::int64_t fullest_tat = std::numeric_limits<std::int64_t>::max();
    // The whole window is scanned before claiming: the key may sit behind a slot that expired
    // after the key was placed.
    for (std::size_t i = 0; i < probe_length; ++i) {
      Slot& slot = slots_[(home + i) & mask_];
      const std::uint64_t k = slot.key.load(std::memory_order_acquire);
      if (k == key) return charge(slot, now_ns);
      if (claimable) continue;
      if (k == 0) {
        claimable = &slot;
        claimable_key = 0;
        continue;
      }
      const std::int64_t tat = slot.tat.load(std::memory_order_relaxed);
      if (tat <= now_ns) {
        claimable = &slot;
        claimable_key = k;
      } else if (tat < fullest_tat) {
        fullest = &slot;
        fullest_tat = tat;
      }
    }
    if (!claimable) return charge(*fullest, now_ns);
    // The expired bucket's TAT is kept: it is in the past, so the new key starts with a full bucket.
    if (claimable->key.compare_exchange_strong(claimable_key, key, std::memory_order_acq_rel))
      return charge(*claimable, now_ns);
  }
  return charge(slots_[home], now_ns);
}

}  // namespace portcullis::filters
