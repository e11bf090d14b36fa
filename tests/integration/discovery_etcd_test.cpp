// The etcd provider against a real etcd on loopback: range, then watch (puts, deletes, a lease
// that expires), an outage that keeps the last known instances, and the watch resuming after.
#include <catch2/catch.hpp>

#include "discovery_support.h"
#include "harness.h"

using namespace harness;
using namespace discovery_support;
using namespace std::chrono_literals;

namespace {
std::string value(int port) { return R"({"host": "127.0.0.1", "port": )" + std::to_string(port) + "}"; }
}  // namespace

TEST_CASE("etcd provider: watch adds and removes instances, outages keep the last known", "[discovery][etcd]") {
  Etcd etcd;
  if (!etcd.available()) {
    WARN("etcd is not installed (scripts/install-deps.sh installs etcd-server); skipping");
    return;
  }
  etcd.start();
  Backend a("a"), b("b"), c("c");
  const std::string key = "/portcullis/services/hello/";
  REQUIRE(etcd.put(key + "a", value(a.port())));

  Gateway gw(config("  hello:\n    discovery: { type: etcd, endpoints: [\"" + etcd.endpoint() + "\"] }\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n"));
  CHECK(eventually([&] { return serves_exactly(gw.port(), {"a"}); }, 10s));

  // Added by the watch; b holds a two-second lease that nobody keeps alive.
  std::string lease = etcd.grant(2);
  REQUIRE(!lease.empty());
  REQUIRE(etcd.put(key + "b", value(b.port()), lease));
  CHECK(eventually([&] { return serves_exactly(gw.port(), {"a", "b"}); }, 10s));
  CHECK(eventually([&] { return serves_exactly(gw.port(), {"a"}); }, 15s));  // the lease ran out

  REQUIRE(etcd.put(key + "c", value(c.port())));
  CHECK(eventually([&] { return serves_exactly(gw.port(), {"a", "c"}); }, 10s));
  bool ok = false;
  etcd.ctl("del " + key + "a", &ok);
  REQUIRE(ok);
  CHECK(eventually([&] { return serves_exactly(gw.port(), {"c"}); }, 10s));
  // Keys of other services and unreadable values are not instances.
  REQUIRE(etcd.put("/portcullis/services/other/x", value(a.port())));
  REQUIRE(etcd.put(key + "bad", "not json"));
  CHECK(eventually([&] { return gw.process().output().find("etcd key ignored") != std::string::npos; }, 10s));
  CHECK(serves_exactly(gw.port(), {"c"}));

  // etcd stops: failures are counted and c keeps serving.
  const std::string failures = "portcullis_registry_refresh_failures_total{service=\"hello\"}";
  etcd.stop();
  CHECK(eventually([&] { return metric(gw.admin_port(), failures) >= 1; }, 10s));
  CHECK(serves_exactly(gw.port(), {"c"}));

  // etcd returns (same data): the provider ranges again and watches; new keys reach traffic.
  etcd.start();
  REQUIRE(etcd.put(key + "a", value(a.port())));
  CHECK(eventually([&] { return serves_exactly(gw.port(), {"a", "c"}); }, 15s));
  CHECK(gw.process().output().find("discovery recovered") != std::string::npos);
}
