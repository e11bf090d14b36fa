// A loopback HTTP peer for unit tests: a thread accepts connections on 127.0.0.1 at a free port,
// reads each request head and hands the connection to the test's handler, which answers on it;
// the server closes it after. Destroying the server stops the thread and waits for it.
#pragma once
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "unit/loopback.h"

namespace unit_support {

class LoopbackServer {
 public:
  // handler(fd, head, stopping): answers the request whose head is `head` on `fd`; a handler that
  // holds the connection open watches `stopping`.
  using Handler = std::function<void(int fd, const std::string& head, const std::atomic<bool>& stopping)>;

  explicit LoopbackServer(Handler handler, int backlog = 16) : handler_(std::move(handler)) {
    fd_ = listen_loopback(port_, backlog);
    thread_ = std::thread([this] { serve(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  // The last request head received (with whatever part of its body came in the same reads).
  std::string received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  int served() const { return served_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      {
        std::lock_guard lock(mutex_);
        received_ = head;
      }
      handler_(c, head, stop_);
      ::close(c);
      ++served_;
    }
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::string received_;
  std::atomic<int> served_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Polls `done` every 5 ms until it holds or `timeout` passes; then says whether it holds.
template <class Fn>
bool eventually(Fn done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

}  // namespace unit_support
