// Config loader: the documented example parses to the right values, and every kind of mistake is
// reported with its exact file:line:column and YAML path, all of them in one pass.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/errors.h"

using namespace std::chrono_literals;
using portcullis::Config;
using portcullis::ConfigErrors;
using portcullis::ListenAddress;

namespace {

struct Parsed {
  Config config;
  ConfigErrors errors{"test.yaml"};
};

Parsed parse(const std::string& yaml) {
  Parsed out;
  out.config = portcullis::parse_config(YAML::Load(yaml), out.errors);
  return out;
}

std::vector<std::string> error_lines(const ConfigErrors& errors) {
  std::vector<std::string> lines;
  for (const auto& error : errors.list()) lines.push_back(error.to_string());
  return lines;
}

// The document must produce exactly these errors, in this order.
void require_errors(const std::string& yaml, const std::vector<std::string>& expected) {
  INFO(yaml);
  const Parsed parsed = parse(yaml);
  CHECK(error_lines(parsed.errors) == expected);
}

void require_no_errors(const std::string& yaml) {
  INFO(yaml);
  const Parsed parsed = parse(yaml);
  CHECK(parsed.errors.joined() == "");
}

// A file under the temp directory, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("portcullis_loader_test_" + std::to_string(getpid()) + "_" + std::to_string(++counter) + ".yaml"))
                .string();
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const char* const kFullExample = R"(server:
  listen: "127.0.0.1:8080"
  workers: 0
  limits: { max_connections: 100000, max_request_header_bytes: 65536, max_request_body_bytes: 10485760 }
  timeouts: { request_header: 10s, idle: 60s, drain: 30s }
  trusted_proxies: ["127.0.0.1/32", "::1/128"]
  via: portcullis
  server_header: false
admin:
  listen: "127.0.0.1:9901"
  enabled: true
services:
  hello:
    discovery: static
    instances: ["127.0.0.1:8000", "127.0.0.1:8989"]
    lb: round_robin
    connect_timeout: 3s
    read_timeout: 60s
    max_idle_connections: 64
routes:
  - id: hello
    path: /hello/**
    service: hello
    methods: [GET, POST]
    host: api.example.com
    headers: { Client: Android }
    strip_prefix: true
    allow_upgrade: false
    filters:
      - { name: add_request_header, args: { name: X-Gateway, value: portcullis }, order: 10 }
  - id: ping
    path: /ping
    static: { status: 200, body: "pong\n", headers: { Content-Type: text/plain } }
filters:
  - { name: access_log }
)";

using Headers = std::vector<std::pair<std::string, std::string>>;

}  // namespace

// ---- the documented example ----------------------------------------------------------------------

TEST_CASE("the full example parses to the right values", "[config]") {
  const Parsed parsed = parse(kFullExample);
  REQUIRE(parsed.errors.joined() == "");
  const Config& config = parsed.config;

  const auto& server = config.server;
  REQUIRE(server.listen.size() == 1);
  CHECK(server.listen[0].host == "127.0.0.1");
  CHECK(server.listen[0].port == 8080);
  CHECK(server.workers == 0);
  CHECK(server.max_connections == 100000);
  CHECK(server.max_request_header_bytes == 65536);
  CHECK(server.max_request_body_bytes == 10485760);
  CHECK(server.request_header_timeout == 10s);
  CHECK(server.idle_timeout == 60s);
  CHECK(server.drain_timeout == 30s);
  CHECK(server.trusted_proxies == std::vector<std::string>{"127.0.0.1/32", "::1/128"});
  CHECK(server.via == "portcullis");
  CHECK_FALSE(server.server_header);

  CHECK(config.admin.listen.text() == "127.0.0.1:9901");
  CHECK(config.admin.enabled);

  REQUIRE(config.services.size() == 1);
  const auto& hello = config.services.at("hello");
  CHECK(hello.name == "hello");
  CHECK(hello.discovery.type == "static");
  REQUIRE(hello.instances.size() == 2);
  CHECK(hello.instances[0].address.text() == "127.0.0.1:8000");
  CHECK(hello.instances[1].address.text() == "127.0.0.1:8989");
  CHECK(hello.lb == "round_robin");
  CHECK(hello.connect_timeout == 3s);
  CHECK(hello.read_timeout == 60s);
  CHECK(hello.max_idle_connections == 64);

  REQUIRE(config.routes.size() == 2);
  const auto& route = config.routes[0];
  CHECK(route.id == "hello");
  CHECK(route.path == "/hello/**");
  CHECK(route.service == "hello");
  CHECK_FALSE(route.static_response);
  CHECK(route.methods == std::vector<std::string>{"GET", "POST"});
  CHECK(route.host == "api.example.com");
  CHECK(route.headers == Headers{{"Client", "Android"}});
  CHECK(route.strip_prefix == std::optional<bool>(true));
  CHECK_FALSE(route.allow_upgrade);
  REQUIRE(route.filters.size() == 1);
  CHECK(route.filters[0].name == "add_request_header");
  CHECK(route.filters[0].order == std::optional<int>(10));
  CHECK(route.filters[0].yaml_path == "routes[0].filters[0]");
  REQUIRE(route.filters[0].args->IsMap());
  CHECK((*route.filters[0].args)["name"].as<std::string>() == "X-Gateway");
  CHECK((*route.filters[0].args)["value"].as<std::string>() == "portcullis");

  const auto& ping = config.routes[1];
  CHECK(ping.id == "ping");
  CHECK(ping.path == "/ping");
  CHECK(ping.service.empty());
  REQUIRE(ping.static_response);
  CHECK(ping.static_response->status == 200);
  CHECK(ping.static_response->body == "pong\n");
  CHECK(ping.static_response->headers == Headers{{"Content-Type", "text/plain"}});
  CHECK_FALSE(ping.strip_prefix);

  REQUIRE(config.filters.size() == 1);
  CHECK(config.filters[0].name == "access_log");
  CHECK(config.filters[0].yaml_path == "filters[0]");
  CHECK_FALSE(config.filters[0].order);
  CHECK(config.filters[0].args->IsNull());
}

TEST_CASE("load_config_file reads the full example and records the file", "[config]") {
  TempFile file(kFullExample);
  ConfigErrors errors(file.path());
  const auto config = portcullis::load_config_file(file.path(), errors);
  REQUIRE(errors.joined() == "");
  REQUIRE(config);
  CHECK(config->file == file.path());
  CHECK(config->routes.size() == 2);
}

TEST_CASE("omitted sections and keys keep their defaults", "[config]") {
  const Parsed parsed = parse(R"(
services:
  s: { instances: ["10.0.0.1:80"] }
routes:
  - { id: r, path: /r, service: s }
)");
  REQUIRE(parsed.errors.joined() == "");
  const Config& config = parsed.config;
  const portcullis::ServerConfig server_defaults;
  REQUIRE(config.server.listen.size() == 1);
  CHECK(config.server.listen[0].text() == "0.0.0.0:8080");
  CHECK(config.server.max_request_line_bytes == server_defaults.max_request_line_bytes);
  CHECK(config.server.max_header_count == server_defaults.max_header_count);
  CHECK(config.server.via == "portcullis");
  CHECK(config.admin.listen.text() == "127.0.0.1:9901");
  CHECK(config.admin.enabled);
  const auto& service = config.services.at("s");
  CHECK(service.discovery.type == "static");
  CHECK(service.lb == "round_robin");
  CHECK(service.connect_timeout == 3s);
  CHECK(service.idle_connection_timeout == 60s);
  CHECK(service.max_requests_per_connection == 10000);
  const auto& route = config.routes.at(0);
  CHECK(route.methods.empty());
  CHECK(route.host.empty());
  CHECK_FALSE(route.strip_prefix);
  CHECK_FALSE(route.allow_upgrade);
  CHECK(config.filters.empty());
}

TEST_CASE("an empty map, and sections left empty, are valid", "[config]") {
  require_no_errors("{}");
  const Parsed parsed = parse("server:\nadmin:\nservices:\nroutes:\nfilters:\n");
  CHECK(parsed.errors.joined() == "");
  CHECK(parsed.config.server.listen.at(0).port == 8080);
}

TEST_CASE("every remaining server, service and static key is read", "[config]") {
  const Parsed parsed = parse(R"(
server:
  listen: ["*:8080", ":8081", "[::1]:8082", "127.0.0.1:0"]
  workers: 1024
  limits:
    max_connections: 10
    max_request_header_bytes: 64KiB
    max_request_line_bytes: "4KiB"
    max_header_count: 50
    max_request_body_bytes: 0
    max_response_header_bytes: 1MB
    max_chunk_extension_bytes: 0
  timeouts: { request_header: 250ms, idle: 2m, drain: 0 }
  trusted_proxies: ["10.0.0.0/8", "fd00::/8", "192.168.1.1", "::1"]
  via: ""
  server_header: true
admin: { listen: "[::]:9902", enabled: false }
services:
  s:
    instances: ["[::1]:443"]
    idle_connection_timeout: 5
    max_requests_per_connection: 1
    max_idle_connections: 0
routes:
  - id: r
    path: /r/**
    service: s
    host: "*.example.com"
    strip_prefix: false
    allow_upgrade: yes
  - id: empty
    path: /e
    static: { status: 204 }
  - id: bare
    path: /b
    static:
)");
  REQUIRE(parsed.errors.joined() == "");
  const auto& server = parsed.config.server;
  REQUIRE(server.listen.size() == 4);
  CHECK(server.listen[0].text() == "0.0.0.0:8080");
  CHECK(server.listen[1].text() == "0.0.0.0:8081");
  CHECK(server.listen[2].host == "::1");
  CHECK(server.listen[2].text() == "[::1]:8082");
  CHECK(server.listen[3].port == 0);
  CHECK(server.workers == 1024);
  CHECK(server.max_connections == 10);
  CHECK(server.max_request_header_bytes == 65536);
  CHECK(server.max_request_line_bytes == 4096);
  CHECK(server.max_header_count == 50);
  CHECK(server.max_request_body_bytes == 0);
  CHECK(server.max_response_header_bytes == 1000000);
  CHECK(server.max_chunk_extension_bytes == 0);
  CHECK(server.request_header_timeout == 250ms);
  CHECK(server.idle_timeout == 2min);
  CHECK(server.drain_timeout == 0s);
  CHECK(server.trusted_proxies.size() == 4);
  CHECK(server.via.empty());
  CHECK(server.server_header);
  CHECK(parsed.config.admin.listen.text() == "[::]:9902");
  CHECK_FALSE(parsed.config.admin.enabled);
  const auto& service = parsed.config.services.at("s");
  CHECK(service.instances.at(0).address.text() == "[::1]:443");
  CHECK(service.idle_connection_timeout == 5s);  // a bare number is seconds
  CHECK(service.max_requests_per_connection == 1);
  CHECK(service.max_idle_connections == 0);
  const auto& routes = parsed.config.routes;
  CHECK(routes[0].host == "*.example.com");
  CHECK(routes[0].strip_prefix == std::optional<bool>(false));
  CHECK(routes[0].allow_upgrade);
  CHECK(routes[1].static_response->status == 204);
  REQUIRE(routes[2].static_response);
  CHECK(routes[2].static_response->status == 200);
}

// ---- addresses -----------------------------------------------------------------------------------

TEST_CASE("parse_listen_address accepts IPv4, bracketed IPv6 and wildcards", "[config]") {
  const auto v4 = portcullis::parse_listen_address("127.0.0.1:8080");
  REQUIRE(v4);
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 8080);
  const auto v6 = portcullis::parse_listen_address("[::1]:8080");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->text() == "[::1]:8080");
  CHECK(portcullis::parse_listen_address("*:80")->text() == "0.0.0.0:80");
  CHECK(portcullis::parse_listen_address(":80")->text() == "0.0.0.0:80");
  CHECK(portcullis::parse_listen_address("0.0.0.0:0")->port == 0);
  CHECK(portcullis::parse_listen_address("1.2.3.4:65535")->port == 65535);
  // Host names are syntactically fine; whether a name is allowed depends on the use (see below).
  CHECK(portcullis::parse_listen_address("localhost:80")->text() == "localhost:80");
  CHECK(portcullis::parse_listen_address("backend-1.internal:8000")->host == "backend-1.internal");
}

TEST_CASE("parse_listen_address rejects malformed addresses", "[config]") {
  for (const char* text : {"", "8080", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1",
                           "1.2.3.4:+80", "1.2.3.4:80 ", "::1:80", "[::1]8080", "[::1", "[::1]:",
                           "[1.2.3.4]:80", "[nope]:80", "1.2.3.400:80", "*:x", "bad_host:80",
                           "-a:80", "a..b:80", "a.:80", "a b:80"}) {
    INFO(text);
    CHECK_FALSE(portcullis::parse_listen_address(text));
  }
}

TEST_CASE("bad listen addresses are reported where they are", "[config]") {
  require_errors(R"(server:
  listen: ["127.0.0.1:8080", "localhost:80", "::1:80"]
admin:
  listen: "127.0.0.1:99999"
)",
                 {R"(test.yaml:2:30: server.listen[1]: a listen address needs an IP address, not the host name "localhost")",
                  R"(test.yaml:2:46: server.listen[2]: invalid address "::1:80" (expected host:port, [ipv6]:port or *:port))",
                  R"(test.yaml:4:11: admin.listen: invalid address "127.0.0.1:99999" (expected host:port, [ipv6]:port or *:port))"});
  require_errors("server:\n  listen: []\n", {"test.yaml:2:11: server.listen: must list at least one address"});
  // A map is a listener ({address, tls}): its own keys are checked.
  require_errors("server:\n  listen: { host: a }\n", {"test.yaml:2:13: server.listen.host: unknown key",
                                                         "test.yaml:2:11: server.listen.address: missing required key"});
  require_errors("server:\n  listen: [[1]]\n", {"test.yaml:2:12: server.listen[0]: expected a string"});
  require_errors("admin:\n  listen: [\"127.0.0.1:1\"]\n", {"test.yaml:2:11: admin.listen: expected a string"});
}

TEST_CASE("instances need a real port while listeners may use port 0", "[config]") {
  require_errors(R"(services:
  s:
    instances: ["127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:1"]
)",
                 {"test.yaml:3:17: services.s.instances[0]: port must be between 1 and 65535",
                  R"(test.yaml:3:32: services.s.instances[1]: invalid address "127.0.0.1:65536" (expected host:port, [ipv6]:port or *:port))"});
  require_no_errors("server: { listen: \"127.0.0.1:0\" }\nadmin: { listen: \"127.0.0.1:0\" }\n");
}

TEST_CASE("instances may be host names, resolved later", "[config]") {
  const Parsed parsed = parse("services:\n  s: { instances: [\"localhost:8000\", \"backend.internal:80\"] }\n");
  REQUIRE(parsed.errors.joined() == "");
  CHECK(parsed.config.services.at("s").instances.at(1).address.text() == "backend.internal:80");
  require_errors("admin:\n  listen: \"localhost:9901\"\n",
                 {R"(test.yaml:2:11: admin.listen: a listen address needs an IP address, not the host name "localhost")"});
}

TEST_CASE("the admin listener may not take the server's address", "[config]") {
  require_errors("server: { listen: \"127.0.0.1:8080\" }\nadmin: { listen: \"127.0.0.1:8080\" }\n",
                 {"test.yaml:2:18: admin.listen: same address as server.listen"});
  require_no_errors(
      "server: { listen: \"127.0.0.1:8080\" }\nadmin: { listen: \"127.0.0.1:8080\", enabled: false }\n");
}

TEST_CASE("trusted proxies must be CIDRs", "[config]") {
  require_errors(R"(server:
  trusted_proxies:
    - 10.0.0.0/8
    - 10.0.0.0/33
    - "::1/129"
    - "fe80::1/64"
    - nope
    - 10.0.0.0/
    - [1]
)",
                 {R"(test.yaml:4:7: server.trusted_proxies[1]: invalid CIDR "10.0.0.0/33" (expected an IPv4 or IPv6 address with an optional /prefix))",
                  R"(test.yaml:5:7: server.trusted_proxies[2]: invalid CIDR "::1/129" (expected an IPv4 or IPv6 address with an optional /prefix))",
                  R"(test.yaml:7:7: server.trusted_proxies[4]: invalid CIDR "nope" (expected an IPv4 or IPv6 address with an optional /prefix))",
                  R"(test.yaml:8:7: server.trusted_proxies[5]: invalid CIDR "10.0.0.0/" (expected an IPv4 or IPv6 address with an optional /prefix))",
                  "test.yaml:9:7: server.trusted_proxies[6]: expected a string"});
  require_errors("server:\n  trusted_proxies: 10.0.0.0/8\n",
                 {"test.yaml:2:20: server.trusted_proxies: expected a list"});
}

// ---- unknown and duplicate keys ------------------------------------------------------------------

TEST_CASE("unknown keys are reported at every level with the key's position", "[config]") {
  require_errors(R"(serverr: {}
server:
  listn: ":1"
  limits: { max_conections: 1 }
  timeouts: { idel: 1s }
admin: { enable: true }
services:
  s:
    instances: ["127.0.0.1:1"]
    timeout: 1s
routes:
  - id: r
    path: /r
    service: s
    filters:
      - { name: f, arg: {} }
    method: [GET]
  - id: p
    path: /p
    static:
      status: 200
      bodyy: x
filters:
  - name: g
    ordre: 1
)",
                 {"test.yaml:1:1: serverr: unknown key; did you mean server?",
                  "test.yaml:3:3: server.listn: unknown key; did you mean listen?",
                  "test.yaml:4:13: server.limits.max_conections: unknown key; did you mean max_connections?",
                  "test.yaml:5:15: server.timeouts.idel: unknown key; did you mean idle?",
                  "test.yaml:6:10: admin.enable: unknown key; did you mean enabled?",
                  "test.yaml:10:5: services.s.timeout: unknown key",
                  "test.yaml:17:5: routes[0].method: unknown key; did you mean methods?",
                  "test.yaml:16:20: routes[0].filters[0].arg: unknown key; did you mean args?",
                  "test.yaml:22:7: routes[1].static.bodyy: unknown key; did you mean body?",
                  "test.yaml:25:5: filters[0].ordre: unknown key; did you mean order?"});
}

TEST_CASE("misspelt keys and enum values get the closest known spelling", "[config]") {
  require_errors(R"(server:
  workerz: 2
services:
  s:
    instances: ["127.0.0.1:1"]
    lb: round_robbin
    discovery: { type: staticc }
    retries: { on: [timeuot] }
    adaptive_concurrency: { algorithm: vegass }
routes:
  - { id: r, path: /r, service: s, colour: blue }
)",
                 {"test.yaml:2:3: server.workerz: unknown key; did you mean workers?",
                  "test.yaml:7:24: services.s.discovery.type: unknown discovery type \"staticc\"; did you mean "
                  "static? (expected static, registry, eureka, etcd or dns)",
                  "test.yaml:6:9: services.s.lb: unknown lb \"round_robbin\"; did you mean round_robin? (expected "
                  "round_robin, weighted_round_robin, random, least_request or consistent_hash)",
                  "test.yaml:8:21: services.s.retries.on[0]: unknown retry condition \"timeuot\"; did you mean "
                  "timeout? (connect_failure, reset, timeout, 5xx or a 5xx status code)",
                  "test.yaml:9:40: services.s.adaptive_concurrency.algorithm: unknown algorithm \"vegass\"; did "
                  "you mean vegas? (expected gradient2 or vegas)",
                  "test.yaml:11:36: routes[0].colour: unknown key"});
}

TEST_CASE("duplicate keys are reported at the second one", "[config]") {
  require_errors(R"(server:
  workers: 1
  workers: 2
routes:
  - id: a
    id: b
    path: /a
    static: {}
)",
                 {"test.yaml:3:3: server.workers: duplicate key", "test.yaml:6:5: routes[0].id: duplicate key"});
  require_errors("services:\n  s: { instances: [\"127.0.0.1:1\"] }\n  s: { instances: [\"127.0.0.1:2\"] }\n",
                 {"test.yaml:3:3: services.s: duplicate key"});
}

// ---- types and values ----------------------------------------------------------------------------

TEST_CASE("values of the wrong type are reported", "[config]") {
  require_errors(R"(server:
  workers: many
  server_header: maybe
  via: [a]
  limits: 5
admin:
  enabled: 1
services: [a]
routes: { a: 1 }
filters: access_log
)",
                 {"test.yaml:2:12: server.workers: expected an integer",
                  "test.yaml:5:11: server.limits: expected a map",
                  "test.yaml:4:8: server.via: expected a string",
                  "test.yaml:3:18: server.server_header: expected true or false",
                  "test.yaml:7:12: admin.enabled: expected true or false",
                  "test.yaml:8:11: services: expected a map",
                  "test.yaml:9:9: routes: expected a list",
                  "test.yaml:10:10: filters: expected a list"});
}

TEST_CASE("route and filter fields of the wrong type are reported", "[config]") {
  require_errors(R"(routes:
  - id: [r]
    path: { p: 1 }
    static: "hello"
    methods: GET
    host: [a]
    headers: [a]
    strip_prefix: sometimes
    allow_upgrade: 2
    filters: { name: x }
  - 7
  - id: q
    path: /q
    static: { status: ok, body: [x], headers: { X-A: [1] } }
    filters:
      - name: [x]
        args: [1]
        order: 1.5
      - just_a_name
)",
                 {"test.yaml:2:9: routes[0].id: expected a string",
                  "test.yaml:3:11: routes[0].path: expected a string",
                  "test.yaml:4:13: routes[0].static: expected a map",
                  "test.yaml:5:14: routes[0].methods: expected a list",
                  "test.yaml:6:11: routes[0].host: expected a string",
                  "test.yaml:7:14: routes[0].headers: expected a map",
                  "test.yaml:8:19: routes[0].strip_prefix: expected true or false",
                  "test.yaml:9:20: routes[0].allow_upgrade: expected true or false",
                  "test.yaml:10:14: routes[0].filters: expected a list",
                  "test.yaml:11:5: routes[1]: expected a map",
                  "test.yaml:14:23: routes[2].static.status: expected an integer",
                  "test.yaml:14:33: routes[2].static.body: expected a string",
                  "test.yaml:14:54: routes[2].static.headers.X-A: expected a string",
                  "test.yaml:16:15: routes[2].filters[0].name: expected a string",
                  "test.yaml:17:15: routes[2].filters[0].args: expected a map",
                  "test.yaml:18:16: routes[2].filters[0].order: expected an integer",
                  "test.yaml:19:9: routes[2].filters[1]: expected a map"});
}

TEST_CASE("empty values are reported at their key, not at the next line", "[config]") {
  require_errors(R"(server:
  workers:
  via:
services:
  s:
routes:
  - id:
    path: /a
    static: {}
)",
                 {"test.yaml:2:3: server.workers: expected an integer",
                  "test.yaml:3:3: server.via: expected a string",
                  "test.yaml:5:3: services.s: expected a map",
                  "test.yaml:7:5: routes[0].id: expected a string"});
}

TEST_CASE("bad durations and sizes are reported with the offending text", "[config]") {
  require_errors(R"(server:
  limits:
    max_request_header_bytes: 10XB
    max_request_body_bytes: -1
    max_connections: 1k
  timeouts:
    request_header: 10x
    idle: -1s
    drain: [1]
services:
  s:
    instances: ["127.0.0.1:1"]
    connect_timeout: fast
)",
                 {R"(test.yaml:5:22: server.limits.max_connections: expected an integer)",
                  R"(test.yaml:3:31: server.limits.max_request_header_bytes: invalid size "10XB" (expected bytes, or a number with B, KiB, MiB, GiB, KB, MB or GB))",
                  R"(test.yaml:4:29: server.limits.max_request_body_bytes: invalid size "-1" (expected bytes, or a number with B, KiB, MiB, GiB, KB, MB or GB))",
                  R"(test.yaml:7:21: server.timeouts.request_header: invalid duration "10x" (expected e.g. 250ms, 3s, 2m, 1h; a bare number is seconds))",
                  R"(test.yaml:8:11: server.timeouts.idle: invalid duration "-1s" (expected e.g. 250ms, 3s, 2m, 1h; a bare number is seconds))",
                  R"(test.yaml:9:12: server.timeouts.drain: invalid duration (expected e.g. 250ms, 3s, 2m, 1h; a bare number is seconds))",
                  R"(test.yaml:13:22: services.s.connect_timeout: invalid duration "fast" (expected e.g. 250ms, 3s, 2m, 1h; a bare number is seconds))"});
}

TEST_CASE("zero is refused where it makes no sense", "[config]") {
  require_errors(R"(server:
  limits:
    max_connections: 0
    max_request_header_bytes: 0
    max_request_line_bytes: 0B
    max_header_count: 0
    max_response_header_bytes: 0
  timeouts: { request_header: 0s, idle: 0 }
services:
  s:
    instances: ["127.0.0.1:1"]
    connect_timeout: 0ms
    read_timeout: 0
    idle_connection_timeout: 0s
    max_requests_per_connection: 0
)",
                 {"test.yaml:3:22: server.limits.max_connections: must be between 1 and 18446744073709551615",
                  "test.yaml:4:31: server.limits.max_request_header_bytes: must be greater than 0",
                  "test.yaml:5:29: server.limits.max_request_line_bytes: must be greater than 0",
                  "test.yaml:6:23: server.limits.max_header_count: must be between 1 and 18446744073709551615",
                  "test.yaml:7:32: server.limits.max_response_header_bytes: must be greater than 0",
                  "test.yaml:8:31: server.timeouts.request_header: must be greater than 0",
                  "test.yaml:8:41: server.timeouts.idle: must be greater than 0",
                  "test.yaml:12:22: services.s.connect_timeout: must be greater than 0",
                  "test.yaml:13:19: services.s.read_timeout: must be greater than 0",
                  "test.yaml:14:30: services.s.idle_connection_timeout: must be greater than 0",
                  "test.yaml:15:34: services.s.max_requests_per_connection: must be between 1 and 18446744073709551615"});
}

TEST_CASE("workers are limited to 1024 and may not be negative", "[config]") {
  require_errors("server:\n  workers: 1025\n", {"test.yaml:2:12: server.workers: must be between 0 and 1024"});
  require_errors("server:\n  workers: -1\n", {"test.yaml:2:12: server.workers: expected an integer"});
}

TEST_CASE("via must be a token or empty", "[config]") {
  require_errors("server:\n  via: \"my gateway\"\n",
                 {"test.yaml:2:8: server.via: must be a single token (letters, digits, !#$%&'*+-.^_`|~) or empty"});
}

// ---- services ------------------------------------------------------------------------------------

TEST_CASE("services: discovery, instances and lb are checked", "[config]") {
  require_errors(R"(services:
  a:
    discovery: consul
    instances: ["127.0.0.1:1"]
    lb: fastest
  b: {}
  c:
    instances: []
  d:
)",
                 {R"(test.yaml:3:16: services.a.discovery: unknown discovery type "consul" (expected static, registry, eureka, etcd or dns))",
                  R"(test.yaml:5:9: services.a.lb: unknown lb "fastest" (expected round_robin, weighted_round_robin, random, least_request or consistent_hash))",
                  "test.yaml:6:6: services.b.instances: missing required key (static discovery needs instances)",
                  "test.yaml:8:16: services.c.instances: must list at least one address",
                  "test.yaml:9:3: services.d: expected a map"});
}

// ---- routes --------------------------------------------------------------------------------------

TEST_CASE("route ids are required and unique", "[config]") {
  require_errors(R"(routes:
  - id: a
    path: /a
    static: {}
  - id: b
    path: /b
    static: {}
  - id: a
    path: /c
    static: {}
  - path: /d
    static: {}
  - id: ""
    path: /e
    static: {}
)",
                 {R"(test.yaml:8:9: routes[2].id: duplicate route id "a" (first used at line 2))",
                  "test.yaml:11:5: routes[3].id: missing required key",
                  "test.yaml:13:9: routes[4].id: must not be empty"});
}

TEST_CASE("a route's service must be defined", "[config]") {
  require_errors(R"(services:
  hello: { instances: ["127.0.0.1:1"] }
routes:
  - { id: a, path: /a, service: hello }
  - { id: b, path: /b, service: helo }
)",
                 {R"(test.yaml:5:33: routes[1].service: service "helo" is not defined)"});
}

TEST_CASE("services may come after the routes that use them", "[config]") {
  require_no_errors(R"(routes:
  - { id: a, path: /a, service: hello }
services:
  hello: { instances: ["127.0.0.1:1"] }
)");
}

TEST_CASE("a route needs exactly one of service and static", "[config]") {
  require_errors(R"(services:
  s: { instances: ["127.0.0.1:1"] }
routes:
  - id: both
    path: /both
    service: s
    static: { body: x }
  - id: neither
    path: /neither
)",
                 {R"(test.yaml:4:5: routes[0]: "service", "split" and "static" are mutually exclusive)",
                  R"(test.yaml:8:5: routes[1]: a route needs either "service", "split" or "static")"});
}

TEST_CASE("route paths are required and validated", "[config]") {
  const Parsed parsed = parse(R"(routes:
  - { id: a, static: {} }
  - { id: b, path: "no-slash", static: {} }
  - { id: c, path: "", static: {} }
)");
  const auto& errors = parsed.errors.list();
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].to_string() == "test.yaml:2:5: routes[0].path: missing required key");
  // The message comes from routing::validate_pattern; only its place is asserted here.
  CHECK(errors[1].line == 3);
  CHECK(errors[1].column == 20);
  CHECK(errors[1].path == "routes[1].path");
  CHECK_FALSE(errors[1].message.empty());
  CHECK(errors[2].to_string() == "test.yaml:4:20: routes[2].path: must not be empty");
}

TEST_CASE("route methods, host and headers are validated", "[config]") {
  require_errors(R"(routes:
  - id: a
    path: /a
    static: {}
    methods: [GET, get, "BAD METHOD", PURGE, purge]
    host: "bad host"
    headers: { "Bad Name": x, X-Ok: "a\r\nX-Injected: 1" }
  - id: b
    path: /b
    static: {}
    host: "api.example.com:8080"
  - { id: c, path: /c, static: {}, host: 10.0.0.1 }
  - { id: d, path: /d, static: {}, host: "*.example.com" }
)",
                 {R"(test.yaml:5:20: routes[0].methods[1]: methods are case-sensitive: did you mean "GET"?)",
                  R"(test.yaml:5:25: routes[0].methods[2]: invalid method "BAD METHOD")",
                  R"(test.yaml:6:11: routes[0].host: invalid host "bad host" (expected a host name, *.suffix or IPv4 address, without port))",
                  "test.yaml:7:16: routes[0].headers.Bad Name: invalid header name",
                  "test.yaml:7:37: routes[0].headers.X-Ok: header value must not contain control characters",
                  R"(test.yaml:11:11: routes[1].host: invalid host "api.example.com:8080" (expected a host name, *.suffix or IPv4 address, without port))"});
  // Custom methods are tokens too; only the standard ones are guarded against lower case.
  const Parsed parsed = parse("routes:\n  - { id: a, path: /a, static: {}, methods: [PURGE, purge] }\n");
  CHECK(parsed.errors.joined() == "");
  CHECK(parsed.config.routes.at(0).methods == std::vector<std::string>{"PURGE", "purge"});
}

TEST_CASE("static responses: status range and bodiless statuses", "[config]") {
  require_errors(R"(routes:
  - { id: a, path: /a, static: { status: 99 } }
  - { id: b, path: /b, static: { status: 600 } }
  - { id: c, path: /c, static: { status: 101 } }
  - { id: d, path: /d, static: { status: 204, body: x } }
  - { id: e, path: /e, static: { status: 599, headers: { X-A: "1\n" } } }
)",
                 {"test.yaml:2:42: routes[0].static.status: must be between 200 and 599",
                  "test.yaml:3:42: routes[1].static.status: must be between 200 and 599",
                  "test.yaml:4:42: routes[2].static.status: must be between 200 and 599",
                  "test.yaml:5:32: routes[3].static.body: a 204 response cannot have a body",
                  "test.yaml:6:63: routes[4].static.headers.X-A: header value must not contain control characters"});
}

// ---- filters -------------------------------------------------------------------------------------

TEST_CASE("filter entries keep name, args, order and their yaml path", "[config]") {
  const Parsed parsed = parse(R"(routes:
  - id: a
    path: /a
    static: {}
    filters:
      - name: first
      - name: second
        args: { anything: [1, 2], goes: here }
        order: -5
filters:
  - name: global
    args:
  - { name: other, order: 0 }
)");
  REQUIRE(parsed.errors.joined() == "");
  const auto& route_filters = parsed.config.routes.at(0).filters;
  REQUIRE(route_filters.size() == 2);
  CHECK(route_filters[0].name == "first");
  CHECK(route_filters[0].yaml_path == "routes[0].filters[0]");
  CHECK(route_filters[1].yaml_path == "routes[0].filters[1]");
  CHECK(route_filters[1].order == std::optional<int>(-5));
  CHECK((*route_filters[1].args)["anything"].size() == 2);  // not validated here, kept as given
  CHECK((*route_filters[1].args)["goes"].as<std::string>() == "here");
  const auto& global = parsed.config.filters;
  REQUIRE(global.size() == 2);
  CHECK(global[0].name == "global");
  CHECK(global[0].args->IsNull());
  CHECK(global[1].yaml_path == "filters[1]");
  CHECK(global[1].order == std::optional<int>(0));
}

TEST_CASE("filter entries need a name", "[config]") {
  require_errors("filters:\n  - { args: {} }\n  - { name: \"\" }\n  - { name: x, order: 99999999999 }\n",
                 {"test.yaml:2:5: filters[0].name: missing required key",
                  "test.yaml:3:13: filters[1].name: must not be empty",
                  "test.yaml:4:23: filters[2].order: expected an integer"});
}

// ---- documents and files -------------------------------------------------------------------------

TEST_CASE("an empty document or a non-map root is an error", "[config]") {
  require_errors("", {"test.yaml: the configuration is empty"});
  require_errors("# only a comment\n", {"test.yaml: the configuration is empty"});
  require_errors("- a\n- b\n", {"test.yaml:1:1: expected a map of sections (server, admin, services, routes, filters)"});
  require_errors("just text", {"test.yaml:1:1: expected a map of sections (server, admin, services, routes, filters)"});
}

TEST_CASE("a YAML syntax error is reported with its position", "[config]") {
  TempFile file("routes:\n  - id: a\n    path: /a: b\n");
  ConfigErrors errors(file.path());
  CHECK_FALSE(portcullis::load_config_file(file.path(), errors));
  REQUIRE(errors.list().size() == 1);
  const auto& error = errors.list()[0];
  CHECK(error.line == 3);
  CHECK(error.column == 13);
  CHECK(error.to_string() == file.path() + ":3:13: YAML syntax error: illegal map value");

  TempFile anchor("a: &x 1\nb: *y\n");
  ConfigErrors anchor_errors(anchor.path());
  CHECK_FALSE(portcullis::load_config_file(anchor.path(), anchor_errors));
  CHECK(anchor_errors.joined() == anchor.path() + ":2:4: YAML syntax error: the referenced anchor is not defined");
}

TEST_CASE("a missing file, a directory or an empty file is an error", "[config]") {
  const std::string missing = "/nonexistent/portcullis.yaml";
  ConfigErrors errors(missing);
  CHECK_FALSE(portcullis::load_config_file(missing, errors));
  CHECK(errors.joined() == missing + ": cannot read configuration: file \"" + missing + "\" not found");

  const std::string dir = std::filesystem::temp_directory_path().string();
  ConfigErrors dir_errors(dir);
  CHECK_FALSE(portcullis::load_config_file(dir, dir_errors));
  CHECK(dir_errors.list().size() == 1);

  TempFile empty("");
  ConfigErrors empty_errors(empty.path());
  CHECK_FALSE(portcullis::load_config_file(empty.path(), empty_errors));
  CHECK(empty_errors.joined() == empty.path() + ": the configuration is empty");
}

TEST_CASE("load_config_file returns nothing when the config is invalid", "[config]") {
  TempFile file("server:\n  workers: x\n");
  ConfigErrors errors(file.path());
  CHECK_FALSE(portcullis::load_config_file(file.path(), errors));
  CHECK(errors.joined() == file.path() + ":2:12: server.workers: expected an integer");
}

TEST_CASE("all errors are collected in one pass", "[config]") {
  const Parsed parsed = parse(R"(server:
  listen: "nowhere"
  workers: 5000
  bogus: 1
services:
  s: { instances: ["127.0.0.1:0"], lb: fastest }
routes:
  - { id: a, path: /a, service: missing }
  - { id: a, path: /b }
  - { id: c, path: /c, static: { status: 42, bodyy: x } }
filters:
  - { order: 1 }
)");
  CHECK(error_lines(parsed.errors) == std::vector<std::string>{
      "test.yaml:4:3: server.bogus: unknown key",
      R"(test.yaml:2:11: server.listen: invalid address "nowhere" (expected host:port, [ipv6]:port or *:port))",
      "test.yaml:3:12: server.workers: must be between 0 and 1024",
      "test.yaml:6:20: services.s.instances[0]: port must be between 1 and 65535",
      R"(test.yaml:6:40: services.s.lb: unknown lb "fastest" (expected round_robin, weighted_round_robin, random, least_request or consistent_hash))",
      R"(test.yaml:8:33: routes[0].service: service "missing" is not defined)",
      R"(test.yaml:9:11: routes[1].id: duplicate route id "a" (first used at line 8))",
      R"(test.yaml:9:5: routes[1]: a route needs either "service", "split" or "static")",
      "test.yaml:10:46: routes[2].static.bodyy: unknown key; did you mean body?",
      "test.yaml:10:42: routes[2].static.status: must be between 200 and 599",
      "test.yaml:12:5: filters[0].name: missing required key"});
  CHECK(parsed.errors.joined().find('\n') != std::string::npos);
}

// ---- error formatting ----------------------------------------------------------------------------

TEST_CASE("ConfigError formats file:line:column: path: message", "[config]") {
  portcullis::ConfigError error{"gw.yaml", 3, 7, "routes[1].static.bodyy", "unknown key"};
  CHECK(error.to_string() == "gw.yaml:3:7: routes[1].static.bodyy: unknown key");
  error.line = 0;
  CHECK(error.to_string() == "gw.yaml: routes[1].static.bodyy: unknown key");
  error.path.clear();
  CHECK(error.to_string() == "gw.yaml: unknown key");
}

TEST_CASE("ConfigErrors places nodes 1-based and unplaced ones at line 0", "[config]") {
  ConfigErrors errors("x.yaml");
  const YAML::Node root = YAML::Load("a:\n  b: 1\n");
  errors.add(root["a"]["b"], "a.b", "bad");
  errors.add(YAML::Node(), "built", "in memory");  // null mark
  errors.add(root["missing"], "missing", "zombie");  // invalid node: Mark() would throw
  errors.add_unplaced("", "whole file");
  errors.add_at(4, 2, "p", "placed");
  REQUIRE(errors.list().size() == 5);
  CHECK(errors.list()[0].line == 2);
  CHECK(errors.list()[0].column == 6);
  CHECK(errors.list()[1].line == 0);
  CHECK(errors.list()[2].line == 0);
  CHECK(errors.joined() ==
        "x.yaml:2:6: a.b: bad\nx.yaml: built: in memory\nx.yaml: missing: zombie\nx.yaml: whole file\n"
        "x.yaml:4:2: p: placed");
  CHECK(errors.file() == "x.yaml");
  CHECK_FALSE(errors.empty());
}

TEST_CASE("canary, split and mirror keys are checked", "[config]") {
  const Parsed parsed = parse(R"(services:
  a: { instances: ["127.0.0.1:1"] }
  b: { instances: ["127.0.0.1:2"] }
  c: { instances: ["127.0.0.1:3"] }
routes:
  - id: c1
    path: /c1
    service: a
    canary: { service: a, percent: 150, sticky: "header:", ramp: { steps: [10, 5] } }
  - id: s1
    path: /s1
    split: [ { service: a, weight: 0 } ]
    sticky: bogus
  - id: m1
    path: /m1
    service: a
    mirror: { service: a }
    variant_header: X-V
  - id: ok
    path: /ok
    service: a
    canary: { service: b, percent: 2.5, sticky: "cookie:uid", analysis: {} }
    mirror: { service: c, percent: 10, max_body_bytes: 1KiB }
)");
  const auto lines = error_lines(parsed.errors);
  auto has = [&](const std::string& text) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(text) != std::string::npos; });
  };
  INFO(parsed.errors.joined());
  CHECK(has("routes[0].canary.service: the canary must be another service than the baseline"));
  CHECK(has("routes[0].canary.percent: expected a number from 0 to 100"));
  CHECK(has("routes[0].canary.sticky: expected ip, header:NAME or cookie:NAME"));
  CHECK(has("routes[0].canary.ramp.steps[1]: ramp steps must rise"));
  CHECK(has("routes[1].split: a split needs at least two services"));
  CHECK(has("routes[1].sticky: expected ip, header:NAME or cookie:NAME"));
  CHECK(has("routes[2].mirror.service: the mirror must be another service than the route's own versions"));
  CHECK(has("routes[2].variant_header: \"variant_header\" applies to a split"));
  CHECK(lines.size() == 8);
  const portcullis::RouteConfig& ok = parsed.config.routes.at(3);
  REQUIRE(ok.canary);
  CHECK(ok.canary->percent == 2.5);
  CHECK(ok.canary->analysis->min_requests == 200);
  REQUIRE(ok.mirror);
  CHECK(ok.mirror->max_body_bytes == 1024);
}
