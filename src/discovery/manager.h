// Discovery on the control thread: one provider and one health checker per service, reconciled
// with each published config snapshot, plus the embedded registry. Providers whose settings did
// not change keep running across reloads, so a reload never empties a service.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.h"
#include "discovery/instance.h"
#include "observability/metrics.h"

namespace portcullis {
struct Snapshot;
}

namespace portcullis::discovery {

class EmbeddedRegistry;
class Provider;
class HealthChecker;
class ServiceRuntime;

class Discovery {
 public:
  Discovery(boost::asio::io_context& control, observability::Registry& metrics, observability::Shard& shard);
  ~Discovery();

  // Starts, keeps or replaces providers and health checkers to match `snap`. Control thread.
  void reconcile(const Snapshot& snap);
  void stop();
  EmbeddedRegistry* registry() { return registry_.get(); }

 private:
  struct Entry {
    DiscoveryConfig config;
    std::vector<DiscoveredInstance> static_instances;
    std::unique_ptr<Provider> provider;
    std::optional<HealthCheckConfig> health;
    std::shared_ptr<HealthChecker> checker;
  };
  void upkeep();
  void registry_gauges();

  boost::asio::io_context& ioc_;
  observability::Registry& metrics_;
  observability::Shard& shard_;
  std::unique_ptr<EmbeddedRegistry> registry_;
  bool registry_started_ = false;
  bool registry_decided_ = false;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::shared_ptr<ServiceRuntime>> runtimes_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
  // The embedded registry's state, published every second.
  observability::GaugeId self_preservation_, renewals_, expected_renewals_, registered_;
  observability::CounterId rejected_;
  std::uint64_t rejected_published_ = 0;
};

// Active health checks for one service: GET `path` on every instance each `interval`; an
// instance leaves rotation after `unhealthy` failures in a row and returns after `healthy` passes.
class HealthChecker : public std::enable_shared_from_this<HealthChecker> {
 public:
  HealthChecker(boost::asio::io_context& ioc, std::shared_ptr<ServiceRuntime> runtime, HealthCheckConfig config,
                observability::Registry& metrics);
  void start();
  void stop();
  // Checks go over TLS, with the service's settings, when the service is reached over TLS.
  void set_tls(std::shared_ptr<const tls::ClientContext> tls) { tls_ = std::move(tls); }

 private:
  void round();

  boost::asio::io_context& ioc_;
  std::shared_ptr<ServiceRuntime> runtime_;
  HealthCheckConfig config_;
  std::shared_ptr<const tls::ClientContext> tls_;
  boost::asio::steady_timer timer_;
  observability::CounterId passed_, failed_;
  observability::Registry& metrics_;
  bool stopped_ = false;
};

}  // namespace portcullis::discovery
