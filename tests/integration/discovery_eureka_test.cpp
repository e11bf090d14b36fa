// The eureka provider against a real Eureka-compatible server: a second portcullis whose embedded
// registry plays Eureka. Full fetch, deltas, and an outage that keeps the last known instances.
#include <signal.h>

#include <catch2/catch.hpp>

#include "discovery_support.h"
#include "harness.h"

using namespace harness;
using namespace discovery_support;
using namespace std::chrono_literals;

TEST_CASE("eureka provider follows a remote registry and survives its outage", "[discovery][eureka]") {
  Backend a("a"), b("b");
  auto server = std::make_unique<Gateway>(config("", "  - id: ping\n    path: /ping\n    static: { status: 200, body: pong }\n"));
  const int eureka = server->admin_port();
  REQUIRE(request(eureka, "POST", "/eureka/apps/HELLO", json_headers, instance_json("HELLO", "a-1", a.port()))->status == 204);
  // Another app in the same registry: mirrored for the hashcode, never routed to.
  REQUIRE(request(eureka, "POST", "/eureka/apps/OTHER", json_headers, instance_json("OTHER", "o-1", b.port()))->status == 204);

  Gateway gw(config("  hello:\n    discovery: { type: eureka, url: \"http://127.0.0.1:" + std::to_string(eureka) +
                        "/eureka/\", refresh: 200ms }\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n"));
  CHECK(eventually([&] { return serves_exactly(gw.port(), {"a"}); }, 10s));

  // Changes arrive through /apps/delta.
  REQUIRE(request(eureka, "POST", "/eureka/apps/HELLO", json_headers, instance_json("HELLO", "b-1", b.port()))->status == 204);
  CHECK(eventually([&] { return serves_exactly(gw.port(), {"a", "b"}); }, 10s));
  REQUIRE(request(eureka, "PUT", "/eureka/apps/HELLO/a-1/status?value=OUT_OF_SERVICE")->status == 200);
  CHECK(eventually([&] { return serves_exactly(gw.port(), {"b"}); }, 10s));
  REQUIRE(request(eureka, "DELETE", "/eureka/apps/HELLO/a-1/status")->status == 200);
  CHECK(eventually([&] { return serves_exactly(gw.port(), {"a", "b"}); }, 10s));
  REQUIRE(request(eureka, "DELETE", "/eureka/apps/HELLO/b-1")->status == 200);
  CHECK(eventually([&] { return serves_exactly(gw.port(), {"a"}); }, 10s));
  CHECK(gw.process().output().find("refresh failed") == std::string::npos);

  // The registry goes away: the last known instances keep serving, failures are counted.
  const std::string failures = "portcullis_registry_refresh_failures_total{service=\"hello\"}";
  const double before = metric(gw.admin_port(), failures);
  CHECK(before <= 0);
  server->process().signal(SIGKILL);
  server->process().wait_exit();
  CHECK(eventually([&] { return metric(gw.admin_port(), failures) >= 2; }, 10s));
  CHECK(serves_exactly(gw.port(), {"a"}));
  CHECK(gw.process().output().find("keeping the last known instances") != std::string::npos);
}
