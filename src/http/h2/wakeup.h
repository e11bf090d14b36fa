// A coroutine's wait for "something changed" on one worker thread: the stream waiting for request
// body bytes or for room in its output, the session's writer waiting for frames to send. notify()
// wakes a waiter, if there is one; a notify with nobody waiting is not remembered, so a waiter
// checks its condition before it waits (one thread: nothing can change in between).
#pragma once
#include <chrono>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "util/awaitable.h"

namespace portcullis::http::h2 {

class Wakeup {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Wakeup(boost::asio::io_context& ioc) : timer_(ioc) {}

  // True when woken; false when `deadline` passed first.
  boost::asio::awaitable<bool> wait(Clock::time_point deadline = Clock::time_point::max()) {
    waiting_ = true;
    timer_.expires_at(deadline);
    auto [ec] = co_await timer_.async_wait(use_tuple);
    waiting_ = false;
    co_return static_cast<bool>(ec);  // cancelled = woken
  }
  void notify() {
    if (waiting_) timer_.cancel();
  }
  bool waiting() const { return waiting_; }

 private:
  boost::asio::basic_waitable_timer<Clock, boost::asio::wait_traits<Clock>, boost::asio::io_context::executor_type>
      timer_;
  bool waiting_ = false;
};

// A token bucket: `rate` a second, at most twice that saved up.
class Budget {
 public:
  using Clock = std::chrono::steady_clock;
  void reset(std::uint64_t rate) {
    rate_ = static_cast<double>(rate);
    tokens_ = 2 * rate_;
    last_ = Clock::now();
  }
  // Takes one; false when none is left.
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
