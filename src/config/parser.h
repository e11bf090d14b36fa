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
#include "util/units_text.h"

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
// "" for a good sticky key ("", ip, header:NAME, cookie:NAME), else the message.
std::string sticky_problem(const std::string& value);

template <typename T>
std::optional<T> parse_integer(std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

using Keys = std::vector<std::string_view>;

// Listeners are bound with the address as given, so they need an IP literal and may ask for an
// ephemeral port (0); upstream instances are resolved by name and need a real port.
enum class AddressUse { listener, instance };

template <typename S>
class Section;

// Walks the document through the sections' descriptions (schema.h) and collects every problem.
// Its readers are public: the descriptions' key readers call them.
class Parser {
 public:
  explicit Parser(ConfigErrors& errors) : errors_(errors) {}
  Config parse(const YAML::Node& root);

  void error(const YAML::Node& at, const std::string& path, std::string message) {
    errors_.add(place_of(at), path, std::move(message));
  }
  std::size_t error_count() const { return errors_.list().size(); }
  // The config being read: routes look up the services read before them.
  const Config& config() const { return *config_; }

  // A section through its description: unknown keys, required keys, each key's reader, then the
  // section's own checks between keys.
  template <typename S>
  void read_section(const Section<S>& section, const YAML::Node& node, const std::string& path, S& out);

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
  bool read_share(const YAML::Node& node, const std::string& path, double& out);
  void read_methods(const YAML::Node& node, const std::string& path, std::vector<std::string>& out);
  void report_tls(const YAML::Node& node, const std::string& path, const std::vector<tls::BuildError>& errors);
  // Route ids must be unique: the first line each was used at.
  std::map<std::string, int>& route_id_lines() { return route_id_lines_; }

 private:
  const YAML::Node& place_of(const YAML::Node& at) const;

  ConfigErrors& errors_;
  const Config* config_ = nullptr;
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
