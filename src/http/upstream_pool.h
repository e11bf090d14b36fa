// Per-worker keep-alive pools of upstream connections, one list per instance. An idle pooled
// connection keeps a readiness wait armed, so a connection the origin closes leaves the pool at
// once instead of failing the next request sent on it.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

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
  explicit UpstreamConnection(boost::asio::io_context& ioc) : stream(ioc), socket(stream.socket()) {}
  Stream stream;
  boost::asio::ip::tcp::socket& socket;  // the stream's socket
  const void* tls = nullptr;  // the service TLS context the connection was made with; null = plain
  Buffer buffer;
  std::uint32_t instance_id = 0;
  std::uint64_t requests = 0;
  std::uint64_t idle_generation = 0;  // bumped on every take, so a stale idle-wait knows to stop
  bool idle = false;
  std::chrono::steady_clock::time_point idle_since;
  observability::GaugeId idle_gauge;
  std::chrono::steady_clock::duration max_idle{};
  char probe = 0;  // target of the idle watch's one-byte read
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
  std::size_t idle_count() const;

 private:
  void watch(const std::shared_ptr<UpstreamConnection>& conn);
  void drop(UpstreamConnection* conn);

  boost::asio::io_context& ioc_;
  observability::Shard* shard_ = nullptr;
  std::vector<std::vector<std::shared_ptr<UpstreamConnection>>> idle_;  // by instance id
};

}  // namespace portcullis::http
