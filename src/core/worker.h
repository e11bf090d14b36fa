// One worker = one thread, one io_context, its own acceptors on the shared port (SO_REUSEPORT),
// and the data path's per-worker state (core/worker_context.h): upstream pools, balancer cursors,
// metric shard, connections. Nothing here is shared with another worker, so the request path takes
// no lock.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/snapshot.h"
#include "core/worker_context.h"

namespace portcullis {

namespace net = boost::asio;
using tcp = net::ip::tcp;
class Server;

class Worker {
 public:
  Worker(Server& server, unsigned index);
  ~Worker();

  // Opens this worker's acceptor for `address`; port 0 binds an ephemeral port (the first worker's
  // choice is then used by the others). Throws on failure.
  std::uint16_t listen(const ListenAddress& address);
  void start();  // spawns the thread
  void join();
  void begin_drain();  // thread-safe: posts onto the worker
  void force_stop();   // drain deadline passed: stop whatever is left
  // Thread-safe: on the worker, its part of the departed-instance sweep, then `done` (on the worker).
  void forget_instances(std::vector<std::uint32_t> ids, std::function<void()> done);
  bool stopped() const { return ioc_.stopped(); }

  unsigned index() const { return index_; }
  WorkerContext& context() { return context_; }
  // Read by the control thread (/admin/shedding).
  bool lagging() const { return context_.lagging(); }
  std::chrono::nanoseconds last_lag() const { return context_.last_lag(); }

 private:
  void accept_loop(std::size_t acceptor);
  void upkeep();
  void probe_lag();
  net::awaitable<void> wait_for_room();
  std::uint64_t connection_limit();
  static void on_connection_closed(void* self);

  Server& server_;
  unsigned index_;
  // One thread, and its sockets are only ever touched by it: Asio's per-socket locks are off
  // (the scheduler keeps its lock, for the control thread's posts).
  net::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  WorkerContext context_;
  std::vector<std::unique_ptr<net::ip::tcp::acceptor>> acceptors_;
  // Per acceptor: its address and the TLS it was bound with. A reload may replace a TLS listener's
  // context (matched by address), never turn TLS on or off for a bound port.
  std::vector<ListenAddress> bound_;
  std::thread thread_;
  net::steady_timer upkeep_timer_;
  std::uint64_t tick_ = 0;  // upkeep periods, for parking idle connections
  // Event-loop lag: a timer that should fire every probe interval; how late it fires is the lag.
  net::steady_timer lag_timer_;
  // Accept is paused at max_connections: the accept loops wait on this timer until a connection ends.
  net::steady_timer accept_resume_;
  bool accept_paused_ = false;
};

}  // namespace portcullis
