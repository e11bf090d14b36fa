// The dns provider: a name resolved through the system resolver serves traffic. Only "localhost"
// is used (answered from /etc/hosts): tests never send a query off the machine, so the failure path
// (keep the last known instances) is not exercised here.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discovery_support.h"
#include "harness.h"

using namespace harness;
using namespace discovery_support;
using namespace std::chrono_literals;

TEST_CASE("dns provider resolves localhost to the backend", "[discovery][dns]") {
  Backend a("a");
  Gateway gw(config("  hello:\n    discovery: { type: dns, name: localhost, port: " + std::to_string(a.port()) +
                        ", refresh: 1s }\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n"));
  auto services = [&] { return nlohmann::json::parse(get_body(gw.admin_port(), "/admin/services"))["hello"]; };
  CHECK(eventually([&] {
    nlohmann::json hello = services();
    for (const auto& i : hello["instances"])
      if (i["address"] == a.address()) return true;
    return false;
  }, 10s));
  // localhost may also resolve to ::1, where nothing listens: such a pick fails to connect and
  // is retried on the next instance, so every request is served by the backend.
  for (int i = 0; i < 10; ++i) CHECK(backend_of(gw.port()) == "a");
  CHECK(gw.process().output().find("refresh failed") == std::string::npos);
}
