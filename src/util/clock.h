// A cheaper clock for deadlines. Timeouts need milliseconds, not nanoseconds: the coarse monotonic
// clock (the same clock as steady_clock, updated once per kernel tick) is read without the
// timestamp counter, which on a virtual machine is the expensive part of a clock read. Durations
// that are measured and reported (latencies) use steady_clock::now().
#pragma once
#include <chrono>
#include <cstdint>
#include <ctime>

namespace portcullis {

inline std::chrono::steady_clock::time_point coarse_now() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

// steady_clock as nanoseconds since its epoch: what the shared atomics (ejection deadlines, lease
// and departure times) store.
inline std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace portcullis
