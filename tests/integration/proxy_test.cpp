// Proxying through the real daemon to real backends: routing, balancing, prefix strip, static
// routes, forwarding headers and the error statuses.
#include <signal.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.h"

using namespace harness;
using json = nlohmann::json;

namespace {

std::string two_instance_config(const Backend& a, const Backend& b) {
  return config("  hello:\n    instances: [\"" + a.address() + "\", \"" + b.address() + "\"]\n",
                "  - id: hello\n    path: /hello/**\n    service: hello\n"
                "    filters:\n      - { name: add_request_header, args: { name: X-Gateway, value: portcullis } }\n"
                "  - id: android\n    path: /app/**\n    headers: { Client: Android }\n    service: hello\n"
                "  - id: ping\n    path: /ping\n    static: { status: 200, body: \"pong\\n\", headers: { Content-Type: text/plain } }\n");
}

}  // namespace

TEST_CASE("proxies to a backend and alternates round-robin on one keep-alive connection", "[proxy]") {
  Backend a("a"), b("b");
  Gateway gw(two_instance_config(a, b));
  Client c(gw.port());
  std::vector<std::string> seen;
  for (int i = 0; i < 6; ++i) {
    c.send("GET /hello/x HTTP/1.1\r\nHost: test\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    REQUIRE(r->status == 200);
    seen.push_back(r->header("X-Backend"));
  }
  for (std::size_t i = 0; i + 1 < seen.size(); ++i) CHECK(seen[i] != seen[i + 1]);
  CHECK((seen[0] == "a" || seen[0] == "b"));
}

TEST_CASE("strips the route prefix and forwards proxy headers", "[proxy]") {
  Backend a("a"), b("b");
  Gateway gw(two_instance_config(a, b));
  auto r = request(gw.port(), "GET", "/hello/headers?q=1%2F2", {{"X-Forwarded-For", "6.6.6.6"}});
  REQUIRE(r);
  REQUIRE(r->status == 200);
  auto j = json::parse(r->body);
  CHECK(j["target"] == "/headers?q=1%2F2");
  std::map<std::string, std::string> h;
  for (auto& pair : j["headers"]) h[pair[0].get<std::string>()] = pair[1].get<std::string>();
  CHECK(h["X-Gateway"] == "portcullis");
  CHECK(h["X-Forwarded-For"] == "127.0.0.1");  // the untrusted client's value is not kept
  CHECK(h["X-Forwarded-Proto"] == "http");
  CHECK(h["X-Forwarded-Host"] == "localhost");
  CHECK(h["X-Forwarded-Prefix"] == "/hello");
  CHECK(h["Via"] == "1.1 portcullis");
  CHECK(!h["X-Request-Id"].empty());
  CHECK(r->header("X-Request-Id") == h["X-Request-Id"]);
}

TEST_CASE("static route answers at the edge and unknown paths get a JSON 404", "[proxy]") {
  Backend a("a"), b("b");
  Gateway gw(two_instance_config(a, b));
  auto ping = request(gw.port(), "GET", "/ping");
  REQUIRE(ping);
  CHECK(ping->status == 200);
  CHECK(ping->body == "pong\n");
  CHECK(ping->header("Content-Type") == "text/plain");
  auto missing = request(gw.port(), "GET", "/nowhere");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  auto j = json::parse(missing->body);
  CHECK(j["status"] == 404);
  CHECK(j["error"] == "Not Found");
  CHECK(!j["request_id"].get<std::string>().empty());
}

TEST_CASE("header-matched route only matches with the header", "[proxy]") {
  Backend a("a"), b("b");
  Gateway gw(two_instance_config(a, b));
  auto with = request(gw.port(), "GET", "/app/x", {{"Client", "Android"}});
  REQUIRE(with);
  CHECK(with->status == 200);
  auto without = request(gw.port(), "GET", "/app/x");
  REQUIRE(without);
  CHECK(without->status == 404);
}

TEST_CASE("502 when the instance refuses connections, 504 on read timeout", "[proxy]") {
  Backend slow("slow");
  // A port with nothing listening: bind, read the port, close.
  int dead_port;
  {
    Backend gone("gone");
    dead_port = gone.port();
    gone.process().signal(SIGTERM);
    gone.process().wait_exit();
  }
  Gateway gw(config("  dead:\n    instances: [\"127.0.0.1:" + std::to_string(dead_port) + "\"]\n"
                    "  slow:\n    instances: [\"" + slow.address() + "\"]\n    read_timeout: 300ms\n",
                    "  - id: dead\n    path: /dead/**\n    service: dead\n"
                    "  - id: slow\n    path: /slow/**\n    service: slow\n"));
  auto dead = request(gw.port(), "GET", "/dead/x");
  REQUIRE(dead);
  CHECK(dead->status == 502);
  CHECK(json::parse(dead->body)["status"] == 502);
  auto timeout = request(gw.port(), "GET", "/slow/sleep?ms=3000");
  REQUIRE(timeout);
  CHECK(timeout->status == 504);
}

TEST_CASE("server_header adds Server to the gateway's own answers only", "[proxy]") {
  Backend a("a");
  Gateway gw(config("  hello:\n    instances: [\"" + a.address() + "\"]\n",
                    "  - id: hello\n    path: /hello/**\n    service: hello\n"
                    "  - id: ping\n    path: /ping\n    static: { status: 200, body: pong }\n",
                    "  server_header: true\n"));
  CHECK(request(gw.port(), "GET", "/ping")->header("Server") == "portcullis");
  CHECK(request(gw.port(), "GET", "/missing")->header("Server") == "portcullis");
  CHECK(!request(gw.port(), "GET", "/hello/x")->has_header("Server"));
}
