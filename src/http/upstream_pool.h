// Per-worker keep-alive pools of origin connections, one list per instance.
//
// A pooled connection keeps one read pending: it sees the origin close an idle connection at once
// (the connection leaves the pool instead of failing the next request), and when a request takes
// the connection, that read becomes the request's first response read. Nothing is cancelled and
// no read is started between the request and its response, so reusing a connection costs no
// system call of its own.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http/buffer.h"
#include "http/stream.h"
#include "observability/metrics.h"

namespace portcullis {
struct Instance;
struct ServiceConfig;
}

namespace portcullis::http {

struct UpstreamConnection {
  explicit UpstreamConnection(boost::asio::io_context& ioc) : stream(ioc) {}
  UpstreamConnection(boost::asio::io_context& ioc, std::unique_ptr<ByteTransport> transport)
      : stream(ioc, std::move(transport)) {}
  Stream::Socket& socket() { return stream.socket(); }

  // Response bytes into `buffer` (at most up to `max_bytes` buffered): the pending read when one
  // is out, else a new read. `kind`: response when the read starts a response (its head).
  boost::asio::awaitable<std::size_t> read(std::size_t max_bytes, boost::system::error_code& ec,
                                           ReadKind kind = ReadKind::plain);

  Stream stream;
  const void* tls = nullptr;  // the service TLS context the connection was made with; null = plain
  Buffer buffer;
  std::uint32_t instance_id = 0;
  std::uint64_t requests = 0;

  // Pool state.
  bool idle = false;
  std::chrono::steady_clock::time_point idle_since;
  observability::GaugeId idle_gauge;
  std::chrono::steady_clock::duration max_idle{};
  // The pending read: out in the event loop, or completed and not yet consumed by a request.
  bool reading = false;
  bool read_done = false;
  boost::system::error_code read_ec;
  std::size_t read_n = 0;
  boost::asio::any_completion_handler<void()> waiter;  // a request awaiting the pending read
};

class UpstreamPools {
 public:
  explicit UpstreamPools(boost::asio::io_context& ioc) : ioc_(ioc) {}
  void set_shard(observability::Shard* shard) { shard_ = shard; }

  // An idle connection to `instance`, or null when none is pooled.
  // Only a connection made with the TLS context `tls` (null = plain) is returned. With `peek`, one
  // non-blocking recv checks that the origin has not just closed it (its close may sit unprocessed
  // in the same event batch as the request): for requests that may not be replayed.
  std::shared_ptr<UpstreamConnection> take(const Instance& instance, const void* tls, bool peek);
  // Returns a healthy connection after a complete exchange; it is closed instead when the pool for
  // that instance is full or the connection served its request quota.
  void give_back(std::shared_ptr<UpstreamConnection> conn, const Instance& instance,
                 const ServiceConfig& service);
  // Closes connections idle for longer than their service's idle timeout (called periodically).
  void sweep();
  void close_all();
  void forget(std::uint32_t instance_id);  // closes its idle connections: the id may be reused
  std::size_t idle_count() const;

 private:
  void keep_reading(const std::shared_ptr<UpstreamConnection>& conn);
  static void read_done(void* pools, std::shared_ptr<void>& conn, boost::system::error_code ec, std::size_t n);
  void drop(UpstreamConnection* conn);

  boost::asio::io_context& ioc_;
  observability::Shard* shard_ = nullptr;
  std::vector<std::vector<std::shared_ptr<UpstreamConnection>>> idle_;  // by instance id
};

}  // namespace portcullis::http
