// Departed instances: what a service keeps for an address that left, and when it lets go.
#include <chrono>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "discovery/balancer.h"
#include "discovery/service_runtime.h"

using namespace portcullis;
using namespace portcullis::discovery;
using namespace std::chrono_literals;

namespace {

std::vector<DiscoveredInstance> hosts(int from, int to) {
  std::vector<DiscoveredInstance> out;
  for (int i = from; i < to; ++i) {
    DiscoveredInstance d;
    d.host = "10.1.0." + std::to_string(i + 1);
    d.port = 8000;
    out.push_back(d);
  }
  return out;
}

std::int64_t later(std::chrono::nanoseconds by) {
  return (std::chrono::steady_clock::now().time_since_epoch() + by).count();
}

std::size_t per_instance_series(const observability::Registry& metrics) {  // sample lines with an instance label
  std::istringstream text(metrics.render());
  std::size_t n = 0;
  for (std::string line; std::getline(text, line);)
    if (!line.starts_with("#") && line.find("instance=\"") != std::string::npos) ++n;
  return n;
}

}  // namespace

TEST_CASE("registry: a removed series leaves the scrape and its slot comes back zeroed", "[discovery][departed]") {
  observability::Registry metrics(2);
  auto a = metrics.counter("t_total", "T.", {{"k", "a"}});
  auto b = metrics.counter("t_total", "T.", {{"k", "b"}});
  metrics.shard(0).inc(a, 5);
  metrics.shard(1).inc(b, 7);
  const std::size_t before = metrics.series_count();
  metrics.remove(a);
  CHECK(metrics.series_count() == before - 1);
  const std::string text = metrics.render();
  CHECK(text.find("k=\"a\"") == std::string::npos);
  CHECK(text.find("t_total{k=\"b\"} 7") != std::string::npos);

  auto c = metrics.counter("t_total", "T.", {{"k", "c"}});
  CHECK(c.index == a.index);  // the freed slot is reused ...
  CHECK(metrics.render().find("t_total{k=\"c\"} 0") != std::string::npos);  // ... from zero
  // The same labels again after removal is a new series, not the old one's value.
  metrics.remove(b);
  auto b2 = metrics.counter("t_total", "T.", {{"k", "b"}});
  CHECK(metrics.render().find("t_total{k=\"b\"} 0") != std::string::npos);
  CHECK(b2.index == b.index);
  // A family whose series are all gone is not rendered at all.
  auto g = metrics.gauge("lonely", "L.");
  metrics.remove(g);
  CHECK(metrics.render().find("lonely") == std::string::npos);
}

TEST_CASE("instance ids: shared by services, freed with the last holder, then reused", "[discovery][departed]") {
  InstanceIds ids;
  const auto x = ids.acquire("10.0.0.1:80");
  const auto y = ids.acquire("10.0.0.2:80");
  CHECK(x != y);
  CHECK(ids.acquire("10.0.0.1:80") == x);  // a second service with the same address
  ids.release("10.0.0.1:80");
  CHECK(ids.acquire("10.0.0.3:80") != x);  // still held by one service
  ids.release("10.0.0.1:80");
  CHECK(ids.size() == 2);
  CHECK(ids.acquire("10.0.0.4:80") == x);  // the numbering stays as large as what is alive
  ids.release("nobody");                   // unknown: ignored
  CHECK(ids.size() == 3);
}

TEST_CASE("service: a departed address is forgotten only after the retention and once no set holds it",
          "[discovery][departed]") {
  observability::Registry metrics(2);
  auto ids = std::make_shared<InstanceIds>();
  ServiceRuntime rt("svc", 0, metrics, ids);
  rt.publish(hosts(0, 3), "test");
  const std::size_t three = per_instance_series(metrics);
  CHECK(three == 3 * 8);
  Balancer worker;  // a worker that picked from the first set and has not looked since
  worker.refresh(rt);
  auto request = worker.hold();  // and a request in flight on it

  rt.publish(hosts(0, 1), "test");  // two left
  bool waiting = false;
  CHECK(rt.departed(later(0s), 1min, waiting).empty());  // not for a minute
  CHECK_FALSE(waiting);
  CHECK(rt.departed(later(2min), 1min, waiting).empty());  // the old set is still held
  CHECK(waiting);

  worker.drop_stale();  // the worker's pass lets go of its cache; the request still holds the set
  waiting = false;
  CHECK(rt.departed(later(2min), 1min, waiting).empty());
  CHECK(waiting);
  request.reset();  // the request ends
  waiting = false;
  auto gone = rt.departed(later(2min), 1min, waiting);
  CHECK_FALSE(waiting);
  REQUIRE(gone.size() == 2);
  const std::uint32_t freed[2] = {rt.instance_id(gone[0]), rt.instance_id(gone[1])};
  for (const auto& address : gone) rt.forget(address, later(1min));
  CHECK(per_instance_series(metrics) == 8);
  CHECK(rt.known_addresses() == 1);
  CHECK(ids->size() == 1);

  // A new instance takes a freed id; the one that stayed kept its own and its counts.
  rt.publish(hosts(0, 2), "test");
  auto set = rt.instances();
  REQUIRE(set->instances.size() == 2);
  CHECK((set->instances[1].id == freed[0] || set->instances[1].id == freed[1]));
  CHECK(set->instances[1].id != set->instances[0].id);
  CHECK(ids->size() == 2);
  CHECK(per_instance_series(metrics) == 2 * 8);
}

TEST_CASE("service: an address that comes back before the sweep is not forgotten", "[discovery][departed]") {
  observability::Registry metrics(2);
  ServiceRuntime rt("svc", 0, metrics);
  rt.publish(hosts(0, 2), "test");
  const std::uint32_t id = rt.instances()->instances[1].id;
  metrics.shard(0).inc(rt.instances()->instances[1].metrics.requests[2], 3);
  rt.publish(hosts(0, 1), "test");
  bool waiting = false;
  auto gone = rt.departed(later(2min), 1min, waiting);
  REQUIRE(gone.size() == 1);
  rt.publish(hosts(0, 2), "test");  // back between the sweep's look and its forget
  rt.forget(gone[0], later(1min));
  CHECK(rt.known_addresses() == 2);
  CHECK(rt.instances()->instances[1].id == id);
  CHECK(metrics.render().find("instance=\"10.1.0.2:8000\",code_class=\"2xx\"} 3") != std::string::npos);  // kept its counts
  waiting = false;
  CHECK(rt.departed(later(2min), 1min, waiting).empty());
  // Back and gone again while the workers made their pass: it left after the sweep looked.
  const std::int64_t looked = later(1min);
  rt.publish(hosts(0, 1), "test");
  rt.forget(gone[0], looked - 2 * 60'000'000'000LL);
  CHECK(rt.known_addresses() == 2);
  rt.forget(gone[0], later(1min));
  CHECK(rt.known_addresses() == 1);
}
