// The cost of one scrape of /metrics: the registry sums every worker's shard and renders the text
// format. 10,000 series as a large gateway has them: 8,000 counters (500 routes x 16 status and
// method combinations) and 2,000 latency histograms with the default 16 buckets, two shards.
#include <benchmark/benchmark.h>

#include <string>

#include "observability/metrics.h"

namespace {

using namespace portcullis::observability;

Registry& large_registry() {
  static Registry* registry = [] {
    auto* r = new Registry(2);
    for (int route = 0; route < 500; ++route) {
      const std::string id = "route-" + std::to_string(route);
      for (int code = 0; code < 16; ++code) {
        auto c = r->counter("bench_requests_total", "Requests.",
                            {{"route", id}, {"code", std::to_string(200 + code)}});
        r->shard(code % 2).inc(c, static_cast<std::uint64_t>(route * 31 + code));
      }
      for (int i = 0; i < 4; ++i) {
        auto h = r->histogram("bench_request_duration_seconds", "Latency.",
                              {{"route", id}, {"method", i % 2 ? "GET" : "POST"}, {"variant", i < 2 ? "a" : "b"}},
                              Registry::default_latency_bounds());
        for (int k = 0; k < 20; ++k) r->shard(k % 2).observe(h, 0.0003 * (k + 1) * (i + 1));
      }
    }
    return r;
  }();
  return *registry;
}

void scrape_10000_series(benchmark::State& state) {
  Registry& registry = large_registry();
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = registry.render();
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}

}  // namespace

BENCHMARK(scrape_10000_series)->Unit(benchmark::kMillisecond);
