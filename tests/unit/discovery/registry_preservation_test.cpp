// The embedded registry's guards, with injected wall and steady clocks: lease expiry on the steady
// clock, Eureka's self-preservation, the cap on registered instances, and the heartbeat's status.
#include <catch2/catch.hpp>

#include "discovery/embedded_registry.h"

using namespace portcullis;
using namespace portcullis::discovery;

namespace {

EurekaInstance instance(const std::string& id, unsigned lease = 90) {
  EurekaInstance i;
  i.app = "fleet";
  i.instance_id = id;
  i.host_name = i.ip_addr = "127.0.0.1";
  i.port = 8000;
  i.duration_secs = lease;
  i.renewal_interval_secs = 30;
  return i;
}

struct Clocks {
  std::int64_t wall = 1'700'000'000'000;
  std::int64_t steady = 5'000'000;
  void advance(std::int64_t ms) {
    wall += ms;
    steady += ms;
  }
};

struct Fixture : Clocks {
  DiscoverySettings settings = [] {
    DiscoverySettings s;
    s.self_preservation_min_instances = 10;
    return s;
  }();
  std::unique_ptr<EmbeddedRegistry> registry = std::make_unique<EmbeddedRegistry>(
      settings, [this] { return wall; }, [this] { return steady; });

  void register_fleet(int n) {
    for (int i = 0; i < n; ++i) registry->register_instance(instance("i" + std::to_string(i)));
  }
  // Every 30 s for `seconds`, heartbeats from the first `alive` instances.
  void heartbeats(int alive, int seconds) {
    for (int t = 0; t < seconds; t += 30) {
      advance(30'000);
      for (int i = 0; i < alive; ++i) registry->renew("fleet", "i" + std::to_string(i));
      registry->evict_expired();
    }
  }
};

}  // namespace

TEST_CASE_METHOD(Fixture, "leases expire on the steady clock: a wall-clock step evicts nothing", "[discovery][registry]") {
  registry->register_instance(instance("a", 10));
  wall += 3'600'000;  // NTP steps the wall clock an hour ahead
  CHECK(registry->evict_expired() == 0);
  CHECK(registry->find("fleet", "a"));
  steady += 11'000;  // while the lease really runs out
  CHECK(registry->evict_expired() == 1);
  CHECK_FALSE(registry->find("fleet", "a"));
}

TEST_CASE_METHOD(Fixture, "self-preservation holds leases while renewals collapse, and lets go when they recover",
                 "[discovery][registry]") {
  register_fleet(12);
  heartbeats(12, 120);  // two healthy minutes: 24 heartbeats a minute expected, 24 seen
  auto p = registry->preservation();
  CHECK_FALSE(p.active);
  CHECK(p.expected_per_minute == Approx(24));
  CHECK(p.renewals_last_minute == 24);

  heartbeats(2, 240);  // a partition: 10 of 12 stop renewing, for longer than their 90 s lease
  p = registry->preservation();
  CHECK(p.active);
  CHECK(p.renewals_last_minute == 4);
  CHECK(registry->size() == 12);  // nobody was evicted

  // Renewals come back from nine of the twelve: 18 of 24 is still below 85%, the leases hold.
  heartbeats(9, 60);
  CHECK(registry->preservation().active);
  CHECK(registry->size() == 12);
  // Eleven of twelve (22 of 24, above 85%): preservation ends and the silent one's lease expires.
  heartbeats(11, 60);
  CHECK_FALSE(registry->preservation().active);
  CHECK(registry->size() == 11);
  CHECK_FALSE(registry->find("fleet", "i11"));
}

TEST_CASE_METHOD(Fixture, "self-preservation leaves small registries and a new registry alone", "[discovery][registry]") {
  SECTION("two instances: the dead one leaves when its lease ends") {
    register_fleet(2);
    heartbeats(2, 120);
    heartbeats(1, 120);
    CHECK_FALSE(registry->preservation().active);
    CHECK(registry->size() == 1);
  }
  SECTION("off by configuration") {
    settings.self_preservation = false;
    registry->configure(settings);
    register_fleet(12);
    heartbeats(12, 120);
    heartbeats(2, 120);
    CHECK_FALSE(registry->preservation().active);
    CHECK(registry->size() == 2);
  }
  SECTION("instances registered less than a minute ago are not expected to have renewed") {
    register_fleet(12);
    advance(30'000);
    CHECK(registry->preservation().expected_per_minute == 0);
    CHECK_FALSE(registry->preservation().active);
  }
}

TEST_CASE_METHOD(Fixture, "max_registered_instances refuses new instances, never a re-registration", "[discovery][registry]") {
  settings.max_registered_instances = 2;
  registry->configure(settings);
  CHECK(registry->register_instance(instance("a")) == EmbeddedRegistry::RegisterResult::registered);
  CHECK(registry->register_instance(instance("b")) == EmbeddedRegistry::RegisterResult::registered);
  CHECK(registry->register_instance(instance("c")) == EmbeddedRegistry::RegisterResult::full);
  CHECK(registry->register_instance(instance("a")) == EmbeddedRegistry::RegisterResult::registered);
  CHECK(registry->size() == 2);
  CHECK(registry->rejected_registrations() == 1);
  REQUIRE(registry->cancel("fleet", "b"));
  CHECK(registry->register_instance(instance("c")) == EmbeddedRegistry::RegisterResult::registered);
}

TEST_CASE_METHOD(Fixture, "a heartbeat's status is applied and published; an override still wins", "[discovery][registry]") {
  registry->register_instance(instance("a"));
  int notified = 0;
  std::size_t up = 0;
  registry->subscribe("fleet", [&](const std::vector<DiscoveredInstance>& list) {
    ++notified;
    up = static_cast<std::size_t>(std::count_if(list.begin(), list.end(), [](const DiscoveredInstance& d) {
      return d.status == InstanceStatus::up;
    }));
  });
  CHECK(up == 1);
  CHECK(registry->renew("fleet", "a", {}, InstanceStatus::down) == EmbeddedRegistry::RenewResult::renewed);
  CHECK(registry->find("fleet", "a")->status == InstanceStatus::down);
  CHECK(notified == 2);
  CHECK(up == 0);
  bool modified = false;
  for (const auto& app : registry->delta().applications)
    for (const auto& i : app.instances) modified = modified || (i.instance_id == "a" && i.action_type == "MODIFIED");
  CHECK(modified);
  // The same status again is only a heartbeat.
  registry->renew("fleet", "a", {}, InstanceStatus::down);
  CHECK(notified == 2);
  REQUIRE(registry->set_status_override("fleet", "a", InstanceStatus::out_of_service));
  registry->renew("fleet", "a", {}, InstanceStatus::up);
  CHECK(registry->find("fleet", "a")->status == InstanceStatus::up);
  CHECK(registry->find("fleet", "a")->effective_status() == InstanceStatus::out_of_service);
}

TEST_CASE("renewal counting works from a clock at zero and one that steps back", "[discovery][registry]") {
  // Found by UBSan in make test-asan: the ring index went negative for seconds below 59.
  std::int64_t now = 0;
  EmbeddedRegistry registry(DiscoverySettings{}, [&] { return now; });
  registry.register_instance(instance("a"));
  CHECK(registry.renew("fleet", "a") == EmbeddedRegistry::RenewResult::renewed);
  CHECK(registry.preservation().renewals_last_minute == 1);
  now = 5'000;
  registry.renew("fleet", "a");
  now = 2'000;  // back: counted into the latest second seen
  registry.renew("fleet", "a");
  now = 5'000;
  CHECK(registry.preservation().renewals_last_minute == 3);
  CHECK(registry.evict_expired() == 0);
}
