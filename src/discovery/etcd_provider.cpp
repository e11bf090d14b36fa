// `etcd` discovery through etcd v3's JSON gateway: range PREFIX/<service>/ once, then watch from
// the next revision and apply PUT/DELETE events as they stream in. A compaction, a cancelled watch
// or a dropped connection goes back to a fresh range after a short pause; while no endpoint
// answers, the last known instances stay and every failed attempt is reported.
//
// Key:   PREFIX/<service>/<instance id>
// Value: {"host": "127.0.0.1", "port": 8001, "zone": "a", "weight": 1, "status": "UP", "metadata": {...}}
#include <openssl/evp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "discovery/etcd_provider.h"
#include "discovery/http_client.h"
#include "discovery/provider.h"
#include "discovery/service_runtime.h"
#include "util/log.h"

namespace portcullis::discovery {

namespace net = boost::asio;
using json = nlohmann::json;

std::string base64_encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out(3 * in.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as decoded zero bytes.
  std::size_t pad = 0;
  while (pad < 2 && pad < in.size() && in[in.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string etcd_prefix_end(std::string_view prefix) {
  std::string end(prefix);
  // etcd's "all keys with this prefix": the prefix with its last byte incremented (0xff dropped).
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

namespace {

bool int_of(const json& v, std::int64_t& out) {
  if (v.is_number_integer() || v.is_number_unsigned()) {
    out = v.get<std::int64_t>();
    return true;
  }
  if (v.is_string()) {  // the gateway writes int64 as strings
    const auto& s = v.get_ref<const std::string&>();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
  }
  return false;
}

}  // namespace

std::optional<DiscoveredInstance> decode_etcd_instance(std::string_view id, std::string_view value, std::string& error) {
  json doc = json::parse(value, nullptr, false);
  if (!doc.is_object()) {
    error = "value is not a JSON object";
    return std::nullopt;
  }
  DiscoveredInstance d;
  d.id = id;
  if (!doc.contains("host") || !doc["host"].is_string()) {
    error = "\"host\" is missing or not a string";
    return std::nullopt;
  }
  d.host = doc["host"].get<std::string>();
  std::int64_t port = 0;
  if (!doc.contains("port") || !int_of(doc["port"], port) || port <= 0 || port > 65535) {
    error = "\"port\" is missing or not 1..65535";
    return std::nullopt;
  }
  d.port = static_cast<std::uint16_t>(port);
  Endpoint probe;
  if (!parse_ip(d.host, d.port, probe)) {
    error = "\"host\" must be an IP address, got " + d.host;
    return std::nullopt;
  }
  if (d.host.size() >= 2 && d.host.front() == '[') d.host = d.host.substr(1, d.host.size() - 2);
  if (auto z = doc.find("zone"); z != doc.end() && z->is_string()) d.zone = z->get<std::string>();
  if (auto w = doc.find("weight"); w != doc.end()) {
    std::int64_t weight = 0;
    if (!int_of(*w, weight) || weight <= 0 || weight > 1000000) {
      error = "\"weight\" must be a positive integer";
      return std::nullopt;
    }
    d.weight = static_cast<unsigned>(weight);
  }
  if (auto s = doc.find("status"); s != doc.end() && s->is_string()) d.status = parse_instance_status(s->get<std::string>());
  if (auto m = doc.find("metadata"); m != doc.end() && m->is_object())
    for (const auto& [k, v] : m->items()) d.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return d;
}

void JsonStreamSplitter::feed(std::string_view bytes, const std::function<void(std::string_view)>& on_object) {
  for (char c : bytes) {
    if (depth_ == 0 && c != '{') continue;  // newlines and whitespace between objects
    current_ += c;
    if (in_string_) {
      if (escape_) escape_ = false;
      else if (c == '\\') escape_ = true;
      else if (c == '"') in_string_ = false;
      continue;
    }
    if (c == '"') in_string_ = true;
    else if (c == '{') ++depth_;
    else if (c == '}' && --depth_ == 0) {
      on_object(current_);
      current_.clear();
    }
  }
  // A message larger than any etcd sends for one revision is not a message: report it unreadable
  // (the watch restarts) rather than buffer without bound.
  if (current_.size() > max_message_bytes) {
    current_.clear();
    depth_ = 0;
    in_string_ = escape_ = false;
    on_object("{");
  }
}

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::chrono::milliseconds request_timeout{3000};
constexpr std::chrono::milliseconds min_backoff{200};
constexpr std::chrono::milliseconds max_backoff{2000};

class EtcdWatcher : public std::enable_shared_from_this<EtcdWatcher> {
 public:
  explicit EtcdWatcher(ProviderContext ctx) : ctx_(std::move(ctx)), timer_(ctx_.ioc) {
    std::string prefix = ctx_.service.discovery.prefix;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    key_ = prefix + "/" + ctx_.service.name + "/";
    range_end_ = etcd_prefix_end(key_);
    source_ = "etcd " + key_;
  }

  void start() {
    if (ctx_.service.discovery.endpoints.empty()) {
      ctx_.runtime->refresh_failed(source_, "no etcd endpoints configured");
      return;
    }
    net::co_spawn(ctx_.ioc, [self = shared_from_this()] { return self->run(); }, net::detached);
  }

  void stop() {
    stopped_ = true;
    timer_.cancel();
    cancel_->cancel();
  }

 private:
  net::awaitable<void> run() {
    auto backoff = min_backoff;
    while (!stopped_) {
      // Nothing etcd sends may end discovery for the service: an unexpected error is a failed
      // refresh, and the provider starts over.
      std::string unexpected;
      try {
        co_await cycle(backoff);
      } catch (const std::exception& e) {
        unexpected = e.what();
      }
      if (unexpected.empty() || stopped_) continue;
      ctx_.runtime->refresh_failed(source_, "etcd provider error: " + unexpected);
      co_await pause(max_backoff);
    }
  }

  // One range, then one watch until it ends (or one failed range and its backoff).
  net::awaitable<void> cycle(std::chrono::milliseconds& backoff) {
    std::string error;
    std::int64_t revision = 0;
    const bool listed = co_await range(revision, error);
    if (!listed) {
      if (stopped_) co_return;
      ctx_.runtime->refresh_failed(source_, error);
      co_await pause(backoff);
      backoff = std::min(backoff * 2, max_backoff);
      co_return;
    }
    backoff = min_backoff;
    publish();
    std::string why = co_await watch(revision + 1);
    if (stopped_) co_return;
    log::info("etcd watch ended; reading the keys again", {{"service", ctx_.service.name}, {"reason", why}});
    co_await pause(min_backoff);
  }

  net::awaitable<void> pause(std::chrono::milliseconds d) {
    timer_.expires_after(d);
    co_await timer_.async_wait(use_tuple);
  }

  HttpRequest post(const std::string& endpoint, const std::string& path, const json& body) const {
    HttpRequest req;
    req.method = "POST";
    std::string base = endpoint;
    while (!base.empty() && base.back() == '/') base.pop_back();
    req.url = base + path;
    req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    req.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    req.timeout = request_timeout;
    req.cancel = cancel_;
    return req;
  }

  // Reads every key of the service from the first endpoint that answers; sets endpoint_.
  net::awaitable<bool> range(std::int64_t& revision, std::string& error) {
    json body = {{"key", base64_encode(key_)}, {"range_end", base64_encode(range_end_)}};
    std::string errors;
    for (const std::string& endpoint : ctx_.service.discovery.endpoints) {
      HttpResult r = co_await http_request(ctx_.ioc, post(endpoint, "/v3/kv/range", body));
      if (stopped_) co_return false;
      std::string why = r.error;
      json doc;
      if (why.empty() && r.status != 200) why = "range answered " + std::to_string(r.status) + ": " + r.body.substr(0, 200);
      if (why.empty()) {
        doc = json::parse(r.body, nullptr, false);
        const bool has_header = doc.is_object() && doc.contains("header") && doc["header"].is_object();
        if (!has_header || !int_of(doc["header"].value("revision", json()), revision))
          why = "range answer has no header.revision";
      }
      if (!why.empty()) {
        errors += (errors.empty() ? "" : "; ") + endpoint + ": " + why;
        continue;
      }
      endpoint_ = endpoint;
      instances_.clear();
      if (auto kvs = doc.find("kvs"); kvs != doc.end() && kvs->is_array())
        for (const auto& kv : *kvs) apply_put(kv);
      co_return true;
    }
    error = errors;
    co_return false;
  }

  // Streams events from `start`; returns why the watch ended.
  net::awaitable<std::string> watch(std::int64_t start) {
    json body = {{"create_request", {{"key", base64_encode(key_)}, {"range_end", base64_encode(range_end_)},
                                     {"start_revision", start}, {"progress_notify", true}}}};
    std::string reason;
    JsonStreamSplitter splitter;
    auto on_piece = [&](std::string_view piece) {
      splitter.feed(piece, [&](std::string_view text) {
        if (reason.empty()) reason = handle_message(text);
      });
      return reason.empty();
    };
    HttpRequest req = post(endpoint_, "/v3/watch", body);
    HttpResult r = co_await http_stream(ctx_.ioc, std::move(req), on_piece);
    if (!reason.empty()) co_return reason;
    if (!r.ok()) co_return r.error;
    if (r.status != 200) co_return "watch answered " + std::to_string(r.status);
    co_return "etcd closed the watch stream";
  }

  // One watch response. Returns "" to keep watching, else why to stop. A message of an unexpected
  // shape ends the watch (and the provider reads the keys again) instead of ending the provider.
  std::string handle_message(std::string_view text) {
    try {
      return apply_message(text);
    } catch (const json::exception& e) {
      return std::string("unreadable watch message: ") + e.what();
    }
  }

  std::string apply_message(std::string_view text) {
    json doc = json::parse(text, nullptr, false);
    if (!doc.is_object()) return "unreadable watch message";
    if (doc.contains("error")) return "watch error: " + doc["error"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const json& result = doc.contains("result") ? doc["result"] : doc;
    std::int64_t compact = 0;
    if (auto c = result.find("compact_revision"); c != result.end() && int_of(*c, compact) && compact > 0)
      return "revision compacted (to " + std::to_string(compact) + ")";
    if (result.value("canceled", false)) return "watch cancelled: " + result.value("cancel_reason", std::string());
    auto events = result.find("events");
    if (events == result.end() || !events->is_array() || events->empty()) return {};
    for (const auto& e : *events) {
      const json& kv = e.value("kv", json::object());
      if (e.value("type", std::string("PUT")) == "DELETE") {
        auto key = base64_decode(kv.value("key", std::string()));
        if (key && key->starts_with(key_)) instances_.erase(key->substr(key_.size()));
      } else {
        apply_put(kv);
      }
    }
    publish();
    return {};
  }

  void apply_put(const json& kv) {
    if (!kv.is_object() || !kv.value("key", json()).is_string() || !kv.value("value", json()).is_string()) return;
    auto key = base64_decode(kv.value("key", std::string()));
    auto value = base64_decode(kv.value("value", std::string()));
    if (!key || !value || !key->starts_with(key_)) return;
    std::string id = key->substr(key_.size());
    std::string error;
    if (auto d = decode_etcd_instance(id, *value, error)) {
      instances_[id] = std::move(*d);
      return;
    }
    instances_.erase(id);  // an unreadable new value replaces whatever the key held
    log::warn("etcd key ignored", {{"service", ctx_.service.name}, {"key", *key}, {"error", error}});
  }

  void publish() {
    std::vector<DiscoveredInstance> list;
    for (const auto& [id, d] : instances_) list.push_back(d);
    ctx_.runtime->publish(list, source_);
  }

  ProviderContext ctx_;
  net::steady_timer timer_;
  std::shared_ptr<HttpCancel> cancel_ = std::make_shared<HttpCancel>();
  std::string key_, range_end_, source_, endpoint_;
  std::map<std::string, DiscoveredInstance> instances_;  // by id (key suffix)
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<Provider> make_etcd_provider(ProviderContext ctx) { return std::make_unique<SharedWorkProvider<EtcdWatcher>>(std::move(ctx)); }

}  // namespace portcullis::discovery
