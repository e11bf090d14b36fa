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
    : server_(server), index_(index), shard_(&server.metrics().shard(index)), pools_(ioc_), flush_timer_(ioc_) {
  auto& m = server.metrics();
  metrics_.active_connections = m.gauge("portcullis_active_connections", "Open downstream connections.");
  metrics_.connections_total = m.counter("portcullis_connections_total", "Accepted downstream connections.");
  metrics_.bad_requests = m.counter("portcullis_bad_requests_total", "Requests refused before routing (malformed).");
  metrics_.parked = m.counter("portcullis_idle_connections_parked_total",
                              "Idle keep-alive connections whose read buffer was released.");
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
  return port;
}

void Worker::start() {
  for (std::size_t i = 0; i < acceptors_.size(); ++i) accept_loop(i);
  flush_logs_periodically();
  thread_ = std::thread([this] {
    ioc_.run();
    observability::LogSink::flush_all(index_);
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::accept_loop(std::size_t i) {
  net::co_spawn(ioc_, [this, i]() -> net::awaitable<void> {
    auto& acceptor = *acceptors_[i];
    while (acceptor.is_open()) {
      auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) break;
        // Out of descriptors or similar: back off briefly instead of spinning.
        net::steady_timer pause(ioc_, 10ms);
        co_await pause.async_wait(net::as_tuple(net::use_awaitable));
        continue;
      }
      const auto& server = snapshot()->config.server;
      const std::uint64_t per_worker = std::max<std::uint64_t>(1, server.max_connections / server_.workers().size());
      if (session_count_ >= per_worker) continue;  // over the limit: the socket closes here
      shard_->inc(metrics_.connections_total);
      Session::start(*this, std::move(socket));
    }
  }, net::detached);
}

void Worker::flush_logs_periodically() {
  flush_timer_.expires_after(200ms);
  flush_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    observability::LogSink::flush_all(index_);
    pools_.sweep();
    ++tick_;
    for (Session* session : sessions_) session->park_if_idle(tick_);
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
}

void Worker::begin_drain() {
  net::post(ioc_, [this] {
    draining_ = true;
    boost::system::error_code ec;
    for (auto& a : acceptors_) a->close(ec);
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
