// Config loader: unknown and duplicate keys, wrong types and bad values are reported with their
// exact file:line:column and YAML path.
#include "unit/config/loader_support.h"

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
