// In-memory peers for the data path's unit tests: byte pipes that stand in for sockets, a client
// side (TestDownstream, the Exchange's Downstream) that records the response it is given, and
// origins that are coroutines on the other end of a pipe (MemoryConnector). Everything runs on one
// io_context in the test's thread: no sockets, no timing.
#pragma once
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/snapshot.h"
#include "http/downstream.h"
#include "http/parser.h"
#include "http/stream.h"
#include "http/upstream_connect.h"
#include "http/upstream_pool.h"
#include "http/watchdog.h"
#include "util/awaitable.h"

namespace http_support {

namespace net = boost::asio;
using namespace portcullis;

// A condition to wait on: notify() wakes every coroutine waiting in wait().
class Signal {
 public:
  explicit Signal(net::io_context& ioc) : timer_(ioc) {}
  net::awaitable<void> wait() {
    timer_.expires_at(net::steady_timer::time_point::max());
    co_await timer_.async_wait(use_tuple);
  }
  void notify() { timer_.cancel(); }

 private:
  net::steady_timer timer_;
};

// One direction of a connection. `capacity` bounds what may sit unread: a writer waits for room,
// which is how back-pressure shows up in a test.
struct Pipe {
  Pipe(net::io_context& ioc, std::size_t capacity) : readable(ioc), writable(ioc), capacity(capacity) {}
  std::string data;
  bool eof = false;    // the writer ended its side
  bool reset = false;  // the connection is gone: both sides fail
  std::size_t written = 0;  // bytes ever written
  Signal readable, writable;
  std::size_t capacity;
};

// One end of an in-memory connection.
class MemoryEnd final : public http::ByteTransport {
 public:
  MemoryEnd(std::shared_ptr<Pipe> in, std::shared_ptr<Pipe> out) : in_(std::move(in)), out_(std::move(out)) {}

  net::awaitable<std::size_t> read_some(char* data, std::size_t size, boost::system::error_code& ec) override {
    while (in_->data.empty() && !in_->eof && !in_->reset) co_await in_->readable.wait();
    if (in_->reset) {
      ec = net::error::connection_reset;
      co_return 0;
    }
    if (in_->data.empty()) {
      ec = net::error::eof;
      co_return 0;
    }
    const std::size_t n = std::min(size, in_->data.size());
    std::memcpy(data, in_->data.data(), n);
    in_->data.erase(0, n);
    in_->writable.notify();
    co_return n;
  }
  net::awaitable<bool> write(std::span<const net::const_buffer> buffers) override {
    for (const auto& b : buffers) {
      std::string_view bytes(static_cast<const char*>(b.data()), b.size());
      while (!bytes.empty()) {
        if (out_->reset || out_->eof) co_return false;
        if (out_->data.size() >= out_->capacity) {
          co_await out_->writable.wait();
          continue;
        }
        const std::size_t n = std::min(bytes.size(), out_->capacity - out_->data.size());
        out_->data.append(bytes.substr(0, n));
        out_->written += n;
        bytes.remove_prefix(n);
        out_->readable.notify();
      }
    }
    co_return true;
  }
  void close() override {
    in_->reset = out_->reset = true;
    in_->readable.notify();
    out_->readable.notify();
    in_->writable.notify();
    out_->writable.notify();
  }
  void shutdown_send() override {
    out_->eof = true;
    out_->readable.notify();
  }
  bool is_open() const override { return !in_->reset; }
  // Test helpers for the scripted side.
  net::awaitable<std::string> read_until(std::string_view marker) {
    std::string got;
    char buf[4096];
    while (got.find(marker) == std::string::npos) {
      boost::system::error_code ec;
      const std::size_t n = co_await read_some(buf, sizeof(buf), ec);
      if (ec) break;
      got.append(buf, n);
    }
    co_return got;
  }
  net::awaitable<std::string> read_exactly(std::size_t n) {
    std::string got;
    char buf[4096];
    while (got.size() < n) {
      boost::system::error_code ec;
      const std::size_t k = co_await read_some(buf, std::min(sizeof(buf), n - got.size()), ec);
      if (ec) break;
      got.append(buf, k);
    }
    co_return got;
  }
  net::awaitable<bool> send(std::string_view text) {
    const std::array<net::const_buffer, 1> b{net::buffer(text.data(), text.size())};
    co_return co_await write(b);
  }
  const Pipe& outgoing() const { return *out_; }

 private:
  std::shared_ptr<Pipe> in_, out_;
};

// Two connected ends: what one writes the other reads.
inline std::pair<std::shared_ptr<MemoryEnd>, std::shared_ptr<MemoryEnd>> memory_pair(net::io_context& ioc,
                                                                                       std::size_t capacity = 1 << 30) {
  auto a_to_b = std::make_shared<Pipe>(ioc, capacity);
  auto b_to_a = std::make_shared<Pipe>(ioc, capacity);
  return {std::make_shared<MemoryEnd>(b_to_a, a_to_b), std::make_shared<MemoryEnd>(a_to_b, b_to_a)};
}

// A ByteTransport that forwards to a shared MemoryEnd (the Stream owns its transport; the test
// keeps a handle on the same end).
class SharedEnd final : public http::ByteTransport {
 public:
  explicit SharedEnd(std::shared_ptr<MemoryEnd> end) : end_(std::move(end)) {}
  net::awaitable<std::size_t> read_some(char* d, std::size_t n, boost::system::error_code& ec) override {
    co_return co_await end_->read_some(d, n, ec);
  }
  net::awaitable<bool> write(std::span<const net::const_buffer> b) override { co_return co_await end_->write(b); }
  void close() override { end_->close(); }
  void shutdown_send() override { end_->shutdown_send(); }
  bool is_open() const override { return end_->is_open(); }

 private:
  std::shared_ptr<MemoryEnd> end_;
};

// Origins by instance address: each new connection to an address runs its script on the origin
// end. An address without a script refuses connections.
class MemoryConnector final : public http::Connector {
 public:
  using Script = std::function<net::awaitable<void>(std::shared_ptr<MemoryEnd>)>;
  explicit MemoryConnector(net::io_context& ioc) : ioc_(ioc) {}
  void origin(const std::string& address, Script script, std::size_t capacity = 1 << 30) {
    origins_[address] = {std::move(script), capacity};
  }
  int connections(const std::string& address) const {
    auto it = counts_.find(address);
    return it == counts_.end() ? 0 : it->second;
  }
  std::vector<std::shared_ptr<MemoryEnd>> ends;  // the origin ends, in connection order

  net::awaitable<Error> connect(const Instance& instance, const Service&, http::Watchdog&,
                                std::chrono::steady_clock::time_point,
                                std::shared_ptr<http::UpstreamConnection>& out) override {
    ++counts_[instance.address];
    auto it = origins_.find(instance.address);
    if (it == origins_.end())
      co_return Error{ErrorKind::connect_failed, ErrorSource::upstream, 0, "cannot connect to " + instance.address, true};
    auto [gateway_end, origin_end] = memory_pair(ioc_, it->second.capacity);
    out = std::make_shared<http::UpstreamConnection>(ioc_, std::make_unique<SharedEnd>(gateway_end));
    out->instance_id = instance.id;
    ends.push_back(origin_end);
    net::co_spawn(ioc_, it->second.script(origin_end), net::detached);
    co_return Error{};
  }

 private:
  struct Origin {
    Script script;
    std::size_t capacity;
  };
  net::io_context& ioc_;
  std::map<std::string, Origin> origins_;
  std::map<std::string, int> counts_;
};

// The client side of an exchange: a parsed request, its body handed out in pieces (all at once,
// or one more piece each time the test calls give_body()), and the response it was sent.
class TestDownstream final : public http::Downstream {
 public:
  TestDownstream(net::io_context& ioc, std::string head, std::vector<std::string> body = {}, bool body_buffered = false)
      : text_(std::move(head)), body_(body.begin(), body.end()), buffered_(body_buffered), watchdog_(ioc),
        stream_(ioc, std::make_unique<SharedEnd>(memory_pair(ioc).first)), more_(ioc), gate_(ioc) {
    const auto r = http::parse_request_head(text_, {}, head_);
    if (r.status != http::ParseStatus::complete) throw std::runtime_error("test request does not parse");
    peer_bytes_[10] = peer_bytes_[11] = 0xff;
    peer_bytes_[12] = 127;
    peer_bytes_[15] = 1;
    peer_.address = "127.0.0.1";
    peer_.bytes = &peer_bytes_;
    for (const auto& p : body_) whole_ += p;
  }

  // The body pieces are handed out only as the test gives them (after the first `available`).
  void hold_body(std::size_t available) { available_ = available; }
  void give_body() {
    ++available_;
    more_.notify();
  }
  // The sink blocks until open_sink(): back-pressure from a slow client.
  void close_sink() { sink_open_ = false; }
  void open_sink() {
    sink_open_ = true;
    gate_.notify();
  }

  // What the client received.
  int status = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  std::int64_t content_length = -1;
  bool bodiless = false, close = false, ended = false, server_header = false;
  std::string request_id, via;
  std::string body;
  std::vector<int> informational;
  std::size_t writes = 0;  // send_body/end calls that carried bytes
  std::string field(const std::string& name) const {
    for (const auto& [n, v] : fields)
      if (http::iequals(n, name)) return v;
    return {};
  }
  std::size_t body_pieces_read = 0;

  http::RequestHead& head() override { return head_; }
  std::string_view head_bytes() const override { return text_; }
  const http::Peer& peer() const override { return peer_; }
  http::Watchdog& watchdog() override { return watchdog_; }
  bool client_open() const override { return true; }
  bool body_pending() const override { return !body_.empty(); }
  std::optional<std::string_view> buffered_body() const override {
    if (!buffered_ || !head_.has_content_length) return std::nullopt;
    return std::string_view(whole_);
  }
  void consume_buffered_body() override {
    if (buffered_) body_.clear();
  }
  void rewind_body() override {
    if (!buffered_) return;
    body_.assign(1, whole_);
  }
  net::awaitable<std::string_view> read_body(Context& ctx, boost::system::error_code& ec) override {
    while (!body_.empty() && body_pieces_read >= available_) co_await more_.wait();
    if (body_.empty()) co_return std::string_view{};
    current_ = std::move(body_.front());
    body_.pop_front();
    ++body_pieces_read;
    ctx.request_body_bytes += current_.size();
    co_return std::string_view(current_);
  }
  net::awaitable<bool> send_informational(const http::ResponseHead& h, std::string_view) override {
    informational.push_back(h.status);
    co_return true;
  }
  void send_head(const http::ResponseStart& start) override {
    status = start.status;
    fields.clear();
    for (const auto& f : start.fields->items()) fields.emplace_back(std::string(f.name), std::string(f.value));
    content_length = start.content_length;
    bodiless = start.bodiless;
    close = start.close;
    server_header = start.server_header;
    request_id = std::string(start.request_id);
    via = std::string(start.via);
  }
  net::awaitable<bool> send_body(std::span<const std::string_view> pieces, bool last) override {
    while (!sink_open_) co_await gate_.wait();
    for (auto p : pieces) body.append(p);
    if (!pieces.empty()) ++writes;
    started_ = true;
    ended = ended || last;
    co_return true;
  }
  net::awaitable<bool> end() override {
    started_ = true;
    ended = true;
    co_return true;
  }
  bool response_started() const override { return started_; }
  net::awaitable<void> tunnel(Context&, http::UpstreamConnection&, std::string_view, std::string_view) override {
    co_return;
  }

 private:
  std::string text_;
  http::RequestHead head_;
  std::deque<std::string> body_;
  std::string whole_;
  std::string current_;
  bool buffered_;
  std::size_t available_ = SIZE_MAX;
  http::Peer peer_;
  std::array<std::uint8_t, 16> peer_bytes_{};
  http::Watchdog watchdog_;
  http::Stream stream_;
  Signal more_, gate_;
  bool sink_open_ = true;
  bool started_ = false;
};

// Reads one request (head, then a Content-Length body) from an origin end; "" at end of stream.
inline net::awaitable<std::string> read_request(MemoryEnd& end) {
  std::string head = co_await end.read_until("\r\n\r\n");
  const auto at = head.find("\r\n\r\n");
  if (at == std::string::npos) co_return std::string();
  std::string rest = head.substr(at + 4);
  head.resize(at + 4);
  std::size_t length = 0;
  for (std::string_view name : {"Content-Length: ", "content-length: "})
    if (auto p = head.find(name); p != std::string::npos) length = std::stoul(head.substr(p + name.size()));
  if (rest.size() < length) rest += co_await end.read_exactly(length - rest.size());
  co_return head + rest;
}

}  // namespace http_support
