// Discovery providers: where a service's instances come from. Each provider runs on the control
// thread's io_context and publishes complete instance lists to its service's runtime; the data
// path only ever reads the immutable sets those publications produce.
#pragma once
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "config/config.h"

namespace portcullis::discovery {

class ServiceRuntime;
class EmbeddedRegistry;

class Provider {
 public:
  virtual ~Provider() = default;
  // Called once on the control thread. Must not block: all I/O is asynchronous.
  virtual void start() = 0;
  // Cancels timers and connections. Pending handlers may still run afterwards and must find the
  // provider stopped (hold state in a shared_ptr and check a flag).
  virtual void stop() = 0;
};

struct ProviderContext;

// A provider whose work lives in a shared object (Work: start(), stop(), built from a
// ProviderContext), so handlers still pending after stop() keep it alive and find it stopped.
template <class Work>
class SharedWorkProvider final : public Provider {
 public:
  explicit SharedWorkProvider(ProviderContext ctx);
  ~SharedWorkProvider() override { work_->stop(); }
  void start() override { work_->start(); }
  void stop() override { work_->stop(); }

 private:
  std::shared_ptr<Work> work_;
};

struct ProviderContext {
  boost::asio::io_context& ioc;                // the control thread's
  std::shared_ptr<ServiceRuntime> runtime;     // publish() / refresh_failed() go here
  ServiceConfig service;                       // a copy: the provider may outlive the snapshot
  EmbeddedRegistry* registry = nullptr;        // null when the embedded registry is disabled
};

template <class Work>
SharedWorkProvider<Work>::SharedWorkProvider(ProviderContext ctx) : work_(std::make_shared<Work>(std::move(ctx))) {}

// Factories, one per provider type (static, registry, eureka, etcd, dns).
std::unique_ptr<Provider> make_static_provider(ProviderContext ctx);
std::unique_ptr<Provider> make_registry_provider(ProviderContext ctx);
std::unique_ptr<Provider> make_eureka_provider(ProviderContext ctx);
std::unique_ptr<Provider> make_etcd_provider(ProviderContext ctx);
std::unique_ptr<Provider> make_dns_provider(ProviderContext ctx);

}  // namespace portcullis::discovery
