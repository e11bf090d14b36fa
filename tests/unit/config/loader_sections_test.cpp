// Config loader: services, routes, filters, whole documents and files, and the error format;
// every mistake reported in one pass.
#include "unit/config/loader_support.h"

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

// ---- services.NAME.protocol ------------------------------------------------------------------------

TEST_CASE("services.NAME.protocol: http1 by default, http2, and nothing else", "[config]") {
  const auto parsed = loader_support::parse(R"(services:
  old: { instances: ["127.0.0.1:1"] }
  grpc: { protocol: http2, instances: ["127.0.0.1:2"] }
)");
  REQUIRE(parsed.errors.list().empty());
  CHECK_FALSE(parsed.config.services.at("old").http2());
  CHECK(parsed.config.services.at("grpc").http2());
  const auto bad = loader_support::parse(R"(services:
  s: { protocol: http3, instances: ["127.0.0.1:1"] }
)");
  const std::vector<std::string> lines = loader_support::error_lines(bad.errors);
  REQUIRE(lines.size() == 1);
  CHECK(lines.front().find("test.yaml:2:18: services.s.protocol:") == 0);
}

// ---- server.http2 --------------------------------------------------------------------------------

TEST_CASE("server.http2: defaults, values, and the bounds SETTINGS can carry", "[config]") {
  const auto defaults = loader_support::parse("server: {}\n");
  REQUIRE(defaults.errors.list().empty());
  const portcullis::Http2Config& d = defaults.config.server.http2;
  CHECK(d.enabled);
  CHECK(d.max_concurrent_streams == 100);
  CHECK(d.initial_stream_window == 64 * 1024);
  CHECK(d.max_frame_size == 16384);
  const auto set = loader_support::parse(R"(server:
  http2:
    enabled: false
    max_concurrent_streams: 10
    initial_connection_window: 4MiB
    idle_timeout: 5s
    max_resets_per_second: 7
)");
  REQUIRE(set.errors.list().empty());
  const portcullis::Http2Config& h = set.config.server.http2;
  CHECK_FALSE(h.enabled);
  CHECK(h.max_concurrent_streams == 10);
  CHECK(h.initial_connection_window == 4 * 1024 * 1024);
  CHECK(h.idle_timeout == 5s);
  CHECK(h.max_resets_per_second == 7);
  require_errors(R"(server:
  http2:
    max_frame_size: 32MiB
    initial_stream_window: 4GiB
    initial_connection_window: 1KiB
    max_concurrent_streams: 0
)",
                 {"test.yaml:6:29: server.http2.max_concurrent_streams: must be between 1 and 2147483647",
                  "test.yaml:5:32: server.http2.initial_connection_window: must be at least 65535",
                  "test.yaml:3:21: server.http2.max_frame_size: must be at most 16777215 (16 MiB - 1)",
                  "test.yaml:4:28: server.http2.initial_stream_window: must be at most 2147483647 (2 GiB - 1)"});
}
