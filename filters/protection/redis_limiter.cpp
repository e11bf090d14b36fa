// GCRA in Redis: one EVALSHA per decision (EVAL once per connection when Redis does not know the
// script yet), pipelined on the worker's connection.
#include "filters/protection/redis_limiter.h"

#include <openssl/evp.h>

namespace portcullis::filters {
namespace {

// KEYS[1]: the bucket. ARGV[1]: emission interval (us), ARGV[2]: burst.
// Returns {allowed, remaining, retry_after_ms, reset_ms}. Redis's TIME is the one clock, so
// gateways with skewed clocks still share a limit exactly. The key expires when its bucket is full
// again: an idle key costs no memory. replicate_commands lets Redis < 5 replicate the SET made
// after TIME (a no-op since Redis 5).
constexpr const char* gcra_lua = R"lua(if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local next_tat = tat + interval
local excess = next_tat - now - tolerance
if excess > 0 then
  return {0, 0, math.ceil(excess / 1000), math.ceil((tat - now) / 1000)}
end
local ttl = math.ceil((next_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', ttl)
return {1, math.floor((tolerance - (next_tat - now)) / interval), 0, ttl}
)lua";

std::string sha1_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha1(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

bool read_verdict(const protection::RedisReply& reply, GcraDecision& d) {
  using Type = protection::RedisReply::Type;
  if (reply.type != Type::array || reply.elements.size() != 4) return false;
  for (const auto& e : reply.elements)
    if (e.type != Type::integer) return false;
  constexpr std::int64_t ms = 1'000'000;
  d.allowed = reply.elements[0].integer == 1;
  d.remaining = reply.elements[1].integer;
  d.retry_after_ns = reply.elements[2].integer * ms;
  d.reset_ns = reply.elements[3].integer * ms;
  return true;
}

}  // namespace

const std::string& RedisLimiter::script() {
  static const std::string text = gcra_lua;
  return text;
}

const std::string& RedisLimiter::script_sha() {
  static const std::string sha = sha1_hex(script());
  return sha;
}

RedisLimiter::RedisLimiter(protection::RedisEndpoint endpoint, std::chrono::nanoseconds timeout, GcraLimit limit)
    : endpoint_(std::move(endpoint)), timeout_(timeout),
      interval_us_(std::to_string(std::max<std::int64_t>(1, (limit.interval_ns + 500) / 1000))),
      burst_(std::to_string(limit.burst)) {}

boost::asio::awaitable<RedisVerdict> RedisLimiter::decide(const boost::asio::any_io_executor& executor,
                                                          std::string_view key) const {
  RedisVerdict verdict;
  auto client = protection::redis_client(executor, endpoint_);
  const std::string_view evalsha[] = {"EVALSHA", script_sha(), "1", key, interval_us_, burst_};
  protection::RedisResult result = co_await client->call(evalsha, timeout_);
  // A Redis that restarted or had SCRIPT FLUSH forgot the script: EVAL loads it again, after which
  // EVALSHA works for every connection.
  if (result.ok() && result.reply.type == protection::RedisReply::Type::error &&
      result.reply.text.starts_with("NOSCRIPT")) {
    const std::string_view eval[] = {"EVAL", script(), "1", key, interval_us_, burst_};
    result = co_await client->call(eval, timeout_);
  }
  if (!result.ok()) {
    verdict.failure = protection::to_string(result.status);
    co_return verdict;
  }
  if (!read_verdict(result.reply, verdict.decision)) {
    verdict.failure = "unexpected reply";
    co_return verdict;
  }
  verdict.ok = true;
  co_return verdict;
}

}  // namespace portcullis::filters
