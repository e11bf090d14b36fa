// Embedded Eureka-compatible registry: leases, status overrides, the delta queue and subscribers.
#include "discovery/embedded_registry.h"

#include <algorithm>

#include "util/log.h"

namespace portcullis::discovery {

namespace {

std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t steady_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr std::int64_t kMinuteMs = 60'000;

std::vector<DiscoveredInstance> discovered(const std::map<std::string, EurekaInstance>& instances) {
  std::vector<DiscoveredInstance> out;
  for (const auto& [id, i] : instances) {
    if (auto d = to_discovered(i)) out.push_back(std::move(*d));
    else log::warn("registry instance has no IP address; not routable", {{"app", i.app}, {"instance", id}});
  }
  return out;
}

}  // namespace

EmbeddedRegistry::EmbeddedRegistry(DiscoverySettings settings, Clock clock, Clock steady)
    : settings_(std::move(settings)),
      steady_(steady ? std::move(steady) : clock ? clock : Clock(steady_clock_ms)) {
  clock_ = clock ? std::move(clock) : Clock(wall_clock_ms);
  started_steady_ms_ = steady_();
  renewals_second_ = started_steady_ms_ / 1000;
}

EmbeddedRegistry::~EmbeddedRegistry() { stop(); }

void EmbeddedRegistry::configure(const DiscoverySettings& settings) {
  bool interval_changed = settings.eviction_interval != settings_.eviction_interval;
  settings_ = settings;
  if (interval_changed && timer_) arm_timer();
}

void EmbeddedRegistry::start(boost::asio::io_context& ioc) {
  timer_ = std::make_unique<boost::asio::steady_timer>(ioc);
  arm_timer();
}

void EmbeddedRegistry::stop() {
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
  if (timer_) timer_->cancel();
  timer_.reset();
}

void EmbeddedRegistry::arm_timer() {
  auto interval = settings_.eviction_interval;
  if (interval <= Duration::zero()) interval = std::chrono::seconds(1);
  timer_->expires_after(interval);
  timer_->async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    evict_expired();
    prune_changes();
    arm_timer();
  });
}

std::int64_t EmbeddedRegistry::lease_ms(const EurekaInstance& i) const {
  if (i.duration_secs > 0) return static_cast<std::int64_t>(i.duration_secs) * 1000;
  return std::chrono::duration_cast<std::chrono::milliseconds>(settings_.lease_duration).count();
}

std::uint64_t EmbeddedRegistry::subscribe(const std::string& app, Listener listener) {
  std::uint64_t token = next_token_++;
  std::string key = app_key(app);
  auto& sub = subscribers_[token] = Subscription{key, std::move(listener)};
  auto it = apps_.find(key);
  sub.listener(it == apps_.end() ? std::vector<DiscoveredInstance>{} : discovered(it->second));
  return token;
}

void EmbeddedRegistry::unsubscribe(std::uint64_t token) { subscribers_.erase(token); }

void EmbeddedRegistry::notify(const std::string& app) {
  auto it = apps_.find(app);
  std::vector<DiscoveredInstance> list = it == apps_.end() ? std::vector<DiscoveredInstance>{} : discovered(it->second);
  // Copied first: a listener may subscribe or unsubscribe while it runs.
  std::vector<Listener> listeners;
  for (const auto& [token, sub] : subscribers_)
    if (sub.app == app) listeners.push_back(sub.listener);
  for (const auto& l : listeners) l(list);
}

void EmbeddedRegistry::record(const EurekaInstance& instance, const char* action) {
  ++version_;
  Change c{clock_(), instance};
  c.instance.action_type = action;
  changes_.push_back(std::move(c));
  prune_changes();
}

void EmbeddedRegistry::prune_changes() {
  auto keep_ms = std::chrono::duration_cast<std::chrono::milliseconds>(delta_retention).count();
  std::int64_t now = clock_();
  while (!changes_.empty() && changes_.front().at_ms < now - keep_ms) changes_.pop_front();
}

EurekaInstance* EmbeddedRegistry::lookup(std::string_view app, std::string_view id) {
  auto a = apps_.find(app_key(app));
  if (a == apps_.end()) return nullptr;
  auto i = a->second.find(std::string(id));
  return i == a->second.end() ? nullptr : &i->second;
}

const EurekaInstance* EmbeddedRegistry::find(std::string_view app, std::string_view id) const {
  return const_cast<EmbeddedRegistry*>(this)->lookup(app, id);
}

const EurekaInstance* EmbeddedRegistry::find_instance(std::string_view id) const {
  for (const auto& [name, instances] : apps_)
    if (auto it = instances.find(std::string(id)); it != instances.end()) return &it->second;
  return nullptr;
}

EmbeddedRegistry::RegisterResult EmbeddedRegistry::register_instance(EurekaInstance instance) {
  std::int64_t now = clock_();
  const std::int64_t steady = steady_();
  instance.app = app_key(instance.app);
  instance.action_type.clear();
  EurekaInstance* existing = lookup(instance.app, instance.instance_id);
  if (!existing && size() >= settings_.max_registered_instances) {
    ++rejected_;
    if (rejection_logged_ms_ < 0 || steady - rejection_logged_ms_ >= kMinuteMs) {
      rejection_logged_ms_ = steady;
      log::warn("registry full: registration refused (discovery.max_registered_instances)",
                {{"app", instance.app}, {"instance", instance.instance_id}, {"refused", std::to_string(rejected_)}});
    }
    return RegisterResult::full;
  }
  instance.registered_steady_ms = existing ? existing->registered_steady_ms : steady;
  instance.renewed_steady_ms = steady;
  // The registry owns the lease timestamps and the override; the client's copies are ignored.
  instance.overridden_status = existing ? existing->overridden_status : std::nullopt;
  instance.registration_ts = existing ? existing->registration_ts : now;
  instance.service_up_ts = existing && existing->service_up_ts ? existing->service_up_ts
                           : instance.status == InstanceStatus::up ? now
                                                                   : 0;
  instance.last_renewal_ts = now;
  instance.eviction_ts = 0;
  instance.last_updated_ts = now;
  if (instance.last_dirty_ts == 0) instance.last_dirty_ts = now;
  const char* action = existing ? "MODIFIED" : "ADDED";
  if (!existing)
    log::info("registry instance registered", {{"app", instance.app}, {"instance", instance.instance_id},
                                               {"status", to_string(instance.effective_status())}});
  std::string app = instance.app;
  apps_[app][instance.instance_id] = instance;
  record(instance, action);
  notify(app);
  return RegisterResult::registered;
}

EmbeddedRegistry::RenewResult EmbeddedRegistry::renew(std::string_view app, std::string_view id,
                                                      std::optional<std::int64_t> last_dirty,
                                                      std::optional<InstanceStatus> status) {
  EurekaInstance* i = lookup(app, id);
  if (!i) return RenewResult::unknown;
  if (last_dirty && *last_dirty > i->last_dirty_ts) return RenewResult::unknown;
  const std::int64_t now = clock_();
  i->last_renewal_ts = now;
  i->renewed_steady_ms = steady_();
  count_renewal();
  if (status && *status != InstanceStatus::unknown && *status != i->status) {
    log::info("registry instance status changed by heartbeat",
              {{"app", i->app}, {"instance", i->instance_id}, {"status", to_string(*status)}});
    i->status = *status;
    if (*status == InstanceStatus::up && i->service_up_ts == 0) i->service_up_ts = now;
    i->last_updated_ts = now;
    std::string key = i->app;
    record(*i, "MODIFIED");
    notify(key);
  }
  return RenewResult::renewed;
}

namespace {
std::size_t ring_slot(std::int64_t second) { return static_cast<std::size_t>(((second % 60) + 60) % 60); }
}  // namespace

void EmbeddedRegistry::count_renewal() {
  // A clock that went back (an injected one) counts into the latest second seen.
  const std::int64_t second = std::max(steady_() / 1000, renewals_second_);
  if (second - renewals_second_ >= 60) renewals_.fill(0);
  else
    for (std::int64_t s = renewals_second_ + 1; s <= second; ++s) renewals_[ring_slot(s)] = 0;
  renewals_second_ = second;
  ++renewals_[ring_slot(second)];
}

std::uint64_t EmbeddedRegistry::renewals_last_minute() const {
  // The ring holds the seconds (renewals_second_ - 60, renewals_second_]; count those of the last minute.
  const std::int64_t second = steady_() / 1000;
  std::uint64_t total = 0;
  for (std::int64_t s = std::max(second - 59, renewals_second_ - 59); s <= std::min(second, renewals_second_); ++s)
    total += renewals_[ring_slot(s)];
  return total;
}

EmbeddedRegistry::Preservation EmbeddedRegistry::preservation() const {
  Preservation p;
  const std::int64_t now = steady_();
  p.renewals_last_minute = renewals_last_minute();
  std::uint64_t renewers = 0;
  for (const auto& [app, instances] : apps_)
    for (const auto& [id, i] : instances)
      if (now - i.registered_steady_ms >= kMinuteMs) {
        p.expected_per_minute += 60.0 / std::max(1u, i.renewal_interval_secs);
        ++renewers;
      }
  // A registry up for less than a minute has not seen a minute of renewals yet; in a small one
  // a single instance is a large share, and its death must not keep it in rotation.
  p.active = settings_.self_preservation && now - started_steady_ms_ >= kMinuteMs &&
             renewers >= settings_.self_preservation_min_instances &&
             static_cast<double>(p.renewals_last_minute) < settings_.renewal_percent_threshold * p.expected_per_minute;
  return p;
}

bool EmbeddedRegistry::cancel(std::string_view app, std::string_view id) {
  auto a = apps_.find(app_key(app));
  if (a == apps_.end()) return false;
  auto it = a->second.find(std::string(id));
  if (it == a->second.end()) return false;
  EurekaInstance gone = std::move(it->second);
  a->second.erase(it);
  std::string key = a->first;
  if (a->second.empty()) apps_.erase(a);
  log::info("registry instance cancelled", {{"app", key}, {"instance", gone.instance_id}});
  gone.last_updated_ts = clock_();
  record(gone, "DELETED");
  notify(key);
  return true;
}

bool EmbeddedRegistry::set_status_override(std::string_view app, std::string_view id, InstanceStatus status) {
  EurekaInstance* i = lookup(app, id);
  if (!i) return false;
  i->overridden_status = status;
  i->last_updated_ts = clock_();
  std::string key = i->app;
  record(*i, "MODIFIED");
  notify(key);
  return true;
}

bool EmbeddedRegistry::clear_status_override(std::string_view app, std::string_view id,
                                             std::optional<InstanceStatus> status) {
  EurekaInstance* i = lookup(app, id);
  if (!i) return false;
  i->overridden_status.reset();
  if (status && *status != InstanceStatus::unknown) i->status = *status;
  i->last_updated_ts = clock_();
  std::string key = i->app;
  record(*i, "MODIFIED");
  notify(key);
  return true;
}

bool EmbeddedRegistry::update_metadata(std::string_view app, std::string_view id,
                                       const std::map<std::string, std::string>& add) {
  EurekaInstance* i = lookup(app, id);
  if (!i) return false;
  for (const auto& [k, v] : add) i->metadata[k] = v;
  i->last_updated_ts = clock_();
  std::string key = i->app;
  record(*i, "MODIFIED");
  notify(key);
  return true;
}

std::size_t EmbeddedRegistry::evict_expired() {
  const Preservation p = preservation();
  if (p.active != preserving_) {
    preserving_ = p.active;
    const std::string renewals = std::to_string(p.renewals_last_minute);
    const std::string expected = std::to_string(static_cast<long long>(p.expected_per_minute));
    if (p.active)
      log::warn("registry self-preservation on: renewals fell below the threshold; leases do not expire",
                {{"renewals_last_minute", renewals}, {"expected_per_minute", expected}});
    else
      log::info("registry self-preservation off: renewals recovered",
                {{"renewals_last_minute", renewals}, {"expected_per_minute", expected}});
  }
  if (p.active) return 0;
  const std::int64_t now = steady_();
  std::vector<std::pair<std::string, std::string>> expired;
  for (const auto& [app, instances] : apps_)
    for (const auto& [id, i] : instances)
      if (now - i.renewed_steady_ms > lease_ms(i)) expired.emplace_back(app, id);
  for (const auto& [app, id] : expired) {
    log::info("registry lease expired", {{"app", app}, {"instance", id}});
    cancel(app, id);
  }
  return expired.size();
}

EurekaApplications EmbeddedRegistry::applications() const {
  EurekaApplications out;
  out.versions_delta = std::to_string(version_);
  out.apps_hashcode = hashcode();
  for (const auto& [name, instances] : apps_) {
    EurekaApplication app{name, {}};
    for (const auto& [id, i] : instances) app.instances.push_back(i);
    out.applications.push_back(std::move(app));
  }
  return out;
}

std::optional<EurekaApplication> EmbeddedRegistry::application(std::string_view app) const {
  auto it = apps_.find(app_key(app));
  if (it == apps_.end()) return std::nullopt;
  EurekaApplication out{it->first, {}};
  for (const auto& [id, i] : it->second) out.instances.push_back(i);
  return out;
}

EurekaApplications EmbeddedRegistry::delta() {
  prune_changes();
  EurekaApplications out;
  out.versions_delta = std::to_string(version_);
  out.apps_hashcode = hashcode();
  // The latest change per instance is enough: clients apply a delta as "the state is now this".
  std::map<std::string, std::map<std::string, const EurekaInstance*>> latest;
  for (const Change& c : changes_) latest[c.instance.app][c.instance.instance_id] = &c.instance;
  for (const auto& [name, instances] : latest) {
    EurekaApplication app{name, {}};
    for (const auto& [id, i] : instances) app.instances.push_back(*i);
    out.applications.push_back(std::move(app));
  }
  return out;
}

std::string EmbeddedRegistry::hashcode() const {
  std::vector<const EurekaInstance*> all;
  for (const auto& [name, instances] : apps_)
    for (const auto& [id, i] : instances) all.push_back(&i);
  return reconcile_hashcode(all);
}

std::size_t EmbeddedRegistry::size() const {
  std::size_t n = 0;
  for (const auto& [name, instances] : apps_) n += instances.size();
  return n;
}

}  // namespace portcullis::discovery
