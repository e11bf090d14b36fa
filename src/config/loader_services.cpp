// Config loader: services (instances, discovery, balancing, upstream TLS, health checks, outlier
// detection, retries, circuit breaker, adaptive concurrency), discovery settings and shedding.
#include <limits>

#include "config/parser.h"
#include "config/suggest.h"

namespace portcullis::loader {

// ---- services --------------------------------------------------------------------------------

void Parser::parse_services(const YAML::Node& node, std::map<std::string, ServiceConfig>& out) {
  const std::string path = "services";
  if (node.IsNull()) return;
  if (!expect_map(node, path)) return;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) continue;  // reported by expect_map
    const std::string& name = entry.first.Scalar();
    if (out.count(name) != 0) continue;  // duplicate, reported by expect_map
    if (name.empty()) {
      error(entry.first, path, "service name must not be empty");
      continue;
    }
    // Kept even when invalid, so routes naming it are not also reported as undefined.
    ServiceConfig& service = out[name];
    service.name = name;
    parse_service(entry.second, join(path, name), service);
  }
}


void Parser::parse_instance(const YAML::Node& node, const std::string& path, InstanceConfig& out) {
  if (!node.IsMap()) {
    read_address(node, path, out.address, AddressUse::instance);
    return;
  }
  if (!expect_keys(node, path, {"address", "zone", "weight", "metadata"})) return;
  if (!node["address"].IsDefined()) error(node, join(path, "address"), "missing required key");
  with_key(node, "address", path, [&](const YAML::Node& v, const std::string& at) {
    read_address(v, at, out.address, AddressUse::instance);
  });
  with_key(node, "zone", path, [&](const YAML::Node& v, const std::string& at) { read_string(v, at, out.zone); });
  with_key(node, "weight", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.weight, 1u, 1000000u);
  });
  with_key(node, "metadata", path, [&](const YAML::Node& v, const std::string& at) {
    std::vector<std::pair<std::string, std::string>> pairs;
    if (!expect_map(v, at)) return;
    for (const auto& e : v) {
      std::string value;
      if (e.first.IsScalar() && read_string(e.second, join(at, e.first.Scalar()), value))
        out.metadata[e.first.Scalar()] = value;
    }
  });
}

void Parser::parse_discovery(const YAML::Node& node, const std::string& path, DiscoveryConfig& out) {
  static const Keys types = {"static", "registry", "eureka", "etcd", "dns"};
  auto check_type = [&](const YAML::Node& at_node, const std::string& at) {
    if (std::find(types.begin(), types.end(), out.type) != types.end()) return;
    error(at_node, at, "unknown discovery type " + in_quotes(out.type) + did_you_mean(out.type, types) +
                           " (expected static, registry, eureka, etcd or dns)");
    out.type = "static";  // so the rest of the service is checked as the default kind
  };
  if (node.IsScalar()) {  // `discovery: registry`
    if (read_string(node, path, out.type)) check_type(node, path);
    return;
  }
  if (!expect_keys(node, path, {"type", "app", "url", "endpoints", "prefix", "name", "port", "refresh"})) return;
  if (!node["type"].IsDefined()) {
    error(node, join(path, "type"), "missing required key");
    return;
  }
  with_key(node, "type", path, [&](const YAML::Node& v, const std::string& at) {
    if (read_string(v, at, out.type)) check_type(v, at);
  });
  with_key(node, "app", path, [&](const YAML::Node& v, const std::string& at) { read_string(v, at, out.app); });
  with_key(node, "url", path, [&](const YAML::Node& v, const std::string& at) {
    if (read_string(v, at, out.url) && !out.url.starts_with("http://"))
      error(v, at, "expected an http:// URL");
  });
  with_key(node, "endpoints", path, [&](const YAML::Node& v, const std::string& at) {
    read_string_list(v, at, out.endpoints);
    for (std::size_t i = 0; i < out.endpoints.size(); ++i)
      if (!out.endpoints[i].starts_with("http://")) error(v[i], indexed(at, i), "expected an http:// URL");
  });
  with_key(node, "prefix", path, [&](const YAML::Node& v, const std::string& at) {
    if (read_string(v, at, out.prefix) && !out.prefix.starts_with("/")) error(v, at, "expected a key prefix starting with /");
  });
  with_key(node, "name", path, [&](const YAML::Node& v, const std::string& at) { read_string(v, at, out.name); });
  with_key(node, "port", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.port, std::uint16_t{1}, std::uint16_t{65535});
  });
  with_key(node, "refresh", path, [&](const YAML::Node& v, const std::string& at) {
    read_duration(v, at, out.refresh, false);
  });
  if (out.type == "eureka" && out.url.empty()) error(node, join(path, "url"), "eureka discovery needs a url");
  if (out.type == "etcd" && out.endpoints.empty()) error(node, join(path, "endpoints"), "etcd discovery needs endpoints");
  if (out.type == "dns" && (out.name.empty() || out.port == 0))
    error(node, path, "dns discovery needs a name and a port");
}

void Parser::parse_service(const YAML::Node& node, const std::string& path, ServiceConfig& out) {
  if (!expect_keys(
          node, path,
          {"discovery", "instances", "lb", "hash_on", "zone_aware", "zone_min_healthy_percent", "connect_timeout",
           "read_timeout", "max_idle_connections", "idle_connection_timeout", "max_requests_per_connection",
           "health_check", "outlier", "retries", "circuit_breaker", "max_concurrent_requests",
           "adaptive_concurrency", "tls"}))
    return;
  with_key(node, "tls", path, [&](const YAML::Node& value, const std::string& at) { parse_upstream_tls(value, at, out); });
  with_key(node, "discovery", path, [&](const YAML::Node& value, const std::string& at) {
    parse_discovery(value, at, out.discovery);
  });
  const YAML::Node instances = node["instances"];
  if (instances.IsDefined()) {
    if (out.discovery.type != "static") {
      error(instances, join(path, "instances"), "instances are listed only with static discovery");
    } else if (expect_list(instances, join(path, "instances"))) {
      for (std::size_t i = 0; i < instances.size(); ++i)
        parse_instance(instances[i], indexed(join(path, "instances"), i), out.instances.emplace_back());
      if (out.instances.empty()) error(instances, join(path, "instances"), "must list at least one address");
    }
  } else if (out.discovery.type == "static") {
    error(node, join(path, "instances"), "missing required key (static discovery needs instances)");
  }
  with_key(node, "lb", path, [&](const YAML::Node& value, const std::string& at) {
    if (!read_string(value, at, out.lb)) return;
    static const Keys policies = {"round_robin", "weighted_round_robin", "random", "least_request", "consistent_hash"};
    if (std::find(policies.begin(), policies.end(), out.lb) == policies.end())
      error(value, at, "unknown lb " + in_quotes(out.lb) + did_you_mean(out.lb, policies) +
                           " (expected round_robin, weighted_round_robin, random, least_request or consistent_hash)");
  });
  with_key(node, "hash_on", path, [&](const YAML::Node& value, const std::string& at) {
    if (!read_string(value, at, out.hash_on)) return;
    if (out.hash_on.empty()) error(value, at, "expected ip, header:NAME or cookie:NAME");
    else check_sticky(value, at, out.hash_on);
  });
  with_key(node, "zone_aware", path, [&](const YAML::Node& v, const std::string& at) { read_bool(v, at, out.zone_aware); });
  with_key(node, "zone_min_healthy_percent", path, [&](const YAML::Node& v, const std::string& at) {
    read_number(v, at, out.zone_min_healthy_percent, 0, 100);
  });
  with_key(node, "connect_timeout", path, [&](const YAML::Node& value, const std::string& at) {
    read_duration(value, at, out.connect_timeout, false);
  });
  with_key(node, "read_timeout", path, [&](const YAML::Node& value, const std::string& at) {
    read_duration(value, at, out.read_timeout, false);
  });
  // Zero idle connections is meaningful: no pooling.
  with_key(node, "max_idle_connections", path, [&](const YAML::Node& value, const std::string& at) {
    read_integer(value, at, out.max_idle_connections, 0u, std::numeric_limits<unsigned>::max());
  });
  with_key(node, "idle_connection_timeout", path,
           [&](const YAML::Node& value, const std::string& at) {
             read_duration(value, at, out.idle_connection_timeout, false);
           });
  with_key(node, "max_requests_per_connection", path,
           [&](const YAML::Node& value, const std::string& at) {
             read_integer(value, at, out.max_requests_per_connection, std::uint64_t{1},
                          std::numeric_limits<std::uint64_t>::max());
           });
  with_key(node, "max_concurrent_requests", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.max_concurrent_requests, std::uint64_t{0}, std::numeric_limits<std::uint64_t>::max());
  });
  with_key(node, "health_check", path, [&](const YAML::Node& v, const std::string& at) {
    parse_health_check(v, at, out.health_check.emplace());
  });
  with_key(node, "outlier", path, [&](const YAML::Node& v, const std::string& at) {
    parse_outlier(v, at, out.outlier.emplace());
  });
  with_key(node, "retries", path, [&](const YAML::Node& v, const std::string& at) { parse_retries(v, at, out.retries); });
  with_key(node, "circuit_breaker", path, [&](const YAML::Node& v, const std::string& at) {
    parse_circuit_breaker(v, at, out.circuit_breaker);
  });
  with_key(node, "adaptive_concurrency", path, [&](const YAML::Node& v, const std::string& at) {
    parse_adaptive(v, at, out.adaptive_concurrency.emplace());
  });
}

void Parser::parse_adaptive(const YAML::Node& node, const std::string& path, AdaptiveConcurrencyConfig& out) {
  if (node.IsNull()) return;
  if (!expect_keys(node, path,
                   {"algorithm", "min_limit", "max_limit", "initial_limit", "window", "min_samples", "smoothing",
                    "rtt_tolerance", "queue_size", "long_window", "probe_multiplier"}))
    return;
  with_key(node, "algorithm", path, [&](const YAML::Node& v, const std::string& at) {
    if (read_string(v, at, out.algorithm) && out.algorithm != "gradient2" && out.algorithm != "vegas")
      error(v, at, "unknown algorithm " + in_quotes(out.algorithm) + did_you_mean(out.algorithm, {"gradient2", "vegas"}) +
                       " (expected gradient2 or vegas)");
  });
  const auto limit = [&](std::string_view key, unsigned& field) {
    with_key(node, key, path, [&](const YAML::Node& v, const std::string& at) { read_integer(v, at, field, 1u, 1000000u); });
  };
  limit("min_limit", out.min_limit);
  limit("max_limit", out.max_limit);
  limit("initial_limit", out.initial_limit);
  if (out.min_limit > out.max_limit) error(node, path, "min_limit is greater than max_limit");
  else if (out.initial_limit < out.min_limit || out.initial_limit > out.max_limit)
    error(node, path, "initial_limit must lie between min_limit and max_limit");
  with_key(node, "window", path, [&](const YAML::Node& v, const std::string& at) {
    if (read_duration(v, at, out.window, false) && out.window < std::chrono::milliseconds(10))
      error(v, at, "window must be at least 10ms");
  });
  with_key(node, "min_samples", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.min_samples, 1u, 1000000u);
  });
  with_key(node, "smoothing", path, [&](const YAML::Node& v, const std::string& at) {
    double value = 0;
    read_number(v, at, value, 0.01, 1);
    if (value > 0) out.smoothing = value;
  });
  with_key(node, "rtt_tolerance", path, [&](const YAML::Node& v, const std::string& at) {
    read_number(v, at, out.rtt_tolerance, 1, 10);
  });
  with_key(node, "queue_size", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.queue_size, 0u, 1000u);
  });
  with_key(node, "long_window", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.long_window, 10u, 100000u);
  });
  with_key(node, "probe_multiplier", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.probe_multiplier, 1u, 100000u);
  });
}

// A share of a limit: a number from 0 to 1, or a percentage ("80%").
bool Parser::read_share(const YAML::Node& node, const std::string& path, double& out) {
  double value = -1;
  if (node.IsScalar()) {
    std::string text = node.Scalar();
    const bool percent = !text.empty() && text.back() == '%';
    if (percent) text.pop_back();
    char* end = nullptr;
    const double v = text.empty() ? -1 : std::strtod(text.c_str(), &end);
    if (end && *end == '\0') value = percent ? v / 100 : v;
  }
  if (!(value >= 0 && value <= 1)) {
    error(node, path, "expected a share from 0 to 1 or a percentage (e.g. 0.8 or 80%)");
    return false;
  }
  out = value;
  return true;
}

void Parser::parse_shedding(const YAML::Node& node, SheddingConfig& out) {
  const std::string path = "shedding";
  if (node.IsNull()) return;
  if (!expect_keys(node, path,
                   {"max_concurrent_requests", "priority_header", "default_priority", "max_header_priority",
                    "priority_bands", "max_event_loop_lag", "lag_probe_interval", "retry_after"}))
    return;
  with_key(node, "max_concurrent_requests", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.max_concurrent_requests, std::uint64_t{0}, std::numeric_limits<std::uint64_t>::max());
  });
  with_key(node, "priority_header", path, [&](const YAML::Node& v, const std::string& at) {
    if (read_string(v, at, out.priority_header) && !out.priority_header.empty() && !is_token(out.priority_header))
      error(v, at, "invalid header name " + in_quotes(out.priority_header));
  });
  with_key(node, "default_priority", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.default_priority, 0, 99);
  });
  with_key(node, "max_header_priority", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.max_header_priority, 0, 99);
  });
  with_key(node, "priority_bands", path, [&](const YAML::Node& v, const std::string& at) {
    if (!expect_list(v, at)) return;
    out.bands.clear();
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::string item = indexed(at, i);
      if (!expect_keys(v[i], item, {"from", "shed_at"})) continue;
      PriorityBandConfig& band = out.bands.emplace_back();
      with_key(v[i], "from", item, [&](const YAML::Node& f, const std::string& w) { read_integer(f, w, band.from, 0, 99); });
      with_key(v[i], "shed_at", item, [&](const YAML::Node& f, const std::string& w) { read_share(f, w, band.shed_at); });
      if (!v[i]["from"].IsDefined()) error(v[i], join(item, "from"), "missing required key");
      if (!v[i]["shed_at"].IsDefined()) error(v[i], join(item, "shed_at"), "missing required key");
      if (i > 0 && out.bands.size() >= 2 && band.from <= out.bands[out.bands.size() - 2].from)
        error(v[i], join(item, "from"), "bands must be listed in rising order of \"from\"");
    }
    if (!out.bands.empty() && out.bands.front().from != 0)
      error(v, at, "the first band must start at priority 0 (from: 0)");
  });
  with_key(node, "max_event_loop_lag", path, [&](const YAML::Node& v, const std::string& at) {
    read_duration(v, at, out.max_event_loop_lag, true);
  });
  with_key(node, "lag_probe_interval", path, [&](const YAML::Node& v, const std::string& at) {
    if (read_duration(v, at, out.lag_probe_interval, false) && out.lag_probe_interval < std::chrono::milliseconds(1))
      error(v, at, "must be at least 1ms");
  });
  with_key(node, "retry_after", path, [&](const YAML::Node& v, const std::string& at) {
    if (read_duration(v, at, out.retry_after, false) && out.retry_after < std::chrono::seconds(1))
      error(v, at, "must be at least 1s (Retry-After counts whole seconds)");
  });
}

void Parser::parse_health_check(const YAML::Node& node, const std::string& path, HealthCheckConfig& out) {
  if (node.IsNull()) return;
  if (!expect_keys(node, path, {"path", "interval", "timeout", "healthy", "unhealthy", "host"})) return;
  with_key(node, "path", path, [&](const YAML::Node& v, const std::string& at) {
    if (read_string(v, at, out.path) && !out.path.starts_with("/")) error(v, at, "expected a path starting with /");
  });
  with_key(node, "interval", path, [&](const YAML::Node& v, const std::string& at) { read_duration(v, at, out.interval, false); });
  with_key(node, "timeout", path, [&](const YAML::Node& v, const std::string& at) { read_duration(v, at, out.timeout, false); });
  with_key(node, "healthy", path, [&](const YAML::Node& v, const std::string& at) { read_integer(v, at, out.healthy, 1u, 1000u); });
  with_key(node, "unhealthy", path, [&](const YAML::Node& v, const std::string& at) { read_integer(v, at, out.unhealthy, 1u, 1000u); });
  with_key(node, "host", path, [&](const YAML::Node& v, const std::string& at) { read_string(v, at, out.host); });
}

void Parser::parse_outlier(const YAML::Node& node, const std::string& path, OutlierConfig& out) {
  if (node.IsNull()) return;
  if (!expect_keys(node, path, {"consecutive_failures", "base_ejection", "max_ejection", "max_ejection_percent"})) return;
  with_key(node, "consecutive_failures", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.consecutive_failures, 1u, 100000u);
  });
  with_key(node, "base_ejection", path, [&](const YAML::Node& v, const std::string& at) { read_duration(v, at, out.base_ejection, false); });
  with_key(node, "max_ejection", path, [&](const YAML::Node& v, const std::string& at) { read_duration(v, at, out.max_ejection, false); });
  with_key(node, "max_ejection_percent", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.max_ejection_percent, 0u, 100u);
  });
}

void Parser::parse_retries(const YAML::Node& node, const std::string& path, RetryConfig& out) {
  if (node.IsNull()) return;
  if (!expect_keys(node, path, {"max_auto_retries", "max_auto_retries_next_server", "on", "methods", "budget_percent",
                                "budget_min_retries"}))
    return;
  with_key(node, "max_auto_retries", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.max_auto_retries, 0u, 10u);
  });
  with_key(node, "max_auto_retries_next_server", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.max_auto_retries_next_server, 0u, 10u);
  });
  with_key(node, "on", path, [&](const YAML::Node& v, const std::string& at) {
    read_string_list(v, at, out.on);
    for (std::size_t i = 0; i < out.on.size(); ++i) {
      const std::string& c = out.on[i];
      const bool ok = c == "connect_failure" || c == "reset" || c == "timeout" || c == "5xx" ||
                      (c.size() == 3 && c >= "500" && c <= "599" && std::all_of(c.begin(), c.end(), ::isdigit));
      if (!ok) error(v[i], indexed(at, i), "unknown retry condition " + in_quotes(c) +
                                            did_you_mean(c, {"connect_failure", "reset", "timeout", "5xx"}) +
                                            " (connect_failure, reset, timeout, 5xx or a 5xx status code)");
    }
  });
  with_key(node, "methods", path, [&](const YAML::Node& v, const std::string& at) {
    out.methods.clear();
    parse_methods(v, at, out.methods);
  });
  with_key(node, "budget_percent", path, [&](const YAML::Node& v, const std::string& at) {
    read_number(v, at, out.budget_percent, 0, 100);
  });
  with_key(node, "budget_min_retries", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.budget_min_retries, 0u, 1000000u);
  });
}

void Parser::parse_circuit_breaker(const YAML::Node& node, const std::string& path, CircuitBreakerConfig& out) {
  out.enabled = true;
  if (node.IsNull()) return;
  if (!expect_keys(node, path, {"enabled", "window", "min_requests", "error_percent", "sleep", "fallback"})) return;
  with_key(node, "enabled", path, [&](const YAML::Node& v, const std::string& at) { read_bool(v, at, out.enabled); });
  with_key(node, "window", path, [&](const YAML::Node& v, const std::string& at) {
    if (read_duration(v, at, out.window, false) && (out.window < std::chrono::seconds(1) || out.window > std::chrono::seconds(60)))
      error(v, at, "window must be between 1s and 60s");
  });
  with_key(node, "min_requests", path, [&](const YAML::Node& v, const std::string& at) {
    read_integer(v, at, out.min_requests, 1u, 1000000u);
  });
  with_key(node, "error_percent", path, [&](const YAML::Node& v, const std::string& at) {
    read_number(v, at, out.error_percent, 0, 100);
  });
  with_key(node, "sleep", path, [&](const YAML::Node& v, const std::string& at) { read_duration(v, at, out.sleep, false); });
  with_key(node, "fallback", path, [&](const YAML::Node& v, const std::string& at) {
    parse_static(v, at, out.fallback.emplace());
  });
}

void Parser::parse_discovery_settings(const YAML::Node& node, DiscoverySettings& out) {
  const std::string path = "discovery";
  if (node.IsNull()) return;
  if (!expect_keys(node, path, {"zone", "lease_duration", "eviction_interval", "registry_enabled"})) return;
  with_key(node, "zone", path, [&](const YAML::Node& v, const std::string& at) { read_string(v, at, out.zone); });
  with_key(node, "lease_duration", path, [&](const YAML::Node& v, const std::string& at) {
    read_duration(v, at, out.lease_duration, false);
  });
  with_key(node, "eviction_interval", path, [&](const YAML::Node& v, const std::string& at) {
    read_duration(v, at, out.eviction_interval, false);
  });
  with_key(node, "registry_enabled", path, [&](const YAML::Node& v, const std::string& at) {
    read_bool(v, at, out.registry_enabled);
  });
}

}  // namespace portcullis::loader
