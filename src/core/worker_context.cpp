// The data path's view of its worker (see worker_context.h).
#include "core/worker_context.h"

#include <cstdio>
#include <random>

#include "config/snapshot.h"
#include "http/connection.h"
#include "http/h2/origin_pool.h"
#include "http/http1_stream.h"
#include "http/upstream_connect.h"

namespace portcullis {

void SnapshotSource::publish(std::shared_ptr<const Snapshot> snapshot) {
  const std::uint64_t g = snapshot->generation;
  current.store(std::move(snapshot), std::memory_order_release);
  generation.store(g, std::memory_order_release);
}

WorkerMetrics WorkerMetrics::make(observability::Registry& m, unsigned worker) {
  WorkerMetrics w;
  w.active_connections = m.gauge("portcullis_active_connections", "Open downstream connections.");
  w.connections_total = m.counter("portcullis_connections_total", "Accepted downstream connections.");
  w.bad_requests = m.counter("portcullis_bad_requests_total", "Requests refused before routing (malformed).");
  w.parked = m.counter("portcullis_idle_connections_parked_total",
                       "Idle keep-alive connections whose read buffer was released.");
  w.accept_paused = m.gauge("portcullis_accept_paused",
                            "Workers whose accept is paused because max_connections is reached.");
  w.accept_pauses = m.counter("portcullis_accept_pauses_total", "Times a worker paused accepting at max_connections.");
  w.event_loop_lag = m.histogram("portcullis_event_loop_lag_seconds", "How late each worker's periodic lag probe ran.",
                                 {{"worker", std::to_string(worker)}},
                                 {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
  w.tls_full_handshakes =
      m.counter("portcullis_tls_handshakes_total", "Completed downstream TLS handshakes.", {{"resumed", "false"}});
  w.tls_resumed =
      m.counter("portcullis_tls_handshakes_total", "Completed downstream TLS handshakes.", {{"resumed", "true"}});
  w.tls_handshake_failures = m.counter(
      "portcullis_tls_handshake_failures_total",
      "Downstream TLS handshakes that failed (bad client hello, refused version, client certificate, timeout).");
  w.http2_connections = m.counter("portcullis_http2_connections_total", "Downstream connections that spoke HTTP/2.");
  w.http2_streams = m.counter("portcullis_http2_streams_total", "HTTP/2 streams clients opened (each one request).");
  const char* calm_help = "HTTP/2 connections ended with GOAWAY ENHANCE_YOUR_CALM, by the budget the client exceeded.";
  w.http2_calm_resets = m.counter("portcullis_http2_flood_closes_total", calm_help, {{"budget", "stream_resets"}});
  w.http2_calm_control = m.counter("portcullis_http2_flood_closes_total", calm_help, {{"budget", "control_frames"}});
  w.http2_calm_headers = m.counter("portcullis_http2_flood_closes_total", calm_help, {{"budget", "header_block"}});
  return w;
}

WorkerContext::WorkerContext(boost::asio::io_context& ioc, unsigned index, observability::Shard& shard,
                             WorkerMetrics metrics, const SnapshotSource& source)
    : ioc_(ioc),
      index_(index),
      shard_(shard),
      metrics_(metrics),
      source_(source),
      pools_(ioc),
      origins_(std::make_unique<http::h2::OriginPool>()),
      tcp_connector_(std::make_unique<http::TcpConnector>(ioc)),
      connector_(tcp_connector_.get()) {
  pools_.set_shard(&shard_);
  std::random_device rd;
  char prefix[16];
  std::snprintf(prefix, sizeof(prefix), "%08x%02x", rd(), index & 0xff);
  request_id_prefix_ = prefix;
}

WorkerContext::~WorkerContext() = default;

void WorkerContext::set_connector(http::Connector* connector) {
  connector_ = connector ? connector : tcp_connector_.get();
}

void WorkerContext::refresh() {
  snapshot_ = source_.current.load(std::memory_order_acquire);
  generation_ = snapshot_ ? snapshot_->generation : ~std::uint64_t{0};
}

http::Connection* WorkerContext::next_of(http::Connection& c) { return c.list_next; }

void WorkerContext::add(http::Connection& c) {
  c.list_prev = nullptr;
  c.list_next = first_;
  if (first_) first_->list_prev = &c;
  first_ = &c;
  ++connection_count_;
  shard_.add(metrics_.active_connections, 1);
}

void WorkerContext::remove(http::Connection& c) {
  if (c.list_prev) c.list_prev->list_next = c.list_next;
  else first_ = c.list_next;
  if (c.list_next) c.list_next->list_prev = c.list_prev;
  c.list_prev = c.list_next = nullptr;
  --connection_count_;
  shard_.add(metrics_.active_connections, -1);
  if (closed_fn_) closed_fn_(closed_arg_);
}

void WorkerContext::forget_instances(const std::vector<std::uint32_t>& ids) {
  for (discovery::Balancer& b : balancers_) b.drop_stale();
  for (std::uint32_t id : ids) {
    pools_.forget(id);
    origins_->forget(id);
  }
}

}  // namespace portcullis
