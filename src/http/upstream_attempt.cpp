// One attempt on one instance (see upstream_attempt.h).
#include "http/upstream_attempt.h"

#include <array>

#include "config/snapshot.h"
#include "core/worker_context.h"
#include "http/downstream.h"
#include "http/forwarding.h"
#include "http/upstream_connect.h"
#include "http/upstream_pool.h"
#include "http/upstream_target.h"
#include "http/watchdog.h"

namespace portcullis::http {

std::chrono::steady_clock::time_point upstream_deadline(std::chrono::steady_clock::duration d,
                                                        std::chrono::steady_clock::time_point route_deadline) {
  const auto now = coarse_now();
  if (route_deadline - now < d) return std::max(route_deadline, now);
  return now + d;
}

void UpstreamAttempt::arm(Clock::duration d) { down_.watchdog().arm_at(upstream_deadline(d, route_deadline_), &conn->stream); }

std::string_view UpstreamAttempt::last_chunk_text() {
  const Fields* trailers = down_.request_trailers();
  if (!trailers) return "0\r\n\r\n";
  thread_local std::string text;  // copied into the arena at once: no coroutine holds it
  return ctx_.keep(last_chunk(trailers, text));
}

void UpstreamAttempt::failed(ErrorKind kind, std::string message, bool retryable) {
  ctx_.error = {kind, ErrorSource::upstream, 0, std::move(message), retryable};
}

boost::asio::awaitable<bool> UpstreamAttempt::connect(const Instance& instance) {
  const Service& service = *ctx_.service;
  if (service.http2) co_return co_await connect_h2(instance);
  down_.watchdog().clear();
  // A request with a body may not be replayed on a connection the origin just closed, so its
  // pooled connection is peeked; one without a body is replayed instead.
  conn = worker_.pools().take(instance, service.config.tls_context.get(), down_.head().has_body());
  reused = conn != nullptr;
  if (reused) co_return true;
  const auto deadline = upstream_deadline(service.config.connect_timeout, route_deadline_);
  Error e = co_await worker_.connector().connect(instance, service, down_.watchdog(), deadline, conn);
  if (!e) co_return true;
  if (e.kind == ErrorKind::connect_failed || e.kind == ErrorKind::connect_timeout)
    worker_.shard().inc(service.connect_failures);
  ctx_.error = std::move(e);
  conn.reset();
  co_return false;
}

void UpstreamAttempt::build_head() {
  const Snapshot& snap = *ctx_.snapshot;
  const RequestHead& request = down_.head();
  const Peer& peer = down_.peer();
  std::string_view prefix;
  ForwardedRequest r;
  r.head = &request;
  r.path = upstream_path(ctx_, &prefix);
  r.stripped_prefix = prefix;
  r.authority = ctx_.instance->address;
  r.client_ip = peer.address;
  r.client_trusted = any_contains(snap.trusted_proxies, *peer.bytes);
  r.secure = peer.secure;
  r.client_cert_header = snap.config.server.client_cert_header;
  r.client_cert_subject = peer.client_cert_subject;
  r.via = snap.config.server.via;
  r.upgrade = request.upgrade && ctx_.route->config->allow_upgrade;
  head_.clear();
  append_request_head(head_, r);
}

boost::asio::awaitable<bool> UpstreamAttempt::send() {
  if (ctx_.service->http2) co_return co_await send_h2();
  const RequestHead& request = down_.head();
  build_head();
  arm(ctx_.service->config.read_timeout);
  Stream& out = conn->stream;
  if (ctx_.request_body) {
    // A filter had the body read whole: it is sent from memory, framed as the client framed it.
    const std::string& body = *ctx_.request_body;
    char chunk[24];
    std::array<boost::asio::const_buffer, 5> parts{boost::asio::buffer(head_)};
    std::size_t n = 1;
    if (!request.chunked) {
      parts[n++] = boost::asio::buffer(body);
    } else {
      if (!body.empty()) {
        parts[n++] = boost::asio::buffer(chunk_header(body.size(), chunk));
        parts[n++] = boost::asio::buffer(body);
        parts[n++] = boost::asio::buffer("\r\n", 2);
      }
      parts[n++] = boost::asio::buffer(last_chunk_text());
    }
    const bool sent = co_await out.write(std::span<const boost::asio::const_buffer>(parts.data(), n));
    if (sent) co_return true;
    failed(ErrorKind::upstream_reset, "upstream closed the connection", true);
    co_return false;
  }
  const auto buffered = down_.buffered_body();
  if (!request.has_body() || buffered) {
    // Head and whole body in one gathered write: the common case costs one system call.
    std::string_view body = buffered ? *buffered : std::string_view{};
    if (request.has_body()) {
      down_.consume_buffered_body();
      ctx_.request_body_bytes = body.size();
    }
    const std::array<boost::asio::const_buffer, 2> parts{boost::asio::buffer(head_), boost::asio::buffer(body)};
    const Stream::Written w = out.write_now(parts);
    const bool sent = w.done ? !w.failed : co_await out.write_rest(parts, w.bytes);
    if (sent) co_return true;
    failed(ErrorKind::upstream_reset, "upstream closed the connection", true);
    co_return false;
  }
  const bool head_sent = co_await out.write(head_);
  if (!head_sent) {
    failed(ErrorKind::upstream_reset, "upstream closed the connection", true);
    co_return false;
  }
  body_started = true;
  co_return co_await send_streamed_body();
}

boost::asio::awaitable<bool> UpstreamAttempt::send_streamed_body() {
  const bool chunked = down_.head().chunked;
  Stream& out = conn->stream;
  while (down_.body_pending()) {
    boost::system::error_code ec;
    std::string_view piece = co_await down_.read_body(ctx_, ec);
    if (ec) co_return false;  // ctx.error says what the client did
    if (piece.empty()) continue;
    arm(ctx_.service->config.read_timeout);
    char chunk[24];
    std::array<boost::asio::const_buffer, 3> parts{boost::asio::buffer(piece)};
    std::size_t n = 1;
    if (chunked) {
      parts = {boost::asio::buffer(chunk_header(piece.size(), chunk)), boost::asio::buffer(piece),
               boost::asio::buffer("\r\n", 2)};
      n = 3;
    }
    const bool sent = co_await out.write(std::span<const boost::asio::const_buffer>(parts.data(), n));
    if (!sent) {
      failed(ErrorKind::upstream_reset, "upstream closed while receiving the body");
      co_return false;
    }
  }
  if (chunked) {
    const bool ended = co_await out.write(last_chunk_text());
    if (!ended) {
      failed(ErrorKind::upstream_reset, "upstream closed while receiving the body");
      co_return false;
    }
  }
  co_return true;
}

boost::asio::awaitable<bool> UpstreamAttempt::read_head(ResponseHead& head, ResponseFraming& framing) {
  if (origin) co_return co_await read_head_h2(head, framing);
  const RequestHead& request = down_.head();
  const std::size_t max_head = ctx_.snapshot->config.server.max_response_header_bytes;
  const auto read_timeout = ctx_.service->config.read_timeout;
  UpstreamConnection& c = *conn;
  arm(read_timeout);
  while (true) {
    if (!c.buffer.empty()) {
      got_bytes = true;
      auto r = parse_response_head(c.buffer.readable(), max_head, head, framing);
      if (r.status == ParseStatus::error) {
        failed(ErrorKind::bad_upstream_response, r.error_message);
        co_return false;
      }
      if (r.status == ParseStatus::complete) {
        if (head.status == 101) {
          if (request.upgrade && ctx_.route->config->allow_upgrade) co_return true;
          failed(ErrorKind::bad_upstream_response, "unsolicited 101 from upstream");
          co_return false;
        }
        if (head.status >= 200) co_return true;
        // Informational responses go to the client, a 100 the gateway did not ask for included
        // (RFC 9110 15.2: the gateway sends no Expect upstream); the downstream decides what its
        // client can take.
        const bool relayed = co_await down_.send_informational(head, c.buffer.readable().substr(0, head.head_bytes));
        if (!relayed) {
          ctx_.error = {ErrorKind::bad_request, ErrorSource::downstream, 0, "client closed the connection"};
          co_return false;
        }
        arm(read_timeout);
        c.buffer.consume(head.head_bytes);
        continue;
      }
    }
    boost::system::error_code ec;
    c.buffer.set_initial(16 * 1024);
    co_await c.read(max_head + 4096, ec, ReadKind::response);
    if (!ec) continue;
    if (down_.watchdog().fired()) {
      failed(ErrorKind::upstream_timeout, "upstream did not answer within read_timeout");
    } else if (ec == boost::asio::error::no_buffer_space) {
      failed(ErrorKind::bad_upstream_response, "upstream response head too large");
    } else if (c.buffer.empty()) {
      failed(ErrorKind::upstream_reset, "upstream closed the connection without a response", true);
    } else {
      failed(ErrorKind::upstream_reset, "upstream response cut short");
    }
    co_return false;
  }
}

}  // namespace portcullis::http
