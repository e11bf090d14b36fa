// Per-worker upstream keep-alive pools and the pending read of a pooled connection.
#include "http/upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/snapshot.h"
#include "util/clock.h"

namespace portcullis::http {

namespace {

// An idle connection must have nothing to read: EOF or bytes mean the origin is done with it.
bool peer_closed(Stream::Socket& socket) {
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

constexpr std::size_t pending_read_bytes = 16 * 1024;

}  // namespace

boost::asio::awaitable<std::size_t> UpstreamConnection::read(std::size_t max_bytes, boost::system::error_code& ec,
                                                             ReadKind kind) {
  if (reading || read_done) {
    // The read the pool left pending: its bytes are already committed to the buffer.
    if (!read_done) {
      co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void()>(
          [this](auto handler) {
            // Swapped in, not assigned: Boost 1.81's move assignment of any_completion_handler
            // wraps the handler in itself without end.
            boost::asio::any_completion_handler<void()> h(std::move(handler));
            waiter.swap(h);
          },
          boost::asio::use_awaitable);
    }
    read_done = false;
    ec = read_ec;
    co_return read_n;
  }
  if (!buffer.prepare(4096, max_bytes)) {
    ec = boost::asio::error::no_buffer_space;
    co_return 0;
  }
  if (!buffer.empty()) kind = ReadKind::plain;  // a continuation: it does not start the response
  const std::size_t n = co_await stream.read_some(buffer.write_ptr(), buffer.writable(), ec, kind);
  if (!ec) buffer.commit(n);
  co_return n;
}

std::shared_ptr<UpstreamConnection> UpstreamPools::take(const Instance& instance, const void* tls, bool peek) {
  if (instance.id >= idle_.size()) return nullptr;
  auto& list = idle_[instance.id];
  // Most recently used first: it is the least likely to have been closed by the origin.
  while (!list.empty()) {
    auto conn = std::move(list.back());
    list.pop_back();
    if (shard_) shard_->add(conn->idle_gauge, -1);
    conn->idle = false;
    // Made with TLS settings a reload replaced, or closed by the origin a moment ago: it goes.
    if (conn->socket().is_open() && conn->tls == tls && !(peek && peer_closed(conn->socket()))) return conn;
    conn->stream.close();  // ends its pending read, which releases it
  }
  return nullptr;
}

void UpstreamPools::give_back(std::shared_ptr<UpstreamConnection> conn, const Instance& instance,
                              const ServiceConfig& service) {
  // Bytes the TLS layer holds past the response are as bad as bytes left in the buffer.
  if (!conn->stream.pollable() || !conn->socket().is_open() || conn->requests >= service.max_requests_per_connection ||
      !conn->buffer.empty() || conn->read_done || conn->stream.tls_pending()) {
    conn->stream.close();
    return;
  }
  if (instance.id >= idle_.size()) idle_.resize(instance.id + 1);
  auto& list = idle_[instance.id];
  if (list.size() >= service.max_idle_connections) {
    conn->stream.close();
    return;
  }
  // The read buffer stays with the pooled connection: the pool is bounded, and keeping it saves an
  // allocation per request on a busy keep-alive path.
  conn->idle = true;
  conn->idle_since = coarse_now();
  conn->instance_id = instance.id;
  conn->idle_gauge = instance.metrics.pool_idle;
  conn->max_idle = service.idle_connection_timeout;
  if (shard_) shard_->add(conn->idle_gauge, 1);
  list.push_back(conn);
  keep_reading(list.back());
}

void UpstreamPools::keep_reading(const std::shared_ptr<UpstreamConnection>& conn) {
  if (conn->reading) return;
  if (!conn->buffer.prepare(4096, pending_read_bytes)) {
    drop(conn.get());
    return;
  }
  conn->reading = true;
  conn->read_done = false;
  conn->stream.start_read(conn->buffer.write_ptr(), conn->buffer.writable(), ReadKind::response,
                          {&UpstreamPools::read_done, this, conn});
}

void UpstreamPools::read_done(void* pools, std::shared_ptr<void>& owner, boost::system::error_code ec, std::size_t n) {
  auto* conn = static_cast<UpstreamConnection*>(owner.get());
  conn->reading = false;
  // Readable while idle means EOF, a reset or bytes nobody asked for: in every case the
  // connection cannot carry another request.
  if (conn->idle) {
    static_cast<UpstreamPools*>(pools)->drop(conn);
    return;
  }
  if (!ec) conn->buffer.commit(n);
  conn->read_ec = ec;
  conn->read_n = n;
  conn->read_done = true;
  if (conn->waiter) conn->waiter();
}

void UpstreamPools::drop(UpstreamConnection* conn) {
  if (conn->instance_id >= idle_.size()) return;
  auto& list = idle_[conn->instance_id];
  auto it = std::find_if(list.begin(), list.end(), [&](const auto& c) { return c.get() == conn; });
  if (it == list.end()) return;
  if (shard_) shard_->add(conn->idle_gauge, -1);
  conn->idle = false;
  conn->stream.close();
  list.erase(it);
}

void UpstreamPools::sweep() {
  // Past their idle timeout, or closed by the origin in a way the pending read may not have seen
  // (a FIN that came with the last response: see http/stream.cpp).
  const auto now = std::chrono::steady_clock::now();
  for (auto& list : idle_) {
    std::vector<UpstreamConnection*> old;
    for (auto& c : list)
      if (now - c->idle_since > c->max_idle || (!c->stream.secure() && peer_closed(c->socket()))) old.push_back(c.get());
    for (auto* c : old) drop(c);
  }
}

void UpstreamPools::close_all() {
  for (std::uint32_t id = 0; id < idle_.size(); ++id) forget(id);
}

void UpstreamPools::forget(std::uint32_t instance_id) {
  if (instance_id >= idle_.size()) return;
  std::vector<UpstreamConnection*> all;
  for (auto& c : idle_[instance_id]) all.push_back(c.get());
  for (auto* c : all) drop(c);
}

std::size_t UpstreamPools::idle_count() const {
  std::size_t n = 0;
  for (const auto& list : idle_) n += list.size();
  return n;
}

}  // namespace portcullis::http
