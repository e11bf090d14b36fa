// The flood budgets of an HTTP/2 connection (see session.h): a token bucket per kind of frame or
// event the client may only send so often.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>

#include "util/clock.h"

namespace portcullis::http::h2 {

// A token bucket: `rate` a second, at most twice that saved up.
class Budget {
 public:
  using Clock = std::chrono::steady_clock;
  void reset(std::uint64_t rate) {
    rate_ = static_cast<double>(rate);
    tokens_ = 2 * rate_;
    last_ = coarse_now();  // the clock take() is given
  }
  // Takes one at `now` (coarse_now()); false when none is left.
  bool take(Clock::time_point now) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(2 * rate_, tokens_ + elapsed * rate_);
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double rate_ = 0;
  double tokens_ = 0;
  Clock::time_point last_{};
};

}  // namespace portcullis::http::h2
