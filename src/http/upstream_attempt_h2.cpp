// One attempt on an HTTP/2 service (see upstream_attempt.h): a stream on a pooled connection to
// the instance, or on a new one when every pooled connection is full.
#include <charconv>

#include "config/snapshot.h"
#include "core/worker_context.h"
#include "http/downstream.h"
#include "http/h2/origin_pool.h"
#include "http/h2/origin_session.h"
#include "http/h2/origin_stream.h"
#include "http/parser.h"
#include "http/upstream_attempt.h"
#include "http/upstream_connect.h"
#include "http/upstream_pool.h"
#include "http/watchdog.h"

namespace portcullis::http {
namespace {

// `te: trailers` from the client (the only TE HTTP/2 allows; one item of an HTTP/1.1 client's).
bool wants_trailers(const RequestHead& request) {
  bool trailers = false;
  for (const auto& f : request.fields.items()) {
    if (!iequals(f.name, "te")) continue;
    for_each_list_item(f.value, [&](std::string_view item) { trailers = trailers || iequals(item, "trailers"); });
  }
  return trailers;
}

}  // namespace

void UpstreamAttempt::abandon() {
  if (origin) origin->detach();
  if (conn) conn->stream.close();
}

boost::asio::awaitable<bool> UpstreamAttempt::connect_h2(const Instance& instance) {
  const Service& service = *ctx_.service;
  const void* tls = service.config.tls_context.get();
  down_.watchdog().clear();
  using Wait = h2::OriginSession::Wait;
  // This request waits for a connection at most until its own deadline; the connection itself
  // has the service's connect_timeout, whichever request opens it.
  const auto waited = upstream_deadline(service.config.connect_timeout, route_deadline_);
  auto waited_too_long = [&] {
    failed(ErrorKind::connect_timeout, "upstream connection not up in time");
    return false;
  };
  // A connection another request is opening: this one waits for it rather than open its own, and
  // looks again if the origin allows fewer streams than were waiting.
  for (session_ = worker_.origins().take(instance, tls); session_; session_ = worker_.origins().take(instance, tls)) {
    reused = true;
    if (!session_->connecting()) co_return true;
    const Wait wait = co_await session_->wait_connected(waited);
    if (wait == Wait::up) co_return true;
    if (wait == Wait::timeout) co_return waited_too_long();
    if (wait == Wait::failed) {
      ctx_.error = session_->connect_error();
      co_return false;
    }
  }
  reused = false;
  session_ = std::make_shared<h2::OriginSession>(worker_, instance.id, tls, service.config,
                                                 ctx_.snapshot->config.server.max_response_header_bytes);
  worker_.origins().add(session_);
  const auto deadline = coarse_now() + service.config.connect_timeout;
  std::shared_ptr<UpstreamConnection> fresh;
  Error e = co_await worker_.connector().connect(instance, service, down_.watchdog(), deadline, fresh);
  // The connection is shared from here on: no one request's deadline may close it.
  down_.watchdog().disarm();
  if (e) {
    if (e.kind == ErrorKind::connect_failed || e.kind == ErrorKind::connect_timeout)
      worker_.shard().inc(service.connect_failures);
    session_->connect_failed(e);
    ctx_.error = std::move(e);
    co_return false;
  }
  session_->connected(std::move(fresh), deadline);
  const Wait wait = co_await session_->wait_connected(waited);
  if (wait == Wait::timeout) co_return waited_too_long();
  if (wait != Wait::failed) co_return true;  // the one that opened it takes its stream, full or not
  ctx_.error = session_->connect_error();
  co_return false;
}

boost::asio::awaitable<bool> UpstreamAttempt::send_h2() {
  const RequestHead& request = down_.head();
  build_head();  // the same forwarding rules as HTTP/1.1 (and the head a mirror copies)
  origin = worker_.origins().stream(worker_.io());
  origin->build_request(head_, ctx_.service->config.tls_context ? "https" : "http", wants_trailers(request));
  bool streamed = false;
  if (ctx_.request_body) {
    origin->set_fixed_body(*ctx_.request_body);
    origin->set_request_trailers(down_.request_trailers());
  } else if (const auto buffered = down_.buffered_body(); buffered && request.has_body()) {
    origin->set_fixed_body(*buffered);
    origin->set_request_trailers(down_.request_trailers());
    down_.consume_buffered_body();
    ctx_.request_body_bytes = buffered->size();
  } else if (request.has_body()) {
    origin->set_streamed_body();
    streamed = true;
  }
  if (!origin->submit(*session_)) {
    refused = unsent = true;  // nothing was sent, nothing of the body read
    failed(ErrorKind::upstream_reset, "upstream connection takes no new stream", true);
    co_return false;
  }
  if (!streamed) co_return true;
  body_started = true;
  const auto room_timeout = ctx_.service->config.read_timeout;
  if (request.version == 20) {
    // An HTTP/2 client's body goes on beside the response: a bidirectional call answers as it reads.
    origin->spawn_pump(worker_.io(), down_, ctx_, room_timeout);
    co_return true;
  }
  const bool pumped = co_await origin->pump_body(down_, ctx_, room_timeout);
  if (!pumped && origin->client_failed()) co_return false;  // ctx.error says what the client did
  co_return true;  // else the origin may have answered before the body ended: its head says so
}

boost::asio::awaitable<bool> UpstreamAttempt::read_head_h2(ResponseHead& head, ResponseFraming& framing) {
  h2::OriginStream& s = *origin;
  const auto deadline = upstream_deadline(ctx_.service->config.read_timeout, route_deadline_);
  while (!s.head_done() && !s.closed() && *s.failure() == '\0' && !s.client_failed()) {
    const bool woken = co_await s.wait(deadline);
    if (woken || s.head_done() || s.closed()) continue;
    s.timed_out();
    failed(ErrorKind::upstream_timeout, "upstream did not answer within read_timeout");
    co_return false;
  }
  if (s.client_failed()) co_return false;  // ctx.error says what the client did
  if (*s.failure() != '\0' && !s.head_done()) {
    failed(ErrorKind::bad_upstream_response, s.failure());
    co_return false;
  }
  if (!s.head_done()) {
    // Refused, or lost with the connection before its HEADERS went out: the origin never saw it.
    unsent = !s.headers_sent() && !body_started;
    refused = s.refused() || unsent;
    got_bytes = true;  // else the HTTP/1.1 rule would send a request the origin may have processed again
    failed(ErrorKind::upstream_reset,
           refused                                  ? "upstream refused the stream"
           : s.error_code() == NGHTTP2_CONNECT_ERROR ? "upstream connection lost"
                                                    : "upstream reset the stream",
           true);
    co_return false;
  }
  got_bytes = true;
  head.reset();
  head.status = s.status();
  head.version = 20;
  head.fields = s.fields();
  if (const std::string_view length = head.fields.get("content-length"); !length.empty()) {
    head.has_content_length =
        std::from_chars(length.data(), length.data() + length.size(), head.content_length).ec == std::errc();
  }
  framing.until_close = false;
  co_return true;
}

}  // namespace portcullis::http
