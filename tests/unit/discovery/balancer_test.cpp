// Balancer policies and the service runtime's resilience state, driven with synthetic clocks.
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "discovery/balancer.h"
#include "discovery/service_runtime.h"

using namespace portcullis;
using namespace portcullis::discovery;

namespace {

constexpr std::int64_t kSec = 1'000'000'000;

std::vector<DiscoveredInstance> instances(int n, unsigned weight = 1) {
  std::vector<DiscoveredInstance> out;
  for (int i = 0; i < n; ++i) {
    DiscoveredInstance d;
    d.host = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    d.port = 8000;
    d.weight = weight;
    out.push_back(d);
  }
  return out;
}

struct Fixture {
  observability::Registry metrics{2};
  std::shared_ptr<ServiceRuntime> runtime;
  Balancer balancer;
  explicit Fixture(const std::string& lb = "round_robin", std::vector<DiscoveredInstance> list = instances(3)) {
    static int n = 0;
    runtime = std::make_shared<ServiceRuntime>("svc" + std::to_string(++n), 0, metrics);
    ServiceConfig config;
    config.lb = lb;
    runtime->configure(config, "");
    runtime->publish(list, "test");
  }
  const InstanceSet& set() { return balancer.refresh(*runtime); }
  std::string pick(Policy p, std::uint64_t hash = 0, std::uint32_t exclude = UINT32_MAX) {
    set();
    auto r = balancer.pick(p, false, 50, hash, 0, exclude);
    return r.instance ? r.instance->address : "";
  }
};

}  // namespace

TEST_CASE("round_robin cycles and skips instances out of rotation", "[balancer]") {
  Fixture f;
  std::vector<std::string> order;
  for (int i = 0; i < 6; ++i) order.push_back(f.pick(Policy::round_robin));
  CHECK(order[0] != order[1]);
  CHECK(order[0] == order[3]);
  CHECK(std::set<std::string>(order.begin(), order.end()).size() == 3);
  f.set().instances[1].state->healthy = false;
  f.set().instances[2].state->ejected_until = 10 * kSec;
  for (int i = 0; i < 5; ++i) CHECK(f.pick(Policy::round_robin) == f.set().instances[0].address);
}

TEST_CASE("only UP instances are picked, none available means a counted panic pick", "[balancer]") {
  auto list = instances(3);
  list[0].status = InstanceStatus::out_of_service;
  list[1].status = InstanceStatus::starting;
  Fixture f("round_robin", list);
  CHECK(f.set().up.size() == 1);
  for (int i = 0; i < 3; ++i) CHECK(f.pick(Policy::round_robin) == "10.0.0.3:8000");
  f.set().instances[2].state->healthy = false;
  auto r = f.balancer.pick(Policy::round_robin, false, 50, 0, 0);
  REQUIRE(r.instance);
  CHECK(r.panic);
  CHECK(r.instance->address == "10.0.0.3:8000");
  Fixture empty("round_robin", {});
  CHECK(empty.pick(Policy::round_robin).empty());
}

TEST_CASE("a retry excludes the instance already tried unless it is the only one", "[balancer]") {
  Fixture f;
  const std::uint32_t first = f.set().instances[0].id;
  for (int i = 0; i < 6; ++i) CHECK(f.pick(Policy::random, 0, first) != f.set().instances[0].address);
  Fixture one("round_robin", instances(1));
  CHECK(one.pick(Policy::round_robin, 0, one.set().instances[0].id) == "10.0.0.1:8000");
}

TEST_CASE("weighted_round_robin is smooth and proportional", "[balancer]") {
  auto list = instances(3);
  list[0].weight = 5;
  list[1].weight = 3;
  list[2].weight = 2;
  Fixture f("weighted_round_robin", list);
  std::map<std::string, int> seen;
  std::string previous;
  int repeats = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string a = f.pick(Policy::weighted_round_robin);
    repeats += a == previous;
    previous = a;
    ++seen[a];
  }
  CHECK(seen["10.0.0.1:8000"] == 500);
  CHECK(seen["10.0.0.2:8000"] == 300);
  CHECK(seen["10.0.0.3:8000"] == 200);
  CHECK(repeats < 300);  // interleaved, not 5 in a row then 3 then 2
}

TEST_CASE("maglev spreads keys evenly and moves few when an instance leaves", "[balancer]") {
  Fixture f("consistent_hash", instances(10));
  REQUIRE(f.set().maglev.size() >= 65537);
  std::map<std::uint64_t, std::string> before;
  std::map<std::string, int> per;
  for (std::uint64_t k = 0; k < 20000; ++k) {
    std::uint64_t h = k * 0x9e3779b97f4a7c15ULL;
    before[h] = f.pick(Policy::consistent_hash, h);
    ++per[before[h]];
  }
  CHECK(per.size() == 10);
  for (const auto& [a, n] : per) CHECK((n > 1600 && n < 2400));
  auto nine = instances(10);
  nine.erase(nine.begin() + 4);
  f.runtime->publish(nine, "test");
  int moved = 0, moved_elsewhere = 0;
  for (const auto& [h, a] : before) {
    std::string now = f.pick(Policy::consistent_hash, h);
    if (now != a) ++moved;
    if (now != a && a != "10.0.0.5:8000") ++moved_elsewhere;
  }
  CHECK(moved == per["10.0.0.5:8000"] + moved_elsewhere);
  CHECK(moved_elsewhere < 20000 / 100);  // under 1% of keys not on the leaving instance move
  // An unavailable instance's keys go elsewhere and come back when it returns.
  f.set().instances[0].state->healthy = false;
  std::uint64_t key = 0;
  for (const auto& [h, a] : before)
    if (a == f.set().instances[0].address) key = h;
  CHECK(f.pick(Policy::consistent_hash, key) != f.set().instances[0].address);
  f.set().instances[0].state->healthy = true;
  CHECK(f.pick(Policy::consistent_hash, key) == f.set().instances[0].address);
}

TEST_CASE("zone awareness prefers the local zone while enough of it is available", "[balancer]") {
  auto list = instances(4);
  list[0].zone = list[1].zone = "z1";
  list[2].zone = list[3].zone = "z2";
  Fixture f("round_robin", list);
  ServiceConfig config;
  config.zone_aware = true;
  f.runtime->configure(config, "z1");
  f.set();
  REQUIRE(f.set().local.size() == 2);
  std::set<std::string> seen;
  for (int i = 0; i < 8; ++i) seen.insert(f.balancer.pick(Policy::round_robin, true, 50, 0, 0).instance->zone);
  CHECK(seen == std::set<std::string>{"z1"});
  // Both local instances gone: the other zone takes the traffic (re-evaluated every 100ms).
  f.set().instances[0].state->healthy = false;
  f.set().instances[1].state->healthy = false;
  seen.clear();
  for (int i = 0; i < 8; ++i) seen.insert(f.balancer.pick(Policy::round_robin, true, 50, 0, kSec).instance->zone);
  CHECK(seen == std::set<std::string>{"z2"});
}

TEST_CASE("publishing keeps an instance's shared state while it stays", "[balancer]") {
  Fixture f;
  auto state = f.set().instances[1].state;
  state->ejections = 2;
  auto list = instances(4);
  f.runtime->publish(list, "test");
  CHECK(f.set().instances.size() == 4);
  CHECK(f.set().instances[1].state == state);
  CHECK(f.set().instances[3].state->ejections == 0);
  // Unusable addresses are skipped, the rest published.
  list.push_back({"", "not-an-ip", 80});
  f.runtime->publish(list, "test");
  CHECK(f.set().instances.size() == 4);
}

TEST_CASE("circuit breaker: closed -> open -> half-open -> closed / open", "[resilience]") {
  Fixture f;
  observability::Shard& shard = f.metrics.shard(0);
  CircuitBreakerConfig cb;
  cb.enabled = true;
  cb.min_requests = 10;
  cb.error_percent = 50;
  cb.sleep = std::chrono::seconds(5);
  bool probe = false;
  std::int64_t t = 100 * kSec;
  for (int i = 0; i < 5; ++i) f.runtime->circuit_record(cb, t, false, false, shard);
  for (int i = 0; i < 4; ++i) f.runtime->circuit_record(cb, t, true, false, shard);
  CHECK(f.runtime->circuit_state() == CircuitState::closed);  // 9 requests: under min_requests
  f.runtime->circuit_record(cb, t, true, false, shard);         // 5 of 10 failed: 50%
  CHECK(f.runtime->circuit_state() == CircuitState::open);
  CHECK_FALSE(f.runtime->circuit_allows(cb, t + 4 * kSec, probe, shard));
  CHECK(f.runtime->circuit_allows(cb, t + 5 * kSec, probe, shard));
  CHECK(probe);
  CHECK(f.runtime->circuit_state() == CircuitState::half_open);
  bool second = false;
  CHECK_FALSE(f.runtime->circuit_allows(cb, t + 5 * kSec, second, shard));  // one probe at a time
  f.runtime->circuit_record(cb, t + 6 * kSec, true, true, shard);
  CHECK(f.runtime->circuit_state() == CircuitState::open);
  CHECK_FALSE(f.runtime->circuit_allows(cb, t + 10 * kSec, probe, shard));  // sleep counts from the failed probe
  CHECK(f.runtime->circuit_allows(cb, t + 11 * kSec, probe, shard));
  f.runtime->circuit_record(cb, t + 11 * kSec, false, true, shard);
  CHECK(f.runtime->circuit_state() == CircuitState::closed);
  // The window restarted: old failures do not reopen it.
  f.runtime->circuit_record(cb, t + 11 * kSec, true, false, shard);
  CHECK(f.runtime->circuit_state() == CircuitState::closed);
}

TEST_CASE("failures outside the rolling window do not count", "[resilience]") {
  Fixture f;
  observability::Shard& shard = f.metrics.shard(0);
  CircuitBreakerConfig cb;
  cb.enabled = true;
  cb.min_requests = 4;
  for (int i = 0; i < 3; ++i) f.runtime->circuit_record(cb, 100 * kSec, true, false, shard);
  f.runtime->circuit_record(cb, 111 * kSec, true, false, shard);  // 11s later: the first three are gone
  CHECK(f.runtime->circuit_state() == CircuitState::closed);
}

TEST_CASE("retry budget: a share of recent requests, with a floor", "[resilience]") {
  Fixture f;
  RetryConfig r;
  r.budget_percent = 20;
  r.budget_min_retries = 2;
  const std::int64_t t = 50 * kSec;
  int allowed = 0;
  for (int i = 0; i < 5; ++i) allowed += f.runtime->budget_allows_retry(r, t);
  CHECK(allowed == 2);  // the floor
  for (int i = 0; i < 50; ++i) f.runtime->budget_request(t);
  for (int i = 0; i < 20; ++i) allowed += f.runtime->budget_allows_retry(r, t);
  CHECK(allowed == 10);  // 20% of 50
  CHECK(f.runtime->budget_allows_retry(r, t + 11 * kSec));  // a new window
}

TEST_CASE("outlier ejection grows, ends by itself and respects max_ejection_percent", "[resilience]") {
  Fixture f("round_robin", instances(4));
  observability::Shard& shard = f.metrics.shard(0);
  OutlierConfig o;
  o.consecutive_failures = 3;
  o.base_ejection = std::chrono::seconds(10);
  o.max_ejection_percent = 50;
  const Instance& a = f.set().instances[0];
  const std::int64_t t = 1000 * kSec;
  f.runtime->outlier_record(o, a, true, t, shard);
  f.runtime->outlier_record(o, a, true, t, shard);
  f.runtime->outlier_record(o, a, false, t, shard);  // a success resets the run
  f.runtime->outlier_record(o, a, true, t, shard);
  f.runtime->outlier_record(o, a, true, t, shard);
  CHECK_FALSE(a.ejected(t));
  f.runtime->outlier_record(o, a, true, t, shard);
  CHECK(a.ejected(t));
  CHECK(a.ejected(t + 9 * kSec));
  CHECK_FALSE(a.ejected(t + 10 * kSec));
  for (int i = 0; i < 3; ++i) f.runtime->outlier_record(o, a, true, t + 11 * kSec, shard);
  CHECK(a.ejected(t + 30 * kSec));  // second ejection: twice as long
  CHECK_FALSE(a.ejected(t + 31 * kSec));
  // Two of four ejected is the limit: the third stays in.
  const Instance& b = f.set().instances[1];
  const Instance& c = f.set().instances[2];
  for (int i = 0; i < 3; ++i) f.runtime->outlier_record(o, b, true, t + 12 * kSec, shard);
  for (int i = 0; i < 3; ++i) f.runtime->outlier_record(o, c, true, t + 12 * kSec, shard);
  CHECK(b.ejected(t + 12 * kSec));
  CHECK_FALSE(c.ejected(t + 12 * kSec));
}

TEST_CASE("a held set outlives its replacement until the request lets go", "[balancer]") {
  Fixture f;
  f.set();
  std::weak_ptr<const InstanceSet> first = f.runtime->instances();
  std::shared_ptr<const void> held = f.balancer.hold();
  const Instance* picked = f.balancer.pick(Policy::round_robin, false, 50, 0, 0).instance;
  f.runtime->publish(instances(5), "test");
  f.set();  // the worker moves to the new set while the request still uses `picked`
  REQUIRE_FALSE(first.expired());
  CHECK(picked->address.rfind("10.0.0.", 0) == 0);
  held.reset();
  CHECK(first.expired());
}

TEST_CASE("a strict exclusion never picks an instance a request tried", "[balancer]") {
  Fixture f;
  const auto& set = f.set();
  const std::uint32_t tried[] = {set.instances[0].id, set.instances[1].id};
  for (auto policy : {Policy::round_robin, Policy::random, Policy::least_request, Policy::consistent_hash}) {
    for (int i = 0; i < 20; ++i) {
      auto r = f.balancer.pick(policy, false, 50, static_cast<std::uint64_t>(i), 0, Exclusion{tried, true});
      REQUIRE(r.instance);
      CHECK(r.instance->id == set.instances[2].id);
    }
  }
  const std::uint32_t all[] = {set.instances[0].id, set.instances[1].id, set.instances[2].id};
  CHECK(f.balancer.pick(Policy::round_robin, false, 50, 0, 0, Exclusion{all, true}).instance == nullptr);
  // Not strict: with every instance excluded, one still comes back.
  CHECK(f.balancer.pick(Policy::round_robin, false, 50, 0, 0, Exclusion{all, false}).instance != nullptr);
}
