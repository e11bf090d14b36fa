// `registry` discovery: the service's instances are those registered with the gateway's own
// embedded Eureka registry (under discovery.app, default the service name; case-insensitive).
#include <memory>

#include "discovery/embedded_registry.h"
#include "discovery/provider.h"
#include "discovery/service_runtime.h"
#include "util/log.h"

namespace portcullis::discovery {

namespace {

class RegistryProvider final : public Provider {
 public:
  explicit RegistryProvider(ProviderContext ctx) : ctx_(std::move(ctx)) {}
  ~RegistryProvider() override { stop(); }

  void start() override {
    const std::string app = ctx_.service.discovery.app.empty() ? ctx_.service.name : ctx_.service.discovery.app;
    if (!ctx_.registry) {
      // Nothing will ever register: say so on every start rather than serve an empty service quietly.
      ctx_.runtime->refresh_failed("registry", "the embedded registry is disabled (discovery.registry_enabled: false)");
      return;
    }
    // The registry calls back synchronously on this (the control) thread, so the runtime is safe.
    token_ = ctx_.registry->subscribe(app, [runtime = ctx_.runtime](const std::vector<DiscoveredInstance>& list) {
      runtime->publish(list, "registry");
    });
    subscribed_ = true;
  }

  void stop() override {
    if (subscribed_ && ctx_.registry) ctx_.registry->unsubscribe(token_);
    subscribed_ = false;
  }

 private:
  ProviderContext ctx_;
  std::uint64_t token_ = 0;
  bool subscribed_ = false;
};

}  // namespace

std::unique_ptr<Provider> make_registry_provider(ProviderContext ctx) {
  return std::make_unique<RegistryProvider>(std::move(ctx));
}

}  // namespace portcullis::discovery
