// The downstream connection loop: wait for a request, read its head, run the exchange, repeat.
#include "http/session.h"

#include <sys/socket.h>

#include <cctype>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/server.h"
#include "core/worker.h"
#include "routing/path.h"
#include "tls/tls.h"
#include "util/log.h"

namespace portcullis {

using namespace std::chrono_literals;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

Session::Session(Worker& worker, tcp::socket socket, std::shared_ptr<const tls::ServerContext> tls)
    : worker_(worker), stream_(std::move(socket)), socket_(stream_.socket()), tls_(std::move(tls)),
      timer_(worker.context()) {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  auto remote = socket_.remote_endpoint(ec);
  if (!ec) {
    auto address = remote.address();
    peer_ = address.to_string();
    if (address.is_v4()) {
      auto b = address.to_v4().to_bytes();
      peer_bytes_[10] = peer_bytes_[11] = 0xff;
      std::copy(b.begin(), b.end(), peer_bytes_.begin() + 12);
    } else {
      auto b = address.to_v6().to_bytes();
      std::copy(b.begin(), b.end(), peer_bytes_.begin());
    }
  }
  registration_ = worker_.add_session(this);
}

Session::~Session() { worker_.remove_session(registration_); }

void Session::start(Worker& worker, tcp::socket socket, std::shared_ptr<const tls::ServerContext> tls) {
  std::make_shared<Session>(worker, std::move(socket), std::move(tls))->spawn();
}

void Session::wake_if_idle() {
  if (idle_) {
    boost::system::error_code ec;
    socket_.cancel(ec);
  }
}

void Session::park_if_idle(std::uint64_t tick) {
  if (parked_) {
    // A parked connection has no timer armed: its idle deadline is checked here instead.
    if (std::chrono::steady_clock::now() >= deadline_) {
      boost::system::error_code ec;
      socket_.close(ec);
    }
    return;
  }
  // A TLS connection is not parked: its TLS layer may hold bytes a readiness wait would not see.
  if (!idle_ || stream_.secure()) return;
  if (idle_tick_ == 0) {
    idle_tick_ = tick;  // first sweep that sees it idle: it gets one more period
  } else if (idle_tick_ < tick) {
    park_requested_ = true;
    boost::system::error_code ec;
    socket_.cancel(ec);
  }
}

Session::Wait Session::after_idle_read(boost::system::error_code ec) {
  idle_ = false;
  if (ec == net::error::operation_aborted && park_requested_ && !worker_.draining() && socket_.is_open()) {
    park();
    return Wait::parked;
  }
  if (ec) return Wait::closed;
  if (worker_.draining() && served_ > 0 && buffer_.empty()) return Wait::closed;
  return Wait::ready;
}

net::awaitable<Session::Wait> Session::wait_for_request() {
  // A busy keep-alive connection keeps its buffer and reads straight into it. One that stays idle
  // across a sweep of its worker is parked (see park()).
  idle_ = true;
  idle_tick_ = 0;
  park_requested_ = false;
  boost::system::error_code ec;
  co_await read_some(stream_, buffer_, 64 * 1024, ec);
  co_return after_idle_read(ec);
}

void Session::park() {
  // Everything but the Session object itself is given back: the read buffer, the field list, and
  // the coroutine frames (run() returns; a plain readiness handler starts it again), so thousands
  // of idle keep-alive connections cost about a kilobyte each.
  parked_ = true;
  buffer_.release_if_empty();
  std::vector<http::Field>().swap(head_.fields.items());
  std::string().swap(canonical_);
  worker_.shard().inc(worker_.metrics().parked);
  timer_.cancel();  // frees the pending wait; the sweep enforces the idle deadline meanwhile
  idle_ = true;
  socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
    self->parked_ = false;
    self->idle_ = false;
    if (ec || self->worker_.draining() || !self->socket_.is_open()) {
      self->close();
      return;
    }
    self->spawn();
  });
}

void Session::spawn() {
  net::co_spawn(worker_.context(), [self = shared_from_this()]() { return self->run(); }, net::detached);
}

void Session::close() {
  disarm();
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  socket_.close(ec);
  timer_.cancel();
}

// --- deadlines ----------------------------------------------------------------------------------

void Session::arm(std::chrono::steady_clock::duration d, Phase phase) {
  deadline_ = std::chrono::steady_clock::now() + d;
  phase_ = phase;
  if (!timer_running_) {
    start_timer();
  } else if (deadline_ < timer_expiry_) {
    timer_.cancel();  // the handler restarts the timer for the nearer deadline
  }
}

void Session::start_timer() {
  timer_running_ = true;
  timer_expiry_ = deadline_;
  timer_.expires_at(deadline_);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) { self->on_timer(ec); });
}

void Session::on_timer(boost::system::error_code) {
  timer_running_ = false;
  if (parked_) return;  // the worker's sweep watches a parked connection's deadline
  if (!socket_.is_open() || deadline_ == std::chrono::steady_clock::time_point::max()) return;
  if (std::chrono::steady_clock::now() < deadline_) {
    start_timer();
    return;
  }
  timed_out_ = true;
  timed_out_phase_ = phase_;
  boost::system::error_code ec;
  bool upstream_phase = phase_ == Phase::connect || phase_ == Phase::upstream_wait || phase_ == Phase::upstream_body;
  if (upstream_phase && upstream_) upstream_->socket.close(ec);
  else socket_.close(ec);
}

// --- reading ------------------------------------------------------------------------------------

net::awaitable<std::size_t> Session::read_some(http::Stream& stream, http::Buffer& buffer, std::size_t max,
                                               boost::system::error_code& ec, std::size_t at_most) {
  if (!buffer.prepare(4096, max)) {
    ec = net::error::no_buffer_space;
    co_return 0;
  }
  // Asio's reactor reads speculatively only while the last read did not drain the socket, and
  // otherwise waits for the edge-triggered readiness it registered once: no wasted read and no
  // epoll_ctl per message (an async_wait would re-arm the descriptor each time).
  auto [read_ec, n] = co_await stream.async_read_some(
      net::buffer(buffer.write_ptr(), std::min(buffer.writable(), at_most)), use_tuple);
  ec = read_ec;
  if (!ec) buffer.commit(n);
  co_return n;
}

net::awaitable<bool> Session::handshake() {
  // The listener's context as it was when the connection was accepted: a reload that changes the
  // certificates applies to the next connections.
  auto context = std::move(tls_);
  arm(worker_.snapshot()->config.server.request_header_timeout, Phase::head);
  // A client speaking plain HTTP to a TLS port gets a plain 400 that says so, not a silent close:
  // a TLS connection starts with a handshake record (0x16), a plain request with a method name.
  auto [wait_ec] = co_await socket_.async_wait(tcp::socket::wait_read, use_tuple);
  if (wait_ec) co_return false;
  unsigned char first = 0;
  if (::recv(socket_.native_handle(), &first, 1, MSG_PEEK) == 1 && first != 0x16 && std::isupper(first)) {
    worker_.shard().inc(worker_.metrics().tls_handshake_failures);
    co_await write_error_and_close(400, "plain HTTP sent to a TLS port: use https://");
    co_return false;
  }
  ssl_st* ssl = context->new_connection();
  if (!ssl) co_return false;
  stream_.start_tls(ssl, context);
  auto [ec] = co_await stream_.tls().async_handshake(net::ssl::stream_base::server, use_tuple);
  disarm();
  const WorkerMetrics& m = worker_.metrics();
  if (ec) {
    worker_.shard().inc(m.tls_handshake_failures);
    co_return false;
  }
  worker_.shard().inc(tls::resumed(ssl) ? m.tls_resumed : m.tls_full_handshakes);
  if (context->verify() != tls::Verify::none) client_subject_ = tls::peer_subject(ssl);
  co_return true;
}

net::awaitable<void> Session::run() {
  buffer_.set_initial(4096);
  if (tls_ && !co_await handshake()) {
    close();
    co_return;
  }
  while (socket_.is_open()) {
    if (buffer_.empty()) {
      // Copied, not referenced: a reload may retire the snapshot while this connection waits.
      const auto header_timeout = worker_.snapshot()->config.server.request_header_timeout;
      const auto idle_timeout = worker_.snapshot()->config.server.idle_timeout;
      if (worker_.draining() && served_ > 0) break;
      body_buf_.release_if_empty();
      if (held_body_.capacity() > 0) std::string().swap(held_body_);
      if (out_.capacity() > 0) std::string().swap(out_);
      arm(served_ == 0 ? header_timeout : idle_timeout, Phase::idle);
      Wait wait = co_await wait_for_request();
      if (wait == Wait::parked) co_return;  // park() holds the session and resumes it later
      if (wait == Wait::closed) break;
    }
    if (!co_await read_head()) break;
    if (!co_await exchange()) break;
    ++served_;
  }
  if (stream_.secure() && socket_.is_open() && !timed_out_) {
    // close_notify, so the client can tell the end from a cut; bounded, as the peer may not answer.
    arm(std::chrono::seconds(1), Phase::write);
    co_await stream_.tls().async_shutdown(use_tuple);
  }
  close();
}

net::awaitable<bool> Session::read_head() {
  const ServerConfig& server = worker_.snapshot()->config.server;
  const http::ParseLimits limits{server.max_request_line_bytes, server.max_request_header_bytes,
                                 server.max_header_count};
  const std::size_t max_head = server.max_request_header_bytes + 4096;
  arm(server.request_header_timeout, Phase::head);  // covers the whole head, not the gap between bytes
  while (true) {
    if (!buffer_.empty()) {
      auto result = http::parse_request_head(buffer_.readable(), limits, head_);
      if (result.status == http::ParseStatus::complete) co_return true;
      if (result.status == http::ParseStatus::error) {
        worker_.shard().inc(worker_.metrics().bad_requests);
        co_await write_error_and_close(result.error_status, result.error_message);
        co_return false;
      }
    }
    boost::system::error_code ec;
    co_await read_some(stream_, buffer_, max_head, ec);
    if (ec == net::error::no_buffer_space) {
      co_await write_error_and_close(431, "request header section too large");
      co_return false;
    }
    if (ec) co_return false;  // closed, reset, or the head deadline passed (slow client)
  }
}

void Session::make_request_id(Context& ctx) {
  std::string_view incoming = head_.fields.get("x-request-id");
  bool usable = !incoming.empty() && incoming.size() <= 128;
  for (char c : incoming)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '"' || c == '\\')
      usable = false;
  if (usable) {
    ctx.request_id = incoming;
    return;
  }
  // Unique per process run: a random per-worker prefix and a counter; no syscall, no lock.
  char id[48];
  const std::string& prefix = worker_.request_id_prefix;
  std::size_t n = prefix.copy(id, 24);
  std::uint64_t counter = worker_.request_counter();
  static const char hex[] = "0123456789abcdef";
  for (int shift = 44; shift >= 0; shift -= 4) id[n++] = hex[(counter >> shift) & 15];
  ctx.request_id = ctx.keep({id, n});
  head_.fields.set("X-Request-Id", ctx.request_id);
}

net::awaitable<bool> Session::exchange() {
  Context ctx;
  ctx.start = std::chrono::steady_clock::now();
  ctx.request = &head_;
  ctx.worker = worker_.index();
  ctx.client_address = peer_;
  ctx.client_bytes = &peer_bytes_;
  ctx.secure = stream_.secure();
  ctx.client_cert_subject = client_subject_;
  std::shared_ptr<const Snapshot> snapshot = worker_.snapshot();  // kept until the request ends
  ctx.snapshot = snapshot.get();
  timed_out_ = false;
  close_after_ = !head_.keep_alive || worker_.draining();
  sent_continue_ = false;
  body_cursor_ = head_.head_bytes;
  body_left_ = head_.chunked ? 0 : head_.content_length;
  body_done_ = !head_.has_body();
  chunked_.reset();
  make_request_id(ctx);
  // The client certificate's subject is the gateway's to say: a client's copy goes before routing
  // and filters see the request.
  head_.fields.remove_any_spelling(snapshot->config.server.client_cert_header);

  co_await run_request(ctx);

  finish_request(ctx);
  if (!body_done_ && !close_after_) {
    // The body was not read (answered early): read and drop it to keep the connection usable,
    // unless that would take long; then close instead (RFC 9112 9.6).
    if (!co_await discard_body(ctx)) close_after_ = true;
  }
  // Keep only the bytes of the next pipelined request.
  std::size_t used = std::min(body_cursor_, buffer_.size());
  buffer_.consume(used);
  if (!body_buf_.empty()) {
    buffer_.prepare(body_buf_.size(), body_buf_.size() + buffer_.size() + 4096);
    std::memcpy(buffer_.write_ptr(), body_buf_.readable().data(), body_buf_.size());
    buffer_.commit(body_buf_.size());
    body_buf_.clear();
  }
  co_return !close_after_ && socket_.is_open();
}

void Session::finish_request(Context& ctx) {
  ctx.end = std::chrono::steady_clock::now();
  const Route* route = ctx.route ? ctx.route : &ctx.snapshot->no_route;
  auto& shard = worker_.shard();
  int cls = ctx.response_status / 100;
  shard.inc(route->metrics.by_class[cls >= 1 && cls <= 5 ? cls : 5]);
  const double seconds = std::chrono::duration<double>(ctx.end - ctx.start).count();
  shard.observe(route->metrics.duration, seconds);
  if (ctx.variant) {
    shard.inc(ctx.variant->metrics.by_class[cls >= 1 && cls <= 5 ? cls : 5]);
    shard.observe(ctx.variant->metrics.duration, seconds);
  }
  for (const Filter* f : route->completion) f->on_complete(ctx);
}

}  // namespace portcullis
