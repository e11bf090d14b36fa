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
#include "routing/route_table.h"
#include "util/cidr.h"

namespace portcullis {

class ConfigErrors;

enum class HashOn : std::uint8_t { ip, header, cookie };

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
  observability::CounterId connect_failures;
};

struct RouteMetrics {
  std::array<observability::CounterId, 6> by_class;  // index = status / 100
  observability::HistogramId duration;
};

struct VariantMetrics {
  std::array<observability::CounterId, 6> by_class;  // index = status / 100
  observability::HistogramId duration;
};

// One version a split or canary route sends to.
struct Variant {
  const Service* service = nullptr;
  std::string name;  // "baseline" / "canary", or the service name in a split
  VariantMetrics metrics;
};

struct Route {
  std::uint32_t index = 0;
  std::string id;
  const RouteConfig* config = nullptr;
  const Service* service = nullptr;  // null for static routes
  std::string strip;                 // literal prefix removed before proxying ("" = none)
  std::vector<const Filter*> pre, route, post, error, completion;
  RouteMetrics metrics;
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
};

struct Snapshot {
  std::uint64_t generation = 0;
  Config config;
  routing::RouteTable table;
  std::vector<Route> routes;
  Route no_route;  // runs the global filters for requests that match nothing
  std::map<std::string, std::unique_ptr<Service>> services;
  std::vector<std::unique_ptr<Filter>> filters;  // owns every filter instance
  std::vector<Cidr> trusted_proxies;

  const Service* service(const std::string& name) const {
    auto it = services.find(name);
    return it == services.end() ? nullptr : it->second.get();
  }
};

// Compiles a validated Config (filter args are validated here, with their marks). Returns null and
// fills `errors` on failure. Runs on the control thread; never on a worker.
std::shared_ptr<const Snapshot> compile_snapshot(Config config, ConfigErrors& errors,
                                                 observability::Registry& metrics,
                                                 std::uint64_t generation);

// Parse + validate + compile a file: exactly what `portcullis validate` and a reload run.
std::shared_ptr<const Snapshot> load_snapshot(const std::string& path, ConfigErrors& errors,
                                              observability::Registry& metrics, std::uint64_t generation);

}  // namespace portcullis
