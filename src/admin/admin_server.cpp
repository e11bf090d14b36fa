// Admin API over HTTP/1.1 (same strict parser as the data path), JSON via nlohmann_json.
#include "admin/admin_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "canary/manager.h"
#include "config/runtime_state.h"
#include "config/snapshot.h"
#include "filters/lua/runtime.h"
#include "discovery/service_runtime.h"
#include "core/server.h"
#include "core/worker.h"
#include "discovery/embedded_registry.h"
#include "discovery/eureka_admin.h"
#include "http/buffer.h"
#include "http/parser.h"
#include "util/clock.h"
#include "util/log.h"

namespace portcullis {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

json filter_json(const Filter& f) {
  json out = {{"name", f.name()}, {"type", std::string(to_string(f.type()))}, {"order", f.order()}};
  for (const auto& [key, value] : f.details()) out[key] = value;
  return out;
}

json route_filters_json(const Route& r) {
  json filters = json::array();
  for (const auto* list : {&r.pre, &r.route_filters, &r.post, &r.error})
    for (const Filter* f : *list) filters.push_back(filter_json(*f));
  return filters;
}

// GET /admin/filters: every route's filters in the order they run, with a lua filter's file,
// version and last error; and every lua script the gateway has read, refused ones included.
json filters_json(const Snapshot& snap, RuntimeState& state) {
  json routes = json::array();
  for (const Route& r : snap.routes) routes.push_back({{"id", r.id}, {"filters", route_filters_json(r)}});
  json scripts = json::array();
  if (auto lua = state.find_kept_state<lua::Runtime>("lua")) {
    for (const lua::ScriptRecord& rec : lua->records()) {
      json script = {{"file", rec.path}, {"failed_calls", rec.failed_calls}, {"last_error", rec.last_error}};
      script["checked_hash"] = rec.running ? json(rec.running->hash) : json(nullptr);
      scripts.push_back(std::move(script));
    }
  }
  return {{"generation", snap.generation},
          {"routes", routes},
          {"unrouted", route_filters_json(snap.no_route)},
          {"lua_scripts", scripts}};
}

json routes_json(const Snapshot& snap) {
  json out = json::array();
  for (const Route& r : snap.routes) {
    json filters = route_filters_json(r);
    json headers = json::object();
    for (const auto& [k, v] : r.config->headers) headers[k] = v;
    json route = {{"id", r.id},
                  {"path", r.config->path},
                  {"methods", r.config->methods},
                  {"host", r.config->host},
                  {"headers", headers},
                  {"strip_prefix", r.strip},
                  {"allow_upgrade", r.config->allow_upgrade},
                  {"filters", filters}};
    if (r.service) route["service"] = r.service->name;
    if (r.config->static_response) route["static"] = {{"status", r.config->static_response->status}};
    out.push_back(std::move(route));
  }
  return out;
}

// The embedded registry's state, on every service that takes its instances from it.
json registry_json(const discovery::EmbeddedRegistry& registry, const DiscoverySettings& settings) {
  const auto p = registry.preservation();
  return {{"self_preservation", p.active},
          {"renewals_last_minute", p.renewals_last_minute},
          {"expected_renewals_per_minute", p.expected_per_minute},
          {"renewal_percent_threshold", settings.renewal_percent_threshold},
          {"registered_instances", registry.size()},
          {"max_registered_instances", settings.max_registered_instances},
          {"rejected_registrations", registry.rejected_registrations()}};
}

json services_json(const Snapshot& snap, const discovery::EmbeddedRegistry* registry) {
  json out = json::object();
  auto ms = [](Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  const std::int64_t now = steady_now_ns();
  for (const auto& [name, s] : snap.services) {
    const discovery::ServiceRuntime& rt = *s->runtime;
    auto set = rt.instances();
    json instances = json::array();
    std::int64_t in_flight = 0;
    for (const Instance& i : set->instances) {
      const InstanceState& st = *i.state;
      in_flight += st.in_flight.load(std::memory_order_relaxed);
      const std::int64_t until = st.ejected_until.load(std::memory_order_relaxed);
      json inst = {{"address", i.address},
                   {"instance_id", i.instance_id},
                   {"status", std::string(to_string(i.status))},
                   {"zone", i.zone},
                   {"weight", i.weight},
                   {"healthy", st.healthy.load(std::memory_order_relaxed)},
                   {"ejected", until > now},
                   {"ejected_for_ms", until > now ? (until - now) / 1'000'000 : 0},
                   {"ejections", st.ejections.load(std::memory_order_relaxed)},
                   {"in_flight", st.in_flight.load(std::memory_order_relaxed)},
                   {"available", i.available(now)},
                   {"metadata", i.metadata}};
      if (s->config.health_check) inst["last_check"] = st.last_check;
      instances.push_back(std::move(inst));
    }
    const auto& cb = s->config.circuit_breaker;
    out[name] = {{"discovery", s->config.discovery.type},
                 {"lb", s->config.lb},
                 {"zone_aware", s->config.zone_aware},
                 {"connect_timeout_ms", ms(s->config.connect_timeout)},
                 {"read_timeout_ms", ms(s->config.read_timeout)},
                 {"max_idle_connections", s->config.max_idle_connections},
                 {"max_concurrent_requests", s->config.max_concurrent_requests},
                 {"in_flight", in_flight},
                 {"circuit", cb.enabled ? std::string(to_string(rt.circuit_state())) : std::string("disabled")},
                 {"registry_stale", rt.stale()},
                 {"registry_refresh_failures", rt.refresh_failure_count()},
                 {"generation", set->generation},
                 {"instances", instances}};
    json concurrency = {{"in_flight", rt.in_flight()}, {"max_concurrent_requests", s->config.max_concurrent_requests}};
    if (const auto& a = s->adaptive) {
      const auto v = a->view();
      concurrency["adaptive"] = {{"algorithm", a->config().algorithm},
                                 {"limit", v.limit},
                                 {"min_limit", a->config().min_limit},
                                 {"max_limit", a->config().max_limit},
                                 {"last_rtt_ms", v.last_rtt_ms},
                                 {a->config().algorithm == "vegas" ? "no_load_rtt_ms" : "long_rtt_ms", v.reference_rtt_ms},
                                 {"windows", v.windows},
                                 {"probes", v.probes}};
    }
    out[name]["concurrency"] = std::move(concurrency);
    if (registry && s->config.discovery.type == "registry") out[name]["registry"] = registry_json(*registry, snap.config.discovery);
  }
  return out;
}

// Certificates in use and upstream TLS settings: file paths and public facts only, never keys.
json tls_json(const Snapshot& snap) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  json listeners = json::array();
  for (const auto& l : snap.config.server.listen) {
    if (!l.tls) continue;
    const tls::ServerSettings& s = l.tls->settings;
    json certificates = json::array();
    for (const auto& c : l.tls->context->certificates())
      certificates.push_back({{"file", c.file}, {"names", c.names}, {"subject", c.subject}, {"issuer", c.issuer},
                              {"not_after", c.not_after},
                              {"days_left", (c.not_after_unix - now.count()) / 86400}});
    const char* verify = s.verify == tls::Verify::required ? "required" : s.verify == tls::Verify::optional ? "optional" : "none";
    listeners.push_back({{"address", l.text()}, {"min_version", s.min_version}, {"client_ca", s.client_ca},
                         {"verify", verify}, {"session_tickets", s.session_tickets},
                         {"session_timeout_s", s.session_timeout.count()}, {"certificates", certificates}});
  }
  json services = json::object();
  for (const auto& [name, service] : snap.services) {
    const auto& t = service->config.tls;
    if (!t) continue;
    services[name] = {{"ca", t->ca}, {"sni", t->sni}, {"verify", t->verify}, {"client_cert", t->client.cert},
                      {"min_version", t->min_version}};
  }
  return {{"listeners", listeners}, {"services", services}, {"client_cert_header", snap.config.server.client_cert_header}};
}

json shedding_json(const Snapshot& snap, const Server& server) {
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  const SheddingConfig& c = snap.config.shedding;
  json bands = json::array();
  for (const auto& b : c.bands) bands.push_back({{"from", b.from}, {"shed_at", b.shed_at}});
  json routes = json::object();
  for (const Route& r : snap.routes)
    if (r.gate) routes[r.id] = {{"max_concurrent_requests", r.config->max_concurrent_requests}, {"in_flight", r.gate->in_flight()}};
  json workers = json::array();
  for (const auto& w : server.workers())
    workers.push_back({{"worker", w->index()}, {"event_loop_lag_ms", ms(w->last_lag())}, {"lagging", w->lagging()}});
  return {{"max_concurrent_requests", c.max_concurrent_requests},
          {"in_flight", snap.shedding.gate->in_flight()},
          {"priority_header", c.priority_header},
          {"default_priority", c.default_priority},
          {"max_header_priority", c.max_header_priority},
          {"priority_bands", bands},
          {"max_event_loop_lag_ms", ms(c.max_event_loop_lag)},
          {"routes", routes},
          {"workers", workers}};
}

std::string serialize(const AdminResponse& r, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(http::reason_phrase(r.status));
  // A 204 carries no content and must not announce any (RFC 9110 8.6): Eureka's register answers it.
  if (r.status != 204) out += "\r\nContent-Type: " + r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size());
  out += keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  out += r.body;
  return out;
}

AdminResponse json_response(int status, const json& body) { return {status, "application/json", body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"}; }

}  // namespace

AdminServer::AdminServer(Server& server, net::io_context& ioc) : server_(server), ioc_(ioc), acceptor_(ioc) {}

std::uint16_t AdminServer::listen(const ListenAddress& address) {
  tcp::endpoint endpoint(net::ip::make_address(address.host), address.port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  return acceptor_.local_endpoint().port();
}

AdminResponse AdminServer::handle(std::string_view method, std::string_view path, std::string_view body,
                                  std::string_view accept, std::string_view content_type) {
  if (registry_ && (path == "/eureka" || path.starts_with("/eureka/") || path.starts_with("/eureka?")))
    if (auto r = discovery::handle_eureka(*registry_, {method, path, body, accept, content_type})) return std::move(*r);
  const std::size_t question = path.find('?');
  const std::string_view query = question == std::string_view::npos ? std::string_view{} : path.substr(question + 1);
  path = path.substr(0, question);
  auto snap = server_.snapshot();
  const bool get = method == "GET" || method == "HEAD";
  if (path == "/health" && get) {
    if (server_.draining()) return json_response(503, {{"status", "DRAINING"}});
    return json_response(200, {{"status", "UP"}, {"generation", snap->generation}});
  }
  if (path == "/metrics" && get)
    return {200, "text/plain; version=0.0.4; charset=utf-8", server_.metrics().render()};
  if (path == "/admin/routes" && get) return json_response(200, routes_json(*snap));
  if (path == "/admin/services" && get) return json_response(200, services_json(*snap, registry_));
  if (path == "/admin/shedding" && get) return json_response(200, shedding_json(*snap, server_));
  if (path == "/admin/tls" && get) return json_response(200, tls_json(*snap));
  if (path == "/admin/filters" && get) return json_response(200, filters_json(*snap, server_.runtime_state()));
  if (path == "/admin/reload") {
    if (method != "POST") return json_response(405, {{"error", "use POST"}});
    ReloadResult r = server_.reload();
    if (r.ok) return json_response(200, {{"result", "ok"}, {"generation", r.generation}});
    return json_response(400, {{"result", "rejected"}, {"errors", r.errors}});
  }
  if (canary_) {
    if (path == "/admin/canary" && get) return json_response(200, canary_->describe());
    if (path.starts_with("/admin/canary/")) {
      if (method != "POST") return json_response(405, {{"error", "use POST"}});
      auto [status, body] = canary_->command(path.substr(14), query);
      return json_response(status, body);
    }
    if (path.starts_with("/admin/routes/") && path.ends_with("/pin")) {
      std::string_view route = path.substr(14, path.size() - 14 - 4);
      if (method == "DELETE") {
        auto [status, body] = canary_->pin(route, {});
        return json_response(status, body);
      }
      if (method != "POST") return json_response(405, {{"error", "use POST to pin, DELETE to unpin"}});
      auto service = canary::query_param(query, "service");
      if (!service || service->empty()) return json_response(400, {{"error", "give service=NAME"}});
      auto [status, body] = canary_->pin(route, *service);
      return json_response(status, body);
    }
  }
  return json_response(404, {{"error", "not found"},
                             {"endpoints", {"/health", "/metrics", "/admin/reload", "/admin/routes", "/admin/services", "/admin/shedding", "/admin/tls", "/admin/filters",
                                            "/admin/canary", "/admin/canary/{route}", "/admin/routes/{route}/pin",
                                            "/eureka/apps"}}});
}

void AdminServer::start() {
  net::co_spawn(ioc_, [this]() -> net::awaitable<void> {
    while (acceptor_.is_open()) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec) {
        if (ec == net::error::operation_aborted) break;
        continue;
      }
      net::co_spawn(ioc_, [this, s = std::move(socket)]() mutable -> net::awaitable<void> {
        http::Buffer buffer;
        http::RequestHead head;
        while (true) {
          http::ParseResult r;
          while ((r = http::parse_request_head(buffer.readable(), {}, head)).status == http::ParseStatus::incomplete) {
            if (!buffer.prepare(4096, 1 << 20)) co_return;
            auto [rec, n] = co_await s.async_read_some(net::buffer(buffer.write_ptr(), buffer.writable()), use_tuple);
            if (rec) co_return;
            buffer.commit(n);
          }
          if (r.status == http::ParseStatus::error) {
            std::string out = serialize(json_response(r.error_status, {{"error", r.error_message}}), false);
            co_await net::async_write(s, net::buffer(out), use_tuple);
            co_return;
          }
          // Bodies (Eureka registrations) are read whole, with Content-Length only: the admin API
          // has no use for streaming, and refusing chunked keeps this loop small.
          std::string body;
          AdminResponse response;
          if (head.chunked) {
            response = json_response(411, {{"error", "chunked request bodies are not accepted here; send Content-Length"}});
            head.keep_alive = false;
          } else if (head.content_length > max_body_bytes) {
            response = json_response(413, {{"error", "request body over " + std::to_string(max_body_bytes) + " bytes"}});
            head.keep_alive = false;
          } else {
            const std::size_t want = head.head_bytes + static_cast<std::size_t>(head.content_length);
            bool complete = true;
            while (buffer.size() < want) {
              if (!buffer.prepare(want - buffer.size(), want + 4096)) {
                complete = false;
                break;
              }
              auto [rec, n] = co_await s.async_read_some(net::buffer(buffer.write_ptr(), buffer.writable()), use_tuple);
              if (rec) co_return;
              buffer.commit(n);
            }
            if (!complete) co_return;
            // The buffer may have moved while growing: parse the head again for fresh views.
            http::parse_request_head(buffer.readable(), {}, head);
            body.assign(buffer.readable().substr(head.head_bytes, static_cast<std::size_t>(head.content_length)));
            response = handle(head.method_text, head.target, body, head.fields.get("accept"),
                              head.fields.get("content-type"));
          }
          if (head.method == http::Method::head) response.body.clear();
          std::string out = serialize(response, head.keep_alive);
          buffer.consume(head.chunked || !head.keep_alive ? buffer.size()
                                                          : head.head_bytes + static_cast<std::size_t>(head.content_length));
          auto [wec, wn] = co_await net::async_write(s, net::buffer(out), use_tuple);
          if (wec || !head.keep_alive) co_return;
        }
      }, net::detached);
    }
  }, net::detached);
}

}  // namespace portcullis
