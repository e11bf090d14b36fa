// Compiles a Config into an immutable Snapshot.
#include "config/snapshot.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include <yaml-cpp/yaml.h>

#include "config/errors.h"
#include "config/runtime_state.h"
#include "config/suggest.h"
#include "filters/static/static_response.h"
#include "http/message.h"
#include "pipeline/registry.h"

namespace portcullis {
namespace {

// A request key as hash_on and sticky write it: "ip", "header:NAME" or "cookie:NAME" (the loader
// has checked the form).
void parse_key(const std::string& text, HashOn& on, std::string& name) {
  on = HashOn::ip;
  if (text.starts_with("header:")) on = HashOn::header;
  else if (text.starts_with("cookie:")) on = HashOn::cookie;
  if (on != HashOn::ip) name = text.substr(7);
}

// Static instances may name hosts: resolved once, when the config is compiled.
bool resolve(const ListenAddress& address, Endpoint& out) {
  if (parse_ip(address.host, address.port, out)) return true;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* result = nullptr;
  if (getaddrinfo(address.host.c_str(), nullptr, &hints, &result) != 0 || !result) return false;
  out.port = address.port;
  if (result->ai_family == AF_INET6) {
    out.v6 = true;
    std::memcpy(out.bytes.data(), &reinterpret_cast<sockaddr_in6*>(result->ai_addr)->sin6_addr, 16);
  } else {
    std::memcpy(out.bytes.data(), &reinterpret_cast<sockaddr_in*>(result->ai_addr)->sin_addr, 4);
  }
  freeaddrinfo(result);
  return true;
}

}  // namespace

std::string_view to_string(ShedReason reason) {
  switch (reason) {
    case ShedReason::global_limit: return "global_limit";
    case ShedReason::route_limit: return "route_limit";
    case ShedReason::service_limit: return "service_limit";
    case ShedReason::adaptive_limit: return "adaptive_limit";
    case ShedReason::event_loop_lag: return "event_loop_lag";
  }
  return "unknown";
}

namespace {

class Compiler {
 public:
  Compiler(Snapshot& snap, ConfigErrors& errors, RuntimeState& state)
      : snap_(snap), errors_(errors), state_(state), metrics_(state.metrics()) {}

  void services() {
    for (const auto& [name, config] : snap_.config.services) {
      auto service = std::make_unique<Service>();
      service->name = name;
      service->config = config;
      service->runtime = state_.service(name);
      service->id = service->runtime->id();
      service->connect_failures = metrics_.counter("portcullis_upstream_connect_failures_total",
                                                   "Failed connection attempts to upstream instances.",
                                                   {{"service", name}});
      const std::string path = "services." + name;
      if (!discovery::parse_policy(config.lb, service->policy))
        errors_.add_unplaced(path + ".lb", "unknown lb policy " + config.lb);
      parse_key(config.hash_on, service->hash_on, service->hash_name);
      for (const std::string& on : config.retries.on) {
        if (on == "connect_failure") service->retry_on_connect_failure = true;
        else if (on == "reset") service->retry_on_reset = true;
        else if (on == "timeout") service->retry_on_timeout = true;
        else if (on == "5xx") service->retry_on_5xx = true;
        else if (on.size() == 3 && on >= "500" && on <= "599") service->retry_statuses.push_back(std::stoi(on));
        else errors_.add_unplaced(path + ".retries.on", "unknown retry condition " + on +
                                  " (connect_failure, reset, timeout, 5xx or a 5xx status code)");
      }
      for (const std::string& m : config.retries.methods) {
        const http::Method method = http::method_from(m);
        if (method == http::Method::other) errors_.add_unplaced(path + ".retries.methods", "unknown method " + m);
        else service->retry_methods |= 1u << static_cast<unsigned>(method);
      }
      for (const auto& ic : config.instances) {
        Endpoint endpoint;
        if (!resolve(ic.address, endpoint)) {
          errors_.add_unplaced(path + ".instances", "cannot resolve instance address " + ic.address.text());
          continue;
        }
        DiscoveredInstance d;
        d.host = format_address(endpoint);
        d.host = d.host.substr(0, d.host.rfind(':'));
        d.port = endpoint.port;
        d.zone = ic.zone;
        d.weight = ic.weight;
        d.metadata = ic.metadata;
        service->static_instances.push_back(std::move(d));
      }
      service->http2 = config.http2();
      if (config.adaptive_concurrency) service->adaptive = service->runtime->adaptive_limiter(*config.adaptive_concurrency);
      if (config.adaptive_concurrency || config.max_concurrent_requests > 0)
        concurrency_gauges("service", name, service->limit_gauge, service->in_flight_gauge);
      snap_.services.emplace(name, std::move(service));
    }
  }

  // Builds filter instances for one list; returns them sorted into the route's stage lists.
  void filters(const std::vector<FilterConfig>& list, const std::string& route_id, Route& route) {
    for (const auto& fc : list) {
      const FilterFactory* factory = FilterRegistry::instance().find(fc.name);
      if (!factory) {
        const YAML::Node& entry = *fc.node;
        const YAML::Node at = entry.IsMap() && entry["name"] ? entry["name"] : entry;
        const std::vector<std::string> names = FilterRegistry::instance().names();
        errors_.add(at, fc.yaml_path + ".name",
                    "unknown filter '" + fc.name + "'" +
                        did_you_mean(fc.name, std::vector<std::string_view>(names.begin(), names.end())));
        continue;
      }
      FilterArgs args(*fc.args, fc.yaml_path, errors_);
      FilterBuild build{args, fc.yaml_path, route_id, state_, &snap_.watched_files};
      std::unique_ptr<Filter> filter = (*factory)(build);
      if (!args.finish() || !filter) continue;
      if (fc.order) filter->set_order(*fc.order);
      place(filter.get(), route);
      snap_.filters.push_back(std::move(filter));
    }
  }

  // lua.dir: every *.lua file in the directory is a global lua filter, in the order of the names
  // (their scripts' orders then sort them).
  void lua_directory(Route& global) {
    const LuaConfig& c = snap_.config.lua;
    if (c.dir.empty()) return;
    snap_.watched_files.push_back(c.dir);
    std::error_code ec;
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(c.dir, ec))
      if (entry.path().extension() == ".lua" && entry.is_regular_file()) files.push_back(entry.path().string());
    if (ec) {
      errors_.add_unplaced("lua.dir", c.dir + ": " + ec.message());
      return;
    }
    std::sort(files.begin(), files.end());
    std::vector<FilterConfig> list;
    for (const std::string& file : files) {
      YAML::Node args;
      args["file"] = file;
      args["max_instructions"] = c.max_instructions;
      args["max_memory"] = c.max_memory;
      FilterConfig fc;
      fc.name = "lua";
      fc.args = args;
      fc.yaml_path = "lua.dir[" + std::filesystem::path(file).filename().string() + "]";
      list.push_back(std::move(fc));
    }
    filters(list, "", global);
  }

  void place(const Filter* filter, Route& route) {
    switch (filter->type()) {
      case FilterType::pre: route.pre.push_back(filter); break;
      case FilterType::route: route.route_filters.push_back(filter); break;
      case FilterType::post: route.post.push_back(filter); break;
      case FilterType::error: route.error.push_back(filter); break;
    }
    if (filter->wants_completion()) route.completion.push_back(filter);
  }

  void metrics_for(Route& route, const std::string& id, const std::string& service) {
    static const char* classes[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int c = 1; c <= 5; ++c)
      route.metrics.by_class[c] = metrics_.counter("portcullis_requests_total", "Requests answered, by route.",
                                                   {{"route", id}, {"service", service}, {"code_class", classes[c]}});
    route.metrics.by_class[0] = route.metrics.by_class[5];
    route.metrics.duration = metrics_.histogram("portcullis_request_duration_seconds",
                                                "Time from request head to response end, by route.",
                                                {{"route", id}}, observability::Registry::default_latency_bounds());
  }

  void grpc_metrics_for(Route& route) {
    for (int code = 0; code < static_cast<int>(route.grpc.size()); ++code)
      route.grpc[static_cast<std::size_t>(code)] =
          metrics_.counter("portcullis_grpc_requests_total", "gRPC calls answered, by route and grpc-status.",
                           {{"route", route.id}, {"grpc_status", std::to_string(code)}});
  }

  static bool speaks_http2(const Route& route) {
    if (route.service && route.service->http2) return true;
    for (const Variant& v : route.variants)
      if (v.service && v.service->http2) return true;
    return false;
  }

  static void parse_sticky(const std::string& text, Route& route) {
    route.sticky = !text.empty();
    parse_key(text, route.sticky_on, route.sticky_name);
  }

  void variants(Route& route, const RouteConfig& rc) {
    auto add = [&](const std::string& service, const std::string& name) {
      Variant v;
      v.service = snap_.service(service);
      v.name = name;
      static const char* classes[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
      for (int c = 1; c <= 5; ++c)
        v.metrics.by_class[c] = metrics_.counter("portcullis_canary_requests_total",
                                                 "Requests of canary and split routes, by variant.",
                                                 {{"route", rc.id}, {"variant", name}, {"code_class", classes[c]}});
      v.metrics.by_class[0] = v.metrics.by_class[5];
      v.metrics.duration = metrics_.histogram("portcullis_canary_request_duration_seconds",
                                              "Time from request head to response end, by route and variant.",
                                              {{"route", rc.id}, {"variant", name}},
                                              observability::Registry::default_latency_bounds());
      route.variants.push_back(std::move(v));
    };
    if (rc.canary) {
      add(rc.service, "baseline");
      add(rc.canary->service, "canary");
      route.canary_form = true;
      parse_sticky(rc.canary->sticky, route);
      route.force_header = rc.canary->force_header;
      route.variant_header = rc.canary->variant_header;
    } else if (!rc.split.empty()) {
      double total = 0;
      for (const auto& e : rc.split) total += e.weight;
      double cumulative = 0;
      for (const auto& e : rc.split) {
        add(e.service, e.service);
        cumulative += e.weight;
        route.upto.push_back(canary::threshold_for(total > 0 ? cumulative / total * 100 : 0));
      }
      parse_sticky(rc.split_sticky, route);
      route.variant_header = rc.split_variant_header;
    } else {
      return;
    }
    std::transform(route.force_header.begin(), route.force_header.end(), route.force_header.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    route.canary = state_.canary(rc.id);
  }

  static void sort_stages(Route& route) {
    auto by_order = [](const Filter* a, const Filter* b) { return a->order() < b->order(); };
    for (auto* list : {&route.pre, &route.route_filters, &route.post, &route.error})
      std::stable_sort(list->begin(), list->end(), by_order);
  }

  void concurrency_gauges(const std::string& scope, const std::string& name, observability::GaugeId& limit,
                          observability::GaugeId& in_flight) {
    limit = metrics_.gauge("portcullis_concurrency_limit",
                           "Current concurrency limit (adaptive limits move with latency).",
                           {{"scope", scope}, {"name", name}});
    in_flight = metrics_.gauge("portcullis_concurrency_in_flight", "Requests in flight under a concurrency limit.",
                               {{"scope", scope}, {"name", name}});
  }

  void shedding() {
    const SheddingConfig& c = snap_.config.shedding;
    Shedding& out = snap_.shedding;
    if (c.max_concurrent_requests > 0) concurrency_gauges("gateway", "", out.limit_gauge, out.in_flight_gauge);
    // Each priority takes the share of the band it falls in.
    for (int p = 0; p < protection::PriorityBands::levels; ++p) {
      double share = 1.0;
      for (const PriorityBandConfig& band : c.bands)
        if (band.from <= p) share = band.shed_at;
      out.bands.set(p, static_cast<std::uint16_t>(share * 1000 + 0.5));
    }
    out.priority_header = c.priority_header;
    std::transform(out.priority_header.begin(), out.priority_header.end(), out.priority_header.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    out.max_header_priority = c.max_header_priority;
    out.retry_after = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(c.retry_after).count());
    for (std::size_t r = 0; r < shed_reasons; ++r)
      for (int band = 0; band < 10; ++band)
        out.shed[r][static_cast<std::size_t>(band)] = metrics_.counter(
            "portcullis_shed_requests_total", "Requests shed by a concurrency limit or an overloaded worker.",
            {{"reason", std::string(to_string(static_cast<ShedReason>(r)))}, {"priority", std::to_string(band * 10)}});
  }

  void routes() {
    Route global;
    filters(snap_.config.filters, "", global);
    lua_directory(global);
    std::vector<routing::RouteRule> rules;
    for (std::size_t i = 0; i < snap_.config.routes.size(); ++i) {
      const RouteConfig& rc = snap_.config.routes[i];
      Route route = global;  // global filters first (ties in order keep global before route)
      route.index = static_cast<std::uint32_t>(i);
      route.id = rc.id;
      route.config = &rc;
      if (!rc.service.empty()) route.service = snap_.service(rc.service);
      bool strip = rc.strip_prefix.value_or(rc.path.size() >= 3 && rc.path.ends_with("/**"));
      if (strip && route.service) route.strip = routing::literal_prefix(rc.path);
      filters(rc.filters, rc.id, route);
      if (rc.static_response) {
        auto filter = std::make_unique<filters::StaticResponseFilter>(
            rc.static_response->status, rc.static_response->headers, rc.static_response->body);
        filter->set_order(1 << 20);  // after any route filter the route lists itself
        place(filter.get(), route);
        snap_.filters.push_back(std::move(filter));
      }
      sort_stages(route);
      metrics_for(route, rc.id, rc.service);
      route.priority = rc.priority.value_or(snap_.config.shedding.default_priority);
      if (rc.max_concurrent_requests > 0) {
        route.gate = state_.route_gate(rc.id);
        concurrency_gauges("route", rc.id, route.limit_gauge, route.in_flight_gauge);
      }
      variants(route, rc);
      if (speaks_http2(route)) grpc_metrics_for(route);
      if (rc.mirror) {
        Route::Mirror m;
        m.service = snap_.service(rc.mirror->service);
        m.threshold = canary::threshold_for(rc.mirror->percent);
        m.in_flight = state_.mirror_in_flight(rc.id);  // by route id: a reload keeps counting the copies still out
        auto counter = [&](const char* result) {
          return metrics_.counter("portcullis_mirror_requests_total", "Shadow copies of requests, by result.",
                                  {{"route", rc.id}, {"result", result}});
        };
        m.sent = counter("answered");
        m.failed = counter("failed");
        m.dropped_full = counter("dropped_max_in_flight");
        m.skipped_body = counter("skipped_body");
        route.mirror = std::move(m);
      }
      snap_.routes.push_back(std::move(route));
      rules.push_back({rc.path, rc.methods, rc.host, rc.headers});
    }
    snap_.no_route = global;
    snap_.no_route.id = "";
    snap_.no_route.priority = snap_.config.shedding.default_priority;
    sort_stages(snap_.no_route);
    metrics_for(snap_.no_route, "", "");
    const auto& services = snap_.config.services;
    if (std::any_of(services.begin(), services.end(), [](const auto& s) { return s.second.http2(); }))
      grpc_metrics_for(snap_.no_route);
    snap_.table = routing::RouteTable(rules);
  }

 private:
  Snapshot& snap_;
  ConfigErrors& errors_;
  RuntimeState& state_;
  observability::Registry& metrics_;
};

}  // namespace

std::shared_ptr<const Snapshot> compile_snapshot(Config config, ConfigErrors& errors, RuntimeState& state,
                                                 std::uint64_t generation) {
  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  snap->config = std::move(config);
  snap->shedding.gate = state.gateway_gate();
  observability::Registry& metrics = state.metrics();
  Compiler compiler(*snap, errors, state);
  for (const auto& text : snap->config.server.trusted_proxies) {
    if (auto cidr = Cidr::parse(text)) snap->trusted_proxies.push_back(*cidr);
    else errors.add_unplaced("server.trusted_proxies", "invalid CIDR " + text);
  }
  compiler.shedding();
  compiler.services();
  compiler.routes();
  if (!errors.empty()) return nullptr;
  // Series by listener and position, so a certificate replaced on reload updates its series
  // instead of leaving the old expiry behind to alert on.
  for (const ListenAddress& l : snap->config.server.listen) {
    if (!l.tls) continue;
    const auto& certificates = l.tls->context->certificates();
    for (std::size_t i = 0; i < certificates.size(); ++i)
      snap->certificate_expiry.emplace_back(
          metrics.gauge("portcullis_tls_certificate_not_after_timestamp_seconds",
                        "When a TLS listener's certificate expires (Unix time); position 0 is the default certificate.",
                        {{"listener", l.text()}, {"certificate", std::to_string(i)}}),
          certificates[i].not_after_unix);
  }
  return snap;
}

void update_concurrency_gauges(const Snapshot& snap, observability::Shard& shard) {
  for (const auto& [gauge, not_after] : snap.certificate_expiry) shard.set(gauge, not_after);
  if (snap.shedding.limit_gauge.valid()) {
    shard.set(snap.shedding.limit_gauge, static_cast<std::int64_t>(snap.config.shedding.max_concurrent_requests));
    shard.set(snap.shedding.in_flight_gauge, snap.shedding.gate->in_flight());
  }
  for (const Route& route : snap.routes) {
    if (!route.gate) continue;
    shard.set(route.limit_gauge, static_cast<std::int64_t>(route.config->max_concurrent_requests));
    shard.set(route.in_flight_gauge, route.gate->in_flight());
  }
  for (const auto& [name, service] : snap.services) {
    if (!service->limit_gauge.valid()) continue;
    std::int64_t limit = service->config.max_concurrent_requests > 0
                             ? static_cast<std::int64_t>(service->config.max_concurrent_requests)
                             : std::numeric_limits<std::int64_t>::max();
    if (service->adaptive) limit = std::min(limit, service->adaptive->limit());
    shard.set(service->limit_gauge, limit);
    shard.set(service->in_flight_gauge, service->runtime->in_flight());
  }
}

std::shared_ptr<const Snapshot> load_snapshot(const std::string& path, ConfigErrors& errors, RuntimeState& state,
                                              std::uint64_t generation) {
  auto config = load_config_file(path, errors);
  if (!config) return nullptr;
  return compile_snapshot(std::move(*config), errors, state, generation);
}

}  // namespace portcullis
