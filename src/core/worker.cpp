// Worker threads: accept loops, snapshot refresh, periodic upkeep and drain.
#include "core/worker.h"

#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/server.h"
#include "http/session.h"
#include "observability/access_log.h"
#include "util/log.h"

namespace portcullis {

using namespace std::chrono_literals;

Worker::Worker(Server& server, unsigned index)
    : server_(server), index_(index), shard_(&server.metrics().shard(index)), pools_(ioc_), flush_timer_(ioc_),
      lag_timer_(ioc_), accept_resume_(ioc_) {
  auto& m = server.metrics();
  metrics_.active_connections = m.gauge("portcullis_active_connections", "Open downstream connections.");
  metrics_.connections_total = m.counter("portcullis_connections_total", "Accepted downstream connections.");
  metrics_.bad_requests = m.counter("portcullis_bad_requests_total", "Requests refused before routing (malformed).");
  metrics_.parked = m.counter("portcullis_idle_connections_parked_total",
                              "Idle keep-alive connections whose read buffer was released.");
  metrics_.accept_paused = m.gauge("portcullis_accept_paused",
                                   "Workers whose accept is paused because max_connections is reached.");
  metrics_.accept_pauses = m.counter("portcullis_accept_pauses_total",
                                     "Times a worker paused accepting at max_connections.");
  metrics_.event_loop_lag = m.histogram(
      "portcullis_event_loop_lag_seconds", "How late each worker's periodic lag probe ran.",
      {{"worker", std::to_string(index)}}, {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
  metrics_.tls_full_handshakes = m.counter("portcullis_tls_handshakes_total", "Completed downstream TLS handshakes.",
                                          {{"resumed", "false"}});
  metrics_.tls_resumed = m.counter("portcullis_tls_handshakes_total", "Completed downstream TLS handshakes.",
                                   {{"resumed", "true"}});
  metrics_.tls_handshake_failures = m.counter(
      "portcullis_tls_handshake_failures_total",
      "Downstream TLS handshakes that failed (bad client hello, refused version, client certificate, timeout).");
  pools_.set_shard(shard_);
  std::random_device rd;
  char prefix[16];
  std::snprintf(prefix, sizeof(prefix), "%08x%02x", rd(), index & 0xff);
  request_id_prefix = prefix;
}

Worker::~Worker() = default;

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
  flush_logs_periodically();
  probe_lag();
  thread_ = std::thread([this] {
    ioc_.run();
    observability::LogSink::flush_all(index_);
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

std::uint64_t Worker::connection_limit() {
  const auto& server = snapshot()->config.server;
  return std::max<std::uint64_t>(1, server.max_connections / server_.workers().size());
}

// At max_connections the worker stops accepting instead of accepting and closing: new connections
// wait in the kernel's backlog and the ones already open are never disturbed.
net::awaitable<void> Worker::wait_for_room() {
  while (session_count_ >= connection_limit() && !draining_) {
    if (!accept_paused_) {
      accept_paused_ = true;
      shard_->add(metrics_.accept_paused, 1);
      shard_->inc(metrics_.accept_pauses);
    }
    accept_resume_.expires_at(net::steady_timer::time_point::max());
    co_await accept_resume_.async_wait(net::as_tuple(net::use_awaitable));
  }
  if (accept_paused_) {
    accept_paused_ = false;
    shard_->add(metrics_.accept_paused, -1);
  }
}

void Worker::accept_loop(std::size_t i) {
  net::co_spawn(ioc_, [this, i]() -> net::awaitable<void> {
    auto& acceptor = *acceptors_[i];
    while (acceptor.is_open()) {
      co_await wait_for_room();
      if (!acceptor.is_open()) break;
      auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) break;
        // Out of descriptors or similar: back off briefly instead of spinning.
        net::steady_timer pause(ioc_, 10ms);
        co_await pause.async_wait(net::as_tuple(net::use_awaitable));
        continue;
      }
      // Several acceptors may each have had an accept out when the limit was reached.
      if (session_count_ >= connection_limit()) continue;  // the socket closes here
      shard_->inc(metrics_.connections_total);
      // The TLS context of the listener as the current config has it (new connections pick up
      // reloaded certificates; open ones keep theirs).
      std::shared_ptr<const tls::ServerContext> tls_context;
      if (const ListenAddress& bound = bound_[i]; bound.tls) {
        tls_context = bound.tls->context;
        for (const auto& l : snapshot()->config.server.listen)
          if (l.tls && l.port == bound.port && l.host == bound.host) tls_context = l.tls->context;
      }
      Session::start(*this, std::move(socket), std::move(tls_context));
    }
  }, net::detached);
}

void Worker::probe_lag() {
  const auto interval = snapshot()->config.shedding.lag_probe_interval;
  lag_timer_.expires_after(interval);
  lag_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || draining_) return;
    const auto lag = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                         lag_timer_.expiry());
    last_lag_ns_.store(lag.count(), std::memory_order_relaxed);
    shard_->observe(metrics_.event_loop_lag, std::chrono::duration<double>(lag).count());
    const auto bound = snapshot()->config.shedding.max_event_loop_lag;
    lagging_.store(bound.count() > 0 && lag > bound, std::memory_order_relaxed);
    probe_lag();
  });
}

void Worker::flush_logs_periodically() {
  flush_timer_.expires_after(200ms);
  flush_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    observability::LogSink::flush_all(index_);
    pools_.sweep();
    ++tick_;
    for (Session* session : sessions_) session->park_if_idle(tick_);
    if (accept_paused_ && session_count_ < connection_limit()) accept_resume_.cancel();  // the limit was raised
    if (draining_ && session_count_ == 0) {
      pools_.close_all();
      ioc_.stop();
      return;
    }
    flush_logs_periodically();
  });
}

const std::shared_ptr<const Snapshot>& Worker::snapshot() {
  if (server_.generation() != snapshot_generation_) {
    snapshot_ = server_.snapshot();
    snapshot_generation_ = snapshot_->generation;
  }
  return snapshot_;
}

std::list<Session*>::iterator Worker::add_session(Session* s) {
  ++session_count_;
  shard_->add(metrics_.active_connections, 1);
  return sessions_.insert(sessions_.end(), s);
}

void Worker::remove_session(std::list<Session*>::iterator it) {
  --session_count_;
  shard_->add(metrics_.active_connections, -1);
  sessions_.erase(it);
  if (accept_paused_) accept_resume_.cancel();
}

void Worker::begin_drain() {
  net::post(ioc_, [this] {
    draining_ = true;
    boost::system::error_code ec;
    for (auto& a : acceptors_) a->close(ec);
    accept_resume_.cancel();
    lag_timer_.cancel();
    for (Session* s : sessions_) s->wake_if_idle();
    // Check for the end of drain soon rather than at the next flush tick.
    flush_timer_.cancel();
    flush_timer_.expires_after(20ms);
    flush_timer_.async_wait([this](boost::system::error_code) { flush_logs_periodically(); });
  });
}

void Worker::force_stop() {
  net::post(ioc_, [this] { ioc_.stop(); });
}

}  // namespace portcullis
