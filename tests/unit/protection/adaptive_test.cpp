// Adaptive concurrency algorithms and admission arithmetic on synthetic samples and clocks: the
// limit grows while latency holds, shrinks when it rises, waits while the service is idle, and the
// priority bands hand out the documented shares.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/errors.h"
#include "protection/adaptive.h"
#include "protection/gate.h"

using namespace portcullis;
using namespace portcullis::protection;

namespace {

AdaptiveConcurrencyConfig cfg(const std::string& algorithm) {
  AdaptiveConcurrencyConfig c;
  c.algorithm = algorithm;
  c.min_limit = 5;
  c.max_limit = 500;
  c.initial_limit = 50;
  return c;
}

WindowSample busy(double rtt_ms, double in_flight, bool dropped = false) {
  return {rtt_ms * 1e6, in_flight, dropped, 100};
}

}  // namespace

TEST_CASE("gradient2 grows by the queue allowance while latency holds", "[protection]") {
  Gradient2 g(cfg("gradient2"));
  double last = g.limit();
  for (int i = 0; i < 20; ++i) {
    const double next = g.update(busy(10, last));
    CHECK(next > last);
    CHECK(next - last == Approx(0.2 * 4).margin(1e-9));  // smoothing * queue_size
    last = next;
  }
}

TEST_CASE("gradient2 shrinks when latency rises and recovers when it falls back", "[protection]") {
  Gradient2 g(cfg("gradient2"));
  for (int i = 0; i < 20; ++i) g.update(busy(10, g.limit()));
  const double before = g.limit();
  for (int i = 0; i < 30; ++i) {
    const double prev = g.limit();
    g.update(busy(50, prev));
    CHECK(g.limit() <= prev);
  }
  const double slow = g.limit();
  CHECK(slow < before / 2);
  CHECK(slow >= 5);
  for (int i = 0; i < 60; ++i) g.update(busy(10, g.limit()));
  CHECK(g.limit() > slow + 20);
}

TEST_CASE("gradient2 never moves a limit the service is not using", "[protection]") {
  Gradient2 g(cfg("gradient2"));
  g.update(busy(10, 50));
  const double limit = g.limit();
  for (int i = 0; i < 10; ++i) g.update(busy(100, limit / 2 - 1));  // slow, but app-limited
  CHECK(g.limit() == limit);
}

TEST_CASE("gradient2 stays within min_limit and max_limit", "[protection]") {
  auto c = cfg("gradient2");
  c.max_limit = 60;
  Gradient2 g(c);
  for (int i = 0; i < 200; ++i) g.update(busy(10, g.limit() + 1));
  CHECK(g.limit() == 60);
  c.queue_size = 0;  // without the allowance a steady slowdown drives the limit to the floor
  c.initial_limit = 60;
  Gradient2 floor(c);
  for (int i = 0; i < 10; ++i) floor.update(busy(10, 60));  // the long-term average warms up
  for (int i = 0; i < 60; ++i) floor.update(busy(1000, floor.limit()));
  CHECK(floor.limit() == 5);
}

TEST_CASE("vegas learns the no-load latency, then grows on a short queue and shrinks on a long one", "[protection]") {
  Vegas v(cfg("vegas"));
  v.update(busy(10, 50));  // first sample: the no-load latency
  CHECK(v.no_load_rtt() == Approx(10e6));
  CHECK(v.limit() == 50);
  v.update(busy(10.1, 50));  // queue ~0: grows by beta
  CHECK(v.limit() > 50);
  const double grown = v.limit();
  v.update(busy(40, grown));  // queue = 75% of the limit: beyond beta, shrinks
  CHECK(v.limit() < grown);
  const double shrunk = v.limit();
  v.update(busy(10.1, shrunk, true));  // a drop shrinks whatever the latency
  CHECK(v.limit() < shrunk);
}

TEST_CASE("vegas ignores an idle service", "[protection]") {
  Vegas v(cfg("vegas"));
  v.update(busy(10, 50));
  v.update(busy(40, 10));  // in flight below half the limit
  CHECK(v.limit() == 50);
}

TEST_CASE("the limiter closes a window only after its time and its minimum samples", "[protection]") {
  auto c = cfg("gradient2");
  c.window = std::chrono::milliseconds(100);
  c.min_samples = 10;
  AdaptiveLimiter limiter(c);
  const std::int64_t ms = 1'000'000;
  std::int64_t now = 1000 * ms;
  limiter.sample(now, 10 * ms, 40, false);  // opens the window
  for (int i = 0; i < 20; ++i) limiter.sample(now + 50 * ms, 10 * ms, 40, false);
  CHECK(limiter.view().windows == 0);  // enough samples, too early
  for (int i = 0; i < 5; ++i) limiter.sample(now + 150 * ms, 10 * ms, 40, false);
  CHECK(limiter.view().windows == 1);
  CHECK(limiter.view().last_rtt_ms == Approx(10));
  now += 150 * ms;
  for (int i = 0; i < 5; ++i) limiter.sample(now + 200 * ms, 10 * ms, 40, false);
  CHECK(limiter.view().windows == 1);  // time enough, too few samples
  for (int i = 0; i < 5; ++i) limiter.sample(now + 200 * ms, 10 * ms, 40, false);
  CHECK(limiter.view().windows == 2);
  CHECK(limiter.limit() > 50);
}

TEST_CASE("vegas does not take a window that reached the limit as its no-load latency", "[protection]") {
  auto c = cfg("vegas");
  c.probe_multiplier = 1;  // a re-measure is due every 50 requests, i.e. every window here
  Vegas v(c);
  WindowSample full = busy(25, 50);
  full.limited = true;
  v.update(full);
  CHECK(v.no_load_rtt() == 0);  // nothing learned from a queued window
  v.reference(10e6);
  CHECK(v.no_load_rtt() == Approx(10e6));
  for (int i = 0; i < 5; ++i) {
    WindowSample w = busy(25, v.limit());
    w.limited = true;
    v.update(w);
  }
  CHECK(v.no_load_rtt() == Approx(10e6));  // the due re-measures were skipped
  CHECK(v.limit() < 50);                   // and the queue it sees shrinks the limit
  v.update(busy(12, v.limit() / 2 + 1));   // a window under the limit is a fair re-measure
  CHECK(v.no_load_rtt() == Approx(12e6));
}

TEST_CASE("a full limit is probed at half of it, and the probe's latency is the reference", "[protection]") {
  for (const std::string algorithm : {"vegas", "gradient2"}) {
    CAPTURE(algorithm);
    auto c = cfg(algorithm);
    c.window = std::chrono::milliseconds(100);
    c.min_samples = 10;
    c.probe_interval = std::chrono::seconds(5);
    AdaptiveLimiter limiter(c);
    const std::int64_t ms = 1'000'000;
    std::int64_t now = 1000 * ms;
    // Queued behind a full limit: 25 ms each (a window closes with its 20 samples at +100 ms).
    auto window = [&](std::int64_t rtt_ms, std::int64_t in_flight) {
      limiter.sample(now, rtt_ms * ms, in_flight, false);
      now += 100 * ms;
      for (int i = 0; i < 20; ++i) limiter.sample(now, rtt_ms * ms, in_flight, false);
    };
    window(25, limiter.limit());
    window(25, limiter.limit());
    CHECK(limiter.view().probes == 0);  // two full windows may be a burst
    const std::int64_t full = limiter.limit();
    window(25, full);
    REQUIRE(limiter.view().probes == 1);
    CHECK(limiter.limit() >= full / 2 - 1);
    CHECK(limiter.limit() <= full / 2 + 1);
    // Requests admitted before the probe began still come back slow: left out of its measure.
    for (int i = 0; i < 30; ++i) limiter.sample(now + 20 * ms, 120 * ms, 25, false);
    // So are those admitted while the backlog of the full limit (one latency, 25 ms) drains.
    for (int i = 0; i < 30; ++i) limiter.sample(now + 30 * ms, 10 * ms, 25, false);
    CHECK(limiter.view().windows == 3);
    now += 10 * ms;
    for (int i = 0; i < 20; ++i) limiter.sample(now + 100 * ms, 10 * ms, 25, false);
    now += 100 * ms;
    CHECK(limiter.view().windows == 4);
    CHECK(limiter.view().reference_rtt_ms == Approx(10));
    CHECK(limiter.limit() >= full);  // the probe is over: the algorithm's limit is back
    // Full again at 25 ms against a 10 ms reference: the limit shrinks, no second probe yet.
    for (int i = 0; i < 10; ++i) window(25, limiter.limit());
    CHECK(limiter.view().probes == 1);
    CHECK(limiter.limit() < full);
    now += 5000 * ms;
    window(25, limiter.limit());
    CHECK(limiter.view().probes == 2);
  }
}

TEST_CASE("a limit that is never reached is never probed", "[protection]") {
  auto c = cfg("vegas");
  c.window = std::chrono::milliseconds(100);
  AdaptiveLimiter limiter(c);
  const std::int64_t ms = 1'000'000;
  for (std::int64_t t = 0; t < 100; ++t)
    for (int i = 0; i < 20; ++i) limiter.sample((1000 + t * 101) * ms, 12 * ms, 30, false);
  CHECK(limiter.view().windows > 90);
  CHECK(limiter.view().probes == 0);
  for (std::int64_t t = 100; t < 103; ++t) {
    limiter.note_limited();  // one refusal marks the window as full
    for (int i = 0; i < 20; ++i) limiter.sample((1000 + t * 101) * ms, 12 * ms, 30, false);
    CHECK(limiter.view().probes == (t == 102 ? 1u : 0u));
  }
}

TEST_CASE("the limiter takes samples from several threads without losing windows", "[protection]") {
  auto c = cfg("gradient2");
  c.window = std::chrono::milliseconds(1);
  c.min_samples = 1;
  AdaptiveLimiter limiter(c);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&limiter, t] {
      for (int i = 1; i <= 20000; ++i) limiter.sample(static_cast<std::int64_t>(i) * 100'000 + t, 5'000'000, 400, false);
    });
  for (auto& th : threads) th.join();
  CHECK(limiter.view().windows > 100);
  CHECK(limiter.limit() > 50);
  CHECK(limiter.limit() <= 500);
}

TEST_CASE("priority bands hand out their share of a limit, at least one while above zero", "[protection]") {
  PriorityBands bands;
  for (int p = 0; p < 25; ++p) bands.set(p, 500);
  for (int p = 25; p < 50; ++p) bands.set(p, 750);
  CHECK(bands.allowed(100, 0) == 50);
  CHECK(bands.allowed(100, 30) == 75);
  CHECK(bands.allowed(100, 50) == 100);
  CHECK(bands.allowed(1, 0) == 1);
  bands.set(7, 0);
  CHECK(bands.allowed(100, 7) == 0);
  CHECK(priority_band(0) == 0);
  CHECK(priority_band(59) == 50);
  CHECK(priority_band(99) == 90);
}

TEST_CASE("a gate admits up to its allowance and tickets give the slot back", "[protection]") {
  Gate gate;
  CHECK(gate.enter(2));
  CHECK(gate.enter(2));
  CHECK_FALSE(gate.enter(2));
  CHECK(gate.in_flight() == 2);
  {
    GateTicket a(&gate);
    GateTicket b(std::move(a));
  }
  CHECK(gate.in_flight() == 1);
  CHECK(gate.enter(2));
}

TEST_CASE("shedding and adaptive_concurrency keys are validated with their places", "[protection]") {
  ConfigErrors errors("test.yaml");
  parse_config(YAML::Load(R"(shedding:
  max_concurrent_requests: -1
  default_priority: 100
  priority_bands:
    - { from: 10, shed_at: 150% }
    - { from: 5, shed_at: 0.5 }
  retry_after: 100ms
  bogus: 1
services:
  a:
    instances: ["127.0.0.1:1"]
    adaptive_concurrency: { algorithm: aimd, min_limit: 20, max_limit: 10 }
routes:
  - { id: r, path: /a, service: a, priority: 120 }
)"),
               errors);
  std::vector<std::string> lines;
  for (const auto& e : errors.list()) lines.push_back(e.to_string());
  CHECK(lines == std::vector<std::string>{
                     "test.yaml:8:3: shedding.bogus: unknown key",
                     "test.yaml:2:28: shedding.max_concurrent_requests: expected an integer",
                     "test.yaml:3:21: shedding.default_priority: must be between 0 and 99",
                     "test.yaml:5:28: shedding.priority_bands[0].shed_at: expected a share from 0 to 1 or a percentage "
                     "(e.g. 0.8 or 80%)",
                     "test.yaml:6:7: shedding.priority_bands[1].from: bands must be listed in rising order of \"from\"",
                     "test.yaml:5:5: shedding.priority_bands: the first band must start at priority 0 (from: 0)",
                     "test.yaml:7:16: shedding.retry_after: must be at least 1s (Retry-After counts whole seconds)",
                     "test.yaml:12:40: services.a.adaptive_concurrency.algorithm: unknown algorithm \"aimd\" "
                     "(expected gradient2 or vegas)",
                     "test.yaml:12:27: services.a.adaptive_concurrency: min_limit is greater than max_limit",
                     "test.yaml:14:46: routes[0].priority: must be between 0 and 99"});
}

TEST_CASE("shedding defaults and a full block parse to the right values", "[protection]") {
  ConfigErrors errors("test.yaml");
  Config none = parse_config(YAML::Load("server: { listen: \"127.0.0.1:0\" }\n"), errors);
  CHECK(none.shedding.max_concurrent_requests == 0);
  CHECK(none.shedding.priority_header == "X-Priority");
  CHECK(none.shedding.bands.size() == 3);
  Config c = parse_config(YAML::Load(R"(shedding:
  max_concurrent_requests: 500
  priority_header: X-Importance
  default_priority: 40
  max_header_priority: 80
  priority_bands: [{ from: 0, shed_at: 40% }, { from: 70, shed_at: 1 }]
  max_event_loop_lag: 200ms
  lag_probe_interval: 20ms
  retry_after: 2s
services:
  a:
    instances: ["127.0.0.1:1"]
    adaptive_concurrency: { algorithm: vegas, window: 1s, smoothing: 0.5, probe_multiplier: 10, probe_interval: 30s }
routes:
  - { id: r, path: /a, service: a, priority: 90, max_concurrent_requests: 7 }
)"),
                           errors);
  INFO(errors.joined());
  REQUIRE(errors.empty());
  CHECK(c.shedding.max_concurrent_requests == 500);
  CHECK(c.shedding.priority_header == "X-Importance");
  CHECK(c.shedding.default_priority == 40);
  CHECK(c.shedding.max_header_priority == 80);
  REQUIRE(c.shedding.bands.size() == 2);
  CHECK(c.shedding.bands[0].shed_at == Approx(0.4));
  CHECK(c.shedding.bands[1].from == 70);
  CHECK(c.shedding.max_event_loop_lag == std::chrono::milliseconds(200));
  CHECK(c.shedding.retry_after == std::chrono::seconds(2));
  const auto& a = *c.services.at("a").adaptive_concurrency;
  CHECK(a.algorithm == "vegas");
  CHECK(a.window == std::chrono::seconds(1));
  CHECK(*a.smoothing == Approx(0.5));
  CHECK(a.probe_multiplier == 10);
  CHECK(a.probe_interval == std::chrono::seconds(30));
  CHECK(a.initial_limit == 50);
  CHECK(c.routes[0].priority == 90);
  CHECK(c.routes[0].max_concurrent_requests == 7);
}
