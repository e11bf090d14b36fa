// Reload, drain, validate and log rotation, against the real daemon.
#include <signal.h>

#include <atomic>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness.h"

using namespace harness;
using json = nlohmann::json;

namespace {

std::string hello_config(const Backend& b, const std::string& extra_routes = "", const std::string& server_extra = "") {
  return config("  hello:\n    instances: [\"" + b.address() + "\"]\n",
                "  - id: hello\n    path: /hello/**\n    service: hello\n" + extra_routes, server_extra);
}

std::optional<Response> admin(int port, const std::string& method, const std::string& path) {
  return request(port, method, path);
}

}  // namespace

TEST_CASE("validate prints every error with file:line:column and exits 1", "[lifecycle]") {
  std::string path = temp_dir() + "/bad.yaml";
  write_file(path,
             "server:\n  listen: \"127.0.0.1:0\"\n  bogus: 1\nroutes:\n  - id: r\n    path: /x\n    service: missing\n"
             "    filters:\n      - { name: no_such_filter }\n");
  Process p({PORTCULLIS_BINARY, "validate", "-c", path}, temp_dir() + "/validate.log");
  CHECK(p.wait_exit() == 1);
  std::string out = p.output();
  CHECK(out.find(path + ":3:3") != std::string::npos);  // unknown key server.bogus
  CHECK(out.find(path + ":7:") != std::string::npos);   // undefined service
  std::string good = temp_dir() + "/good.yaml";
  write_file(good, "routes:\n  - id: ping\n    path: /ping\n    static: { status: 200, body: ok }\n");
  Process ok({PORTCULLIS_BINARY, "validate", "-c", good}, temp_dir() + "/validate-ok.log");
  CHECK(ok.wait_exit() == 0);
}

TEST_CASE("reload swaps routes, an invalid file is rejected and the running config stays", "[lifecycle]") {
  Backend b("b");
  Gateway gw(hello_config(b));
  CHECK(request(gw.port(), "GET", "/new")->status == 404);

  gw.rewrite_config(hello_config(b, "  - id: new\n    path: /new\n    static: { status: 201, body: fresh }\n"));
  auto r = admin(gw.admin_port(), "POST", "/admin/reload");
  REQUIRE(r);
  CHECK(r->status == 200);
  auto fresh = request(gw.port(), "GET", "/new");
  CHECK(fresh->status == 201);
  CHECK(fresh->body == "fresh");

  gw.rewrite_config("routes:\n  - id: broken\n    path: no-slash\n    static: { status: 200 }\n");
  auto rejected = admin(gw.admin_port(), "POST", "/admin/reload");
  REQUIRE(rejected);
  CHECK(rejected->status == 400);
  auto errors = json::parse(rejected->body)["errors"];
  REQUIRE(errors.size() >= 1);
  CHECK(errors[0].get<std::string>().find(gw.config_path() + ":3:") != std::string::npos);
  CHECK(request(gw.port(), "GET", "/new")->status == 201);  // the old snapshot is still serving

  // SIGHUP reloads the same way.
  gw.rewrite_config(hello_config(b, "  - id: new\n    path: /new\n    static: { status: 202, body: hup }\n"));
  std::size_t mark = gw.process().output().size();
  gw.process().signal(SIGHUP);
  REQUIRE(gw.process().wait_for_output("config reloaded", std::chrono::seconds(10), mark) != std::string::npos);
  CHECK(request(gw.port(), "GET", "/new")->status == 202);

  auto metrics = admin(gw.admin_port(), "GET", "/metrics");
  CHECK(metrics->body.find("portcullis_config_reloads_total{result=\"success\"} 2") != std::string::npos);
  CHECK(metrics->body.find("portcullis_config_reloads_total{result=\"failure\"} 1") != std::string::npos);
}

TEST_CASE("no request fails while the config is reloaded repeatedly under load", "[lifecycle]") {
  Backend b("b");
  Gateway gw(hello_config(b, "", ""));
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      Client c(gw.port());
      while (!stop) {
        c.send("GET /hello/x HTTP/1.1\r\nHost: t\r\n\r\n");
        auto r = c.read_response();
        if (r && r->status == 200) ++ok;
        else { ++failed; return; }
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    gw.rewrite_config(hello_config(b, "  - id: v" + std::to_string(i) + "\n    path: /v" + std::to_string(i) +
                                          "\n    static: { status: 200, body: v }\n"));
    auto r = admin(gw.admin_port(), "POST", "/admin/reload");
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  stop = true;
  for (auto& t : clients) t.join();
  CHECK(failed == 0);
  CHECK(ok > 20);
}

TEST_CASE("SIGTERM drains: in-flight requests finish, then the process exits 0", "[lifecycle]") {
  Backend b("b");
  Gateway gw(hello_config(b));
  std::vector<std::unique_ptr<Client>> in_flight;
  for (int i = 0; i < 5; ++i) {
    in_flight.push_back(std::make_unique<Client>(gw.port()));
    in_flight.back()->send("GET /hello/sleep?ms=700 HTTP/1.1\r\nHost: t\r\n\r\n");
  }
  Client idle(gw.port());
  idle.send("GET /hello/x HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(idle.read_response()->status == 200);
  // The sleeping requests are in flight once the backend has them: wait on the gateway's gauge.
  REQUIRE(eventually([&] {
    auto m = request(gw.admin_port(), "GET", "/metrics");
    return m && m->body.find("portcullis_upstream_pool_active_connections{service=\"hello\",instance=\"" +
                             b.address() + "\"} 5") != std::string::npos;
  }));
  gw.process().signal(SIGTERM);
  for (auto& c : in_flight) {
    auto r = c->read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("Connection") == "close");
  }
  CHECK(idle.closed_by_peer());  // the idle keep-alive connection is closed, not left hanging
  CHECK(gw.process().wait_exit() == 0);
}

TEST_CASE("access log goes to a file as JSON lines and is reopened on SIGUSR1", "[lifecycle]") {
  Backend b("b");
  std::string log = temp_dir() + "/access.log";
  Gateway gw(hello_config(b) + "filters:\n  - { name: access_log, args: { path: \"" + log + "\" } }\n");
  REQUIRE(request(gw.port(), "GET", "/hello/first")->status == 200);
  // Lines are flushed by a 200 ms timer; wait for the line rather than for a fixed time.
  eventually([&] { return read_file(log).find("/hello/first") != std::string::npos; });
  std::string first = read_file(log);
  REQUIRE(first.find("/hello/first") != std::string::npos);
  auto line = json::parse(first.substr(0, first.find('\n')));
  CHECK(line["route"] == "hello");
  CHECK(line["service"] == "hello");
  CHECK(line["status"] == 200);
  CHECK(line["instance"] == b.address());
  CHECK(!line["request_id"].get<std::string>().empty());

  std::rename(log.c_str(), (log + ".1").c_str());
  std::size_t mark = gw.process().output().size();
  gw.process().signal(SIGUSR1);
  REQUIRE(gw.process().wait_for_output("reopening log files", std::chrono::seconds(5), mark) != std::string::npos);
  REQUIRE(request(gw.port(), "GET", "/hello/second")->status == 200);
  CHECK(eventually([&] { return read_file(log).find("/hello/second") != std::string::npos; }));
  CHECK(read_file(log + ".1").find("/hello/second") == std::string::npos);
}
