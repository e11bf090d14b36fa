// The downstream connection loop: wait for a request, read its head, run its exchange, repeat.
#include "http/connection.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "config/snapshot.h"
#include "core/worker_context.h"
#include "http/error_response.h"
#include "http/h2/session.h"
#include "http/http1_stream.h"
#include "http/parser.h"
#include "tls/tls.h"
#include "util/awaitable.h"

namespace portcullis::http {

Connection::Connection(WorkerContext& worker, Stream::Socket socket, std::shared_ptr<const tls::ServerContext> tls,
                       const tcp::endpoint& peer)
    : worker_(worker), stream_(std::move(socket)), watchdog_(worker.io()) {
  if (tls) tls_ = std::make_unique<Tls>(Tls{std::move(tls), {}});
  stream_.configure_tcp();
  boost::system::error_code ec;
  const auto remote = peer.port() != 0 ? peer : stream_.socket().remote_endpoint(ec);
  if (!ec) {
    const auto address = remote.address();
    if (address.is_v4()) {
      const auto b = address.to_v4().to_bytes();
      peer_bytes_[10] = peer_bytes_[11] = 0xff;
      std::copy(b.begin(), b.end(), peer_bytes_.begin() + 12);
      ::inet_ntop(AF_INET, b.data(), peer_text_, sizeof(peer_text_));
    } else {
      const auto b = address.to_v6().to_bytes();
      std::copy(b.begin(), b.end(), peer_bytes_.begin());
      ::inet_ntop(AF_INET6, b.data(), peer_text_, sizeof(peer_text_));
    }
  }
  worker_.add(*this);
}

Connection::~Connection() { worker_.remove(*this); }

void Connection::start(WorkerContext& worker, Stream::Socket socket, std::shared_ptr<const tls::ServerContext> tls,
                       const tcp::endpoint& peer) {
  auto connection = std::make_shared<Connection>(worker, std::move(socket), std::move(tls), peer);
  connection->watchdog_.bind(connection);
  connection->spawn();
}

void Connection::spawn() {
  net::co_spawn(worker_.io(), [self = shared_from_this()]() { return self->run(); }, net::detached);
}

void Connection::close() {
  watchdog_.disarm();
  watchdog_.stop();
  stream_.shutdown_send();
  stream_.close();
}

// --- idle connections ------------------------------------------------------------------------

void Connection::wake_if_idle() {
  if (h2_) h2_->shutdown();  // GOAWAY: the streams in flight finish
  else if (idle_) stream_.cancel();
}

void Connection::park_if_idle(std::uint64_t tick) {
  if (parked_) {
    // A parked connection has no timer armed: its idle deadline is checked here instead.
    watchdog_.check(std::chrono::steady_clock::now());
    return;
  }
  // A TLS connection whose TLS layer holds bytes (part of a record) is not parked: a readiness
  // wait would not see them.
  if (!idle_ || stream_.tls_pending()) return;
  if (idle_tick_ == 0) {
    idle_tick_ = tick;  // the first sweep that sees it idle: it gets one more period
  } else if (idle_tick_ < tick) {
    park_requested_ = true;
    stream_.cancel();
  }
}

Connection::Wait Connection::after_idle_read(boost::system::error_code ec) {
  idle_ = false;
  if (ec == net::error::operation_aborted && park_requested_ && !worker_.draining() && stream_.is_open()) {
    park();
    return Wait::parked;
  }
  if (ec) return Wait::closed;
  if (worker_.draining() && served_ > 0 && buffer_.empty()) return Wait::closed;
  return Wait::ready;
}

void Connection::wait_idle() {
  // A connection waits for its next request outside any coroutine: run() has returned, and what
  // the wait holds is the read buffer and one read operation (for TLS, a readiness wait after
  // OpenSSL found nothing to read). Its frames went back to the
  // worker's cache for the next request of any connection, so they neither pile up while
  // thousands of connections sit idle nor leave holes in the heap when those are parked.
  idle_ = true;
  idle_tick_ = 0;
  park_requested_ = false;
  if (!buffer_.prepare(4096, 64 * 1024)) {
    close();
    return;
  }
  stream_.start_read(buffer_.write_ptr(), buffer_.writable(), ReadKind::request_head,
                     {&Connection::on_idle_read, this, shared_from_this()});
}

void Connection::on_idle_read(void* self, std::shared_ptr<void>&, boost::system::error_code ec, std::size_t n) {
  auto* c = static_cast<Connection*>(self);
  if (!ec) c->buffer_.commit(n);
  switch (c->after_idle_read(ec)) {
    case Wait::parked: return;  // park() holds the connection and resumes it later
    case Wait::closed:
      // An idle TLS connection ended by drain or by its client still says goodbye properly.
      if (c->stream_.secure()) {
        net::co_spawn(c->worker_.io(), [self = c->shared_from_this()]() { return self->finish(); }, net::detached);
      } else {
        c->close();
      }
      return;
    case Wait::ready: c->spawn(); return;
  }
}

void Connection::park() {
  // Everything but the connection object itself is given back: the read buffer and the coroutine
  // frames (run() returns; a plain readiness handler starts it again), so thousands of idle
  // keep-alive connections cost well under a kilobyte each.
  parked_ = true;
  buffer_.release_if_empty();
  worker_.shard().inc(worker_.metrics().parked);
  watchdog_.stop();  // frees the pending wait; the sweep enforces the idle deadline meanwhile
  idle_ = true;
  stream_.socket().async_wait(Stream::Socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
    self->parked_ = false;
    self->idle_ = false;
    if (ec || self->worker_.draining() || !self->stream_.is_open()) {
      self->close();
      return;
    }
    self->spawn();
  });
}

// --- reading ---------------------------------------------------------------------------------

net::awaitable<std::size_t> Connection::read_into(Buffer& buffer, std::size_t max, boost::system::error_code& ec,
                                                  std::size_t at_most, ReadKind kind) {
  if (!buffer.prepare(4096, max)) {
    ec = net::error::no_buffer_space;
    co_return 0;
  }
  const std::size_t n =
      co_await stream_.read_some(buffer.write_ptr(), std::min(buffer.writable(), at_most), ec, kind);
  if (!ec) buffer.commit(n);
  co_return n;
}

net::awaitable<bool> Connection::handshake() {
  // The listener's context as it was when the connection was accepted: a reload that changes the
  // certificates applies to the next connections.
  auto context = std::move(tls_->context);
  Stream::Socket& socket = stream_.socket();
  watchdog_.arm(worker_.snapshot()->config.server.request_header_timeout, &stream_);
  // A client speaking plain HTTP to a TLS port gets a plain 400 that says so, not a silent close:
  // a TLS connection starts with a handshake record (0x16), a plain request with a method name.
  // The ClientHello has usually arrived with the connection: peek first, wait only if it has not.
  // A readiness wait may end with nothing to read (wake-ups can be spurious), so only
  // end-of-stream or an error ends the connection.
  unsigned char first = 0;
  while (true) {
    const ssize_t n = ::recv(socket.native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 1) break;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) co_return false;
    auto [wait_ec] = co_await socket.async_wait(Stream::Socket::wait_read, use_tuple);
    if (wait_ec) co_return false;
  }
  if (first != 0x16 && std::isupper(first)) {
    worker_.shard().inc(worker_.metrics().tls_handshake_failures);
    char start[8];
    const ssize_t n = ::recv(socket.native_handle(), start, sizeof(start), MSG_PEEK | MSG_DONTWAIT);
    co_await refuse(400, "plain HTTP sent to a TLS port: use https://",
                    std::string_view(start, n > 0 ? static_cast<std::size_t>(n) : 0));
    co_return false;
  }
  ssl_st* ssl = context->new_connection();
  if (!ssl) co_return false;
  tls::offer_h2(ssl, worker_.snapshot()->config.server.http2.enabled);
  stream_.start_tls(ssl, context);
  const boost::system::error_code ec = co_await stream_.handshake(Stream::TlsRole::server);
  watchdog_.disarm();
  const WorkerMetrics& m = worker_.metrics();
  if (ec) {
    worker_.shard().inc(m.tls_handshake_failures);
    co_return false;
  }
  worker_.shard().inc(tls::resumed(ssl) ? m.tls_resumed : m.tls_full_handshakes);
  if (context->verify() != tls::Verify::none) tls_->client_subject = tls::peer_subject(ssl);
  co_return true;
}

net::awaitable<bool> Connection::read_head(RequestHead& head) {
  const ServerConfig& server = worker_.snapshot()->config.server;
  const ParseLimits limits{server.max_request_line_bytes, server.max_request_header_bytes, server.max_header_count};
  const std::size_t max_head = server.max_request_header_bytes + 4096;
  watchdog_.arm(server.request_header_timeout, &stream_);  // covers the whole head, not the gap between bytes
  while (true) {
    if (!buffer_.empty()) {
      const auto result = parse_request_head(buffer_.readable(), limits, head);
      if (result.status == ParseStatus::complete) co_return true;
      if (result.status == ParseStatus::error) {
        worker_.shard().inc(worker_.metrics().bad_requests);
        co_await refuse(result.error_status, result.error_message, buffer_.readable());
        co_return false;
      }
    }
    boost::system::error_code ec;
    co_await read_into(buffer_, max_head, ec, SIZE_MAX, ReadKind::request_head);
    if (ec == net::error::no_buffer_space) {
      co_await refuse(431, "request header section too large", buffer_.readable());
      co_return false;
    }
    if (ec) co_return false;  // closed, reset, or the head deadline passed (slow client)
  }
}

namespace {

// Whether the bytes a refused request started with name the HEAD method (after the empty lines
// RFC 9112 2.2 allows before a request line).
bool starts_as_head(std::string_view bytes) {
  while (!bytes.empty() && (bytes.front() == '\r' || bytes.front() == '\n')) bytes.remove_prefix(1);
  return bytes.starts_with("HEAD ");
}

}  // namespace

// An answer to a request refused before it had an Exchange. An answer to HEAD carries no body
// (RFC 9110 9.3.2), though its Content-Length still says how long the body would be.
net::awaitable<void> Connection::refuse(int status, const char* message, std::string_view request_start) {
  const std::string body = error_body(status, message, {});
  std::string head = "HTTP/1.1 ";
  head += std::to_string(status);
  head += ' ';
  head += reason_phrase(status);
  head += "\r\nContent-Type: application/json\r\nContent-Length: ";
  head += std::to_string(body.size());
  head += "\r\nConnection: close\r\n\r\n";
  watchdog_.arm(worker_.snapshot()->config.server.idle_timeout, &stream_);
  co_await stream_.write(head, starts_as_head(request_start) ? std::string_view() : std::string_view(body));
}

// --- the keep-alive loop ---------------------------------------------------------------------

net::awaitable<bool> Connection::serve(Http1Request& request) {
  Http1Stream& stream = request.stream;
  stream.begin(*this);
  const Disposition disposition = co_await request.exchange.run(stream);
  bool keep = disposition == Disposition::keep && !stream.must_close() && stream_.is_open();
  // The body was not read (answered early): read and drop it to keep the connection usable,
  // unless that would take long; then close instead (RFC 9112 9.6).
  if (keep && stream.body_pending()) keep = co_await stream.discard_body(request.exchange.context());
  stream.keep_pipelined();
  co_return keep && stream_.is_open();
}

net::awaitable<void> Connection::run() {
  buffer_.set_initial(4096);
  if (tls_ && tls_->context) {
    const bool secured = co_await handshake();
    if (!secured) {
      if (stream_.is_open() && !watchdog_.fired()) co_await linger();  // the alert or 400 gets read
      close();
      co_return;
    }
    if (tls::negotiated_h2(stream_.native_tls())) {
      co_await serve_http2();
      co_return;
    }
  }
  while (stream_.is_open()) {
    if (buffer_.empty()) {
      // Copied, not referenced: a reload may retire the snapshot while this connection waits.
      const ServerConfig& server = worker_.snapshot()->config.server;
      const auto timeout = served_ == 0 ? server.request_header_timeout : server.idle_timeout;
      if (worker_.draining() && served_ > 0) break;
      watchdog_.arm(timeout, &stream_);
      wait_idle();  // resumes run() when the next request arrives
      co_return;
    }
    if (served_ == 0 && !stream_.secure()) {
      const Preface preface = http2_preface();
      if (preface == Preface::yes) {
        co_await serve_http2();
        co_return;
      }
      if (preface == Preface::partial) {
        boost::system::error_code ec;
        co_await read_into(buffer_, 64 * 1024, ec, SIZE_MAX, ReadKind::request_head);
        if (ec) break;
        continue;
      }
    }
    std::unique_ptr<Http1Request> request =
        worker_.http1_requests().take([this] { return std::make_unique<Http1Request>(worker_); });
    bool keep = co_await read_head(request->stream.head());
    if (keep) keep = co_await serve(*request);
    request->exchange.reset(worker_);  // gives back its tickets, snapshot and connection now
    worker_.http1_requests().give_back(std::move(request));
    if (!keep) break;
    ++served_;
  }
  co_await finish();
}

// A plain connection speaks HTTP/2 with prior knowledge when it starts with the client preface
// (RFC 9113 3.4); a request line never starts with "PRI * HTTP/2.0".
Connection::Preface Connection::http2_preface() const {
  static constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const std::string_view bytes = buffer_.readable();
  const std::size_t n = std::min(bytes.size(), preface.size());
  if (bytes.substr(0, n) != preface.substr(0, n)) return Preface::no;
  if (!worker_.snapshot()->config.server.http2.enabled) return Preface::no;
  return n == preface.size() ? Preface::yes : Preface::partial;
}

net::awaitable<void> Connection::serve_http2() {
  const Peer peer{peer_text_, &peer_bytes_, stream_.secure(),
                  tls_ ? std::string_view(tls_->client_subject) : std::string_view{}};
  auto session = std::make_unique<h2::Session>(*this, peer);
  h2_ = session.get();
  if (worker_.draining()) session->shutdown();
  co_await session->run();
  h2_ = nullptr;
  session.reset();
  co_await finish();
}

// The end of a connection: close_notify on TLS, so the client can tell the end from a cut (sent
// without waiting for the client's own, as nginx does), then the lingering close.
net::awaitable<void> Connection::finish() {
  if (stream_.secure() && stream_.is_open() && !watchdog_.fired()) {
    watchdog_.arm(std::chrono::seconds(1), &stream_);
    co_await stream_.close_notify();
  }
  if (stream_.is_open() && !watchdog_.fired()) co_await linger();
  close();
}

// The last answer is out: the write side closes, and what the client still sends (requests after
// a Connection: close, a TLS close_notify) is read and dropped until the client closes too or a
// second has passed. Closing a socket with unread bytes, or receiving bytes after closing it,
// makes the kernel send a reset, which can destroy an answer the client has not read yet
// (RFC 9112, 9.6) and turns a TLS client's orderly close into an error.
net::awaitable<void> Connection::linger() {
  if (!stream_.pollable()) co_return;
  constexpr auto kLingerTime = std::chrono::seconds(1);
  constexpr std::size_t kLingerBytes = 256 * 1024;
  thread_local char scratch[2048];
  Stream::Socket& socket = stream_.socket();
  boost::system::error_code ec;
  socket.shutdown(Stream::Socket::shutdown_send, ec);
  if (ec) co_return;
  watchdog_.arm(kLingerTime, &stream_);
  for (std::size_t dropped = 0; dropped < kLingerBytes;) {
    const ssize_t n = ::recv(socket.native_handle(), scratch, sizeof(scratch), MSG_DONTWAIT);
    if (n > 0) {
      dropped += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) co_return;
    auto [wait_ec] = co_await socket.async_wait(Stream::Socket::wait_read, use_tuple);
    if (wait_ec) co_return;
  }
}

}  // namespace portcullis::http
