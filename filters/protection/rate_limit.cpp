// rate_limit: a pre filter that refuses requests over a rate with 429 and Retry-After. GCRA keeps
// one timestamp per key; the `local` backend keeps it in a lock-free table shared by this process's
// workers, the `redis` backend in Redis, shared by every gateway using it (an async call per
// request, pipelined on the worker's connection, with a deadline and a failure mode).
//
//   filters:
//     - name: rate_limit
//       args: { key: ip, rate: 100/s, burst: 200, headers: true }
#include "filters/protection/rate_limit.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

#include <boost/asio/this_coro.hpp>

#include <yaml-cpp/yaml.h>

#include "canary/canary.h"
#include "config/config.h"
#include "config/runtime_state.h"
#include "filters/protection/gcra_table.h"
#include "filters/protection/redis_limiter.h"
#include "http/parser.h"
#include "observability/metrics.h"
#include "util/units.h"

namespace portcullis::filters {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;

constexpr int default_order = 20;  // after authentication filters (which set ctx.consumer), before the rest
constexpr std::int64_t ns_per_second = 1'000'000'000;

constexpr std::string_view limit_header = "RateLimit-Limit";
constexpr std::string_view remaining_header = "RateLimit-Remaining";
constexpr std::string_view reset_header = "RateLimit-Reset";

enum class KeyForm { ip, header, api_key, route };

struct Settings {
  KeyForm form = KeyForm::ip;
  std::string header;        // lower case (KeyForm::header)
  std::string form_text = "ip";  // part of the Redis key, so two filters keyed differently never meet
  GcraLimit limit;
  bool headers = false;
  std::size_t max_keys = 65536;
  bool redis = false;
  protection::RedisEndpoint endpoint;
  std::chrono::nanoseconds timeout = 50ms;
  bool fail_open = true;
  std::string prefix = "portcullis:rl:";
};

struct Counters {
  observability::CounterId allowed, limited, failed_open, failed_closed, backend_errors;
};

std::int64_t ceil_seconds(std::int64_t ns) { return (std::max<std::int64_t>(ns, 0) + ns_per_second - 1) / ns_per_second; }

// Small integers go into the request's arena: no heap allocation per request.
std::string_view kept_number(Context& ctx, std::int64_t n) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  return ctx.keep(std::string_view(buf, static_cast<std::size_t>(end - buf)));
}

bool is_rate_header(const std::pair<std::string_view, std::string_view>& field) {
  return field.first == limit_header || field.first == remaining_header || field.first == reset_header;
}

// Local buckets outlive a reload: the filter built for the new config takes the table of the one
// it replaces when route, key form, rate, burst and table size are the same (so a reload never
// lets a client's burst through again). Control thread only, when filters are built.
std::shared_ptr<GcraTable> shared_table(RuntimeState& state, const std::string& key, std::size_t max_keys,
                                        GcraLimit limit) {
  return state.filter_state<GcraTable>("rate_limit", key, [&] { return std::make_shared<GcraTable>(max_keys, limit); });
}

class RateLimitFilter final : public Filter {
 public:
  RateLimitFilter(Settings s, std::string route_id, RuntimeState& state, Counters counters)
      : Filter("rate_limit", FilterType::pre, default_order), form_(s.form), header_(std::move(s.header)),
        route_id_(std::move(route_id)), route_hash_(canary::hash_key(route_id_)), headers_(s.headers),
        fail_open_(s.fail_open), limit_text_(std::to_string(s.limit.burst)), metrics_(&state.metrics()), counters_(counters) {
    if (s.redis) {
      redis_ = std::make_unique<RedisLimiter>(std::move(s.endpoint), s.timeout, s.limit);
      // <prefix><route>:<key form>:<key>; the route keeps two routes' limits apart, the form two
      // filters keyed differently on one route.
      redis_key_prefix_ = s.prefix + route_id_ + ":" + s.form_text + ":";
    } else {
      table_ = shared_table(state, route_id_ + "|" + s.form_text + "|" + std::to_string(s.limit.interval_ns) + "|" +
                                std::to_string(s.limit.burst) + "|" + std::to_string(s.max_keys),
                            s.max_keys, s.limit);
    }
  }

  // No key, no limit: a request without the header (or API key) is not counted by this filter.
  bool should_filter(const Context& ctx) const override { return form_ == KeyForm::route || !key_of(ctx).empty(); }

  Outcome run(Context& ctx) const override {
    if (!table_) return backend_failed(ctx);  // the redis backend is only ever awaited (is_async)
    const std::uint64_t hash = form_ == KeyForm::route ? route_hash_ : canary::hash_key(key_of(ctx));
    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
    return apply(ctx, table_->decide(hash, now));
  }

  bool is_async() const override { return redis_ != nullptr; }

  net::awaitable<Outcome> run_async(Context& ctx) const override {
    std::string key = redis_key_prefix_;
    if (form_ != KeyForm::route) key += key_of(ctx);
    const auto executor = co_await net::this_coro::executor;
    const RedisVerdict verdict = co_await redis_->decide(executor, key);
    if (verdict.ok) co_return apply(ctx, verdict.decision);
    co_return backend_failed(ctx);
  }

 private:
  std::string_view key_of(const Context& ctx) const {
    switch (form_) {
      case KeyForm::ip: return ctx.client_address;
      case KeyForm::header: return ctx.request->fields.get(header_);
      case KeyForm::api_key: return !ctx.consumer.empty() ? ctx.consumer : ctx.request->fields.get("x-api-key");
      case KeyForm::route: return route_id_;
    }
    return {};
  }

  Outcome apply(Context& ctx, const GcraDecision& d) const {
    observability::Shard& shard = metrics_->shard(ctx.worker);
    if (d.allowed) {
      shard.inc(counters_.allowed);
      if (headers_) put_rate_headers(ctx, d, false);
      return Outcome::proceed;
    }
    shard.inc(counters_.limited);
    put_rate_headers(ctx, d, true);
    ctx.added_response_headers.emplace_back("Retry-After",
                                            kept_number(ctx, std::max<std::int64_t>(1, ceil_seconds(d.retry_after_ns))));
    ctx.error = {ErrorKind::rejected, ErrorSource::downstream, 429, "rate limit exceeded", false};
    return Outcome::fail;
  }

  // With several rate_limit filters on a request the response describes the most restrictive
  // limit (fewest remaining), and a refusal the limit that refused.
  void put_rate_headers(Context& ctx, const GcraDecision& d, bool limited) const {
    auto& fields = ctx.added_response_headers;
    auto other = std::find_if(fields.begin(), fields.end(), [](const auto& f) { return f.first == remaining_header; });
    if (other != fields.end()) {
      std::int64_t theirs = 0;
      std::from_chars(other->second.data(), other->second.data() + other->second.size(), theirs);
      if (!limited && theirs <= d.remaining) return;
      std::erase_if(fields, is_rate_header);
    }
    fields.emplace_back(limit_header, limit_text_);
    fields.emplace_back(remaining_header, kept_number(ctx, d.remaining));
    fields.emplace_back(reset_header, kept_number(ctx, ceil_seconds(d.reset_ns)));
  }

  // Redis unreachable, too slow or answering nonsense: fail open (let the request through) or closed
  // (503, like the gateway's other "cannot serve now" answers, with the shedding Retry-After).
  Outcome backend_failed(Context& ctx) const {
    observability::Shard& shard = metrics_->shard(ctx.worker);
    shard.inc(counters_.backend_errors);
    if (fail_open_) {
      shard.inc(counters_.failed_open);
      return Outcome::proceed;
    }
    shard.inc(counters_.failed_closed);
    ctx.error = {ErrorKind::unavailable, ErrorSource::internal, 503, "rate limit backend unavailable", true};
    return Outcome::fail;
  }

  KeyForm form_;
  std::string header_;
  std::string route_id_;
  std::uint64_t route_hash_;
  bool headers_;
  bool fail_open_;
  std::string limit_text_;  // RateLimit-Limit: lives as long as the snapshot, so no copy per request
  std::shared_ptr<GcraTable> table_;
  std::unique_ptr<RedisLimiter> redis_;
  std::string redis_key_prefix_;
  observability::Registry* metrics_;
  Counters counters_;
};

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

void read_key(FilterArgs& args, Settings& s) {
  const auto key = args.string("key");
  if (!key) return;
  s.form_text = *key;
  if (*key == "ip") {
    s.form = KeyForm::ip;
  } else if (*key == "api_key") {
    s.form = KeyForm::api_key;
  } else if (*key == "route") {
    s.form = KeyForm::route;
  } else if (key->starts_with("header:")) {
    s.form = KeyForm::header;
    s.header = std::string(trim(std::string_view(*key).substr(7)));
    bool token = !s.header.empty();
    for (unsigned char c : s.header) token = token && http::is_token_char(c);
    if (!token) args.error("key", "header:NAME needs a valid header name");
    std::transform(s.header.begin(), s.header.end(), s.header.begin(), [](unsigned char c) { return std::tolower(c); });
    s.form_text = "header:" + s.header;
  } else {
    args.error("key", "expected ip, header:NAME, api_key or route");
  }
}

void read_redis(FilterArgs& redis, Settings& s) {
  if (const auto address = redis.string("address", true)) {
    const auto parsed = parse_listen_address(*address);
    if (!parsed || parsed->port == 0) {
      redis.error("address", "expected host:port (e.g. 127.0.0.1:6379)");
    } else {
      s.endpoint.host = parsed->host;
      s.endpoint.port = parsed->port;
    }
  }
  if (const auto timeout = redis.duration("timeout", Duration{1}, std::chrono::hours(1))) s.timeout = *timeout;
  if (const auto mode = redis.string("failure_mode")) {
    if (*mode == "open" || *mode == "closed") s.fail_open = *mode == "open";
    else redis.error("failure_mode", "expected open or closed");
  }
  if (const auto prefix = redis.string("prefix")) s.prefix = *prefix;
  if (const auto password = redis.string("password")) s.endpoint.password = *password;  // never echoed in errors
  redis.finish();
}

}  // namespace

std::optional<Rate> parse_rate(std::string_view text) {
  text = trim(text);
  double unit_seconds = 1;
  const auto slash = text.find('/');
  const std::string_view number = trim(text.substr(0, slash));
  if (slash != std::string_view::npos) {
    const std::string_view unit = trim(text.substr(slash + 1));
    if (unit == "s") unit_seconds = 1;
    else if (unit == "m") unit_seconds = 60;
    else if (unit == "h") unit_seconds = 3600;
    else return std::nullopt;
  }
  double count = 0;
  const char* end = number.data() + number.size();
  const auto [ptr, ec] = std::from_chars(number.data(), end, count);
  if (number.empty() || ec != std::errc() || ptr != end || !std::isfinite(count) || count <= 0) return std::nullopt;
  const double interval = unit_seconds * 1e9 / count;
  if (!(interval >= 1.0 && interval <= 100.0 * 86400 * 1e9)) return std::nullopt;
  return Rate{count / unit_seconds, std::llround(interval)};
}

std::unique_ptr<Filter> make_rate_limit(FilterBuild& build) {
  FilterArgs& args = build.args;
  Settings s;
  read_key(args, s);
  std::optional<Rate> rate;
  if (const auto text = args.string("rate", true)) {
    rate = parse_rate(*text);
    if (!rate) args.error("rate", "expected a positive rate such as 100/s, 6000/m, 10/h or 100 (per second)");
  }
  const auto burst = args.integer("burst", 1, 1'000'000'000);
  s.headers = args.boolean("headers").value_or(false);
  const auto max_keys = args.integer("max_keys", 1, 1 << 24);
  const auto backend = args.string("backend");
  if (backend && *backend != "local" && *backend != "redis") args.error("backend", "expected local or redis");
  s.redis = backend && *backend == "redis";
  const bool has_redis_block = static_cast<bool>(args.node("redis"));
  FilterArgs redis = args.map("redis");
  if (s.redis && !has_redis_block) args.error("backend", "backend: redis needs a redis block with an address");
  if (!s.redis && has_redis_block) args.error("redis", "only with backend: redis");
  if (s.redis && max_keys) args.error("max_keys", "only applies to backend: local");
  if (has_redis_block) read_redis(redis, s);
  if (max_keys) s.max_keys = static_cast<std::size_t>(*max_keys);
  if (!rate) return nullptr;

  s.limit.interval_ns = rate->interval_ns;
  s.limit.burst = burst.value_or(std::max<std::int64_t>(1, static_cast<std::int64_t>(std::floor(rate->per_second))));
  s.limit.burst = std::min<std::int64_t>(s.limit.burst, 1'000'000'000);
  // burst x interval is the bucket's depth in time; it must fit the nanosecond clock with room to add.
  if (s.limit.burst > (std::int64_t{1} << 62) / s.limit.interval_ns)
    args.error("burst", "burst / rate is too long a time (over a century)");
  if (s.redis && s.limit.interval_ns < 1000) args.error("rate", "the redis backend counts in microseconds: at most 1000000/s");

  observability::Registry& metrics = build.metrics();
  auto decisions = [&](const char* result) {
    return metrics.counter("portcullis_rate_limit_decisions_total", "Rate limit decisions, by result.",
                           {{"route", build.route_id}, {"result", result}});
  };
  Counters counters{decisions("allowed"), decisions("limited"), decisions("failed_open"), decisions("failed_closed"), {}};
  if (s.redis)
    counters.backend_errors =
        metrics.counter("portcullis_rate_limit_backend_errors_total",
                        "Rate limit backend calls that failed (unreachable, timed out, bad reply).",
                        {{"route", build.route_id}, {"backend", "redis"}});
  return std::make_unique<RateLimitFilter>(std::move(s), build.route_id, build.state, counters);
}

}  // namespace portcullis::filters
