// Worker threads: accept loops, periodic upkeep (log flush, pool sweep, parking) and drain.
#include "core/worker.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>

#include "core/server.h"
#include "http/connection.h"
#include "http/h2/origin_pool.h"
#include "config/runtime_state.h"
#include "util/awaitable.h"

namespace portcullis {

using namespace std::chrono_literals;

Worker::Worker(Server& server, unsigned index)
    : server_(server),
      index_(index),
      context_(ioc_, index, server.metrics().shard(index), WorkerMetrics::make(server.metrics(), index),
               server.snapshots()),
      upkeep_timer_(ioc_),
      lag_timer_(ioc_),
      accept_resume_(ioc_) {
  context_.on_connection_closed(&Worker::on_connection_closed, this);
}

Worker::~Worker() = default;

void Worker::on_connection_closed(void* self) {
  auto* w = static_cast<Worker*>(self);
  if (w->accept_paused_) w->accept_resume_.cancel();
}

std::uint16_t Worker::listen(const ListenAddress& address) {
  auto ip = net::ip::make_address(address.host);
  tcp::endpoint endpoint(ip, address.port);
  auto acceptor = std::make_unique<tcp::acceptor>(ioc_);
  acceptor->open(endpoint.protocol());
  acceptor->set_option(tcp::acceptor::reuse_address(true));
  int one = 1;
  ::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (ip.is_v6()) acceptor->set_option(net::ip::v6_only(true));
  acceptor->bind(endpoint);
  acceptor->listen(4096);
  std::uint16_t port = acceptor->local_endpoint().port();
  acceptors_.push_back(std::move(acceptor));
  bound_.push_back(address);
  return port;
}

void Worker::start() {
  for (std::size_t i = 0; i < acceptors_.size(); ++i) accept_loop(i);
  upkeep();
  probe_lag();
  thread_ = std::thread([this] {
    ioc_.run();
    server_.runtime_state().flush_access_logs(index_);
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

std::uint64_t Worker::connection_limit() {
  const auto& server = context_.snapshot()->config.server;
  return std::max<std::uint64_t>(1, server.max_connections / server_.workers().size());
}

// At max_connections the worker stops accepting instead of accepting and closing: new connections
// wait in the kernel's backlog and the ones already open are never disturbed.
net::awaitable<void> Worker::wait_for_room() {
  auto& shard = context_.shard();
  const WorkerMetrics& m = context_.metrics();
  while (context_.connection_count() >= connection_limit() && !context_.draining()) {
    if (!accept_paused_) {
      accept_paused_ = true;
      shard.add(m.accept_paused, 1);
      shard.inc(m.accept_pauses);
    }
    accept_resume_.expires_at(net::steady_timer::time_point::max());
    co_await accept_resume_.async_wait(use_tuple);
  }
  if (accept_paused_) {
    accept_paused_ = false;
    shard.add(m.accept_paused, -1);
  }
}

void Worker::accept_loop(std::size_t i) {
  net::co_spawn(ioc_, [this, i]() -> net::awaitable<void> {
    auto& acceptor = *acceptors_[i];
    while (acceptor.is_open()) {
      co_await wait_for_room();
      if (!acceptor.is_open()) break;
      tcp::endpoint peer;
      auto [ec, socket] = co_await acceptor.async_accept(ioc_, peer, use_tuple);
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) break;
        // Out of descriptors or similar: back off briefly instead of spinning.
        net::steady_timer pause(ioc_, 10ms);
        co_await pause.async_wait(use_tuple);
        continue;
      }
      // Several acceptors may each have had an accept out when the limit was reached.
      if (context_.connection_count() >= connection_limit()) continue;  // the socket closes here
      context_.shard().inc(context_.metrics().connections_total);
      // The TLS context of the listener as the current config has it (new connections pick up
      // reloaded certificates; open ones keep theirs).
      std::shared_ptr<const tls::ServerContext> tls_context;
      if (const ListenAddress& bound = bound_[i]; bound.tls) {
        tls_context = bound.tls->context;
        for (const auto& l : context_.snapshot()->config.server.listen)
          if (l.tls && l.port == bound.port && l.host == bound.host) tls_context = l.tls->context;
      }
      http::Connection::start(context_, std::move(socket), std::move(tls_context), peer);
    }
  }, net::detached);
}

void Worker::probe_lag() {
  const auto interval = context_.snapshot()->config.shedding.lag_probe_interval;
  lag_timer_.expires_after(interval);
  lag_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || context_.draining()) return;
    const auto lag = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                         lag_timer_.expiry());
    context_.shard().observe(context_.metrics().event_loop_lag, std::chrono::duration<double>(lag).count());
    const auto bound = context_.snapshot()->config.shedding.max_event_loop_lag;
    context_.set_lag(lag, bound.count() > 0 && lag > bound);
    probe_lag();
  });
}

void Worker::upkeep() {
  upkeep_timer_.expires_after(200ms);
  upkeep_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    server_.runtime_state().flush_access_logs(index_);
    context_.pools().sweep();
    context_.origins().sweep(std::chrono::steady_clock::now());
    ++tick_;
    context_.for_each_connection([this](http::Connection& c) { c.park_if_idle(tick_); });
    if (accept_paused_ && context_.connection_count() < connection_limit()) accept_resume_.cancel();  // the limit was raised
    if (context_.draining() && context_.connection_count() == 0) {
      context_.pools().close_all();
      context_.origins().close_all();
      ioc_.stop();
      return;
    }
    upkeep();
  });
}

void Worker::begin_drain() {
  net::post(ioc_, [this] {
    context_.set_draining();
    boost::system::error_code ec;
    for (auto& a : acceptors_) a->close(ec);
    accept_resume_.cancel();
    lag_timer_.cancel();
    context_.for_each_connection([](http::Connection& c) { c.wake_if_idle(); });
    // Check for the end of drain soon rather than at the next upkeep tick.
    upkeep_timer_.cancel();
    upkeep_timer_.expires_after(20ms);
    upkeep_timer_.async_wait([this](boost::system::error_code) { upkeep(); });
  });
}

void Worker::forget_instances(std::vector<std::uint32_t> ids, std::function<void()> done) {
  net::post(ioc_, [this, ids = std::move(ids), done = std::move(done)] {
    context_.forget_instances(ids);
    done();
  });
}

void Worker::force_stop() {
  net::post(ioc_, [this] { ioc_.stop(); });
}

}  // namespace portcullis
