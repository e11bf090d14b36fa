// The data path's Redis client: pipelined calls on one connection per event loop, per-call
// deadlines, a connect watchdog and a down period after a failed connect.
#include "protection/redis_client.h"

#include <hiredis/hiredis.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "util/log.h"

namespace portcullis::protection {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
using tcp = net::ip::tcp;

RedisReply convert(const redisReply& r) {
  RedisReply out;
  switch (r.type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::string; break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::status; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::error; break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::integer; break;
    case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::array; break;
    default: out.type = RedisReply::Type::nil; break;
  }
  if (r.type == REDIS_REPLY_INTEGER) out.integer = r.integer;
  if (r.str) out.text.assign(r.str, r.len);
  if (r.type == REDIS_REPLY_ARRAY) {
    out.elements.reserve(r.elements);
    for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(convert(*r.element[i]));
  }
  return out;
}

// RESP encoding of one command, appended to `out`.
bool encode(std::span<const std::string_view> args, std::string& out) {
  constexpr std::size_t inline_args = 16;
  const char* argv_inline[inline_args];
  std::size_t lengths_inline[inline_args];
  std::vector<const char*> argv_heap;
  std::vector<std::size_t> lengths_heap;
  const char** argv = argv_inline;
  std::size_t* lengths = lengths_inline;
  if (args.size() > inline_args) {
    argv_heap.resize(args.size());
    lengths_heap.resize(args.size());
    argv = argv_heap.data();
    lengths = lengths_heap.data();
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    lengths[i] = args[i].size();
  }
  char* command = nullptr;
  const int n = redisFormatCommandArgv(&command, static_cast<int>(args.size()), argv, lengths);
  if (n < 0 || !command) return false;
  out.append(command, static_cast<std::size_t>(n));
  redisFreeCommand(command);
  return true;
}

std::chrono::nanoseconds stall_after(std::chrono::nanoseconds timeout) {
  return std::max<std::chrono::nanoseconds>(RedisClient::connect_timeout, 4 * timeout);
}

}  // namespace

std::string_view to_string(RedisStatus status) {
  switch (status) {
    case RedisStatus::ok: return "ok";
    case RedisStatus::timeout: return "timeout";
    case RedisStatus::down: return "down";
    case RedisStatus::io_error: return "io_error";
    case RedisStatus::overloaded: return "overloaded";
  }
  return "?";
}

struct RedisClient::Waiting {
  explicit Waiting(const net::any_io_executor& executor) : timer(executor) {}
  void complete(RedisStatus status, RedisReply reply = {}) {
    if (done) return;  // its caller already gave up (deadline): the reply is dropped
    done = true;
    result.status = status;
    result.reply = std::move(reply);
    timer.cancel();
  }
  net::steady_timer timer;  // the deadline, and the wake-up when the reply arrives first
  RedisResult result;
  bool done = false;
  std::chrono::steady_clock::time_point sent;
};

RedisClient::RedisClient(net::any_io_executor executor, RedisEndpoint endpoint)
    : executor_(std::move(executor)), endpoint_(std::move(endpoint)), socket_(executor_), connect_timer_(executor_),
      reader_(redisReaderCreate()), read_buffer_(16 * 1024) {}

RedisClient::~RedisClient() {
  if (reader_) redisReaderFree(reader_);
}

std::string RedisClient::address() const {
  const bool v6 = endpoint_.host.find(':') != std::string::npos;
  return (v6 ? "[" + endpoint_.host + "]" : endpoint_.host) + ":" + std::to_string(endpoint_.port);
}

net::awaitable<RedisResult> RedisClient::call(std::span<const std::string_view> args,
                                              std::chrono::nanoseconds timeout) {
  RedisResult failed;
  const auto now = std::chrono::steady_clock::now();
  // Redis answers in order, so the oldest call's age is the connection's latency: far past any
  // deadline means Redis is paused or the connection is half-open, and replies would be useless.
  if (state_ == State::connected && !waiting_.empty() && now - waiting_.front()->sent > stall_after(timeout))
    drop(RedisStatus::timeout, true, "redis stopped answering");
  if (state_ == State::down && now >= down_until_) state_ = State::idle;
  if (state_ == State::down || state_ == State::stopped) {
    failed.status = RedisStatus::down;
    co_return failed;
  }
  if (waiting_.size() >= max_waiting) {
    failed.status = RedisStatus::overloaded;
    co_return failed;
  }
  if (!encode(args, out_)) {
    failed.status = RedisStatus::io_error;
    co_return failed;
  }
  auto waiting = std::make_shared<Waiting>(executor_);
  waiting->sent = now;
  waiting_.push_back(waiting);
  if (state_ == State::idle) {
    state_ = State::connecting;
    net::co_spawn(executor_, connect(shared_from_this(), ++generation_), net::detached);
  } else if (state_ == State::connected) {
    flush();
  }
  waiting->timer.expires_after(timeout);
  if (!waiting->done) co_await waiting->timer.async_wait(use_tuple);
  // Still listed in waiting_ when the deadline won: its reply, if it comes, is read and dropped,
  // which keeps the replies of later calls matched to them.
  if (!waiting->done) waiting->complete(RedisStatus::timeout);
  co_return std::move(waiting->result);
}

void RedisClient::shutdown() {
  state_ = State::stopped;
  drop(RedisStatus::down, true, "shutdown");
}

void RedisClient::drop(RedisStatus status, bool down, std::string_view reason) {
  ++generation_;
  boost::system::error_code ignored;
  socket_.close(ignored);
  connect_timer_.cancel();
  writing_ = false;
  out_.clear();
  if (reader_) redisReaderFree(reader_);
  reader_ = redisReaderCreate();
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& w : waiting) w->complete(status);
  if (state_ == State::stopped) return;
  // Logged once per outage, not once per failed reconnect.
  if (state_ == State::connected) {
    log::warn("redis connection lost", {{"address", address()}, {"reason", reason}});
  } else if (!failing_) {
    log::warn("redis unreachable", {{"address", address()}, {"reason", reason}});
  }
  failing_ = failing_ || down;
  state_ = down ? State::down : State::idle;
  if (down) down_until_ = std::chrono::steady_clock::now() + down_time;
}

net::awaitable<void> RedisClient::connect(std::shared_ptr<RedisClient> self, std::uint64_t generation) {
  connect_expired_ = false;
  connect_timer_.expires_after(connect_timeout);
  connect_timer_.async_wait([this, self, generation](boost::system::error_code ec) {
    if (ec || generation_ != generation) return;
    connect_expired_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
  });
  std::vector<tcp::endpoint> endpoints;
  boost::system::error_code ec;
  const auto literal = net::ip::make_address(endpoint_.host, ec);
  if (!ec) {
    endpoints.emplace_back(literal, endpoint_.port);
  } else {
    tcp::resolver resolver(executor_);
    auto [rec, results] = co_await resolver.async_resolve(endpoint_.host, std::to_string(endpoint_.port), use_tuple);
    if (generation_ != generation) co_return;
    ec = rec;
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  if (endpoints.empty() && !ec) ec = net::error::host_not_found;
  for (const auto& endpoint : endpoints) {
    if (connect_expired_) break;
    socket_.close(ec);
    auto [cec] = co_await socket_.async_connect(endpoint, use_tuple);
    if (generation_ != generation) co_return;
    ec = cec;
    if (!ec) break;
  }
  if (ec || connect_expired_) {
    drop(RedisStatus::down, true, connect_expired_ ? "connect timed out" : ec.message());
    co_return;
  }
  socket_.set_option(tcp::no_delay(true), ec);
  const bool authenticated = endpoint_.password.empty() || co_await authenticate(generation);
  if (!authenticated) {
    if (generation_ == generation) drop(RedisStatus::down, true, connect_expired_ ? "AUTH timed out" : "AUTH refused");
    co_return;
  }
  if (generation_ != generation) co_return;
  connect_timer_.cancel();
  state_ = State::connected;
  failing_ = false;
  ++connects_;
  net::co_spawn(executor_, read_loop(self, generation), net::detached);
  flush();
}

// AUTH before any queued command is written, so no command runs unauthenticated.
net::awaitable<bool> RedisClient::authenticate(std::uint64_t generation) {
  std::string command;
  const std::string_view args[] = {"AUTH", endpoint_.password};
  if (!encode(args, command)) co_return false;
  auto [wec, written] = co_await net::async_write(socket_, net::buffer(command), use_tuple);
  if (wec || generation_ != generation) co_return false;
  for (;;) {
    void* reply = nullptr;
    if (redisReaderGetReply(reader_, &reply) != REDIS_OK) co_return false;
    if (reply) {
      const bool ok = static_cast<redisReply*>(reply)->type != REDIS_REPLY_ERROR;
      freeReplyObject(reply);
      co_return ok;
    }
    auto [rec, n] = co_await socket_.async_read_some(net::buffer(read_buffer_), use_tuple);
    if (rec || generation_ != generation) co_return false;
    if (redisReaderFeed(reader_, read_buffer_.data(), n) != REDIS_OK) co_return false;
  }
}

void RedisClient::flush() {
  if (state_ != State::connected || writing_ || out_.empty()) return;
  writing_ = true;
  net::co_spawn(executor_, write_loop(shared_from_this(), generation_), net::detached);
}

net::awaitable<void> RedisClient::write_loop(std::shared_ptr<RedisClient> self, std::uint64_t generation) {
  // Commands added while a write is in flight go out together in the next one: that is the
  // pipelining, with one write per batch rather than per call.
  std::string batch;
  for (;;) {
    if (generation_ != generation) co_return;  // drop() already reset writing_
    if (out_.empty()) break;
    batch.clear();
    batch.swap(out_);
    auto [ec, n] = co_await net::async_write(socket_, net::buffer(batch), use_tuple);
    if (generation_ != generation) co_return;
    if (ec) {
      drop(RedisStatus::io_error, false, ec.message());
      co_return;
    }
  }
  writing_ = false;
}

net::awaitable<void> RedisClient::read_loop(std::shared_ptr<RedisClient> self, std::uint64_t generation) {
  for (;;) {
    auto [ec, n] = co_await socket_.async_read_some(net::buffer(read_buffer_), use_tuple);
    if (generation_ != generation) co_return;
    if (ec) {
      drop(RedisStatus::io_error, false, ec == net::error::eof ? "closed by redis" : ec.message());
      co_return;
    }
    if (redisReaderFeed(reader_, read_buffer_.data(), n) != REDIS_OK) {
      drop(RedisStatus::io_error, true, "unreadable reply");
      co_return;
    }
    for (;;) {
      void* reply = nullptr;
      if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
        drop(RedisStatus::io_error, true, "unreadable reply");
        co_return;
      }
      if (!reply) break;
      if (!deliver(reply)) {
        drop(RedisStatus::io_error, true, "reply to no command");
        co_return;
      }
    }
  }
}

bool RedisClient::deliver(void* hiredis_reply) {
  auto* r = static_cast<redisReply*>(hiredis_reply);
  if (waiting_.empty()) {
    freeReplyObject(r);
    return false;
  }
  std::shared_ptr<Waiting> w = std::move(waiting_.front());
  waiting_.pop_front();
  if (!w->done) w->complete(RedisStatus::ok, convert(*r));
  freeReplyObject(r);
  return true;
}

net::execution_context::id RedisClients::id;

RedisClients::RedisClients(net::execution_context& context) : net::execution_context::service(context) {}

RedisClients::~RedisClients() = default;

void RedisClients::shutdown() {
  for (auto& [_, client] : clients_) client->shutdown();
  clients_.clear();
}

std::shared_ptr<RedisClient> RedisClients::get(const net::any_io_executor& executor, const RedisEndpoint& endpoint) {
  std::string key = endpoint.host;
  key += ':';
  key += std::to_string(endpoint.port);
  key += '\0';
  key += endpoint.password;
  auto it = clients_.find(key);
  if (it == clients_.end()) it = clients_.emplace(std::move(key), std::make_shared<RedisClient>(executor, endpoint)).first;
  return it->second;
}

std::shared_ptr<RedisClient> redis_client(const net::any_io_executor& executor, const RedisEndpoint& endpoint) {
  net::execution_context& context = net::query(executor, net::execution::context_as<net::execution_context&>);
  return net::use_service<RedisClients>(context).get(executor, endpoint);
}

}  // namespace portcullis::protection
