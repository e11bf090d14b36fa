// Departed instances forgotten once no worker can still use them (see departed_sweep.h).
#include "core/departed_sweep.h"

#include <algorithm>
#include <atomic>
#include <string>

#include <boost/asio/post.hpp>

#include "config/runtime_state.h"
#include "core/server.h"
#include "core/worker.h"
#include "discovery/service_runtime.h"
#include "util/clock.h"

namespace portcullis {

using namespace std::chrono_literals;
namespace net = boost::asio;

namespace {

struct Forgotten {
  std::shared_ptr<discovery::ServiceRuntime> runtime;
  std::vector<std::string> addresses;
};

}  // namespace

DepartedSweep::DepartedSweep(net::io_context& control, Server& server)
    : control_(control), server_(server), timer_(control) {}

void DepartedSweep::start() { schedule(); }

void DepartedSweep::stop() {
  stopped_ = true;
  *alive_ = false;
  timer_.cancel();
}

// Twice per retention period, at least every 10 s and at most every 100 ms.
void DepartedSweep::schedule() {
  if (stopped_) return;
  const auto after = server_.snapshot()->config.discovery.forget_departed_after;
  const auto period = std::clamp<std::chrono::nanoseconds>(after / 2, 100ms, 10s);
  timer_.expires_after(period);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopped_) round();
  });
}

void DepartedSweep::round() {
  const auto after = server_.snapshot()->config.discovery.forget_departed_after;
  const std::int64_t now = steady_now_ns();
  auto forgotten = std::make_shared<std::vector<Forgotten>>();
  std::vector<std::uint32_t> ids;
  bool waiting = false;  // past the retention but still in some set: the workers' pass frees it
  for (auto& runtime : server_.runtime_state().services()) {
    std::vector<std::string> gone = runtime->departed(now, after, waiting);
    if (gone.empty()) continue;
    for (const std::string& address : gone) ids.push_back(runtime->instance_id(address));
    forgotten->push_back({runtime, std::move(gone)});
  }
  const auto& workers = server_.workers();
  if ((forgotten->empty() && !waiting) || workers.empty() || server_.draining()) {
    schedule();
    return;
  }
  // Every worker closes its idle connections to these ids before any id is reused, and lets go
  // of stale sets so that instances still waiting can go at the next round.
  auto remaining = std::make_shared<std::atomic<std::size_t>>(workers.size());
  const std::int64_t departed_by = now - after.count();
  auto finish = [this, alive = alive_, forgotten, departed_by] {
    if (!*alive) return;
    for (const Forgotten& f : *forgotten)
      for (const std::string& address : f.addresses) f.runtime->forget(address, departed_by);
    schedule();
  };
  for (const auto& worker : workers) {
    worker->forget_instances(ids, [this, remaining, finish] {
      if (remaining->fetch_sub(1, std::memory_order_acq_rel) == 1) net::post(control_, finish);
    });
  }
}

}  // namespace portcullis
