// The configuration as plain structs with defaults: what the YAML file says, validated, before it is
// compiled into a runtime Snapshot (src/config/snapshot.h).
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/yaml_node.h"
#include "tls/tls.h"
#include "util/units.h"

namespace portcullis {

// A listener's TLS: the settings as written and the context built from them when the config was
// loaded (so a bad certificate is a config error, and every connection keeps its context).
struct ListenerTls {
  tls::ServerSettings settings;
  std::shared_ptr<const tls::ServerContext> context;
};

struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0"
  std::uint16_t port = 0;
  std::shared_ptr<const ListenerTls> tls;  // null = plain HTTP
  std::string text() const;  // "127.0.0.1:8080" / "[::1]:8080"
};

// HTTP/2 from clients (server.http2): what the gateway advertises in its SETTINGS and the budgets
// that end a connection that floods it.
struct Http2Config {
  bool enabled = true;                         // h2 by ALPN and by prior knowledge on plain listeners
  std::uint64_t max_concurrent_streams = 100;
  std::uint64_t initial_stream_window = 64 * 1024;
  std::uint64_t initial_connection_window = 1024 * 1024;
  std::uint64_t max_frame_size = 16384;
  std::uint64_t hpack_table_size = 4096;
  Duration idle_timeout = std::chrono::seconds(60);    // no stream open
  Duration goaway_timeout = std::chrono::seconds(30);  // after GOAWAY, for the streams in flight
  std::uint64_t max_resets_per_second = 100;           // streams the client resets (burst: twice as many)
  std::uint64_t max_control_frames_per_second = 100;   // PING, SETTINGS, PRIORITY, empty DATA (the same)
};

struct ServerConfig {
  std::vector<ListenAddress> listen{{"0.0.0.0", 8080, nullptr}};
  // Carries the verified client certificate's subject upstream; always removed from what clients
  // send, so it cannot be forged.
  std::string client_cert_header = "X-Client-Cert-Subject";
  unsigned workers = 0;  // 0 = one per CPU
  std::uint64_t max_connections = 100000;
  std::uint64_t max_request_header_bytes = 65536;
  std::uint64_t max_request_line_bytes = 8192;
  std::uint64_t max_header_count = 100;
  std::uint64_t max_request_body_bytes = 10 * 1024 * 1024;
  std::uint64_t max_response_header_bytes = 65536;
  std::uint64_t max_chunk_extension_bytes = 1024;
  Duration request_header_timeout = std::chrono::seconds(10);
  Duration idle_timeout = std::chrono::seconds(60);
  Duration drain_timeout = std::chrono::seconds(30);
  std::vector<std::string> trusted_proxies;  // CIDRs whose X-Forwarded-For / Forwarded are kept
  std::string via = "portcullis";            // pseudonym in the Via header; empty = no Via
  bool server_header = false;                // add "Server: portcullis" to local responses
  Http2Config http2;
};

struct AdminConfig {
  ListenAddress listen{"127.0.0.1", 9901, nullptr};
  bool enabled = true;
};

struct FilterConfig {
  std::string name;
  YamlNode args;  // validated by the filter's factory
  std::optional<int> order;  // overrides the filter's default order
  std::string yaml_path;     // for error messages
  YamlNode node;             // the whole entry: its mark places errors found at compile time
};

struct StaticResponseConfig {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// One instance as configured (static discovery) or as a registry reports it.
struct InstanceConfig {
  ListenAddress address;
  std::string zone;    // "" = unknown
  unsigned weight = 1;  // weighted_round_robin
  std::map<std::string, std::string> metadata;
};

// Where a service's instances come from. `type` picks the provider; the other keys belong to it.
struct DiscoveryConfig {
  std::string type = "static";  // static | registry | eureka | etcd | dns
  std::string app;              // registry/eureka application name (default: the service name)
  std::string url;              // eureka: server base URL, e.g. http://127.0.0.1:8761/eureka
  std::vector<std::string> endpoints;  // etcd: http://host:port of its JSON gateway
  std::string prefix = "/portcullis/services";  // etcd: keys are PREFIX/<service>/<id>
  std::string name;             // dns: host name to resolve
  std::uint16_t port = 0;       // dns: port of every resolved address
  Duration refresh = std::chrono::seconds(30);  // eureka poll / dns re-resolve interval
  bool operator==(const DiscoveryConfig&) const = default;
};

struct HealthCheckConfig {
  std::string path = "/health";
  Duration interval = std::chrono::seconds(5);
  Duration timeout = std::chrono::seconds(1);
  unsigned healthy = 2;    // consecutive passes before an unhealthy instance returns
  unsigned unhealthy = 3;  // consecutive failures before an instance is taken out
  std::string host;        // Host header; "" = the instance address
  bool operator==(const HealthCheckConfig&) const = default;
};

struct OutlierConfig {
  unsigned consecutive_failures = 5;  // connect failures, resets, timeouts or 5xx in a row
  Duration base_ejection = std::chrono::seconds(30);  // times the number of ejections so far
  Duration max_ejection = std::chrono::seconds(300);
  unsigned max_ejection_percent = 50;
};

struct RetryConfig {
  unsigned max_auto_retries = 0;              // further tries on the same instance
  unsigned max_auto_retries_next_server = 1;  // further instances tried
  // connect_failure, reset, timeout, 5xx, or a status code
  std::vector<std::string> on{"connect_failure", "reset", "502", "503", "504"};
  std::vector<std::string> methods{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"};
  double budget_percent = 20;   // retries allowed as a share of requests in the last 10s
  unsigned budget_min_retries = 10;  // always allowed per 10s, so a quiet service can retry
};

struct CircuitBreakerConfig {
  bool enabled = false;
  Duration window = std::chrono::seconds(10);
  unsigned min_requests = 20;
  double error_percent = 50;
  Duration sleep = std::chrono::seconds(5);
  std::optional<StaticResponseConfig> fallback;
};

// Adaptive concurrency (Netflix's concurrency-limits): the limit follows the service's latency.
struct AdaptiveConcurrencyConfig {
  std::string algorithm = "gradient2";  // gradient2 | vegas
  unsigned min_limit = 10;
  unsigned max_limit = 1000;
  unsigned initial_limit = 50;
  Duration window = std::chrono::milliseconds(250);  // latency samples are averaged over a window
  unsigned min_samples = 10;                          // a window closes with at least this many
  std::optional<double> smoothing;                    // default 0.2 (gradient2), 1.0 (vegas)
  double rtt_tolerance = 1.5;                         // gradient2: latency rise tolerated before shrinking
  unsigned queue_size = 4;                            // gradient2: queue allowance added each window
  unsigned long_window = 600;                         // gradient2: windows in the long-term latency average
  unsigned probe_multiplier = 30;                     // vegas: re-probe no-load latency every limit*this requests
  Duration probe_interval = std::chrono::seconds(10);  // a full limit is probed at half of it this often
  bool operator==(const AdaptiveConcurrencyConfig&) const = default;
};

struct ServiceConfig {
  std::string name;
  DiscoveryConfig discovery;
  std::vector<InstanceConfig> instances;
  std::string lb = "round_robin";  // round_robin weighted_round_robin random least_request consistent_hash
  std::string hash_on = "ip";      // consistent_hash: header:NAME | cookie:NAME | ip
  bool zone_aware = false;
  double zone_min_healthy_percent = 50;  // local zone used while this share of it is available
  Duration connect_timeout = std::chrono::seconds(3);
  Duration read_timeout = std::chrono::seconds(60);
  unsigned max_idle_connections = 64;  // per worker per instance
  Duration idle_connection_timeout = std::chrono::seconds(60);
  std::uint64_t max_requests_per_connection = 10000;
  // http1, or http2: streams multiplexed over a few connections per worker and instance (h2c, or
  // h2 by ALPN with tls).
  std::string protocol = "http1";
  bool http2() const { return protocol == "http2"; }
  // TLS to the instances: the settings and the context built from them (null = plain HTTP).
  std::optional<tls::ClientSettings> tls;
  std::shared_ptr<const tls::ClientContext> tls_context;
  std::optional<HealthCheckConfig> health_check;
  std::optional<OutlierConfig> outlier;
  RetryConfig retries;
  CircuitBreakerConfig circuit_breaker;
  std::uint64_t max_concurrent_requests = 0;  // bulkhead; 0 = unlimited
  std::optional<AdaptiveConcurrencyConfig> adaptive_concurrency;
};

// Canary analysis: compare canary with baseline over each interval, roll back when worse.
struct CanaryAnalysisConfig {
  Duration interval = std::chrono::seconds(30);
  unsigned min_requests = 200;          // per variant and interval, before judging
  double max_error_rate_delta = 0.02;   // canary 5xx rate minus baseline's
  double max_p99_ratio = 1.5;           // canary p99 over baseline p99
  bool operator==(const CanaryAnalysisConfig&) const = default;
};

struct CanaryConfig {
  std::string service;                   // the new version; the route's `service` is the baseline
  double percent = 0;                    // 0..100 to the canary
  std::string sticky;                    // "" (per request), header:NAME, cookie:NAME or ip
  std::string force_header;              // a header whose value canary|baseline overrides the draw; "" = none
  std::string variant_header = "X-Canary-Variant";  // response header naming the variant; "" = none
  std::vector<double> ramp_steps;        // percents, raised one per ramp_interval
  Duration ramp_interval = std::chrono::minutes(10);
  std::optional<CanaryAnalysisConfig> analysis;
  bool operator==(const CanaryConfig&) const = default;
};

struct SplitEntry {
  std::string service;
  double weight = 0;
  bool operator==(const SplitEntry&) const = default;
};

// Shadow traffic: a share of requests copied to another service, answers discarded.
struct MirrorConfig {
  std::string service;
  double percent = 100;
  std::uint64_t max_body_bytes = 64 * 1024;  // larger (or streamed) bodies are not mirrored
  unsigned max_in_flight = 64;               // per route, all workers; over it copies are dropped
  Duration timeout = std::chrono::seconds(5);
};

struct RouteConfig {
  std::string id;
  std::string path;
  std::vector<std::string> methods;  // empty = any
  std::string host;                  // empty = any; "*.example.com" allowed
  std::vector<std::pair<std::string, std::string>> headers;  // exact match
  std::string service;
  std::optional<StaticResponseConfig> static_response;
  std::optional<bool> strip_prefix;  // default: true for paths ending in /**
  bool allow_upgrade = false;        // forward Upgrade (e.g. WebSocket)
  Duration timeout{0};               // whole exchange including retries; 0 = none
  std::optional<CanaryConfig> canary;  // baseline = service, canary = canary.service
  std::vector<SplitEntry> split;       // instead of service: several versions by weight
  std::string split_sticky;            // split's key (same forms as canary.sticky)
  std::string split_variant_header = "X-Canary-Variant";
  std::optional<MirrorConfig> mirror;
  std::optional<int> priority;                 // 0..99; default shedding.default_priority
  std::uint64_t max_concurrent_requests = 0;   // 0 = unlimited
  std::vector<FilterConfig> filters;
};

// Process-level discovery settings: the embedded registry and the gateway's own zone.
struct DiscoverySettings {
  std::string zone;  // the gateway's zone, for zone_aware services
  Duration lease_duration = std::chrono::seconds(90);  // embedded registry, when a client sends none
  Duration eviction_interval = std::chrono::seconds(1);
  bool registry_enabled = true;  // serve /eureka/* on the admin listener
  std::uint64_t max_registered_instances = 10'000;  // embedded registry: new registrations beyond get 503
  bool self_preservation = true;                   // Eureka's: stop expiring leases when renewals collapse
  double renewal_percent_threshold = 0.85;         // of the renewals expected in a minute
  std::uint64_t self_preservation_min_instances = 10;  // fewer expected renewers: leases always expire
  // An instance gone from its service this long has its metric series, pooled connections and id
  // freed (it keeps them while it may come back).
  Duration forget_departed_after = std::chrono::minutes(5);
};

// One band of priorities: from `from` up to the next band, requests may fill `shed_at` of a limit.
struct PriorityBandConfig {
  int from = 0;
  double shed_at = 1.0;  // 0..1
};

// Load shedding: gateway-wide limits, priorities and event-loop protection.
struct SheddingConfig {
  std::uint64_t max_concurrent_requests = 0;  // the whole gateway; 0 = unlimited
  std::string priority_header = "X-Priority";  // "" = priorities come from routes and filters only
  int default_priority = 50;
  int max_header_priority = 99;  // a client cannot claim more than this through the header
  std::vector<PriorityBandConfig> bands{{0, 0.5}, {25, 0.75}, {50, 1.0}};
  Duration max_event_loop_lag{0};  // shed new requests on a worker lagging more; 0 = off
  Duration lag_probe_interval = std::chrono::milliseconds(50);
  Duration retry_after = std::chrono::seconds(1);
};

// Lua filters from a directory: every *.lua file in `dir` is a global filter (Zuul's filter
// directory), with these budgets.
struct LuaConfig {
  std::string dir;  // "" = none
  std::uint64_t max_instructions = 1'000'000;
  std::uint64_t max_memory = 16u << 20;
};

struct Config {
  std::string file;
  LuaConfig lua;
  DiscoverySettings discovery;
  SheddingConfig shedding;
  ServerConfig server;
  AdminConfig admin;
  std::map<std::string, ServiceConfig> services;
  std::vector<RouteConfig> routes;
  std::vector<FilterConfig> filters;  // global
};

class ConfigErrors;

// Parse and validate a YAML document. Every problem is added to `errors`; the returned Config is
// meaningful only when errors is empty. Environment overrides (PORT) are applied by the caller.
Config parse_config(const YAML::Node& root, ConfigErrors& errors);

// Read a file, parse it and validate its structure. Filter names and args are validated when the
// config is compiled into a Snapshot (config/snapshot.h). Returns nullopt and fills `errors`.
std::optional<Config> load_config_file(const std::string& path, ConfigErrors& errors);

std::optional<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace portcullis
