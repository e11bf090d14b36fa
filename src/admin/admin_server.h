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
  // Routing of admin requests, separated from the I/O so it is easy to test and extend.
  AdminResponse handle(std::string_view method, std::string_view path);

 private:
  Server& server_;
  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace portcullis
