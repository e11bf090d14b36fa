// Cost of one load-balancer pick per policy at 10, 1,000 and 10,000 instances, with every
// instance in rotation (the common case) and with a tenth of them ejected.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "discovery/balancer.h"
#include "discovery/service_runtime.h"

namespace {

using namespace portcullis;
using namespace portcullis::discovery;

struct Setup {
  observability::Registry metrics{1};
  std::shared_ptr<ServiceRuntime> runtime;
  Balancer balancer;
  Setup(const std::string& lb, int n, bool eject_tenth) {
    runtime = std::make_shared<ServiceRuntime>("bench-" + lb, 0, metrics);
    ServiceConfig config;
    config.lb = lb;
    runtime->configure(config, "");
    std::vector<DiscoveredInstance> list;
    for (int i = 0; i < n; ++i) {
      DiscoveredInstance d;
      d.host = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256);
      d.port = 8080;
      d.weight = lb == "weighted_round_robin" ? 1 + i % 4 : 1;
      list.push_back(d);
    }
    runtime->publish(list, "bench");
    const InstanceSet& set = balancer.refresh(*runtime);
    if (eject_tenth)
      for (std::size_t i = 0; i < set.instances.size(); i += 10) set.instances[i].state->ejected_until = INT64_MAX;
  }
};

void pick(benchmark::State& state, const std::string& lb, Policy policy, bool eject) {
  Setup s(lb, static_cast<int>(state.range(0)), eject);
  std::uint64_t key = 0;
  for (auto _ : state) {
    s.balancer.refresh(*s.runtime);
    auto r = s.balancer.pick(policy, false, 50, key += 0x9e3779b97f4a7c15ULL, 1);
    benchmark::DoNotOptimize(r.instance);
  }
}

// round_robin's cursor is the service's, shared by the workers: two threads, each with its own
// balancer as each worker has, picking from one service, so every pick contends for the cursor.
void round_robin_two_workers(benchmark::State& state) {
  static Setup* shared = new Setup("round_robin", 10, false);
  Balancer mine;
  mine.refresh(*shared->runtime);
  for (auto _ : state) {
    mine.refresh(*shared->runtime);
    auto r = mine.pick(Policy::round_robin, false, 50, 0, 1);
    benchmark::DoNotOptimize(r.instance);
  }
}

}  // namespace

BENCHMARK(round_robin_two_workers)->Threads(2);
BENCHMARK_CAPTURE(pick, round_robin, std::string("round_robin"), Policy::round_robin, false)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK_CAPTURE(pick, weighted_round_robin, std::string("weighted_round_robin"), Policy::weighted_round_robin, false)
    ->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK_CAPTURE(pick, random, std::string("random"), Policy::random, false)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK_CAPTURE(pick, least_request, std::string("least_request"), Policy::least_request, false)
    ->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK_CAPTURE(pick, consistent_hash, std::string("consistent_hash"), Policy::consistent_hash, false)
    ->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK_CAPTURE(pick, round_robin_10pct_ejected, std::string("round_robin"), Policy::round_robin, true)->Arg(10000);
BENCHMARK_CAPTURE(pick, least_request_10pct_ejected, std::string("least_request"), Policy::least_request, true)->Arg(10000);
