// Admin API over HTTP/1.1 (same strict parser as the data path), JSON via nlohmann_json.
#include "admin/admin_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "config/snapshot.h"
#include "core/server.h"
#include "http/buffer.h"
#include "http/parser.h"
#include "util/log.h"

namespace portcullis {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

json routes_json(const Snapshot& snap) {
  json out = json::array();
  for (const Route& r : snap.routes) {
    json filters = json::array();
    for (const auto* list : {&r.pre, &r.route, &r.post, &r.error})
      for (const Filter* f : *list)
        filters.push_back({{"name", f->name()}, {"type", std::string(to_string(f->type()))}, {"order", f->order()}});
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

json services_json(const Snapshot& snap) {
  json out = json::object();
  auto ms = [](Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  for (const auto& [name, s] : snap.services) {
    json instances = json::array();
    for (const Instance& i : s->instances) instances.push_back({{"address", i.address}, {"status", "UP"}});
    out[name] = {{"discovery", s->config.discovery},
                 {"lb", s->config.lb},
                 {"connect_timeout_ms", ms(s->config.connect_timeout)},
                 {"read_timeout_ms", ms(s->config.read_timeout)},
                 {"max_idle_connections", s->config.max_idle_connections},
                 {"instances", instances}};
  }
  return out;
}

std::string serialize(const AdminResponse& r, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(http::reason_phrase(r.status)) +
                    "\r\nContent-Type: " + r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
                    (keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
  out += r.body;
  return out;
}

AdminResponse json_response(int status, const json& body) { return {status, "application/json", body.dump(2) + "\n"}; }

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

AdminResponse AdminServer::handle(std::string_view method, std::string_view path) {
  path = path.substr(0, path.find('?'));  // no endpoint takes parameters yet
  auto snap = server_.snapshot();
  const bool get = method == "GET" || method == "HEAD";
  if (path == "/health" && get) {
    if (server_.draining()) return json_response(503, {{"status", "DRAINING"}});
    return json_response(200, {{"status", "UP"}, {"generation", snap->generation}});
  }
  if (path == "/metrics" && get)
    return {200, "text/plain; version=0.0.4; charset=utf-8", server_.metrics().render()};
  if (path == "/admin/routes" && get) return json_response(200, routes_json(*snap));
  if (path == "/admin/services" && get) return json_response(200, services_json(*snap));
  if (path == "/admin/reload") {
    if (method != "POST") return json_response(405, {{"error", "use POST"}});
    ReloadResult r = server_.reload();
    if (r.ok) return json_response(200, {{"result", "ok"}, {"generation", r.generation}});
    return json_response(400, {{"result", "rejected"}, {"errors", r.errors}});
  }
  return json_response(404, {{"error", "not found"},
                             {"endpoints", {"/health", "/metrics", "/admin/reload", "/admin/routes", "/admin/services"}}});
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
          AdminResponse response = handle(head.method_text, head.target);
          if (head.has_body()) head.keep_alive = false;  // admin requests carry no useful body
          if (head.method == http::Method::head) response.body.clear();
          std::string out = serialize(response, head.keep_alive);
          buffer.consume(head.head_bytes);
          auto [wec, wn] = co_await net::async_write(s, net::buffer(out), use_tuple);
          if (wec || !head.keep_alive) co_return;
        }
      }, net::detached);
    }
  }, net::detached);
}

}  // namespace portcullis
