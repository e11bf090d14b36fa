#include "discovery/manager.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "config/snapshot.h"
#include "discovery/embedded_registry.h"
#include "discovery/http_client.h"
#include "discovery/provider.h"
#include "discovery/service_runtime.h"
#include "util/clock.h"
#include "util/log.h"

namespace portcullis::discovery {

namespace net = boost::asio;

namespace {

class StaticProvider final : public Provider {
 public:
  explicit StaticProvider(ProviderContext ctx, std::vector<DiscoveredInstance> instances)
      : ctx_(std::move(ctx)), instances_(std::move(instances)) {}
  void start() override { ctx_.runtime->publish(instances_, "static"); }
  void stop() override {}

 private:
  ProviderContext ctx_;
  std::vector<DiscoveredInstance> instances_;
};

std::unique_ptr<Provider> make_provider(ProviderContext ctx, const std::vector<DiscoveredInstance>& static_instances) {
  const std::string& type = ctx.service.discovery.type;
  if (type == "registry") return make_registry_provider(std::move(ctx));
  if (type == "eureka") return make_eureka_provider(std::move(ctx));
  if (type == "etcd") return make_etcd_provider(std::move(ctx));
  if (type == "dns") return make_dns_provider(std::move(ctx));
  return std::make_unique<StaticProvider>(std::move(ctx), static_instances);
}

}  // namespace

Discovery::Discovery(net::io_context& control, observability::Registry& metrics, observability::Shard& shard)
    : ioc_(control), metrics_(metrics), shard_(shard), timer_(control) {
  self_preservation_ = metrics.gauge("portcullis_registry_self_preservation",
                                     "1 while the embedded registry's self-preservation keeps leases from expiring.");
  renewals_ = metrics.gauge("portcullis_registry_renewals_last_minute", "Heartbeats the embedded registry took in the last minute.");
  expected_renewals_ = metrics.gauge("portcullis_registry_expected_renewals_per_minute",
                                     "Heartbeats a minute the embedded registry expects from instances registered a minute or more.");
  registered_ = metrics.gauge("portcullis_registry_registered_instances", "Instances registered with the embedded registry.");
  rejected_ = metrics.counter("portcullis_registry_rejected_registrations_total",
                              "Registrations the embedded registry refused (discovery.max_registered_instances).");
  upkeep();
}

void Discovery::registry_gauges() {
  if (!registry_) return;
  const EmbeddedRegistry::Preservation p = registry_->preservation();
  shard_.set(self_preservation_, p.active ? 1 : 0);
  shard_.set(renewals_, static_cast<std::int64_t>(p.renewals_last_minute));
  shard_.set(expected_renewals_, static_cast<std::int64_t>(p.expected_per_minute));
  shard_.set(registered_, static_cast<std::int64_t>(registry_->size()));
  const std::uint64_t rejected = registry_->rejected_registrations();
  shard_.inc(rejected_, rejected - rejected_published_);
  rejected_published_ = rejected;
}

Discovery::~Discovery() { stop(); }

void Discovery::stop() {
  if (stopped_) return;
  stopped_ = true;
  timer_.cancel();
  for (auto& [name, e] : entries_) {
    if (e.provider) e.provider->stop();
    if (e.checker) e.checker->stop();
  }
  entries_.clear();
  if (registry_) registry_->stop();
}

void Discovery::reconcile(const Snapshot& snap) {
  const DiscoverySettings& settings = snap.config.discovery;
  // The admin listener learns of the registry once, at start: turning it on or off takes a restart.
  if (!registry_decided_) {
    registry_decided_ = true;
    if (settings.registry_enabled) registry_ = std::make_unique<EmbeddedRegistry>(settings);
  } else if (settings.registry_enabled != (registry_ != nullptr)) {
    log::warn("discovery.registry_enabled changes take effect at the next restart");
  }
  if (registry_) {
    registry_->configure(settings);
    if (!registry_started_) {
      registry_->start(ioc_);
      registry_started_ = true;
    }
  }
  std::map<std::string, Entry> next;
  for (const auto& [name, service] : snap.services) {
    service->runtime->configure(service->config, settings.zone);
    runtimes_[name] = service->runtime;
    Entry entry;
    auto old = entries_.find(name);
    const bool same_source = old != entries_.end() && old->second.config == service->config.discovery &&
                             old->second.static_instances == service->static_instances;
    if (same_source) {
      entry.provider = std::move(old->second.provider);
    } else {
      if (old != entries_.end() && old->second.provider) old->second.provider->stop();
      ProviderContext ctx{ioc_, service->runtime, service->config, registry_.get()};
      entry.provider = make_provider(std::move(ctx), service->static_instances);
      entry.provider->start();
      log::info("discovery started", {{"service", name}, {"type", service->config.discovery.type}});
    }
    entry.config = service->config.discovery;
    entry.static_instances = service->static_instances;
    entry.health = service->config.health_check;
    if (old != entries_.end() && old->second.health == entry.health) {
      entry.checker = std::move(old->second.checker);
    } else {
      if (old != entries_.end() && old->second.checker) old->second.checker->stop();
      // Without active checks an instance is healthy; a checker that goes away leaves none marked down.
      for (const Instance& i : service->runtime->instances()->instances) i.state->healthy.store(true);
      if (entry.health) {
        entry.checker = std::make_shared<HealthChecker>(ioc_, service->runtime, *entry.health, metrics_);
        entry.checker->start();
      }
    }
    if (entry.checker) entry.checker->set_tls(service->config.tls_context);
    next.emplace(name, std::move(entry));
  }
  for (auto& [name, e] : entries_) {
    if (next.count(name)) continue;
    if (e.provider) e.provider->stop();
    if (e.checker) e.checker->stop();
    runtimes_.erase(name);
  }
  entries_ = std::move(next);
}

void Discovery::upkeep() {
  const std::int64_t now = steady_now_ns();
  for (auto& [name, runtime] : runtimes_) runtime->update_state_gauges(shard_, now);
  registry_gauges();
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopped_) upkeep();
  });
}

// ---- active health checks ----

HealthChecker::HealthChecker(net::io_context& ioc, std::shared_ptr<ServiceRuntime> runtime, HealthCheckConfig config,
                             observability::Registry& metrics)
    : ioc_(ioc), runtime_(std::move(runtime)), config_(std::move(config)), timer_(ioc), metrics_(metrics) {
  passed_ = metrics.counter("portcullis_health_checks_total", "Active health checks, by result.",
                            {{"service", runtime_->name()}, {"result", "pass"}});
  failed_ = metrics.counter("portcullis_health_checks_total", "Active health checks, by result.",
                            {{"service", runtime_->name()}, {"result", "fail"}});
}

void HealthChecker::start() { round(); }

void HealthChecker::stop() {
  stopped_ = true;
  timer_.cancel();
}


void HealthChecker::round() {
  if (stopped_) return;
  auto set = runtime_->instances();
  for (const Instance& inst : set->instances) {
    if (inst.state->checking) continue;  // a timeout longer than the interval must not pile checks up
    inst.state->checking = true;
    // One check through the control plane's HTTP client: a 2xx passes; any other status, a
    // refused connection or no answer within the timeout fails.
    HttpRequest request;
    request.url = (tls_ ? "https://" : "http://") + inst.address + config_.path;
    request.tls = tls_;
    request.host = config_.host;
    request.headers = {{"User-Agent", "portcullis-health-check"}};
    request.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config_.timeout);
    request.max_body = 64 * 1024;
    auto self = shared_from_this();
    std::shared_ptr<InstanceState> state = inst.state;
    std::string address = inst.address;
    net::co_spawn(ioc_, http_request(ioc_, std::move(request)),
                  [self, state, address](std::exception_ptr e, HttpResult r) {
                    state->checking = false;
                    if (self->stopped_ || e) return;
                    const std::string result = r.timed_out ? "timeout"
                                               : !r.ok()   ? r.error
                                               : r.status >= 200 && r.status < 300 ? "ok"
                                                                                   : "status " + std::to_string(r.status);
                    state->last_check = result;
                    auto& shard = self->metrics_.shard(self->metrics_.shard_count() - 1);
                    const bool healthy = state->healthy.load();
                    if (result == "ok") {
                      shard.inc(self->passed_);
                      state->failures = 0;
                      if (!healthy && ++state->passes >= self->config_.healthy) {
                        state->healthy.store(true);
                        state->passes = 0;
                        log::info("instance passed its health checks; back in rotation",
                                  {{"service", self->runtime_->name()}, {"instance", address}});
                      }
                    } else {
                      shard.inc(self->failed_);
                      state->passes = 0;
                      if (healthy && ++state->failures >= self->config_.unhealthy) {
                        state->healthy.store(false);
                        state->failures = 0;
                        log::warn("instance failed its health checks; out of rotation",
                                  {{"service", self->runtime_->name()}, {"instance", address}, {"last", result}});
                      }
                    }
                  });
  }
  timer_.expires_after(config_.interval);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->round();
  });
}

}  // namespace portcullis::discovery
