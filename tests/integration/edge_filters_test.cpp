// The edge filters through the real daemon, on a plain and a TLS listener: https_redirect, HSTS
// only over TLS, CORS preflight answered at the edge, request_size_limit on streamed bodies.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace harness;

TEST_CASE("Edge filters: https_redirect, security_headers, cors, request_size_limit", "[edge]") {
  Backend backend("edge");
  const std::string dir = temp_dir() + "/edge-pki";
  run_command("mkdir -p " + dir + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
              "-days 2 -subj /CN=www.example.test -addext subjectAltName=DNS:www.example.test -keyout " +
              dir + "/www.key -out " + dir + "/www.pem");
  Gateway gw("server:\n  listen:\n    - 127.0.0.1:0\n    - address: 127.0.0.1:0\n      tls: { cert: " + dir +
             "/www.pem, key: " + dir + "/www.key }\n"
             "services:\n  app:\n    instances: [\"" + backend.address() + "\"]\n"
             "filters:\n"
             "  - { name: https_redirect, args: { port: 8443 } }\n"
             "  - { name: security_headers, args: { hsts: { max_age: 600 } } }\n"
             "routes:\n"
             "  - id: api\n    path: /api/**\n    service: app\n    filters:\n"
             "      - { name: cors, args: { allowed_origins: [\"https://*.example.test\"], allowed_methods: [GET, PUT], "
             "allowed_headers: [Content-Type], max_age: 10m } }\n"
             "      - { name: request_size_limit, args: { max_bytes: 1KiB } }\n"
             "admin:\n  listen: 127.0.0.1:0\n");
  REQUIRE(gw.ports().size() == 2);
  const std::string https = "https://www.example.test:" + std::to_string(gw.ports()[1]);
  // HTTP/1.1 so the header lines compare as written (over TLS curl would pick h2, lower case).
  const std::string curl = "curl -s --http1.1 --cacert " + dir + "/www.pem --resolve www.example.test:" +
                           std::to_string(gw.ports()[1]) + ":127.0.0.1 ";

  SECTION("plain HTTP is redirected to https, without HSTS; the TLS side gets HSTS") {
    Client c(gw.port());
    c.send("GET /api/x?y=1 HTTP/1.1\r\nHost: www.example.test:8080\r\n\r\n");
    auto get = c.read_response();
    REQUIRE(get);
    CHECK(get->status == 301);
    CHECK(get->header("Location") == "https://www.example.test:8443/api/x?y=1");
    CHECK_FALSE(get->has_header("Strict-Transport-Security"));
    CHECK(get->header("X-Content-Type-Options") == "nosniff");
    c.send("POST /api/x HTTP/1.1\r\nHost: www.example.test\r\nContent-Length: 4\r\n\r\ndata");
    auto post = c.read_response();
    REQUIRE(post);
    CHECK(post->status == 308);  // keeps the method and body
    const std::string out = run_command(curl + "-D - -o /dev/null " + https + "/api/hello");
    CHECK(out.find("HTTP/1.1 200") != std::string::npos);
    CHECK(out.find("Strict-Transport-Security: max-age=600") != std::string::npos);
  }

  SECTION("a CORS preflight is answered at the edge; a refused one is 403") {
    const std::string preflight = curl + "-D - -o /dev/null -X OPTIONS -H 'Origin: https://app.example.test' "
                                         "-H 'Access-Control-Request-Method: PUT' " + https + "/api/items";
    const std::string out = run_command(preflight);
    CHECK(out.find("HTTP/1.1 204") != std::string::npos);
    CHECK(out.find("Access-Control-Allow-Origin: https://app.example.test") != std::string::npos);
    CHECK(out.find("Access-Control-Max-Age: 600") != std::string::npos);
    const std::string refused = run_command(curl + "-o /dev/null -w '%{http_code}' -X OPTIONS -H 'Origin: "
                                                   "https://app.example.test.evil.test' -H 'Access-Control-Request-Method: PUT' " +
                                            https + "/api/items");
    CHECK(refused == "403");
    const std::string actual = run_command(curl + "-D - -o /dev/null -H 'Origin: https://app.example.test' " + https + "/api/items");
    CHECK(actual.find("Access-Control-Allow-Origin: https://app.example.test") != std::string::npos);
    CHECK(actual.find("Vary: Origin") != std::string::npos);
  }

  SECTION("request_size_limit: 413 by Content-Length, and for a chunked body once it passes the limit") {
    const std::string small = run_command("printf 'short body' | " + curl + "-o /dev/null -w '%{http_code}' --data-binary @- " +
                                          https + "/api/echo");
    CHECK(small == "200");
    const std::string big = run_command("head -c 4096 /dev/zero | " + curl + "-o /dev/null -w '%{http_code}' --data-binary @- " +
                                        https + "/api/echo");
    CHECK(big == "413");
    const std::string chunked = run_command("head -c 4096 /dev/zero | " + curl +
                                            "-o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @- " +
                                            https + "/api/echo");
    CHECK(chunked == "413");
  }
}
