// Opening connections to origins. The route stage asks a Connector for a new connection when the
// pool has none; the worker's is TCP (with TLS when the service says so), and the data path's
// unit tests put in-memory origins in its place.
#pragma once
#include <chrono>
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "pipeline/context.h"

namespace portcullis {
struct Endpoint;
struct Instance;
struct Service;
}

namespace portcullis::http {

struct UpstreamConnection;
class Watchdog;

// An instance's endpoint as Asio's.
boost::asio::ip::tcp::endpoint tcp_endpoint(const Endpoint& e);

class Connector {
 public:
  virtual ~Connector() = default;
  // A connection to `instance` ready for a request (the TLS handshake done), or the error:
  // connect_timeout when the watchdog (armed here until `deadline`) fired, else connect_failed.
  virtual boost::asio::awaitable<Error> connect(const Instance& instance, const Service& service, Watchdog& watchdog,
                                                std::chrono::steady_clock::time_point deadline,
                                                std::shared_ptr<UpstreamConnection>& out) = 0;
};

// TCP to the instance's address; TLS on top when the service has a TLS context.
class TcpConnector final : public Connector {
 public:
  explicit TcpConnector(boost::asio::io_context& ioc) : ioc_(ioc) {}
  boost::asio::awaitable<Error> connect(const Instance& instance, const Service& service, Watchdog& watchdog,
                                        std::chrono::steady_clock::time_point deadline,
                                        std::shared_ptr<UpstreamConnection>& out) override;

 private:
  boost::asio::io_context& ioc_;
};

}  // namespace portcullis::http
