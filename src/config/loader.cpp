// YAML -> Config. Walks each section, checks every key and value, and collects every problem with
// its place in the file, so one `portcullis validate` run lists all of them.
#include <arpa/inet.h>

#include <algorithm>
#include <sstream>
#include <array>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/errors.h"
#include "config/suggest.h"
#include "routing/route_table.h"
#include "util/cidr.h"

namespace portcullis {

std::string ListenAddress::text() const {
  // Only IPv6 literals contain ':'; they need brackets to keep the port separable.
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

namespace {

bool is_ipv4(const std::string& text) {
  in_addr address{};
  return inet_pton(AF_INET, text.c_str(), &address) == 1;
}

bool is_ipv6(const std::string& text) {
  in6_addr address{};
  return inet_pton(AF_INET6, text.c_str(), &address) == 1;
}

template <typename T>
std::optional<T> parse_integer(std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  const auto port = parse_integer<unsigned>(text);
  if (!port || *port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*port);
}

// RFC 9110 tchar: the alphabet of header names, method names and the Via pseudonym.
bool is_token(std::string_view text) {
  constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  if (text.empty()) return false;
  return std::all_of(text.begin(), text.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           kSpecials.find(c) != std::string_view::npos;
  });
}

// Header values go onto the wire verbatim: CR/LF would let a config inject extra fields.
bool is_field_value(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

// RFC 1123 host name: dot-separated labels of letters, digits and inner '-'. An all-digit last
// label is refused so that a mistyped IPv4 address ("10.0.0.300") is not taken for a name.
bool is_host_name(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  std::string_view last;
  while (!text.empty()) {
    const auto dot = text.find('.');
    last = text.substr(0, dot);
    if (last.empty() || last.size() > 63 || last.front() == '-' || last.back() == '-') return false;
    const bool ok = std::all_of(last.begin(), last.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
    });
    if (!ok) return false;
    text = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
    if (dot != std::string_view::npos && text.empty()) return false;  // trailing dot
  }
  return !std::all_of(last.begin(), last.end(),
                      [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// A route's host: "api.example.com", "*.example.com" or an IPv4 address.
bool is_host_pattern(std::string_view text) {
  if (text.starts_with("*.")) text.remove_prefix(2);
  return is_host_name(text) || is_ipv4(std::string(text));
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string indexed(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::string format_number(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
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

const YAML::Node& Parser::place_of(const YAML::Node& at) const {
  if (!at.IsDefined() || !at.IsNull()) return at;
  for (const auto& [value, key] : empty_value_keys_)
    if (value.is(at)) return key;
  return at;
}

// ---- shapes ----------------------------------------------------------------------------------

bool Parser::expect_map(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) {
    error(node, path, "expected a map");
    return false;
  }
  // YAML forbids duplicate keys but yaml-cpp silently keeps the first: report the second.
  std::set<std::string> seen;
  for (const auto& entry : node) {
    if (entry.second.IsNull()) empty_value_keys_.emplace_back(entry.second, entry.first);
    if (!entry.first.IsScalar()) {
      error(entry.first, path, "keys must be strings");
    } else if (!seen.insert(entry.first.Scalar()).second) {
      error(entry.first, join(path, entry.first.Scalar()), "duplicate key");
    }
  }
  return true;
}

bool Parser::expect_keys(const YAML::Node& node, const std::string& path, const Keys& known) {
  if (!expect_map(node, path)) return false;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) continue;  // reported by expect_map
    const std::string& key = entry.first.Scalar();
    if (std::find(known.begin(), known.end(), key) == known.end())
      error(entry.first, join(path, key), "unknown key" + did_you_mean(key, known));
  }
  return true;
}

bool Parser::expect_list(const YAML::Node& node, const std::string& path) {
  if (node.IsSequence()) return true;
  error(node, path, "expected a list");
  return false;
}

// ---- values ----------------------------------------------------------------------------------

bool Parser::read_string(const YAML::Node& node, const std::string& path, std::string& out) {
  if (!node.IsScalar()) {
    error(node, path, "expected a string");
    return false;
  }
  out = node.Scalar();
  return true;
}

bool Parser::read_required_string(const YAML::Node& map, std::string_view key,
                                  const std::string& path, std::string& out) {
  const YAML::Node value = map[std::string(key)];
  const std::string key_path = join(path, key);
  if (!value.IsDefined()) {
    error(map, key_path, "missing required key");  // placed at the map that lacks it
    return false;
  }
  if (!read_string(value, key_path, out)) return false;
  if (!out.empty()) return true;
  error(value, key_path, "must not be empty");
  return false;
}

bool Parser::read_bool(const YAML::Node& node, const std::string& path, bool& out) {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    error(node, path, "expected true or false");
    return false;
  }
  out = value;
  return true;
}

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

bool Parser::read_size(const YAML::Node& node, const std::string& path, std::uint64_t& out,
                       std::uint64_t min) {
  const auto value = node.IsScalar() ? parse_size(node.Scalar()) : std::nullopt;
  if (!value) {
    const std::string shown = node.IsScalar() ? in_quotes(node.Scalar()) + " " : "";
    error(node, path,
          "invalid size " + shown +
              "(expected bytes, or a number with B, KiB, MiB, GiB, KB, MB or GB)");
    return false;
  }
  if (*value < min) {
    error(node, path,
          min == 1 ? "must be greater than 0" : "must be at least " + std::to_string(min));
    return false;
  }
  out = *value;
  return true;
}

bool Parser::read_duration(const YAML::Node& node, const std::string& path, Duration& out,
                           bool allow_zero) {
  const auto value = node.IsScalar() ? parse_duration(node.Scalar()) : std::nullopt;
  if (!value) {
    const std::string shown = node.IsScalar() ? in_quotes(node.Scalar()) + " " : "";
    error(node, path,
          "invalid duration " + shown +
              "(expected e.g. 250ms, 3s, 2m, 1h; a bare number is seconds)");
    return false;
  }
  if (!allow_zero && value->count() == 0) {
    error(node, path, "must be greater than 0");
    return false;
  }
  out = *value;
  return true;
}

bool Parser::read_address(const YAML::Node& node, const std::string& path, ListenAddress& out,
                          AddressUse use) {
  std::string text;
  if (!read_string(node, path, text)) return false;
  const auto address = parse_listen_address(text);
  if (!address) {
    error(node, path,
          "invalid address " + in_quotes(text) + " (expected host:port, [ipv6]:port or *:port)");
    return false;
  }
  if (use == AddressUse::listener && !is_ipv4(address->host) && !is_ipv6(address->host)) {
    error(node, path,
          "a listen address needs an IP address, not the host name " + in_quotes(address->host));
    return false;
  }
  if (address->port == 0 && use == AddressUse::instance) {
    error(node, path, "port must be between 1 and 65535");
    return false;
  }
  out = *address;
  return true;
}

void Parser::read_address_list(const YAML::Node& node, const std::string& path,
                               std::vector<ListenAddress>& out, AddressUse use) {
  if (!expect_list(node, path)) return;
  if (node.size() == 0) {
    error(node, path, "must list at least one address");
    return;
  }
  std::vector<ListenAddress> addresses;
  for (std::size_t i = 0; i < node.size(); ++i) {
    ListenAddress address;
    if (use == AddressUse::listener && node[i].IsMap()) {
      parse_listener(node[i], indexed(path, i), address);
      addresses.push_back(std::move(address));
    } else if (read_address(node[i], indexed(path, i), address, use)) {
      addresses.push_back(std::move(address));
    }
  }
  out = std::move(addresses);
}

void Parser::read_header_map(const YAML::Node& node, const std::string& path,
                             std::vector<std::pair<std::string, std::string>>& out) {
  if (node.IsNull()) return;
  if (!expect_map(node, path)) return;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) continue;  // reported by expect_map
    const std::string& name = entry.first.Scalar();
    const std::string field_path = join(path, name);
    if (!is_token(name)) {
      error(entry.first, field_path, "invalid header name");
      continue;
    }
    std::string value;
    if (!read_string(entry.second, field_path, value)) continue;
    if (!is_field_value(value)) {
      error(entry.second, field_path, "header value must not contain control characters");
      continue;
    }
    out.emplace_back(name, std::move(value));
  }
}

// ---- server and admin ------------------------------------------------------------------------

void Parser::parse_server(const YAML::Node& node, ServerConfig& out) {
  const std::string path = "server";
  if (node.IsNull()) return;
  if (!expect_keys(
          node, path,
          {"listen", "workers", "limits", "timeouts", "trusted_proxies", "via", "server_header",
           "client_cert_header"}))
    return;
  with_key(node, "listen", path, [&](const YAML::Node& value, const std::string& at) {
    // One address is common enough to deserve the short form.
    if (value.IsSequence()) return read_address_list(value, at, out.listen, AddressUse::listener);
    if (value.IsMap()) {
      ListenAddress address;
      parse_listener(value, at, address);
      out.listen = {address};
      return;
    }
    if (!value.IsScalar()) return error(value, at, "expected an address or a list of addresses");
    ListenAddress address;
    if (read_address(value, at, address, AddressUse::listener)) out.listen = {address};
  });
  with_key(node, "workers", path, [&](const YAML::Node& value, const std::string& at) {
    read_integer(value, at, out.workers, 0u, 1024u);
  });
  with_key(node, "limits", path,
           [&](const YAML::Node& value, const std::string& at) { parse_limits(value, at, out); });
  with_key(node, "timeouts", path,
           [&](const YAML::Node& value, const std::string& at) { parse_timeouts(value, at, out); });
  with_key(node, "trusted_proxies", path, [&](const YAML::Node& value, const std::string& at) {
    parse_trusted_proxies(value, at, out);
  });
  with_key(node, "via", path, [&](const YAML::Node& value, const std::string& at) {
    std::string via;
    if (!read_string(value, at, via)) return;
    // The pseudonym is a token in the Via grammar; a space would corrupt the header.
    if (!via.empty() && !is_token(via))
      return error(value, at, "must be a single token (letters, digits, !#$%&'*+-.^_`|~) or empty");
    out.via = via;
  });
  with_key(node, "server_header", path, [&](const YAML::Node& value, const std::string& at) {
    read_bool(value, at, out.server_header);
  });
  with_key(node, "client_cert_header", path, [&](const YAML::Node& value, const std::string& at) {
    std::string name;
    if (!read_string(value, at, name)) return;
    if (name.empty() || !is_token(name)) return error(value, at, "must be a header name");
    out.client_cert_header = name;
  });
}

// ---- TLS -------------------------------------------------------------------------------------

// A listener written as a map: { address: "0.0.0.0:8443", tls: {...} }.
void Parser::parse_listener(const YAML::Node& node, const std::string& path, ListenAddress& out) {
  if (!expect_keys(node, path, {"address", "tls"})) return;
  if (!node["address"].IsDefined()) error(node, join(path, "address"), "missing required key");
  with_key(node, "address", path, [&](const YAML::Node& value, const std::string& at) {
    read_address(value, at, out, AddressUse::listener);
  });
  with_key(node, "tls", path, [&](const YAML::Node& value, const std::string& at) {
    parse_listener_tls(value, at, out);
  });
}

void Parser::read_tls_version(const YAML::Node& node, const std::string& path, std::string& out) {
  with_key(node, "min_version", path, [&](const YAML::Node& value, const std::string& at) {
    std::string v;
    if (!read_string(value, at, v)) return;
    if (v != "1.2" && v != "1.3") return error(value, at, "must be \"1.2\" or \"1.3\" (older versions are refused)");
    out = v;
  });
}

bool Parser::read_certificate(const YAML::Node& node, const std::string& path, tls::CertificateFiles& out) {
  if (!expect_keys(node, path, {"cert", "key"})) return false;
  const bool cert = read_required_string(node, "cert", path, out.cert);
  const bool key = read_required_string(node, "key", path, out.key);
  return cert && key;
}

// Places each problem found while building a TLS context at the setting it is about.
void Parser::report_tls(const YAML::Node& node, const std::string& path, const std::vector<tls::BuildError>& errors) {
  for (const auto& e : errors) {
    YAML::Node at = node;
    std::string at_path = path;
    std::string field = e.field;
    if (field.rfind("certificates[", 0) == 0) {
      const std::size_t close = field.find(']');
      const std::size_t index = std::stoul(field.substr(13, close - 13));
      const YAML::Node list = node["certificates"];
      // certificates[N] counts the top-level cert/key pair first when there is one.
      const std::size_t offset = node["cert"].IsDefined() ? 1 : 0;
      field = field.substr(close + 2);
      if (index < offset) {
        // the top-level pair
      } else if (list.IsSequence() && index - offset < list.size()) {
        at = list[index - offset];
        at_path = indexed(join(path, "certificates"), index - offset);
      }
    }
    const YAML::Node value = field.empty() ? YAML::Node() : at[field];
    if (value.IsDefined()) error(value, join(at_path, field), e.message);
    else error(at, field.empty() ? at_path : join(at_path, field), e.message);
  }
}

void Parser::parse_listener_tls(const YAML::Node& node, const std::string& path, ListenAddress& out) {
  if (!expect_keys(node, path,
                   {"cert", "key", "certificates", "min_version", "ciphers", "ciphersuites", "client_ca", "verify",
                    "session_tickets", "session_timeout"}))
    return;
  const std::size_t errors_before = errors_.list().size();
  auto listener = std::make_shared<ListenerTls>();
  tls::ServerSettings& s = listener->settings;
  if (node["cert"].IsDefined() || node["key"].IsDefined()) {
    tls::CertificateFiles pair;
    const bool cert = read_required_string(node, "cert", path, pair.cert);
    const bool key = read_required_string(node, "key", path, pair.key);
    if (cert && key) s.certificates.push_back(pair);
  }
  with_key(node, "certificates", path, [&](const YAML::Node& value, const std::string& at) {
    if (!expect_list(value, at)) return;
    for (std::size_t i = 0; i < value.size(); ++i) {
      tls::CertificateFiles pair;
      if (read_certificate(value[i], indexed(at, i), pair)) s.certificates.push_back(pair);
    }
  });
  if (s.certificates.empty() && errors_.list().size() == errors_before)
    error(node, join(path, "cert"), "a TLS listener needs cert and key (or certificates)");
  read_tls_version(node, path, s.min_version);
  with_key(node, "ciphers", path, [&](const YAML::Node& value, const std::string& at) { read_string(value, at, s.ciphers); });
  with_key(node, "ciphersuites", path,
           [&](const YAML::Node& value, const std::string& at) { read_string(value, at, s.ciphersuites); });
  with_key(node, "client_ca", path,
           [&](const YAML::Node& value, const std::string& at) { read_string(value, at, s.client_ca); });
  with_key(node, "verify", path, [&](const YAML::Node& value, const std::string& at) {
    std::string v;
    if (!read_string(value, at, v)) return;
    if (v == "required") s.verify = tls::Verify::required;
    else if (v == "optional") s.verify = tls::Verify::optional;
    else if (v == "none") s.verify = tls::Verify::none;
    else error(value, at, "must be required, optional or none");
  });
  if (!s.client_ca.empty() && !node["verify"].IsDefined()) s.verify = tls::Verify::required;
  if (s.client_ca.empty() && s.verify != tls::Verify::none)
    error(node["verify"], join(path, "verify"), "client certificates need client_ca");
  with_key(node, "session_tickets", path,
           [&](const YAML::Node& value, const std::string& at) { read_bool(value, at, s.session_tickets); });
  with_key(node, "session_timeout", path, [&](const YAML::Node& value, const std::string& at) {
    Duration d{};
    if (read_duration(value, at, d, false)) s.session_timeout = std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(d));
  });
  if (errors_.list().size() != errors_before) return;
  std::vector<tls::BuildError> problems;
  listener->context = tls::ServerContext::build(s, problems);
  report_tls(node, path, problems);
  if (listener->context) out.tls = std::move(listener);
}

void Parser::parse_upstream_tls(const YAML::Node& node, const std::string& path, ServiceConfig& out) {
  if (!expect_keys(node, path, {"ca", "sni", "verify", "cert", "key", "min_version"})) return;
  const std::size_t errors_before = errors_.list().size();
  tls::ClientSettings s;
  with_key(node, "ca", path, [&](const YAML::Node& value, const std::string& at) { read_string(value, at, s.ca); });
  with_key(node, "sni", path, [&](const YAML::Node& value, const std::string& at) { read_string(value, at, s.sni); });
  with_key(node, "verify", path, [&](const YAML::Node& value, const std::string& at) { read_bool(value, at, s.verify); });
  if (node["cert"].IsDefined() || node["key"].IsDefined()) {
    read_required_string(node, "cert", path, s.client.cert);
    read_required_string(node, "key", path, s.client.key);
  }
  read_tls_version(node, path, s.min_version);
  if (errors_.list().size() != errors_before) return;
  std::vector<tls::BuildError> problems;
  out.tls_context = tls::ClientContext::build(s, problems);
  report_tls(node, path, problems);
  out.tls = s;
}

void Parser::parse_limits(const YAML::Node& node, const std::string& path, ServerConfig& out) {
  struct Limit {
    std::string_view key;
    std::uint64_t ServerConfig::*member;
    std::uint64_t min;  // 0 only where "none allowed" is a meaningful setting
    bool is_size;       // counts take plain integers, byte limits also take "64KiB"
  };
  static constexpr std::array<Limit, 7> kLimits{{
      {"max_connections", &ServerConfig::max_connections, 1, false},
      {"max_request_header_bytes", &ServerConfig::max_request_header_bytes, 1, true},
      {"max_request_line_bytes", &ServerConfig::max_request_line_bytes, 1, true},
      {"max_header_count", &ServerConfig::max_header_count, 1, false},
      {"max_request_body_bytes", &ServerConfig::max_request_body_bytes, 0, true},
      {"max_response_header_bytes", &ServerConfig::max_response_header_bytes, 1, true},
      {"max_chunk_extension_bytes", &ServerConfig::max_chunk_extension_bytes, 0, true},
  }};
  if (node.IsNull()) return;
  Keys known;
  for (const Limit& limit : kLimits) known.push_back(limit.key);
  if (!expect_keys(node, path, known)) return;
  for (const Limit& limit : kLimits) {
    with_key(node, limit.key, path, [&](const YAML::Node& value, const std::string& at) {
      std::uint64_t& field = out.*limit.member;
      if (limit.is_size) return static_cast<void>(read_size(value, at, field, limit.min));
      read_integer(value, at, field, limit.min, std::numeric_limits<std::uint64_t>::max());
    });
  }
}

void Parser::parse_timeouts(const YAML::Node& node, const std::string& path, ServerConfig& out) {
  if (node.IsNull()) return;
  if (!expect_keys(node, path, {"request_header", "idle", "drain"})) return;
  with_key(node, "request_header", path, [&](const YAML::Node& value, const std::string& at) {
    read_duration(value, at, out.request_header_timeout, false);
  });
  with_key(node, "idle", path, [&](const YAML::Node& value, const std::string& at) {
    read_duration(value, at, out.idle_timeout, false);
  });
  // A zero drain is meaningful: close in-flight connections at once on shutdown.
  with_key(node, "drain", path, [&](const YAML::Node& value, const std::string& at) {
    read_duration(value, at, out.drain_timeout, true);
  });
}

void Parser::parse_trusted_proxies(const YAML::Node& node, const std::string& path,
                                   ServerConfig& out) {
  if (node.IsNull()) return;
  if (!expect_list(node, path)) return;
  std::vector<std::string> proxies;
  for (std::size_t i = 0; i < node.size(); ++i) {
    std::string cidr;
    if (!read_string(node[i], indexed(path, i), cidr)) continue;
    // The same parser the snapshot uses, so "valid here" and "usable there" cannot disagree.
    if (!Cidr::parse(cidr)) {
      error(node[i], indexed(path, i),
            "invalid CIDR " + in_quotes(cidr) +
                " (expected an IPv4 or IPv6 address with an optional /prefix)");
      continue;
    }
    proxies.push_back(std::move(cidr));
  }
  out.trusted_proxies = std::move(proxies);
}

void Parser::parse_admin(const YAML::Node& node, const ServerConfig& server, AdminConfig& out) {
  const std::string path = "admin";
  if (node.IsNull()) return;
  if (!expect_keys(node, path, {"listen", "enabled"})) return;
  with_key(node, "enabled", path, [&](const YAML::Node& value, const std::string& at) {
    read_bool(value, at, out.enabled);
  });
  with_key(node, "listen", path, [&](const YAML::Node& value, const std::string& at) {
    if (!read_address(value, at, out.listen, AddressUse::listener)) return;
    // Two listeners on one fixed port would fail at bind time with a less helpful message.
    const bool clash = std::any_of(server.listen.begin(), server.listen.end(), [&](const auto& l) {
      return l.port != 0 && l.port == out.listen.port && l.host == out.listen.host;
    });
    if (clash && out.enabled) error(value, at, "same address as server.listen");
  });
}

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

void Parser::read_number(const YAML::Node& node, const std::string& path, double& out, double min, double max) {
  double value = 0;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !(value >= min && value <= max)) {
    error(node, path, "expected a number from " + format_number(min) + " to " + format_number(max));
    return;
  }
  out = value;
}

void Parser::read_string_list(const YAML::Node& node, const std::string& path, std::vector<std::string>& out) {
  if (!expect_list(node, path)) return;
  std::vector<std::string> values;
  for (std::size_t i = 0; i < node.size(); ++i) {
    std::string v;
    if (read_string(node[i], indexed(path, i), v)) values.push_back(std::move(v));
  }
  out = std::move(values);
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

// ---- routes ----------------------------------------------------------------------------------

void Parser::parse_routes(const YAML::Node& node, const Config& config,
                          std::vector<RouteConfig>& out) {
  const std::string path = "routes";
  if (node.IsNull()) return;
  if (!expect_list(node, path)) return;
  for (std::size_t i = 0; i < node.size(); ++i) {
    RouteConfig route;
    parse_route(node[i], indexed(path, i), config, route);
    out.push_back(std::move(route));
  }
}

void Parser::parse_route(const YAML::Node& node, const std::string& path, const Config& config,
                         RouteConfig& out) {
  if (!expect_keys(node, path,
                   {"id", "path", "service", "static", "methods", "host", "headers", "strip_prefix", "timeout",
                    "canary", "split", "sticky", "variant_header", "mirror",
                    "allow_upgrade", "priority", "max_concurrent_requests", "filters"}))
    return;
  if (read_required_string(node, "id", path, out.id)) {
    const YAML::Node id = node["id"];
    const auto [first, inserted] = route_id_lines_.emplace(out.id, id.Mark().line + 1);
    if (!inserted)
      error(id, join(path, "id"),
            "duplicate route id " + in_quotes(out.id) + " (first used at line " +
                std::to_string(first->second) + ")");
  }
  if (read_required_string(node, "path", path, out.path)) {
    const std::string problem = routing::validate_pattern(out.path);
    if (!problem.empty()) error(node["path"], join(path, "path"), problem);
  }
  parse_route_target(node, path, config, out);
  with_key(node, "methods", path, [&](const YAML::Node& value, const std::string& at) {
    parse_methods(value, at, out.methods);
  });
  with_key(node, "host", path, [&](const YAML::Node& value, const std::string& at) {
    if (!read_string(value, at, out.host)) return;
    if (!out.host.empty() && !is_host_pattern(out.host))
      error(value, at,
            "invalid host " + in_quotes(out.host) +
                " (expected a host name, *.suffix or IPv4 address, without port)");
  });
  with_key(node, "headers", path, [&](const YAML::Node& value, const std::string& at) {
    read_header_map(value, at, out.headers);
  });
  with_key(node, "strip_prefix", path, [&](const YAML::Node& value, const std::string& at) {
    bool strip = false;
    if (read_bool(value, at, strip)) out.strip_prefix = strip;
  });
  with_key(node, "allow_upgrade", path, [&](const YAML::Node& value, const std::string& at) {
    read_bool(value, at, out.allow_upgrade);
  });
  with_key(node, "priority", path, [&](const YAML::Node& value, const std::string& at) {
    int priority = 0;
    if (read_integer(value, at, priority, 0, 99)) out.priority = priority;
  });
  with_key(node, "max_concurrent_requests", path, [&](const YAML::Node& value, const std::string& at) {
    read_integer(value, at, out.max_concurrent_requests, std::uint64_t{0}, std::numeric_limits<std::uint64_t>::max());
  });
  with_key(node, "timeout", path, [&](const YAML::Node& value, const std::string& at) {
    read_duration(value, at, out.timeout, true);
  });
  with_key(node, "canary", path, [&](const YAML::Node& value, const std::string& at) {
    if (!node["service"].IsDefined()) {
      error(value, at, "a canary needs the route's \"service\" as its baseline");
      return;
    }
    parse_canary(value, at, config, out.service, out.canary.emplace());
  });
  with_key(node, "sticky", path, [&](const YAML::Node& value, const std::string& at) {
    if (!node["split"].IsDefined()) error(value, at, "\"sticky\" applies to a split (a canary has its own)");
    else if (read_string(value, at, out.split_sticky)) check_sticky(value, at, out.split_sticky);
  });
  with_key(node, "variant_header", path, [&](const YAML::Node& value, const std::string& at) {
    if (!node["split"].IsDefined()) error(value, at, "\"variant_header\" applies to a split (a canary has its own)");
    else read_string(value, at, out.split_variant_header);
  });
  with_key(node, "mirror", path, [&](const YAML::Node& value, const std::string& at) {
    MirrorConfig& m = out.mirror.emplace();
    if (!expect_keys(value, at, {"service", "percent", "max_body_bytes", "max_in_flight", "timeout"})) return;
    if (read_required_string(value, "service", at, m.service) && config.services.count(m.service) == 0)
      error(value["service"], join(at, "service"), "service " + in_quotes(m.service) + " is not defined");
    with_key(value, "percent", at, [&](const YAML::Node& v, const std::string& w) { read_number(v, w, m.percent, 0, 100); });
    with_key(value, "max_body_bytes", at, [&](const YAML::Node& v, const std::string& w) {
      read_size(v, w, m.max_body_bytes, 0);
    });
    with_key(value, "max_in_flight", at, [&](const YAML::Node& v, const std::string& w) {
      read_integer(v, w, m.max_in_flight, 1u, 1000000u);
    });
    with_key(value, "timeout", at, [&](const YAML::Node& v, const std::string& w) { read_duration(v, w, m.timeout, false); });
    if (!node["service"].IsDefined() && !node["split"].IsDefined()) error(value, at, "only a route with a service can mirror");
    // Mirroring to a service the route already serves would send every request to it twice.
    const bool own = m.service == out.service || (out.canary && m.service == out.canary->service) ||
                     std::any_of(out.split.begin(), out.split.end(), [&](const SplitEntry& e) { return e.service == m.service; });
    if (own && !m.service.empty())
      error(value["service"], join(at, "service"), "the mirror must be another service than the route's own versions");
  });
  with_key(node, "filters", path, [&](const YAML::Node& value, const std::string& at) {
    parse_filters(value, at, out.filters);
  });
}

// A route either proxies to a service or answers by itself; exactly one of the two.
void Parser::parse_route_target(const YAML::Node& node, const std::string& path,
                                const Config& config, RouteConfig& out) {
  const YAML::Node service = node["service"];
  const YAML::Node response = node["static"];
  const YAML::Node split = node["split"];
  const int targets = service.IsDefined() + response.IsDefined() + split.IsDefined();
  if (targets > 1) {
    error(node, path, "\"service\", \"split\" and \"static\" are mutually exclusive");
  } else if (targets == 0) {
    error(node, path, "a route needs either \"service\", \"split\" or \"static\"");
  }
  auto check_service = [&](const YAML::Node& at, const std::string& where, const std::string& name) {
    if (config.services.count(name) == 0) error(at, where, "service " + in_quotes(name) + " is not defined");
  };
  if (service.IsDefined() && read_string(service, join(path, "service"), out.service))
    check_service(service, join(path, "service"), out.service);
  if (response.IsDefined())
    parse_static(response, join(path, "static"), out.static_response.emplace());
  if (split.IsDefined() && expect_list(split, join(path, "split"))) {
    double total = 0;
    for (std::size_t i = 0; i < split.size(); ++i) {
      const std::string at = indexed(join(path, "split"), i);
      if (!expect_keys(split[i], at, {"service", "weight"})) continue;
      SplitEntry entry;
      if (!read_required_string(split[i], "service", at, entry.service)) continue;
      check_service(split[i]["service"], join(at, "service"), entry.service);
      if (!split[i]["weight"].IsDefined()) error(split[i], join(at, "weight"), "missing required key");
      with_key(split[i], "weight", at, [&](const YAML::Node& v, const std::string& w) { read_number(v, w, entry.weight, 0, 1e9); });
      total += entry.weight;
      out.split.push_back(std::move(entry));
    }
    if (out.split.size() < 2) error(split, join(path, "split"), "a split needs at least two services");
    else if (total <= 0) error(split, join(path, "split"), "the weights must not all be 0");
    if (!out.split.empty()) out.service = out.split.front().service;
  }
}

bool Parser::check_sticky(const YAML::Node& node, const std::string& path, const std::string& value) {
  const bool ok = value.empty() || value == "ip" || (value.starts_with("header:") && value.size() > 7) ||
                  (value.starts_with("cookie:") && value.size() > 7);
  if (!ok) error(node, path, "expected ip, header:NAME or cookie:NAME");
  return ok;
}

void Parser::parse_canary(const YAML::Node& node, const std::string& path, const Config& config,
                          const std::string& baseline, CanaryConfig& out) {
  if (!expect_keys(node, path, {"service", "percent", "sticky", "force_header", "variant_header", "ramp", "analysis"}))
    return;
  if (read_required_string(node, "service", path, out.service)) {
    if (config.services.count(out.service) == 0)
      error(node["service"], join(path, "service"), "service " + in_quotes(out.service) + " is not defined");
    else if (node["service"].IsDefined() && out.service == baseline)
      error(node["service"], join(path, "service"), "the canary must be another service than the baseline");
  }
  with_key(node, "percent", path, [&](const YAML::Node& v, const std::string& at) { read_number(v, at, out.percent, 0, 100); });
  with_key(node, "sticky", path, [&](const YAML::Node& v, const std::string& at) {
    if (read_string(v, at, out.sticky)) check_sticky(v, at, out.sticky);
  });
  with_key(node, "force_header", path, [&](const YAML::Node& v, const std::string& at) { read_string(v, at, out.force_header); });
  with_key(node, "variant_header", path, [&](const YAML::Node& v, const std::string& at) { read_string(v, at, out.variant_header); });
  with_key(node, "ramp", path, [&](const YAML::Node& v, const std::string& at) {
    if (!expect_keys(v, at, {"steps", "interval"})) return;
    if (const YAML::Node steps = v["steps"]; steps.IsDefined() && expect_list(steps, join(at, "steps"))) {
      for (std::size_t i = 0; i < steps.size(); ++i) {
        double step = 0;
        read_number(steps[i], indexed(join(at, "steps"), i), step, 0, 100);
        if (!out.ramp_steps.empty() && step <= out.ramp_steps.back())
          error(steps[i], indexed(join(at, "steps"), i), "ramp steps must rise");
        out.ramp_steps.push_back(step);
      }
    } else if (!v["steps"].IsDefined()) {
      error(v, join(at, "steps"), "missing required key");
    }
    with_key(v, "interval", at, [&](const YAML::Node& n, const std::string& w) { read_duration(n, w, out.ramp_interval, false); });
  });
  with_key(node, "analysis", path, [&](const YAML::Node& v, const std::string& at) {
    CanaryAnalysisConfig& a = out.analysis.emplace();
    if (v.IsNull()) return;
    if (!expect_keys(v, at, {"interval", "min_requests", "max_error_rate_delta", "max_p99_ratio"})) return;
    with_key(v, "interval", at, [&](const YAML::Node& n, const std::string& w) { read_duration(n, w, a.interval, false); });
    with_key(v, "min_requests", at, [&](const YAML::Node& n, const std::string& w) {
      read_integer(n, w, a.min_requests, 1u, 100000000u);
    });
    with_key(v, "max_error_rate_delta", at, [&](const YAML::Node& n, const std::string& w) {
      read_number(n, w, a.max_error_rate_delta, 0, 1);
    });
    with_key(v, "max_p99_ratio", at, [&](const YAML::Node& n, const std::string& w) {
      read_number(n, w, a.max_p99_ratio, 1, 1000);
    });
  });
}

void Parser::parse_methods(const YAML::Node& node, const std::string& path,
                           std::vector<std::string>& out) {
  static const std::set<std::string, std::less<>> kStandard{
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  if (!expect_list(node, path)) return;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string at = indexed(path, i);
    std::string method;
    if (!read_string(node[i], at, method)) continue;
    std::string upper = method;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return std::toupper(c); });
    if (!is_token(method)) {
      error(node[i], at, "invalid method " + in_quotes(method));
    } else if (upper != method && kStandard.count(upper) != 0) {
      // Methods match case-sensitively, so "get" would silently never match a GET request.
      error(node[i], at, "methods are case-sensitive: did you mean " + in_quotes(upper) + "?");
    } else {
      out.push_back(std::move(method));
    }
  }
}

void Parser::parse_static(const YAML::Node& node, const std::string& path,
                          StaticResponseConfig& out) {
  if (node.IsNull()) return;  // "static:" alone: an empty 200
  if (!expect_keys(node, path, {"status", "body", "headers"})) return;
  with_key(node, "status", path, [&](const YAML::Node& value, const std::string& at) {
    // A 1xx cannot end an exchange, so it is no use as a complete local response.
    read_integer(value, at, out.status, 200, 599);
  });
  with_key(node, "body", path, [&](const YAML::Node& value, const std::string& at) {
    read_string(value, at, out.body);
  });
  with_key(node, "headers", path, [&](const YAML::Node& value, const std::string& at) {
    read_header_map(value, at, out.headers);
  });
  if ((out.status == 204 || out.status == 304) && !out.body.empty())
    error(node, join(path, "body"),
          "a " + std::to_string(out.status) + " response cannot have a body");
}

// ---- filters ---------------------------------------------------------------------------------

void Parser::parse_filters(const YAML::Node& node, const std::string& path,
                           std::vector<FilterConfig>& out) {
  if (node.IsNull()) return;
  if (!expect_list(node, path)) return;
  for (std::size_t i = 0; i < node.size(); ++i) {
    FilterConfig filter;
    filter.yaml_path = indexed(path, i);
    filter.node = node[i];
    parse_filter(node[i], filter);
    out.push_back(std::move(filter));
  }
}

// Only the entry's shape is checked here: names and args belong to the filter registry.
void Parser::parse_filter(const YAML::Node& node, FilterConfig& out) {
  const std::string& path = out.yaml_path;
  if (!expect_keys(node, path, {"name", "args", "order"})) return;
  read_required_string(node, "name", path, out.name);
  with_key(node, "args", path, [&](const YAML::Node& value, const std::string& at) {
    if (value.IsNull()) return;
    if (!value.IsMap()) return error(value, at, "expected a map");
    out.args = value;
  });
  with_key(node, "order", path, [&](const YAML::Node& value, const std::string& at) {
    int order = 0;
    if (read_integer(value, at, order, std::numeric_limits<int>::min(),
                     std::numeric_limits<int>::max()))
      out.order = order;
  });
}

// ---- root ------------------------------------------------------------------------------------

Config Parser::parse(const YAML::Node& root) {
  Config config;
  config.file = errors_.file();
  if (!root.IsDefined() || root.IsNull()) {
    errors_.add_unplaced("", "the configuration is empty");
    return config;
  }
  if (!root.IsMap()) {
    error(root, "", "expected a map of sections (server, admin, services, routes, filters)");
    return config;
  }
  if (!expect_keys(root, "", {"server", "admin", "discovery", "shedding", "services", "routes", "filters"}))
    return config;
  // Fixed order, whatever the file's: routes refer to services, admin checks server.listen.
  const auto section = [&](std::string_view key) { return root[std::string(key)]; };
  if (const YAML::Node n = section("server"); n.IsDefined()) parse_server(n, config.server);
  if (const YAML::Node n = section("admin"); n.IsDefined())
    parse_admin(n, config.server, config.admin);
  if (const YAML::Node n = section("discovery"); n.IsDefined()) parse_discovery_settings(n, config.discovery);
  if (const YAML::Node n = section("shedding"); n.IsDefined()) parse_shedding(n, config.shedding);
  if (const YAML::Node n = section("services"); n.IsDefined()) parse_services(n, config.services);
  if (const YAML::Node n = section("routes"); n.IsDefined()) parse_routes(n, config, config.routes);
  if (const YAML::Node n = section("filters"); n.IsDefined())
    parse_filters(n, "filters", config.filters);
  return config;
}

}  // namespace

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  std::string host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || text.substr(close + 1, 1) != ":") return std::nullopt;
    host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
    if (!is_ipv6(host)) return std::nullopt;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (host.empty() || host == "*") host = "0.0.0.0";
    // A ':' left in the host is an unbracketed IPv6 address: its port would be ambiguous.
    if (!is_ipv4(host) && !is_host_name(host)) return std::nullopt;
  }
  const auto number = parse_port(port);
  if (!number) return std::nullopt;
  return ListenAddress{std::move(host), *number, nullptr};
}

Config parse_config(const YAML::Node& root, ConfigErrors& errors) {
  try {
    return Parser(errors).parse(root);
  } catch (const YAML::Exception& e) {
    // Not expected from a loaded document; reported rather than thrown so callers see one channel.
    errors.add_at(e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1,
                  "", std::string("internal error: ") + e.what());
    return Config{};
  }
}

std::optional<Config> load_config_file(const std::string& path, ConfigErrors& errors) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    errors.add_unplaced("", "cannot read configuration: file " + in_quotes(path) + " not found");
    return std::nullopt;
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    errors.add_unplaced("",
                        "cannot read configuration: " + in_quotes(path) + " is not a regular file");
    return std::nullopt;
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    errors.add_unplaced("", "cannot read configuration: cannot open " + in_quotes(path));
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    // Syntax errors: e.msg is the bare message; what() would repeat the position.
    errors.add_at(e.mark.line + 1, e.mark.column + 1, "", "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
  const std::size_t before = errors.list().size();
  Config config = parse_config(root, errors);
  config.file = path;
  if (errors.list().size() != before) return std::nullopt;
  return config;
}

}  // namespace portcullis
