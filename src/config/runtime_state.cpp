// The state that outlives reloads (see runtime_state.h).
#include "config/runtime_state.h"

#include "canary/canary.h"
#include "discovery/service_runtime.h"
#include "observability/access_log.h"
#include "protection/gate.h"

namespace portcullis {
namespace {

template <typename T, typename Make>
std::shared_ptr<T> find_or_make(std::map<std::string, std::shared_ptr<T>>& table, const std::string& key, Make&& make) {
  std::shared_ptr<T>& slot = table[key];
  if (!slot) slot = make();
  return slot;
}

}  // namespace

RuntimeState::RuntimeState(observability::Registry& metrics)
    : metrics_(metrics),
      instance_ids_(std::make_shared<discovery::InstanceIds>()),
      gateway_gate_(std::make_shared<protection::Gate>()) {}

RuntimeState::~RuntimeState() = default;

std::shared_ptr<discovery::ServiceRuntime> RuntimeState::service(const std::string& name) {
  std::lock_guard lock(mutex_);
  return find_or_make(services_, name,
                      [&] { return std::make_shared<discovery::ServiceRuntime>(name, next_service_id_++, metrics_, instance_ids_);
                      });
}

std::vector<std::shared_ptr<discovery::ServiceRuntime>> RuntimeState::services() {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<discovery::ServiceRuntime>> out;
  out.reserve(services_.size());
  for (const auto& [_, runtime] : services_) out.push_back(runtime);
  return out;
}

std::shared_ptr<canary::RouteCanary> RuntimeState::canary(const std::string& route_id) {
  std::lock_guard lock(mutex_);
  return find_or_make(canaries_, route_id, [&] { return std::make_shared<canary::RouteCanary>(route_id, metrics_); });
}

std::shared_ptr<protection::Gate> RuntimeState::route_gate(const std::string& route_id) {
  std::lock_guard lock(mutex_);
  return find_or_make(route_gates_, route_id, [] { return std::make_shared<protection::Gate>(); });
}

std::shared_ptr<std::atomic<std::int64_t>> RuntimeState::mirror_in_flight(const std::string& route_id) {
  std::lock_guard lock(mutex_);
  return find_or_make(mirror_in_flight_, route_id, [] { return std::make_shared<std::atomic<std::int64_t>>(0); });
}

std::shared_ptr<observability::LogSink> RuntimeState::access_log(const std::string& path, std::string& error) {
  std::lock_guard lock(mutex_);
  const std::string key = path.empty() ? "-" : path;
  if (auto existing = access_logs_[key].lock()) return existing;
  auto sink = observability::LogSink::open(key, error);
  if (sink) access_logs_[key] = sink;
  std::erase_if(access_logs_, [](const auto& entry) { return entry.second.expired(); });
  return sink;
}

void RuntimeState::flush_access_logs(unsigned worker) {
  std::vector<std::shared_ptr<observability::LogSink>> live;
  {
    std::lock_guard lock(mutex_);
    for (auto& [_, weak] : access_logs_)
      if (auto sink = weak.lock()) live.push_back(std::move(sink));
  }
  for (auto& sink : live) sink->flush(worker);
}

void RuntimeState::reopen_access_logs() {
  std::lock_guard lock(mutex_);
  for (auto& [_, weak] : access_logs_)
    if (auto sink = weak.lock()) sink->reopen();
}

}  // namespace portcullis
