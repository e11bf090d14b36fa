// Canary and split routes through the real daemon and two versions of the example backend:
// split accuracy, stickiness across a ramp, the override header, runtime changes under load,
// automatic rollback, pinning, ramps, and reloads that keep runtime changes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.h"

using namespace harness;
using json = nlohmann::json;

namespace {

std::string canary_config(const std::string& v1, const std::string& v2, const std::string& canary_block,
                          const std::string& extra_services = "") {
  return config("  v1:\n    instances: [\"" + v1 + "\"]\n  v2:\n    instances: [\"" + v2 + "\"]\n" + extra_services,
                "  - id: hello\n    path: /hello/**\n    service: v1\n    canary: " + canary_block + "\n");
}

// Sends `n` requests pipelined in batches on one connection; counts X-Backend per answer.
std::map<std::string, int> count(int port, int n, const std::string& extra_header = "") {
  std::map<std::string, int> seen;
  Client c(port);
  const std::string req = "GET /hello/x HTTP/1.1\r\nHost: t\r\n" + extra_header + "\r\n";
  for (int done = 0; done < n;) {
    const int batch = std::min(200, n - done);
    std::string bytes;
    for (int i = 0; i < batch; ++i) bytes += req;
    c.send(bytes);
    for (int i = 0; i < batch; ++i) {
      auto r = c.read_response();
      REQUIRE(r);
      ++seen[r->status == 200 ? r->header("X-Backend") : "status " + std::to_string(r->status)];
    }
    done += batch;
  }
  return seen;
}

std::map<int, std::string> assign(int port, int users) {
  std::map<int, std::string> out;
  Client c(port);
  for (int u = 0; u < users; ++u) {
    c.send("GET /hello/x HTTP/1.1\r\nHost: t\r\nX-User: user-" + std::to_string(u) + "\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    REQUIRE(r->status == 200);
    out[u] = r->header("X-Canary-Variant");
  }
  return out;
}

// One client sending GET /hello/x back to back until destroyed.
class Load {
 public:
  explicit Load(int port) : thread_([this, port] {
    Client c(port);
    while (!stop_) {
      c.send("GET /hello/x HTTP/1.1\r\nHost: t\r\n\r\n");
      if (!c.read_response()) break;
    }
  }) {}
  ~Load() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

json canary_state(int admin) { return json::parse(request(admin, "GET", "/admin/canary")->body).at("hello"); }

}  // namespace

TEST_CASE("canary split accuracy at 1%, 5% and 50% over 100,000 requests", "[canary]") {
  Backend v1("v1"), v2("v2");
  Gateway gw(canary_config(v1.address(), v2.address(), "{ service: v2, percent: 1 }"));
  for (double percent : {1.0, 5.0, 50.0}) {
    REQUIRE(request(gw.admin_port(), "POST", "/admin/canary/hello?percent=" + std::to_string(percent))->status == 200);
    auto seen = count(gw.port(), 100000);
    const double share = seen["v2"] / 1000.0;  // percent of 100,000
    INFO("configured " << percent << "%, realised " << share << "%");
    CHECK(seen["v1"] + seen["v2"] == 100000);
    CHECK(share >= percent - 0.3);
    CHECK(share <= percent + 0.3);
  }
}

TEST_CASE("sticky users keep their side, and a ramp only moves users to the canary", "[canary]") {
  Backend v1("v1"), v2("v2");
  Gateway gw(canary_config(v1.address(), v2.address(), "{ service: v2, percent: 5, sticky: \"header:X-User\" }"));
  auto at5 = assign(gw.port(), 2000);
  CHECK(assign(gw.port(), 2000) == at5);  // the same user, the same side, every time
  REQUIRE(request(gw.admin_port(), "POST", "/admin/canary/hello?percent=25")->status == 200);
  auto at25 = assign(gw.port(), 2000);
  int canary5 = 0, canary25 = 0, moved_back = 0;
  for (const auto& [u, v] : at5) {
    canary5 += v == "canary";
    canary25 += at25[u] == "canary";
    moved_back += v == "canary" && at25[u] != "canary";
  }
  CHECK(moved_back == 0);
  CHECK(canary5 > 50);   // about 100 of 2,000
  CHECK(canary5 < 150);
  CHECK(canary25 > 420);  // about 500
  CHECK(canary25 < 580);
}

TEST_CASE("the force header overrides the draw", "[canary]") {
  Backend v1("v1"), v2("v2");
  Gateway gw(canary_config(v1.address(), v2.address(), "{ service: v2, percent: 0, force_header: X-Canary }"));
  CHECK(count(gw.port(), 20) == std::map<std::string, int>{{"v1", 20}});
  CHECK(count(gw.port(), 20, "X-Canary: canary\r\n") == std::map<std::string, int>{{"v2", 20}});
  CHECK(count(gw.port(), 20, "X-Canary: baseline\r\n") == std::map<std::string, int>{{"v1", 20}});
  auto r = request(gw.port(), "GET", "/hello/x", {{"X-Canary", "canary"}});
  REQUIRE(r);
  CHECK(r->header("X-Canary-Variant") == "canary");
}

TEST_CASE("percent changes under load fail no request", "[canary]") {
  Backend v1("v1"), v2("v2");
  Gateway gw(canary_config(v1.address(), v2.address(), "{ service: v2, percent: 0 }"), {});
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  auto load = [&] {
    Client c(gw.port());
    while (!stop) {
      c.send("GET /hello/x HTTP/1.1\r\nHost: t\r\n\r\n");
      auto r = c.read_response();
      if (r && r->status == 200) ++ok;
      else ++failed;
      if (!r) break;
    }
  };
  std::thread t1(load), t2(load);
  for (int p : {1, 5, 25, 50, 100, 0, 50}) {
    REQUIRE(request(gw.admin_port(), "POST", "/admin/canary/hello?percent=" + std::to_string(p))->status == 200);
    const int before = ok.load();
    REQUIRE(eventually([&] { return ok.load() > before + 200; }));
  }
  stop = true;
  t1.join();
  t2.join();
  CHECK(failed.load() == 0);
  CHECK(canary_state(gw.admin_port()).at("percent") == 50.0);
}

TEST_CASE("analysis rolls a failing canary back and counts it", "[canary]") {
  Backend v1("v1");
  ScriptedOrigin v2({{"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"}});
  Gateway gw(canary_config(v1.address(), v2.address(),
                           "{ service: v2, percent: 50, ramp: { steps: [75, 100], interval: 1h },"
                           " analysis: { interval: 1s, min_requests: 20, max_error_rate_delta: 0.02 } }",
                           ""));
  auto load = std::make_unique<Load>(gw.port());
  // Rolled back within one analysis interval (1s) of enough traffic, plus the tick.
  const bool rolled_back = eventually([&] { return canary_state(gw.admin_port()).at("state") == "rolled_back"; });
  load.reset();
  REQUIRE(rolled_back);
  json state = canary_state(gw.admin_port());
  CHECK(state.at("percent") == 0.0);
  CHECK(state.at("analysis").get<std::string>().find("errors") != std::string::npos);
  CHECK(count(gw.port(), 50) == std::map<std::string, int>{{"v1", 50}});
  std::string metrics = request(gw.admin_port(), "GET", "/metrics")->body;
  CHECK(metrics.find("portcullis_canary_rollbacks_total{route=\"hello\"} 1") != std::string::npos);
  CHECK(gw.process().output().find("canary rolled back by analysis") != std::string::npos);

  // A fixed version under a new canary block starts a fresh window: the old failures do not
  // roll it back again, and it is judged healthy on its own requests. The latency bound is
  // lifted: two equal backends' p99 differ by a histogram bucket on a loaded machine, and this
  // case is about the error window.
  Backend fixed("v2-fixed");
  gw.rewrite_config(canary_config(v1.address(), v2.address(),
                                  "{ service: v3, percent: 50, analysis: { interval: 1s, min_requests: 20, max_p99_ratio: 1000 } }",
                                  "  v3:\n    instances: [\"" + fixed.address() + "\"]\n"));
  REQUIRE(request(gw.admin_port(), "POST", "/admin/reload")->status == 200);
  load = std::make_unique<Load>(gw.port());
  const bool healthy = eventually([&] {
    return canary_state(gw.admin_port()).at("analysis").get<std::string>().rfind("healthy", 0) == 0;
  });
  load.reset();
  CHECK(healthy);
  CHECK(canary_state(gw.admin_port()).at("state") == "running");
  CHECK(canary_state(gw.admin_port()).at("percent") == 50.0);
}

TEST_CASE("a ramp from 0% with analysis takes its first step, then waits for healthy verdicts", "[canary]") {
  Backend v1("v1"), v2("v2");
  Gateway gw(canary_config(v1.address(), v2.address(),
                           "{ service: v2, percent: 0, ramp: { steps: [50, 100], interval: 300ms },"
                           " analysis: { interval: 300ms, min_requests: 10, max_p99_ratio: 1000 } }"));
  auto load = std::make_unique<Load>(gw.port());
  const bool promoted = eventually([&] { return canary_state(gw.admin_port()).at("state") == "promoted"; });
  load.reset();
  CHECK(promoted);
  CHECK(canary_state(gw.admin_port()).at("percent") == 100.0);
  CHECK(gw.process().output().find("\"percent\":\"50.000000\",\"why\":\"ramp\"") != std::string::npos);
}

TEST_CASE("a healthy canary ramps step by step to 100", "[canary]") {
  Backend v1("v1"), v2("v2");
  Gateway gw(canary_config(v1.address(), v2.address(), "{ service: v2, percent: 1, ramp: { steps: [10, 50, 100], interval: 200ms } }"));
  CHECK(eventually([&] { return canary_state(gw.admin_port()).at("state") == "promoted"; }));
  CHECK(canary_state(gw.admin_port()).at("percent") == 100.0);
  CHECK(count(gw.port(), 20) == std::map<std::string, int>{{"v2", 20}});
  std::string log = gw.process().output();
  CHECK(log.find("\"percent\":\"10.000000\",\"why\":\"ramp\"") != std::string::npos);
  CHECK(log.find("\"percent\":\"50.000000\",\"why\":\"ramp\"") != std::string::npos);
}

TEST_CASE("pause, promote, rollback and pinning at runtime", "[canary]") {
  Backend v1("v1"), v2("v2");
  Gateway gw(canary_config(v1.address(), v2.address(), "{ service: v2, percent: 50 }"));
  const int admin = gw.admin_port();
  CHECK(request(admin, "POST", "/admin/canary/hello?action=promote")->status == 200);
  CHECK(count(gw.port(), 10) == std::map<std::string, int>{{"v2", 10}});
  CHECK(request(admin, "POST", "/admin/canary/hello?action=rollback")->status == 200);
  CHECK(count(gw.port(), 10) == std::map<std::string, int>{{"v1", 10}});
  CHECK(canary_state(admin).at("state") == "rolled_back");
  CHECK(request(admin, "POST", "/admin/canary/hello?action=explode")->status == 400);
  CHECK(request(admin, "POST", "/admin/canary/hello?percent=101")->status == 400);
  CHECK(request(admin, "POST", "/admin/canary/nope?percent=1")->status == 404);
  // Pinning sends everything to one version whatever the canary says.
  CHECK(request(admin, "POST", "/admin/routes/hello/pin?service=v2")->status == 200);
  CHECK(count(gw.port(), 10) == std::map<std::string, int>{{"v2", 10}});
  CHECK(canary_state(admin).at("pinned") == "v2");
  CHECK(request(admin, "POST", "/admin/routes/hello/pin?service=v9")->status == 400);
  CHECK(request(admin, "DELETE", "/admin/routes/hello/pin")->status == 200);
  CHECK(count(gw.port(), 10) == std::map<std::string, int>{{"v1", 10}});
}

TEST_CASE("a reload keeps runtime canary changes unless the canary block changed", "[canary]") {
  Backend v1("v1"), v2("v2");
  const std::string block = "{ service: v2, percent: 10 }";
  Gateway gw(canary_config(v1.address(), v2.address(), block));
  REQUIRE(request(gw.admin_port(), "POST", "/admin/canary/hello?percent=60")->status == 200);
  gw.rewrite_config(canary_config(v1.address(), v2.address(), block) + "\n");
  REQUIRE(request(gw.admin_port(), "POST", "/admin/reload")->status == 200);
  CHECK(canary_state(gw.admin_port()).at("percent") == 60.0);
  gw.rewrite_config(canary_config(v1.address(), v2.address(), "{ service: v2, percent: 20 }"));
  REQUIRE(request(gw.admin_port(), "POST", "/admin/reload")->status == 200);
  CHECK(canary_state(gw.admin_port()).at("percent") == 20.0);
}

TEST_CASE("split routes by weight over three versions, with the variant in the access log", "[canary]") {
  Backend v1("v1"), v2("v2"), v3("v3");
  Gateway gw(config("  v1:\n    instances: [\"" + v1.address() + "\"]\n  v2:\n    instances: [\"" + v2.address() +
                        "\"]\n  v3:\n    instances: [\"" + v3.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    split: [ { service: v1, weight: 90 }, { service: v2, weight: 9 },"
                    " { service: v3, weight: 1 } ]\n",
                    "filters:\n  - { name: access_log }\n"));
  auto seen = count(gw.port(), 10000);
  CHECK(seen["v1"] >= 8970);
  CHECK(seen["v1"] <= 9030);
  CHECK(seen["v2"] >= 870);
  CHECK(seen["v2"] <= 930);
  CHECK(seen["v3"] >= 70);
  CHECK(seen["v3"] <= 130);
  CHECK(eventually([&] { return gw.process().output().find("\"variant\":\"v3\"") != std::string::npos; }));
}

namespace {

std::int64_t series(int admin, const std::string& name) {
  std::string text = request(admin, "GET", "/metrics")->body;
  std::size_t at = text.find(name + " ");
  return at == std::string::npos ? -1 : std::stoll(text.substr(at + name.size() + 1));
}

}  // namespace

TEST_CASE("mirror copies requests with their bodies, and its answers are discarded", "[canary][mirror]") {
  Backend primary("primary");
  ScriptedOrigin shadow({{"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 6\r\n\r\nshadow"}});
  Gateway gw(config("  main:\n    instances: [\"" + primary.address() + "\"]\n  shadow:\n    instances: [\"" +
                        shadow.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    service: main\n    mirror: { service: shadow, percent: 100 }\n"));
  auto r = request(gw.port(), "POST", "/hello/echo", {{"Content-Type", "text/plain"}}, "payload-123");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("X-Backend") == "primary");
  REQUIRE(shadow.wait_requests(1));
  CHECK(shadow.received_all().find("POST /echo HTTP/1.1") != std::string::npos);
  CHECK(shadow.received_all().find("payload-123") != std::string::npos);
  CHECK(eventually([&] {
    return series(gw.admin_port(), "portcullis_mirror_requests_total{route=\"hello\",result=\"answered\"}") == 1;
  }));
}

TEST_CASE("a mirror that never answers changes nothing for clients and is bounded", "[canary][mirror]") {
  Backend primary("primary");
  SilentListener shadow;  // a mirror target as slow as it gets
  Gateway gw(config("  main:\n    instances: [\"" + primary.address() + "\"]\n  shadow:\n    instances: [\"" +
                        shadow.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    service: main\n"
                    "    mirror: { service: shadow, percent: 100, max_in_flight: 4, timeout: 60s }\n"));
  Client c(gw.port());
  for (int i = 0; i < 30; ++i) {
    c.send("GET /hello/x HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  // Four copies wait on the silent mirror (for up to a minute); every other copy finds no room.
  CHECK(eventually([&] {
    return series(gw.admin_port(), "portcullis_mirror_requests_total{route=\"hello\",result=\"dropped_max_in_flight\"}") == 26;
  }));
  CHECK(series(gw.admin_port(), "portcullis_mirror_requests_total{route=\"hello\",result=\"answered\"}") == 0);
}

TEST_CASE("the gateway's own error answers name the variant too", "[canary]") {
  Backend v1("v1");
  Gateway gw(canary_config(v1.address(), "127.0.0.1:1", "{ service: v2, percent: 0, force_header: X-Canary }"));
  auto r = request(gw.port(), "GET", "/hello/x", {{"X-Canary", "canary"}});
  REQUIRE(r);
  CHECK(r->status == 502);  // nothing listens on port 1
  CHECK(r->header("X-Canary-Variant") == "canary");
  auto ok = request(gw.port(), "GET", "/hello/x");
  REQUIRE(ok);
  CHECK(ok->header("X-Canary-Variant") == "baseline");
}
