// The authentication and address filters through the real daemon: what reaches the origin, what
// the client gets, and that no secret shows in the access log or the admin API.
#include <crypt.h>

#include <ctime>

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "discovery_support.h"
#include "harness.h"

using namespace harness;

namespace {

std::string hex(const unsigned char* p, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

std::string sha256_hex(const std::string& text) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d);
  return hex(d, sizeof(d));
}

std::string base64(const unsigned char* p, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

std::string http_date(std::time_t t) {
  char buf[64];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// Headers for an hmac_auth request, signed with `secret`.
std::vector<std::pair<std::string, std::string>> signed_headers(const std::string& method, const std::string& target,
                                                                const std::string& body, const std::string& key_id,
                                                                const std::string& secret, std::time_t when) {
  const std::string date = http_date(when);
  const std::string digest = sha256_hex(body);
  const std::string signing = method + "\n" + target + "\ndate: " + date + "\nx-content-sha256: " + digest;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(signing.data()),
       signing.size(), mac, &mac_len);
  return {{"Date", date},
          {"X-Content-SHA256", digest},
          {"Authorization", "HMAC-SHA256 keyId=\"" + key_id + "\",headers=\"date x-content-sha256\",signature=\"" +
                                base64(mac, mac_len) + "\""}};
}

}  // namespace

TEST_CASE("Edge authentication filters end to end", "[auth]") {
  Backend backend("auth");
  const std::string api_key = "k-7f3c9a1e5b2d4c6f8a0b";
  const std::string hmac_secret = "hmac-secret-0123456789abcdef";
  const std::string password = "correct horse battery";
  const std::string dir = temp_dir();
  // SHA-512-crypt through libxcrypt, as `mkpasswd -m sha-512` writes it.
  crypt_data data{};
  const std::string hash = crypt_r(password.c_str(), "$6$saltsaltsalt$", &data);
  write_file(dir + "/htpasswd", "# users\nalice:" + hash + "\n");
  const std::string log_path = dir + "/auth-access.log";
  Gateway gw(config(
      "  app:\n    instances: [\"" + backend.address() + "\"]\n",
      "  - id: keyed\n    path: /keyed/**\n    service: app\n    filters:\n"
      "      - { name: api_key, args: { keys: [{ name: mobile, key_sha256: " + sha256_hex(api_key) + " }] } }\n"
      "      - { name: rate_limit, args: { key: api_key, rate: 3/m, burst: 1 } }\n"
      "  - id: basic\n    path: /basic/**\n    service: app\n    filters:\n"
      "      - { name: basic_auth, args: { htpasswd: " + dir + "/htpasswd, realm: ops } }\n"
      "  - id: signed\n    path: /signed/**\n    service: app\n    filters:\n"
      "      - { name: hmac_auth, args: { credentials: [{ key_id: client-1, secret: " + hmac_secret + " }] } }\n"
      "  - id: office\n    path: /office/**\n    service: app\n    filters:\n"
      "      - { name: ip_filter, args: { allow: [10.20.0.0/16], trusted_proxies: [127.0.0.0/8] } }\n",
      "filters:\n  - { name: access_log, args: { path: " + log_path + " } }\n"));

  SECTION("api_key: 401 without, 403 unknown; the consumer goes upstream and keys rate_limit") {
    auto missing = request(gw.port(), "GET", "/keyed/headers");
    REQUIRE(missing);
    CHECK(missing->status == 401);
    CHECK(missing->header("WWW-Authenticate").find("ApiKey") == 0);
    auto unknown = request(gw.port(), "GET", "/keyed/headers", {{"X-API-Key", "nope"}});
    REQUIRE(unknown);
    CHECK(unknown->status == 403);
    auto ok = request(gw.port(), "GET", "/keyed/headers", {{"X-API-Key", api_key}, {"X-Consumer", "forged"}});
    REQUIRE(ok);
    CHECK(ok->status == 200);
    CHECK(ok->body.find("[\"X-Consumer\",\"mobile\"]") != std::string::npos);
    CHECK(ok->body.find("forged") == std::string::npos);
    CHECK(ok->body.find(api_key) == std::string::npos);  // the key is not passed on
    // The rate limit counts per consumer: 3 a minute, burst 1; the first went through above.
    int limited = 0;
    for (int i = 0; i < 4; ++i) {
      auto r = request(gw.port(), "GET", "/keyed/x", {{"X-API-Key", api_key}});
      REQUIRE(r);
      if (r->status == 429) ++limited;
    }
    CHECK(limited >= 1);
  }

  SECTION("basic_auth: challenge, wrong password, right password") {
    auto none = request(gw.port(), "GET", "/basic/headers");
    REQUIRE(none);
    CHECK(none->status == 401);
    CHECK(none->header("WWW-Authenticate").find("Basic realm=\"ops\"") == 0);
    const std::string wrong = "alice:nope";
    auto bad = request(gw.port(), "GET", "/basic/headers",
                       {{"Authorization", "Basic " + base64(reinterpret_cast<const unsigned char*>(wrong.data()), wrong.size())}});
    REQUIRE(bad);
    CHECK(bad->status == 401);
    const std::string right = "alice:" + password;
    auto good = request(gw.port(), "GET", "/basic/headers",
                        {{"Authorization", "Basic " + base64(reinterpret_cast<const unsigned char*>(right.data()), right.size())}});
    REQUIRE(good);
    CHECK(good->status == 200);
    CHECK(good->body.find("[\"X-Consumer\",\"alice\"]") != std::string::npos);
    CHECK(good->body.find("Authorization") == std::string::npos);
  }

  SECTION("hmac_auth: a signed POST with its body goes through; a changed body or an old date does not") {
    const std::string body = "{\"item\":42}";
    const std::time_t now = std::time(nullptr);
    auto headers = signed_headers("POST", "/signed/echo", body, "client-1", hmac_secret, now);
    auto ok = request(gw.port(), "POST", "/signed/echo", headers, body);
    REQUIRE(ok);
    CHECK(ok->status == 200);
    CHECK(ok->body == body);  // the body the filter read is the body the origin got
    auto tampered = request(gw.port(), "POST", "/signed/echo", headers, "{\"item\":43}");
    REQUIRE(tampered);
    CHECK(tampered->status == 401);
    auto stale = request(gw.port(), "POST", "/signed/echo",
                         signed_headers("POST", "/signed/echo", body, "client-1", hmac_secret, now - 3600), body);
    REQUIRE(stale);
    CHECK(stale->status == 401);
    auto other_key = request(gw.port(), "POST", "/signed/echo",
                             signed_headers("POST", "/signed/echo", body, "client-1", "another-secret-0123456789", now), body);
    REQUIRE(other_key);
    CHECK(other_key->status == 401);
    // Chunked: the body is read whole (decoded) before the filter, then sent on.
    Client c(gw.port());
    c.send("POST /signed/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n");
    for (const auto& [n, v] : headers) c.send(n + ": " + v + "\r\n");
    c.send("\r\n6\r\n{\"item\r\n5\r\n\":42}\r\n0\r\n\r\n");
    auto chunked = c.read_response();
    REQUIRE(chunked);
    CHECK(chunked->status == 200);
    CHECK(chunked->body == body);
  }

  SECTION("ip_filter: the socket peer, or X-Forwarded-For from a trusted proxy") {
    auto direct = request(gw.port(), "GET", "/office/x");
    REQUIRE(direct);
    CHECK(direct->status == 403);  // 127.0.0.1 is a trusted proxy, not an allowed client
    auto office = request(gw.port(), "GET", "/office/x", {{"X-Forwarded-For", "10.20.3.4"}});
    REQUIRE(office);
    CHECK(office->status == 200);
    auto outside = request(gw.port(), "GET", "/office/x", {{"X-Forwarded-For", "10.20.3.4, 192.0.2.1"}});
    REQUIRE(outside);
    CHECK(outside->status == 403);  // the nearest untrusted hop decides
  }

  // No secret in the access log or the admin API.
  REQUIRE(eventually([&] { return read_file(log_path).find("\"status\"") != std::string::npos; }));
  auto routes = request(gw.admin_port(), "GET", "/admin/routes");
  REQUIRE(routes);
  for (const std::string& text : {read_file(log_path), routes->body, gw.process().output()}) {
    CHECK(text.find(api_key) == std::string::npos);
    CHECK(text.find(hmac_secret) == std::string::npos);
    CHECK(text.find(password) == std::string::npos);
  }
}

namespace {

std::string base64url(const std::string& bytes) {
  std::string b = base64(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  for (char& c : b) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!b.empty() && b.back() == '=') b.pop_back();
  return b;
}

// An HS256 token over `claims` (JSON text) signed with `secret`.
std::string hs256_token(const std::string& header, const std::string& claims, const std::string& secret) {
  const std::string signing = base64url(header) + "." + base64url(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(signing.data()),
       signing.size(), mac, &mac_len);
  return signing + "." + base64url(std::string(reinterpret_cast<const char*>(mac), mac_len));
}

}  // namespace

TEST_CASE("jwt end to end: a JWKS file key, claims forwarded, forged claim headers dropped", "[auth]") {
  Backend backend("jwt");
  const std::string secret = "a-jwks-hmac-key-of-at-least-32-bytes!!";
  const std::string dir = temp_dir();
  write_file(dir + "/jwks.json", "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k1\",\"alg\":\"HS256\",\"k\":\"" +
                                     base64url(secret) + "\"}]}");
  Gateway gw(config("  app:\n    instances: [\"" + backend.address() + "\"]\n",
                    "  - id: api\n    path: /api/**\n    service: app\n    filters:\n"
                    "      - name: jwt\n        args: { jwks_file: " + dir + "/jwks.json, issuers: [https://idp.test/], "
                    "forward_claims: { sub: X-User-Id } }\n"));
  const long now = static_cast<long>(std::time(nullptr));
  const std::string header = "{\"alg\":\"HS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}";
  const std::string claims = "{\"sub\":\"user-42\",\"iss\":\"https://idp.test/\",\"exp\":" + std::to_string(now + 600) + "}";
  const std::string token = hs256_token(header, claims, secret);

  auto ok = request(gw.port(), "GET", "/api/headers",
                    {{"Authorization", "Bearer " + token}, {"X-User-Id", "admin"}, {"X_User_Id", "admin"}});
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(ok->body.find("[\"X-User-Id\",\"user-42\"]") != std::string::npos);
  CHECK(ok->body.find("admin") == std::string::npos);

  auto missing = request(gw.port(), "GET", "/api/headers", {{"X-User-Id", "admin"}});
  REQUIRE(missing);
  CHECK(missing->status == 401);
  CHECK(missing->header("WWW-Authenticate").find("Bearer") == 0);

  const std::string expired_claims = "{\"sub\":\"user-42\",\"iss\":\"https://idp.test/\",\"exp\":" + std::to_string(now - 600) + "}";
  auto expired = request(gw.port(), "GET", "/api/headers", {{"Authorization", "Bearer " + hs256_token(header, expired_claims, secret)}});
  REQUIRE(expired);
  CHECK(expired->status == 401);
  CHECK(expired->header("WWW-Authenticate").find("invalid_token") != std::string::npos);

  // alg none, with the signature left off.
  const std::string none = base64url("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + base64url(claims) + ".";
  auto unsigned_token = request(gw.port(), "GET", "/api/headers", {{"Authorization", "Bearer " + none}});
  REQUIRE(unsigned_token);
  CHECK(unsigned_token->status == 401);

  auto wrong_key = request(gw.port(), "GET", "/api/headers",
                           {{"Authorization", "Bearer " + hs256_token(header, claims, "another-key-of-at-least-32-bytes-long")}});
  REQUIRE(wrong_key);
  CHECK(wrong_key->status == 401);
  // The token is not written to the gateway's log.
  CHECK(gw.process().output().find(token.substr(0, 40)) == std::string::npos);
}
