// Metrics registry and shards: summing across shards, slot reuse on re-registration, histogram
// layout, escaping, scrapes racing writers, and the rendered text as judged by the real promtool.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include "observability/metrics.h"

using portcullis::observability::Labels;
using portcullis::observability::Registry;

namespace {

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// The number printed after `series ` on its own line, or -1 if the series is missing.
double value_of(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};

// Runs `promtool check metrics` over the text; a missing promtool is a broken environment, not a
// reason to skip, because the project installs it.
PromtoolResult promtool_check(const std::string& text) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    FAIL("promtool not found on PATH: install the 'prometheus' package (the project's setup "
         "does); the exposition check cannot run without it");
  char path[] = "/tmp/portcullis_metrics_XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  {
    std::ofstream file(path, std::ios::binary);
    file << text;
  }
  PromtoolResult result;
  std::string command = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[512];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  int status = ::pclose(pipe);
  ::unlink(path);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace

TEST_CASE("counters are summed over shards", "[metrics]") {
  Registry registry(3);
  auto id = registry.counter("test_requests_total", "Requests.", {{"route", "a"}});
  registry.shard(0).inc(id);
  registry.shard(1).inc(id, 5);
  registry.shard(2).inc(id, 10);
  registry.shard(2).inc(id);
  std::string text = registry.render();
  CHECK(contains(text, "# HELP test_requests_total Requests.\n"));
  CHECK(contains(text, "# TYPE test_requests_total counter\n"));
  CHECK(contains(text, "test_requests_total{route=\"a\"} 17\n"));
}

TEST_CASE("a series without labels renders without braces", "[metrics]") {
  Registry registry(1);
  auto id = registry.counter("test_plain_total", "Plain.");
  registry.shard(0).inc(id, 2);
  CHECK(contains(registry.render(), "\ntest_plain_total 2\n"));
}

TEST_CASE("gauges sum signed deltas over shards", "[metrics]") {
  Registry registry(2);
  auto id = registry.gauge("test_connections", "Open connections.");
  registry.shard(0).add(id, 3);
  registry.shard(1).add(id, -5);
  CHECK(contains(registry.render(), "\ntest_connections -2\n"));
  registry.shard(0).add(id, -1);
  CHECK(contains(registry.render(), "\ntest_connections -3\n"));
  registry.shard(0).set(id, 10);
  registry.shard(1).set(id, 0);
  CHECK(contains(registry.render(), "\ntest_connections 10\n"));
  CHECK(contains(registry.render(), "# TYPE test_connections gauge\n"));
}

TEST_CASE("the same name and labels return the same slot", "[metrics]") {
  Registry registry(2);
  Labels a{{"route", "a"}, {"code", "2xx"}};
  Labels b{{"route", "b"}, {"code", "2xx"}};
  auto first = registry.counter("test_hits_total", "Hits.", a);
  auto other = registry.counter("test_hits_total", "Ignored second help.", b);
  auto again = registry.counter("test_hits_total", "Hits.", a);
  CHECK(first.valid());
  CHECK(first.index == again.index);
  CHECK(first.index != other.index);

  auto h1 = registry.histogram("test_latency_seconds", "Latency.", {{"route", "a"}},
                               Registry::default_latency_bounds());
  auto h2 = registry.histogram("test_latency_seconds", "Latency.", {{"route", "a"}},
                               Registry::default_latency_bounds());
  CHECK(h1.index == h2.index);
  CHECK(h1.bounds == h2.bounds);
  CHECK(h1.bounds != &Registry::default_latency_bounds());  // the registry keeps its own copy
  CHECK(*h1.bounds == Registry::default_latency_bounds());

  // Help is fixed by the first registration.
  CHECK(contains(registry.render(), "# HELP test_hits_total Hits.\n"));
}

TEST_CASE("conflicting registrations are programming errors", "[metrics]") {
  Registry registry(1);
  registry.counter("test_thing_total", "Thing.", {{"route", "a"}});
  CHECK_THROWS_AS(registry.gauge("test_thing_total", "Thing.", {{"route", "a"}}), std::logic_error);
  CHECK_THROWS_AS(registry.counter("test_thing_total", "Thing.", {{"service", "a"}}), std::logic_error);
  CHECK_THROWS_AS(registry.counter("test_thing_total", "Thing."), std::logic_error);
  CHECK_THROWS_AS(registry.counter("bad-name", "Bad."), std::logic_error);
  CHECK_THROWS_AS(registry.counter("test_other_total", "Bad.", {{"bad label", "x"}}), std::logic_error);
  CHECK_THROWS_AS(registry.counter("test_dup_total", "Dup.", {{"a", "1"}, {"a", "2"}}), std::logic_error);
  CHECK_THROWS_AS(registry.histogram("test_h_seconds", "H.", {{"le", "1"}}, {1.0}), std::logic_error);
  CHECK_THROWS_AS(registry.histogram("test_h_seconds", "H.", {}, {2.0, 1.0}), std::logic_error);
  registry.histogram("test_h2_seconds", "H.", {}, {1.0, 2.0});
  CHECK_THROWS_AS(registry.histogram("test_h2_seconds", "H.", {}, {1.0, 3.0}), std::logic_error);
  // A refused registration leaves nothing half-made behind.
  std::string text = registry.render();
  CHECK_FALSE(contains(text, "bad-name"));
  CHECK_FALSE(contains(text, "test_other_total"));
  CHECK_FALSE(contains(text, "test_h_seconds"));
}

TEST_CASE("unwritten slots read as zero", "[metrics]") {
  Registry registry(2);
  auto id = registry.counter("test_zero_total", "Zero.");
  CHECK(registry.shard(0).read(id.index) == 0);
  CHECK(registry.shard(1).read(id.index) == 0);
  CHECK(registry.shard(0).read(1'000'000) == 0);  // block never allocated
  CHECK(contains(registry.render(), "\ntest_zero_total 0\n"));
}

TEST_CASE("many series spill into further blocks", "[metrics]") {
  Registry registry(2);
  std::vector<portcullis::observability::CounterId> ids;
  for (int i = 0; i < 5000; ++i)
    ids.push_back(registry.counter("test_many_total", "Many.", {{"n", std::to_string(i)}}));
  CHECK(ids.back().index >= portcullis::observability::Shard::block_slots);
  registry.shard(1).inc(ids.back(), 7);
  CHECK(registry.shard(1).read(ids.back().index) == 7);
  CHECK(contains(registry.render(), "test_many_total{n=\"4999\"} 7\n"));
}

TEST_CASE("histogram observations land in the right buckets", "[metrics]") {
  Registry registry(2);
  auto id = registry.histogram("test_duration_seconds", "Duration.", {{"route", "r"}}, {0.005, 1, 60});
  REQUIRE(id.bounds != nullptr);
  auto& s0 = registry.shard(0);
  auto& s1 = registry.shard(1);
  s0.observe(id, 0.001);  // first bucket
  s0.observe(id, 0.005);  // on the bound: still the first bucket (le is inclusive)
  s1.observe(id, 0.5);    // second
  s1.observe(id, 60);     // third, on the bound
  s1.observe(id, 61);     // +Inf only

  // The raw slots are non-cumulative: one per bucket, then +Inf, count, sum in nanoseconds.
  auto raw = [&](std::uint32_t i) { return s0.read(id.index + i) + s1.read(id.index + i); };
  CHECK(raw(0) == 2);
  CHECK(raw(1) == 1);
  CHECK(raw(2) == 1);
  CHECK(raw(3) == 1);
  CHECK(raw(4) == 5);
  CHECK(raw(5) == 121'506'000'000ULL);

  std::string text = registry.render();
  CHECK(contains(text, "# TYPE test_duration_seconds histogram\n"));
  // Buckets are cumulative and in bound order; the serializer writes _count and _sum first.
  CHECK(contains(text,
                 "test_duration_seconds_bucket{route=\"r\",le=\"0.005\"} 2\n"
                 "test_duration_seconds_bucket{route=\"r\",le=\"1\"} 3\n"
                 "test_duration_seconds_bucket{route=\"r\",le=\"60\"} 4\n"
                 "test_duration_seconds_bucket{route=\"r\",le=\"+Inf\"} 5\n"));
  CHECK(contains(text, "\ntest_duration_seconds_sum{route=\"r\"} 121.506\n"));
  CHECK(contains(text, "\ntest_duration_seconds_count{route=\"r\"} 5\n"));
}

TEST_CASE("histogram without labels and default bounds renders naturally", "[metrics]") {
  Registry registry(1);
  auto id = registry.histogram("test_wait_seconds", "Wait.", {}, Registry::default_latency_bounds());
  registry.shard(0).observe(id, 0.0003);
  registry.shard(0).observe(id, 0.02);
  std::string text = registry.render();
  CHECK(contains(text, "test_wait_seconds_bucket{le=\"0.0005\"} 1\n"));
  CHECK(contains(text, "test_wait_seconds_bucket{le=\"0.01\"} 1\n"));
  CHECK(contains(text, "test_wait_seconds_bucket{le=\"0.025\"} 2\n"));
  CHECK(contains(text, "test_wait_seconds_bucket{le=\"2.5\"} 2\n"));
  CHECK(contains(text, "test_wait_seconds_bucket{le=\"60\"} 2\n"));
  CHECK(contains(text, "test_wait_seconds_bucket{le=\"+Inf\"} 2\n"));
  CHECK(contains(text, "test_wait_seconds_sum 0.0203\n"));
  CHECK(contains(text, "test_wait_seconds_count 2\n"));
}

TEST_CASE("default latency bounds", "[metrics]") {
  const std::vector<double> expected{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,   0.5,   1,      2.5,   5,     10,   30,    60};
  CHECK(Registry::default_latency_bounds() == expected);
}

TEST_CASE("help and label values are escaped", "[metrics]") {
  Registry registry(1);
  auto id = registry.counter("test_escape_total", "Back\\slash and\nnewline \"quotes\" stay.",
                             {{"path", "a\\b\"c\nd"}});
  registry.shard(0).inc(id);
  std::string text = registry.render();
  CHECK(contains(text, "# HELP test_escape_total Back\\\\slash and\\nnewline \"quotes\" stay.\n"));
  CHECK(contains(text, "test_escape_total{path=\"a\\\\b\\\"c\\nd\"} 1\n"));
}

TEST_CASE("families render sorted by name, labels in registration order", "[metrics]") {
  Registry registry(1);
  registry.counter("test_zz_total", "Z.");
  registry.gauge("test_aa", "A.", {{"zone", "1"}, {"app", "2"}});
  registry.counter("test_mm_total", "M.");
  std::string text = registry.render();
  auto aa = text.find("# HELP test_aa ");
  auto mm = text.find("# HELP test_mm_total ");
  auto zz = text.find("# HELP test_zz_total ");
  REQUIRE(aa != std::string::npos);
  REQUIRE(mm != std::string::npos);
  REQUIRE(zz != std::string::npos);
  CHECK(aa < mm);
  CHECK(mm < zz);
  CHECK(contains(text, "test_aa{zone=\"1\",app=\"2\"} 0\n"));
}

TEST_CASE("scrapes racing writers see monotonic values and an exact final total", "[metrics]") {
  constexpr unsigned writers = 4;
  constexpr std::uint64_t per_writer = 200'000;
  Registry registry(writers);
  auto counter = registry.counter("test_race_total", "Race.");
  auto hist = registry.histogram("test_race_seconds", "Race.", {}, {0.001, 0.01});

  std::atomic<bool> done{false};
  std::vector<double> seen;
  std::thread scraper([&] {
    while (!done.load(std::memory_order_acquire)) {
      std::string text = registry.render();
      seen.push_back(value_of(text, "test_race_total"));
      // Every scrape must be internally consistent: +Inf bucket equals _count.
      double inf = value_of(text, "test_race_seconds_bucket{le=\"+Inf\"}");
      double count = value_of(text, "test_race_seconds_count");
      if (inf != count) seen.push_back(-1);
    }
  });
  std::vector<std::thread> threads;
  for (unsigned w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      auto& shard = registry.shard(w);
      for (std::uint64_t i = 0; i < per_writer; ++i) {
        shard.inc(counter);
        if (i % 16 == 0) shard.observe(hist, 0.002);
      }
    });
  }
  for (auto& t : threads) t.join();
  done.store(true, std::memory_order_release);
  scraper.join();

  REQUIRE_FALSE(seen.empty());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    INFO("scrape " << i);
    REQUIRE(seen[i] >= 0);
    if (i > 0) REQUIRE(seen[i] >= seen[i - 1]);
  }
  std::string text = registry.render();
  CHECK(value_of(text, "test_race_total") == static_cast<double>(writers * per_writer));
  const double observations = writers * ((per_writer + 15) / 16);
  CHECK(value_of(text, "test_race_seconds_count") == observations);
  CHECK(value_of(text, "test_race_seconds_bucket{le=\"0.01\"}") == observations);
  CHECK(value_of(text, "test_race_seconds_bucket{le=\"0.001\"}") == 0);
}

TEST_CASE("rendered output passes promtool check metrics", "[metrics][promtool]") {
  Registry registry(2);
  auto requests = registry.counter("portcullis_test_requests_total", "Requests answered, by route.",
                                   {{"route", "api"}, {"code_class", "2xx"}});
  registry.counter("portcullis_test_requests_total", "Requests answered, by route.",
                   {{"route", "odd \"name\"\\with\nnewline"}, {"code_class", "5xx"}});
  auto active = registry.gauge("portcullis_test_active_connections", "Open downstream\nconnections \\ now.");
  auto duration = registry.histogram("portcullis_test_request_duration_seconds",
                                     "Time from request head to response end.", {{"route", "api"}},
                                     Registry::default_latency_bounds());
  registry.histogram("portcullis_test_request_duration_seconds", "Time from request head to response end.",
                     {{"route", "empty"}}, Registry::default_latency_bounds());
  registry.shard(0).inc(requests, 3);
  registry.shard(1).inc(requests, 4);
  registry.shard(0).add(active, -2);
  registry.shard(1).add(active, 1);
  for (double v : {0.0001, 0.003, 0.2, 7.0, 100.0}) registry.shard(1).observe(duration, v);

  std::string text = registry.render();
  PromtoolResult result = promtool_check(text);
  INFO("promtool output:\n" << result.output << "\nrendered text:\n" << text);
  REQUIRE(result.exit_code == 0);
}

TEST_CASE("the promtool check rejects broken exposition text", "[metrics][promtool]") {
  // Guards the check above against passing vacuously (say, promtool never reading the input).
  PromtoolResult result = promtool_check("# TYPE broken counter\nbroken{le=\"1\" 1\n");
  INFO("promtool output:\n" << result.output);
  CHECK(result.exit_code != 0);
}

TEST_CASE("the registry is a prometheus-cpp Collectable with the shards summed", "[metrics]") {
  Registry registry(2);
  auto hits = registry.counter("test_collect_total", "Hits.", {{"route", "a"}});
  auto depth = registry.gauge("test_collect_depth", "Depth.");
  auto wait = registry.histogram("test_collect_seconds", "Wait.", {}, {0.1, 1});
  registry.shard(0).inc(hits, 3);
  registry.shard(1).inc(hits, 4);
  registry.shard(0).add(depth, 2);
  registry.shard(1).add(depth, -5);
  registry.shard(1).observe(wait, 0.5);

  const std::shared_ptr<prometheus::Collectable> collectable = registry.collectable();
  const std::vector<prometheus::MetricFamily> families = collectable->Collect();
  REQUIRE(families.size() == 3);  // sorted by name
  CHECK(families[0].name == "test_collect_depth");
  CHECK(families[0].type == prometheus::MetricType::Gauge);
  CHECK(families[0].metric.at(0).gauge.value == -3);
  CHECK(families[1].name == "test_collect_seconds");
  CHECK(families[1].type == prometheus::MetricType::Histogram);
  const auto& histogram = families[1].metric.at(0).histogram;
  CHECK(histogram.sample_count == 1);
  CHECK(histogram.sample_sum == 0.5);
  REQUIRE(histogram.bucket.size() == 3);
  CHECK(histogram.bucket[0].cumulative_count == 0);
  CHECK(histogram.bucket[1].cumulative_count == 1);
  CHECK(histogram.bucket[2].cumulative_count == 1);
  CHECK(std::isinf(histogram.bucket[2].upper_bound));
  CHECK(families[2].name == "test_collect_total");
  CHECK(families[2].help == "Hits.");
  REQUIRE(families[2].metric.at(0).label.size() == 1);
  CHECK(families[2].metric[0].label[0].name == "route");
  CHECK(families[2].metric[0].label[0].value == "a");
  CHECK(families[2].metric[0].counter.value == 7);
  // /metrics is exactly this model through prometheus-cpp's serializer.
  CHECK(prometheus::TextSerializer().Serialize(families) == registry.render());
}
