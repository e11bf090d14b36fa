// The config loader's parser, shared by its files: loader.cpp (shapes, values, the root and the
// public entry points), loader_server.cpp (server, TLS, limits, admin), loader_services.cpp
// (services, discovery, resilience, shedding) and loader_routes.cpp (routes, canary, filters).
// Internal to src/config; the rest of the gateway includes config.h.
#pragma once
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/errors.h"

namespace portcullis::loader {

// ---- text checks (loader.cpp) ----
bool is_ipv4(const std::string& text);
bool is_ipv6(const std::string& text);
std::optional<std::uint16_t> parse_port(std::string_view text);
bool is_token(std::string_view text);        // RFC 9110 tchar
bool is_field_value(std::string_view text);  // no CR, LF or other controls but HTAB
bool is_host_name(std::string_view text);    // RFC 1123, last label not all digits
bool is_host_pattern(std::string_view text); // a host name, "*." one, or IPv4
std::string join(const std::string& path, std::string_view key);
std::string indexed(const std::string& path, std::size_t index);
std::string in_quotes(std::string_view text);
std::string format_number(double v);

template <typename T>
std::optional<T> parse_integer(std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// Runs `read(value, path)` for map[key] when the key is present; absent keys keep their default.
// `map` must be const: yaml-cpp's non-const operator[] inserts the key it looks up.
template <typename Read>
void with_key(const YAML::Node& map, std::string_view key, const std::string& path, Read&& read) {
  const YAML::Node value = map[std::string(key)];
  if (value.IsDefined()) read(value, join(path, key));
}

using Keys = std::vector<std::string_view>;

// Listeners are bound with the address as given, so they need an IP literal and may ask for an
// ephemeral port (0); upstream instances are resolved by name and need a real port.
enum class AddressUse { listener, instance };

class Parser {
 public:
  explicit Parser(ConfigErrors& errors) : errors_(errors) {}
  Config parse(const YAML::Node& root);

 private:
  void error(const YAML::Node& at, const std::string& path, std::string message) {
    errors_.add(place_of(at), path, std::move(message));
  }
  const YAML::Node& place_of(const YAML::Node& at) const;

  // Shapes.
  bool expect_map(const YAML::Node& node, const std::string& path);
  bool expect_keys(const YAML::Node& node, const std::string& path, const Keys& known);
  bool expect_list(const YAML::Node& node, const std::string& path);

  // Values: each reports its own problem and leaves `out` unchanged when the value is bad.
  bool read_string(const YAML::Node& node, const std::string& path, std::string& out);
  bool read_required_string(const YAML::Node& map, std::string_view key, const std::string& path,
                            std::string& out);
  bool read_bool(const YAML::Node& node, const std::string& path, bool& out);
  template <typename T>
  bool read_integer(const YAML::Node& node, const std::string& path, T& out, T min, T max);
  bool read_size(const YAML::Node& node, const std::string& path, std::uint64_t& out,
                 std::uint64_t min);
  bool read_duration(const YAML::Node& node, const std::string& path, Duration& out,
                     bool allow_zero);
  bool read_address(const YAML::Node& node, const std::string& path, ListenAddress& out,
                    AddressUse use);
  void read_address_list(const YAML::Node& node, const std::string& path,
                         std::vector<ListenAddress>& out, AddressUse use);
  void read_header_map(const YAML::Node& node, const std::string& path,
                       std::vector<std::pair<std::string, std::string>>& out);
  void read_number(const YAML::Node& node, const std::string& path, double& out, double min, double max);
  void read_string_list(const YAML::Node& node, const std::string& path, std::vector<std::string>& out);

  // Sections.
  void parse_server(const YAML::Node& node, ServerConfig& out);
  void parse_listener(const YAML::Node& node, const std::string& path, ListenAddress& out);
  void parse_listener_tls(const YAML::Node& node, const std::string& path, ListenAddress& out);
  void parse_upstream_tls(const YAML::Node& node, const std::string& path, ServiceConfig& out);
  bool read_certificate(const YAML::Node& node, const std::string& path, tls::CertificateFiles& out);
  void read_tls_version(const YAML::Node& node, const std::string& path, std::string& out);
  void report_tls(const YAML::Node& node, const std::string& path, const std::vector<tls::BuildError>& errors);
  void parse_limits(const YAML::Node& node, const std::string& path, ServerConfig& out);
  void parse_timeouts(const YAML::Node& node, const std::string& path, ServerConfig& out);
  void parse_trusted_proxies(const YAML::Node& node, const std::string& path, ServerConfig& out);
  void parse_admin(const YAML::Node& node, const ServerConfig& server, AdminConfig& out);
  void parse_services(const YAML::Node& node, std::map<std::string, ServiceConfig>& out);
  void parse_service(const YAML::Node& node, const std::string& path, ServiceConfig& out);
  void parse_instance(const YAML::Node& node, const std::string& path, InstanceConfig& out);
  void parse_discovery(const YAML::Node& node, const std::string& path, DiscoveryConfig& out);
  void parse_health_check(const YAML::Node& node, const std::string& path, HealthCheckConfig& out);
  void parse_outlier(const YAML::Node& node, const std::string& path, OutlierConfig& out);
  void parse_retries(const YAML::Node& node, const std::string& path, RetryConfig& out);
  void parse_circuit_breaker(const YAML::Node& node, const std::string& path, CircuitBreakerConfig& out);
  void parse_discovery_settings(const YAML::Node& node, DiscoverySettings& out);
  void parse_shedding(const YAML::Node& node, SheddingConfig& out);
  void parse_adaptive(const YAML::Node& node, const std::string& path, AdaptiveConcurrencyConfig& out);
  bool read_share(const YAML::Node& node, const std::string& path, double& out);
  bool check_sticky(const YAML::Node& node, const std::string& path, const std::string& value);
  void parse_canary(const YAML::Node& node, const std::string& path, const Config& config,
                    const std::string& baseline, CanaryConfig& out);
  void parse_routes(const YAML::Node& node, const Config& config, std::vector<RouteConfig>& out);
  void parse_route(const YAML::Node& node, const std::string& path, const Config& config,
                   RouteConfig& out);
  void parse_route_target(const YAML::Node& node, const std::string& path, const Config& config,
                          RouteConfig& out);
  void parse_methods(const YAML::Node& node, const std::string& path,
                     std::vector<std::string>& out);
  void parse_static(const YAML::Node& node, const std::string& path, StaticResponseConfig& out);
  void parse_filters(const YAML::Node& node, const std::string& path,
                     std::vector<FilterConfig>& out);
  void parse_filter(const YAML::Node& node, FilterConfig& out);

  ConfigErrors& errors_;
  // An empty value ("workers:") is marked where the next token starts, often the next line; its
  // errors are placed at its key instead. Filled by expect_map, which sees every map entry.
  std::vector<std::pair<YAML::Node, YAML::Node>> empty_value_keys_;
  std::map<std::string, int> route_id_lines_;  // id -> line of first use, for duplicate reports
};

template <typename T>
bool Parser::read_integer(const YAML::Node& node, const std::string& path, T& out, T min, T max) {
  const auto value = node.IsScalar() ? parse_integer<T>(node.Scalar()) : std::nullopt;
  if (!value) {
    error(node, path, "expected an integer");
    return false;
  }
  if (*value < min || *value > max) {
    error(node, path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return false;
  }
  out = *value;
  return true;
}

}  // namespace portcullis::loader
