// One deadline timer per connection, shared by the connection and the request on it. Every
// network await is covered by a deadline, but arming is a store: the timer wakes at its old
// expiry, sees the new deadline and sleeps again, and only a nearer deadline re-arms it. On expiry
// it closes the stream it was armed for (the client's, or an origin connection's), so the await
// on that stream fails and the code that waited sees fired() and answers for a timeout.
#pragma once
#include <chrono>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "util/clock.h"

namespace portcullis::http {

class Stream;

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Watchdog(boost::asio::io_context& ioc) : timer_(ioc) {}
  // The object that owns this watchdog, kept alive by a pending timer wait.
  void bind(std::weak_ptr<void> owner) { owner_ = std::move(owner); }

  // `target` is closed if `d` passes before the next arm() or disarm().
  void arm(Clock::duration d, Stream* target) { arm_at(coarse_now() + d, target); }
  void arm_at(Clock::time_point deadline, Stream* target);
  void disarm() {
    deadline_ = Clock::time_point::max();
    target_ = nullptr;
  }
  // The timer stops (a parked connection: the worker's sweep checks deadline() instead).
  void stop();
  Clock::time_point deadline() const { return deadline_; }
  bool fired() const { return fired_; }
  void clear() { fired_ = false; }
  // Called by the sweep for a stopped watchdog: closes the target if the deadline has passed.
  void check(Clock::time_point now);

 private:
  void start();
  void on_timer();

  boost::asio::basic_waitable_timer<Clock, boost::asio::wait_traits<Clock>, boost::asio::io_context::executor_type>
      timer_;
  std::weak_ptr<void> owner_;
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point expiry_{};
  Stream* target_ = nullptr;
  bool running_ = false;
  bool stopped_ = false;
  bool fired_ = false;
};

}  // namespace portcullis::http
