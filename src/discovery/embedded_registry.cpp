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

std::vector<DiscoveredInstance> discovered(const std::map<std::string, EurekaInstance>& instances) {
  std::vector<DiscoveredInstance> out;
  for (const auto& [id, i] : instances) {
    if (auto d = to_discovered(i)) out.push_back(std::move(*d));
    else log::warn("registry instance has no IP address; not routable", {{"app", i.app}, {"instance", id}});
  }
  return out;
}

}  // namespace

EmbeddedRegistry::EmbeddedRegistry(DiscoverySettings settings, Clock clock)
    : settings_(std::move(settings)), clock_(clock ? std::move(clock) : Clock(wall_clock_ms)) {}

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

void EmbeddedRegistry::register_instance(EurekaInstance instance) {
  std::int64_t now = clock_();
  instance.app = app_key(instance.app);
  instance.action_type.clear();
  EurekaInstance* existing = lookup(instance.app, instance.instance_id);
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
}

EmbeddedRegistry::RenewResult EmbeddedRegistry::renew(std::string_view app, std::string_view id,
                                                      std::optional<std::int64_t> last_dirty) {
  EurekaInstance* i = lookup(app, id);
  if (!i) return RenewResult::unknown;
  if (last_dirty && *last_dirty > i->last_dirty_ts) return RenewResult::unknown;
  i->last_renewal_ts = clock_();
  return RenewResult::renewed;
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
  std::int64_t now = clock_();
  std::vector<std::pair<std::string, std::string>> expired;
  for (const auto& [app, instances] : apps_)
    for (const auto& [id, i] : instances)
      if (now - i.last_renewal_ts > lease_ms(i)) expired.emplace_back(app, id);
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
