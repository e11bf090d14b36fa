// Instances of a service as the data path sees them, and the shared state that follows one
// instance across instance-set updates (health verdict, outlier ejection).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "observability/metrics.h"

namespace portcullis {

struct Endpoint {
  std::array<std::uint8_t, 16> bytes{};
  bool v6 = false;
  std::uint16_t port = 0;
};

// Eureka's instance statuses; only `up` instances are ever picked.
enum class InstanceStatus : std::uint8_t { up, down, starting, out_of_service, unknown };
std::string_view to_string(InstanceStatus status);
InstanceStatus parse_instance_status(std::string_view text);  // case-insensitive; unknown otherwise

// What a provider reports: an instance with an IP literal address.
struct DiscoveredInstance {
  std::string id;    // the registry's instance id ("" = the address)
  std::string host;  // IPv4 or IPv6 literal
  std::uint16_t port = 0;
  InstanceStatus status = InstanceStatus::up;
  std::string zone;
  unsigned weight = 1;
  std::map<std::string, std::string> metadata;
  bool operator==(const DiscoveredInstance&) const = default;
};

// Shared by every worker; written with relaxed atomics, read on every pick.
struct InstanceState {
  std::atomic<bool> healthy{true};            // active health check verdict
  std::atomic<std::int64_t> ejected_until{0};  // steady_clock nanoseconds; 0 = in rotation
  std::atomic<std::uint32_t> consecutive_failures{0};
  std::atomic<std::uint32_t> ejections{0};
  std::atomic<std::int64_t> in_flight{0};  // requests on this instance, all workers
  // Active health checking (control thread only).
  unsigned passes = 0;
  unsigned failures = 0;
  bool checking = false;  // a check is still out: the next round skips this instance
  std::string last_check;  // "ok", "timeout", "status 503", ...
};

struct InstanceMetrics {
  observability::GaugeId pool_idle;
  observability::GaugeId pool_active;
  std::array<observability::CounterId, 6> requests;  // index = status class; 0 = no response
};

struct Instance {
  std::uint32_t id = 0;    // process-wide by address: pools stay attached across updates
  std::string address;     // "127.0.0.1:8000" / "[::1]:8000"
  std::string instance_id;  // the registry's id, or the address
  Endpoint endpoint;
  InstanceStatus status = InstanceStatus::up;
  std::string zone;
  unsigned weight = 1;
  std::map<std::string, std::string> metadata;
  InstanceMetrics metrics;
  std::shared_ptr<InstanceState> state;
  std::shared_ptr<const void> kept;  // keeps the address's series and id while any set has it

  bool ejected(std::int64_t now_ns) const {
    return state->ejected_until.load(std::memory_order_relaxed) > now_ns;
  }
  // In rotation: UP, passing health checks, not ejected.
  bool available(std::int64_t now_ns) const {
    return status == InstanceStatus::up && state->healthy.load(std::memory_order_relaxed) && !ejected(now_ns);
  }
};

// "127.0.0.1" / "::1" -> endpoint; false when not an IP literal.
bool parse_ip(std::string_view host, std::uint16_t port, Endpoint& out);
std::string format_address(const Endpoint& e);

}  // namespace portcullis
