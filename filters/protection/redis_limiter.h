// The rate_limit filter's `redis` backend: GCRA as one atomic Lua script on Redis's own clock, so
// every gateway process sharing the Redis shares each limit.
#pragma once
#include <chrono>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "filters/protection/gcra_table.h"
#include "protection/redis_client.h"

namespace portcullis::filters {

struct RedisVerdict {
  bool ok = false;           // false: Redis could not decide (unreachable, deadline, error reply)
  std::string_view failure;  // why not, for the log ("timeout", "down", "script error", ...)
  GcraDecision decision;
};

class RedisLimiter {
 public:
  static const std::string& script();  // the Lua source (EVAL's first argument)
  static const std::string& script_sha();  // its SHA-1 in hex (EVALSHA's)

  // The limit is sent to Redis in microseconds (Lua numbers are doubles: nanoseconds since the
  // epoch would lose precision), so the interval must be at least 1 us.
  RedisLimiter(protection::RedisEndpoint endpoint, std::chrono::nanoseconds timeout, GcraLimit limit);

  // One decision for `key` (the full Redis key), on the calling coroutine's event loop.
  boost::asio::awaitable<RedisVerdict> decide(const boost::asio::any_io_executor& executor, std::string_view key) const;

  const protection::RedisEndpoint& endpoint() const { return endpoint_; }

 private:
  protection::RedisEndpoint endpoint_;
  std::chrono::nanoseconds timeout_;
  std::string interval_us_;
  std::string burst_;
};

}  // namespace portcullis::filters
