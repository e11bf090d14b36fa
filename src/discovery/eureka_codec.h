// Eureka's JSON wire format (the Jackson codec of Netflix's eureka-client and Spring Cloud), shared
// by the embedded registry (which answers in it) and the eureka provider (which reads it). Decoding
// is tolerant the way Eureka's own codec is: ports as {"$": 8080, "@enabled": "true"} or plain
// numbers, numbers as strings, a single application/instance as an object instead of an array.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "discovery/instance.h"

namespace portcullis::discovery {

// One instance as Eureka describes it. Timestamps are milliseconds since the epoch.
struct EurekaInstance {
  std::string app;  // upper-case, as Eureka keeps it
  std::string instance_id;
  std::string host_name;
  std::string ip_addr;
  InstanceStatus status = InstanceStatus::up;
  std::optional<InstanceStatus> overridden_status;  // set through PUT .../status; none = UNKNOWN
  std::uint16_t port = 0;
  bool port_enabled = true;
  std::uint16_t secure_port = 443;
  bool secure_port_enabled = false;
  std::string data_center_name = "MyOwn";
  std::map<std::string, std::string> data_center_metadata;
  unsigned renewal_interval_secs = 30;
  unsigned duration_secs = 0;  // 0 = not sent: the registry applies its default lease
  std::map<std::string, std::string> metadata;
  std::string vip_address;
  std::string secure_vip_address;
  std::string home_page_url;
  std::string status_page_url;
  std::string health_check_url;
  std::int64_t registration_ts = 0;
  std::int64_t last_renewal_ts = 0;
  std::int64_t eviction_ts = 0;
  std::int64_t service_up_ts = 0;
  std::int64_t last_updated_ts = 0;
  std::int64_t last_dirty_ts = 0;
  std::string action_type;  // ADDED / MODIFIED / DELETED in deltas; "" elsewhere
  // The embedded registry's own, never on the wire: steady-clock milliseconds of the registration
  // and the last renewal, which lease expiry counts from (a wall-clock step must not evict).
  std::int64_t registered_steady_ms = 0;
  std::int64_t renewed_steady_ms = 0;

  // What clients see: an override wins over what the instance reported.
  InstanceStatus effective_status() const { return overridden_status.value_or(status); }
  bool operator==(const EurekaInstance&) const = default;
};

// An application: its name and instances, as in {"application": {"name", "instance": [...]}}.
struct EurekaApplication {
  std::string name;
  std::vector<EurekaInstance> instances;
};

// Everything a GET /apps or /apps/delta returns.
struct EurekaApplications {
  std::string versions_delta = "1";
  std::string apps_hashcode;
  std::vector<EurekaApplication> applications;
};

// Decodes an instance document: {"instance": {...}} or the inner object. Returns false with a
// message naming the offending field for documents no Eureka client would send.
bool decode_instance(const nlohmann::json& doc, EurekaInstance& out, std::string& error);
nlohmann::json encode_instance(const EurekaInstance& instance);  // the inner object

bool decode_applications(const nlohmann::json& doc, EurekaApplications& out, std::string& error);
nlohmann::json encode_applications(const EurekaApplications& apps);  // {"applications": {...}}

// Eureka's reconcile hash: "STATUS_count_" for each status present, statuses in name order
// ("DOWN_1_UP_2_"); clients compare it after applying a delta to detect drift.
std::string reconcile_hashcode(const std::vector<const EurekaInstance*>& instances);

// The instance as the data path wants it: traffic goes to ipAddr (or hostName when that is an IP
// literal and ipAddr is missing); zone from dataCenterInfo.metadata["availability-zone"] or
// metadata["zone"]; weight from metadata["weight"]. nullopt when there is no IP literal to use.
std::optional<DiscoveredInstance> to_discovered(const EurekaInstance& instance);

// Upper-cases an application name (Eureka's apps are case-insensitive and stored upper-case).
std::string app_key(std::string_view app);

}  // namespace portcullis::discovery
