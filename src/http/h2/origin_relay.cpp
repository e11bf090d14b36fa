// Response body relay from an HTTP/2 origin (see origin_relay.h).
#include "http/h2/origin_relay.h"

#include <charconv>

#include "config/snapshot.h"
#include "http/downstream.h"
#include "http/h2/origin_stream.h"
#include "http/upstream_attempt.h"

namespace portcullis::http::h2 {

void note_grpc_status(Context& ctx, const Fields& fields) {
  const std::string_view text = fields.get("grpc-status");
  int status = 0;
  if (!text.empty() && std::from_chars(text.data(), text.data() + text.size(), status).ec == std::errc())
    ctx.grpc_status = status;
}

boost::asio::awaitable<RelayResult> relay_origin_body(Context& ctx, Downstream& down, OriginStream& stream,
                                                      std::chrono::steady_clock::time_point route_deadline) {
  RelayResult result;
  const auto read_timeout = ctx.service->config.read_timeout;
  // The head goes out now when no body is there yet: a streaming call's client sees its metadata
  // before the first message.
  bool flush = !stream.ended() && !stream.has_data();
  while (true) {
    const bool complete = stream.ended();
    const std::string_view piece = stream.take();
    if (!piece.empty() || complete || flush) {
      flush = false;
      if (complete && stream.has_trailers()) {
        note_grpc_status(ctx, stream.trailers());
        down.set_trailers(stream.trailers());
      }
      const bool sent = co_await down.send_body(std::span(&piece, piece.empty() ? 0 : 1), complete);
      if (!sent) {
        result.client_failed = true;
        co_return result;
      }
      ctx.response_body_bytes += piece.size();
      stream.consumed(piece.size());
      if (complete) break;
      continue;
    }
    if (stream.closed() || *stream.failure() != '\0') {
      ctx.error = {*stream.failure() != '\0' ? ErrorKind::bad_upstream_response : ErrorKind::upstream_reset,
                   ErrorSource::upstream, 0,
                   *stream.failure() != '\0' ? stream.failure() : "upstream reset the stream before its end"};
      co_return result;
    }
    const bool woken = co_await stream.wait(upstream_deadline(read_timeout, route_deadline));
    if (woken || stream.has_data() || stream.ended() || stream.closed()) continue;
    stream.timed_out();
    ctx.error = {ErrorKind::upstream_timeout, ErrorSource::upstream, 0, "upstream response body cut short"};
    co_return result;
  }
  result.ok = true;
  result.reusable = true;
  co_return result;
}

}  // namespace portcullis::http::h2
