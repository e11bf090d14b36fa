// Concurrency gates and priority bands: the admission side of load shedding. A gate counts the
// requests in flight under one limit (the gateway, a route, a service) and refuses at once when a
// request's priority may not use the remaining room: nothing ever waits in a queue here.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace portcullis::protection {

// Requests in flight under one limit, shared by every worker (one relaxed RMW to enter, one to
// leave). Kept across reloads, so requests still running on an older snapshot leave the same
// counter they entered.
class Gate {
 public:
  // Admits when fewer than `allowed` requests are in flight.
  bool enter(std::int64_t allowed) {
    if (in_flight_.fetch_add(1, std::memory_order_relaxed) >= allowed) {
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void leave() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  std::int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<std::int64_t> in_flight_{0};
};

// Leaves a gate when the request ends, however it ends.
class GateTicket {
 public:
  GateTicket() = default;
  explicit GateTicket(Gate* gate) : gate_(gate) {}
  GateTicket(GateTicket&& o) noexcept : gate_(o.gate_) { o.gate_ = nullptr; }
  GateTicket& operator=(GateTicket&& o) noexcept {
    if (this != &o) {
      release();
      gate_ = o.gate_;
      o.gate_ = nullptr;
    }
    return *this;
  }
  ~GateTicket() { release(); }
  void release() {
    if (gate_) gate_->leave();
    gate_ = nullptr;
  }

 private:
  Gate* gate_ = nullptr;
};


// Prioritized shedding (Netflix's model): a priority may use only a share of a limit, so as a
// limit fills, the least important requests are turned away first and the most important only
// when the limit itself is full. Shares are in permille, one per priority 0..99.
class PriorityBands {
 public:
  static constexpr int levels = 100;
  PriorityBands() { share_.fill(1000); }
  void set(int priority, std::uint16_t permille) { share_[static_cast<std::size_t>(priority)] = permille; }
  std::uint16_t share(int priority) const { return share_[static_cast<std::size_t>(priority)]; }
  // How many requests of this priority may be in flight under `limit` (at least one while the
  // share is above zero, so a small limit never locks a priority out entirely).
  std::int64_t allowed(std::int64_t limit, int priority) const {
    const std::uint16_t s = share(priority);
    if (s >= 1000) return limit;
    const std::int64_t n = limit * s / 1000;
    return n > 0 ? n : (s > 0 && limit > 0 ? 1 : 0);
  }

 private:
  std::array<std::uint16_t, levels> share_;
};

// The label of a priority in metrics: its band of ten ("0", "10", .. "90").
inline int priority_band(int priority) { return priority / 10 * 10; }

}  // namespace portcullis::protection
