// RouteTable::match cost as the table grows: a hit on one of the last routes (the worst case for a
// linear scan) and a miss, at 10, 1,000 and 10,000 routes. A trie should keep all of them flat.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "http/message.h"
#include "routing/route_table.h"

namespace {

using portcullis::routing::RouteRule;
using portcullis::routing::RouteTable;

// `count` routes, half "/svc{i}/**" and half "/api/v1/svc{i}/items/*", interleaved in file order
// the way a generated config would list them; a catch-all would hide misses, so there is none.
RouteTable make_table(int count) {
  std::vector<RouteRule> rules;
  rules.reserve(static_cast<std::size_t>(count));
  for (int i = 0; rules.size() < static_cast<std::size_t>(count); ++i) {
    rules.push_back({"/svc" + std::to_string(i) + "/**", {}, {}, {}});
    if (rules.size() < static_cast<std::size_t>(count))
      rules.push_back({"/api/v1/svc" + std::to_string(i) + "/items/*", {"GET", "POST"}, {}, {}});
  }
  return RouteTable(rules);
}

void run(benchmark::State& state, const std::string& path) {
  const RouteTable table = make_table(static_cast<int>(state.range(0)));
  portcullis::http::Fields fields;
  fields.add("Host", "api.example.com");
  fields.add("User-Agent", "bench");
  fields.add("Accept", "*/*");
  for (auto _ : state) {
    int index = table.match(path, "GET", "api.example.com:8080", fields);
    benchmark::DoNotOptimize(index);
  }
}

void bm_hit_late_prefix(benchmark::State& state) {
  const int last_svc = static_cast<int>(state.range(0)) / 2 - 1;
  run(state, "/svc" + std::to_string(last_svc) + "/orders/42");
}

void bm_hit_late_deep(benchmark::State& state) {
  const int last_svc = static_cast<int>(state.range(0)) / 2 - 1;
  run(state, "/api/v1/svc" + std::to_string(last_svc) + "/items/1234");
}

void bm_miss(benchmark::State& state) { run(state, "/api/v1/unknown/items/1234"); }

}  // namespace

BENCHMARK(bm_hit_late_prefix)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(bm_hit_late_deep)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(bm_miss)->Arg(10)->Arg(1000)->Arg(10000);
