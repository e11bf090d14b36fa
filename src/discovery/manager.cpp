#include "discovery/manager.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "config/snapshot.h"
#include "discovery/embedded_registry.h"
#include "discovery/provider.h"
#include "discovery/service_runtime.h"
#include "http/buffer.h"
#include "http/parser.h"
#include "util/log.h"

namespace portcullis::discovery {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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
  upkeep();
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
  const std::int64_t now = now_ns();
  for (auto& [name, runtime] : runtimes_) runtime->update_state_gauges(shard_, now);
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

namespace {

// One check: connect, GET, read the status line. A 2xx passes; anything else, or no answer within
// the timeout, fails.
net::awaitable<std::string> check_once(Endpoint endpoint, std::string request, Duration timeout) {
  using namespace net::experimental::awaitable_operators;
  auto executor = co_await net::this_coro::executor;
  tcp::socket socket(executor);
  net::steady_timer deadline(executor);
  deadline.expires_after(timeout);
  auto exchange = [&]() -> net::awaitable<std::string> {
    net::ip::address address;
    if (endpoint.v6) {
      net::ip::address_v6::bytes_type b;
      std::copy(endpoint.bytes.begin(), endpoint.bytes.end(), b.begin());
      address = net::ip::address_v6(b);
    } else {
      net::ip::address_v4::bytes_type b;
      std::copy(endpoint.bytes.begin(), endpoint.bytes.begin() + 4, b.begin());
      address = net::ip::address_v4(b);
    }
    auto [cec] = co_await socket.async_connect({address, endpoint.port}, use_tuple);
    if (cec) co_return "connect failed: " + cec.message();
    auto [wec, wn] = co_await net::async_write(socket, net::buffer(request), use_tuple);
    if (wec) co_return "write failed: " + wec.message();
    http::Buffer buffer;
    while (true) {
      http::ResponseHead head;
      http::ResponseFraming framing;
      auto r = http::parse_response_head(buffer.readable(), 65536, head, framing);
      if (r.status == http::ParseStatus::complete) {
        if (head.status >= 200 && head.status < 300) co_return "ok";
        co_return "status " + std::to_string(head.status);
      }
      if (r.status == http::ParseStatus::error) co_return std::string("bad response: ") + r.error_message;
      if (!buffer.prepare(4096, 70000)) co_return "response head too large";
      auto [rec, n] = co_await socket.async_read_some(net::buffer(buffer.write_ptr(), buffer.writable()), use_tuple);
      if (rec) co_return "closed before answering";
      buffer.commit(n);
    }
  };
  auto wait = [&]() -> net::awaitable<void> { co_await deadline.async_wait(use_tuple); };
  auto result = co_await (exchange() || wait());
  if (result.index() == 1) co_return "timeout";
  co_return std::get<0>(result);
}

}  // namespace

void HealthChecker::round() {
  if (stopped_) return;
  auto set = runtime_->instances();
  for (const Instance& inst : set->instances) {
    if (inst.state->checking) continue;  // a timeout longer than the interval must not pile checks up
    inst.state->checking = true;
    std::string host = config_.host.empty() ? inst.address : config_.host;
    std::string request = "GET " + config_.path + " HTTP/1.1\r\nHost: " + host +
                          "\r\nUser-Agent: portcullis-health-check\r\nConnection: close\r\n\r\n";
    auto self = shared_from_this();
    std::shared_ptr<InstanceState> state = inst.state;
    std::string address = inst.address;
    net::co_spawn(ioc_, check_once(inst.endpoint, std::move(request), config_.timeout),
                  [self, state, address](std::exception_ptr e, std::string result) {
                    state->checking = false;
                    if (self->stopped_ || e) return;
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
