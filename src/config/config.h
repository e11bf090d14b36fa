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

#include <yaml-cpp/yaml.h>

#include "util/units.h"

namespace portcullis {

struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0"
  std::uint16_t port = 0;
  std::string text() const;  // "127.0.0.1:8080" / "[::1]:8080"
};

struct ServerConfig {
  std::vector<ListenAddress> listen{{"0.0.0.0", 8080}};
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
};

struct AdminConfig {
  ListenAddress listen{"127.0.0.1", 9901};
  bool enabled = true;
};

struct FilterConfig {
  std::string name;
  YAML::Node args;  // validated by the filter's factory
  std::optional<int> order;  // overrides the filter's default order
  std::string yaml_path;     // for error messages
  YAML::Node node;           // the whole entry: its mark places errors found at compile time
};

struct ServiceConfig {
  std::string name;
  std::string discovery = "static";
  std::vector<ListenAddress> instances;
  std::string lb = "round_robin";
  Duration connect_timeout = std::chrono::seconds(3);
  Duration read_timeout = std::chrono::seconds(60);
  unsigned max_idle_connections = 64;  // per worker per instance
  Duration idle_connection_timeout = std::chrono::seconds(60);
  std::uint64_t max_requests_per_connection = 10000;
};

struct StaticResponseConfig {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
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
  std::vector<FilterConfig> filters;
};

struct Config {
  std::string file;
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
