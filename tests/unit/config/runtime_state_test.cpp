// RuntimeState: what a reload hands from one snapshot to the next.
#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include "config/errors.h"
#include "config/runtime_state.h"
#include "config/snapshot.h"
#include "observability/access_log.h"
#include "observability/metrics.h"

using namespace portcullis;

namespace {

std::shared_ptr<const Snapshot> compile(const std::string& yaml, RuntimeState& state, std::uint64_t generation) {
  ConfigErrors errors("test.yaml");
  Config config = parse_config(YAML::Load(yaml), errors);
  REQUIRE(errors.empty());
  auto snap = compile_snapshot(std::move(config), errors, state, generation);
  INFO(errors.joined());
  REQUIRE(snap);
  return snap;
}

const char* kConfig = R"(
server: { listen: "127.0.0.1:0" }
admin: { enabled: false }
shedding: { max_concurrent_requests: 10 }
services:
  a: { instances: ["127.0.0.1:1"] }
  b: { instances: ["127.0.0.1:2"] }
routes:
  - { id: r, path: /r/**, service: a, max_concurrent_requests: 5, canary: { service: b, percent: 10 } }
)";

}  // namespace

TEST_CASE("a second snapshot from the same state gets the same service, canary and gates", "[config][runtime_state]") {
  observability::Registry metrics(1);
  RuntimeState state(metrics);
  auto first = compile(kConfig, state, 1);
  auto second = compile(kConfig, state, 2);
  CHECK(first->services.at("a")->runtime == second->services.at("a")->runtime);
  CHECK(first->routes.front().canary == second->routes.front().canary);
  CHECK(first->routes.front().gate == second->routes.front().gate);
  CHECK(first->shedding.gate == second->shedding.gate);
  CHECK(first->shedding.gate == state.gateway_gate());

  // Another gateway (another state) shares nothing with this one.
  observability::Registry other_metrics(1);
  RuntimeState other(other_metrics);
  auto elsewhere = compile(kConfig, other, 1);
  CHECK(elsewhere->services.at("a")->runtime != first->services.at("a")->runtime);
  CHECK(elsewhere->routes.front().gate != first->routes.front().gate);
}

TEST_CASE("filter state is shared while a filter holds it and made anew after", "[config][runtime_state]") {
  observability::Registry metrics(1);
  RuntimeState state(metrics);
  int made = 0;
  const auto make = [&] {
    ++made;
    return std::make_shared<int>(made);
  };
  auto held = state.filter_state<int>("kind", "key", make);
  CHECK(state.filter_state<int>("kind", "key", make) == held);
  CHECK(state.filter_state<int>("other kind", "key", make) != held);  // kinds keep keys apart
  CHECK(made == 2);
  held.reset();
  auto fresh = state.filter_state<int>("kind", "key", make);
  CHECK(*fresh == 3);  // the last holder went, so did the state
}

TEST_CASE("access logs are shared by path and flushed per worker", "[config][runtime_state]") {
  observability::Registry metrics(1);
  RuntimeState state(metrics);
  std::string error;
  auto one = state.access_log("/dev/null", error);
  REQUIRE(one);
  CHECK(state.access_log("/dev/null", error) == one);
  CHECK(state.access_log("", error) == state.access_log("-", error));
  CHECK_FALSE(state.access_log("/nonexistent-dir/x.log", error));
  CHECK(error.find("/nonexistent-dir/x.log") != std::string::npos);
  one->buffer(0) = "line\n";
  state.flush_access_logs(0);
  CHECK(one->buffer(0).empty());
}
