// An asynchronous Redis client for the data path (the rate_limit filter's `redis` backend): one
// connection per event loop and Redis address, every call pipelined on it, a deadline per call, and
// no reconnect storm: a failed connect marks the client down for a second, during which calls fail
// at once. hiredis is used only to encode commands and parse replies (RESP); the I/O is Asio's.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

struct redisReader;  // hiredis, kept out of this header so installed headers do not need it

namespace portcullis::protection {

namespace net = boost::asio;

struct RedisReply {
  enum class Type { nil, status, error, integer, string, array };
  Type type = Type::nil;
  long long integer = 0;
  std::string text;  // status, error or string
  std::vector<RedisReply> elements;
};

enum class RedisStatus {
  ok,          // a reply arrived (it may be a Redis error reply)
  timeout,     // no reply within the call's deadline
  down,        // not connected: the last connect failed less than a second ago, or shut down
  io_error,    // the connection broke before the reply
  overloaded,  // too many calls already waiting on this connection
};
std::string_view to_string(RedisStatus status);

struct RedisResult {
  RedisStatus status = RedisStatus::ok;
  RedisReply reply;
  bool ok() const { return status == RedisStatus::ok; }
};

struct RedisEndpoint {
  std::string host;  // IP literal or a name (resolved on connect)
  std::uint16_t port = 6379;
  std::string password;  // AUTH on connect when not empty; never logged
};

class RedisClient : public std::enable_shared_from_this<RedisClient> {
 public:
  // A connect (resolve, TCP, AUTH) gets this long; a failed one keeps the client down as long.
  static constexpr std::chrono::milliseconds connect_timeout{1000};
  static constexpr std::chrono::milliseconds down_time{1000};
  static constexpr std::size_t max_waiting = 4096;

  RedisClient(net::any_io_executor executor, RedisEndpoint endpoint);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Sends one command and awaits its reply or the deadline. Calls from any number of coroutines on
  // the client's event loop share the connection, in order. Never throws.
  net::awaitable<RedisResult> call(std::span<const std::string_view> args, std::chrono::nanoseconds timeout);

  // Closes the connection and fails every waiting call; the client refuses calls afterwards.
  void shutdown();

  bool connected() const { return state_ == State::connected; }
  std::uint64_t connects() const { return connects_; }  // successful connects, for tests
  std::string address() const;  // host:port, for logs

 private:
  enum class State { idle, connecting, connected, down, stopped };
  struct Waiting;

  net::awaitable<void> connect(std::shared_ptr<RedisClient> self, std::uint64_t generation);
  net::awaitable<void> read_loop(std::shared_ptr<RedisClient> self, std::uint64_t generation);
  net::awaitable<void> write_loop(std::shared_ptr<RedisClient> self, std::uint64_t generation);
  net::awaitable<bool> authenticate(std::uint64_t generation);
  void flush();
  // Ends the connection: every waiting call fails with `status`. `down` keeps the client from
  // reconnecting for down_time.
  void drop(RedisStatus status, bool down, std::string_view reason);
  bool deliver(void* hiredis_reply);  // false when a reply arrived that nobody asked for

  net::any_io_executor executor_;
  RedisEndpoint endpoint_;
  net::ip::tcp::socket socket_;
  net::steady_timer connect_timer_;
  State state_ = State::idle;
  std::uint64_t generation_ = 0;  // bumped per connection, so a stale coroutine leaves quietly
  std::chrono::steady_clock::time_point down_until_{};
  std::deque<std::shared_ptr<Waiting>> waiting_;  // in the order their commands were written
  std::string out_;                               // encoded commands not yet handed to the socket
  bool writing_ = false;
  bool connect_expired_ = false;  // the watchdog closed the socket of the connect in progress
  bool failing_ = false;          // an outage was logged; the next is logged after a connect
  redisReader* reader_ = nullptr;
  std::vector<char> read_buffer_;
  std::uint64_t connects_ = 0;
};

// The clients of one event loop, one per endpoint, kept as an Asio service of that loop: they live
// as long as the loop (across config reloads) and are shut down with it, so no client outlives the
// io_context its socket belongs to.
class RedisClients : public net::execution_context::service {
 public:
  using key_type = RedisClients;
  static net::execution_context::id id;

  explicit RedisClients(net::execution_context& context);
  ~RedisClients() override;

  // The client for `endpoint` on the event loop of `executor` (created on first use).
  std::shared_ptr<RedisClient> get(const net::any_io_executor& executor, const RedisEndpoint& endpoint);

 private:
  void shutdown() override;
  std::unordered_map<std::string, std::shared_ptr<RedisClient>> clients_;  // by host:port and password
};

// The client for `endpoint` on the calling coroutine's event loop.
std::shared_ptr<RedisClient> redis_client(const net::any_io_executor& executor, const RedisEndpoint& endpoint);

}  // namespace portcullis::protection
