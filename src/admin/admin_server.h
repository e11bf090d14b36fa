// The admin listener: /health, /metrics, /admin/reload, /admin/routes, /admin/services. It runs on
// the control thread's io_context, never on a worker.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/config.h"

namespace portcullis {

class Server;
namespace canary {
class Manager;
}
namespace discovery {
class EmbeddedRegistry;
}

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class AdminServer {
 public:
  AdminServer(Server& server, boost::asio::io_context& ioc);
  std::uint16_t listen(const ListenAddress& address);
  void start();
  // Routing of admin requests, separated from the I/O so it is easy to test and extend. `body` is
  // the request body (Content-Length only, at most max_body_bytes); accept and content_type are
  // those headers ("" when absent), for the Eureka API's content negotiation.
  AdminResponse handle(std::string_view method, std::string_view path, std::string_view body = {},
                       std::string_view accept = {}, std::string_view content_type = {});
  // The embedded Eureka registry served under /eureka/; null (the default) answers those with 404.
  void set_registry(discovery::EmbeddedRegistry* registry) { registry_ = registry; }
  void set_canary(canary::Manager* manager) { canary_ = manager; }
  static constexpr std::size_t max_body_bytes = 1 << 20;

 private:
  Server& server_;
  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  discovery::EmbeddedRegistry* registry_ = nullptr;
  canary::Manager* canary_ = nullptr;
};

}  // namespace portcullis
