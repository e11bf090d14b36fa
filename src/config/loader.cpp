// YAML -> Config. Walks each section, checks every key and value, and collects every problem with
// its place in the file, so one `portcullis validate` run lists all of them. This file has the
// parser's shapes, value readers and root; the sections are in loader_server.cpp,
// loader_services.cpp and loader_routes.cpp (see parser.h).
#include <arpa/inet.h>

#include <cctype>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>

#include "config/schema.h"
#include "config/suggest.h"

namespace portcullis {

std::string ListenAddress::text() const {
  // Only IPv6 literals contain ':'; they need brackets to keep the port separable.
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

namespace loader {

bool is_ipv4(const std::string& text) {
  in_addr address{};
  return inet_pton(AF_INET, text.c_str(), &address) == 1;
}

bool is_ipv6(const std::string& text) {
  in6_addr address{};
  return inet_pton(AF_INET6, text.c_str(), &address) == 1;
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

bool Parser::read_size(const YAML::Node& node, const std::string& path, std::uint64_t& out,
                       std::uint64_t min) {
  const auto value = node.IsScalar() ? parse_size(node.Scalar()) : std::nullopt;
  if (!value) {
    error(node, path, invalid_size(node.IsScalar() ? std::optional<std::string_view>(node.Scalar()) : std::nullopt));
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
    error(node, path, invalid_duration(node.IsScalar() ? std::optional<std::string_view>(node.Scalar()) : std::nullopt));
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
      read_section(listener_section(), node[i], indexed(path, i), address);
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

// ---- root ------------------------------------------------------------------------------------

void read_services(Parser& p, const YAML::Node& node, const std::string& path, std::map<std::string, ServiceConfig>& out);
void read_route_list(Parser& p, const YAML::Node& node, const std::string& path, std::vector<RouteConfig>& out);
void read_filter_list(Parser& p, const YAML::Node& node, const std::string& path, std::vector<FilterConfig>& out);

namespace {

void read_admin(Parser& p, const YAML::Node& node, const std::string& path, Config& out) {
  const std::size_t errors_before = p.error_count();
  p.read_section(admin_section(), node, path, out.admin);
  if (p.error_count() != errors_before || !node.IsMap() || !node["listen"].IsDefined() || !out.admin.enabled) return;
  // Two listeners on one fixed port would fail at bind time with a less helpful message.
  const ListenAddress& admin = out.admin.listen;
  const bool clash = std::any_of(out.server.listen.begin(), out.server.listen.end(), [&](const ListenAddress& l) {
    return l.port != 0 && l.port == admin.port && l.host == admin.host;
  });
  if (clash) p.error(node["listen"], join(path, "listen"), "same address as server.listen");
}

}  // namespace

const Section<LuaConfig>& lua_section() {
  using S = LuaConfig;
  static const Section<S> section("lua", {
    text("dir", &S::dir, "Every *.lua file in this directory is a global lua filter; files added, changed or removed are picked up.")
        .shown_default("`\"\"` (none)"),
    integer("max_instructions", &S::max_instructions, std::uint64_t{1000}, std::uint64_t{1'000'000'000},
            "Instruction budget of one call of a directory script."),
    size("max_memory", &S::max_memory, 256u << 10, "Memory cap of the worker's Lua VM while a directory script runs."),
  });
  return section;
}

// The file's sections, read in this order whatever the file's: routes refer to services, admin
// checks server.listen.
const Section<Config>& root_section() {
  using S = Config;
  static Section<S> section = [] {
    Section<S> s("", {
      nested("server", &S::server, server_section(), "Listeners, limits and timeouts for client connections."),
      section_key<S>("admin", admin_section(), "see below", "The admin listener: health, metrics, admin API, registry.",
                     read_admin),
      nested("discovery", &S::discovery, discovery_settings_section(), "The embedded registry and the gateway's zone."),
      nested("shedding", &S::shedding, shedding_section(), "Gateway-wide limits and priorities."),
      nested("lua", &S::lua, lua_section(), "Lua filters loaded from a directory."),
      custom<S>("services", "map of services", "`{}`", "The upstream services, by name.",
                [] { return Json{{"type", {"object", "null"}}, {"additionalProperties", service_section().schema()}}; },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) { read_services(p, v, at, out.services); }),
      custom<S>("routes", "list of routes", "`[]`", "Routes, matched in order of specificity.",
                [] { return Json{{"type", {"array", "null"}}, {"items", route_section().schema()}}; },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) { read_route_list(p, v, at, out.routes); }),
      custom<S>("filters", "list of filters", "`[]`", "Global filters, run for every route.",
                [] { return Json{{"type", {"array", "null"}}, {"items", filter_section().schema()}}; },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) { read_filter_list(p, v, at, out.filters); }),
    });
    s.nest("services", service_section());
    s.nest("routes", route_section());
    s.nest("filters", filter_section());
    s.nullable = false;
    return s;
  }();
  return section;
}

Config Parser::parse(const YAML::Node& root) {
  Config config;
  config.file = errors_.file();
  config_ = &config;
  if (!root.IsDefined() || root.IsNull()) {
    errors_.add_unplaced("", "the configuration is empty");
    return config;
  }
  if (!root.IsMap()) {
    error(root, "", "expected a map of sections (server, admin, services, routes, filters)");
    return config;
  }
  read_section(root_section(), root, "", config);
  return config;
}

}  // namespace loader

using namespace loader;

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
