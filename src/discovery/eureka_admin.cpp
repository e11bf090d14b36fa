// HTTP mapping of Eureka's REST operations onto EmbeddedRegistry. Status codes follow Eureka's
// server: register 204, heartbeat 200 / 404 (the client re-registers), cancel 200, unknown 404.
#include "discovery/eureka_admin.h"

#include <charconv>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "discovery/embedded_registry.h"
#include "discovery/eureka_codec.h"
#include "http/message.h"

namespace portcullis::discovery {

using json = nlohmann::json;

namespace {

AdminResponse json_answer(int status, const json& body) { return {status, "application/json", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)}; }
AdminResponse error_answer(int status, std::string message) {
  return json_answer(status, {{"status", status}, {"error", std::move(message)}});
}
AdminResponse empty_answer(int status) { return {status, "application/json", ""}; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Instance ids often hold ':' and some clients percent-encode it.
std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    std::size_t slash = path.find('/');
    out.push_back(percent_decode(path.substr(0, slash), false));
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    std::size_t eq = item.find('=');
    if (!item.empty())
      out.emplace_back(percent_decode(item.substr(0, eq), true),
                       eq == std::string_view::npos ? std::string{} : percent_decode(item.substr(eq + 1), true));
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
  }
  return out;
}

std::optional<std::string> query_value(const std::vector<std::pair<std::string, std::string>>& q, std::string_view key) {
  for (const auto& [k, v] : q)
    if (k == key) return v;
  return std::nullopt;
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i)
    if (http::iequals(haystack.substr(i, needle.size()), needle)) return true;
  return false;
}

// JSON only: an XML-only client gets a clear refusal rather than a document it cannot read.
bool accepts_json(std::string_view accept) {
  return accept.empty() || contains_ci(accept, "json") || contains_ci(accept, "*/*");
}

AdminResponse register_instance(EmbeddedRegistry& registry, const std::string& app, const EurekaRequest& req) {
  if (contains_ci(req.content_type, "xml"))
    return error_answer(415, "XML is not supported: send the instance as application/json "
                             "(eureka.client: set the JSON codec / Accept: application/json)");
  json doc = json::parse(req.body, nullptr, false);
  if (doc.is_discarded()) return error_answer(400, "request body is not valid JSON");
  EurekaInstance instance;
  std::string error;
  if (!decode_instance(doc, instance, error)) return error_answer(400, error);
  if (instance.app.empty()) instance.app = app_key(app);
  if (instance.app != app_key(app))
    return error_answer(400, "instance app " + instance.app + " does not match the URL's " + app_key(app));
  if (instance.port == 0 && !instance.secure_port_enabled) return error_answer(400, "instance has no port");
  if (registry.register_instance(std::move(instance)) == EmbeddedRegistry::RegisterResult::full)
    return error_answer(503, "the registry is full (discovery.max_registered_instances); try again later");
  return empty_answer(204);
}

AdminResponse instance_operation(EmbeddedRegistry& registry, const std::vector<std::string>& seg,
                                 const std::vector<std::pair<std::string, std::string>>& query,
                                 const EurekaRequest& req) {
  const std::string& app = seg[1];
  const std::string& id = seg[2];
  const std::string_view method = req.method;
  const bool get = method == "GET" || method == "HEAD";
  if (seg.size() == 3) {
    if (get) {
      const EurekaInstance* i = registry.find(app, id);
      if (!i) return error_answer(404, "no instance " + id + " in " + app_key(app));
      return json_answer(200, {{"instance", encode_instance(*i)}});
    }
    if (method == "PUT") {
      std::optional<std::int64_t> dirty;
      if (auto d = query_value(query, "lastDirtyTimestamp")) {
        std::int64_t n = 0;
        auto [p, ec] = std::from_chars(d->data(), d->data() + d->size(), n);
        if (ec == std::errc() && p == d->data() + d->size()) dirty = n;
      }
      std::optional<InstanceStatus> status;
      if (auto st = query_value(query, "status")) status = parse_instance_status(*st);
      if (registry.renew(app, id, dirty, status) == EmbeddedRegistry::RenewResult::unknown)
        return error_answer(404, "no lease for " + id + " in " + app_key(app) + "; register again");
      return empty_answer(200);
    }
    if (method == "DELETE") {
      if (!registry.cancel(app, id)) return error_answer(404, "no instance " + id + " in " + app_key(app));
      return empty_answer(200);
    }
    return error_answer(405, "use GET, PUT (heartbeat) or DELETE (cancel)");
  }
  if (seg.size() == 4 && seg[3] == "status") {
    std::optional<std::string> value = query_value(query, "value");
    if (method == "PUT") {
      if (!value || parse_instance_status(*value) == InstanceStatus::unknown)
        return error_answer(400, "status needs ?value=UP|DOWN|STARTING|OUT_OF_SERVICE");
      if (!registry.set_status_override(app, id, parse_instance_status(*value)))
        return error_answer(404, "no instance " + id + " in " + app_key(app));
      return empty_answer(200);
    }
    if (method == "DELETE") {
      std::optional<InstanceStatus> to;
      if (value) to = parse_instance_status(*value);
      if (!registry.clear_status_override(app, id, to))
        return error_answer(404, "no instance " + id + " in " + app_key(app));
      return empty_answer(200);
    }
    return error_answer(405, "use PUT ?value=STATUS or DELETE");
  }
  if (seg.size() == 4 && seg[3] == "metadata") {
    if (method != "PUT") return error_answer(405, "use PUT ?key=value");
    std::map<std::string, std::string> add(query.begin(), query.end());
    if (!registry.update_metadata(app, id, add)) return error_answer(404, "no instance " + id + " in " + app_key(app));
    return empty_answer(200);
  }
  return error_answer(404, "unknown Eureka endpoint");
}

}  // namespace

std::optional<AdminResponse> handle_eureka(EmbeddedRegistry& registry, const EurekaRequest& req) {
  std::string_view target = req.target;
  std::size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  auto query = parse_query(q == std::string_view::npos ? std::string_view{} : target.substr(q + 1));
  if (path != "/eureka" && !path.starts_with("/eureka/")) return std::nullopt;
  std::vector<std::string> seg = split_path(path.substr(7));
  if (!seg.empty() && seg[0] == "v2") seg.erase(seg.begin());  // Netflix's default context path
  if (!accepts_json(req.accept))
    return error_answer(406, "only application/json is served; XML is not supported (see docs/eureka-compat.md)");
  const bool get = req.method == "GET" || req.method == "HEAD";

  if (seg.size() == 1 && seg[0] == "apps") {
    if (!get) return error_answer(405, "use GET");
    return json_answer(200, encode_applications(registry.applications()));
  }
  if (seg.size() == 2 && seg[0] == "apps" && seg[1] == "delta") {
    if (!get) return error_answer(405, "use GET");
    return json_answer(200, encode_applications(registry.delta()));
  }
  if (seg.size() == 2 && seg[0] == "apps") {
    if (req.method == "POST") return register_instance(registry, seg[1], req);
    if (!get) return error_answer(405, "use GET, or POST to register");
    auto app = registry.application(seg[1]);
    if (!app) return error_answer(404, "no application " + app_key(seg[1]));
    json instances = json::array();
    for (const auto& i : app->instances) instances.push_back(encode_instance(i));
    return json_answer(200, {{"application", {{"name", app->name}, {"instance", instances}}}});
  }
  if (seg.size() >= 3 && seg.size() <= 4 && seg[0] == "apps") return instance_operation(registry, seg, query, req);
  if (seg.size() == 2 && seg[0] == "instances") {
    if (!get) return error_answer(405, "use GET");
    const EurekaInstance* i = registry.find_instance(seg[1]);
    if (!i) return error_answer(404, "no instance " + seg[1]);
    return json_answer(200, {{"instance", encode_instance(*i)}});
  }
  return error_answer(404, "unknown Eureka endpoint; supported: /eureka/apps, /eureka/apps/delta, "
                           "/eureka/apps/{APP}, /eureka/apps/{APP}/{ID}[/status|/metadata], /eureka/instances/{ID}");
}

}  // namespace portcullis::discovery
