// The embedded Eureka-compatible registry served on the admin listener (/eureka/apps/...).
// Control thread only: the admin server and the providers share that thread, so no lock.
//
// Instances register with a lease (durationInSecs, default DiscoverySettings::lease_duration) and
// renew it with heartbeats; an eviction timer removes those that stopped renewing, counting on the
// steady clock. Every change is kept for a few minutes in a queue that GET /eureka/apps/delta
// answers from, as Eureka does. Eureka's self-preservation: when the renewals of the last minute
// fall below renewal_percent_threshold of those expected (a network partition rather than every
// instance dying at once), leases stop expiring until renewals recover. New instances beyond
// max_registered_instances are refused.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.h"
#include "discovery/eureka_codec.h"
#include "discovery/instance.h"

namespace portcullis::discovery {

class EmbeddedRegistry {
 public:
  using Listener = std::function<void(const std::vector<DiscoveredInstance>&)>;
  // Milliseconds; Eureka's timestamps are wall-clock (since the epoch), lease expiry and
  // self-preservation use a steady clock. Injectable for tests: an injected wall clock drives
  // the steady side too unless a steady clock is given as well.
  using Clock = std::function<std::int64_t()>;

  explicit EmbeddedRegistry(DiscoverySettings settings = {}, Clock clock = {}, Clock steady = {});
  virtual ~EmbeddedRegistry();
  EmbeddedRegistry(const EmbeddedRegistry&) = delete;
  EmbeddedRegistry& operator=(const EmbeddedRegistry&) = delete;

  // Applies new settings (lease default, eviction interval) on reload; running leases keep theirs.
  void configure(const DiscoverySettings& settings);
  // Starts the eviction timer on the control thread's io_context; stop() cancels it.
  void start(boost::asio::io_context& ioc);
  void stop();

  // Registers a listener for one application (name compared case-insensitively); it is called at
  // once with the current instances and again on every change. Returns a token for unsubscribe.
  std::uint64_t subscribe(const std::string& app, Listener listener);
  void unsubscribe(std::uint64_t token);

  // ---- Eureka operations (the HTTP mapping is in eureka_admin.cpp) ----
  // Adds or replaces an instance; a status override set earlier survives re-registration. A new
  // instance is refused when the registry holds max_registered_instances.
  enum class RegisterResult { registered, full };
  RegisterResult register_instance(EurekaInstance instance);
  enum class RenewResult { renewed, unknown };
  // Heartbeat. `last_dirty` is the client's lastDirtyTimestamp: newer than ours means the client
  // changed since it registered, so it is told "unknown" and re-registers (Eureka's behaviour).
  // `status` is the status the client reports with it: a change is applied (an override still
  // wins) and published like any other change.
  RenewResult renew(std::string_view app, std::string_view id, std::optional<std::int64_t> last_dirty = {},
                    std::optional<InstanceStatus> status = {});
  bool cancel(std::string_view app, std::string_view id);
  bool set_status_override(std::string_view app, std::string_view id, InstanceStatus status);
  // Removes the override; the instance returns to `status` when given, else to what it reported.
  bool clear_status_override(std::string_view app, std::string_view id, std::optional<InstanceStatus> status);
  bool update_metadata(std::string_view app, std::string_view id, const std::map<std::string, std::string>& add);
  // Removes every instance whose lease ran out, unless self-preservation holds them; returns how
  // many. The timer calls it.
  std::size_t evict_expired();

  struct Preservation {
    bool active = false;
    std::uint64_t renewals_last_minute = 0;
    double expected_per_minute = 0;  // from instances registered for a minute at least
  };
  Preservation preservation() const;
  std::uint64_t rejected_registrations() const { return rejected_; }

  // ---- reads ----
  const EurekaInstance* find(std::string_view app, std::string_view id) const;
  const EurekaInstance* find_instance(std::string_view id) const;  // any application
  EurekaApplications applications() const;
  std::optional<EurekaApplication> application(std::string_view app) const;
  // Changes of the last `delta_retention` as Eureka's /apps/delta, with the full registry's hash.
  EurekaApplications delta();
  std::string hashcode() const;
  std::size_t size() const;
  std::int64_t now_ms() const { return clock_(); }

  static constexpr std::chrono::minutes delta_retention{3};  // Eureka's retentionTimeInMSInDeltaQueue

 private:
  struct Change {
    std::int64_t at_ms;
    EurekaInstance instance;  // as it was after the change (before, for DELETED), with actionType
  };
  using Instances = std::map<std::string, EurekaInstance>;  // by instance id

  EurekaInstance* lookup(std::string_view app, std::string_view id);
  void record(const EurekaInstance& instance, const char* action);
  void notify(const std::string& app);
  void prune_changes();
  void arm_timer();
  std::int64_t lease_ms(const EurekaInstance& i) const;
  void count_renewal();
  std::uint64_t renewals_last_minute() const;

  DiscoverySettings settings_;
  Clock clock_;
  Clock steady_;
  std::int64_t started_steady_ms_ = 0;
  // Renewals per second of the last minute, a ring indexed by steady second.
  std::array<std::uint32_t, 60> renewals_{};
  std::int64_t renewals_second_ = 0;
  bool preserving_ = false;
  std::uint64_t rejected_ = 0;
  std::int64_t rejection_logged_ms_ = -1;
  std::map<std::string, Instances> apps_;  // by app_key()
  std::deque<Change> changes_;
  std::uint64_t version_ = 0;
  struct Subscription {
    std::string app;
    Listener listener;
  };
  std::map<std::uint64_t, Subscription> subscribers_;
  std::uint64_t next_token_ = 1;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // timer handlers outlive stop()
};

}  // namespace portcullis::discovery
