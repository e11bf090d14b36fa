// Client-side balancing and resilience through the real daemon and real backends: the policies,
// a killed instance, outlier ejection, active health checks, zones, retries, the circuit breaker,
// the bulkhead and the route timeout.
#include <signal.h>

#include <atomic>
#include <map>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.h"

using namespace harness;
using json = nlohmann::json;

namespace {

std::string list(const std::vector<std::string>& addresses) {
  std::string out = "[";
  for (std::size_t i = 0; i < addresses.size(); ++i) out += (i ? ", \"" : "\"") + addresses[i] + "\"";
  return out + "]";
}

const std::string kRoute = "  - id: hello\n    path: /hello/**\n    service: hello\n";

std::map<std::string, int> spread(int port, int n, const std::string& target = "/hello/x",
                                  const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  std::map<std::string, int> seen;
  Client c(port);
  for (int i = 0; i < n; ++i) {
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: t\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    c.send(req + "\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    ++seen[r->status == 200 ? r->header("X-Backend") : "status " + std::to_string(r->status)];
  }
  return seen;
}

json service_state(int admin_port, const std::string& service = "hello") {
  return json::parse(request(admin_port, "GET", "/admin/services")->body).at(service);
}

json instance_state(int admin_port, const std::string& address) {
  const json service = service_state(admin_port);
  for (const auto& i : service.at("instances"))
    if (i.at("address") == address) return i;
  return json();
}

// The series' value; -1 when the series is not exported at all.
std::int64_t metric(int admin_port, const std::string& series) {
  std::string text = request(admin_port, "GET", "/metrics")->body;
  std::size_t at = text.find(series + " ");
  return at == std::string::npos ? -1 : std::stoll(text.substr(at + series.size() + 1));
}

const std::string kNoRetries = "    retries: { max_auto_retries_next_server: 0 }\n";

}  // namespace

TEST_CASE("round_robin gives each instance the same share", "[balancing]") {
  Backend a("a"), b("b"), c("c");
  Gateway gw(config("  hello:\n    instances: " + list({a.address(), b.address(), c.address()}) + "\n", kRoute));
  auto seen = spread(gw.port(), 30);
  CHECK(seen == std::map<std::string, int>{{"a", 10}, {"b", 10}, {"c", 10}});
}

TEST_CASE("round_robin is one sequence for the service across workers", "[balancing]") {
  Backend a("a"), b("b");
  Gateway gw(config("  hello:\n    instances: " + list({a.address(), b.address()}) + "\n", kRoute, "", 2));
  // Each request on a new connection, so the two workers' acceptors share them out; the instances
  // still answer in strict alternation, as Ribbon's single cursor has them.
  std::vector<std::string> order;
  for (int i = 0; i < 20; ++i) {
    auto r = request(gw.port(), "GET", "/hello/x");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    order.push_back(r->header("X-Backend"));
  }
  for (std::size_t i = 1; i < order.size(); ++i) {
    INFO("request " << i << ": " << order[i - 1] << " then " << order[i]);
    CHECK(order[i] != order[i - 1]);
  }
}

TEST_CASE("weighted_round_robin follows the configured weights", "[balancing]") {
  Backend a("a"), b("b");
  Gateway gw(config("  hello:\n    lb: weighted_round_robin\n    instances:\n"
                    "      - { address: \"" + a.address() + "\", weight: 3 }\n"
                    "      - { address: \"" + b.address() + "\", weight: 1 }\n",
                    kRoute));
  auto seen = spread(gw.port(), 40);
  CHECK(seen == std::map<std::string, int>{{"a", 30}, {"b", 10}});
}

TEST_CASE("random reaches every instance", "[balancing]") {
  Backend a("a"), b("b");
  Gateway gw(config("  hello:\n    lb: random\n    instances: " + list({a.address(), b.address()}) + "\n", kRoute));
  auto seen = spread(gw.port(), 60);
  CHECK(seen["a"] + seen["b"] == 60);
  CHECK(seen["a"] > 0);
  CHECK(seen["b"] > 0);
}

TEST_CASE("least_request prefers the instance with fewer requests in flight", "[balancing]") {
  Backend a("a"), b("b");
  Gateway gw(config("  hello:\n    lb: least_request\n    instances: " + list({a.address(), b.address()}) + "\n",
                    kRoute, "", 1));
  // Hold requests on whichever instances they land until eight sit on one of them.
  std::vector<std::unique_ptr<Client>> held;
  std::string busy;
  int idle_in_flight = 0;
  for (int i = 0; i < 40 && busy.empty(); ++i) {
    held.push_back(std::make_unique<Client>(gw.port()));
    held.back()->send("GET /hello/sleep?ms=30000 HTTP/1.1\r\nHost: t\r\n\r\n");
    REQUIRE(eventually([&] { return service_state(gw.admin_port()).at("in_flight") == static_cast<int>(held.size()); }));
    const json service = service_state(gw.admin_port());
    for (const auto& inst : service.at("instances")) {
      if (inst.at("in_flight").get<int>() >= 8) busy = inst.at("address");
      else idle_in_flight = inst.at("in_flight").get<int>();
    }
  }
  REQUIRE_FALSE(busy.empty());
  REQUIRE(idle_in_flight < 8);
  const std::string busy_name = busy == a.address() ? "a" : "b";
  const std::string idle_name = busy_name == "a" ? "b" : "a";
  // Power of two choices: the busy instance is picked only when both draws land on it (1 in 4),
  // so about 75 of 100 go to the other one; random would give 50 (P(>= 62) under 1%).
  auto seen = spread(gw.port(), 100);
  INFO("idle instance had " << idle_in_flight << " in flight");
  CHECK(seen[idle_name] >= 62);
  held.clear();
}

TEST_CASE("consistent_hash keeps keys on their instance and moves about 1/10 when one of 10 leaves", "[balancing]") {
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<std::string> addresses;
  for (int i = 0; i < 10; ++i) {
    backends.push_back(std::make_unique<Backend>("b" + std::to_string(i)));
    addresses.push_back(backends.back()->address());
  }
  auto yaml = [&](const std::vector<std::string>& a) {
    return config("  hello:\n    lb: consistent_hash\n    hash_on: \"header:X-User\"\n    instances: " + list(a) + "\n",
                  kRoute, "", 2);
  };
  Gateway gw(yaml(addresses));
  auto assign = [&] {
    std::map<int, std::string> out;
    Client c(gw.port());
    for (int user = 0; user < 1000; ++user) {
      c.send("GET /hello/x HTTP/1.1\r\nHost: t\r\nX-User: user-" + std::to_string(user) + "\r\n\r\n");
      auto r = c.read_response();
      REQUIRE(r);
      REQUIRE(r->status == 200);
      out[user] = r->header("X-Backend");
    }
    return out;
  };
  auto before = assign();
  CHECK(assign() == before);  // sticky: the same key lands on the same instance every time
  std::map<std::string, int> per_instance;
  for (const auto& [user, name] : before) ++per_instance[name];
  CHECK(per_instance.size() == 10);

  addresses.erase(addresses.begin() + 3);  // b3 leaves
  gw.rewrite_config(yaml(addresses));
  REQUIRE(request(gw.admin_port(), "POST", "/admin/reload")->status == 200);
  auto after = assign();
  int moved = 0, moved_elsewhere = 0;
  for (const auto& [user, name] : before) {
    if (after[user] != name) ++moved;
    if (after[user] != name && name != "b3") ++moved_elsewhere;
  }
  INFO("moved " << moved << " of 1000, of which not from b3: " << moved_elsewhere);
  CHECK(moved == per_instance["b3"] + moved_elsewhere);
  CHECK(moved >= 50);
  CHECK(moved <= 160);
  CHECK(moved_elsewhere <= 20);  // Maglev: almost only the leaving instance's keys move
}

TEST_CASE("a killed instance drops out under load: with retries no GET fails", "[balancing][resilience]") {
  Backend a("a"), b("b"), c("c");
  Gateway gw(config("  hello:\n    instances: " + list({a.address(), b.address(), c.address()}) + "\n"
                    "    connect_timeout: 1s\n    outlier: { consecutive_failures: 1, base_ejection: 30s }\n",
                    kRoute, "", 2));
  std::atomic<int> ok{0}, failed{0};
  std::atomic<bool> stop{false};
  auto load = [&] {
    Client client(gw.port());
    while (!stop) {
      client.send("GET /hello/x HTTP/1.1\r\nHost: t\r\n\r\n");
      auto r = client.read_response();
      if (r && r->status == 200) ++ok;
      else ++failed;
      if (!r) break;
    }
  };
  std::thread t1(load), t2(load);
  REQUIRE(eventually([&] { return ok.load() > 200; }));
  b.process().signal(SIGKILL);
  REQUIRE(b.process().wait_exit() != -1);
  const int at_kill = ok.load();
  REQUIRE(eventually([&] { return ok.load() > at_kill + 400; }));
  stop = true;
  t1.join();
  t2.join();
  CHECK(failed.load() == 0);
  // After the kill, b is ejected and traffic goes to a and c only.
  auto seen = spread(gw.port(), 20);
  CHECK(seen.count("b") == 0);
  CHECK(seen["a"] + seen["c"] == 20);
  CHECK(metric(gw.admin_port(), "portcullis_upstream_retries_total{service=\"hello\"}") >= 1);
}

TEST_CASE("outlier detection ejects a failing instance, then lets it back", "[resilience]") {
  Backend good("good");
  ScriptedOrigin bad({{"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"}});
  Gateway gw(config("  hello:\n    instances: " + list({good.address(), bad.address()}) + "\n" + kNoRetries +
                    "    outlier: { consecutive_failures: 3, base_ejection: 3s, max_ejection_percent: 50 }\n",
                    kRoute));
  auto first = spread(gw.port(), 6);  // alternating: three 500s from `bad`
  CHECK(first["status 500"] == 3);
  json state = instance_state(gw.admin_port(), bad.address());
  CHECK(state.at("ejected") == true);
  CHECK(state.at("ejections") == 1);
  auto during = spread(gw.port(), 10);
  CHECK(during == std::map<std::string, int>{{"good", 10}});
  CHECK(metric(gw.admin_port(), "portcullis_outlier_ejections_total{service=\"hello\"}") == 1);
  // The ejection ends by itself: the instance is back in rotation.
  CHECK(eventually([&] { return instance_state(gw.admin_port(), bad.address()).at("ejected") == false; }));
  auto after = spread(gw.port(), 2);
  CHECK(after["status 500"] == 1);
}

TEST_CASE("max_ejection_percent keeps the last instances in rotation", "[resilience]") {
  ScriptedOrigin bad({{"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"}});
  Gateway gw(config("  hello:\n    instances: " + list({bad.address()}) + "\n" + kNoRetries +
                    "    outlier: { consecutive_failures: 2, max_ejection_percent: 50 }\n",
                    kRoute));
  auto seen = spread(gw.port(), 6);
  CHECK(seen["status 500"] == 6);  // never ejected: it would be 100% of the service
  CHECK(instance_state(gw.admin_port(), bad.address()).at("ejected") == false);
}

TEST_CASE("active health checks take a failing instance out", "[resilience]") {
  Backend good("good");
  ScriptedOrigin sick({{"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"}});
  Gateway gw(config("  hello:\n    instances: " + list({good.address(), sick.address()}) + "\n" + kNoRetries +
                    "    health_check: { path: /health, interval: 100ms, timeout: 500ms, unhealthy: 2, healthy: 1 }\n",
                    kRoute));
  REQUIRE(eventually([&] { return instance_state(gw.admin_port(), sick.address()).at("healthy") == false; }));
  CHECK(instance_state(gw.admin_port(), sick.address()).at("last_check") == "status 503");
  CHECK(instance_state(gw.admin_port(), good.address()).at("healthy") == true);
  auto seen = spread(gw.port(), 10);
  CHECK(seen == std::map<std::string, int>{{"good", 10}});
  CHECK(eventually([&] {
    return metric(gw.admin_port(), "portcullis_service_instances{service=\"hello\",state=\"unhealthy\"}") == 1;
  }));
}

TEST_CASE("zone_aware keeps traffic in the gateway's zone and leaves it when the zone fails", "[balancing]") {
  Backend local("local"), remote("remote");
  const std::string services = "  hello:\n    zone_aware: true\n    connect_timeout: 1s\n"
                               "    outlier: { consecutive_failures: 1, max_ejection_percent: 100 }\n"
                               "    instances:\n"
                               "      - { address: \"" + local.address() + "\", zone: z1 }\n"
                               "      - { address: \"" + remote.address() + "\", zone: z2 }\n";
  Gateway gw(config(services, kRoute, "discovery:\n  zone: z1\n"));
  CHECK(spread(gw.port(), 10) == std::map<std::string, int>{{"local", 10}});
  local.process().signal(SIGKILL);
  REQUIRE(local.process().wait_exit() != -1);
  CHECK(spread(gw.port(), 10) == std::map<std::string, int>{{"remote", 10}});  // retried, then ejected
}

TEST_CASE("zone_aware: a retry leaves the zone when its only local instance is down", "[balancing]") {
  Backend remote("remote");
  ScriptedOrigin gone({{"", true}});  // closes every connection without an answer
  const std::string services = "  hello:\n    zone_aware: true\n"
                               "    instances:\n"
                               "      - { address: \"" + gone.address() + "\", zone: z1 }\n"
                               "      - { address: \"" + remote.address() + "\", zone: z2 }\n";
  Gateway gw(config(services, kRoute, "discovery:\n  zone: z1\n"));
  // No health checks, no outlier detection: every request tries the local instance, is reset,
  // and the next-server retry must go to the other zone rather than back to the same instance.
  CHECK(spread(gw.port(), 6) == std::map<std::string, int>{{"remote", 6}});
  CHECK(gone.connections() >= 6);
}

TEST_CASE("retries go to the next server for idempotent methods only", "[resilience]") {
  Backend good("good");
  ScriptedOrigin bad({{"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"}});
  Gateway gw(config("  hello:\n    instances: " + list({bad.address(), good.address()}) + "\n"
                    "    retries: { budget_min_retries: 100 }\n", kRoute));
  // GET: a 503 from one instance is retried on the other.
  auto seen = spread(gw.port(), 10);
  CHECK(seen == std::map<std::string, int>{{"good", 10}});
  // Round-robin starts each request on the next instance after the last pick (the retry's).
  CHECK(metric(gw.admin_port(), "portcullis_upstream_retries_total{service=\"hello\"}") == 10);
  // POST is not in retries.methods: the origin's answer is passed on as it is.
  int unavailable = 0;
  for (int i = 0; i < 4; ++i) {
    auto r = request(gw.port(), "POST", "/hello/x", {{"Content-Type", "text/plain"}}, "data");
    REQUIRE(r);
    if (r->status == 503) {
      ++unavailable;
      CHECK(r->body == "busy");
    }
  }
  CHECK(unavailable == 2);
}

TEST_CASE("the retry budget stops a retry storm", "[resilience]") {
  ScriptedOrigin bad({{"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"}});
  Gateway gw(config("  hello:\n    instances: " + list({bad.address()}) + "\n"
                    "    retries: { max_auto_retries: 1, max_auto_retries_next_server: 0, budget_percent: 20, budget_min_retries: 3 }\n",
                    kRoute));
  auto seen = spread(gw.port(), 20);
  CHECK(seen["status 503"] == 20);
  // 20 requests within 10s: max(3, 20% of 20) = 4 retries at most, the rest refused by the budget.
  const auto retries = metric(gw.admin_port(), "portcullis_upstream_retries_total{service=\"hello\"}");
  CHECK(retries >= 3);
  CHECK(retries <= 4);
  CHECK(metric(gw.admin_port(), "portcullis_upstream_retry_budget_exhausted_total{service=\"hello\"}") == 20 - retries);
  CHECK(bad.requests() == static_cast<int>(20 + retries));
}

TEST_CASE("circuit breaker: open, fail fast, half-open probe, closed", "[resilience]") {
  Backend a("a");
  Gateway gw(config("  hello:\n    instances: " + list({a.address()}) + "\n" + kNoRetries +
                    "    circuit_breaker: { window: 10s, min_requests: 4, error_percent: 50, sleep: 1s }\n",
                    kRoute));
  for (int i = 0; i < 4; ++i) REQUIRE(request(gw.port(), "GET", "/hello/status/500")->status == 500);
  CHECK(service_state(gw.admin_port()).at("circuit") == "open");
  auto r = request(gw.port(), "GET", "/hello/x");
  REQUIRE(r);
  CHECK(r->status == 503);  // failed fast: the backend is fine but the circuit is open
  CHECK(r->body.find("circuit open") != std::string::npos);
  CHECK(r->header("Retry-After") == "1");
  // After `sleep`, one probe goes through; its success closes the circuit.
  REQUIRE(eventually([&] { return request(gw.port(), "GET", "/hello/x")->status == 200; }));
  CHECK(service_state(gw.admin_port()).at("circuit") == "closed");
  CHECK(metric(gw.admin_port(), "portcullis_circuit_transitions_total{service=\"hello\",state=\"open\"}") == 1);
  CHECK(metric(gw.admin_port(), "portcullis_circuit_transitions_total{service=\"hello\",state=\"half_open\"}") == 1);
  CHECK(metric(gw.admin_port(), "portcullis_circuit_transitions_total{service=\"hello\",state=\"closed\"}") == 1);
  CHECK(metric(gw.admin_port(), "portcullis_upstream_rejected_total{service=\"hello\",reason=\"circuit_open\"}") >= 1);
}

TEST_CASE("a failed half-open probe opens the circuit again, and the fallback answers meanwhile", "[resilience]") {
  ScriptedOrigin bad({{"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"}});
  Gateway gw(config("  hello:\n    instances: " + list({bad.address()}) + "\n" + kNoRetries +
                    "    circuit_breaker:\n      min_requests: 2\n      sleep: 300ms\n"
                    "      fallback: { status: 200, body: \"cached\", headers: { X-Fallback: \"yes\" } }\n",
                    kRoute));
  for (int i = 0; i < 2; ++i) REQUIRE(request(gw.port(), "GET", "/hello/x")->status == 502);
  auto r = request(gw.port(), "GET", "/hello/x");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "cached");
  CHECK(r->header("X-Fallback") == "yes");
  const int before = bad.requests();
  // The probe after `sleep` reaches the origin, fails, and the circuit opens again.
  REQUIRE(eventually([&] {
    request(gw.port(), "GET", "/hello/x");
    return bad.requests() > before;
  }));
  CHECK(bad.requests() == before + 1);
  CHECK(metric(gw.admin_port(), "portcullis_circuit_transitions_total{service=\"hello\",state=\"open\"}") == 2);
}

TEST_CASE("bulkhead: over max_concurrent_requests the gateway answers 503 at once", "[resilience]") {
  Backend a("a");
  Gateway gw(config("  hello:\n    instances: " + list({a.address()}) + "\n    max_concurrent_requests: 2\n", kRoute));
  Client c1(gw.port()), c2(gw.port());
  c1.send("GET /hello/sleep?ms=3000 HTTP/1.1\r\nHost: t\r\n\r\n");
  c2.send("GET /hello/sleep?ms=3000 HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(eventually([&] { return service_state(gw.admin_port()).at("in_flight") == 2; }));
  auto r = request(gw.port(), "GET", "/hello/x");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->header("Retry-After") == "1");
  CHECK(r->body.find("max_concurrent_requests") != std::string::npos);
  CHECK(metric(gw.admin_port(), "portcullis_upstream_rejected_total{service=\"hello\",reason=\"max_concurrent_requests\"}") == 1);
  auto r1 = c1.read_response();
  REQUIRE(r1);
  CHECK(r1->status == 200);
  CHECK(request(gw.port(), "GET", "/hello/x")->status == 200);  // room again
}

TEST_CASE("a route timeout bounds the whole exchange", "[resilience]") {
  Backend a("a");
  Gateway gw(config("  hello:\n    instances: " + list({a.address()}) + "\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n    timeout: 300ms\n"));
  auto r = request(gw.port(), "GET", "/hello/sleep?ms=5000");
  REQUIRE(r);
  CHECK(r->status == 504);
  CHECK(r->body.find("route timeout") != std::string::npos);
  CHECK(request(gw.port(), "GET", "/hello/x")->status == 200);
}
