// Adaptive concurrency limits (Netflix's concurrency-limits algorithms). A service's limit follows
// its latency: when responses slow down, requests are queueing somewhere behind the gateway, so the
// limit shrinks and the excess is shed at once instead of waiting; when latency recovers the limit
// grows back.
//
// Workers report one sample per request (latency to the response head, the in-flight count when it
// was admitted, whether it was dropped: a timeout, a refused connection, a 503/429). Samples are
// summed per window; whichever worker closes a window runs the algorithm, guarded by a flag that is
// tried, never waited on. The limit itself is one atomic the admission check reads.
//
// Both algorithms compare the latency with a reference (gradient2's long-term latency, vegas's
// no-load latency). While the limit is reached, every window is measured with the gateway's own
// queue in it, and a reference taken then ratchets the limit up. So once the limit has been full
// for three windows in a row, the first time and then at most every `probe_interval`, one window
// runs at half the limit and the latency of the requests admitted in it, once the backlog queued
// at the full limit is through, becomes the reference.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include "config/config.h"

namespace portcullis::protection {

// One window's aggregate, the input of an algorithm.
struct WindowSample {
  double rtt_ns = 0;      // average latency of the window's requests
  double in_flight = 0;   // the most requests in flight seen during the window
  bool dropped = false;   // some request of the window was dropped
  std::uint64_t count = 0;
  bool limited = false;   // the limit was reached: some request was refused or in flight hit it
};

// Gradient2: the limit moves by the ratio of long-term to short-term latency, smoothed, plus a
// queue allowance; it only grows while the service is actually using at least half of it.
class Gradient2 {
 public:
  explicit Gradient2(const AdaptiveConcurrencyConfig& config);
  double update(const WindowSample& sample);
  // The latency measured at half the limit: what the service does without a queue in front.
  void reference(double rtt_ns);
  double limit() const { return limit_; }
  double long_rtt() const { return long_rtt_; }

 private:
  const AdaptiveConcurrencyConfig config_;
  double smoothing_;
  double limit_;
  double long_rtt_ = 0;
  std::uint64_t warmup_ = 0;
};

// Vegas: estimates the queue behind the gateway from the latency against the no-load latency
// (the lowest seen, re-probed now and then) and keeps it between alpha and beta.
class Vegas {
 public:
  explicit Vegas(const AdaptiveConcurrencyConfig& config);
  double update(const WindowSample& sample);
  void reference(double rtt_ns);  // as Gradient2::reference
  double limit() const { return limit_; }
  double no_load_rtt() const { return no_load_rtt_; }

 private:
  const AdaptiveConcurrencyConfig config_;
  double smoothing_;
  double limit_;
  double no_load_rtt_ = 0;
  std::uint64_t requests_since_probe_ = 0;
  std::uint64_t probe_after_;
};

class AdaptiveLimiter {
 public:
  explicit AdaptiveLimiter(const AdaptiveConcurrencyConfig& config);
  const AdaptiveConcurrencyConfig& config() const { return config_; }

  std::int64_t limit() const { return limit_.load(std::memory_order_relaxed); }

  // Data path, any worker. `now_ns` is the steady clock in nanoseconds.
  void sample(std::int64_t now_ns, std::int64_t rtt_ns, std::int64_t in_flight, bool dropped);
  // Data path, only when a request is refused because this limit is full.
  void note_limited() {
    if (!limited_.load(std::memory_order_relaxed)) limited_.store(true, std::memory_order_relaxed);
  }

  // For /admin: the latency figures the algorithm works from (read while it may change: advisory).
  struct View {
    std::int64_t limit;
    double last_rtt_ms;
    double reference_rtt_ms;  // gradient2: long-term average; vegas: no-load latency
    std::uint64_t windows;
    std::uint64_t probes;  // windows run at half the limit
  };
  View view() const;

 private:
  void close_window(std::int64_t now_ns);
  double algorithm_limit() const { return vegas_ ? vegas_algo_.limit() : gradient2_.limit(); }

  const AdaptiveConcurrencyConfig config_;
  const bool vegas_;
  Gradient2 gradient2_;
  Vegas vegas_algo_;
  alignas(64) std::atomic<std::int64_t> limit_;
  alignas(64) std::atomic<std::uint64_t> rtt_sum_ns_{0};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::int64_t> max_in_flight_{0};
  std::atomic<bool> dropped_{false};
  std::atomic<bool> limited_{false};
  // Non-zero while a probe window runs: samples of requests admitted before it are left out.
  std::atomic<std::int64_t> probe_start_ns_{0};
  std::int64_t last_probe_ns_ = 0;  // under updating_
  unsigned full_windows_ = 0;       // under updating_: windows in a row that reached the limit
  std::atomic<std::int64_t> window_start_ns_{0};
  std::atomic<bool> updating_{false};
  // Written under updating_, read by /admin.
  std::atomic<double> last_rtt_ms_{0};
  std::atomic<double> reference_rtt_ms_{0};
  std::atomic<std::uint64_t> windows_{0};
  std::atomic<std::uint64_t> probes_{0};
};

}  // namespace portcullis::protection
