// What outlives a reload, in one place. A reload compiles a new Snapshot from the new config; each
// piece of state here that the new config still names (a service, a route, a rate-limit table, a
// JWKS URL, an access-log file) is handed to the new snapshot as it is, so balancer cursors,
// breakers, bulkheads, canary percentages, buckets, fetched keys and open log files carry on, and
// requests still running on the old snapshot leave the same counters they entered.
//
// The server owns one for the process's life and hands it to compile_snapshot; `portcullis
// validate` and the tests make their own. Looked up on the control thread while a snapshot is
// compiled (one lock, never on the request path).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

namespace observability {
class Registry;
class LogSink;
}  // namespace observability
namespace discovery {
class ServiceRuntime;
class InstanceIds;
}  // namespace discovery
namespace canary { class RouteCanary; }
namespace protection { class Gate; }

class RuntimeState {
 public:
  explicit RuntimeState(observability::Registry& metrics);
  ~RuntimeState();
  RuntimeState(const RuntimeState&) = delete;
  RuntimeState& operator=(const RuntimeState&) = delete;

  observability::Registry& metrics() const { return metrics_; }

  // Kept for the process's life, by name.
  std::shared_ptr<discovery::ServiceRuntime> service(const std::string& name);   // cursor, breaker, bulkhead, instances
  std::shared_ptr<canary::RouteCanary> canary(const std::string& route_id);       // percent, ramp, pin, verdicts
  std::shared_ptr<protection::Gate> route_gate(const std::string& route_id);      // route max_concurrent_requests
  std::shared_ptr<std::atomic<std::int64_t>> mirror_in_flight(const std::string& route_id);
  std::vector<std::shared_ptr<discovery::ServiceRuntime>> services();  // every one made so far
  const std::shared_ptr<protection::Gate>& gateway_gate() const { return gateway_gate_; }  // shedding.max_concurrent_requests

  // Access-log files by path ("" or "-" = stdout), shared by every access_log filter naming one and
  // kept while one does. Null with `error` set when the file cannot be opened.
  std::shared_ptr<observability::LogSink> access_log(const std::string& path, std::string& error);
  void flush_access_logs(unsigned worker);  // each worker's flush timer, and at its exit
  void reopen_access_logs();                // SIGUSR1 (log rotation), on the control thread

  // Other state a filter keeps across reloads (rate-limit buckets, JWKS fetchers), by kind and
  // key: the live object while some filter holds it, else the one `make` returns. Held weakly, so
  // state no filter uses any more goes with its last filter.
  template <typename T>
  std::shared_ptr<T> filter_state(std::string_view kind, const std::string& key,
                                  const std::function<std::shared_ptr<T>()>& make) {
    std::lock_guard lock(mutex_);
    std::weak_ptr<void>& slot = filter_state_[std::string(kind) + '\n' + key];
    if (auto live = slot.lock()) return std::static_pointer_cast<T>(live);
    std::shared_ptr<T> made = make();
    slot = made;
    std::erase_if(filter_state_, [](const auto& entry) { return entry.second.expired(); });
    return made;
  }

  // The same, kept for the process's life once made (the lua filters' VMs and script records,
  // which /admin/filters shows even while no filter uses a script).
  template <typename T>
  std::shared_ptr<T> kept_state(std::string_view kind, const std::function<std::shared_ptr<T>()>& make) {
    std::lock_guard lock(mutex_);
    std::shared_ptr<void>& slot = kept_state_[std::string(kind)];
    if (!slot) slot = make();
    return std::static_pointer_cast<T>(slot);
  }
  template <typename T>
  std::shared_ptr<T> find_kept_state(std::string_view kind) {
    std::lock_guard lock(mutex_);
    auto it = kept_state_.find(std::string(kind));
    return it == kept_state_.end() ? nullptr : std::static_pointer_cast<T>(it->second);
  }

 private:
  observability::Registry& metrics_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<discovery::ServiceRuntime>> services_;
  std::uint32_t next_service_id_ = 0;
  std::shared_ptr<discovery::InstanceIds> instance_ids_;  // one numbering for every service
  std::map<std::string, std::shared_ptr<canary::RouteCanary>> canaries_;
  std::map<std::string, std::shared_ptr<protection::Gate>> route_gates_;
  std::map<std::string, std::shared_ptr<std::atomic<std::int64_t>>> mirror_in_flight_;
  std::shared_ptr<protection::Gate> gateway_gate_;
  std::map<std::string, std::weak_ptr<observability::LogSink>> access_logs_;
  std::map<std::string, std::weak_ptr<void>> filter_state_;
  std::map<std::string, std::shared_ptr<void>> kept_state_;
};

}  // namespace portcullis
