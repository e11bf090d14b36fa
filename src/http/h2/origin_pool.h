// A worker's HTTP/2 connections to origins, a few per instance: a request takes the first with
// room for one more stream, and a new connection is made only when every one is full (the
// origin's SETTINGS_MAX_CONCURRENT_STREAMS), has seen GOAWAY, or carried its request quota.
// Connections with no stream for longer than the service's idle_connection_timeout are closed.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace portcullis {
struct Instance;
struct ServiceConfig;
}

namespace portcullis::http::h2 {

class OriginSession;
class OriginStream;

class OriginPool {
 public:
  OriginPool();
  ~OriginPool();
  // A connection to `instance` made with the TLS context `tls` (null = plain) that takes one more
  // stream, or null.
  std::shared_ptr<OriginSession> take(const Instance& instance, const void* tls);
  void add(std::shared_ptr<OriginSession> session);
  // Closes connections idle past their timeout, and forgets those that ended.
  void sweep(std::chrono::steady_clock::time_point now);
  void forget(std::uint32_t instance_id);  // its connections close: the id may be reused
  void close_all();
  std::size_t size() const;
  // A stream for a new request: one given back that nobody holds any more (its buffers' memory
  // kept, so a request costs no allocation once the pool is warm), or a new one.
  std::shared_ptr<OriginStream> stream(boost::asio::io_context& ioc);
  void give_back(std::shared_ptr<OriginStream> stream);  // the exchange is done with it

 private:
  std::vector<std::shared_ptr<OriginStream>> returned_;
  std::vector<std::vector<std::shared_ptr<OriginSession>>> by_instance_;  // by instance id
};

}  // namespace portcullis::http::h2
