// Eureka JSON codec. Field names and shapes follow Netflix's EurekaJacksonCodec, which is what
// Spring Cloud's eureka-client sends and expects.
#include "discovery/eureka_codec.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace portcullis::discovery {

using json = nlohmann::json;

namespace {

// Eureka's codecs disagree on scalar types (Jettison wrote every number as a string), so strings
// and numbers are accepted wherever either may appear.
std::string text_of(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer() || it->is_number_unsigned()) return std::to_string(it->get<std::int64_t>());
  if (it->is_boolean()) return it->get<bool>() ? "true" : "false";
  return {};
}

bool number_of(const json& value, std::int64_t& out) {
  if (value.is_number_integer() || value.is_number_unsigned()) {
    out = value.get<std::int64_t>();
    return true;
  }
  if (value.is_number_float()) {
    out = static_cast<std::int64_t>(value.get<double>());
    return true;
  }
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
  }
  return false;
}

std::int64_t number_or(const json& obj, const char* key, std::int64_t fallback) {
  auto it = obj.find(key);
  std::int64_t n = 0;
  return it != obj.end() && number_of(*it, n) ? n : fallback;
}

bool flag_of(const json& value, bool fallback) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_string()) return value.get<std::string>() == "true";
  return fallback;
}

// A port: {"$": 8080, "@enabled": "true"}, or 8080, or "8080". Absent is fine (keeps defaults).
bool decode_port(const json& obj, const char* key, std::uint16_t& port, bool& enabled, std::string& error) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  const json* value = &*it;
  if (it->is_object()) {
    if (auto e = it->find("@enabled"); e != it->end()) enabled = flag_of(*e, enabled);
    auto d = it->find("$");
    if (d == it->end()) {
      error = std::string(key) + " has no \"$\" value";
      return false;
    }
    value = &*d;
  }
  std::int64_t n = 0;
  if (!number_of(*value, n) || n < 0 || n > 65535) {
    error = std::string(key) + " is not a port number";
    return false;
  }
  port = static_cast<std::uint16_t>(n);
  return true;
}

// Metadata maps carry Jackson's "@class" marker on empty maps; values may be non-strings.
std::map<std::string, std::string> decode_map(const json& obj, const char* key) {
  std::map<std::string, std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    if (k == "@class") continue;
    out[k] = v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return out;
}

json encode_map(const std::map<std::string, std::string>& m) {
  json out = json::object();
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

// Eureka answers a single element as an object with some codecs and as an array with others.
template <class Fn>
bool for_each_element(const json& value, Fn&& fn) {
  if (value.is_array()) {
    for (const auto& e : value)
      if (!fn(e)) return false;
    return true;
  }
  if (value.is_object()) return fn(value);
  return value.is_null();
}

}  // namespace

std::string app_key(std::string_view app) {
  std::string out(app);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

bool decode_instance(const json& doc, EurekaInstance& out, std::string& error) {
  const json* obj = &doc;
  if (doc.is_object() && doc.contains("instance")) obj = &doc["instance"];
  if (!obj->is_object()) {
    error = "instance document is not a JSON object";
    return false;
  }
  const json& o = *obj;
  EurekaInstance i;
  i.app = app_key(text_of(o, "app"));
  i.host_name = text_of(o, "hostName");
  i.ip_addr = text_of(o, "ipAddr");
  i.instance_id = text_of(o, "instanceId");
  if (i.instance_id.empty()) i.instance_id = i.host_name;  // Eureka's InstanceInfo.getId()
  if (i.instance_id.empty()) {
    error = "instance has neither instanceId nor hostName";
    return false;
  }
  if (i.host_name.empty() && i.ip_addr.empty()) {
    error = "instance has neither hostName nor ipAddr";
    return false;
  }
  std::string status = text_of(o, "status");
  i.status = status.empty() ? InstanceStatus::up : parse_instance_status(status);
  std::string overridden = text_of(o, "overriddenStatus");
  if (overridden.empty()) overridden = text_of(o, "overriddenstatus");  // older codecs' spelling
  if (!overridden.empty() && parse_instance_status(overridden) != InstanceStatus::unknown)
    i.overridden_status = parse_instance_status(overridden);
  if (!decode_port(o, "port", i.port, i.port_enabled, error)) return false;
  if (!decode_port(o, "securePort", i.secure_port, i.secure_port_enabled, error)) return false;
  if (auto dc = o.find("dataCenterInfo"); dc != o.end() && dc->is_object()) {
    if (std::string name = text_of(*dc, "name"); !name.empty()) i.data_center_name = name;
    i.data_center_metadata = decode_map(*dc, "metadata");
  }
  if (auto lease = o.find("leaseInfo"); lease != o.end() && lease->is_object()) {
    i.renewal_interval_secs = static_cast<unsigned>(std::max<std::int64_t>(0, number_or(*lease, "renewalIntervalInSecs", 30)));
    i.duration_secs = static_cast<unsigned>(std::max<std::int64_t>(0, number_or(*lease, "durationInSecs", 0)));
    i.registration_ts = number_or(*lease, "registrationTimestamp", 0);
    i.last_renewal_ts = number_or(*lease, "lastRenewalTimestamp", 0);
    i.eviction_ts = number_or(*lease, "evictionTimestamp", 0);
    i.service_up_ts = number_or(*lease, "serviceUpTimestamp", 0);
  }
  i.metadata = decode_map(o, "metadata");
  i.vip_address = text_of(o, "vipAddress");
  i.secure_vip_address = text_of(o, "secureVipAddress");
  i.home_page_url = text_of(o, "homePageUrl");
  i.status_page_url = text_of(o, "statusPageUrl");
  i.health_check_url = text_of(o, "healthCheckUrl");
  i.last_updated_ts = number_or(o, "lastUpdatedTimestamp", 0);
  i.last_dirty_ts = number_or(o, "lastDirtyTimestamp", 0);
  i.action_type = text_of(o, "actionType");
  out = std::move(i);
  return true;
}

json encode_instance(const EurekaInstance& i) {
  auto port = [](std::uint16_t p, bool enabled) { return json{{"$", p}, {"@enabled", enabled ? "true" : "false"}}; };
  json dc = {{"@class", i.data_center_name == "Amazon" ? "com.netflix.appinfo.AmazonInfo"
                                                        : "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"},
             {"name", i.data_center_name}};
  if (!i.data_center_metadata.empty()) dc["metadata"] = encode_map(i.data_center_metadata);
  json out = {
      {"instanceId", i.instance_id},
      {"hostName", i.host_name},
      {"app", i.app},
      {"ipAddr", i.ip_addr},
      {"status", std::string(to_string(i.effective_status()))},
      {"overriddenStatus", std::string(to_string(i.overridden_status.value_or(InstanceStatus::unknown)))},
      {"port", port(i.port, i.port_enabled)},
      {"securePort", port(i.secure_port, i.secure_port_enabled)},
      {"countryId", 1},
      {"dataCenterInfo", dc},
      {"leaseInfo",
       {{"renewalIntervalInSecs", i.renewal_interval_secs},
        {"durationInSecs", i.duration_secs},
        {"registrationTimestamp", i.registration_ts},
        {"lastRenewalTimestamp", i.last_renewal_ts},
        {"evictionTimestamp", i.eviction_ts},
        {"serviceUpTimestamp", i.service_up_ts}}},
      {"metadata", encode_map(i.metadata)},
      {"homePageUrl", i.home_page_url},
      {"statusPageUrl", i.status_page_url},
      {"healthCheckUrl", i.health_check_url},
      {"vipAddress", i.vip_address},
      {"secureVipAddress", i.secure_vip_address},
      {"isCoordinatingDiscoveryServer", "false"},
      {"lastUpdatedTimestamp", std::to_string(i.last_updated_ts)},
      {"lastDirtyTimestamp", std::to_string(i.last_dirty_ts)},
  };
  if (!i.action_type.empty()) out["actionType"] = i.action_type;
  return out;
}

bool decode_applications(const json& doc, EurekaApplications& out, std::string& error) {
  error.clear();  // tells apart a lambda's own message from a shape for_each_element refused
  if (!doc.is_object() || !doc.contains("applications") || !doc["applications"].is_object()) {
    error = "document has no \"applications\" object";
    return false;
  }
  const json& apps = doc["applications"];
  EurekaApplications result;
  result.versions_delta = text_of(apps, "versions__delta");
  result.apps_hashcode = text_of(apps, "apps__hashcode");
  auto app_it = apps.find("application");
  if (app_it == apps.end()) {
    out = std::move(result);
    return true;
  }
  bool ok = for_each_element(*app_it, [&](const json& a) {
    if (!a.is_object()) {
      error = "application is not a JSON object";
      return false;
    }
    EurekaApplication app;
    app.name = app_key(text_of(a, "name"));
    auto inst = a.find("instance");
    if (inst == a.end()) {
      result.applications.push_back(std::move(app));
      return true;
    }
    bool inner = for_each_element(*inst, [&](const json& i) {
      EurekaInstance instance;
      if (!decode_instance(i, instance, error)) {
        error = "application " + app.name + ": " + error;
        return false;
      }
      if (instance.app.empty()) instance.app = app.name;
      app.instances.push_back(std::move(instance));
      return true;
    });
    if (!inner) {
      if (error.empty()) error = "application " + app.name + ": \"instance\" is not an array or object";
      return false;
    }
    result.applications.push_back(std::move(app));
    return true;
  });
  if (!ok) {
    if (error.empty()) error = "\"application\" is not an array or object";
    return false;
  }
  out = std::move(result);
  return true;
}

json encode_applications(const EurekaApplications& apps) {
  json list = json::array();
  for (const auto& app : apps.applications) {
    json instances = json::array();
    for (const auto& i : app.instances) instances.push_back(encode_instance(i));
    list.push_back({{"name", app.name}, {"instance", std::move(instances)}});
  }
  return {{"applications",
           {{"versions__delta", apps.versions_delta}, {"apps__hashcode", apps.apps_hashcode}, {"application", list}}}};
}

std::string reconcile_hashcode(const std::vector<const EurekaInstance*>& instances) {
  std::map<std::string, std::size_t> counts;  // ordered by status name, as Eureka's TreeMap
  for (const EurekaInstance* i : instances) ++counts[std::string(to_string(i->effective_status()))];
  std::string out;
  for (const auto& [status, n] : counts) out += status + "_" + std::to_string(n) + "_";
  return out;
}

std::optional<DiscoveredInstance> to_discovered(const EurekaInstance& i) {
  Endpoint probe;
  std::string host;
  if (!i.ip_addr.empty() && parse_ip(i.ip_addr, i.port, probe)) host = i.ip_addr;
  else if (i.ip_addr.empty() && parse_ip(i.host_name, i.port, probe)) host = i.host_name;
  else return std::nullopt;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  DiscoveredInstance d;
  d.id = i.instance_id;
  d.host = host;
  d.port = i.port;
  d.status = i.effective_status();
  d.metadata = i.metadata;
  if (auto z = i.data_center_metadata.find("availability-zone"); z != i.data_center_metadata.end()) d.zone = z->second;
  else if (auto mz = i.metadata.find("zone"); mz != i.metadata.end()) d.zone = mz->second;
  if (auto w = i.metadata.find("weight"); w != i.metadata.end()) {
    unsigned weight = 0;
    auto [end, ec] = std::from_chars(w->second.data(), w->second.data() + w->second.size(), weight);
    if (ec == std::errc() && end == w->second.data() + w->second.size() && weight > 0) d.weight = weight;
  }
  return d;
}

}  // namespace portcullis::discovery
