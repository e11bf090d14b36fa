// Compiles a Config into an immutable Snapshot.
#include "config/snapshot.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "config/errors.h"
#include "filters/static/static_response.h"
#include "http/message.h"
#include "pipeline/registry.h"

namespace portcullis {
namespace {

std::shared_ptr<std::atomic<std::int64_t>> mirror_in_flight(const std::string& route_id) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::shared_ptr<std::atomic<std::int64_t>>> table;
  std::lock_guard lock(mutex);
  auto& slot = table[route_id];
  if (!slot) slot = std::make_shared<std::atomic<std::int64_t>>(0);
  return slot;
}

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

class Compiler {
 public:
  Compiler(Snapshot& snap, ConfigErrors& errors, observability::Registry& metrics)
      : snap_(snap), errors_(errors), metrics_(metrics) {}

  void services() {
    for (const auto& [name, config] : snap_.config.services) {
      auto service = std::make_unique<Service>();
      service->name = name;
      service->config = config;
      service->runtime = discovery::runtime_for(name, metrics_);
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
      snap_.services.emplace(name, std::move(service));
    }
  }

  // Builds filter instances for one list; returns them sorted into the route's stage lists.
  void filters(const std::vector<FilterConfig>& list, const std::string& route_id, Route& route) {
    for (const auto& fc : list) {
      const FilterFactory* factory = FilterRegistry::instance().find(fc.name);
      if (!factory) {
        const YAML::Node at = fc.node.IsMap() && fc.node["name"] ? fc.node["name"] : fc.node;
        errors_.add(at, fc.yaml_path + ".name", "unknown filter '" + fc.name + "'");
        continue;
      }
      FilterArgs args(fc.args, fc.yaml_path, errors_);
      FilterBuild build{args, fc.yaml_path, route_id, metrics_};
      std::unique_ptr<Filter> filter = (*factory)(build);
      if (!args.finish() || !filter) continue;
      if (fc.order) filter->set_order(*fc.order);
      place(filter.get(), route);
      snap_.filters.push_back(std::move(filter));
    }
  }

  void place(const Filter* filter, Route& route) {
    switch (filter->type()) {
      case FilterType::pre: route.pre.push_back(filter); break;
      case FilterType::route: route.route.push_back(filter); break;
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
    route.canary = canary::canary_for(rc.id, metrics_);
  }

  static void sort_stages(Route& route) {
    auto by_order = [](const Filter* a, const Filter* b) { return a->order() < b->order(); };
    for (auto* list : {&route.pre, &route.route, &route.post, &route.error})
      std::stable_sort(list->begin(), list->end(), by_order);
  }

  void routes() {
    Route global;
    filters(snap_.config.filters, "", global);
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
      variants(route, rc);
      if (rc.mirror) {
        Route::Mirror m;
        m.service = snap_.service(rc.mirror->service);
        m.threshold = canary::threshold_for(rc.mirror->percent);
        m.in_flight = mirror_in_flight(rc.id);  // by route id: a reload keeps counting the copies still out
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
    sort_stages(snap_.no_route);
    metrics_for(snap_.no_route, "", "");
    snap_.table = routing::RouteTable(rules);
  }

 private:
  Snapshot& snap_;
  ConfigErrors& errors_;
  observability::Registry& metrics_;
};

}  // namespace

std::shared_ptr<const Snapshot> compile_snapshot(Config config, ConfigErrors& errors,
                                                 observability::Registry& metrics, std::uint64_t generation) {
  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  snap->config = std::move(config);
  Compiler compiler(*snap, errors, metrics);
  for (const auto& text : snap->config.server.trusted_proxies) {
    if (auto cidr = Cidr::parse(text)) snap->trusted_proxies.push_back(*cidr);
    else errors.add_unplaced("server.trusted_proxies", "invalid CIDR " + text);
  }
  compiler.services();
  compiler.routes();
  if (!errors.empty()) return nullptr;
  return snap;
}

std::shared_ptr<const Snapshot> load_snapshot(const std::string& path, ConfigErrors& errors,
                                              observability::Registry& metrics, std::uint64_t generation) {
  auto config = load_config_file(path, errors);
  if (!config) return nullptr;
  return compile_snapshot(std::move(*config), errors, metrics, generation);
}

}  // namespace portcullis
