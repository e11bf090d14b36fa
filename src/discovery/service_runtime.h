// The live side of a service, kept across config reloads: its current instance set (published by a
// provider as an immutable snapshot), the shared health state of its instances, and the
// resilience state (circuit breaker, retry budget, bulkhead) that every worker consults.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "discovery/instance.h"
#include "observability/metrics.h"
#include "protection/adaptive.h"
#include "protection/gate.h"

namespace portcullis::discovery {

// One immutable publication. Workers cache it per service and refresh when the generation moves.
struct InstanceSet {
  std::uint64_t generation = 0;
  std::vector<Instance> instances;     // as reported, any status
  std::vector<std::uint32_t> up;       // indices of UP instances
  std::vector<std::uint32_t> local;    // UP instances in the gateway's zone
  std::vector<std::uint32_t> maglev;   // consistent_hash lookup table: entry -> index into instances
  bool weighted = false;               // some UP instance has weight != 1
};

enum class CircuitState : std::uint8_t { closed, open, half_open };
std::string_view to_string(CircuitState s);

// Rolling counts in one-second buckets, written by every worker with relaxed atomics.
class RollingCounter {
 public:
  static constexpr unsigned buckets = 64;
  void add(std::int64_t now_sec, unsigned which, std::uint64_t n = 1);
  // Sum of the last `seconds` (<= buckets) of `which`.
  std::uint64_t sum(std::int64_t now_sec, unsigned which, unsigned seconds) const;
  void reset();

 private:
  struct Bucket {
    std::atomic<std::int64_t> second{-1};
    std::atomic<std::uint64_t> count[2]{};
  };
  Bucket buckets_[buckets];
};

struct ServiceMetrics {
  observability::CounterId retries;
  observability::CounterId retry_budget_exhausted;
  observability::CounterId circuit_open_rejections;
  observability::CounterId bulkhead_rejections;
  observability::CounterId ejections;
  observability::CounterId refresh_failures;
  observability::CounterId registry_updates;
  observability::CounterId panic_picks;  // nothing available: picked among UP instances anyway
  std::array<observability::CounterId, 3> circuit_transitions;  // to closed, open, half_open
  std::array<observability::GaugeId, 4> instances_by_state;     // up_available, unhealthy, ejected, not_up
};

// Instance ids by address, one numbering for a whole gateway (per-worker pools are indexed by
// them), kept in its RuntimeState. Each service holding an address holds its id; the id of an
// address no service holds any more is given to the next new address, so the numbering (and
// every pool vector indexed by it) stays as large as the instances alive at once. Control
// thread, never per request.
class InstanceIds {
 public:
  std::uint32_t acquire(const std::string& address);  // one more holder of the address's id
  void release(const std::string& address);           // one fewer; the last frees the id
  std::size_t size() const;                           // addresses held

 private:
  struct Entry {
    std::uint32_t id = 0;
    std::uint32_t holders = 0;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> ids_;
  std::vector<std::uint32_t> free_;
  std::uint32_t next_ = 0;
};

class ServiceRuntime {
 public:
  // `ids` is the gateway's numbering; without one the runtime numbers its own instances.
  ServiceRuntime(std::string name, std::uint32_t id, observability::Registry& metrics,
                 std::shared_ptr<InstanceIds> ids = nullptr);

  const std::string& name() const { return name_; }
  std::uint32_t id() const { return id_; }

  // ---- data path (any worker) ----
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  std::shared_ptr<const InstanceSet> instances() const { return set_.load(std::memory_order_acquire); }

  // Circuit breaker: may this request go out? Sets `probe` when it is the half-open probe.
  bool circuit_allows(const CircuitBreakerConfig& config, std::int64_t now_ns, bool& probe,
                      observability::Shard& shard);
  // Reports one request's outcome (after retries) to the breaker.
  void circuit_record(const CircuitBreakerConfig& config, std::int64_t now_ns, bool failure, bool probe,
                      observability::Shard& shard);
  CircuitState circuit_state() const { return circuit_.load(std::memory_order_relaxed); }

  // Retry budget: counts a request; may a retry be spent?
  void budget_request(std::int64_t now_ns) { requests_.add(now_ns / 1'000'000'000, 0); }
  bool budget_allows_retry(const RetryConfig& config, std::int64_t now_ns);

  // Requests in flight to the service under its limits (bulkhead, adaptive concurrency).
  protection::Gate& gate() { return gate_; }
  std::int64_t in_flight() const { return gate_.in_flight(); }
  // The adaptive limiter for this config: the current one while the config is unchanged, so a
  // reload keeps what it learned; a new one when it changed. Control thread (snapshot compile).
  std::shared_ptr<protection::AdaptiveLimiter> adaptive_limiter(const AdaptiveConcurrencyConfig& config);

  // Passive outlier detection: one attempt's outcome on one instance.
  void outlier_record(const OutlierConfig& config, const Instance& instance, bool failure, std::int64_t now_ns,
                      observability::Shard& shard);

  const ServiceMetrics& metrics() const { return metrics_; }
  // round_robin's position, one sequence for the service across workers, as Ribbon's is: two
  // instances answer in strict alternation whichever worker a connection lands on.
  std::atomic<std::uint32_t>& round_robin_cursor() const { return round_robin_cursor_; }

  // ---- control thread ----
  // Replaces the instance list. Instances keep their shared state when id and address match.
  void publish(const std::vector<DiscoveredInstance>& instances, std::string_view source);
  // The provider could not reach its registry: the last known instances stay; counted and logged
  // once per outage.
  void refresh_failed(std::string_view source, std::string_view message);
  // Settings that shape the published set (lb, zone); republishes the current list when changed.
  void configure(const ServiceConfig& config, const std::string& gateway_zone);
  bool stale() const { return stale_.load(std::memory_order_relaxed); }
  std::uint64_t refresh_failure_count() const { return refresh_failures_.load(std::memory_order_relaxed); }
  // Recomputes the instances_by_state gauges (called by the control thread's upkeep).
  void update_state_gauges(observability::Shard& shard, std::int64_t now_ns);

  // Departed instances: an address this service published and no longer does keeps its metric
  // series and id while it may come back. `departed` lists those gone for at least `after` that
  // no instance set still holds (no worker's cache, no request in flight): the sweep then closes
  // their pooled connections on every worker and `forget`s them, which unregisters the series
  // and releases the id. An address published again meanwhile is not forgotten.
  std::vector<std::string> departed(std::int64_t now_ns, std::chrono::nanoseconds after, bool& waiting) const;
  std::uint32_t instance_id(const std::string& address) const;  // UINT32_MAX when unknown
  // Only when it has been gone since `departed_by` (steady ns): an address that came back and left
  // again while the workers made their pass may have new pooled connections under its id.
  void forget(const std::string& address, std::int64_t departed_by);
  std::size_t known_addresses() const { return addresses_.size(); }

 private:
  void rebuild();
  void transition(CircuitState from, CircuitState to, std::int64_t now_ns, observability::Shard& shard);

  std::string name_;
  std::uint32_t id_;
  observability::Registry& registry_;
  ServiceMetrics metrics_;
  std::atomic<std::shared_ptr<const InstanceSet>> set_;
  std::atomic<std::uint64_t> generation_{0};
  // Written by every worker's round_robin picks: a cache line of its own.
  alignas(64) mutable std::atomic<std::uint32_t> round_robin_cursor_{0};
  char round_robin_pad_[64 - sizeof(std::atomic<std::uint32_t>)] = {};

  // control thread
  std::vector<DiscoveredInstance> last_;
  std::map<std::string, std::shared_ptr<InstanceState>> states_;  // by "id@address"
  // By address, while it is published and, once gone, until the sweep forgets it.
  struct Address {
    std::uint32_t id = 0;
    InstanceMetrics metrics;
    std::shared_ptr<const void> token;  // held by every instance set that has the address
    std::weak_ptr<const void> watch;    // the token, seen from here once the address is gone
    std::int64_t gone_since = 0;        // steady ns; 0 = published
  };
  Address& address_record(const std::string& address);
  std::map<std::string, Address> addresses_;
  std::string lb_ = "round_robin";
  bool zone_aware_ = false;
  std::string zone_;
  std::atomic<bool> stale_{false};
  std::atomic<std::uint64_t> refresh_failures_{0};

  // resilience, shared by workers
  std::atomic<CircuitState> circuit_{CircuitState::closed};
  std::atomic<std::int64_t> opened_at_{0};
  RollingCounter outcomes_;  // 0 = success, 1 = failure
  RollingCounter requests_;  // 0 = requests, 1 = retries
  protection::Gate gate_;
  std::mutex adaptive_mutex_;
  std::shared_ptr<protection::AdaptiveLimiter> adaptive_;
  std::mutex ejection_mutex_;  // taken only when an instance crosses its failure threshold
  std::shared_ptr<InstanceIds> ids_;
};


}  // namespace portcullis::discovery
