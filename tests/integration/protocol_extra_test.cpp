// WebSocket-style upgrades, IPv6 listeners and the PORT override.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace harness;

namespace {

// A loopback origin that answers one upgrade request with 101 and then echoes bytes back
// uppercased, so the test can tell the tunnel reached it.
class UpgradeOrigin {
 public:
  UpgradeOrigin() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 4);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~UpgradeOrigin() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  std::string received_head;

 private:
  void serve() {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::string data;
    char buf[4096];
    while (data.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      data.append(buf, static_cast<std::size_t>(n));
    }
    received_head = data.substr(0, data.find("\r\n\r\n"));
    std::string reply = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    while (true) {
      ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      for (ssize_t i = 0; i < n; ++i) buf[i] = static_cast<char>(std::toupper(buf[i]));
      ::send(c, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
    }
    ::close(c);
  }
  int fd_;
  int port_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("upgrades are tunnelled on routes that allow them and refused elsewhere", "[protocol-extra]") {
  UpgradeOrigin origin;
  Gateway gw(config("  ws:\n    instances: [\"127.0.0.1:" + std::to_string(origin.port()) + "\"]\n",
                    "  - id: ws\n    path: /ws/**\n    service: ws\n    allow_upgrade: true\n"));
  Client c(gw.port());
  c.send("GET /ws/chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 101);
  c.send("hello tunnel");
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.size() < 12 && std::chrono::steady_clock::now() < deadline) {
    char buf[64];
    ssize_t n = ::recv(c.fd(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  got = c.pending() + got;
  CHECK(got == "HELLO TUNNEL");
  CHECK(origin.received_head.find("Upgrade: websocket") != std::string::npos);
}

TEST_CASE("Upgrade is not forwarded when the route does not allow it", "[protocol-extra]") {
  Backend b("b");
  Gateway gw(config("  hello:\n    instances: [\"" + b.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n"));
  auto r = request(gw.port(), "GET", "/hello/headers", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}});
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.find("websocket") == std::string::npos);
  CHECK(r->body.find("\"Upgrade\"") == std::string::npos);
}

TEST_CASE("PORT overrides the first listen port", "[protocol-extra]") {
  // Find a free port by binding to 0, then hand it to the daemon.
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(probe);
  Gateway gw(config("", "  - id: ping\n    path: /ping\n    static: { status: 200, body: pong }\n"),
             {"PORT=" + std::to_string(port)});
  CHECK(gw.port() == port);
  CHECK(get_body(port, "/ping") == "pong");
}

TEST_CASE("a parked idle keep-alive connection still serves its next request", "[protocol-extra]") {
  Backend b("b");
  Gateway gw(config("  hello:\n    instances: [\"" + b.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n"));
  Client c(gw.port());
  c.send("GET /hello/one HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(c.read_response()->status == 200);
  // Wait until the worker's sweep has released this connection's buffer (a state, not a delay).
  REQUIRE(eventually([&] {
    return request(gw.admin_port(), "GET", "/metrics")->body.find("portcullis_idle_connections_parked_total 1") !=
           std::string::npos;
  }));
  c.send("GET /hello/two HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("X-Seen-Path") == "/two");
}

TEST_CASE("a parked connection is still closed at its idle timeout", "[protocol-extra]") {
  Backend b("b");
  Gateway gw(config("  hello:\n    instances: [\"" + b.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n",
                    "  timeouts: { idle: 800ms }\n"));
  Client c(gw.port());
  c.send("GET /hello/one HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(c.read_response()->status == 200);
  auto start = std::chrono::steady_clock::now();
  CHECK(c.closed_by_peer(std::chrono::seconds(5)));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  CHECK(request(gw.admin_port(), "GET", "/metrics")->body.find("portcullis_idle_connections_parked_total 1") !=
        std::string::npos);
}

TEST_CASE("a connection closed after its answer lingers: bytes the client still sends draw no reset",
          "[protocol-extra]") {
  Backend b("b");
  Gateway gw(config("  hello:\n    instances: [\"" + b.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n"));
  Client c(gw.port());
  c.send("GET /hello/one HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(c.closed_by_peer());  // the gateway's side is shut: its FIN has arrived
  // Bytes sent after that (a client that pipelined, or is still sending a body) are read and
  // dropped. Had the gateway closed its socket at once, they would draw a reset (EPIPE here).
  c.send("GET /hello/two HTTP/1.1\r\nHost: t\r\n\r\n");
  ::shutdown(c.fd(), SHUT_WR);
  // Both sides are done once the socket reaches CLOSED (by the gateway's ACK of our FIN, or by a reset).
  REQUIRE(eventually([&] {
    tcp_info info{};
    socklen_t len = sizeof(info);
    return ::getsockopt(c.fd(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state == TCP_CLOSE;
  }));
  int error = 0;
  socklen_t len = sizeof(error);
  REQUIRE(::getsockopt(c.fd(), SOL_SOCKET, SO_ERROR, &error, &len) == 0);
  CHECK(error == 0);
}

TEST_CASE("answers to a HEAD the gateway refuses before routing carry no body", "[protocol-extra]") {
  Backend b("b");
  Gateway gw(config("  hello:\n    instances: [\"" + b.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n",
                    "  limits: { max_request_line_bytes: 64, max_request_header_bytes: 512 }\n"));
  struct Case {
    const char* what;
    std::string bytes;
    int status;
  };
  const std::vector<Case> cases = {
      {"a malformed header", "HEAD /hello/x HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400},
      {"a request line over the limit", "HEAD /hello/" + std::string(100, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
      {"a header section over the limit", "\r\nHEAD /hello/x HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(600, 'b') +
                                              "\r\n\r\n", 431},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Client client(gw.port());
    client.send(c.bytes);
    const std::string raw = client.read_until_close();
    REQUIRE(raw.starts_with("HTTP/1.1 " + std::to_string(c.status) + " "));
    CHECK(raw.find("Content-Length: ") != std::string::npos);  // the length GET would have got
    CHECK(raw.ends_with("\r\n\r\n"));                          // and nothing after the head
  }
  // The same refusal to a GET still carries the JSON body.
  Client get(gw.port());
  get.send("GET /hello/x HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n");
  const std::string raw = get.read_until_close();
  CHECK(raw.starts_with("HTTP/1.1 400 "));
  CHECK(raw.ends_with("}\n"));
}
