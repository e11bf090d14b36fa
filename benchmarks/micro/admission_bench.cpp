// The cost of load-shedding admission per request: a gate enter/leave with the priority band's
// allowance, and the adaptive limiter's per-request sample (including the windows it closes), on
// one thread and on two contending threads.
#include <benchmark/benchmark.h>

#include <chrono>

#include "protection/adaptive.h"
#include "protection/gate.h"

namespace {

using namespace portcullis;
using namespace portcullis::protection;

void gate_enter_leave(benchmark::State& state) {
  static Gate gate;
  PriorityBands bands;
  for (int p = 0; p < 25; ++p) bands.set(p, 500);
  int priority = static_cast<int>(state.thread_index()) * 40;
  for (auto _ : state) {
    const bool in = gate.enter(bands.allowed(1000, priority));
    benchmark::DoNotOptimize(in);
    if (in) gate.leave();
  }
}

void adaptive_sample(benchmark::State& state) {
  static AdaptiveLimiter* limiter = [] {
    AdaptiveConcurrencyConfig c;
    c.window = std::chrono::milliseconds(10);
    return new AdaptiveLimiter(c);
  }();
  std::int64_t now = 1'000'000'000;
  for (auto _ : state) {
    now += 10'000;  // 100,000 requests per second per thread: a window closes every 1,000
    limiter->sample(now, 5'000'000, 40, false);
    benchmark::DoNotOptimize(limiter->limit());
  }
}

}  // namespace

BENCHMARK(gate_enter_leave)->Threads(1)->Threads(2);
BENCHMARK(adaptive_sample)->Threads(1)->Threads(2);
