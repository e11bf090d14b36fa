// Config loader: the documented example parses to the right values, defaults hold, and addresses
// are read and checked.
#include "unit/config/loader_support.h"

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
