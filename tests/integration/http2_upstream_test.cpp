// HTTP/2 to origins (`services.NAME.protocol: http2`) against the real daemon: an h2c/h2 origin on
// Debian's python3-h2 (tests/integration/h2_origin.py) that counts its connections and streams and
// can refuse streams or send GOAWAY, and a gRPC origin and client on python3-grpcio
// (grpc_origin.py, grpc_calls.py) for every kind of call.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discovery_support.h"
#include "harness.h"

using discovery_support::metric;
using json = nlohmann::json;
using namespace harness;

namespace {

// A Python origin started beside the gateway; its port read from its "listening PORT" line.
class ScriptOrigin {
 public:
  ScriptOrigin(const std::string& script, const std::vector<std::string>& args) {
    std::vector<std::string> argv{"/usr/bin/python3", SOURCE_DIR "/tests/integration/" + script};
    argv.insert(argv.end(), args.begin(), args.end());
    static int n = 0;
    process_ = std::make_unique<Process>(argv, temp_dir() + "/" + script + "-" + std::to_string(++n) + ".log");
    const std::size_t at = process_->wait_for_output("listening ");
    REQUIRE(at != std::string::npos);
    port_ = std::stoi(process_->output().substr(at));
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

std::string h2_service(const std::string& name, const std::string& address, const std::string& extra = "") {
  return "  " + name + ":\n    protocol: http2\n    instances: [\"" + address + "\"]\n" + extra;
}

std::string route(const std::string& id, const std::string& path, const std::string& service) {
  return "  - id: " + id + "\n    path: " + path + "\n    service: " + service + "\n    strip_prefix: false\n";
}

std::string curl(const std::string& args) { return run_command("curl -s --max-time 20 " + args); }

json json_of(const std::string& out) {
  INFO(out);
  REQUIRE(out.find('{') != std::string::npos);
  return json::parse(out.substr(out.find('{')));
}

json stats(int gateway_port) { return json_of(get_body(gateway_port, "/_stats")); }

json grpc(int port, const std::string& scenario, const std::string& metadata = "") {
  return json_of(run_command("/usr/bin/python3 " SOURCE_DIR "/tests/integration/grpc_calls.py " +
                             std::to_string(port) + " " + scenario + " " + metadata));
}

// h2load with `args` against the gateway's /load; the "N succeeded" of its summary line.
int h2load_succeeded(int port, const std::string& args) {
  const std::string out = run_command("h2load " + args + " http://127.0.0.1:" + std::to_string(port) + "/load");
  INFO(out);
  const std::size_t at = out.find(" succeeded");
  if (at == std::string::npos) return -1;
  const std::size_t start = out.rfind(' ', at - 1);
  return std::stoi(out.substr(start + 1, at - start - 1));
}

}  // namespace

TEST_CASE("HTTP/1.1 and HTTP/2 clients reach an HTTP/2 service under the same forwarding rules", "[http2][upstream]") {
  ScriptOrigin origin("h2_origin.py", {});
  Gateway gw(config(h2_service("app", origin.address()), route("app", "/**", "app")));
  const std::string base = "http://127.0.0.1:" + std::to_string(gw.port());

  // HTTP/1.1 in, HTTP/2 out: a body of known length, and a chunked one.
  auto r = request(gw.port(), "POST", "/h1", {{"Content-Type", "text/plain"}}, "abcde");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "h2 POST /h1 5");
  CHECK(r->header("x-protocol") == "h2");
  CHECK(r->header("Via") == "2 portcullis");
  Client c(gw.port());
  c.send("POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
  auto chunked = c.read_response();
  REQUIRE(chunked);
  CHECK(chunked->body == "h2 POST /chunked 7");

  // What the origin saw: pseudo-fields from the request, no connection-specific field, the
  // gateway's X-Forwarded-* and Via.
  c.send("GET /seen HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n\r\n");
  REQUIRE(c.read_response());
  c.send("GET /_last HTTP/1.1\r\nHost: t\r\n\r\n");
  auto last_response = c.read_response();
  REQUIRE(last_response);
  std::map<std::string, std::string> seen;
  const json last = json_of(last_response->body);
  for (const auto& f : last["fields"]) seen[f[0].get<std::string>()] = f[1].get<std::string>();
  CHECK(seen[":method"] == "GET");
  CHECK(seen[":scheme"] == "http");
  CHECK(seen[":authority"] == origin.address());
  CHECK(seen[":path"] == "/seen");
  CHECK(seen["x-forwarded-for"] == "127.0.0.1");
  CHECK(seen["via"] == "1.1 portcullis");
  CHECK(seen.count("connection") == 0);
  CHECK(seen.count("keep-alive") == 0);
  CHECK(seen.count("x-hop") == 0);
  CHECK(seen.count("host") == 0);

  // HTTP/2 in and out; response trailers reach an HTTP/2 client that asked for them.
  CHECK(curl("--http2-prior-knowledge " + base + "/two?q=1") == "h2 GET /two?q=1 0");
  const std::string verbose = run_command("nghttp -v -H 'te: trailers' " + base + "/t");
  CHECK(verbose.find("x-origin-trailer: yes") != std::string::npos);
  // Every request went over the one connection the worker opened.
  CHECK(stats(gw.port())["connections"] == 1);
}

TEST_CASE("Streams are multiplexed, and a new connection opens only when the origin's limit is reached",
          "[http2][upstream]") {
  SECTION("one connection carries a worker's concurrent requests") {
    ScriptOrigin origin("h2_origin.py", {});
    Gateway gw(config(h2_service("app", origin.address()), route("app", "/**", "app")));
    CHECK(h2load_succeeded(gw.port(), "-n 400 -c 4 -m 20 -H 'x-delay-ms: 30'") == 400);
    const json s = stats(gw.port());
    CHECK(s["connections"] == 1);
    CHECK(s["max_concurrent"].get<int>() > 4);
  }
  SECTION("SETTINGS_MAX_CONCURRENT_STREAMS holds from the first request") {
    ScriptOrigin origin("h2_origin.py", {"--max-streams", "4"});
    Gateway gw(config(h2_service("app", origin.address()), route("app", "/**", "app")));
    CHECK(h2load_succeeded(gw.port(), "-n 400 -c 4 -m 20 -H 'x-delay-ms: 30'") == 400);
    const json s = stats(gw.port());
    CHECK(s["max_concurrent"] == 4);
    CHECK(s["connections"].get<int>() >= 2);
  }
}

TEST_CASE("Requests an HTTP/2 origin refused or never processed go again, bodies included", "[http2][upstream]") {
  SECTION("REFUSED_STREAM") {
    ScriptOrigin origin("h2_origin.py", {"--refuse-every", "3"});
    Gateway gw(config(h2_service("app", origin.address()), route("app", "/**", "app")));
    int ok = 0;
    for (int i = 0; i < 30; ++i) {
      auto r = request(gw.port(), "POST", "/p", {}, "body-" + std::to_string(i));
      if (r && r->status == 200 && r->body == "h2 POST /p " + std::to_string(5 + std::to_string(i).size())) ++ok;
    }
    CHECK(ok == 30);
    CHECK(stats(gw.port())["refused"].get<int>() >= 10);
  }
  SECTION("GOAWAY: the streams above its last stream id") {
    ScriptOrigin origin("h2_origin.py", {"--goaway-after", "5"});
    Gateway gw(config(h2_service("app", origin.address()), route("app", "/**", "app")));
    CHECK(h2load_succeeded(gw.port(), "-n 200 -c 2 -m 10 -H 'x-delay-ms: 20'") == 200);
    const json s = stats(gw.port());
    CHECK(s["goaways"].get<int>() >= 2);
    CHECK(s["connections"].get<int>() >= 3);
  }
}

TEST_CASE("HTTP/2 to a TLS origin is chosen by ALPN, and an origin without h2 is refused", "[http2][upstream][tls]") {
  const std::string dir = temp_dir() + "/h2-origin-cert";
  run_command("mkdir -p " + dir + " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout " +
              dir + "/key.pem -out " + dir + "/cert.pem");
  ScriptOrigin origin("h2_origin.py", {"--tls", dir + "/cert.pem", dir + "/key.pem"});
  // A TLS server that offers only http/1.1 by ALPN.
  ScriptOrigin http11("h2_origin.py", {"--tls", dir + "/cert.pem", dir + "/key.pem", "--alpn", "http/1.1"});
  const std::string http11_address = http11.address();
  const std::string tls = "    tls: { ca: \"" + dir + "/cert.pem\", sni: localhost }\n";
  Gateway gw(config(h2_service("sec", origin.address(), tls) + h2_service("old", http11_address, tls),
                    route("old", "/old/**", "old") + route("sec", "/**", "sec")));
  auto r = request(gw.port(), "GET", "/secure");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "h2 GET /secure 0");
  std::map<std::string, std::string> seen;
  const json last = json_of(get_body(gw.port(), "/_last"));
  for (const auto& f : last["fields"]) seen[f[0].get<std::string>()] = f[1].get<std::string>();
  CHECK(seen[":scheme"] == "https");
  // The handshake succeeds without h2: the connection is not used, and the client gets 502.
  auto refused = request(gw.port(), "GET", "/old/x");
  REQUIRE(refused);
  CHECK(refused->status == 502);
  CHECK(refused->body.find("did not choose h2 by ALPN") != std::string::npos);
}

TEST_CASE("gRPC calls of every kind pass through with their metadata, trailers and statuses", "[http2][grpc][upstream]") {
  ScriptOrigin origin("grpc_origin.py", {"v1"});
  Gateway gw(config(h2_service("echo", origin.address()), route("echo", "/echo.Echo/**", "echo")));
  const json unary = grpc(gw.port(), "unary");
  CHECK(unary["code"] == 0);
  CHECK(unary["reply"] == "hello");
  CHECK(unary["initial"]["x-origin"] == "v1");
  CHECK(unary["trailing"]["x-trailer"] == "done");
  CHECK(unary["trailing"]["x-seen-client"] == "yes");
  const json failing = grpc(gw.port(), "failing");
  CHECK(failing["code"] == 5);  // NOT_FOUND, as the origin said
  CHECK(failing["details"] == "failed as asked");
  CHECK(failing["trailing"]["x-trailer"] == "failed");
  CHECK(grpc(gw.port(), "client")["reply"] == "51200");
  const json server = grpc(gw.port(), "server");
  CHECK(server["count"] == 20);
  CHECK(server["same"] == true);
  const json bidi = grpc(gw.port(), "bidi");
  REQUIRE(bidi["replies"].size() == 10);
  CHECK(bidi["replies"][9] == "m9");
  CHECK(grpc(gw.port(), "big")["size"] == 5 * 1024 * 1024);  // 3 MiB up, 5 MiB down, under flow control
  const json concurrent = grpc(gw.port(), "concurrent");
  CHECK(concurrent["ok"] == 40);
  const int admin = gw.admin_port();
  CHECK(metric(admin, "portcullis_grpc_requests_total{route=\"echo\",grpc_status=\"0\"}") >= 45);
  CHECK(metric(admin, "portcullis_grpc_requests_total{route=\"echo\",grpc_status=\"5\"}") == 1);
}

TEST_CASE("A gRPC client's grpc-timeout bounds the call at the gateway", "[http2][grpc][upstream]") {
  // The raw origin ignores grpc-timeout: only the gateway can end the call in time.
  ScriptOrigin origin("h2_origin.py", {});
  Gateway gw(config(h2_service("slow", origin.address()), route("slow", "/**", "slow")));
  const std::string frame = temp_dir() + "/grpc-frame.bin";
  run_command("printf '\\000\\000\\000\\000\\001\\001' > " + frame);
  const std::string head = curl("--http2-prior-knowledge -o /dev/null -D - -H 'content-type: application/grpc' "
                                "-H 'te: trailers' -H 'grpc-timeout: 200m' -H 'x-delay-ms: 5000' --data-binary @" +
                                frame + " http://127.0.0.1:" + std::to_string(gw.port()) + "/slow.Svc/Call");
  INFO(head);
  CHECK(head.find("grpc-status: 4") != std::string::npos);  // DEADLINE_EXCEEDED, from the gateway
  CHECK(head.find("grpc-message: route timeout exceeded") != std::string::npos);
  CHECK(metric(gw.admin_port(), "portcullis_grpc_requests_total{route=\"slow\",grpc_status=\"4\"}") == 1);
}

TEST_CASE("A gRPC canary is chosen by header as for HTTP", "[http2][grpc][upstream][canary]") {
  ScriptOrigin v1("grpc_origin.py", {"v1"}), v2("grpc_origin.py", {"v2"});
  Gateway gw(config(h2_service("v1", v1.address()) + h2_service("v2", v2.address()),
                    route("echo", "/echo.Echo/**", "v1") +
                        "    canary: { service: v2, percent: 0, force_header: x-canary }\n"));
  CHECK(grpc(gw.port(), "unary")["initial"]["x-origin"] == "v1");
  CHECK(grpc(gw.port(), "unary", "x-canary=canary")["initial"]["x-origin"] == "v2");
}

TEST_CASE("Request trailers from an HTTP/2 client reach HTTP/2 and HTTP/1.1 origins", "[http2][upstream]") {
  ScriptOrigin h2origin("h2_origin.py", {});
  ScriptedOrigin h1origin({{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
  Gateway gw(config(h2_service("two", h2origin.address()) + "  one:\n    instances: [\"" + h1origin.address() + "\"]\n",
                    "  - id: one\n    path: /**\n    service: one\n    headers: { x-to: one }\n" +
                        route("two", "/**", "two")));
  auto frames = [&](const std::string& extra) {
    return json_of(run_command("/usr/bin/python3 " SOURCE_DIR "/tests/integration/h2_frames.py " +
                               std::to_string(gw.port()) + " request_trailers" + extra));
  };
  CHECK(frames("")["status"]["1"] == 200);
  const json last = json_of(get_body(gw.port(), "/_last"));
  REQUIRE(last.contains("trailers"));
  CHECK(last["trailers"][0][0] == "x-checksum");
  CHECK(last["trailers"][0][1] == "abc123");
  CHECK(last["fields"][0][1] == "POST");
  // The HTTP/1.1 origin gets them in the last chunk of a chunked body.
  CHECK(frames(" x-to=one")["status"]["1"] == 200);
  REQUIRE(h1origin.wait_requests(1));
  const std::string seen = h1origin.received_all();
  INFO(seen);
  CHECK(seen.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(seen.find("3\r\nabc\r\n0\r\nx-checksum: abc123\r\n\r\n") != std::string::npos);
}

TEST_CASE("An origin connection gone silent is retired after a stream times out on it", "[http2][upstream]") {
  ScriptOrigin origin("h2_origin.py", {"--silent-after", "3"});
  Gateway gw(config(h2_service("app", origin.address(), "    read_timeout: 300ms\n"), route("app", "/**", "app")));
  for (int i = 0; i < 3; ++i) CHECK(request(gw.port(), "GET", "/ok")->status == 200);
  // The fourth reaches the connection after it went silent: it times out.
  CHECK(request(gw.port(), "GET", "/lost")->status == 504);
  // The connection takes no new stream: the next request opens another, which answers.
  auto r = request(gw.port(), "GET", "/again");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("x-connection") == "2");
}

TEST_CASE("An HTTP/1.1 origin's chunked trailers reach an HTTP/2 client", "[http2][upstream]") {
  ScriptedOrigin origin({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5\r\nhello\r\n0\r\nX-Checksum: abc123\r\nConnection: x\r\n\r\n"}});
  Gateway gw(config("  one:\n    instances: [\"" + origin.address() + "\"]\n", route("one", "/**", "one")));
  const std::string verbose = run_command("nghttp -v http://127.0.0.1:" + std::to_string(gw.port()) + "/t");
  INFO(verbose);
  CHECK(verbose.find("hello") != std::string::npos);
  // After the body, in the stream's last header block: the trailer, lower-cased, and no
  // connection-specific field.
  const std::size_t body = verbose.find("hello");
  CHECK(verbose.find("x-checksum: abc123", body) != std::string::npos);
  CHECK(verbose.find("connection: x", body) == std::string::npos);
}
