// The compiled, immutable runtime form of a Config: route table, services with resolved instances,
// filter instances ordered per route, pre-registered metric handles. Workers take one snapshot at
// the start of a request and keep it until the request ends; a reload publishes a new one.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "discovery/balancer.h"
#include "discovery/instance.h"
#include "discovery/service_runtime.h"
#include "canary/canary.h"  // light: atomics only
#include "observability/metrics.h"
#include "pipeline/filter.h"
#include "protection/adaptive.h"
#include "protection/gate.h"
#include "routing/request_key.h"
#include "routing/route_table.h"
#include "util/cidr.h"

namespace portcullis {

class RuntimeState;


class ConfigErrors;

struct Service {
  std::string name;
  std::uint32_t id = 0;  // process-wide, stable across reloads (= runtime->id())
  ServiceConfig config;
  std::shared_ptr<discovery::ServiceRuntime> runtime;  // instances and resilience state, kept across reloads
  discovery::Policy policy = discovery::Policy::round_robin;
  HashOn hash_on = HashOn::ip;
  std::string hash_name;  // header or cookie name for consistent_hash
  std::vector<DiscoveredInstance> static_instances;  // discovery: static, resolved at compile time
  bool retry_on_connect_failure = false, retry_on_reset = false, retry_on_timeout = false, retry_on_5xx = false;
  std::vector<int> retry_statuses;
  std::uint32_t retry_methods = 0;  // bit per http::Method
  bool http2 = false;               // config.protocol is http2 (a flag for the request path)
  observability::CounterId connect_failures;
  std::shared_ptr<protection::AdaptiveLimiter> adaptive;  // null unless adaptive_concurrency is set
  observability::GaugeId limit_gauge, in_flight_gauge;    // set by the control thread's upkeep
};

// Requests by status class and their duration: per route, and per canary/split variant.
struct RequestMetrics {
  std::array<observability::CounterId, 6> by_class;  // index = status / 100
  observability::HistogramId duration;
};

// One version a split or canary route sends to.
struct Variant {
  const Service* service = nullptr;
  std::string name;  // "baseline" / "canary", or the service name in a split
  RequestMetrics metrics;
};

struct Route {
  std::uint32_t index = 0;
  std::string id;
  const RouteConfig* config = nullptr;
  const Service* service = nullptr;  // null for static routes
  std::string strip;                 // literal prefix removed before proxying ("" = none)
  std::vector<const Filter*> pre, route_filters, post, error, completion;
  RequestMetrics metrics;
  // gRPC calls by grpc-status (0-16), on routes to an HTTP/2 service (and the no-route answers,
  // when any service is one); invalid ids elsewhere.
  std::array<observability::CounterId, 17> grpc{};
  // Canary / split (empty when the route has one service).
  std::vector<Variant> variants;
  std::vector<std::uint64_t> upto;  // split: cumulative bounds in the 2^32 split space
  bool canary_form = false;         // two variants, the canary's share set at runtime
  bool sticky = false;
  HashOn sticky_on = HashOn::ip;
  std::string sticky_name;
  std::string force_header;    // lower case
  std::string variant_header;  // "" = none
  std::shared_ptr<canary::RouteCanary> canary;
  // Shadow traffic.
  struct Mirror {
    const Service* service = nullptr;
    std::uint64_t threshold = 0;  // share of the 2^32 split space
    std::shared_ptr<std::atomic<std::int64_t>> in_flight;  // all workers
    observability::CounterId sent, failed, dropped_full, skipped_body;
  };
  std::optional<Mirror> mirror;
  // Load shedding.
  int priority = 50;                      // the route's default priority
  std::shared_ptr<protection::Gate> gate;  // null unless max_concurrent_requests is set
  observability::GaugeId limit_gauge, in_flight_gauge;
};

// Why a request was shed (the `reason` label of portcullis_shed_requests_total).
enum class ShedReason : std::uint8_t { global_limit, route_limit, service_limit, adaptive_limit, event_loop_lag };
inline constexpr std::size_t shed_reasons = 5;
std::string_view to_string(ShedReason reason);

struct Shedding {
  std::shared_ptr<protection::Gate> gate;  // shedding.max_concurrent_requests, from the RuntimeState
  protection::PriorityBands bands;
  std::string priority_header;  // lower case; "" = none
  int max_header_priority = 99;
  std::string retry_after;      // Retry-After value of shed answers, in seconds
  // [reason][priority band / 10]
  std::array<std::array<observability::CounterId, 10>, shed_reasons> shed;
  observability::GaugeId limit_gauge, in_flight_gauge;  // the gateway-wide limit
  observability::CounterId& counter(ShedReason r, int priority) {
    return shed[static_cast<std::size_t>(r)][static_cast<std::size_t>(priority / 10)];
  }
  const observability::CounterId& counter(ShedReason r, int priority) const {
    return shed[static_cast<std::size_t>(r)][static_cast<std::size_t>(priority / 10)];
  }
};

struct Snapshot {
  std::uint64_t generation = 0;
  Config config;
  routing::RouteTable table;
  std::vector<Route> routes;
  Route no_route;  // runs the global filters for requests that match nothing
  std::map<std::string, std::unique_ptr<Service>> services;
  std::vector<std::unique_ptr<Filter>> filters;  // owns every filter instance
  // Files and directories whose change recompiles this config (lua scripts, lua.dir): the control
  // thread watches them while the snapshot runs.
  std::vector<std::string> watched_files;
  std::vector<Cidr> trusted_proxies;
  Shedding shedding;
  // Each TLS listener certificate's expiry (Unix seconds) and its gauge, by listener and position.
  std::vector<std::pair<observability::GaugeId, std::int64_t>> certificate_expiry;

  const Service* service(const std::string& name) const {
    auto it = services.find(name);
    return it == services.end() ? nullptr : it->second.get();
  }
};

// Compiles a validated Config (filter args are validated here, with their marks). Returns null and
// fills `errors` on failure. Runs on the control thread; never on a worker.
// State that outlives reloads is taken from `state` (config/runtime_state.h).
std::shared_ptr<const Snapshot> compile_snapshot(Config config, ConfigErrors& errors, RuntimeState& state,
                                                 std::uint64_t generation);

// Publishes the current concurrency limits and in-flight counts of a snapshot's gateway, routes
// and services as gauges (the control thread calls it periodically).
void update_concurrency_gauges(const Snapshot& snap, observability::Shard& shard);

// Parse + validate + compile a file: exactly what `portcullis validate` and a reload run.
std::shared_ptr<const Snapshot> load_snapshot(const std::string& path, ConfigErrors& errors, RuntimeState& state,
                                              std::uint64_t generation);

}  // namespace portcullis
