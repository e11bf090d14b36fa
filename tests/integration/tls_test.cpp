// TLS termination and origination against the real daemon: certificates made by the openssl tool,
// a blocking OpenSSL client written here (so every handshake detail can be checked), and the curl
// and openssl s_client tools where their behaviour is the point.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <csignal>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "discovery_support.h"
#include "harness.h"

using discovery_support::metric;

using namespace harness;

namespace {


// A CA and certificates signed by it, made once per test process with the openssl tool.
struct Pki {
  std::string dir;
  Pki() : dir(temp_dir() + "/pki") {
    run_command("mkdir -p " + dir);
    make_ca("ca", "Portcullis Test CA");
    make_ca("other-ca", "Another CA");
    make_leaf("a", "a.example.test", "DNS:a.example.test", "ca");
    make_leaf("b", "b.example.test", "DNS:b.example.test,DNS:*.b.example.test", "ca");
    make_leaf("c", "c.example.test", "DNS:a.example.test", "ca");  // replaces a's certificate on reload
    make_leaf("origin", "origin.internal", "DNS:origin.internal", "ca");
    make_leaf("client", "client-1", "DNS:client-1", "ca");
    make_leaf("stranger", "stranger", "DNS:stranger", "other-ca");
  }
  std::string path(const std::string& name) const { return dir + "/" + name; }

 private:
  void make_ca(const std::string& name, const std::string& cn) {
    run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=" +
                cn + "' -keyout " + path(name + ".key") + " -out " + path(name + ".pem"));
  }
  void make_leaf(const std::string& name, const std::string& cn, const std::string& sans, const std::string& ca) {
    write_file(path(name + ".ext"), "subjectAltName=" + sans + "\n");
    run_command("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/O=Portcullis Tests/CN=" +
                cn + "' -keyout " + path(name + ".key") + " -out " + path(name + ".csr"));
    run_command("openssl x509 -req -days 2 -in " + path(name + ".csr") + " -CA " + path(ca + ".pem") + " -CAkey " +
                path(ca + ".key") + " -CAcreateserial -extfile " + path(name + ".ext") + " -out " +
                path(name + ".pem"));
  }
};

const Pki& pki() {
  static Pki p;
  return p;
}

struct TlsOptions {
  std::string sni;
  std::string cert, key;  // client certificate
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  SSL_SESSION* session = nullptr;  // to resume
  bool verify = true;              // against the test CA
};

// One blocking TLS connection to the gateway.
class TlsClient {
 public:
  TlsClient(int port, const TlsOptions& o) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, o.min_version);
    SSL_CTX_set_max_proto_version(ctx_, o.max_version);
    if (o.verify) {
      SSL_CTX_load_verify_locations(ctx_, pki().path("ca.pem").c_str(), nullptr);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    }
    if (!o.cert.empty()) {
      SSL_CTX_use_certificate_file(ctx_, o.cert.c_str(), SSL_FILETYPE_PEM);
      SSL_CTX_use_PrivateKey_file(ctx_, o.key.c_str(), SSL_FILETYPE_PEM);
    }
    // This client speaks HTTP/1.1, so it offers only that (offered h2, the gateway picks h2:
    // http2_test.cpp).
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx_, alpn, sizeof(alpn));
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    if (!o.sni.empty()) {
      SSL_set_tlsext_host_name(ssl_, o.sni.c_str());
      if (o.verify) SSL_set1_host(ssl_, o.sni.c_str());
    }
    if (o.session) SSL_set_session(ssl_, o.session);
    handshake_ok_ = SSL_connect(ssl_) == 1;
    if (!handshake_ok_) error_ = ERR_error_string(ERR_get_error(), nullptr);
  }
  ~TlsClient() {
    // A session is resumable only after a proper close (OpenSSL forgets sessions of cut connections).
    if (ssl_ && handshake_ok_) SSL_shutdown(ssl_);
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool handshake_ok() const { return handshake_ok_; }
  // Reads until the connection ends: true when it ended with the peer's close_notify.
  bool ends_with_close_notify() {
    char buf[4096];
    while (true) {
      const int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n > 0) continue;
      return SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN;
    }
  }
  bool resumed() const { return ssl_ && SSL_session_reused(ssl_) == 1; }
  std::string protocol() const { return ssl_ ? SSL_get_version(ssl_) : ""; }
  std::string alpn() const {
    const unsigned char* p = nullptr;
    unsigned int n = 0;
    SSL_get0_alpn_selected(ssl_, &p, &n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  std::string peer_cn() const {
    X509* cert = SSL_get0_peer_certificate(ssl_);
    if (!cert) return {};
    char cn[256] = {0};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
    return cn;
  }
  SSL_SESSION* session() const { return SSL_get1_session(ssl_); }  // caller frees

  // Sends a GET and reads one Content-Length response; nullopt when the connection fails.
  std::optional<Response> get(const std::string& target, const std::string& host,
                              const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    if (!handshake_ok_) return std::nullopt;
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n";
    for (const auto& [n, v] : headers) req += n + ": " + v + "\r\n";
    req += "\r\n";
    if (SSL_write(ssl_, req.data(), static_cast<int>(req.size())) <= 0) return std::nullopt;
    while (buffer_.find("\r\n\r\n") == std::string::npos)
      if (!fill()) return std::nullopt;
    const std::size_t head_end = buffer_.find("\r\n\r\n") + 4;
    Response r;
    std::string head = buffer_.substr(0, head_end);
    r.status = std::stoi(head.substr(9, 3));
    std::size_t line = head.find("\r\n") + 2;
    while (line < head_end - 2) {
      const std::size_t eol = head.find("\r\n", line);
      const std::string field = head.substr(line, eol - line);
      const std::size_t colon = field.find(':');
      r.headers.emplace_back(field.substr(0, colon), field.substr(colon + 2));
      line = eol + 2;
    }
    const std::size_t length = std::stoul(r.header("Content-Length").empty() ? "0" : r.header("Content-Length"));
    while (buffer_.size() < head_end + length)
      if (!fill()) return std::nullopt;
    r.body = buffer_.substr(head_end, length);
    buffer_.erase(0, head_end + length);
    return r;
  }

 private:
  bool fill() {
    char buf[16384];
    const int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool handshake_ok_ = false;
  std::string error_;
  std::string buffer_;
};

std::string listener_tls(const std::string& body) {
  return "server:\n  listen:\n    - 127.0.0.1:0\n    - address: 127.0.0.1:0\n      tls:\n" + body;
}

std::string gateway_config(const std::string& tls_body, const std::string& backend) {
  return listener_tls(tls_body) + "  workers: 2\n" +
         "services:\n  app:\n    instances: [\"" + backend + "\"]\n" +
         "routes:\n  - id: app\n    path: /**\n    service: app\n" + "admin:\n  listen: 127.0.0.1:0\n";
}

std::string two_certificates() {
  const Pki& p = pki();
  return "        cert: " + p.path("a.pem") + "\n        key: " + p.path("a.key") + "\n" +
         "        certificates:\n          - { cert: " + p.path("b.pem") + ", key: " + p.path("b.key") + " }\n";
}

bool reload(Gateway& gw) {
  auto r = request(gw.admin_port(), "POST", "/admin/reload");
  return r && r->status == 200;
}

}  // namespace

TEST_CASE("TLS listener: SNI picks the certificate, TLS 1.2 and 1.3 only, ALPN http/1.1", "[tls]") {
  Backend backend("tls-origin");
  Gateway gw(gateway_config(two_certificates(), backend.address()));
  REQUIRE(gw.ports().size() == 2);
  const int tls_port = gw.ports()[1];

  SECTION("the name in SNI selects the certificate; an unknown or absent name gets the first") {
    TlsClient a(tls_port, {.sni = "a.example.test"});
    REQUIRE(a.handshake_ok());
    CHECK(a.peer_cn() == "a.example.test");
    TlsClient b(tls_port, {.sni = "api.b.example.test"});  // matches *.b.example.test
    REQUIRE(b.handshake_ok());
    CHECK(b.peer_cn() == "b.example.test");
    TlsClient unknown(tls_port, {.sni = "nothing.test", .verify = false});
    REQUIRE(unknown.handshake_ok());
    CHECK(unknown.peer_cn() == "a.example.test");
    TlsClient none(tls_port, {.verify = false});
    REQUIRE(none.handshake_ok());
    CHECK(none.peer_cn() == "a.example.test");
    // The admin API lists the certificates and their expiry, and nothing of the keys.
    auto admin = request(gw.admin_port(), "GET", "/admin/tls");
    REQUIRE(admin);
    CHECK(admin->status == 200);
    const auto tls = nlohmann::json::parse(admin->body);
    const auto& certificates = tls["listeners"][0]["certificates"];
    REQUIRE(certificates.size() == 2);
    CHECK(certificates[1]["names"] == nlohmann::json({"b.example.test", "*.b.example.test"}));
    CHECK(certificates[0]["days_left"] >= 1);  // made for 2 days
    CHECK(certificates[0]["days_left"] <= 2);
    CHECK(admin->body.find(".key") == std::string::npos);
    // The expiry is a Prometheus gauge too, for alerting.
    const double now = static_cast<double>(std::time(nullptr));
    CHECK(eventually([&] {
      const double at = metric(gw.admin_port(),
                               "portcullis_tls_certificate_not_after_timestamp_seconds{listener=\"127.0.0.1:0\",certificate=\"1\"}");
      return at > now + 86400 && at < now + 3 * 86400;  // made for 2 days
    }));
    CHECK(admin->body.find("PRIVATE") == std::string::npos);
  }

  SECTION("requests are proxied over TLS, with X-Forwarded-Proto https and ALPN http/1.1") {
    TlsClient c(tls_port, {.sni = "a.example.test"});
    REQUIRE(c.handshake_ok());
    CHECK(c.alpn() == "http/1.1");
    for (int i = 0; i < 3; ++i) {  // keep-alive over one TLS connection
      auto r = c.get("/headers", "a.example.test");
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(r->body.find("[\"X-Forwarded-Proto\",\"https\"]") != std::string::npos);
    }
    // The plain listener still says http.
    auto plain = request(gw.port(), "GET", "/headers");
    REQUIRE(plain);
    CHECK(plain->body.find("[\"X-Forwarded-Proto\",\"http\"]") != std::string::npos);
  }

  SECTION("both TLS 1.2 and 1.3 are served; 1.1 and 1.0 are refused") {
    TlsClient v12(tls_port, {.sni = "a.example.test", .min_version = TLS1_2_VERSION, .max_version = TLS1_2_VERSION});
    REQUIRE(v12.handshake_ok());
    CHECK(v12.protocol() == "TLSv1.2");
    TlsClient v13(tls_port, {.sni = "a.example.test", .min_version = TLS1_3_VERSION});
    REQUIRE(v13.handshake_ok());
    CHECK(v13.protocol() == "TLSv1.3");
    // The openssl tool can still offer TLS 1.1 (at its lowest security level); it is refused.
    const std::string out = run_command("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(tls_port) +
                                        " -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'");
    CHECK(out.find("alert protocol version") != std::string::npos);
    CHECK(eventually([&] { return metric(gw.admin_port(), "portcullis_tls_handshake_failures_total") >= 1; }));
  }

  SECTION("plain HTTP sent to the TLS port gets a plain 400 that says so") {
    Client c(tls_port);
    c.send("GET / HTTP/1.1\r\nHost: a.example.test\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(r->body.find("TLS port") != std::string::npos);
    CHECK(c.closed_by_peer());
  }

  SECTION("curl verifies the chain and the name, and gets an answer") {
    const std::string port = std::to_string(tls_port);
    const std::string out = run_command("curl -s -o /dev/null -w '%{http_code} %{ssl_verify_result}' --cacert " +
                                        pki().path("ca.pem") + " --resolve x.b.example.test:" + port +
                                        ":127.0.0.1 https://x.b.example.test:" + port + "/hello");
    CHECK(out == "200 0");
  }
}

TEST_CASE("TLS session resumption: tickets and session ids, across a reload", "[tls]") {
  Backend backend("tls-resume");
  Gateway gw(gateway_config(two_certificates(), backend.address()));
  const int tls_port = gw.ports()[1];
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SSL_SESSION* session = nullptr;
    {
      TlsClient first(tls_port, {.sni = "a.example.test", .min_version = version, .max_version = version});
      REQUIRE(first.handshake_ok());
      REQUIRE(first.get("/hello", "a.example.test"));  // TLS 1.3 tickets arrive after the handshake
      CHECK_FALSE(first.resumed());
      session = first.session();
    }
    REQUIRE(session);
    {
      TlsClient again(tls_port, {.sni = "a.example.test", .min_version = version, .max_version = version,
                                 .session = session});
      REQUIRE(again.handshake_ok());
      CHECK(again.resumed());
      // A resumed connection hands out a ticket of its own, which resumes too: a client that uses
      // each TLS 1.3 ticket once (RFC 8446, C.4) keeps resuming, not every other connection.
      REQUIRE(again.get("/hello", "a.example.test"));
      SSL_SESSION* next = again.session();
      REQUIRE(next);
      if (version == TLS1_3_VERSION) {
        const unsigned char* old_ticket = nullptr;
        const unsigned char* new_ticket = nullptr;
        std::size_t old_length = 0, new_length = 0;
        SSL_SESSION_get0_ticket(session, &old_ticket, &old_length);
        SSL_SESSION_get0_ticket(next, &new_ticket, &new_length);
        REQUIRE(new_length > 0);
        CHECK(std::string_view(reinterpret_cast<const char*>(new_ticket), new_length) !=
              std::string_view(reinterpret_cast<const char*>(old_ticket), old_length));
      }
      TlsClient third(tls_port, {.sni = "a.example.test", .min_version = version, .max_version = version,
                                 .session = next});
      SSL_SESSION_free(next);
      REQUIRE(third.handshake_ok());
      CHECK(third.resumed());
    }
    // Ticket keys are the process's, not the config's: a reload keeps tickets valid.
    REQUIRE(reload(gw));
    {
      TlsClient after(tls_port, {.sni = "a.example.test", .min_version = version, .max_version = version,
                                 .session = session});
      REQUIRE(after.handshake_ok());
      CHECK(after.resumed());
    }
    SSL_SESSION_free(session);
  }
  // A TLS 1.3 client is done before the gateway has read its Finished: the count follows shortly.
  CHECK(eventually([&] { return metric(gw.admin_port(), "portcullis_tls_handshakes_total{resumed=\"true\"}") >= 6; }));
}

TEST_CASE("TLS client certificates: required, optional, and a subject header clients cannot forge", "[tls]") {
  Backend backend("tls-mtls");
  const Pki& p = pki();
  const std::string base = "        cert: " + p.path("a.pem") + "\n        key: " + p.path("a.key") + "\n" +
                           "        client_ca: " + p.path("ca.pem") + "\n";

  SECTION("required: no certificate or one from another CA is refused; a good one is passed upstream") {
    Gateway gw(gateway_config(base + "        verify: required\n", backend.address()));
    const int tls_port = gw.ports()[1];
    {
      TlsClient none(tls_port, {.sni = "a.example.test"});
      // TLS 1.3 finishes the client's side first: the refusal shows on the first exchange.
      CHECK_FALSE((none.handshake_ok() && none.get("/headers", "a.example.test")));
    }
    {
      TlsClient stranger(tls_port, {.sni = "a.example.test", .cert = p.path("stranger.pem"), .key = p.path("stranger.key")});
      CHECK_FALSE((stranger.handshake_ok() && stranger.get("/headers", "a.example.test")));
    }
    TlsClient good(tls_port, {.sni = "a.example.test", .cert = p.path("client.pem"), .key = p.path("client.key")});
    REQUIRE(good.handshake_ok());
    auto r = good.get("/headers", "a.example.test", {{"X-Client-Cert-Subject", "CN=admin"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.find("[\"X-Client-Cert-Subject\",\"CN=client-1,O=Portcullis Tests\"]") != std::string::npos);
    CHECK(r->body.find("CN=admin") == std::string::npos);
    // The plain listener strips a forged subject too.
    auto plain = request(gw.port(), "GET", "/headers",
                         {{"X-Client-Cert-Subject", "CN=admin"}, {"X_Client_Cert_Subject", "CN=admin"}});
    REQUIRE(plain);
    CHECK(plain->body.find("CN=admin") == std::string::npos);
  }

  SECTION("optional: without a certificate the request passes with no subject") {
    Gateway gw(gateway_config(base + "        verify: optional\n", backend.address()));
    const int tls_port = gw.ports()[1];
    TlsClient none(tls_port, {.sni = "a.example.test"});
    REQUIRE(none.handshake_ok());
    auto r = none.get("/headers", "a.example.test", {{"X-Client-Cert-Subject", "CN=admin"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.find("X-Client-Cert-Subject") == std::string::npos);
    TlsClient good(tls_port, {.sni = "a.example.test", .cert = p.path("client.pem"), .key = p.path("client.key")});
    auto g = good.get("/headers", "a.example.test");
    REQUIRE(g);
    CHECK(g->body.find("CN=client-1") != std::string::npos);
  }
}

TEST_CASE("TLS certificates reload without dropping connections; a bad file keeps the running config", "[tls]") {
  Backend backend("tls-reload");
  const Pki& p = pki();
  auto config_with = [&](const std::string& cert, const std::string& key) {
    return gateway_config("        cert: " + cert + "\n        key: " + key + "\n", backend.address());
  };
  Gateway gw(config_with(p.path("a.pem"), p.path("a.key")));
  const int tls_port = gw.ports()[1];

  TlsClient before(tls_port, {.sni = "a.example.test"});
  REQUIRE(before.handshake_ok());
  REQUIRE(before.get("/hello", "a.example.test"));
  CHECK(before.peer_cn() == "a.example.test");

  // Load on new connections while the certificate is replaced several times.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::thread load([&] {
    while (!stop) {
      TlsClient c(tls_port, {.sni = "a.example.test"});
      auto r = c.get("/hello", "a.example.test");
      (r && r->status == 200 ? ok : failed)++;
    }
  });
  for (int i = 0; i < 4; ++i) {
    gw.rewrite_config(i % 2 == 0 ? config_with(p.path("c.pem"), p.path("c.key")) : config_with(p.path("a.pem"), p.path("a.key")));
    REQUIRE(reload(gw));
    const int seen = ok.load();
    REQUIRE(eventually([&] { return ok.load() > seen + 5; }));
  }
  // A certificate that is not one: the reload fails with the place in the file, nothing changes.
  write_file(p.path("broken.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
  gw.rewrite_config(config_with(p.path("broken.pem"), p.path("a.key")));
  auto bad = request(gw.admin_port(), "POST", "/admin/reload");
  REQUIRE(bad);
  CHECK(bad->status != 200);
  CHECK(bad->body.find("tls.cert") != std::string::npos);
  CHECK(bad->body.find(":6:15:") != std::string::npos);  // where "cert:" has its value in the file
  const int seen = ok.load();
  REQUIRE(eventually([&] { return ok.load() > seen + 5; }));
  stop = true;
  load.join();
  CHECK(failed.load() == 0);
  CHECK(ok.load() > 20);

  // The connection opened before every reload still works, with its original certificate.
  auto r = before.get("/hello", "a.example.test");
  REQUIRE(r);
  CHECK(r->status == 200);
  // New connections have the last good certificate (a's after an even number of swaps).
  TlsClient now(tls_port, {.sni = "a.example.test"});
  REQUIRE(now.handshake_ok());
  CHECK(now.peer_cn() == "a.example.test");

  SECTION("validate reports every bad TLS file with its line") {
    const std::string path = temp_dir() + "/bad-tls.yaml";
    write_file(path, listener_tls("        cert: /nonexistent/cert.pem\n        key: " + p.path("b.key") + "\n"
                                  "        client_ca: " + p.path("broken.pem") + "\n"));
    const std::string out = run_command(std::string(PORTCULLIS_BINARY) + " validate -c " + path);
    CHECK(out.find(":6:15: server.listen[1].tls.cert: cannot read /nonexistent/cert.pem") != std::string::npos);
    CHECK(out.find("server.listen[1].tls.client_ca: not a PEM CA bundle") != std::string::npos);
    CHECK(out.find("BEGIN") == std::string::npos);  // no file contents in errors
  }
}

TEST_CASE("Upstream TLS: verified origin, SNI, client certificate to the origin", "[tls]") {
  Backend backend("tls-behind");
  const Pki& p = pki();
  // The origin is a second gateway terminating TLS (certificate origin.internal) and requiring a
  // client certificate, in front of the example backend.
  Gateway origin(listener_tls("        cert: " + p.path("origin.pem") + "\n        key: " + p.path("origin.key") +
                              "\n        client_ca: " + p.path("ca.pem") + "\n") +
                 "services:\n  app:\n    instances: [\"" + backend.address() + "\"]\n" +
                 "routes:\n  - id: app\n    path: /**\n    service: app\n" + "admin:\n  listen: 127.0.0.1:0\n");
  const std::string origin_address = "127.0.0.1:" + std::to_string(origin.ports()[1]);
  auto edge_config = [&](const std::string& tls) {
    return config("  origin:\n    instances: [\"" + origin_address + "\"]\n    tls:\n" + tls,
                  "  - id: o\n    path: /**\n    service: origin\n");
  };

  SECTION("a verified connection with SNI and a client certificate") {
    Gateway edge(edge_config("      ca: " + p.path("ca.pem") + "\n      sni: origin.internal\n      cert: " +
                             p.path("client.pem") + "\n      key: " + p.path("client.key") + "\n"));
    for (int i = 0; i < 3; ++i) {  // pooled: the later requests reuse the TLS connection
      auto r = request(edge.port(), "GET", "/headers");
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(r->body.find("CN=client-1") != std::string::npos);
    }
    CHECK(metric(origin.admin_port(), "portcullis_tls_handshakes_total{resumed=\"false\"}") == 1);
  }

  SECTION("active health checks go over TLS with the service's settings") {
    Gateway edge(edge_config("      ca: " + p.path("ca.pem") + "\n      sni: origin.internal\n      cert: " +
                             p.path("client.pem") + "\n      key: " + p.path("client.key") + "\n" +
                             "    health_check: { path: /hello, interval: 100ms }\n"));
    CHECK(eventually([&] {
      auto s = request(edge.admin_port(), "GET", "/admin/services");
      return s && nlohmann::json::parse(s->body)["origin"]["instances"][0]["last_check"] == "ok";
    }));
  }

  SECTION("a name that does not match the certificate is a 502") {
    Gateway edge(edge_config("      ca: " + p.path("ca.pem") + "\n      sni: wrong.internal\n      cert: " +
                             p.path("client.pem") + "\n      key: " + p.path("client.key") + "\n"));
    auto r = request(edge.port(), "GET", "/headers");
    REQUIRE(r);
    CHECK(r->status == 502);
  }

  SECTION("without the client certificate the origin refuses: 502") {
    Gateway edge(edge_config("      ca: " + p.path("ca.pem") + "\n      sni: origin.internal\n"));
    auto r = request(edge.port(), "GET", "/headers");
    REQUIRE(r);
    CHECK(r->status == 502);
  }
}

TEST_CASE("An idle TLS keep-alive connection is parked and serves its next request", "[tls]") {
  Backend backend("tls-park");
  const Pki& p = pki();
  Gateway gw(gateway_config("        cert: " + p.path("a.pem") + "\n        key: " + p.path("a.key") + "\n",
                            backend.address()));
  const int tls_port = gw.ports()[1];
  TlsClient c(tls_port, {.sni = "a.example.test"});
  REQUIRE(c.handshake_ok());
  auto first = c.get("/one", "a.example.test");
  REQUIRE(first);
  CHECK(first->status == 200);
  // Idle across two upkeep periods: the connection gives back its buffers and waits for readiness.
  REQUIRE(eventually([&] {
    auto m = request(gw.admin_port(), "GET", "/metrics");
    return m && m->body.find("portcullis_idle_connections_parked_total 1") != std::string::npos;
  }));
  // The next request over the same TLS session wakes it.
  auto second = c.get("/two", "a.example.test");
  REQUIRE(second);
  CHECK(second->status == 200);
  CHECK(second->header("X-Seen-Path") == "/two");
  auto third = c.get("/three", "a.example.test");
  REQUIRE(third);
  CHECK(third->header("X-Seen-Path") == "/three");
}

TEST_CASE("An idle TLS connection ended by drain gets close_notify", "[tls]") {
  Backend backend("tls-drain");
  const Pki& p = pki();
  Gateway gw(gateway_config("        cert: " + p.path("a.pem") + "\n        key: " + p.path("a.key") + "\n",
                            backend.address()));
  TlsClient c(gw.ports()[1], {.sni = "a.example.test"});
  REQUIRE(c.handshake_ok());
  REQUIRE(c.get("/one", "a.example.test"));
  gw.process().signal(SIGTERM);  // drain: idle keep-alive connections are closed
  CHECK(c.ends_with_close_notify());
}
