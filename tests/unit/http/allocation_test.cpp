// A proxied keep-alive request allocates nothing once the worker is warm: the real Connection and
// Exchange on a worker's event loop, a real origin and a real client on loopback, and every heap
// allocation of the worker's thread counted (tests/unit/support/counting_malloc.cpp).
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include "config/runtime_state.h"
#include "config/errors.h"
#include "config/snapshot.h"
#include "core/worker_context.h"
#include "http/connection.h"
#include "unit/loopback.h"
#include "unit/support/counting_malloc.h"
#include "util/awaitable.h"

namespace {

namespace net = boost::asio;
using namespace portcullis;

// Reads until the end of one HTTP head (no bodies are sent in this test); false at end of stream.
bool read_head(int fd, std::string& pending) {
  char buf[4096];
  while (pending.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    pending.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// An origin answering each request on each connection with a small fixed response.
void serve_origin(int listener) {
  const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";
  while (true) {
    const int c = ::accept(listener, nullptr, nullptr);
    if (c < 0) return;
    std::thread([c, reply] {
      std::string pending;
      while (read_head(c, pending)) {
        pending.erase(0, pending.find("\r\n\r\n") + 4);
        send_all(c, reply);
      }
      ::close(c);
    }).detach();
  }
}

}  // namespace

TEST_CASE("a proxied keep-alive request allocates nothing once the worker is warm", "[http][allocations]") {
  if (!unit_support::counting_available()) {
    WARN("a sanitizer build: allocations are not counted");
    return;
  }
  int origin_port = 0;
  const int origin_fd = unit_support::listen_loopback(origin_port, 16);
  std::thread origin(serve_origin, origin_fd);

  static observability::Registry registry(2);
  SnapshotSource source;
  ConfigErrors errors("test.yaml");
  Config config = parse_config(YAML::Load("server: { listen: \"127.0.0.1:0\" }\nadmin: { enabled: false }\n"
                                          "services:\n  origin:\n    instances: [\"127.0.0.1:" +
                                          std::to_string(origin_port) +
                                          "\"]\nroutes:\n  - { id: all, path: /**, service: origin }\n"
                                          "filters:\n  - { name: access_log, args: { path: /dev/null } }\n"),
                               errors);
  RuntimeState state(registry);
  auto snapshot = compile_snapshot(std::move(config), errors, state, 1);
  INFO(errors.joined());
  REQUIRE(snapshot);
  for (const auto& [name, service] : snapshot->services) service->runtime->publish(service->static_instances, "static");
  source.publish(snapshot);

  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  WorkerContext worker(ioc, 0, registry.shard(0), WorkerMetrics::make(registry, 0), source);
  net::ip::tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  const int gateway_port = acceptor.local_endpoint().port();
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        while (true) {
          auto [ec, socket] = co_await acceptor.async_accept(ioc, use_tuple);
          if (ec) break;
          http::Connection::start(worker, std::move(socket), nullptr);
        }
      },
      net::detached);
  std::thread io([&] {
    unit_support::count_allocations_here(true);
    ioc.run();
  });

  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(gateway_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  const std::string request = "GET /items?id=7 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n";
  std::string pending;
  auto exchange = [&] {
    send_all(client, request);
    REQUIRE(read_head(client, pending));
    const auto end = pending.find("\r\n\r\n") + 4;
    CHECK(pending.rfind("HTTP/1.1 200 ", 0) == 0);
    while (pending.size() < end + 5) {
      char buf[512];
      const ssize_t n = ::recv(client, buf, sizeof(buf), 0);
      REQUIRE(n > 0);
      pending.append(buf, static_cast<std::size_t>(n));
    }
    CHECK(pending.substr(end, 5) == "hello");
    pending.erase(0, end + 5);
  };
  for (int i = 0; i < 200; ++i) exchange();  // warm: pools, request objects, buffers, frame caches
  const long before = unit_support::allocations_counted();
  if (std::getenv("PORTCULLIS_TRACE_ALLOCATIONS")) unit_support::trace_allocations(6);
  for (int i = 0; i < 300; ++i) exchange();
  const long allocations = unit_support::allocations_counted() - before;
  CHECK(allocations == 0);

  ::close(client);
  net::post(ioc, [&] {
    acceptor.close();
    worker.pools().close_all();
  });
  ::shutdown(origin_fd, SHUT_RDWR);
  ::close(origin_fd);
  origin.join();
  // The connection ends when the client closes; the loop then runs out of work.
  io.join();
}
