// One worker = one thread, one io_context, its own acceptors on the shared port (SO_REUSEPORT),
// its own upstream pools, balancer cursors and metric shard. Nothing here is shared with another
// worker, so the request path takes no lock.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/snapshot.h"
#include "discovery/balancer.h"
#include "http/upstream_pool.h"
#include "observability/metrics.h"

namespace portcullis {

namespace net = boost::asio;
using tcp = net::ip::tcp;
class Server;
class Session;

struct WorkerMetrics {
  observability::GaugeId active_connections;
  observability::CounterId connections_total;
  observability::CounterId bad_requests;
  observability::CounterId parked;
  observability::GaugeId accept_paused;
  observability::CounterId accept_pauses;
  observability::HistogramId event_loop_lag;
  observability::CounterId tls_full_handshakes;
  observability::CounterId tls_resumed;
  observability::CounterId tls_handshake_failures;
};

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
  bool stopped() const { return ioc_.stopped(); }

  net::io_context& context() { return ioc_; }
  unsigned index() const { return index_; }
  Server& server() { return server_; }
  observability::Shard& shard() { return *shard_; }
  const WorkerMetrics& metrics() const { return metrics_; }
  http::UpstreamPools& pools() { return pools_; }

  // The current snapshot; refreshed only when the published generation changed (one relaxed load
  // per request in the common case).
  const std::shared_ptr<const Snapshot>& snapshot();

  // This worker's balancer for a service (its cached instance set, cursor and schedule).
  discovery::Balancer& balancer(std::uint32_t service_id) {
    if (service_id >= balancers_.size()) balancers_.resize(service_id + 1);
    return balancers_[service_id];
  }

  // This worker's position in the canary split sequence (requests without a sticky key).
  std::uint32_t& split_sequence() { return split_sequence_; }
  std::uint32_t& mirror_sequence() { return mirror_sequence_; }

  bool draining() const { return draining_; }
  // The last event-loop lag probe found this worker slower than shedding.max_event_loop_lag.
  // Both are written by the worker and may be read by the control thread (/admin/shedding).
  bool lagging() const { return lagging_.load(std::memory_order_relaxed); }
  std::chrono::nanoseconds last_lag() const { return std::chrono::nanoseconds(last_lag_ns_.load(std::memory_order_relaxed)); }
  // Live sessions, so drain can wake idle ones and know when the worker is done.
  std::list<Session*>::iterator add_session(Session* s);
  void remove_session(std::list<Session*>::iterator it);
  std::uint64_t request_counter() { return ++requests_; }
  std::string request_id_prefix;

 private:
  void accept_loop(std::size_t acceptor);
  void flush_logs_periodically();
  void probe_lag();
  net::awaitable<void> wait_for_room();
  std::uint64_t connection_limit();

  Server& server_;
  unsigned index_;
  net::io_context ioc_{1};
  std::vector<std::unique_ptr<net::ip::tcp::acceptor>> acceptors_;
  // Per acceptor: its address and the TLS it was bound with. A reload may replace a TLS listener's
  // context (matched by address), never turn TLS on or off for a bound port.
  std::vector<ListenAddress> bound_;
  std::thread thread_;
  observability::Shard* shard_;
  WorkerMetrics metrics_;
  http::UpstreamPools pools_;
  std::deque<discovery::Balancer> balancers_;  // a deque: growing keeps references held by requests valid
  std::uint32_t split_sequence_ = 0;
  std::uint32_t mirror_sequence_ = 0;
  std::shared_ptr<const Snapshot> snapshot_;
  std::uint64_t snapshot_generation_ = 0;
  std::list<Session*> sessions_;
  std::size_t session_count_ = 0;
  bool draining_ = false;
  std::uint64_t requests_ = 0;
  net::steady_timer flush_timer_;
  std::uint64_t tick_ = 0;  // upkeep periods, for parking idle connections
  // Event-loop lag: a timer that should fire every probe interval; how late it fires is the lag.
  net::steady_timer lag_timer_;
  std::atomic<std::int64_t> last_lag_ns_{0};
  std::atomic<bool> lagging_{false};
  // Accept is paused at max_connections: the accept loops wait on this timer until a session ends.
  net::steady_timer accept_resume_;
  bool accept_paused_ = false;
};

}  // namespace portcullis
