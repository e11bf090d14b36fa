// rate_limit against the real daemon: the local backend's accuracy over 10 s of real time, the 429
// and RateLimit-* headers, key isolation, and the redis backend with a real redis-server on
// loopback: two gateways sharing one limit, and Redis unreachable, stopped or silent under both
// failure modes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discovery_support.h"
#include "harness.h"

using namespace harness;
using namespace std::chrono_literals;
using discovery_support::free_port;
using discovery_support::metric;
using json = nlohmann::json;

namespace {

std::string decisions(const std::string& route, const std::string& result) {
  return "portcullis_rate_limit_decisions_total{route=\"" + route + "\",result=\"" + result + "\"}";
}

// A route answered by the gateway itself, behind one rate_limit filter with these args.
std::string limited_route(const std::string& id, const std::string& args) {
  return "  - id: " + id + "\n    path: /" + id + "\n    static: { status: 200, body: \"ok\" }\n" +
         "    filters:\n      - name: rate_limit\n        args: " + args + "\n";
}

std::string get(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n"; }

// A redis-server on loopback with a temporary directory and no persistence; restartable on its port.
class Redis {
 public:
  Redis() : port_(free_port()) {}
  static bool available() { return ::access(binary, X_OK) == 0; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  void start() {
    server_.start({"--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                   server_.dir()},
                  [&](const Process&) { return command({"PING"}) == "+PONG"; });
  }
  void stop() { server_.stop(); }

  // One command on a fresh connection; the reply's first line (a bulk string's content), "" on failure.
  std::string command(const std::vector<std::string>& args) const {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string in;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::write(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size())) {
      char buf[4096];
      for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
        const auto eol = in.find("\r\n");
        if (eol == std::string::npos) continue;
        if (in[0] != '$' || in.starts_with("$-1")) break;
        const auto size = static_cast<std::size_t>(std::stoul(in.substr(1, eol - 1)));
        if (in.size() >= eol + 2 + size + 2) {
          in = in.substr(eol + 2, size);
          ::close(fd);
          return in;
        }
      }
    }
    ::close(fd);
    const auto eol = in.find("\r\n");
    return eol == std::string::npos ? std::string() : in.substr(0, eol);
  }

 private:
  int port_;
  static constexpr const char* binary = "/usr/bin/redis-server";
  ExternalServer server_{"redis", {binary}};
};

std::string redis_args(const std::string& address, const std::string& failure_mode, const std::string& extra = "") {
  return "{ key: route, rate: 1/m, burst: 20, headers: true, backend: redis, redis: { address: \"" + address +
         "\", timeout: 50ms, failure_mode: " + failure_mode + extra + " } }";
}

// `n` GETs on fresh connections; each must be answered within `limit` (no hang on a sick Redis).
std::vector<Response> answered_promptly(int port, const std::string& target, int n, std::chrono::milliseconds limit) {
  std::vector<Response> out;
  for (int i = 0; i < n; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto r = request(port, "GET", target);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(r);
    CHECK(took < limit);
    out.push_back(*r);
  }
  return out;
}

}  // namespace

TEST_CASE("rate_limit local: allowed requests over 10 s match rate x time + burst within 5%", "[rate_limit]") {
  constexpr double rate = 50;
  constexpr int burst = 25;
  Gateway gw(config("", limited_route("paced", "{ key: ip, rate: 50/s, burst: 25 }"), "", 2));
  // Three times the rate from two threads on their own connections (so both workers may share the
  // bucket), each paced by a schedule: a thread that falls behind (a loaded machine) catches up at
  // once instead of offering less, and while one is descheduled the other keeps offering. Tokens
  // are lost only when nobody asks for longer than burst / rate (0.5 s).
  const auto offered_interval = std::chrono::microseconds(static_cast<long>(2e6 / (3 * rate)));
  std::atomic<int> allowed{0}, limited{0}, other{0};
  std::atomic<std::int64_t> last_ns{0};
  const auto start = std::chrono::steady_clock::now();
  auto offer = [&](std::chrono::microseconds offset) {
    Client c(gw.port());
    for (int i = 0; std::chrono::steady_clock::now() - start < 10s; ++i) {
      std::this_thread::sleep_until(start + offset + i * offered_interval);
      const auto sent = std::chrono::steady_clock::now() - start;
      c.send(get("/paced"));
      auto r = c.read_response();
      if (!r) {
        ++other;
        return;
      }
      if (r->status == 200) ++allowed;
      else if (r->status == 429) ++limited;
      else ++other;
      const std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(sent).count();
      std::int64_t seen = last_ns.load();
      while (seen < ns && !last_ns.compare_exchange_weak(seen, ns)) {
      }
    }
  };
  std::thread one(offer, std::chrono::microseconds(0)), two(offer, offered_interval / 2);
  one.join();
  two.join();
  const double elapsed = static_cast<double>(last_ns.load()) / 1e9;
  const double expected = rate * elapsed + burst;
  INFO("allowed " << allowed << " limited " << limited << " over " << elapsed << " s, expected " << expected);
  CHECK(other == 0);
  CHECK(limited > allowed / 2);  // the clients really offered more than the rate
  CHECK(std::abs(allowed - expected) <= 0.05 * expected);
  // The gateway's own count agrees with the clients', exactly.
  CHECK(metric(gw.admin_port(), decisions("paced", "allowed")) == allowed);
  CHECK(metric(gw.admin_port(), decisions("paced", "limited")) == limited);
}

TEST_CASE("rate_limit: 429 carries Retry-After and RateLimit headers, allowed responses too with headers: true",
          "[rate_limit]") {
  Gateway gw(config("", limited_route("hdr", "{ key: ip, rate: 1/m, burst: 3, headers: true }") +
                            limited_route("quiet", "{ key: ip, rate: 1/m, burst: 1 }")));
  for (int i = 0; i < 3; ++i) {
    auto r = request(gw.port(), "GET", "/hdr");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "ok");
    CHECK(r->header("RateLimit-Limit") == "3");
    CHECK(r->header("RateLimit-Remaining") == std::to_string(2 - i));
    const int reset = std::stoi(r->header("RateLimit-Reset"));  // 60 s a token, less the time between requests
    CHECK(reset >= 60 * (i + 1) - 1);
    CHECK(reset <= 60 * (i + 1));
    CHECK_FALSE(r->has_header("Retry-After"));
  }
  auto r = request(gw.port(), "GET", "/hdr");
  REQUIRE(r);
  CHECK(r->status == 429);
  CHECK(r->header("Content-Type") == "application/json");
  const int retry_after = std::stoi(r->header("Retry-After"));
  CHECK(retry_after >= 59);
  CHECK(retry_after <= 60);
  CHECK(r->header("RateLimit-Limit") == "3");
  CHECK(r->header("RateLimit-Remaining") == "0");
  const int reset = std::stoi(r->header("RateLimit-Reset"));
  CHECK(reset >= 179);
  CHECK(reset <= 180);
  auto j = json::parse(r->body);
  CHECK(j["status"] == 429);
  CHECK(j["error"] == "Too Many Requests");
  CHECK(j["message"] == "rate limit exceeded");
  CHECK(j["request_id"] == r->header("X-Request-Id"));

  // headers: false (the default): nothing on allowed responses, everything on the 429.
  auto first = request(gw.port(), "GET", "/quiet");
  REQUIRE(first);
  CHECK(first->status == 200);
  CHECK_FALSE(first->has_header("RateLimit-Limit"));
  auto second = request(gw.port(), "GET", "/quiet");
  REQUIRE(second);
  CHECK(second->status == 429);
  CHECK(second->header("RateLimit-Limit") == "1");
  CHECK(second->has_header("Retry-After"));
  CHECK(metric(gw.admin_port(), decisions("hdr", "limited")) == 1);
  CHECK(metric(gw.admin_port(), decisions("hdr", "allowed")) == 3);
}

TEST_CASE("rate_limit: each header value has its own bucket, requests without the header are not limited",
          "[rate_limit]") {
  Gateway gw(config("", limited_route("user", "{ key: \"header:X-User\", rate: 1/m, burst: 2 }"), "", 2));
  auto as = [&](const std::string& user) {
    auto r = user.empty() ? request(gw.port(), "GET", "/user") : request(gw.port(), "GET", "/user", {{"X-User", user}});
    REQUIRE(r);
    return r->status;
  };
  CHECK(as("alice") == 200);
  CHECK(as("alice") == 200);
  CHECK(as("alice") == 429);
  CHECK(as("bob") == 200);
  CHECK(as("bob") == 200);
  CHECK(as("bob") == 429);
  CHECK(as("alice") == 429);
  for (int i = 0; i < 5; ++i) CHECK(as("") == 200);
  CHECK(metric(gw.admin_port(), decisions("user", "allowed")) == 4);
  CHECK(metric(gw.admin_port(), decisions("user", "limited")) == 3);
}

TEST_CASE("rate_limit local: a reload keeps the buckets of an unchanged limit and starts a changed one afresh",
          "[rate_limit]") {
  const std::string before = config("", limited_route("user", "{ key: \"header:X-User\", rate: 1/m, burst: 2 }"));
  Gateway gw(before);
  auto as = [&](const std::string& user) {
    auto r = request(gw.port(), "GET", "/user", {{"X-User", user}});
    REQUIRE(r);
    return r->status;
  };
  CHECK(as("alice") == 200);
  CHECK(as("alice") == 200);
  CHECK(as("alice") == 429);
  // Same limit, another route added: alice's bucket is still empty after the reload.
  gw.rewrite_config(config("", limited_route("user", "{ key: \"header:X-User\", rate: 1/m, burst: 2 }") +
                                   limited_route("other", "{ key: ip, rate: 1/m, burst: 1 }")));
  auto reloaded = request(gw.admin_port(), "POST", "/admin/reload");
  REQUIRE(reloaded);
  REQUIRE(reloaded->status == 200);
  CHECK(as("alice") == 429);
  CHECK(as("bob") == 200);
  // A different burst is a different limit: it starts full.
  gw.rewrite_config(config("", limited_route("user", "{ key: \"header:X-User\", rate: 1/m, burst: 3 }")));
  reloaded = request(gw.admin_port(), "POST", "/admin/reload");
  REQUIRE(reloaded);
  REQUIRE(reloaded->status == 200);
  CHECK(as("alice") == 200);
}

TEST_CASE("rate_limit redis: two gateways share one limit", "[rate_limit][redis]") {
  if (!Redis::available()) {
    WARN("redis-server is not installed (scripts/install-deps.sh installs it); skipping");
    return;
  }
  Redis redis;
  redis.start();
  const std::string route = limited_route("shared", redis_args(redis.address(), "closed"));
  Gateway one(config("", route, "", 2)), two(config("", route, "", 2));
  std::set<std::string> remaining;
  int allowed = 0, limited = 0;
  for (int i = 0; i < 30; ++i) {
    auto r = request(i % 2 ? one.port() : two.port(), "GET", "/shared");
    REQUIRE(r);
    if (r->status == 200) {
      ++allowed;
      remaining.insert(r->header("RateLimit-Remaining"));
    } else {
      CHECK(r->status == 429);
      CHECK(r->has_header("Retry-After"));
      ++limited;
    }
    // The first script call on a fresh Redis loads the script (NOSCRIPT, then EVAL); a flush halfway
    // makes it happen again.
    if (i == 10) CHECK(redis.command({"SCRIPT", "FLUSH"}) == "+OK");
  }
  // One bucket of 20, refilled once a minute: exactly 20 of 30, each with its own remaining count.
  CHECK(allowed == 20);
  CHECK(limited == 10);
  CHECK(remaining.size() == 20);
  CHECK(remaining.count("0") == 1);
  CHECK(remaining.count("19") == 1);
  const double allowed_one = metric(one.admin_port(), decisions("shared", "allowed"));
  const double allowed_two = metric(two.admin_port(), decisions("shared", "allowed"));
  CHECK(allowed_one + allowed_two == 20);
  CHECK(allowed_one >= 5);
  CHECK(allowed_two >= 5);
  CHECK(metric(one.admin_port(), decisions("shared", "failed_closed")) == 0);
  // The bucket expires in Redis when it would be full again: an idle key costs nothing.
  const std::string key = "portcullis:rl:shared:route:";
  const long pttl = std::stol(redis.command({"PTTL", key}).substr(1));
  CHECK(pttl > 1000 * 60 * 19);
  CHECK(pttl <= 1000 * 60 * 20);
}

TEST_CASE("rate_limit redis: unreachable Redis fails open or closed at once and is counted", "[rate_limit][redis]") {
  const std::string nowhere = "127.0.0.1:" + std::to_string(free_port());
  Gateway gw(config("", limited_route("open", redis_args(nowhere, "open")) +
                            limited_route("closed", redis_args(nowhere, "closed", ", password: hunter2"))));
  for (const auto& r : answered_promptly(gw.port(), "/open", 10, 1s)) {
    CHECK(r.status == 200);
    CHECK_FALSE(r.has_header("RateLimit-Limit"));
  }
  for (const auto& r : answered_promptly(gw.port(), "/closed", 10, 1s)) {
    CHECK(r.status == 503);
    CHECK(json::parse(r.body)["message"] == "rate limit backend unavailable");
    CHECK(r.has_header("Retry-After"));
  }
  CHECK(metric(gw.admin_port(), decisions("open", "failed_open")) == 10);
  CHECK(metric(gw.admin_port(), decisions("closed", "failed_closed")) == 10);
  CHECK(metric(gw.admin_port(), "portcullis_rate_limit_backend_errors_total{route=\"open\",backend=\"redis\"}") == 10);
  const std::string log = gw.process().output();
  CHECK(log.find("redis unreachable") != std::string::npos);
  CHECK(log.find("hunter2") == std::string::npos);
  CHECK(get_body(gw.admin_port(), "/admin/routes").find("hunter2") == std::string::npos);
}

TEST_CASE("rate_limit redis: a silent Redis times out, a stopped one fails, a restarted one is used again",
          "[rate_limit][redis]") {
  if (!Redis::available()) {
    WARN("redis-server is not installed; skipping");
    return;
  }
  // Silent: the kernel accepts the connection, nobody ever reads or answers.
  SilentListener silent;
  const std::string silent_address = silent.address();

  Redis redis;
  redis.start();
  Gateway gw(config("", limited_route("silent", redis_args(silent_address, "open")) +
                            limited_route("live", redis_args(redis.address(), "open"))));
  for (const auto& r : answered_promptly(gw.port(), "/silent", 5, 1s)) CHECK(r.status == 200);
  CHECK(metric(gw.admin_port(), decisions("silent", "failed_open")) == 5);
  silent.close();

  for (const auto& r : answered_promptly(gw.port(), "/live", 3, 1s)) CHECK(r.header("RateLimit-Remaining") != "");
  CHECK(metric(gw.admin_port(), decisions("live", "allowed")) == 3);
  redis.stop();
  for (const auto& r : answered_promptly(gw.port(), "/live", 5, 1s)) {
    CHECK(r.status == 200);
    CHECK_FALSE(r.has_header("RateLimit-Remaining"));
  }
  CHECK(metric(gw.admin_port(), decisions("live", "failed_open")) == 5);
  // Back on the same port (empty: no persistence): after the down period the gateway reconnects.
  redis.start();
  CHECK(eventually([&] {
    auto r = request(gw.port(), "GET", "/live");
    return r && r->header("RateLimit-Remaining") == "19";
  }, 10s));
  CHECK(gw.process().output().find("redis connection lost") != std::string::npos);
}
