// Config description: routes (matching, targets, splits, canary, mirror, static answers) and
// filters.
#include <limits>
#include <set>

#include "config/schema.h"
#include "routing/route_table.h"

namespace portcullis::loader {
namespace {

Json string_schema() { return {{"type", "string"}}; }
Json header_map_schema() { return {{"type", {"object", "null"}}, {"additionalProperties", {{"type", {"string", "number", "boolean"}}}}}; }

// A service named by a route must be defined (services are read before routes).
template <typename S>
Key<S> service_name(std::string name, std::string S::*member, std::string doc) {
  return custom<S>(std::move(name), "service name", "", std::move(doc), string_schema,
                   [member](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                     if (v.IsScalar() && v.Scalar().empty()) return p.error(v, at, "must not be empty");
                     if (!p.read_string(v, at, out.*member)) return;
                     if (p.config().services.count(out.*member) == 0)
                       p.error(v, at, "service " + in_quotes(out.*member) + " is not defined");
                   });
}

Key<RouteConfig> methods_key() {
  return custom<RouteConfig>("methods", "list of methods", "`[]` (any method)", "Methods the route matches (case-sensitive).",
                             [] { return Json{{"type", "array"}, {"items", {{"type", "string"}}}}; },
                             [](Parser& p, const YAML::Node& v, const std::string& at, RouteConfig& out) {
                               p.read_methods(v, at, out.methods);
                             });
}

// ---- canary ------------------------------------------------------------------------------------

const Section<CanaryConfig>& ramp_section() {
  using S = CanaryConfig;
  static Section<S> section = [] {
    Section<S> s("routes[].canary.ramp", {
      custom<S>("steps", "list of percents", "", "Percents, raised one per interval; they must rise.",
                [] { return Json{{"type", "array"}, {"items", {{"type", "number"}, {"minimum", 0}, {"maximum", 100}}}}; },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                  if (!p.expect_list(v, at)) return;
                  for (std::size_t i = 0; i < v.size(); ++i) {
                    double step = 0;
                    p.read_number(v[i], indexed(at, i), step, 0, 100);
                    if (!out.ramp_steps.empty() && step <= out.ramp_steps.back())
                      p.error(v[i], indexed(at, i), "ramp steps must rise");
                    out.ramp_steps.push_back(step);
                  }
                }).required(),
      duration("interval", &S::ramp_interval, kPositive, "Time between steps."),
    });
    s.nullable = false;
    return s;
  }();
  return section;
}

const Section<CanaryAnalysisConfig>& analysis_section() {
  using S = CanaryAnalysisConfig;
  static const Section<S> section("routes[].canary.analysis", {
    duration("interval", &S::interval, kPositive, "How often canary and baseline are compared."),
    integer("min_requests", &S::min_requests, 1u, 100000000u, "Requests per variant and interval before judging."),
    number("max_error_rate_delta", &S::max_error_rate_delta, 0, 1, "Canary 5xx rate minus the baseline's, at most."),
    number("max_p99_ratio", &S::max_p99_ratio, 1, 1000, "Canary p99 over the baseline's, at most."),
  });
  return section;
}

Key<CanaryConfig> sticky_key(std::string name, std::string CanaryConfig::*member, std::string doc) {
  return text(std::move(name), member, std::move(doc), sticky_problem);
}

const Section<CanaryConfig>& canary_section() {
  using S = CanaryConfig;
  static Section<S> section = [] {
    Section<S> s("routes[].canary", {
      service_name("service", &S::service, "The new version; the route's service is the baseline.").required(),
      number("percent", &S::percent, 0, 100, "Share of traffic sent to the canary."),
      sticky_key("sticky", &S::sticky, "Keep a client on one variant: ip, header:NAME or cookie:NAME."),
      text("force_header", &S::force_header, "A header whose value canary or baseline overrides the draw."),
      text("variant_header", &S::variant_header, "Response header naming the variant; \"\" = none."),
      group("ramp", ramp_section(), "Raise the percent step by step.").shown_default("none"),
      optional_nested("analysis", &S::analysis, analysis_section(), "Compare with the baseline; roll back when worse."),
    });
    s.nullable = false;
    return s;
  }();
  return section;
}

// ---- split, mirror, static -------------------------------------------------------------------

const Section<SplitEntry>& split_entry_section() {
  using S = SplitEntry;
  static Section<S> section = [] {
    Section<S> s("routes[].split[]", {
      service_name("service", &S::service, "One version of the route.").required(),
      number("weight", &S::weight, 0, 1e9, "Its share, relative to the other entries' weights.").type("number ≥ 0").required(),
    });
    s.nullable = false;
    return s;
  }();
  return section;
}

void read_split(Parser& p, const YAML::Node& split, const std::string& path, RouteConfig& out) {
  if (!p.expect_list(split, path)) return;
  double total = 0;
  for (std::size_t i = 0; i < split.size(); ++i) {
    SplitEntry entry;
    p.read_section(split_entry_section(), split[i], indexed(path, i), entry);
    if (entry.service.empty()) continue;
    total += entry.weight;
    out.split.push_back(std::move(entry));
  }
  if (out.split.size() < 2) p.error(split, path, "a split needs at least two services");
  else if (total <= 0) p.error(split, path, "the weights must not all be 0");
  if (!out.split.empty()) out.service = out.split.front().service;
}

const Section<MirrorConfig>& mirror_section() {
  using S = MirrorConfig;
  static Section<S> section = [] {
    Section<S> s("routes[].mirror", {
      service_name("service", &S::service, "Where copies go; answers are discarded.").required(),
      number("percent", &S::percent, 0, 100, "Share of requests copied."),
      size("max_body_bytes", &S::max_body_bytes, 0, "Larger (or streamed) bodies are not mirrored."),
      integer("max_in_flight", &S::max_in_flight, 1u, 1000000u, "Copies in flight per route; over it they are dropped."),
      duration("timeout", &S::timeout, kPositive, "Time a copy may take."),
    });
    s.nullable = false;
    return s;
  }();
  return section;
}

void read_mirror(Parser& p, const YAML::Node& value, const std::string& at, RouteConfig& out) {
  MirrorConfig& m = out.mirror.emplace();
  p.read_section(mirror_section(), value, at, m);
  if (!value.IsMap()) return;
  if (out.service.empty() && out.split.empty()) p.error(value, at, "only a route with a service can mirror");
  // Mirroring to a service the route already serves would send every request to it twice.
  const bool own = m.service == out.service || (out.canary && m.service == out.canary->service) ||
                   std::any_of(out.split.begin(), out.split.end(), [&](const SplitEntry& e) { return e.service == m.service; });
  if (own && !m.service.empty())
    p.error(value["service"], join(at, "service"), "the mirror must be another service than the route's own versions");
}

void read_canary(Parser& p, const YAML::Node& value, const std::string& at, RouteConfig& out) {
  if (out.service.empty() || !out.split.empty())
    return p.error(value, at, "a canary needs the route's \"service\" as its baseline");
  CanaryConfig& canary = out.canary.emplace();
  p.read_section(canary_section(), value, at, canary);
  if (value.IsMap() && !canary.service.empty() && canary.service == out.service)
    p.error(value["service"], join(at, "service"), "the canary must be another service than the baseline");
}

// A split's own keys are refused on other routes: a canary has its own.
Reader<RouteConfig> split_only(std::string_view key, Reader<RouteConfig> read) {
  return [key, read](Parser& p, const YAML::Node& v, const std::string& at, RouteConfig& out) {
    if (out.split.empty()) return p.error(v, at, in_quotes(key) + " applies to a split (a canary has its own)");
    read(p, v, at, out);
  };
}

void read_id(Parser& p, const YAML::Node& v, const std::string& at, RouteConfig& out) {
  if (v.IsScalar() && v.Scalar().empty()) return p.error(v, at, "must not be empty");
  if (!p.read_string(v, at, out.id)) return;
  const auto [first, inserted] = p.route_id_lines().emplace(out.id, v.Mark().line + 1);
  if (!inserted)
    p.error(v, at, "duplicate route id " + in_quotes(out.id) + " (first used at line " + std::to_string(first->second) + ")");
}

// A route either proxies to a service (or a split of them) or answers by itself.
void check_target(Parser& p, const YAML::Node& node, const std::string& path, RouteConfig&) {
  if (!node.IsMap()) return;
  const int targets = node["service"].IsDefined() + node["static"].IsDefined() + node["split"].IsDefined();
  if (targets > 1) p.error(node, path, "\"service\", \"split\" and \"static\" are mutually exclusive");
  else if (targets == 0) p.error(node, path, "a route needs either \"service\", \"split\" or \"static\"");
}

void read_filters(Parser& p, const YAML::Node& node, const std::string& path, std::vector<FilterConfig>& out);

Key<RouteConfig> filters_key() {
  return custom<RouteConfig>("filters", "list of filters", "`[]`", "The route's own filters (see docs/filters.md).",
                             [] { return Json{{"type", {"array", "null"}}, {"items", filter_section().schema()}}; },
                             [](Parser& p, const YAML::Node& v, const std::string& at, RouteConfig& out) {
                               read_filters(p, v, at, out.filters);
                             });
}

}  // namespace

const Section<StaticResponseConfig>& static_section() {
  using S = StaticResponseConfig;
  static Section<S> section = [] {
    Section<S> s("routes[].static", {
      // A 1xx cannot end an exchange, so it is no use as a complete local response.
      integer("status", &S::status, 200, 599, "Status code of the answer."),
      text("body", &S::body, "The body, sent as written."),
      custom<S>("headers", "map of header values", "`{}`", "Header fields of the answer.", header_map_schema,
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) { p.read_header_map(v, at, out.headers); }),
    });
    s.after = [](Parser& p, const YAML::Node& node, const std::string& path, S& out) {
      if ((out.status == 204 || out.status == 304) && !out.body.empty())
        p.error(node, join(path, "body"), "a " + std::to_string(out.status) + " response cannot have a body");
    };
    return s;
  }();
  return section;
}

const Section<RouteConfig>& route_section() {
  using S = RouteConfig;
  static Section<S> section = [] {
    Section<S> s("routes[]", {
      custom<S>("id", "string", "", "Unique name of the route (metrics, logs, admin API).", string_schema, read_id).required(),
      required_text("path", &S::path, "Path pattern: exact, /prefix/** or with {name} segments.",
                    [](const std::string& path) { return routing::validate_pattern(path); })
          .type("path pattern"),
      service_name("service", &S::service, "The service requests are proxied to."),
      optional_nested("static", &S::static_response, static_section(), "Answer at the edge instead of proxying.")
          .type("static response"),
      custom<S>("split", "list of `{service, weight}`", "", "Several versions by weight, instead of service.",
                [] { return Json{{"type", "array"}, {"items", split_entry_section().schema()}}; }, read_split),
      methods_key(),
      text("host", &S::host, "Host the route matches: a name, *.suffix or IPv4 address.", [](const std::string& host) {
        return host.empty() || is_host_pattern(host)
                   ? ""
                   : "invalid host " + in_quotes(host) + " (expected a host name, *.suffix or IPv4 address, without port)";
      }),
      custom<S>("headers", "map of header values", "`{}`", "Request headers the route requires (exact values).",
                header_map_schema,
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) { p.read_header_map(v, at, out.headers); }),
      custom<S>("strip_prefix", "boolean", "`true` when `path` ends in `/**`, else `false`", "Remove the matched prefix upstream.",
                [] { return Json{{"type", "boolean"}}; },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                  bool strip = false;
                  if (p.read_bool(v, at, strip)) out.strip_prefix = strip;
                }),
      boolean("allow_upgrade", &S::allow_upgrade, "Forward Upgrade requests (WebSocket)."),
      custom<S>("priority", "integer 0–99", "`shedding.default_priority`", "Shedding priority of the route's requests.",
                [] { return Json{{"type", "integer"}, {"minimum", 0}, {"maximum", 99}}; },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                  int priority = 0;
                  if (p.read_integer(v, at, priority, 0, 99)) out.priority = priority;
                }),
      integer("max_concurrent_requests", &S::max_concurrent_requests, std::uint64_t{0},
              std::numeric_limits<std::uint64_t>::max(), "Requests in flight on this route; 0 = no limit.")
          .shown_default("`0` (no limit)"),
      duration("timeout", &S::timeout, kZeroAllowed, "The whole exchange, retries included; 0 = none.")
          .shown_default("`0` (none)"),
      section_key<S>("canary", canary_section(), "none", "Send a share of traffic to a new version.", read_canary),
      text("sticky", &S::split_sticky, "split: keep a client on one version (ip, header:NAME, cookie:NAME).",
           sticky_problem),
      text("variant_header", &S::split_variant_header, "split: response header naming the version."),
      section_key<S>("mirror", mirror_section(), "none", "Copy a share of requests to another service.", read_mirror),
      filters_key(),
    });
    for (const std::string_view key : {"sticky", "variant_header"}) {
      const std::size_t i = s.index_of(key);
      s.readers[i] = split_only(key, s.readers[i]);
    }
    s.nest("split", split_entry_section());
    s.nest("filters", filter_section());
    s.nullable = false;
    s.after = check_target;
    return s;
  }();
  return section;
}

// ---- filters ---------------------------------------------------------------------------------

// Only the entry's shape is checked here: names and args belong to the filter registry.
const Section<FilterConfig>& filter_section() {
  using S = FilterConfig;
  static Section<S> section = [] {
    Section<S> s("filters[]", {
      required_text("name", &S::name, "The filter (see docs/filters.md)."),
      custom<S>("args", "map", "", "The filter's own settings.", [] { return Json{{"type", {"object", "null"}}}; },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                  if (v.IsNull()) return;
                  if (!v.IsMap()) return p.error(v, at, "expected a map");
                  out.args = v;
                }),
      custom<S>("order", "integer", "the filter's default", "Where the filter runs among those of its type.",
                [] { return Json{{"type", "integer"}}; },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                  int order = 0;
                  if (p.read_integer(v, at, order, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()))
                    out.order = order;
                }),
    });
    s.nullable = false;
    return s;
  }();
  return section;
}

namespace {

void read_filters(Parser& p, const YAML::Node& node, const std::string& path, std::vector<FilterConfig>& out) {
  if (node.IsNull()) return;
  if (!p.expect_list(node, path)) return;
  for (std::size_t i = 0; i < node.size(); ++i) {
    FilterConfig& filter = out.emplace_back();
    filter.yaml_path = indexed(path, i);
    filter.node = node[i];
    p.read_section(filter_section(), node[i], filter.yaml_path, filter);
  }
}

}  // namespace

void read_route_list(Parser& p, const YAML::Node& node, const std::string& path, std::vector<RouteConfig>& out) {
  if (node.IsNull()) return;
  if (!p.expect_list(node, path)) return;
  for (std::size_t i = 0; i < node.size(); ++i) p.read_section(route_section(), node[i], indexed(path, i), out.emplace_back());
}

void read_filter_list(Parser& p, const YAML::Node& node, const std::string& path, std::vector<FilterConfig>& out) {
  read_filters(p, node, path, out);
}

void Parser::read_methods(const YAML::Node& node, const std::string& path, std::vector<std::string>& out) {
  static const std::set<std::string, std::less<>> kStandard{
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  if (!expect_list(node, path)) return;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string at = indexed(path, i);
    std::string method;
    if (!read_string(node[i], at, method)) continue;
    std::string upper = method;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
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

std::string sticky_problem(const std::string& value) {
  const bool ok = value.empty() || value == "ip" || (value.starts_with("header:") && value.size() > 7) ||
                  (value.starts_with("cookie:") && value.size() > 7);
  return ok ? "" : "expected ip, header:NAME or cookie:NAME";
}


}  // namespace portcullis::loader
