// HTTP/2 from clients against the real daemon: curl and h2load (nghttp2-client) for what real
// clients do, raw frames (tests/integration/h2_frames.py, on Debian's python3-hyperframe and
// python3-hpack) for every attack and malformed message, and the origins' own records to prove
// what never reached them.
#include <csignal>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discovery_support.h"
#include "harness.h"

using discovery_support::metric;
using json = nlohmann::json;
using namespace harness;

namespace {

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

std::string hello_config(const std::string& address, const std::string& server_extra = "",
                         const std::string& tail = "") {
  return config("  hello:\n    instances: [\"" + address + "\"]\n",
                "  - id: hello\n    path: /**\n    service: hello\n", server_extra) +
         tail;
}

std::string curl(const std::string& args) { return run_command("curl -s --max-time 20 " + args); }

// One raw-frame scenario's result (see h2_frames.py).
json frames(int port, const std::string& scenario) {
  const std::string out = run_command("/usr/bin/python3 " SOURCE_DIR "/tests/integration/h2_frames.py " +
                                      std::to_string(port) + " " + scenario);
  INFO(scenario << ": " << out);
  REQUIRE(out.find('{') != std::string::npos);
  return json::parse(out.substr(out.find('{')));
}

constexpr int kProtocolError = 1;
constexpr int kEnhanceYourCalm = 11;

struct Cert {
  std::string dir = temp_dir() + "/h2-cert";
  Cert() {
    run_command("mkdir -p " + dir + " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout " +
                dir + "/key.pem -out " + dir + "/cert.pem");
  }
  std::string listener() const {
    return "    - address: \"127.0.0.1:0\"\n      tls: { cert: \"" + dir + "/cert.pem\", key: \"" + dir + "/key.pem\" }\n";
  }
};

std::string two_listeners(const Backend& b, const Cert& cert, const std::string& server_extra = "") {
  return "server:\n  listen:\n    - \"127.0.0.1:0\"\n" + cert.listener() + "  workers: 1\n" + server_extra +
         "admin:\n  listen: \"127.0.0.1:0\"\n"
         "services:\n  hello:\n    instances: [\"" + b.address() + "\"]\n"
         "routes:\n  - id: hello\n    path: /**\n    service: hello\n";
}

}  // namespace

TEST_CASE("HTTP/2 with prior knowledge and HTTP/1.1 are served on the same plain port", "[http2]") {
  Backend b("b");
  Gateway gw(hello_config(b.address()));
  const std::string base = "http://127.0.0.1:" + std::to_string(gw.port());
  CHECK(curl("--http2-prior-knowledge -o /dev/null -w '%{http_code} %{http_version}' " + base + "/hello") == "200 2");
  CHECK(curl("-o /dev/null -w '%{http_code} %{http_version}' " + base + "/hello") == "200 1.1");
  // The HTTP/1.1 request the origin gets: Host is the instance, the authority goes on as
  // X-Forwarded-Host, cookie crumbs are one field again, Via says the client spoke HTTP/2.
  const json seen = json::parse(curl("--http2-prior-knowledge -H 'Cookie: a=1' -H 'Cookie: b=2' " + base + "/headers"));
  std::map<std::string, std::string> h;
  for (const auto& pair : seen["headers"]) h[pair[0].get<std::string>()] = pair[1].get<std::string>();
  CHECK(seen["version"] == "1.1");
  CHECK(h["Host"] == b.address());
  CHECK(h["X-Forwarded-Host"] == "127.0.0.1:" + std::to_string(gw.port()));
  CHECK(h["cookie"] == "a=1; b=2");
  CHECK(h["Via"] == "2 portcullis");
  CHECK(metric(gw.admin_port(), "portcullis_http2_connections_total") == 2);
}

TEST_CASE("TLS listeners offer h2 by ALPN before http/1.1; server.http2.enabled: false turns HTTP/2 off", "[http2]") {
  Backend b("b");
  Cert cert;
  {
    Gateway gw(two_listeners(b, cert));
    const std::string tls = "https://127.0.0.1:" + std::to_string(gw.ports()[1]);
    CHECK(curl("-k -o /dev/null -w '%{http_code} %{http_version}' " + tls + "/hello") == "200 2");
    CHECK(curl("-k --http1.1 -o /dev/null -w '%{http_code} %{http_version}' " + tls + "/hello") == "200 1.1");
  }
  Gateway off(two_listeners(b, cert, "  http2:\n    enabled: false\n"));
  const std::string tls = "https://127.0.0.1:" + std::to_string(off.ports()[1]);
  const std::string plain = "http://127.0.0.1:" + std::to_string(off.ports()[0]);
  CHECK(curl("-k -o /dev/null -w '%{http_code} %{http_version}' " + tls + "/hello") == "200 1.1");
  // Without HTTP/2 the preface is just a malformed HTTP/1.1 request.
  CHECK(curl("--http2-prior-knowledge -o /dev/null -w '%{http_code}' " + plain + "/hello") != "200");
  CHECK(metric(off.admin_port(), "portcullis_http2_connections_total") == 0);
}

TEST_CASE("Streams are multiplexed on one connection, each one exchange", "[http2]") {
  Backend b("b");
  Gateway gw(hello_config(b.address()));
  const std::string out = run_command("h2load -n 2000 -c 2 -m 20 http://127.0.0.1:" + std::to_string(gw.port()) + "/hello");
  INFO(out);
  CHECK(out.find("2000 succeeded, 0 failed") != std::string::npos);
  CHECK(out.find("status codes: 2000 2xx") != std::string::npos);
  CHECK(metric(gw.admin_port(), "portcullis_http2_connections_total") == 2);
  CHECK(metric(gw.admin_port(), "portcullis_http2_streams_total") == 2000);
  CHECK(metric(gw.admin_port(), "portcullis_requests_total{route=\"hello\",service=\"hello\",code_class=\"2xx\"}") == 2000);
}

TEST_CASE("Request and response bodies over HTTP/2: known length, streamed, large", "[http2]") {
  Backend b("b");
  Gateway gw(hello_config(b.address()));
  const std::string base = "http://127.0.0.1:" + std::to_string(gw.port());
  const std::string dir = temp_dir();
  run_command("head -c 300000 /dev/urandom > " + dir + "/h2-body.bin");
  // Content-Length known: the whole body arrives before the exchange starts and goes in one write.
  CHECK(curl("--http2-prior-knowledge --data-binary @" + dir + "/h2-body.bin -o " + dir + "/h2-a.bin -w '%{http_code}' " +
             base + "/echo") == "200");
  CHECK(run_command("cmp " + dir + "/h2-body.bin " + dir + "/h2-a.bin && echo same") == "same\n");
  // No length: DATA frames as they come, chunked to the HTTP/1.1 origin, under flow control.
  CHECK(curl("--http2-prior-knowledge -T - -o " + dir + "/h2-b.bin -w '%{http_code}' " + base + "/echo < " + dir +
             "/h2-body.bin") == "200");
  CHECK(run_command("cmp " + dir + "/h2-body.bin " + dir + "/h2-b.bin && echo same") == "same\n");
  CHECK(curl("--http2-prior-knowledge -o /dev/null -w '%{http_code} %{size_download}' '" + base +
             "/bytes?n=20000000&chunked=1'") == "200 20000000");
  // HEAD: the head alone, with the length the body would have.
  const std::string head = curl("--http2-prior-knowledge -I " + base + "/hello");
  CHECK(head.find("HTTP/2 200") != std::string::npos);
  CHECK(head.find("content-length: 13") != std::string::npos);  // "hello from b" and a newline
}

TEST_CASE("The access log says which protocol carried the request", "[http2]") {
  Backend b("b");
  const std::string log = temp_dir() + "/h2-access.log";
  Gateway gw(hello_config(b.address(), "", "filters:\n  - { name: access_log, args: { path: \"" + log + "\" } }\n"));
  const std::string base = "http://127.0.0.1:" + std::to_string(gw.port());
  curl("--http2-prior-knowledge -o /dev/null " + base + "/over-h2");
  curl("-o /dev/null " + base + "/over-h1");
  REQUIRE(eventually([&] {
    const std::string text = read_file(log);
    return text.find("/over-h2") != std::string::npos && text.find("/over-h1") != std::string::npos;
  }));
  const std::string text = read_file(log);
  for (const auto& [path, protocol] : {std::pair{"/over-h2", "HTTP/2.0"}, std::pair{"/over-h1", "HTTP/1.1"}}) {
    const std::size_t at = text.find(path);
    const std::size_t start = text.rfind('\n', at) == std::string::npos ? 0 : text.rfind('\n', at) + 1;
    const json line = json::parse(text.substr(start, text.find('\n', at) - start));
    CHECK(line["protocol"] == protocol);
  }
}

TEST_CASE("Rapid reset: streams reset at once never reach the origin, and the client is told to calm down", "[http2]") {
  ScriptedOrigin origin({{kOk}});
  Gateway gw(hello_config(origin.address()));
  const json r = frames(gw.port(), "rapid_reset");
  CHECK(r["goaway"] == kEnhanceYourCalm);
  CHECK(r["closed"] == true);
  // 1000 streams opened and reset: at most one per read boundary can start before its reset.
  CHECK(origin.requests() <= 20);
  CHECK(metric(gw.admin_port(), "portcullis_http2_flood_closes_total{budget=\"stream_resets\"}") == 1);
  CHECK(curl("--http2-prior-knowledge -o /dev/null -w '%{http_code}' http://127.0.0.1:" + std::to_string(gw.port()) +
             "/after") == "200");
}

TEST_CASE("Streams the client makes the gateway reset count against the same budget", "[http2]") {
  ScriptedOrigin origin({{kOk}});
  Gateway gw(hello_config(origin.address()));
  const json r = frames(gw.port(), "made_you_reset");
  CHECK(r["goaway"] == kEnhanceYourCalm);
  CHECK(r["closed"] == true);
  CHECK(r["rst"].size() >= 100);  // the gateway's resets, until the budget ran out
  CHECK(metric(gw.admin_port(), "portcullis_http2_flood_closes_total{budget=\"stream_resets\"}") == 1);
  CHECK(origin.requests() == 0);  // no body was ever complete
}

TEST_CASE("Floods of frames that carry nothing end the connection with ENHANCE_YOUR_CALM", "[http2]") {
  ScriptedOrigin origin({{kOk}});
  Gateway gw(hello_config(origin.address()));
  for (const char* scenario : {"ping_flood", "settings_flood", "priority_flood", "empty_data_flood"}) {
    const json r = frames(gw.port(), scenario);
    INFO(scenario);
    CHECK(r["goaway"] == kEnhanceYourCalm);
    CHECK(r["closed"] == true);
  }
  CHECK(metric(gw.admin_port(), "portcullis_http2_flood_closes_total{budget=\"control_frames\"}") == 4);
  // The POST of the empty-DATA flood was still waiting for its body: it never got an answer it
  // could use, and the gateway stays healthy.
  CHECK(curl("--http2-prior-knowledge -o /dev/null -w '%{http_code}' http://127.0.0.1:" + std::to_string(gw.port()) +
             "/after") == "200");
}

TEST_CASE("A header block that never ends is cut, and an HPACK bomb gets 431, without reaching the origin", "[http2]") {
  ScriptedOrigin origin({{kOk}});
  Gateway gw(hello_config(origin.address()));
  const json flood = frames(gw.port(), "continuation_flood");
  CHECK(flood["goaway"] == kEnhanceYourCalm);
  CHECK(flood["closed"] == true);
  CHECK(origin.requests() == 0);
  CHECK(metric(gw.admin_port(), "portcullis_http2_flood_closes_total{budget=\"header_block\"}") == 1);
  // 40 references to one 3000-byte table entry: about 40 bytes on the wire, 120 KB decoded.
  const json bomb = frames(gw.port(), "hpack_bomb");
  CHECK(bomb["status"]["1"] == 200);
  CHECK(bomb["status"]["3"] == 431);
  CHECK(bomb["goaway"].is_null());
  CHECK(origin.requests() == 1);
}

TEST_CASE("A client that never opens its window loses the stream after the idle timeout", "[http2]") {
  Backend b("b");
  Gateway gw(hello_config(b.address(), "  timeouts:\n    idle: 1s\n"));
  const json r = frames(gw.port(), "zero_window");
  CHECK(r["status"]["1"] == 200);
  CHECK(r["body"].value("1", 0) == 0);
  CHECK(r["rst"].contains("1"));
}

TEST_CASE("Malformed HTTP/2 requests are stream errors and nothing of them reaches the origin", "[http2]") {
  ScriptedOrigin origin({{kOk}});
  Gateway gw(hello_config(origin.address()));
  int good = 0;
  for (const char* scenario :
       {"connection", "keep_alive", "proxy_connection", "transfer_encoding", "upgrade", "te_gzip", "upper_case",
        "cr_in_value", "lf_in_value", "nul_in_value", "missing_path", "missing_method", "duplicate_path",
        "pseudo_after_regular", "content_length_mismatch"}) {
    INFO(scenario);
    const json r = frames(gw.port(), scenario);
    CHECK(r["rst"]["1"] == kProtocolError);
    CHECK(!r["status"].contains("1"));
    CHECK(r["status"]["3"] == 200);  // the connection goes on: a stream error, not a connection one
    CHECK(r["goaway"].is_null());
    ++good;
    // Only the good request of each scenario reached the origin. A body with the wrong length
    // may have started upstream before its END_STREAM showed the mismatch; it never completes.
    if (std::string(scenario) != "content_length_mismatch") CHECK(origin.requests() == good);
  }
  // Well-formed HTTP/2 the gateway refuses itself: a Host that contradicts :authority (RFC 9113
  // 8.3.1), and CONNECT, which it does not tunnel.
  for (const auto& [scenario, status] : {std::pair{"host_mismatch", 400}, std::pair{"connect", 501}}) {
    INFO(scenario);
    const json r = frames(gw.port(), scenario);
    CHECK(r["status"]["1"] == status);
    CHECK(r["status"]["3"] == 200);
    ++good;
    CHECK(origin.requests() == good);
  }
  const std::string seen = origin.received_all();
  CHECK(seen.find("x-injected") == std::string::npos);
  CHECK(seen.find("X-Upper") == std::string::npos);
  CHECK(seen.find("other.test") == std::string::npos);
}

// A gRPC call's outcome through the gateway (see grpc_call.py).
json grpc_call(int port, const std::string& method, const std::string& metadata = "") {
  const std::string out = run_command("/usr/bin/python3 " SOURCE_DIR "/tests/integration/grpc_call.py " +
                                      std::to_string(port) + " " + method + " " + metadata);
  INFO(method << ": " << out);
  REQUIRE(out.find('{') != std::string::npos);
  return json::parse(out.substr(out.find('{')));
}

TEST_CASE("The gateway's own answers to gRPC calls are gRPC statuses a gRPC client reads", "[http2][grpc]") {
  SilentListener gone;
  gone.close();  // connections to it are refused
  Backend b("b");
  const std::string key_digest = run_command("printf grpc-key | sha256sum").substr(0, 64);
  Gateway gw(config("  down:\n    instances: [\"" + gone.address() + "\"]\n"
                    "  app:\n    instances: [\"" + b.address() + "\"]\n",
                    "  - id: down\n    path: /down.Svc/**\n    service: down\n"
                    "  - id: keyed\n    path: /keyed.Svc/**\n    service: app\n    filters:\n"
                    "      - { name: api_key, args: { keys: [{ name: mobile, key_sha256: " + key_digest + " }] } }\n"
                    "  - id: office\n    path: /office.Svc/**\n    service: app\n    filters:\n"
                    "      - { name: ip_filter, args: { allow: [10.20.0.0/16] } }\n"
                    "  - id: limited\n    path: /limited.Svc/**\n    service: app\n    filters:\n"
                    "      - { name: rate_limit, args: { key: ip, rate: 1/m, burst: 1 } }\n"));
  constexpr int kUnimplemented = 12, kUnavailable = 14, kUnauthenticated = 16, kPermissionDenied = 7,
                kResourceExhausted = 8;
  const json none = grpc_call(gw.port(), "/nowhere.Svc/Call");
  CHECK(none["code"] == kUnimplemented);
  CHECK(none["details"] == "no route matches the request");
  CHECK(grpc_call(gw.port(), "/down.Svc/Call")["code"] == kUnavailable);
  CHECK(grpc_call(gw.port(), "/keyed.Svc/Call")["code"] == kUnauthenticated);
  CHECK(grpc_call(gw.port(), "/office.Svc/Call")["code"] == kPermissionDenied);
  // The first call gets through the limit to the HTTP/1.1 example backend, which is no gRPC
  // server: whatever it makes of the call, the second is refused by the gateway itself.
  grpc_call(gw.port(), "/limited.Svc/Call");
  CHECK(grpc_call(gw.port(), "/limited.Svc/Call")["code"] == kResourceExhausted);
  // A plain HTTP client still gets the JSON error.
  CHECK(request(gw.port(), "GET", "/nowhere")->status == 404);
}

TEST_CASE("Random frame sequences on many connections leave the gateway up and serving", "[http2]") {
  Backend b("b");
  Gateway gw(hello_config(b.address()));
  const json r = frames(gw.port(), "random_frames");
  CHECK(r["status"]["1"] == 200);  // a well-behaved connection after 400 random ones
  CHECK(gw.process().running());
  CHECK(curl("--http2-prior-knowledge -o /dev/null -w '%{http_code}' http://127.0.0.1:" + std::to_string(gw.port()) +
             "/hello") == "200");
}

TEST_CASE("Drain sends GOAWAY and the streams in flight finish", "[http2]") {
  Backend b("b");
  Gateway gw(hello_config(b.address()));
  const std::string url = "http://127.0.0.1:" + std::to_string(gw.port()) + "/sleep?ms=800";
  std::string result;
  std::thread client([&] { result = curl("--http2-prior-knowledge -o /dev/null -w '%{http_code} %{http_version}' " + url); });
  REQUIRE(eventually([&] {
    return metric(gw.admin_port(), "portcullis_upstream_pool_active_connections{service=\"hello\",instance=\"" +
                                       b.address() + "\"}") == 1;
  }));
  gw.process().signal(SIGTERM);
  client.join();
  CHECK(result == "200 2");
  CHECK(gw.process().wait_exit() == 0);
}
