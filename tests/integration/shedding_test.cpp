// Load shedding against the real daemon: route and gateway-wide concurrency limits answer 503 with
// Retry-After at once, priorities are shed lowest first, adaptive limits follow a backend's latency,
// an overloaded worker sheds before reading bodies, and accept pauses at max_connections.
#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discovery_support.h"
#include "harness.h"

using namespace harness;
using discovery_support::metric;
using json = nlohmann::json;

namespace {

std::string slow_service(const Backend& b, const std::string& extra = "") {
  return "  slow:\n    instances: [\"" + b.address() + "\"]\n" + extra;
}

const std::string kRoute = "  - id: slow\n    path: /slow/**\n    service: slow\n";

json admin_json(int admin_port, const std::string& path) { return json::parse(get_body(admin_port, path)); }

// Sends a request that holds its slot for `ms` on its own connection; the caller reads it later.
std::unique_ptr<Client> hold(int port, int ms, int priority = -1) {
  auto c = std::make_unique<Client>(port);
  std::string req = "GET /slow/sleep?ms=" + std::to_string(ms) + " HTTP/1.1\r\nHost: t\r\n";
  if (priority >= 0) req += "X-Priority: " + std::to_string(priority) + "\r\n";
  c->send(req + "\r\n");
  return c;
}

std::optional<Response> get_with_priority(int port, int priority) {
  return request(port, "GET", "/slow/x", {{"X-Priority", std::to_string(priority)}});
}

std::string shed_series(const std::string& reason, int band) {
  return "portcullis_shed_requests_total{reason=\"" + reason + "\",priority=\"" + std::to_string(band) + "\"}";
}

}  // namespace

TEST_CASE("a route at max_concurrent_requests answers 503 with Retry-After at once", "[shedding]") {
  Backend b("b");
  Gateway gw(config(slow_service(b), kRoute + "    max_concurrent_requests: 2\n",
                    "shedding:\n  retry_after: 3s\n"));
  auto c1 = hold(gw.port(), 5000), c2 = hold(gw.port(), 5000);
  REQUIRE(eventually([&] { return admin_json(gw.admin_port(), "/admin/shedding")["routes"]["slow"]["in_flight"] == 2; }));
  const auto start = std::chrono::steady_clock::now();
  auto r = request(gw.port(), "GET", "/slow/x");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->header("Retry-After") == "3");
  CHECK(r->body.find("route slow is at max_concurrent_requests") != std::string::npos);
  // Refused while both holders still wait for their backend: it did not queue behind them.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(4));
  CHECK(metric(gw.admin_port(), shed_series("route_limit", 50)) == 1);
  REQUIRE(c1->read_response());
  CHECK(request(gw.port(), "GET", "/slow/x")->status == 200);  // room again
}

TEST_CASE("the gateway-wide limit covers every route and counts shed requests by priority", "[shedding]") {
  Backend b("b");
  Gateway gw(config(slow_service(b), kRoute + "  - id: other\n    path: /other/**\n    service: slow\n",
                    "shedding:\n  max_concurrent_requests: 1\n"));
  auto c1 = hold(gw.port(), 5000);
  REQUIRE(eventually([&] { return admin_json(gw.admin_port(), "/admin/shedding")["in_flight"] == 1; }));
  auto r = request(gw.port(), "GET", "/other/x", {{"X-Priority", "73"}});
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->header("Retry-After") == "1");
  CHECK(metric(gw.admin_port(), shed_series("global_limit", 70)) == 1);
  REQUIRE(c1->read_response());
  CHECK(request(gw.port(), "GET", "/other/x")->status == 200);
}

TEST_CASE("priorities: low priorities are shed first, the top band only when the limit is full", "[shedding]") {
  Backend b("b");
  Gateway gw(config(slow_service(b),
                    kRoute + "  - id: batch\n    path: /batch/**\n    service: slow\n    priority: 5\n" +
                        "  - id: vip\n    path: /vip/**\n    service: slow\n    priority: 95\n",
                    "shedding:\n  max_concurrent_requests: 4\n  max_header_priority: 89\n"
                    "  priority_bands:\n    - { from: 0, shed_at: 50% }\n    - { from: 50, shed_at: 0.75 }\n"
                    "    - { from: 90, shed_at: 100% }\n"));
  auto in_flight = [&] { return admin_json(gw.admin_port(), "/admin/shedding")["in_flight"].get<int>(); };
  std::vector<std::unique_ptr<Client>> holders;
  holders.push_back(hold(gw.port(), 8000, 60));
  holders.push_back(hold(gw.port(), 8000, 60));
  REQUIRE(eventually([&] { return in_flight() == 2; }));
  // 2 of 4 in flight: the lowest band (up to 50%) is full, the others are not.
  CHECK(get_with_priority(gw.port(), 10)->status == 503);
  CHECK(request(gw.port(), "GET", "/batch/x")->status == 503);  // the route's own default priority, 5
  CHECK(get_with_priority(gw.port(), 60)->status == 200);
  holders.push_back(hold(gw.port(), 8000, 60));
  REQUIRE(eventually([&] { return in_flight() == 3; }));
  // 3 of 4: the middle band (up to 75%) is full too. A client asking for 99 through the header is
  // held to max_header_priority (89, the middle band); the route that is configured as important
  // still gets in.
  CHECK(get_with_priority(gw.port(), 60)->status == 503);
  CHECK(get_with_priority(gw.port(), 99)->status == 503);
  CHECK(request(gw.port(), "GET", "/vip/x")->status == 200);
  auto vip = std::make_unique<Client>(gw.port());
  vip->send("GET /vip/sleep?ms=8000 HTTP/1.1\r\nHost: t\r\n\r\n");
  holders.push_back(std::move(vip));
  REQUIRE(eventually([&] { return in_flight() == 4; }));
  // Full: even the top band is refused.
  CHECK(request(gw.port(), "GET", "/vip/x")->status == 503);
  CHECK(metric(gw.admin_port(), shed_series("global_limit", 0)) == 1);
  CHECK(metric(gw.admin_port(), shed_series("global_limit", 10)) == 1);
  CHECK(metric(gw.admin_port(), shed_series("global_limit", 60)) == 1);
  CHECK(metric(gw.admin_port(), shed_series("global_limit", 80)) == 1);
  CHECK(metric(gw.admin_port(), shed_series("global_limit", 90)) == 1);
  for (auto& h : holders) REQUIRE(h->read_response());
}

TEST_CASE("the service bulkhead applies priority bands too", "[shedding]") {
  Backend b("b");
  Gateway gw(config(slow_service(b, "    max_concurrent_requests: 2\n"), kRoute));
  auto c1 = hold(gw.port(), 5000, 60);
  REQUIRE(eventually([&] { return admin_json(gw.admin_port(), "/admin/services")["slow"]["concurrency"]["in_flight"] == 1; }));
  // The default bands: priorities under 25 may fill half of a limit, 25..49 three quarters.
  CHECK(get_with_priority(gw.port(), 3)->status == 503);
  CHECK(get_with_priority(gw.port(), 50)->status == 200);
  CHECK(metric(gw.admin_port(), shed_series("service_limit", 0)) == 1);
  REQUIRE(c1->read_response());
}

namespace {

// Clients that keep requests of a given latency going until stopped; `active(n)` sets how many
// are sending. A shed request is retried after a short pause, as a client honouring Retry-After
// would back off.
class Load {
 public:
  Load(int port, int threads) {
    for (int i = 0; i < threads; ++i)
      threads_.emplace_back([this, port, i] {
        while (!stop_) {
          if (i >= active_) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
          }
          auto r = request(port, "GET", "/slow/sleep?ms=" + std::to_string(ms_.load()));
          if (!r) ++failed_;
          else if (r->status == 200) ++ok_;
          else {
            ++shed_;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        }
      });
  }
  ~Load() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  // An open-loop client population behaves so: when latency rises, more requests are in flight.
  void set(int active, int ms) {
    active_ = active;
    ms_ = ms;
  }
  int ok() const { return ok_; }
  int shed() const { return shed_; }
  int failed() const { return failed_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> active_{0};
  std::atomic<int> ms_{20};
  std::atomic<int> ok_{0}, shed_{0}, failed_{0};
  std::vector<std::thread> threads_;
};

}  // namespace

TEST_CASE("an adaptive limit falls when the backend slows down five times and recovers after", "[shedding]") {
  const std::string algorithm = GENERATE(std::string("gradient2"), std::string("vegas"));
  INFO(algorithm);
  Backend b("b");
  Gateway gw(config(slow_service(b, "    adaptive_concurrency: { algorithm: " + algorithm +
                                        ", min_limit: 2, max_limit: 200, initial_limit: 16, window: 100ms, "
                                        "min_samples: 5 }\n"),
                    kRoute));
  auto adaptive = [&] { return admin_json(gw.admin_port(), "/admin/services")["slow"]["concurrency"]["adaptive"]; };
  auto limit = [&] { return adaptive()["limit"].get<int>(); };
  Load load(gw.port(), 48);
  load.set(10, 20);
  // Settle at the normal latency: let it run for a number of windows, not a time.
  REQUIRE(eventually([&] { return adaptive()["windows"].get<int>() >= 30; }, std::chrono::seconds(30)));
  const int normal = limit();
  INFO("limit at 20 ms: " << normal);
  CHECK(normal >= 8);
  // Five times slower at the same request rate: five times as many requests want to be in flight.
  load.set(48, 100);
  int lowest = normal;
  CHECK(eventually([&] { lowest = std::min(lowest, limit()); return lowest <= normal / 2; }, std::chrono::seconds(30)));
  INFO("lowest limit at 100 ms: " << lowest);
  CHECK(load.shed() > 0);
  CHECK(metric(gw.admin_port(), "portcullis_shed_requests_total{reason=\"adaptive_limit\",priority=\"50\"}") > 0);
  load.set(10, 20);
  CHECK(eventually([&] { return limit() >= lowest + 4 && limit() >= normal * 3 / 4; }, std::chrono::seconds(30)));
  CHECK(load.failed() == 0);
  CHECK(load.ok() > 0);
}

TEST_CASE("an overloaded worker sheds new requests before reading their bodies", "[shedding]") {
  Backend b("b");
  // A bound of 1ns is always exceeded: every probe finds the worker "lagging".
  Gateway gw(config(slow_service(b), kRoute, "shedding:\n  max_event_loop_lag: 1ns\n  lag_probe_interval: 5ms\n"));
  REQUIRE(eventually([&] { return admin_json(gw.admin_port(), "/admin/shedding")["workers"][0]["lagging"] == true; }));
  Client c(gw.port());
  // The body is announced but never sent: the answer must not wait for it.
  c.send("POST /slow/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n");
  auto r = c.read_response(false, std::chrono::seconds(5));
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->body.find("event loop lag") != std::string::npos);
  CHECK(metric(gw.admin_port(), shed_series("event_loop_lag", 50)) == 1);
  CHECK(metric(gw.admin_port(), "portcullis_event_loop_lag_seconds_count{worker=\"0\"}") > 0);
}

TEST_CASE("without a lag bound the lag is measured but nothing is shed", "[shedding]") {
  Backend b("b");
  Gateway gw(config(slow_service(b), kRoute, "shedding:\n  lag_probe_interval: 5ms\n"));
  REQUIRE(eventually([&] { return metric(gw.admin_port(), "portcullis_event_loop_lag_seconds_count{worker=\"0\"}") >= 3; }));
  CHECK(request(gw.port(), "GET", "/slow/x")->status == 200);
  CHECK(admin_json(gw.admin_port(), "/admin/shedding")["workers"][0]["lagging"] == false);
}

TEST_CASE("at max_connections accept pauses and open connections keep working", "[shedding]") {
  Backend b("b");
  Gateway gw(config(slow_service(b), kRoute, "  limits: { max_connections: 2 }\n"));
  auto c1 = std::make_unique<Client>(gw.port());
  Client c2(gw.port());
  for (Client* c : {c1.get(), &c2}) {
    c->send("GET /slow/x HTTP/1.1\r\nHost: t\r\n\r\n");
    REQUIRE(c->read_response()->status == 200);
  }
  // The third connection completes in the kernel's backlog; the gateway does not take it yet.
  Client c3(gw.port());
  c3.send("GET /slow/third HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(eventually([&] { return metric(gw.admin_port(), "portcullis_accept_paused") == 1; }));
  CHECK(metric(gw.admin_port(), "portcullis_accept_pauses_total") >= 1);
  // The open connections are served as before.
  c2.send("GET /slow/again HTTP/1.1\r\nHost: t\r\n\r\n");
  auto again = c2.read_response();
  REQUIRE(again);
  CHECK(again->status == 200);
  // One closes: the waiting connection is taken and answered, not dropped.
  c1.reset();
  auto third = c3.read_response();
  REQUIRE(third);
  CHECK(third->status == 200);
  // With c3 taken the worker is at the limit again: paused a second time.
  CHECK(eventually([&] { return metric(gw.admin_port(), "portcullis_accept_pauses_total") == 2; }));
}
