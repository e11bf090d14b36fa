// The embedded Eureka registry over HTTP, and the example backend joining and leaving it: what
// a registration, heartbeat, override, cancel or lease expiry does to the gateway's traffic.
#include <signal.h>

#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discovery_support.h"
#include "harness.h"

using namespace harness;
using namespace discovery_support;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string registry_gateway_config() {
  return config("  hello:\n    discovery: { type: registry }\n",
                "  - id: hello\n    path: /hello/**\n    service: hello\n",
                "discovery:\n  eviction_interval: 100ms\n");
}

}  // namespace

TEST_CASE("embedded registry: register, heartbeat, status override, cancel and lease expiry", "[discovery][registry]") {
  Backend a("a");
  Gateway gw(registry_gateway_config());
  const int admin = gw.admin_port();

  CHECK(request(gw.port(), "GET", "/hello/x")->status == 503);  // nothing registered yet

  auto reg = request(admin, "POST", "/eureka/apps/HELLO", json_headers, instance_json("HELLO", "a-1", a.port()));
  REQUIRE(reg);
  CHECK(reg->status == 204);

  auto apps = request(admin, "GET", "/eureka/apps", {{"Accept", "application/json"}});
  REQUIRE(apps->status == 200);
  CHECK(apps->header("Content-Type") == "application/json");
  json doc = json::parse(apps->body);
  CHECK(doc["applications"]["apps__hashcode"] == "UP_1_");
  CHECK(doc["applications"].contains("versions__delta"));
  const json& inst = doc["applications"]["application"][0]["instance"][0];
  CHECK(doc["applications"]["application"][0]["name"] == "HELLO");
  CHECK(inst["instanceId"] == "a-1");
  CHECK(inst["ipAddr"] == "127.0.0.1");
  CHECK(inst["port"]["$"] == a.port());
  CHECK(inst["port"]["@enabled"] == "true");
  CHECK(inst["leaseInfo"]["durationInSecs"] == 30);
  CHECK(inst["status"] == "UP");

  // The registry provider publishes at once: traffic reaches the registered instance.
  CHECK(eventually([&] { return backend_of(gw.port()) == "a"; }, 5s));

  CHECK(request(admin, "PUT", "/eureka/apps/HELLO/a-1?status=UP&lastDirtyTimestamp=0")->status == 200);
  CHECK(request(admin, "PUT", "/eureka/apps/HELLO/nope?status=UP")->status == 404);

  CHECK(request(admin, "PUT", "/eureka/apps/HELLO/a-1/status?value=OUT_OF_SERVICE")->status == 200);
  CHECK(json::parse(request(admin, "GET", "/eureka/apps/HELLO/a-1")->body)["instance"]["status"] == "OUT_OF_SERVICE");
  CHECK(eventually([&] { return request(gw.port(), "GET", "/hello/x")->status == 503; }, 5s));
  CHECK(request(admin, "DELETE", "/eureka/apps/HELLO/a-1/status")->status == 200);
  CHECK(eventually([&] { return backend_of(gw.port()) == "a"; }, 5s));

  auto delta = json::parse(request(admin, "GET", "/eureka/apps/delta")->body);
  CHECK(delta["applications"]["application"][0]["instance"][0]["actionType"] == "MODIFIED");

  CHECK(request(admin, "DELETE", "/eureka/apps/HELLO/a-1")->status == 200);
  CHECK(json::parse(request(admin, "GET", "/eureka/apps")->body)["applications"]["application"].empty());
  CHECK(eventually([&] { return request(gw.port(), "GET", "/hello/x")->status == 503; }, 5s));

  // A one-second lease and no heartbeat: the eviction timer removes it.
  REQUIRE(request(admin, "POST", "/eureka/apps/HELLO", json_headers, instance_json("HELLO", "a-2", a.port(), 1))->status == 204);
  CHECK(eventually([&] { return backend_of(gw.port()) == "a"; }, 5s));
  CHECK(eventually([&] { return request(admin, "GET", "/eureka/apps/HELLO")->status == 404; }, 5s));
  CHECK(eventually([&] { return request(gw.port(), "GET", "/hello/x")->status == 503; }, 5s));
  CHECK(gw.process().output().find("registry lease expired") != std::string::npos);

  // Clients that only speak XML are told so.
  auto xml = request(admin, "GET", "/eureka/apps", {{"Accept", "application/xml"}});
  CHECK(xml->status == 406);
  Client chunked(admin);
  chunked.send("POST /eureka/apps/HELLO HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  auto refused = chunked.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 411);
}

TEST_CASE("example backend registers itself, heartbeats, and leaves on SIGTERM", "[discovery][registry]") {
  Gateway gw(registry_gateway_config());
  const std::string url = "http://127.0.0.1:" + std::to_string(gw.admin_port()) + "/eureka";
  // A long lease: only the backend's DELETE can remove it within the test.
  Process backend({BACKEND_BINARY, "--port", "0", "--name", "reg", "--register", url, "--app", "hello",
                   "--instance-id", "reg-1", "--zone", "z1", "--heartbeat", "1", "--lease-duration", "60s"},
                  temp_dir() + "/backend-register.log");
  REQUIRE(backend.wait_for_output("registered hello/reg-1") != std::string::npos);

  auto one = json::parse(request(gw.admin_port(), "GET", "/eureka/apps/HELLO/reg-1")->body)["instance"];
  CHECK(one["metadata"]["zone"] == "z1");
  CHECK(one["leaseInfo"]["durationInSecs"] == 60);
  CHECK(eventually([&] { return backend_of(gw.port()) == "reg"; }, 5s));

  // Heartbeats arrive: the lease's last renewal moves past the registration.
  CHECK(eventually([&] {
    auto i = json::parse(request(gw.admin_port(), "GET", "/eureka/apps/HELLO/reg-1")->body)["instance"]["leaseInfo"];
    return i["lastRenewalTimestamp"].get<std::int64_t>() > i["registrationTimestamp"].get<std::int64_t>();
  }, 5s));

  // Forgotten by the registry (as after a registry restart): the next heartbeat re-registers.
  REQUIRE(request(gw.admin_port(), "DELETE", "/eureka/apps/HELLO/reg-1")->status == 200);
  CHECK(eventually([&] { return request(gw.admin_port(), "GET", "/eureka/apps/HELLO/reg-1")->status == 200; }, 5s));

  backend.signal(SIGTERM);
  CHECK(backend.wait_exit() == 0);
  CHECK(backend.output().find("deregistered hello/reg-1") != std::string::npos);
  CHECK(request(gw.admin_port(), "GET", "/eureka/apps/HELLO")->status == 404);
  CHECK(eventually([&] { return request(gw.port(), "GET", "/hello/x")->status == 503; }, 5s));
}

TEST_CASE("hostile registry input never breaks the registry or the admin API", "[discovery][registry]") {
  Backend a("a");
  Gateway gw(registry_gateway_config());
  const int admin = gw.admin_port();
  REQUIRE(request(admin, "POST", "/eureka/apps/HELLO", json_headers, instance_json("HELLO", "h-1", a.port()))->status == 204);
  // Bytes that are not UTF-8, in metadata and in an id.
  CHECK(request(admin, "PUT", "/eureka/apps/HELLO/h-1/metadata?k=%FF%FE")->status == 200);
  auto odd = request(admin, "PUT", "/eureka/apps/HELLO/%FF%C0?status=UP");
  REQUIRE(odd);
  CHECK(odd->status == 404);
  // Documents of the wrong shape.
  for (const std::string body : {"[]", "{\"instance\": 5}", "{\"instance\": {\"port\": {\"$\": 1e300}}}",
                                 "{\"instance\": {\"instanceId\": [], \"ipAddr\": {}}}", "{", "\"x\""}) {
    auto r = request(admin, "POST", "/eureka/apps/HELLO", json_headers, body);
    REQUIRE(r);
    CHECK(r->status == 400);
  }
  auto apps = request(admin, "GET", "/eureka/apps", {{"Accept", "application/json"}});
  REQUIRE(apps);
  CHECK(apps->status == 200);
  CHECK(json::parse(apps->body)["applications"]["application"][0]["instance"][0]["instanceId"] == "h-1");
  auto services = request(admin, "GET", "/admin/services");
  REQUIRE(services);
  CHECK(services->status == 200);
  CHECK(json::parse(services->body)["hello"]["instances"].size() == 1);
  CHECK(request(gw.port(), "GET", "/hello/x")->status == 200);
}

TEST_CASE("embedded registry: a full registry answers 503; a heartbeat's status takes the instance out and back",
          "[discovery][registry]") {
  Backend a("a");
  Gateway gw(config("  hello:\n    discovery: { type: registry }\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n",
                    "discovery:\n  max_registered_instances: 1\n"));
  const int admin = gw.admin_port();
  REQUIRE(request(admin, "POST", "/eureka/apps/HELLO", json_headers, instance_json("HELLO", "a-1", a.port()))->status == 204);
  auto full = request(admin, "POST", "/eureka/apps/HELLO", json_headers, instance_json("HELLO", "a-2", a.port()));
  REQUIRE(full);
  CHECK(full->status == 503);
  CHECK(request(admin, "POST", "/eureka/apps/HELLO", json_headers, instance_json("HELLO", "a-1", a.port()))->status == 204);
  CHECK(eventually([&] { return backend_of(gw.port()) == "a"; }, 5s));

  CHECK(request(admin, "PUT", "/eureka/apps/HELLO/a-1?status=DOWN")->status == 200);
  CHECK(json::parse(request(admin, "GET", "/eureka/apps/HELLO/a-1")->body)["instance"]["status"] == "DOWN");
  CHECK(eventually([&] { return request(gw.port(), "GET", "/hello/x")->status == 503; }, 5s));
  CHECK(request(admin, "PUT", "/eureka/apps/HELLO/a-1?status=UP")->status == 200);
  CHECK(eventually([&] { return backend_of(gw.port()) == "a"; }, 5s));

  const json services = json::parse(request(admin, "GET", "/admin/services")->body);
  const json& registry = services["hello"]["registry"];
  CHECK(registry["max_registered_instances"] == 1);
  CHECK(registry["registered_instances"] == 1);
  CHECK(registry["rejected_registrations"] == 1);
  CHECK(registry["self_preservation"] == false);
  CHECK(eventually([&] {
    const std::string metrics = request(admin, "GET", "/metrics")->body;
    return metrics.find("portcullis_registry_rejected_registrations_total 1") != std::string::npos &&
           metrics.find("portcullis_registry_self_preservation 0") != std::string::npos &&
           metrics.find("portcullis_registry_registered_instances 1") != std::string::npos;
  }));
}

TEST_CASE("instances that register, serve and cancel leave no metric series behind", "[discovery][registry][departed]") {
  Backend a("a");
  Gateway gw(config("  hello:\n    discovery: { type: registry }\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n",
                    "discovery:\n  eviction_interval: 100ms\n  forget_departed_after: 300ms\n"));
  const int admin = gw.admin_port();
  auto instance_series = [&] {  // sample lines with an instance label
    std::istringstream text(get_body(admin, "/metrics"));
    std::size_t n = 0;
    for (std::string line; std::getline(text, line);)
      if (!line.starts_with("#") && line.find("instance=\"") != std::string::npos) ++n;
    return n;
  };
  // Twenty instances in turn, each on an address of its own (the real backend's port for the
  // first, so traffic reaches it and leaves a pooled connection), each cancelled after use.
  for (int i = 0; i < 20; ++i) {
    const int port = i == 0 ? a.port() : 40000 + i;
    const std::string id = "churn-" + std::to_string(i);
    REQUIRE(request(admin, "POST", "/eureka/apps/HELLO", json_headers, instance_json("HELLO", id, port))->status == 204);
    if (i == 0) REQUIRE(eventually([&] { return backend_of(gw.port()) == "a"; }, 5s));
    REQUIRE(request(admin, "DELETE", "/eureka/apps/HELLO/" + id)->status == 200);
  }
  CHECK(eventually([&] { return request(gw.port(), "GET", "/hello/x")->status == 503; }, 5s));
  // Once the retention passed, every per-instance series is gone from /metrics.
  CHECK(eventually([&] { return instance_series() == 0; }, 10s));
  CHECK(gw.process().output().find("departed instance forgotten") != std::string::npos);

  // The first address comes back: a fresh series, and traffic flows through a fresh pool.
  REQUIRE(request(admin, "POST", "/eureka/apps/HELLO", json_headers, instance_json("HELLO", "back", a.port()))->status == 204);
  CHECK(eventually([&] { return backend_of(gw.port()) == "a"; }, 5s));
  const std::string series = "portcullis_upstream_requests_total{service=\"hello\",instance=\"127.0.0.1:" +
                             std::to_string(a.port()) + "\",code_class=\"2xx\"}";
  CHECK(metric(admin, series) >= 1);
  CHECK(instance_series() == 8);
}
