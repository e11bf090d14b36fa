// Response body relay (see relay.h).
#include "http/relay.h"

#include <array>

#include "config/snapshot.h"
#include "http/downstream.h"
#include "http/upstream_attempt.h"
#include "http/upstream_pool.h"
#include "http/watchdog.h"

namespace portcullis::http {
namespace {

constexpr std::size_t response_buffer_bytes = 64 * 1024;
constexpr std::size_t max_pieces = 4;  // handed to the sink per write

// Body pieces decoded from what the origin connection has buffered.
struct Batch {
  std::array<std::string_view, max_pieces> pieces;
  std::size_t count = 0;
  std::size_t consumed = 0;  // buffered bytes the pieces (and chunk framing) account for
  bool complete = false;
  bool malformed = false;
};

class BodyDecoder {
 public:
  explicit BodyDecoder(const ResponseHead& head) : head_(head), left_(head.content_length) {}
  bool complete_at_start() const { return head_.has_content_length && left_ == 0; }
  void keep_trailers(std::string* sink) { chunked_.keep_trailers(sink); }
  const char* error() const { return chunked_.error(); }

  Batch next(std::string_view avail) {
    Batch b;
    while (b.count < max_pieces && b.consumed < avail.size() && !b.complete) {
      std::string_view rest = avail.substr(b.consumed);
      std::string_view piece;
      if (head_.has_content_length) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(rest.size(), left_));
        piece = rest.substr(0, n);
        left_ -= n;
        b.consumed += n;
        b.complete = left_ == 0;
      } else if (head_.chunked) {
        std::string_view in = rest;
        const auto r = chunked_.next(in, piece);
        if (r == ChunkedDecoder::Result::error) {
          b.malformed = true;
          return b;
        }
        b.consumed += rest.size() - in.size();
        b.complete = r == ChunkedDecoder::Result::done;
        if (r != ChunkedDecoder::Result::data) piece = {};
      } else {
        piece = rest;  // until close: everything is body
        b.consumed += rest.size();
      }
      if (!piece.empty()) b.pieces[b.count++] = piece;
    }
    return b;
  }

 private:
  const ResponseHead& head_;
  std::uint64_t left_;
  ChunkedDecoder chunked_{4096, 64 * 1024};
};

// The trailer section's lines ("name: value\n"...) as fields, lines without a name left out; used
// at once (set_trailers copies them).
const Fields& trailer_fields(std::string_view lines) {
  thread_local Fields fields;
  fields.clear();
  while (!lines.empty()) {
    const std::size_t eol = lines.find('\n');
    const std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol == std::string_view::npos ? lines.size() : eol + 1);
    const std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos || line.substr(0, colon).find_first_of(" \t") != std::string_view::npos)
      continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    fields.add(line.substr(0, colon), value);
  }
  return fields;
}

}  // namespace

boost::asio::awaitable<RelayResult> relay_body(Context& ctx, Downstream& down, UpstreamConnection& conn,
                                               const ResponseHead& head, const ResponseFraming& framing,
                                               std::chrono::steady_clock::time_point route_deadline) {
  RelayResult result;
  const auto read_timeout = ctx.service->config.read_timeout;
  BodyDecoder decoder(head);
  bool complete = decoder.complete_at_start();
  // A chunked body's trailers go on to a client whose protocol carries them (HTTP/2). The string
  // is the relay's own (relays on a worker interleave); empty, it holds no memory.
  std::string trailers;
  const bool relay_trailers = head.chunked && ctx.request->version == 20;
  if (relay_trailers) decoder.keep_trailers(&trailers);
  while (true) {
    Batch batch = decoder.next(conn.buffer.readable());
    if (batch.malformed) {
      // What decoded before the error still goes out; the close then tells the client the body
      // is incomplete (or, when nothing went out yet, the error is answered instead).
      if (batch.count > 0) {
        const bool sent = co_await down.send_body(std::span(batch.pieces.data(), batch.count), false);
        if (!sent) result.client_failed = true;
      }
      ctx.error = {ErrorKind::bad_upstream_response, ErrorSource::upstream, 0, decoder.error()};
      co_return result;
    }
    complete = complete || batch.complete;
    // Nothing decoded and more to come: the head still goes out now, so the client sees it while
    // the origin takes its time.
    const bool flush = batch.count == 0 && !complete && conn.buffer.size() == batch.consumed;
    if (batch.count > 0 || complete || flush) {
      if (complete && relay_trailers && !trailers.empty()) down.set_trailers(trailer_fields(trailers));
      const bool sent = co_await down.send_body(std::span(batch.pieces.data(), batch.count), complete);
      if (!sent) {
        result.client_failed = true;
        co_return result;
      }
      for (std::size_t i = 0; i < batch.count; ++i) ctx.response_body_bytes += batch.pieces[i].size();
    }
    conn.buffer.consume(batch.consumed);
    if (complete) break;
    if (!conn.buffer.empty()) continue;  // the batch was full: more is buffered
    down.watchdog().arm_at(upstream_deadline(read_timeout, route_deadline), &conn.stream);
    boost::system::error_code ec;
    co_await conn.read(response_buffer_bytes, ec);
    if (!ec) continue;
    if (framing.until_close && ec == boost::asio::error::eof) {
      const bool sent = co_await down.send_body({}, true);
      if (!sent) {
        result.client_failed = true;
        co_return result;
      }
      result.ok = true;
      co_return result;  // ended by the close: the connection is not reused
    }
    ctx.error = {down.watchdog().fired() ? ErrorKind::upstream_timeout : ErrorKind::upstream_reset,
                 ErrorSource::upstream, 0, "upstream response body cut short"};
    co_return result;
  }
  result.ok = true;
  result.reusable = !framing.until_close && head.keep_alive && conn.buffer.empty();
  co_return result;
}

}  // namespace portcullis::http
