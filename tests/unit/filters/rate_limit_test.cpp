// rate_limit: rate parsing, args validation, GCRA figures on a synthetic clock, the lock-free table
// (key isolation, full windows, expired slots, two threads), the filter's answers and metrics, and
// the Redis client against an in-process fake (pipelining, deadlines, down period).
#include <atomic>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include "config/runtime_state.h"
#include "filters/protection/gcra_table.h"
#include "filters/protection/rate_limit.h"
#include "protection/redis_client.h"
#include "support.h"

using namespace portcullis;
using namespace std::chrono_literals;
using filters::GcraDecision;
using filters::GcraLimit;
using filters::GcraTable;
using filter_support::Request;
namespace net = boost::asio;

namespace {

constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t t0 = 1'000'000 * ms;  // an arbitrary start on the synthetic clock

struct Built {
  std::unique_ptr<Filter> filter;
  ConfigErrors errors{"test.yaml"};
  observability::Registry metrics{1};
  RuntimeState state{metrics};
};

std::unique_ptr<Built> build(const std::string& args_yaml, const std::string& route_id = "r1") {
  auto out = std::make_unique<Built>();
  YAML::Node args = YAML::Load(args_yaml);
  FilterArgs fa(args, "filters[0]", out->errors);
  FilterBuild b{fa, "filters[0]", route_id, out->state};
  out->filter = (*FilterRegistry::instance().find("rate_limit"))(b);
  if (!fa.finish()) out->filter.reset();
  return out;
}

std::string errors_of(const std::string& args_yaml) { return build(args_yaml)->errors.joined(); }

// The value of one series in the registry's exposition, or -1 when absent.
double series(const observability::Registry& metrics, const std::string& name) {
  const std::string text = metrics.render();
  const std::size_t pos = text.find("\n" + name + " ");
  return pos == std::string::npos ? -1 : std::atof(text.c_str() + pos + name.size() + 2);
}

double decisions(const Built& b, const std::string& result, const std::string& route = "r1") {
  return series(b.metrics, "portcullis_rate_limit_decisions_total{route=\"" + route + "\",result=\"" + result + "\"}");
}

std::string added(const Context& ctx, std::string_view name) {
  for (const auto& [n, v] : ctx.added_response_headers)
    if (n == name) return std::string(v);
  return "<absent>";
}

int count_added(const Context& ctx, std::string_view name) {
  int n = 0;
  for (const auto& field : ctx.added_response_headers) n += field.first == name;
  return n;
}

}  // namespace

TEST_CASE("rate_limit: rates parse per second, minute and hour", "[filters][rate_limit]") {
  auto rate = filters::parse_rate("100/s");
  REQUIRE(rate);
  CHECK(rate->per_second == 100);
  CHECK(rate->interval_ns == 10 * ms);
  rate = filters::parse_rate("6000/m");
  REQUIRE(rate);
  CHECK(rate->per_second == 100);
  CHECK(rate->interval_ns == 10 * ms);
  rate = filters::parse_rate("10/h");
  REQUIRE(rate);
  CHECK(rate->interval_ns == 360'000 * ms);
  rate = filters::parse_rate("250");
  REQUIRE(rate);
  CHECK(rate->interval_ns == 4 * ms);
  rate = filters::parse_rate("0.5/s");
  REQUIRE(rate);
  CHECK(rate->interval_ns == 2000 * ms);
  rate = filters::parse_rate(" 3 / s ");
  REQUIRE(rate);
  CHECK(rate->interval_ns == 333'333'333);
  for (const char* bad : {"", "0", "0/s", "-5/s", "abc", "10/d", "10/", "/s", "1e10/s", "inf", "nan/s", "10 per second"})
    CHECK_FALSE(filters::parse_rate(bad));
}

TEST_CASE("rate_limit: bad args are config errors with their position", "[filters][rate_limit]") {
  CHECK(FilterRegistry::instance().find("rate_limit") != nullptr);
  CHECK(errors_of("{ key: ip }").find("filters[0].args.rate: is required") != std::string::npos);
  CHECK(errors_of("{ rate: 0/s }").find("filters[0].args.rate: expected a positive rate") != std::string::npos);
  CHECK(errors_of("{ rate: lots }").find("test.yaml:1:9: filters[0].args.rate: expected a positive rate") !=
        std::string::npos);
  CHECK(errors_of("{ rate: 10/s, key: cookie }").find("args.key: expected ip, header:NAME, api_key or route") !=
        std::string::npos);
  CHECK(errors_of("{ rate: 10/s, key: \"header:\" }").find("args.key: header:NAME needs a valid header name") !=
        std::string::npos);
  CHECK(errors_of("{ rate: 10/s, burst: 0 }").find("args.burst: must be an integer in 1..") != std::string::npos);
  CHECK(errors_of("{ rate: 10/s, rates: 5 }").find("args.rates: unknown key") != std::string::npos);
  CHECK(errors_of("{ rate: 10/s, backend: memcached }").find("args.backend: expected local or redis") !=
        std::string::npos);
  CHECK(errors_of("{ rate: 10/s, redis: { address: \"127.0.0.1:6379\" } }").find("args.redis: only with backend: redis") !=
        std::string::npos);
  CHECK(errors_of("{ rate: 10/s, backend: redis }").find("args.backend: backend: redis needs a redis block") !=
        std::string::npos);
  CHECK(errors_of("{ rate: 10/s, backend: redis, redis: { timeout: 50ms } }").find("args.redis.address: is required") !=
        std::string::npos);
  CHECK(errors_of("{ rate: 10/s, backend: redis, redis: { address: nowhere } }").find("args.redis.address: expected host:port") !=
        std::string::npos);
  const std::string redis_errors =
      errors_of("rate: 10/s\nbackend: redis\nmax_keys: 64\nredis:\n  address: \"127.0.0.1:6379\"\n  timeout: soon\n"
                "  failure_mode: maybe\n  pasword: hunter2\n");
  CHECK(redis_errors.find("test.yaml:6:12: filters[0].args.redis.timeout: invalid duration \"soon\"") !=
        std::string::npos);
  CHECK(redis_errors.find("filters[0].args.redis.failure_mode: expected open or closed") != std::string::npos);
  CHECK(redis_errors.find("test.yaml:8:3: filters[0].args.redis.pasword: unknown key") != std::string::npos);
  CHECK(redis_errors.find("filters[0].args.max_keys: only applies to backend: local") != std::string::npos);
  CHECK(redis_errors.find("hunter2") == std::string::npos);
  CHECK(errors_of("{ rate: 2000000/s, backend: redis, redis: { address: \"127.0.0.1:6379\" } }")
            .find("at most 1000000/s") != std::string::npos);
  CHECK(errors_of("{ rate: 1/h, burst: 1000000000 }").find("args.burst: burst / rate is too long") != std::string::npos);

  auto good = build("{ rate: 100/s, burst: 200, key: \"header:X-User\", headers: true, max_keys: 1000 }");
  REQUIRE(good->filter);
  CHECK(good->errors.empty());
  CHECK(good->filter->type() == FilterType::pre);
  CHECK(good->filter->order() == 20);
  CHECK_FALSE(good->filter->is_async());
  auto redis = build("{ rate: 100/s, backend: redis, redis: { address: \"localhost:6379\", failure_mode: closed, "
                     "password: pw, prefix: \"x:\", timeout: 20ms } }");
  REQUIRE(redis->filter);
  CHECK(redis->filter->is_async());
}

TEST_CASE("GCRA: a burst, then the steady rate, with retry-after, remaining and reset", "[filters][rate_limit]") {
  GcraTable table(64, GcraLimit{100 * ms, 5});  // 10/s, burst 5
  const std::uint64_t key = 42;
  for (int i = 0; i < 5; ++i) {
    const GcraDecision d = table.decide(key, t0);
    REQUIRE(d.allowed);
    CHECK(d.remaining == 4 - i);
    CHECK(d.reset_ns == (i + 1) * 100 * ms);
  }
  GcraDecision d = table.decide(key, t0);
  CHECK_FALSE(d.allowed);
  CHECK(d.remaining == 0);
  CHECK(d.retry_after_ns == 100 * ms);
  CHECK(d.reset_ns == 500 * ms);
  // One token comes back per interval, no sooner.
  d = table.decide(key, t0 + 99 * ms);
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after_ns == 1 * ms);
  d = table.decide(key, t0 + 100 * ms);
  CHECK(d.allowed);
  CHECK(d.remaining == 0);
  CHECK_FALSE(table.decide(key, t0 + 100 * ms).allowed);
  // Steady pace at the rate: every request allowed, the bucket never refills.
  for (int i = 2; i < 50; ++i) {
    d = table.decide(key, t0 + i * 100 * ms);
    REQUIRE(d.allowed);
    CHECK(d.remaining == 0);
  }
  // Twice the rate: exactly every other request allowed.
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += table.decide(key, t0 + 5000 * ms + i * 50 * ms).allowed;
  CHECK(allowed == 50);
  // Idle long enough: full again.
  d = table.decide(key, t0 + 60'000 * ms);
  CHECK(d.allowed);
  CHECK(d.remaining == 4);
}

TEST_CASE("GCRA: keys have separate buckets", "[filters][rate_limit]") {
  GcraTable table(1024, GcraLimit{1000 * ms, 2});
  CHECK(table.decide(1, t0).allowed);
  CHECK(table.decide(1, t0).allowed);
  CHECK_FALSE(table.decide(1, t0).allowed);
  CHECK(table.decide(2, t0).allowed);
  CHECK(table.decide(2, t0).allowed);
  CHECK_FALSE(table.decide(2, t0).allowed);
  // Same home slot (hash 1 + 1024): still its own bucket, in the next slot of the window.
  CHECK(table.decide(1 + 1024, t0).allowed);
  CHECK(table.decide(1 + 1024, t0).remaining == 0);
  CHECK_FALSE(table.decide(1, t0).allowed);
  // Hash 0 is the free marker internally; a key hashing to 0 still works.
  CHECK(table.decide(0, t0).remaining == 1);
  CHECK(table.decide(0, t0).remaining == 0);
}

TEST_CASE("GCRA table: a full window shares the fullest bucket, expired slots are reused", "[filters][rate_limit]") {
  GcraTable table(16, GcraLimit{1000 * ms, 3});  // 16 slots; keys k*16 all start at slot 0
  REQUIRE(table.size() == 16);
  REQUIRE(GcraTable::probe_length == 8);
  // Fill the 8-slot window: key i spends i+1 of its 3 tokens (capped), so key 0 is the fullest.
  for (std::uint64_t i = 0; i < 8; ++i)
    for (std::uint64_t n = 0; n <= std::min<std::uint64_t>(i, 2); ++n) REQUIRE(table.decide((i + 1) * 16, t0).allowed);
  // A ninth key finds no room: it is charged to key 16's bucket (closest to full: 2 tokens left),
  // which key 16 then sees.
  GcraDecision d = table.decide(9 * 16, t0);
  CHECK(d.allowed);
  CHECK(d.remaining == 1);
  CHECK(table.decide(16, t0).remaining == 0);
  CHECK_FALSE(table.decide(16, t0).allowed);
  // Now key 32's bucket is the fullest: the ninth key spends its last token.
  d = table.decide(9 * 16, t0);
  CHECK(d.allowed);
  CHECK(d.remaining == 0);
  CHECK_FALSE(table.decide(32, t0).allowed);
  CHECK_FALSE(table.decide(9 * 16, t0).allowed);  // every bucket in reach is empty
  // Once buckets are full again their slots are free for other keys: the ninth key gets its own.
  const std::int64_t later = t0 + 10'000 * ms;
  d = table.decide(9 * 16, later);
  CHECK(d.allowed);
  CHECK(d.remaining == 2);
  CHECK(table.decide(9 * 16, later).remaining == 1);
  CHECK(table.decide(16, later).remaining == 2);  // key 16 no longer shares with it
}

TEST_CASE("GCRA table: two threads on shared keys allow exactly the burst", "[filters][rate_limit]") {
  constexpr std::int64_t burst = 20'000;
  GcraTable table(4096, GcraLimit{3600'000 * ms, burst});  // refills are negligible: one per hour
  std::atomic<bool> go{false};
  std::atomic<std::int64_t> allowed_a{0}, allowed_b{0};
  auto worker = [&] {
    while (!go.load()) {
    }
    std::int64_t a = 0, b = 0;
    for (int i = 0; i < 30'000; ++i) {
      // Claims race too: keys 1000.. appear for the first time in both threads at once.
      a += table.decide(7, t0 + i).allowed;
      b += table.decide(1000 + (i % 500), t0 + i).allowed;
    }
    allowed_a += a;
    allowed_b += b;
  };
  std::thread one(worker), two(worker);
  go = true;
  one.join();
  two.join();
  CHECK(allowed_a.load() == burst);
  CHECK(allowed_b.load() == 60'000);  // 500 keys x 120 requests each, all under their burst
  // Every one of the 500 keys has exactly 120 tokens spent, so none was claimed twice.
  for (std::uint64_t k = 1000; k < 1500; ++k) REQUIRE(table.decide(k, t0 + 40'000).remaining == burst - 121);
}

TEST_CASE("rate_limit filter: 429 with Retry-After and RateLimit headers, counted", "[filters][rate_limit]") {
  auto b = build("{ rate: 1/h, burst: 2, headers: true }");
  REQUIRE(b->filter);
  {
    Request r;
    r.ctx.client_address = "10.0.0.1";
    REQUIRE(b->filter->should_filter(r.ctx));
    CHECK(b->filter->run(r.ctx) == Outcome::proceed);
    CHECK(added(r.ctx, "RateLimit-Limit") == "2");
    CHECK(added(r.ctx, "RateLimit-Remaining") == "1");
    CHECK(added(r.ctx, "RateLimit-Reset") == "3600");
    CHECK(count_added(r.ctx, "Retry-After") == 0);
  }
  {
    Request r;
    r.ctx.client_address = "10.0.0.1";
    CHECK(b->filter->run(r.ctx) == Outcome::proceed);
    CHECK(added(r.ctx, "RateLimit-Remaining") == "0");
    CHECK(added(r.ctx, "RateLimit-Reset") == "7200");
  }
  Request r;
  r.ctx.client_address = "10.0.0.1";
  CHECK(b->filter->run(r.ctx) == Outcome::fail);
  CHECK(r.ctx.error.status == 429);
  CHECK(r.ctx.error.kind == ErrorKind::rejected);
  CHECK(r.ctx.error.message == "rate limit exceeded");
  const int retry_after = std::stoi(added(r.ctx, "Retry-After"));
  CHECK(retry_after >= 3599);
  CHECK(retry_after <= 3600);
  CHECK(added(r.ctx, "RateLimit-Limit") == "2");
  CHECK(added(r.ctx, "RateLimit-Remaining") == "0");
  CHECK(std::stoi(added(r.ctx, "RateLimit-Reset")) >= 7199);
  // Another client is not affected.
  Request other;
  other.ctx.client_address = "10.0.0.2";
  CHECK(b->filter->run(other.ctx) == Outcome::proceed);
  CHECK(decisions(*b, "allowed") == 3);
  CHECK(decisions(*b, "limited") == 1);
  CHECK(decisions(*b, "failed_open") == 0);

  // Without headers: true, only refusals carry them.
  auto quiet = build("{ rate: 1/h, burst: 1 }");
  Request first, second;
  first.ctx.client_address = second.ctx.client_address = "10.0.0.1";
  CHECK(quiet->filter->run(first.ctx) == Outcome::proceed);
  CHECK(first.ctx.added_response_headers.empty());
  CHECK(quiet->filter->run(second.ctx) == Outcome::fail);
  CHECK(added(second.ctx, "RateLimit-Limit") == "1");
}

TEST_CASE("rate_limit filter: two limits on a request report the most restrictive one", "[filters][rate_limit]") {
  auto wide = build("{ rate: 1/h, burst: 10, headers: true }");
  auto narrow = build("{ rate: 1/h, burst: 3, key: route, headers: true }");
  Request r;
  r.ctx.client_address = "10.0.0.1";
  CHECK(wide->filter->run(r.ctx) == Outcome::proceed);
  CHECK(narrow->filter->run(r.ctx) == Outcome::proceed);
  CHECK(count_added(r.ctx, "RateLimit-Limit") == 1);
  CHECK(added(r.ctx, "RateLimit-Limit") == "3");
  CHECK(added(r.ctx, "RateLimit-Remaining") == "2");
  Request s;
  s.ctx.client_address = "10.0.0.1";
  CHECK(narrow->filter->run(s.ctx) == Outcome::proceed);  // narrow first this time: it stays
  CHECK(wide->filter->run(s.ctx) == Outcome::proceed);
  CHECK(added(s.ctx, "RateLimit-Limit") == "3");
  CHECK(added(s.ctx, "RateLimit-Remaining") == "1");
  Request t;
  t.ctx.client_address = "10.0.0.1";
  CHECK(wide->filter->run(t.ctx) == Outcome::proceed);
  CHECK(narrow->filter->run(t.ctx) == Outcome::proceed);
  Request u;
  u.ctx.client_address = "10.0.0.1";
  CHECK(wide->filter->run(u.ctx) == Outcome::proceed);
  CHECK(narrow->filter->run(u.ctx) == Outcome::fail);  // the refusal describes the narrow limit only
  CHECK(count_added(u.ctx, "RateLimit-Limit") == 1);
  CHECK(added(u.ctx, "RateLimit-Limit") == "3");
  CHECK(added(u.ctx, "RateLimit-Remaining") == "0");
}

TEST_CASE("rate_limit filter: header, api_key and route keys", "[filters][rate_limit]") {
  auto by_header = build("{ rate: 1/h, burst: 1, key: \"header:X-User\" }");
  Request none;
  CHECK_FALSE(by_header->filter->should_filter(none.ctx));  // no header: not limited by this filter
  Request alice1, alice2, bob;
  alice1.head.fields.add("x-user", "alice");
  alice2.head.fields.add("X-USER", "alice");
  bob.head.fields.add("X-User", "bob");
  REQUIRE(by_header->filter->should_filter(alice1.ctx));
  CHECK(by_header->filter->run(alice1.ctx) == Outcome::proceed);
  CHECK(by_header->filter->run(alice2.ctx) == Outcome::fail);
  CHECK(by_header->filter->run(bob.ctx) == Outcome::proceed);

  auto by_api_key = build("{ rate: 1/h, burst: 1, key: api_key }");
  Request anonymous;
  CHECK_FALSE(by_api_key->filter->should_filter(anonymous.ctx));
  Request consumer, header_same, header_other;
  consumer.ctx.consumer = "k1";
  header_same.head.fields.add("X-Api-Key", "k1");  // no consumer set: the X-Api-Key header is the key
  header_other.head.fields.add("X-Api-Key", "k2");
  CHECK(by_api_key->filter->run(consumer.ctx) == Outcome::proceed);
  CHECK(by_api_key->filter->run(header_same.ctx) == Outcome::fail);
  CHECK(by_api_key->filter->run(header_other.ctx) == Outcome::proceed);

  // key: route is one bucket for the filter, whoever calls; global filters (no route id) too.
  for (const std::string route : {"r1", ""}) {
    auto by_route = build("{ rate: 1/h, burst: 2, key: route }", route);
    Request a, c, d;
    a.ctx.client_address = "10.0.0.1";
    c.ctx.client_address = "10.0.0.2";
    d.ctx.client_address = "10.0.0.3";
    REQUIRE(by_route->filter->should_filter(a.ctx));
    CHECK(by_route->filter->run(a.ctx) == Outcome::proceed);
    CHECK(by_route->filter->run(c.ctx) == Outcome::proceed);
    CHECK(by_route->filter->run(d.ctx) == Outcome::fail);
    CHECK(decisions(*by_route, "limited", route) == 1);
  }
}

namespace {

// A fake Redis on loopback: answers each command (one per line of its RESP array header, which is
// all these tests send) with `reply(n)` for the n-th command, or never when it returns "".
class FakeRedis {
 public:
  explicit FakeRedis(net::io_context& ioc, std::function<std::string(int, const std::string&)> reply)
      : acceptor_(ioc, {net::ip::make_address("127.0.0.1"), 0}), reply_(std::move(reply)) {
    net::co_spawn(ioc, serve(), net::detached);
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  int accepted() const { return accepted_; }
  std::vector<std::string> commands;

 private:
  net::awaitable<void> serve() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      ++accepted_;
      net::co_spawn(acceptor_.get_executor(), session(std::move(socket)), net::detached);
    }
  }
  net::awaitable<void> session(net::ip::tcp::socket socket) {
    std::string buffer;
    char chunk[4096];
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(net::buffer(chunk), net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      buffer.append(chunk, n);
      // Commands are "*N\r\n" then N "$len\r\narg\r\n": take the first arg as the command's name.
      for (;;) {
        std::size_t pos = 0;
        std::vector<std::string> args;
        if (!parse(buffer, pos, args)) break;
        buffer.erase(0, pos);
        std::string joined;
        for (const auto& a : args) joined += (joined.empty() ? "" : " ") + a;
        commands.push_back(joined);
        std::string out = reply_(static_cast<int>(commands.size()), joined);
        if (!out.empty()) co_await net::async_write(socket, net::buffer(out), net::as_tuple(net::use_awaitable));
      }
    }
  }
  static bool parse(const std::string& b, std::size_t& pos, std::vector<std::string>& args) {
    auto line = [&](std::string& out) {
      const auto end = b.find("\r\n", pos);
      if (end == std::string::npos) return false;
      out = b.substr(pos, end - pos);
      pos = end + 2;
      return true;
    };
    std::string head;
    if (!line(head) || head.empty() || head[0] != '*') return false;
    const int n = std::stoi(head.substr(1));
    for (int i = 0; i < n; ++i) {
      std::string len;
      if (!line(len)) return false;
      const auto size = static_cast<std::size_t>(std::stoi(len.substr(1)));
      if (b.size() < pos + size + 2) return false;
      args.push_back(b.substr(pos, size));
      pos += size + 2;
    }
    return true;
  }
  net::ip::tcp::acceptor acceptor_;
  std::function<std::string(int, const std::string&)> reply_;
  int accepted_ = 0;
};

template <class F>
void run_coroutine(net::io_context& ioc, F body) {
  bool finished = false;
  ioc.restart();  // a previous run may have run out of work, which stops the context
  net::co_spawn(ioc, [&]() -> net::awaitable<void> {
    co_await body();
    finished = true;
  }, net::detached);
  while (!finished && ioc.run_one_for(5s)) {
  }
  REQUIRE(finished);
}

}  // namespace

TEST_CASE("redis client: pipelined calls get their own replies, AUTH first", "[filters][rate_limit][redis]") {
  net::io_context ioc;
  FakeRedis fake(ioc, [](int n, const std::string& command) -> std::string {
    if (command.starts_with("AUTH")) return "+OK\r\n";
    return ":" + std::to_string(n) + "\r\n";
  });
  auto client = protection::redis_client(ioc.get_executor(), {"127.0.0.1", static_cast<std::uint16_t>(fake.port()), "s3cret"});
  CHECK(client == protection::redis_client(ioc.get_executor(), {"127.0.0.1", static_cast<std::uint16_t>(fake.port()), "s3cret"}));
  std::vector<long long> got(3, -1);
  run_coroutine(ioc, [&]() -> net::awaitable<void> {
    int done = 0;
    for (int i = 0; i < 3; ++i) {
      net::co_spawn(ioc, [&, i]() -> net::awaitable<void> {
        const std::string key = "k" + std::to_string(i);
        const std::string_view args[] = {"GET", key};
        auto result = co_await client->call(args, 2s);
        if (result.ok() && result.reply.type == protection::RedisReply::Type::integer) got[i] = result.reply.integer;
        ++done;
      }, net::detached);
    }
    net::steady_timer wait(ioc);
    while (done < 3) {
      wait.expires_after(1ms);
      co_await wait.async_wait(net::use_awaitable);
    }
  });
  REQUIRE(fake.commands.size() == 4);
  CHECK(fake.commands[0] == "AUTH s3cret");
  CHECK(fake.accepted() == 1);  // one connection for all three
  // Each call got the reply to its own command, whichever order the calls were written in.
  for (int i = 0; i < 3; ++i) {
    const auto at = std::find(fake.commands.begin(), fake.commands.end(), "GET k" + std::to_string(i));
    REQUIRE(at != fake.commands.end());
    CHECK(got[i] == (at - fake.commands.begin()) + 1);
  }
}

TEST_CASE("redis client: a silent server times calls out and later replies stay matched", "[filters][rate_limit][redis]") {
  net::io_context ioc;
  FakeRedis fake(ioc, [&](int n, const std::string&) -> std::string {
    if (n == 1) return "";  // the reply to command 1 comes only with command 2's
    return ":1\r\n:" + std::to_string(n) + "\r\n";
  });
  auto client = protection::redis_client(ioc.get_executor(), {"127.0.0.1", static_cast<std::uint16_t>(fake.port()), ""});
  run_coroutine(ioc, [&]() -> net::awaitable<void> {
    const std::string_view first[] = {"GET", "a"};
    const auto start = std::chrono::steady_clock::now();
    auto r1 = co_await client->call(first, 50ms);
    CHECK(r1.status == protection::RedisStatus::timeout);
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    const std::string_view second[] = {"GET", "b"};
    auto r2 = co_await client->call(second, 2s);
    REQUIRE(r2.ok());
    CHECK(r2.reply.integer == 2);  // not the late reply to the first call
  });
}

TEST_CASE("redis client and filter: an unreachable Redis fails at once, open or closed", "[filters][rate_limit][redis]") {
  // A port nobody listens on: bound, then closed.
  int port = 0;
  {
    net::io_context scratch;
    net::ip::tcp::acceptor a(scratch, {net::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  net::io_context ioc;
  auto client = protection::redis_client(ioc.get_executor(), {"127.0.0.1", static_cast<std::uint16_t>(port), ""});
  run_coroutine(ioc, [&]() -> net::awaitable<void> {
    const std::string_view ping[] = {"PING"};
    auto r1 = co_await client->call(ping, 500ms);
    CHECK(r1.status == protection::RedisStatus::down);  // refused: failed without waiting the deadline
    const auto start = std::chrono::steady_clock::now();
    auto r2 = co_await client->call(ping, 500ms);
    CHECK(r2.status == protection::RedisStatus::down);  // within the down period: no new connect
    CHECK(std::chrono::steady_clock::now() - start < 20ms);
  });
  CHECK(client->connects() == 0);

  const std::string redis_args = "{ rate: 1/s, backend: redis, redis: { address: \"127.0.0.1:" + std::to_string(port) +
                                 "\", timeout: 200ms, failure_mode: ";
  auto open = build(redis_args + "open } }");
  auto closed = build(redis_args + "closed } }");
  REQUIRE(open->filter);
  REQUIRE(closed->filter);
  Request a, b;
  a.ctx.client_address = b.ctx.client_address = "10.0.0.1";
  Outcome open_outcome = Outcome::fail, closed_outcome = Outcome::proceed;
  run_coroutine(ioc, [&]() -> net::awaitable<void> {
    open_outcome = co_await open->filter->run_async(a.ctx);
    closed_outcome = co_await closed->filter->run_async(b.ctx);
  });
  CHECK(open_outcome == Outcome::proceed);
  CHECK(a.ctx.added_response_headers.empty());
  CHECK(decisions(*open, "failed_open") == 1);
  CHECK(closed_outcome == Outcome::fail);
  CHECK(b.ctx.error.status == 503);
  CHECK(decisions(*closed, "failed_closed") == 1);
  CHECK(series(closed->metrics, "portcullis_rate_limit_backend_errors_total{route=\"r1\",backend=\"redis\"}") == 1);
}
