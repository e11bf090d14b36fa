// The example backend's --capacity: at most N requests served at once, the others waiting in
// arrival order. Included by backend.cpp only.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <deque>

namespace backend {

constexpr auto capacity_wait = boost::asio::as_tuple(boost::asio::use_awaitable);

// --capacity: N slots handed out in arrival order. A request that finds none free waits on a timer
// that never expires by itself; release() passes its slot straight to the oldest waiter and wakes
// it by cancelling that timer, so a newcomer can never overtake the queue.
class Capacity {
 public:
  explicit Capacity(std::size_t slots) : free_(slots) {}

  boost::asio::awaitable<void> acquire() {
    if (free_ > 0 && waiting_.empty()) {
      --free_;
      co_return;
    }
    Waiter waiter(*this, co_await boost::asio::this_coro::executor);
    while (!waiter.granted) co_await waiter.timer.async_wait(capacity_wait);
  }

  void release() {
    if (closed_) return;
    if (waiting_.empty()) {
      ++free_;
      return;
    }
    Waiter* next = waiting_.front();
    waiting_.pop_front();
    next->granted = true;
    next->timer.cancel();
  }

  // At exit the io_context destroys suspended coroutines in no particular order: from then on no
  // slot is handed on, so no timer of an already destroyed waiter is touched.
  void close() {
    closed_ = true;
    waiting_.clear();
  }

 private:
  // Lives in the waiting coroutine's frame; a waiter destroyed before its turn leaves the queue.
  struct Waiter {
    Waiter(Capacity& owner, const boost::asio::any_io_executor& executor)
        : owner(owner), timer(executor, boost::asio::steady_timer::time_point::max()) {
      owner.waiting_.push_back(this);
    }
    ~Waiter() {
      if (!granted) std::erase(owner.waiting_, this);
    }
    Capacity& owner;
    boost::asio::steady_timer timer;
    bool granted = false;
  };

  std::size_t free_;
  std::deque<Waiter*> waiting_;
  bool closed_ = false;
};

// Holds one slot for the life of a request; a no-op without --capacity.
class CapacitySlot {
 public:
  explicit CapacitySlot(Capacity* capacity) : capacity_(capacity) {}
  CapacitySlot(const CapacitySlot&) = delete;
  CapacitySlot& operator=(const CapacitySlot&) = delete;
  ~CapacitySlot() {
    if (capacity_) capacity_->release();
  }

 private:
  Capacity* capacity_;
};

}  // namespace backend
