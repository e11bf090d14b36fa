// What the data path uses of the worker it runs on: the event loop, the current config snapshot,
// the metrics shard, the upstream pools and balancers, the split and mirror sequences, request
// ids, the connections it serves, and whether it drains or lags. A Worker owns one; the data
// path's unit tests make their own around a plain io_context, without threads or listeners.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "discovery/balancer.h"
#include "http/upstream_pool.h"
#include "observability/metrics.h"
#include "util/object_pool.h"

namespace portcullis {

struct Snapshot;
namespace http {
class Connection;
class Connector;
struct Http1Request;
namespace h2 {
class OriginPool;
}
}

// Where workers read the published config: the server's, or a test's. A reload stores the
// snapshot, then its generation; a worker compares the generation (one load per request) and
// takes the pointer only when it moved.
struct SnapshotSource {
  std::atomic<std::shared_ptr<const Snapshot>> current;
  std::atomic<std::uint64_t> generation{0};
  void publish(std::shared_ptr<const Snapshot> snapshot);
};

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
  observability::CounterId http2_connections;
  observability::CounterId http2_streams;
  // Connections the gateway ended with GOAWAY ENHANCE_YOUR_CALM, by the budget the client went over.
  observability::CounterId http2_calm_resets, http2_calm_control, http2_calm_headers;
  // Registers the series; `worker` labels the lag histogram.
  static WorkerMetrics make(observability::Registry& registry, unsigned worker);
};

class WorkerContext {
 public:
  WorkerContext(boost::asio::io_context& ioc, unsigned index, observability::Shard& shard, WorkerMetrics metrics,
                const SnapshotSource& source);
  ~WorkerContext();
  WorkerContext(const WorkerContext&) = delete;
  WorkerContext& operator=(const WorkerContext&) = delete;

  boost::asio::io_context& io() { return ioc_; }
  unsigned index() const { return index_; }
  observability::Shard& shard() { return shard_; }
  const WorkerMetrics& metrics() const { return metrics_; }
  http::UpstreamPools& pools() { return pools_; }
  http::h2::OriginPool& origins() { return *origins_; }  // HTTP/2 connections to origins
  http::Connector& connector() { return *connector_; }
  void set_connector(http::Connector* connector);  // tests: in-memory origins; null = TCP

  // The current snapshot; refreshed only when the published generation changed.
  const std::shared_ptr<const Snapshot>& snapshot() {
    if (source_.generation.load(std::memory_order_acquire) != generation_) refresh();
    return snapshot_;
  }

  // This worker's balancer for a service (its cached instance set, cursor and schedule).
  discovery::Balancer& balancer(std::uint32_t service_id) {
    if (service_id >= balancers_.size()) balancers_.resize(service_id + 1);
    return balancers_[service_id];
  }
  // The departed-instance sweep's pass over this worker: cached instance sets a newer one
  // replaced are let go, and idle connections to the instances `ids` numbered are closed.
  void forget_instances(const std::vector<std::uint32_t>& ids);
  std::uint32_t& split_sequence() { return split_sequence_; }
  std::uint32_t& mirror_sequence() { return mirror_sequence_; }
  std::uint64_t next_request() { return ++requests_; }
  const std::string& request_id_prefix() const { return request_id_prefix_; }

  bool draining() const { return draining_; }
  void set_draining() { draining_ = true; }
  // Written by the worker's lag probe, read by it and by the control thread (/admin/shedding).
  bool lagging() const { return lagging_.load(std::memory_order_relaxed); }
  void set_lag(std::chrono::nanoseconds lag, bool lagging) {
    last_lag_ns_.store(lag.count(), std::memory_order_relaxed);
    lagging_.store(lagging, std::memory_order_relaxed);
  }
  std::chrono::nanoseconds last_lag() const {
    return std::chrono::nanoseconds(last_lag_ns_.load(std::memory_order_relaxed));
  }

  // The connections this worker serves (an intrusive list: registering allocates nothing).
  void add(http::Connection& c);
  void remove(http::Connection& c);
  std::size_t connection_count() const { return connection_count_; }
  template <class Fn>
  void for_each_connection(Fn&& fn) {
    for (http::Connection* c = first_; c;) {
      http::Connection* next = next_of(*c);
      fn(*c);
      c = next;
    }
  }
  // Finished HTTP/1.1 requests, kept with their buffers for the next ones.
  ObjectPool<http::Http1Request>& http1_requests() { return http1_requests_; }

  // Called when a connection ends (the worker resumes a paused accept).
  void on_connection_closed(void (*fn)(void*), void* arg) {
    closed_fn_ = fn;
    closed_arg_ = arg;
  }

 private:
  void refresh();
  static http::Connection* next_of(http::Connection& c);

  boost::asio::io_context& ioc_;
  unsigned index_;
  observability::Shard& shard_;
  WorkerMetrics metrics_;
  const SnapshotSource& source_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::uint64_t generation_ = ~std::uint64_t{0};
  http::UpstreamPools pools_;
  std::unique_ptr<http::h2::OriginPool> origins_;
  std::unique_ptr<http::Connector> tcp_connector_;
  http::Connector* connector_;
  std::deque<discovery::Balancer> balancers_;  // a deque: growing keeps references held by requests valid
  std::uint32_t split_sequence_ = 0;
  std::uint32_t mirror_sequence_ = 0;
  std::uint64_t requests_ = 0;
  std::string request_id_prefix_;
  bool draining_ = false;
  std::atomic<std::int64_t> last_lag_ns_{0};
  std::atomic<bool> lagging_{false};
  ObjectPool<http::Http1Request> http1_requests_;
  http::Connection* first_ = nullptr;
  std::size_t connection_count_ = 0;
  void (*closed_fn_)(void*) = nullptr;
  void* closed_arg_ = nullptr;
};

}  // namespace portcullis
