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

}  // namespace portcullis::http::h2
