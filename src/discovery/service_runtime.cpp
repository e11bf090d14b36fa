// Instance-set publication, Maglev table, circuit breaker, retry budget and outlier ejection.
#include "discovery/service_runtime.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "util/clock.h"
#include "util/log.h"

namespace portcullis::discovery {
namespace {

std::uint64_t mix64(std::uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t hash_text(std::string_view text, std::uint64_t seed) {
  std::uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
  return mix64(h);
}

bool is_prime(std::uint64_t n) {
  if (n < 2) return false;
  for (std::uint64_t d = 2; d * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}

// Maglev (Eisenbud et al., NSDI 2016): each instance fills table slots in the order of its own
// permutation, round-robin across instances, so every instance owns ~M/N slots and a leaving
// instance's slots are mostly taken over without moving anyone else's.
std::vector<std::uint32_t> build_maglev(const std::vector<Instance>& instances, const std::vector<std::uint32_t>& up) {
  if (up.empty()) return {};
  std::uint64_t m = std::max<std::uint64_t>(65537, up.size() * 100);
  m = std::min<std::uint64_t>(m, 5'000'011);
  while (!is_prime(m)) ++m;
  std::vector<std::uint64_t> offset(up.size()), skip(up.size()), next(up.size(), 0);
  for (std::size_t i = 0; i < up.size(); ++i) {
    const std::string& key = instances[up[i]].address;
    offset[i] = hash_text(key, 0x5bd1e995) % m;
    skip[i] = hash_text(key, 0x9e3779b97f4a7c15ULL) % (m - 1) + 1;
  }
  std::vector<std::uint32_t> table(m, UINT32_MAX);
  std::uint64_t filled = 0;
  while (true) {
    for (std::size_t i = 0; i < up.size(); ++i) {
      std::uint64_t c = (offset[i] + next[i] * skip[i]) % m;
      while (table[c] != UINT32_MAX) {
        ++next[i];
        c = (offset[i] + next[i] * skip[i]) % m;
      }
      table[c] = up[i];
      ++next[i];
      if (++filled == m) return table;
    }
  }
}

}  // namespace

std::string_view to_string(CircuitState s) {
  switch (s) {
    case CircuitState::closed: return "closed";
    case CircuitState::open: return "open";
    case CircuitState::half_open: return "half_open";
  }
  return "closed";
}

std::uint32_t InstanceIds::acquire(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = ids_.try_emplace(address);
  if (inserted) {
    if (free_.empty()) {
      it->second.id = next_++;
    } else {
      it->second.id = free_.back();
      free_.pop_back();
    }
  }
  ++it->second.holders;
  return it->second.id;
}

void InstanceIds::release(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto it = ids_.find(address);
  if (it == ids_.end() || --it->second.holders > 0) return;
  free_.push_back(it->second.id);
  ids_.erase(it);
}

std::size_t InstanceIds::size() const {
  std::lock_guard lock(mutex_);
  return ids_.size();
}

// ---- RollingCounter ----

void RollingCounter::add(std::int64_t now_sec, unsigned which, std::uint64_t n) {
  Bucket& b = buckets_[static_cast<std::uint64_t>(now_sec) % buckets];
  std::int64_t seen = b.second.load(std::memory_order_relaxed);
  if (seen != now_sec && seen < now_sec && b.second.compare_exchange_strong(seen, now_sec)) {
    b.count[0].store(0, std::memory_order_relaxed);
    b.count[1].store(0, std::memory_order_relaxed);
  }
  b.count[which].fetch_add(n, std::memory_order_relaxed);
}

std::uint64_t RollingCounter::sum(std::int64_t now_sec, unsigned which, unsigned seconds) const {
  std::uint64_t total = 0;
  for (unsigned i = 0; i < std::min(seconds, buckets); ++i) {
    const Bucket& b = buckets_[static_cast<std::uint64_t>(now_sec - i) % buckets];
    if (b.second.load(std::memory_order_relaxed) == now_sec - static_cast<std::int64_t>(i))
      total += b.count[which].load(std::memory_order_relaxed);
  }
  return total;
}

void RollingCounter::reset() {
  for (auto& b : buckets_) b.second.store(-1, std::memory_order_relaxed);
}

// ---- ServiceRuntime ----

ServiceRuntime::ServiceRuntime(std::string name, std::uint32_t id, observability::Registry& metrics,
                               std::shared_ptr<InstanceIds> ids)
    : name_(std::move(name)), id_(id), registry_(metrics), ids_(ids ? std::move(ids) : std::make_shared<InstanceIds>()) {
  const observability::Labels service{{"service", name_}};
  auto with = [&](const char* key, const char* value) {
    observability::Labels l = service;
    l.emplace_back(key, value);
    return l;
  };
  metrics_.retries = metrics.counter("portcullis_upstream_retries_total", "Retries sent to upstream instances.", service);
  metrics_.retry_budget_exhausted = metrics.counter(
      "portcullis_upstream_retry_budget_exhausted_total", "Retries not sent because the retry budget was spent.", service);
  metrics_.circuit_open_rejections = metrics.counter(
      "portcullis_upstream_rejected_total", "Requests failed fast without reaching an instance, by reason.",
      with("reason", "circuit_open"));
  metrics_.bulkhead_rejections = metrics.counter(
      "portcullis_upstream_rejected_total", "Requests failed fast without reaching an instance, by reason.",
      with("reason", "max_concurrent_requests"));
  metrics_.ejections = metrics.counter("portcullis_outlier_ejections_total",
                                       "Instances taken out of rotation by outlier detection.", service);
  metrics_.refresh_failures = metrics.counter("portcullis_registry_refresh_failures_total",
                                              "Discovery refreshes that failed; the last known instances stayed.", service);
  metrics_.registry_updates = metrics.counter("portcullis_registry_updates_total",
                                              "Changed instance lists published by discovery.", service);
  metrics_.panic_picks = metrics.counter(
      "portcullis_lb_panic_total", "Picks made while no instance was available (health ignored).", service);
  const char* states[] = {"closed", "open", "half_open"};
  for (int i = 0; i < 3; ++i)
    metrics_.circuit_transitions[i] = metrics.counter(
        "portcullis_circuit_transitions_total", "Circuit breaker state changes, by the state entered.", with("state", states[i]));
  const char* inst_states[] = {"available", "unhealthy", "ejected", "not_up"};
  for (int i = 0; i < 4; ++i)
    metrics_.instances_by_state[i] =
        metrics.gauge("portcullis_service_instances", "Instances per service, by state.", with("state", inst_states[i]));
  set_.store(std::make_shared<const InstanceSet>());
}

void ServiceRuntime::configure(const ServiceConfig& config, const std::string& gateway_zone) {
  const std::string zone = config.zone_aware ? gateway_zone : std::string();
  if (config.lb == lb_ && config.zone_aware == zone_aware_ && zone == zone_) return;
  lb_ = config.lb;
  zone_aware_ = config.zone_aware;
  zone_ = zone;
  rebuild();
}

void ServiceRuntime::publish(const std::vector<DiscoveredInstance>& instances, std::string_view source) {
  if (stale_.exchange(false, std::memory_order_relaxed))
    log::info("discovery recovered", {{"service", name_}, {"source", std::string(source)}});
  if (instances == last_ && generation_.load() != 0) return;  // a poll that found nothing new
  registry_.shard(registry_.shard_count() - 1).inc(metrics_.registry_updates);
  last_ = instances;
  rebuild();
}

void ServiceRuntime::refresh_failed(std::string_view source, std::string_view message) {
  registry_.shard(registry_.shard_count() - 1).inc(metrics_.refresh_failures);
  refresh_failures_.fetch_add(1, std::memory_order_relaxed);
  if (!stale_.exchange(true, std::memory_order_relaxed))
    log::warn("discovery refresh failed; keeping the last known instances",
              {{"service", name_}, {"source", std::string(source)}, {"error", std::string(message)},
               {"instances", std::to_string(last_.size())}});
}

void ServiceRuntime::rebuild() {
  auto set = std::make_shared<InstanceSet>();
  set->generation = generation_.load(std::memory_order_relaxed) + 1;
  std::unordered_set<std::string> seen_addresses;
  std::map<std::string, std::shared_ptr<InstanceState>> states;
  for (const DiscoveredInstance& d : last_) {
    Instance inst;
    if (!parse_ip(d.host, d.port, inst.endpoint) || d.port == 0) {
      log::warn("discovery reported an instance without a usable IP address; ignored",
                {{"service", name_}, {"host", d.host}, {"port", std::to_string(d.port)}});
      continue;
    }
    inst.address = format_address(inst.endpoint);
    if (!seen_addresses.insert(inst.address).second) continue;  // the first report of an address wins
    inst.instance_id = d.id.empty() ? inst.address : d.id;
    inst.status = d.status;
    inst.zone = d.zone;
    inst.weight = std::max(1u, d.weight);
    inst.metadata = d.metadata;
    const std::string key = inst.instance_id + "@" + inst.address;
    auto found = states_.find(key);
    inst.state = found != states_.end() ? found->second : std::make_shared<InstanceState>();
    states[key] = inst.state;
    Address& record = address_record(inst.address);
    inst.id = record.id;
    inst.metrics = record.metrics;
    inst.kept = record.token;
    set->instances.push_back(std::move(inst));
  }
  states_ = std::move(states);
  const std::int64_t now = steady_now_ns();
  for (auto& [address, record] : addresses_) {
    if (record.gone_since != 0 || seen_addresses.count(address)) continue;
    record.gone_since = std::max<std::int64_t>(now, 1);
    record.token.reset();  // only the sets that still have the address hold it now
  }
  for (std::uint32_t i = 0; i < set->instances.size(); ++i) {
    const Instance& inst = set->instances[i];
    if (inst.status != InstanceStatus::up) continue;
    set->up.push_back(i);
    if (inst.weight != 1) set->weighted = true;
    if (!zone_.empty() && inst.zone == zone_) set->local.push_back(i);
  }
  if (lb_ == "consistent_hash") set->maglev = build_maglev(set->instances, set->up);
  const std::uint64_t generation = set->generation;
  log::info("instances published", {{"service", name_},
                                     {"instances", std::to_string(set->instances.size())},
                                     {"up", std::to_string(set->up.size())},
                                     {"generation", std::to_string(generation)}});
  set_.store(std::move(set), std::memory_order_release);
  generation_.store(generation, std::memory_order_release);
}

ServiceRuntime::Address& ServiceRuntime::address_record(const std::string& address) {
  auto [it, inserted] = addresses_.try_emplace(address);
  Address& record = it->second;
  if (inserted) {
    record.id = ids_->acquire(address);
    observability::Labels labels{{"service", name_}, {"instance", address}};
    record.metrics.pool_idle = registry_.gauge("portcullis_upstream_pool_idle_connections",
                                               "Idle keep-alive connections in the upstream pools.", labels);
    record.metrics.pool_active = registry_.gauge("portcullis_upstream_pool_active_connections",
                                                 "Upstream connections carrying a request.", labels);
    const char* classes[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 6; ++i) {
      observability::Labels l = labels;
      l.emplace_back("code_class", classes[i]);
      record.metrics.requests[i] = registry_.counter(
          "portcullis_upstream_requests_total", "Requests sent to upstream instances, by response class (none = no response).", l);
    }
  }
  if (!record.token) {
    // Back before it was forgotten: sets still holding the old token keep it, which is harmless.
    record.token = record.watch.lock();
    if (!record.token) record.token = std::make_shared<int>(0);
    record.watch = record.token;
  }
  record.gone_since = 0;
  return record;
}

std::vector<std::string> ServiceRuntime::departed(std::int64_t now_ns, std::chrono::nanoseconds after,
                                                  bool& waiting) const {
  std::vector<std::string> out;
  for (const auto& [address, record] : addresses_) {
    if (record.gone_since == 0 || now_ns - record.gone_since < after.count()) continue;
    if (record.watch.expired()) out.push_back(address);
    else waiting = true;  // a worker's cached set or a request in flight still has it
  }
  return out;
}

std::uint32_t ServiceRuntime::instance_id(const std::string& address) const {
  auto it = addresses_.find(address);
  return it == addresses_.end() ? UINT32_MAX : it->second.id;
}

void ServiceRuntime::forget(const std::string& address, std::int64_t departed_by) {
  auto it = addresses_.find(address);
  if (it == addresses_.end() || it->second.gone_since == 0 || it->second.gone_since > departed_by ||
      !it->second.watch.expired())
    return;
  const InstanceMetrics& m = it->second.metrics;
  registry_.remove(m.pool_idle);
  registry_.remove(m.pool_active);
  for (const auto& counter : m.requests) registry_.remove(counter);
  ids_->release(address);
  addresses_.erase(it);
  log::info("departed instance forgotten", {{"service", name_}, {"instance", address}});
}

void ServiceRuntime::update_state_gauges(observability::Shard& shard, std::int64_t now_ns) {
  auto set = instances();
  std::int64_t counts[4] = {0, 0, 0, 0};
  for (const Instance& i : set->instances) {
    if (i.status != InstanceStatus::up) ++counts[3];
    else if (i.ejected(now_ns)) ++counts[2];
    else if (!i.state->healthy.load(std::memory_order_relaxed)) ++counts[1];
    else ++counts[0];
  }
  for (int i = 0; i < 4; ++i) shard.set(metrics_.instances_by_state[i], counts[i]);
}

// ---- circuit breaker ----

void ServiceRuntime::transition(CircuitState from, CircuitState to, std::int64_t, observability::Shard& shard) {
  shard.inc(metrics_.circuit_transitions[static_cast<int>(to)]);
  if (to == CircuitState::closed) outcomes_.reset();
  log::warn("circuit breaker state changed",
            {{"service", name_}, {"from", std::string(to_string(from))}, {"to", std::string(to_string(to))}});
}

// opened_at_ is when the circuit opened, and while half-open when the current probe left: it is
// written before the state it belongs to is published, so no worker reads a stale one.
bool ServiceRuntime::circuit_allows(const CircuitBreakerConfig& config, std::int64_t now_ns, bool& probe,
                                    observability::Shard& shard) {
  probe = false;
  if (!config.enabled) return true;
  CircuitState state = circuit_.load(std::memory_order_acquire);
  if (state == CircuitState::closed) return true;
  std::int64_t since = opened_at_.load(std::memory_order_acquire);
  if (now_ns - since < config.sleep.count()) return false;
  // Open and slept, or half-open with a probe that has not reported for a whole `sleep` (a long
  // stream, a client that vanished): this request becomes the probe.
  if (!opened_at_.compare_exchange_strong(since, now_ns)) return false;  // another worker's probe
  if (state == CircuitState::open && circuit_.compare_exchange_strong(state, CircuitState::half_open))
    transition(CircuitState::open, CircuitState::half_open, now_ns, shard);
  probe = true;
  return true;
}

void ServiceRuntime::circuit_record(const CircuitBreakerConfig& config, std::int64_t now_ns, bool failure, bool probe,
                                    observability::Shard& shard) {
  if (!config.enabled) return;
  if (probe) {
    CircuitState expected = CircuitState::half_open;
    const CircuitState to = failure ? CircuitState::open : CircuitState::closed;
    if (failure) opened_at_.store(now_ns, std::memory_order_release);
    if (circuit_.compare_exchange_strong(expected, to)) transition(CircuitState::half_open, to, now_ns, shard);
    return;
  }
  const std::int64_t sec = now_ns / 1'000'000'000;
  outcomes_.add(sec, failure ? 1 : 0);
  if (!failure || circuit_.load(std::memory_order_relaxed) != CircuitState::closed) return;
  const unsigned window = static_cast<unsigned>(std::max<std::int64_t>(1, config.window.count() / 1'000'000'000));
  const std::uint64_t failures = outcomes_.sum(sec, 1, window);
  const std::uint64_t total = failures + outcomes_.sum(sec, 0, window);
  if (total < config.min_requests || failures * 100.0 < config.error_percent * static_cast<double>(total)) return;
  opened_at_.store(now_ns, std::memory_order_release);
  CircuitState expected = CircuitState::closed;
  if (circuit_.compare_exchange_strong(expected, CircuitState::open))
    transition(CircuitState::closed, CircuitState::open, now_ns, shard);
}

// ---- retry budget ----

bool ServiceRuntime::budget_allows_retry(const RetryConfig& config, std::int64_t now_ns) {
  const std::int64_t sec = now_ns / 1'000'000'000;
  const std::uint64_t requests = requests_.sum(sec, 0, 10);
  const std::uint64_t retries = requests_.sum(sec, 1, 10);
  const double allowed = std::max<double>(config.budget_min_retries, requests * config.budget_percent / 100.0);
  if (static_cast<double>(retries) >= allowed) return false;
  requests_.add(sec, 1);
  return true;
}

// ---- outlier detection ----

void ServiceRuntime::outlier_record(const OutlierConfig& config, const Instance& instance, bool failure,
                                    std::int64_t now_ns, observability::Shard& shard) {
  InstanceState& st = *instance.state;
  if (!failure) {
    if (st.consecutive_failures.load(std::memory_order_relaxed) != 0)
      st.consecutive_failures.store(0, std::memory_order_relaxed);
    return;
  }
  if (st.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1 < config.consecutive_failures) return;
  std::lock_guard lock(ejection_mutex_);
  if (instance.ejected(now_ns)) return;
  st.consecutive_failures.store(0, std::memory_order_relaxed);
  auto set = instances();
  std::size_t ejected = 0;
  for (const Instance& i : set->instances) ejected += i.ejected(now_ns) ? 1 : 0;
  if ((ejected + 1) * 100 > config.max_ejection_percent * set->instances.size()) {
    log::warn("outlier not ejected: max_ejection_percent reached",
              {{"service", name_}, {"instance", instance.address}});
    return;
  }
  // Growing ejection time; an instance that stayed in rotation for max_ejection starts over.
  const std::int64_t last_end = st.ejected_until.load(std::memory_order_relaxed);
  if (last_end != 0 && now_ns - last_end > config.max_ejection.count()) st.ejections.store(0, std::memory_order_relaxed);
  const std::uint32_t n = st.ejections.fetch_add(1, std::memory_order_relaxed) + 1;
  const std::int64_t duration = std::min<std::int64_t>(config.base_ejection.count() * n, config.max_ejection.count());
  st.ejected_until.store(now_ns + duration, std::memory_order_relaxed);
  shard.inc(metrics_.ejections);
  log::warn("instance ejected by outlier detection",
            {{"service", name_}, {"instance", instance.address},
             {"ejection_ms", std::to_string(duration / 1'000'000)}, {"ejections", std::to_string(n)}});
}

std::shared_ptr<protection::AdaptiveLimiter> ServiceRuntime::adaptive_limiter(const AdaptiveConcurrencyConfig& config) {
  std::lock_guard lock(adaptive_mutex_);
  if (!adaptive_ || !(adaptive_->config() == config)) adaptive_ = std::make_shared<protection::AdaptiveLimiter>(config);
  return adaptive_;
}

}  // namespace portcullis::discovery
