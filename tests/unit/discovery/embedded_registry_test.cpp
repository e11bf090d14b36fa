// The embedded registry with an injected clock: leases, expiry, overrides, deltas, subscribers.
#include <catch2/catch.hpp>

#include "discovery/embedded_registry.h"

using namespace portcullis;
using namespace portcullis::discovery;

namespace {

EurekaInstance instance(const std::string& app, const std::string& id, std::uint16_t port, unsigned lease = 0) {
  EurekaInstance i;
  i.app = app;
  i.instance_id = id;
  i.host_name = "127.0.0.1";
  i.ip_addr = "127.0.0.1";
  i.port = port;
  i.duration_secs = lease;
  return i;
}

struct Fixture {
  std::int64_t now = 1'000'000;
  DiscoverySettings settings;
  EmbeddedRegistry registry{settings, [this] { return now; }};
};

}  // namespace

TEST_CASE_METHOD(Fixture, "leases expire without heartbeats and renew with them", "[discovery][registry]") {
  registry.register_instance(instance("hello", "a", 8001, 10));
  registry.register_instance(instance("hello", "b", 8002));  // default lease: 90s
  CHECK(registry.size() == 2);

  now += 9'000;
  CHECK(registry.renew("HELLO", "a") == EmbeddedRegistry::RenewResult::renewed);
  now += 9'000;  // 18s after registering, 9s after the heartbeat
  CHECK(registry.evict_expired() == 0);
  now += 2'000;  // 11s since the last heartbeat
  CHECK(registry.evict_expired() == 1);
  CHECK(registry.find("hello", "a") == nullptr);
  CHECK(registry.find("hello", "b") != nullptr);
  CHECK(registry.renew("hello", "a") == EmbeddedRegistry::RenewResult::unknown);  // client re-registers

  now += 90'000;
  CHECK(registry.evict_expired() == 1);
  CHECK(registry.size() == 0);
  CHECK_FALSE(registry.application("hello").has_value());
}

TEST_CASE_METHOD(Fixture, "the default lease comes from the settings", "[discovery][registry]") {
  DiscoverySettings s;
  s.lease_duration = std::chrono::seconds(2);
  registry.configure(s);
  registry.register_instance(instance("x", "a", 1));
  now += 2'500;
  CHECK(registry.evict_expired() == 1);
}

TEST_CASE_METHOD(Fixture, "a newer lastDirtyTimestamp on a heartbeat asks for re-registration", "[discovery][registry]") {
  auto i = instance("x", "a", 1);
  i.last_dirty_ts = 500;
  registry.register_instance(i);
  CHECK(registry.renew("x", "a", 500) == EmbeddedRegistry::RenewResult::renewed);
  CHECK(registry.renew("x", "a", 400) == EmbeddedRegistry::RenewResult::renewed);
  CHECK(registry.renew("x", "a", 600) == EmbeddedRegistry::RenewResult::unknown);
}

TEST_CASE_METHOD(Fixture, "subscribers see every change of their app only", "[discovery][registry]") {
  std::vector<std::vector<DiscoveredInstance>> seen;
  int other_calls = 0;
  auto token = registry.subscribe("Hello", [&](const std::vector<DiscoveredInstance>& l) { seen.push_back(l); });
  registry.subscribe("other", [&](const std::vector<DiscoveredInstance>&) { ++other_calls; });
  REQUIRE(seen.size() == 1);  // called at once with the current (empty) list
  CHECK(seen[0].empty());
  CHECK(other_calls == 1);

  auto a = instance("HELLO", "a", 8001);
  a.metadata = {{"zone", "z1"}, {"weight", "4"}};
  registry.register_instance(a);
  REQUIRE(seen.size() == 2);
  REQUIRE(seen[1].size() == 1);
  CHECK(seen[1][0].id == "a");
  CHECK(seen[1][0].host == "127.0.0.1");
  CHECK(seen[1][0].port == 8001);
  CHECK(seen[1][0].zone == "z1");
  CHECK(seen[1][0].weight == 4);

  REQUIRE(registry.set_status_override("hello", "a", InstanceStatus::out_of_service));
  REQUIRE(seen.size() == 3);
  CHECK(seen[2][0].status == InstanceStatus::out_of_service);
  // A re-registration (the client restarting its heartbeats) keeps the operator's override.
  registry.register_instance(a);
  CHECK(seen.back()[0].status == InstanceStatus::out_of_service);
  REQUIRE(registry.clear_status_override("hello", "a", std::nullopt));
  CHECK(seen.back()[0].status == InstanceStatus::up);

  REQUIRE(registry.cancel("hello", "a"));
  CHECK(seen.back().empty());
  CHECK(other_calls == 1);
  CHECK_FALSE(registry.cancel("hello", "a"));

  registry.unsubscribe(token);
  std::size_t before = seen.size();
  registry.register_instance(a);
  CHECK(seen.size() == before);
}

TEST_CASE_METHOD(Fixture, "deltas report the latest change per instance within the retention", "[discovery][registry]") {
  registry.register_instance(instance("a", "1", 1));
  registry.register_instance(instance("a", "2", 2));
  registry.register_instance(instance("b", "3", 3));
  registry.cancel("a", "2");
  registry.set_status_override("b", "3", InstanceStatus::down);

  EurekaApplications d = registry.delta();
  CHECK(d.apps_hashcode == "DOWN_1_UP_1_");
  CHECK(d.apps_hashcode == registry.hashcode());
  std::map<std::string, std::string> actions;
  for (const auto& app : d.applications)
    for (const auto& i : app.instances) actions[i.instance_id] = i.action_type;
  CHECK(actions == std::map<std::string, std::string>{{"1", "ADDED"}, {"2", "DELETED"}, {"3", "MODIFIED"}});

  now += std::chrono::duration_cast<std::chrono::milliseconds>(EmbeddedRegistry::delta_retention).count() + 1;
  registry.renew("a", "1");
  registry.renew("b", "3");
  CHECK(registry.delta().applications.empty());

  EurekaApplications all = registry.applications();
  REQUIRE(all.applications.size() == 2);
  CHECK(all.applications[0].name == "A");
  CHECK(all.apps_hashcode == "DOWN_1_UP_1_");
}

TEST_CASE_METHOD(Fixture, "metadata updates and unknown instances", "[discovery][registry]") {
  registry.register_instance(instance("a", "1", 1));
  CHECK(registry.update_metadata("a", "1", {{"weight", "2"}}));
  CHECK(registry.find("A", "1")->metadata.at("weight") == "2");
  CHECK(registry.find_instance("1") != nullptr);
  CHECK_FALSE(registry.update_metadata("a", "9", {}));
  CHECK_FALSE(registry.set_status_override("z", "1", InstanceStatus::down));
  CHECK_FALSE(registry.clear_status_override("a", "9", std::nullopt));
}
