// The lazily re-armed deadline timer (see watchdog.h).
#include "http/watchdog.h"

#include "http/stream.h"

namespace portcullis::http {

void Watchdog::arm_at(Clock::time_point deadline, Stream* target) {
  deadline_ = deadline;
  target_ = target;
  stopped_ = false;
  if (!running_) {
    start();
  } else if (deadline_ < expiry_) {
    timer_.cancel();  // the handler restarts the timer for the nearer deadline
  }
}

void Watchdog::stop() {
  stopped_ = true;
  if (running_) timer_.cancel();
}

void Watchdog::check(Clock::time_point now) {
  if (target_ && now >= deadline_) {
    fired_ = true;
    Stream* target = target_;
    disarm();
    target->close();
  }
}

void Watchdog::start() {
  running_ = true;
  expiry_ = deadline_;
  timer_.expires_at(deadline_);
  timer_.async_wait([this, owner = owner_.lock()](boost::system::error_code) { on_timer(); });
}

void Watchdog::on_timer() {
  running_ = false;
  if (stopped_ || !target_ || deadline_ == Clock::time_point::max()) return;
  const auto now = Clock::now();
  if (now < deadline_) {
    start();
    return;
  }
  check(now);
}

}  // namespace portcullis::http
