// Per-worker upstream keep-alive pools.
#include "http/upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "config/snapshot.h"

namespace portcullis::http {

namespace {

// An idle connection must have nothing to read: EOF or bytes mean the origin is done with it.
bool peer_closed(boost::asio::ip::tcp::socket& socket) {
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

}  // namespace

std::shared_ptr<UpstreamConnection> UpstreamPools::take(const Instance& instance, const void* tls, bool peek) {
  if (instance.id >= idle_.size()) return nullptr;
  auto& list = idle_[instance.id];
  // Most recently used first: it is the least likely to have been closed by the origin.
  while (!list.empty()) {
    auto conn = std::move(list.back());
    list.pop_back();
    if (shard_) shard_->add(conn->idle_gauge, -1);
    conn->idle = false;
    ++conn->idle_generation;
    boost::system::error_code ec;
    conn->socket.cancel(ec);  // stops the idle wait; its handler sees the new generation
    // Made with TLS settings a reload replaced, or closed by the origin a moment ago: it goes.
    if (conn->socket.is_open() && conn->tls == tls && !(peek && peer_closed(conn->socket))) return conn;
  }
  return nullptr;
}

void UpstreamPools::give_back(std::shared_ptr<UpstreamConnection> conn, const Instance& instance,
                              const ServiceConfig& service) {
  // Bytes the TLS layer holds past the response are as bad as bytes left in the buffer.
  if (!conn->socket.is_open() || conn->requests >= service.max_requests_per_connection ||
      !conn->buffer.empty() || conn->stream.tls_pending()) {
    return;  // closed by the destructor
  }
  if (instance.id >= idle_.size()) idle_.resize(instance.id + 1);
  auto& list = idle_[instance.id];
  if (list.size() >= service.max_idle_connections) return;
  // The read buffer stays with the pooled connection: the pool is bounded, and keeping it saves an
  // allocation per request on a busy keep-alive path.
  conn->idle = true;
  conn->idle_since = std::chrono::steady_clock::now();
  conn->instance_id = instance.id;
  conn->idle_gauge = instance.metrics.pool_idle;
  conn->max_idle = service.idle_connection_timeout;
  if (shard_) shard_->add(conn->idle_gauge, 1);
  list.push_back(conn);
  watch(list.back());
}

void UpstreamPools::watch(const std::shared_ptr<UpstreamConnection>& conn) {
  const std::uint64_t generation = conn->idle_generation;
  if (conn->stream.secure()) {
    // TLS: a raw read would take bytes of a TLS record; wait for readiness instead.
    conn->socket.async_wait(boost::asio::ip::tcp::socket::wait_read,
                            [this, conn, generation](boost::system::error_code ec) {
                              if (ec == boost::asio::error::operation_aborted) return;
                              if (conn->idle && conn->idle_generation == generation) drop(conn.get());
                            });
    return;
  }
  // A one-byte read rather than async_wait: the reactor keeps its one registration of the socket
  // (no epoll_ctl per pooled connection), and a byte arriving here is garbage anyway.
  conn->socket.async_read_some(boost::asio::buffer(&conn->probe, 1),
                          [this, conn, generation](boost::system::error_code, std::size_t) {
                            // Readable while idle means EOF, a reset or bytes nobody asked for:
                            // in every case the connection cannot carry another request.
                            if (conn->idle && conn->idle_generation == generation) drop(conn.get());
                          });
}

void UpstreamPools::drop(UpstreamConnection* conn) {
  if (conn->instance_id >= idle_.size()) return;
  auto& list = idle_[conn->instance_id];
  auto it = std::find_if(list.begin(), list.end(), [&](const auto& c) { return c.get() == conn; });
  if (it == list.end()) return;
  if (shard_) shard_->add(conn->idle_gauge, -1);
  conn->idle = false;
  boost::system::error_code ec;
  conn->socket.close(ec);
  list.erase(it);
}

void UpstreamPools::sweep() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& list : idle_) {
    std::vector<UpstreamConnection*> old;
    for (auto& c : list)
      if (now - c->idle_since > c->max_idle) old.push_back(c.get());
    for (auto* c : old) drop(c);
  }
}

void UpstreamPools::close_all() {
  for (auto& list : idle_) {
    std::vector<UpstreamConnection*> all;
    for (auto& c : list) all.push_back(c.get());
    for (auto* c : all) drop(c);
  }
}

std::size_t UpstreamPools::idle_count() const {
  std::size_t n = 0;
  for (const auto& list : idle_) n += list.size();
  return n;
}

}  // namespace portcullis::http
