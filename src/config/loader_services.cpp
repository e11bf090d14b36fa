// Config description: services (instances, discovery, balancing, upstream TLS, health checks,
// outlier detection, retries, circuit breaker, adaptive concurrency). Discovery settings and
// shedding are in loader_shedding.cpp.
#include <limits>

#include "config/schema.h"
#include "config/suggest.h"

namespace portcullis::loader {
namespace {

constexpr auto kU64Max = std::numeric_limits<std::uint64_t>::max();
constexpr auto kUnsignedMax = std::numeric_limits<unsigned>::max();

std::string http_url_check(const std::string& url) { return url.starts_with("http://") ? "" : "expected an http:// URL"; }

Json string_schema() { return {{"type", "string"}}; }

// ---- instances and discovery -------------------------------------------------------------------

const Section<InstanceConfig>& instance_section() {
  using S = InstanceConfig;
  static Section<S> section = [] {
    Section<S> s("services.NAME.instances[]", {
      custom<S>("address", "address", "", "host:port of the instance; the host may be a name.",
                string_schema, [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                  p.read_address(v, at, out.address, AddressUse::instance);
                }).required(),
      text("zone", &S::zone, "The instance's zone, for zone_aware services."),
      integer("weight", &S::weight, 1u, 1000000u, "Weight for weighted_round_robin."),
      custom<S>("metadata", "map of strings", "`{}`", "Free-form metadata, shown by the admin API.",
                [] { return Json{{"type", "object"}, {"additionalProperties", {{"type", {"string", "number", "boolean"}}}}}; },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                  if (!p.expect_map(v, at)) return;
                  for (const auto& e : v) {
                    std::string value;
                    if (e.first.IsScalar() && p.read_string(e.second, join(at, e.first.Scalar()), value))
                      out.metadata[e.first.Scalar()] = value;
                  }
                }),
    });
    s.nullable = false;
    return s;
  }();
  return section;
}

const Keys kDiscoveryTypes = {"static", "registry", "eureka", "etcd", "dns"};

const Section<DiscoveryConfig>& discovery_section() {
  using S = DiscoveryConfig;
  static Section<S> section = [] {
    Section<S> s("services.NAME.discovery", {
      choice("type", &S::type, "discovery type", kDiscoveryTypes, "Where the instances come from.").required(),
      text("app", &S::app, "registry, eureka: the application name (default: the service's name)."),
      text("url", &S::url, "eureka: the server's base URL, e.g. http://127.0.0.1:8761/eureka.", http_url_check),
      strings("endpoints", &S::endpoints, "etcd: http://host:port of its JSON gateway.", http_url_check),
      text("prefix", &S::prefix, "etcd: keys are PREFIX/<service>/<id>.", [](const std::string& prefix) {
        return prefix.starts_with("/") ? "" : "expected a key prefix starting with /";
      }),
      text("name", &S::name, "dns: the host name to resolve."),
      integer("port", &S::port, std::uint16_t{1}, std::uint16_t{65535}, "dns: the port of every resolved address.")
          .shown_default(""),
      duration("refresh", &S::refresh, kPositive, "eureka poll and dns re-resolve interval."),
    });
    s.nullable = false;
    s.after = [](Parser& p, const YAML::Node& node, const std::string& path, S& out) {
      if (std::find(kDiscoveryTypes.begin(), kDiscoveryTypes.end(), out.type) == kDiscoveryTypes.end()) {
        out.type = "static";  // so the rest of the service is checked as the default kind
        return;
      }
      if (out.type == "eureka" && out.url.empty()) p.error(node, join(path, "url"), "eureka discovery needs a url");
      if (out.type == "etcd" && out.endpoints.empty()) p.error(node, join(path, "endpoints"), "etcd discovery needs endpoints");
      if (out.type == "dns" && (out.name.empty() || out.port == 0)) p.error(node, path, "dns discovery needs a name and a port");
    };
    return s;
  }();
  return section;
}

// `discovery: registry` or `discovery: { type: registry, ... }`.
void read_discovery(Parser& p, const YAML::Node& node, const std::string& path, ServiceConfig& out) {
  if (!node.IsScalar()) return p.read_section(discovery_section(), node, path, out.discovery);
  if (!p.read_string(node, path, out.discovery.type)) return;
  if (std::find(kDiscoveryTypes.begin(), kDiscoveryTypes.end(), out.discovery.type) != kDiscoveryTypes.end()) return;
  p.error(node, path, unknown_choice("discovery type", out.discovery.type, kDiscoveryTypes));
  out.discovery.type = "static";
}

void read_instances(Parser& p, const YAML::Node& node, const std::string& path, ServiceConfig& out) {
  if (out.discovery.type != "static") return p.error(node, path, "instances are listed only with static discovery");
  if (!p.expect_list(node, path)) return;
  for (std::size_t i = 0; i < node.size(); ++i) {
    InstanceConfig& instance = out.instances.emplace_back();
    if (node[i].IsMap()) p.read_section(instance_section(), node[i], indexed(path, i), instance);
    else p.read_address(node[i], indexed(path, i), instance.address, AddressUse::instance);
  }
  if (out.instances.empty()) p.error(node, path, "must list at least one address");
}

// ---- upstream TLS ------------------------------------------------------------------------------

const Section<tls::ClientSettings>& upstream_tls_section() {
  using S = tls::ClientSettings;
  static Section<S> section = [] {
    const Reader<S> read_with_pair = [](Parser&, const YAML::Node&, const std::string&, S&) {};
    Section<S> s("services.NAME.tls", {
      text("ca", &S::ca, "Bundle the origin's certificate must chain to (default: the system's).").type("file path"),
      text("sni", &S::sni, "Name sent in SNI and verified (default: the instance's host)."),
      boolean("verify", &S::verify, "false turns certificate verification off (tests only)."),
      custom<S>("cert", "file path", "", "Client certificate for mutual TLS.", string_schema, read_with_pair),
      custom<S>("key", "file path", "", "The client certificate's key.", string_schema, read_with_pair),
      tls_version<S>("Oldest TLS version accepted."),
    });
    s.nullable = false;
    s.after = [](Parser& p, const YAML::Node& node, const std::string& path, S& out) {
      if (!node["cert"].IsDefined() && !node["key"].IsDefined()) return;
      p.read_required_string(node, "cert", path, out.client.cert);
      p.read_required_string(node, "key", path, out.client.key);
    };
    return s;
  }();
  return section;
}

void read_upstream_tls(Parser& p, const YAML::Node& node, const std::string& path, ServiceConfig& out) {
  const std::size_t errors_before = p.error_count();
  tls::ClientSettings s;
  p.read_section(upstream_tls_section(), node, path, s);
  if (p.error_count() != errors_before) return;
  std::vector<tls::BuildError> problems;
  out.tls_context = tls::ClientContext::build(s, problems);
  p.report_tls(node, path, problems);
  out.tls = s;
}

// ---- health, outliers, retries, breaker, adaptive concurrency ---------------------------------

const Section<HealthCheckConfig>& health_check_section() {
  using S = HealthCheckConfig;
  static const Section<S> section("services.NAME.health_check", {
    text("path", &S::path, "Path to check; must start with /.", [](const std::string& path) {
      return path.starts_with("/") ? "" : "expected a path starting with /";
    }),
    duration("interval", &S::interval, kPositive, "Time between rounds."),
    duration("timeout", &S::timeout, kPositive, "Time allowed for one check."),
    integer("healthy", &S::healthy, 1u, 1000u, "Passes in a row that bring an unhealthy instance back."),
    integer("unhealthy", &S::unhealthy, 1u, 1000u, "Failures in a row that take an instance out."),
    text("host", &S::host, "Host header of the check (default: the instance address)."),
  });
  return section;
}

const Section<OutlierConfig>& outlier_section() {
  using S = OutlierConfig;
  static const Section<S> section("services.NAME.outlier", {
    integer("consecutive_failures", &S::consecutive_failures, 1u, 100000u, "Failures in a row before an ejection."),
    duration("base_ejection", &S::base_ejection, kPositive, "First ejection time; the n-th lasts n times as long."),
    duration("max_ejection", &S::max_ejection, kPositive, "Cap on one ejection."),
    integer("max_ejection_percent", &S::max_ejection_percent, 0u, 100u, "Most of the service ejected at once."),
  });
  return section;
}

std::string retry_condition_check(const std::string& c) {
  const bool ok = c == "connect_failure" || c == "reset" || c == "timeout" || c == "5xx" ||
                  (c.size() == 3 && c >= "500" && c <= "599" && std::all_of(c.begin(), c.end(), ::isdigit));
  if (ok) return "";
  return "unknown retry condition " + in_quotes(c) + did_you_mean(c, {"connect_failure", "reset", "timeout", "5xx"}) +
         " (connect_failure, reset, timeout, 5xx or a 5xx status code)";
}

const Section<RetryConfig>& retries_section() {
  using S = RetryConfig;
  static const Section<S> section("services.NAME.retries", {
    integer("max_auto_retries", &S::max_auto_retries, 0u, 10u, "Further tries on the same instance."),
    integer("max_auto_retries_next_server", &S::max_auto_retries_next_server, 0u, 10u,
            "Further tries, each on an instance not tried yet."),
    strings("on", &S::on, "Failures retried: connect_failure, reset, timeout, 5xx or a status code.",
            retry_condition_check),
    custom<S>("methods", "list of methods", "`[GET, HEAD, OPTIONS, PUT, DELETE]`", "Methods that may be retried.",
              [] { return Json{{"type", "array"}, {"items", {{"type", "string"}}}}; },
              [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                out.methods.clear();
                p.read_methods(v, at, out.methods);
              }),
    number("budget_percent", &S::budget_percent, 0, 100, "Retries in the last 10 s as a share of requests."),
    integer("budget_min_retries", &S::budget_min_retries, 0u, 1000000u, "Retries always allowed per 10 s."),
  });
  return section;
}

const Section<CircuitBreakerConfig>& circuit_breaker_section() {
  using S = CircuitBreakerConfig;
  static Section<S> section = [] {
    Section<S> s("services.NAME.circuit_breaker", {
      boolean("enabled", &S::enabled, "Turn the breaker off without removing its settings.")
          .shown_default("`true` once the key is written"),
      duration("window", &S::window, {std::chrono::seconds(1), std::chrono::seconds(60), "window must be between 1s and 60s"},
               "Rolling window, in whole seconds."),
      integer("min_requests", &S::min_requests, 1u, 1000000u, "Requests in the window before the breaker may open."),
      number("error_percent", &S::error_percent, 0, 100, "Failure share that opens the circuit."),
      duration("sleep", &S::sleep, kPositive, "Time open before the half-open probe."),
      optional_nested("fallback", &S::fallback, static_section(), "Answered instead of the 503 while open.")
          .type("static response"),
    });
    s.keys[0].default_value = true;
    s.before = [](Parser&, const YAML::Node&, const std::string&, S& out) { out.enabled = true; };
    return s;
  }();
  return section;
}

const Section<AdaptiveConcurrencyConfig>& adaptive_section() {
  using S = AdaptiveConcurrencyConfig;
  static Section<S> section = [] {
    Section<S> s("services.NAME.adaptive_concurrency", {
      choice("algorithm", &S::algorithm, "algorithm", {"gradient2", "vegas"}, "Which algorithm moves the limit."),
      integer("min_limit", &S::min_limit, 1u, 1000000u, "The limit never falls below this."),
      integer("max_limit", &S::max_limit, 1u, 1000000u, "…nor rises above this."),
      integer("initial_limit", &S::initial_limit, 1u, 1000000u, "Where the limit starts."),
      duration("window", &S::window, {std::chrono::milliseconds(10), Duration::max(), "window must be at least 10ms"},
               "Latency reports are averaged over a window at least this long."),
      integer("min_samples", &S::min_samples, 1u, 1000000u, "…holding at least this many requests."),
      custom<S>("smoothing", "number 0.01–1", "`0.2` (gradient2), `1.0` (vegas)", "Share of each step that is taken.",
                [] { return Json{{"type", "number"}, {"minimum", 0.01}, {"maximum", 1}}; },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                  double value = 0;
                  p.read_number(v, at, value, 0.01, 1);
                  if (value > 0) out.smoothing = value;
                }),
      number("rtt_tolerance", &S::rtt_tolerance, 1, 10, "gradient2: latency rise tolerated before shrinking."),
      integer("queue_size", &S::queue_size, 0u, 1000u, "gradient2: the queue allowance added each window."),
      integer("long_window", &S::long_window, 10u, 100000u, "gradient2: windows in the long-term latency average."),
      integer("probe_multiplier", &S::probe_multiplier, 1u, 100000u,
              "vegas: re-measure the no-load latency every limit × this requests."),
      duration("probe_interval", &S::probe_interval,
               {std::chrono::milliseconds(100), Duration::max(), "probe_interval must be at least 100ms"},
               "Both: the least time between two probes at half the limit while the limit stays full."),
    });
    s.after = [](Parser& p, const YAML::Node& node, const std::string& path, S& out) {
      if (out.min_limit > out.max_limit) p.error(node, path, "min_limit is greater than max_limit");
      else if (out.initial_limit < out.min_limit || out.initial_limit > out.max_limit)
        p.error(node, path, "initial_limit must lie between min_limit and max_limit");
    };
    return s;
  }();
  return section;
}

const Keys kPolicies = {"round_robin", "weighted_round_robin", "random", "least_request", "consistent_hash"};

}  // namespace

const Section<ServiceConfig>& service_section() {
  using S = ServiceConfig;
  static Section<S> section = [] {
    Section<S> s("services.NAME", {
      section_key<S>("tls", upstream_tls_section(), "none (plain HTTP)", "TLS to the instances.", read_upstream_tls),
      custom<S>("discovery", "string or map", "`static`", "Where the instances come from.",
                [] {
                  Json types = Json::array();
                  for (std::string_view t : kDiscoveryTypes) types.push_back(std::string(t));
                  return Json{{"anyOf", {{{"enum", types}}, discovery_section().schema()}}};
                },
                read_discovery),
      custom<S>("instances", "list", "", "The upstream servers (static discovery).",
                [] {
                  return Json{{"type", "array"},
                              {"minItems", 1},
                              {"items", {{"anyOf", {string_schema(), instance_section().schema()}}}}};
                },
                read_instances)
          .when_absent([](Parser& p, const YAML::Node& node, const std::string& at, S& out) {
            if (out.discovery.type == "static")
              p.error(node, at, "missing required key (static discovery needs instances)");
          }),
      choice("lb", &S::lb, "lb", kPolicies, "Load-balancing policy.").type("string"),
      text("hash_on", &S::hash_on, "consistent_hash key: ip, header:NAME or cookie:NAME.", [](const std::string& v) {
        return v.empty() ? "expected ip, header:NAME or cookie:NAME" : sticky_problem(v);
      }),
      boolean("zone_aware", &S::zone_aware, "Prefer instances in the gateway's own zone."),
      number("zone_min_healthy_percent", &S::zone_min_healthy_percent, 0, 100,
             "Share of the local zone that must be available to prefer it."),
      duration("connect_timeout", &S::connect_timeout, kPositive, "Time allowed to open a connection to an instance."),
      duration("read_timeout", &S::read_timeout, kPositive, "Longest wait between reads from the upstream, per try."),
      // Zero idle connections is meaningful: no pooling.
      integer("max_idle_connections", &S::max_idle_connections, 0u, kUnsignedMax,
              "Idle keep-alive connections kept per instance and worker; 0 = no pooling."),
      duration("idle_connection_timeout", &S::idle_connection_timeout, kPositive, "How long a pooled connection may idle."),
      integer("max_requests_per_connection", &S::max_requests_per_connection, std::uint64_t{1}, kU64Max,
              "Requests over one upstream connection before it is retired."),
      choice("protocol", &S::protocol, "protocol", {"http1", "http2"},
             "What the instances speak: http1, or http2 (h2c; h2 by ALPN with tls)."),
      integer("max_concurrent_requests", &S::max_concurrent_requests, std::uint64_t{0}, kU64Max,
              "Bulkhead: requests in flight to this service; 0 = no limit.").shown_default("`0` (no limit)"),
      optional_nested("health_check", &S::health_check, health_check_section(), "Active health checks."),
      optional_nested("outlier", &S::outlier, outlier_section(), "Passive outlier detection."),
      nested("retries", &S::retries, retries_section(), "Ribbon-style retries."),
      nested("circuit_breaker", &S::circuit_breaker, circuit_breaker_section(), "Hystrix-style circuit breaker.")
          .shown_default("none (off)"),
      optional_nested("adaptive_concurrency", &S::adaptive_concurrency, adaptive_section(),
                      "A concurrency limit that follows the service's latency."),
    });
    s.nest("discovery", discovery_section());
    s.nest("instances", instance_section());
    s.nullable = false;
    return s;
  }();
  return section;
}

// `services: { NAME: {...} }`, read by the root.
void read_services(Parser& p, const YAML::Node& node, const std::string& path, std::map<std::string, ServiceConfig>& out) {
  if (node.IsNull()) return;
  if (!p.expect_map(node, path)) return;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) continue;  // reported by expect_map
    const std::string& name = entry.first.Scalar();
    if (out.count(name) != 0) continue;  // duplicate, reported by expect_map
    if (name.empty()) {
      p.error(entry.first, path, "service name must not be empty");
      continue;
    }
    // Kept even when invalid, so routes naming it are not also reported as undefined.
    ServiceConfig& service = out[name];
    service.name = name;
    p.read_section(service_section(), entry.second, join(path, name), service);
  }
}

}  // namespace portcullis::loader
