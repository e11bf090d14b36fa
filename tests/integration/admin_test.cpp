// The admin API and the metrics exposition (checked by the real promtool).
#include <cstdio>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.h"

using namespace harness;
using json = nlohmann::json;

TEST_CASE("admin API lists routes and services of the live snapshot", "[admin]") {
  Backend a("a"), b("b");
  Gateway gw(config("  hello:\n    instances: [\"" + a.address() + "\", \"" + b.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n"
                    "    filters:\n      - { name: add_request_header, args: { name: X-A, value: b } }\n"
                    "  - id: ping\n    path: /ping\n    static: { status: 200, body: pong }\n"));
  auto health = request(gw.admin_port(), "GET", "/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(json::parse(health->body)["status"] == "UP");

  auto routes = json::parse(request(gw.admin_port(), "GET", "/admin/routes")->body);
  REQUIRE(routes.size() == 2);
  CHECK(routes[0]["id"] == "hello");
  CHECK(routes[0]["service"] == "hello");
  CHECK(routes[0]["strip_prefix"] == "/hello");
  CHECK(routes[0]["filters"][0]["name"] == "add_request_header");
  CHECK(routes[1]["static"]["status"] == 200);

  auto services = json::parse(request(gw.admin_port(), "GET", "/admin/services")->body);
  REQUIRE(services["hello"]["instances"].size() == 2);
  CHECK(services["hello"]["instances"][0]["address"] == a.address());
  CHECK(services["hello"]["lb"] == "round_robin");
  CHECK(request(gw.admin_port(), "GET", "/admin/nothing")->status == 404);
}

TEST_CASE("metrics count requests by route and class and pass promtool", "[admin]") {
  Backend a("a");
  Gateway gw(config("  hello:\n    instances: [\"" + a.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n"));
  for (int i = 0; i < 3; ++i) REQUIRE(request(gw.port(), "GET", "/hello/x")->status == 200);
  REQUIRE(request(gw.port(), "GET", "/hello/status/503")->status == 503);
  REQUIRE(request(gw.port(), "GET", "/missing")->status == 404);
  // A request is counted just after its response is written: the scrape may come first.
  std::string text;
  eventually([&] {
    text = request(gw.admin_port(), "GET", "/metrics")->body;
    return text.find("code_class=\"4xx\"} 1") != std::string::npos;
  });
  CHECK(text.find("portcullis_requests_total{route=\"hello\",service=\"hello\",code_class=\"2xx\"} 3") != std::string::npos);
  CHECK(text.find("portcullis_requests_total{route=\"hello\",service=\"hello\",code_class=\"5xx\"} 1") != std::string::npos);
  CHECK(text.find("portcullis_requests_total{route=\"\",service=\"\",code_class=\"4xx\"} 1") != std::string::npos);
  CHECK(text.find("portcullis_request_duration_seconds_count{route=\"hello\"} 4") != std::string::npos);
  CHECK(text.find("portcullis_upstream_pool_idle_connections{service=\"hello\",instance=\"" + a.address() + "\"} 1") !=
        std::string::npos);

  std::string file = temp_dir() + "/metrics.txt";
  write_file(file, text);
  std::string cmd = "promtool check metrics < " + file + " > " + temp_dir() + "/promtool.out 2>&1";
  int rc = std::system(cmd.c_str());
  INFO(read_file(temp_dir() + "/promtool.out"));
  CHECK(rc == 0);
}
