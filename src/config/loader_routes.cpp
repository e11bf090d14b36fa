// Config loader: routes (matching, targets, splits, canary, static answers) and filters.
#include <limits>
#include <set>

#include "config/parser.h"
#include "routing/route_table.h"

namespace portcullis::loader {

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

}  // namespace portcullis::loader
