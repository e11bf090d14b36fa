// The canary split decision per request: with a sticky key (hash of a user id header value, then
// the threshold compare) and without (the Weyl sequence), and a three-way split.
#include <benchmark/benchmark.h>

#include <string>

#include "canary/canary.h"

namespace {

using namespace portcullis::canary;

void sticky(benchmark::State& state) {
  const std::uint64_t threshold = threshold_for(5);
  std::string key = "user-000000000042";
  std::uint32_t sequence = 0;
  unsigned n = 0;
  for (auto _ : state) {
    key[key.size() - 1] = static_cast<char>('0' + (++n % 10));
    const bool canary = split_point(true, hash_key(key), sequence) < threshold;
    benchmark::DoNotOptimize(canary);
  }
}

void per_request(benchmark::State& state) {
  const std::uint64_t threshold = threshold_for(5);
  std::uint32_t sequence = 0;
  for (auto _ : state) {
    const bool canary = split_point(false, 0, sequence) < threshold;
    benchmark::DoNotOptimize(canary);
  }
}

void three_way(benchmark::State& state) {
  const std::uint64_t upto[] = {threshold_for(90), threshold_for(99), threshold_for(100)};
  std::uint32_t sequence = 0;
  for (auto _ : state) {
    const std::size_t v = variant_for(split_point(false, 0, sequence), upto, 3);
    benchmark::DoNotOptimize(v);
  }
}

}  // namespace

BENCHMARK(sticky);
BENCHMARK(per_request);
BENCHMARK(three_way);
