// JWK sets (parsing, what is refused and skipped, base64url) and jwks_url: keys fetched from a
// loopback server, a refetch on an unknown kid, the last good set kept when fetches fail, 503 until
// the first set arrives, one shared instance per URL.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "unit/loopback_server.h"
#include "jwt_support.h"

using namespace jwt_support;

TEST_CASE("JWK sets: bad keys are named, not shown; unusable kinds are skipped", "[filters][jwt]") {
  Keys& k = keys();
  std::string error;
  CHECK_FALSE(filters::jwt::parse_jwks("[]", error));
  json bad_rsa = rsa_jwk(k.rsa.get(), "r");
  bad_rsa["n"] = "***";
  CHECK_FALSE(filters::jwt::parse_jwks(json{{"keys", {bad_rsa}}}.dump(), error));
  CHECK(error == "key 0 (kid r): \"n\" is not base64url");
  json off_curve = ec_jwk(k.p256.get(), "e", "P-256", 32);
  off_curve["y"] = b64url(std::string(32, '\x01'));
  CHECK_FALSE(filters::jwt::parse_jwks(json{{"keys", {off_curve}}}.dump(), error));
  CHECK(error.find("not a valid EC public key") != std::string::npos);
  json short_oct = {{"kty", "oct"}, {"k", b64url("short-secret-value")}};
  CHECK_FALSE(filters::jwt::parse_jwks(json{{"keys", {short_oct}}}.dump(), error));
  CHECK(error.find("short-secret-value") == std::string::npos);
  json wrong_alg = rsa_jwk(k.rsa.get(), "r");
  wrong_alg["alg"] = "ES256";
  CHECK_FALSE(filters::jwt::parse_jwks(json{{"keys", {wrong_alg}}}.dump(), error));
  // Each way a key of a known type can be broken is refused, naming the key.
  auto refused = [&](json jwk, const std::string& why) {
    INFO(jwk.dump());
    CHECK_FALSE(filters::jwt::parse_jwks(json{{"keys", {std::move(jwk)}}}.dump(), error));
    CHECK(error.find(why) != std::string::npos);
  };
  Pkey small_rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(1024)), EVP_PKEY_free);
  refused(rsa_jwk(small_rsa.get(), "small"), "key 0 (kid small): RSA modulus of 1024 bits");
  json no_e = rsa_jwk(k.rsa.get(), "r");
  no_e.erase("e");
  refused(no_e, "missing \"e\"");
  refused({{"k", b64url(k.secret)}}, "missing \"kty\"");
  refused({{"kty", "oct"}}, "missing \"k\"");
  json p521 = ec_jwk(k.p256.get(), "e", "P-521", 32);
  refused(p521, "unsupported \"crv\"");
  json short_x = ec_jwk(k.p256.get(), "e", "P-256", 32);
  short_x["x"] = b64url(std::string(31, '\x05'));
  refused(short_x, "must be 32 bytes each");
  json p384_as_p256 = ec_jwk(k.p384.get(), "e", "P-256", 48);
  refused(p384_as_p256, "must be 32 bytes each");
  json kid_number = rsa_jwk(k.rsa.get(), "r");
  kid_number["kid"] = 5;
  refused(kid_number, "\"kid\" is not a string");
  json alg_none = rsa_jwk(k.rsa.get(), "r");
  alg_none["alg"] = "none";
  refused(alg_none, "unsupported \"alg\"");
  refused(json::array({1}), "not an object");
  CHECK_FALSE(filters::jwt::parse_jwks("{\"keys\": [", error));
  CHECK_FALSE(filters::jwt::parse_jwks("{\"keys\": {}}", error));
  CHECK_FALSE(filters::jwt::parse_jwks("{\"keys\": []}", error));
  CHECK(error.find("no usable signing key") != std::string::npos);

  json okp = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "AA"}};
  json enc = rsa_jwk(k.rsa.get(), "enc");
  enc["use"] = "enc";
  auto set = filters::jwt::parse_jwks(json{{"keys", {okp, enc, rsa_jwk(k.rsa.get(), "ok")}}}.dump(), error);
  REQUIRE(set);
  REQUIRE(set->keys.size() == 1);
  CHECK(set->keys[0].kid == "ok");
  std::string out;
  CHECK(filters::jwt::base64url_decode("TWE", out));
  CHECK(out == "Ma");
  out.clear();
  CHECK_FALSE(filters::jwt::base64url_decode("TWF", out));  // non-zero leftover bits
  CHECK_FALSE(filters::jwt::base64url_decode("TWFuA", out));  // impossible length
}

// --- jwks_url --------------------------------------------------------------------------------

namespace {

// Serves whatever status and body it currently holds to every GET, one request per connection.
class JwksServer {
 public:
  JwksServer()
      : server_([this](int c, const std::string&, const std::atomic<bool>&) {
          std::string reply;
          {
            std::lock_guard lock(mutex_);
            reply = "HTTP/1.1 " + std::to_string(status_) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n" + body_;
          }
          ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
        }) {}
  std::string url() const { return server_.url("/jwks.json"); }
  void set(int status, std::string body) {
    std::lock_guard lock(mutex_);
    status_ = status;
    body_ = std::move(body);
  }
  int requests() const { return server_.served(); }

 private:
  std::mutex mutex_;
  int status_ = 500;
  std::string body_;
  unit_support::LoopbackServer server_;  // last: it stops before the reply it reads goes away
};

using unit_support::eventually;

}  // namespace

TEST_CASE("jwt fetches jwks_url keys, refetches on an unknown kid and keeps the last good set", "[filters][jwt]") {
  PinnedClock clock(t_now);
  Keys& k = keys();
  JwksServer server;  // answers 500 until told otherwise
  auto f = build("jwt", "{ jwks_url: \"" + server.url() + "\", jwks_refresh: 1h, jwks_min_refresh: 1ms }");
  REQUIRE(f->filter);
  auto remote = filters::jwt::RemoteKeys::acquire(server.url(), {std::chrono::hours(1), std::chrono::milliseconds(1), std::chrono::seconds(5)}, filter_support::test_state());
  const std::string t1 = token({{"alg", "RS256"}, {"kid", "k1"}}, claims(), k.rsa.get());
  const std::string t2 = token({{"alg", "ES256"}, {"kid", "k2"}}, claims(), k.p256.get());

  // No key set yet: 503, not 401.
  REQUIRE(eventually([&] { return remote->fetches() >= 1; }));
  Call c = run_bearer(*f->filter, t1);
  CHECK(c.outcome == Outcome::fail);
  CHECK(c.status == 503);

  // Static keys work meanwhile; tokens the remote set may verify still get 503.
  // (The schedule is per URL, the last built filter's: keep the test's.)
  auto mixed = build("jwt", "{ jwks_url: \"" + server.url() + "\", jwks_refresh: 1h, jwks_min_refresh: 1ms, secret: " +
                                k.secret + ", algorithms: [HS256, RS256] }");
  REQUIRE(mixed->filter);
  CHECK(accepted(*mixed->filter, token({{"alg", "HS256"}}, claims(), nullptr, k.secret)));
  CHECK(run_bearer(*mixed->filter, t1).status == 503);
  // HS256 is listed, so the remote set may hold the right secret: wait for it rather than refuse.
  CHECK(run_bearer(*mixed->filter, token({{"alg", "HS256"}}, claims(), nullptr, std::string(64, 'x'))).status == 503);

  server.set(200, json{{"keys", {rsa_jwk(k.rsa.get(), "k1")}}}.dump());
  CHECK(eventually([&] { return accepted(*f->filter, t1); }));  // each 503 asks for a refetch
  check_invalid(*f->filter, t2, "unknown key");

  // A key published since: the unknown kid triggers a refetch, then the token passes.
  server.set(200, json{{"keys", {rsa_jwk(k.rsa.get(), "k1"), ec_jwk(k.p256.get(), "k2", "P-256", 32)}}}.dump());
  CHECK(eventually([&] { return accepted(*f->filter, t2); }));

  // The key server breaks: refetches fail and the last good set stays in use.
  server.set(500, "down");
  const std::uint64_t before = remote->fetches();
  const std::string t3 = token({{"alg", "RS256"}, {"kid", "k3"}}, claims(), k.rsa.get());
  CHECK(eventually([&] {
    run_bearer(*f->filter, t3);  // unknown kid: asks for a refetch
    return remote->fetches() >= before + 1;
  }));
  server.set(200, "not json");
  const std::uint64_t before_garbage = remote->fetches();
  CHECK(eventually([&] {
    run_bearer(*f->filter, t3);
    return remote->fetches() >= before_garbage + 1;
  }));
  CHECK(accepted(*f->filter, t1));
  CHECK(accepted(*f->filter, t2));
  bool other_thread = false;  // a worker thread that never looked before sees the current set too
  std::thread([&] { other_thread = accepted(*f->filter, t2); }).join();
  CHECK(other_thread);

  // A reload (a second filter on the same URL) shares the instance and its keys: no 503 while a
  // new fetch would run.
  auto reloaded = build("jwt", "{ jwks_url: \"" + server.url() + "\", jwks_refresh: 1h, jwks_min_refresh: 1h }");
  REQUIRE(reloaded->filter);
  CHECK(filters::jwt::RemoteKeys::acquire(server.url(), {}, filter_support::test_state()) == remote);
  CHECK(accepted(*reloaded->filter, t2));
}
