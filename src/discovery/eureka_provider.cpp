// `eureka` discovery: polls an external Eureka server the way Netflix's DiscoveryClient does: one
// full fetch (GET {url}/apps), then deltas (GET {url}/apps/delta) every `refresh`, checking the
// registry-wide apps__hashcode after each delta and fetching everything again on a mismatch. The
// whole registry is mirrored (the hash covers every app); only this service's app is published.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "discovery/eureka_codec.h"
#include "discovery/http_client.h"
#include "discovery/provider.h"
#include "discovery/service_runtime.h"
#include "util/log.h"

namespace portcullis::discovery {

namespace net = boost::asio;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::chrono::milliseconds request_timeout{5000};

class EurekaPoller : public std::enable_shared_from_this<EurekaPoller> {
 public:
  explicit EurekaPoller(ProviderContext ctx) : ctx_(std::move(ctx)), timer_(ctx_.ioc) {
    base_ = ctx_.service.discovery.url;
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
    app_ = app_key(ctx_.service.discovery.app.empty() ? ctx_.service.name : ctx_.service.discovery.app);
    source_ = "eureka " + base_;
  }

  void start() {
    std::string error;
    if (!parse_url(base_ + "/apps", error)) {
      log::error("eureka discovery has an unusable url", {{"service", ctx_.service.name}, {"error", error}});
      ctx_.runtime->refresh_failed(source_, error);
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
    while (!stopped_) {
      std::string error;
      bool ok = false;
      try {  // nothing the server sends may end discovery for the service
        ok = have_full_ ? co_await fetch_delta(error) : false;
        if (!have_full_ || (!ok && error.empty())) ok = co_await fetch_full(error);
      } catch (const std::exception& e) {
        ok = false;
        have_full_ = false;
        error = std::string("eureka provider error: ") + e.what();
      }
      if (stopped_) break;
      if (ok) publish();
      else ctx_.runtime->refresh_failed(source_, error);
      timer_.expires_after(ctx_.service.discovery.refresh);
      co_await timer_.async_wait(use_tuple);
    }
  }

  // GET {url}{path} as Eureka JSON; false with a message on any failure.
  net::awaitable<bool> fetch(const std::string& path, EurekaApplications& out, std::string& error, int& status) {
    HttpRequest req;
    req.url = base_ + path;
    req.headers = {{"Accept", "application/json"}};
    req.timeout = request_timeout;
    req.cancel = cancel_;
    HttpResult r = co_await http_request(ctx_.ioc, std::move(req));
    status = r.status;
    if (!r.ok()) {
      error = r.error;
      co_return false;
    }
    if (r.status != 200) {
      error = "GET " + base_ + path + " answered " + std::to_string(r.status);
      co_return false;
    }
    auto doc = nlohmann::json::parse(r.body, nullptr, false);
    if (doc.is_discarded()) {
      error = "GET " + base_ + path + " did not return JSON";
      co_return false;
    }
    if (!decode_applications(doc, out, error)) {
      error = "GET " + base_ + path + ": " + error;
      co_return false;
    }
    co_return true;
  }

  net::awaitable<bool> fetch_full(std::string& error) {
    EurekaApplications apps;
    int status = 0;
    const bool fetched = co_await fetch("/apps", apps, error, status);
    if (!fetched) co_return false;
    mirror_.clear();
    for (auto& app : apps.applications)
      for (auto& i : app.instances) mirror_[app.name][i.instance_id] = std::move(i);
    have_full_ = true;
    co_return true;
  }

  // True when the delta applied and the hashes agree. False with an empty `error` asks for a full
  // fetch (hash mismatch, or a server that refuses deltas); false with an error = unreachable.
  net::awaitable<bool> fetch_delta(std::string& error) {
    EurekaApplications delta;
    int status = 0;
    const bool fetched = co_await fetch("/apps/delta", delta, error, status);
    if (!fetched) {
      if (status != 0) error.clear();  // it answered, just not a delta: fall back to a full fetch
      co_return false;
    }
    for (auto& app : delta.applications) {
      for (auto& i : app.instances) {
        if (i.action_type == "DELETED") {
          auto a = mirror_.find(app.name);
          if (a != mirror_.end()) {
            a->second.erase(i.instance_id);
            if (a->second.empty()) mirror_.erase(a);
          }
        } else {  // ADDED, MODIFIED (and anything unknown: the newest state wins)
          mirror_[app.name][i.instance_id] = std::move(i);
        }
      }
    }
    std::vector<const EurekaInstance*> all;
    for (const auto& [name, instances] : mirror_)
      for (const auto& [id, i] : instances) all.push_back(&i);
    std::string local = reconcile_hashcode(all);
    if (local != delta.apps_hashcode) {
      log::debug("eureka delta hash mismatch; fetching the full registry",
                 {{"service", ctx_.service.name}, {"local", local}, {"remote", delta.apps_hashcode}});
      co_return false;
    }
    co_return true;
  }

  void publish() {
    std::vector<DiscoveredInstance> list;
    if (auto a = mirror_.find(app_); a != mirror_.end()) {
      for (const auto& [id, i] : a->second) {
        if (auto d = to_discovered(i)) list.push_back(std::move(*d));
        else if (warned_.insert(id).second)
          log::warn("eureka instance has no IP address; skipped",
                    {{"service", ctx_.service.name}, {"instance", id}, {"host", i.host_name}});
      }
    }
    ctx_.runtime->publish(list, source_);
  }

  ProviderContext ctx_;
  net::steady_timer timer_;
  std::shared_ptr<HttpCancel> cancel_ = std::make_shared<HttpCancel>();
  std::string base_, app_, source_;
  std::map<std::string, std::map<std::string, EurekaInstance>> mirror_;  // app -> id -> instance
  std::set<std::string> warned_;
  bool have_full_ = false;
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<Provider> make_eureka_provider(ProviderContext ctx) {
  return std::make_unique<SharedWorkProvider<EurekaPoller>>(std::move(ctx));
}

}  // namespace portcullis::discovery
