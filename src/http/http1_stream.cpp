// An HTTP/1.1 request as the Exchange's Downstream (see http1_stream.h).
//
// The body: first the bytes that arrived with the head, then from the socket, piece by piece
// (never the whole body in memory). Chunked bodies are decoded here and re-framed by the writer;
// Content-Length reads never go past the body, so a pipelined request that follows stays intact.
#include "http/http1_stream.h"

#include <array>

#include "config/snapshot.h"
#include "core/worker_context.h"
#include "http/connection.h"
#include "http/forwarding.h"

namespace portcullis::http {
namespace {

constexpr std::size_t body_buffer_bytes = 64 * 1024;
constexpr std::uint64_t max_drain_bytes = 1024 * 1024;  // an unread body larger than this closes instead

}  // namespace

void Http1Stream::begin(Connection& connection) {
  conn_ = &connection;
  peer_.address = conn_->peer_text_;
  peer_.bytes = &conn_->peer_bytes_;
  peer_.secure = conn_->stream_.secure();
  peer_.client_cert_subject = conn_->tls_ ? std::string_view(conn_->tls_->client_subject) : std::string_view{};
  chunked_.reset();
  body_start_ = body_cursor_ = head_.head_bytes;
  body_left_ = head_.chunked ? 0 : head_.content_length;
  body_done_ = !head_.has_body();
  buffered_whole_ = !head_.chunked && head_.has_body() &&
                    conn_->buffer_.size() - body_start_ >= head_.content_length;
  sent_continue_ = false;
  out_.clear();
  head_pending_ = started_ = chunked_out_ = terminated_ = false;
  close_ = !head_.keep_alive || conn_->worker_.draining();
}

std::string_view Http1Stream::head_bytes() const { return conn_->buffer_.readable().substr(0, head_.head_bytes); }
Watchdog& Http1Stream::watchdog() { return conn_->watchdog_; }
bool Http1Stream::client_open() const { return conn_->stream_.is_open(); }

// --- the request body ------------------------------------------------------------------------

std::optional<std::string_view> Http1Stream::buffered_body() const {
  if (!buffered_whole_) return std::nullopt;
  return conn_->buffer_.readable().substr(body_start_, static_cast<std::size_t>(head_.content_length));
}

void Http1Stream::consume_buffered_body() {
  body_cursor_ = body_start_ + static_cast<std::size_t>(head_.content_length);
  body_left_ = 0;
  body_done_ = true;
}

void Http1Stream::rewind_body() {
  if (!buffered_whole_) return;
  body_cursor_ = body_start_;
  body_left_ = head_.content_length;
  body_done_ = !head_.has_body();
}

bool Http1Stream::fail_body(Context& ctx, ErrorKind kind, const char* message, boost::system::error_code& ec) {
  ec = boost::asio::error::invalid_argument;
  ctx.error = {kind, ErrorSource::downstream, 0, message};
  close_ = true;  // the rest of the body is not read: the connection cannot carry another request
  return false;
}

net::awaitable<std::string_view> Http1Stream::read_body(Context& ctx, boost::system::error_code& ec) {
  const ServerConfig& server = ctx.snapshot->config.server;
  Buffer& head_buffer = conn_->buffer_;
  while (!body_done_) {
    const bool in_head_buffer = body_cursor_ < head_buffer.size();
    std::string_view avail = in_head_buffer ? head_buffer.readable().substr(body_cursor_) : body_buf_.readable();
    auto advance = [&](std::size_t n) {
      if (in_head_buffer) body_cursor_ += n;
      else body_buf_.consume(n);
    };
    if (!avail.empty()) {
      std::string_view piece;
      if (!head_.chunked) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(avail.size(), body_left_));
        piece = avail.substr(0, n);
        advance(n);
        body_left_ -= n;
        body_done_ = body_left_ == 0;
      } else {
        std::string_view in = avail;
        const auto result = chunked_.next(in, piece);
        advance(avail.size() - in.size());
        if (result == ChunkedDecoder::Result::error) {
          fail_body(ctx, ErrorKind::bad_request, chunked_.error(), ec);
          co_return std::string_view{};
        }
        if (result == ChunkedDecoder::Result::done) body_done_ = true;
        if (result != ChunkedDecoder::Result::data) continue;
      }
      ctx.request_body_bytes += piece.size();
      if (ctx.request_body_bytes > ctx.body_limit(server.max_request_body_bytes)) {
        fail_body(ctx, ErrorKind::body_too_large, "request body too large", ec);
        co_return std::string_view{};
      }
      co_return piece;
    }
    if (head_.expect_continue && !sent_continue_) {
      sent_continue_ = true;
      static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
      const std::array<net::const_buffer, 1> line{net::buffer(continue_line.data(), continue_line.size())};
      const bool sent = co_await write(line);
      if (!sent) {
        ec = boost::asio::error::connection_reset;
        close_ = true;
        co_return std::string_view{};
      }
    }
    conn_->watchdog_.arm(server.idle_timeout, &conn_->stream_);
    body_buf_.set_initial(body_buffer_bytes);
    const std::size_t at_most =
        head_.chunked ? SIZE_MAX : static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, SIZE_MAX));
    const std::size_t n = co_await conn_->read_into(body_buf_, body_buffer_bytes, ec, at_most);
    if (ec || n == 0) {
      fail_body(ctx, ErrorKind::bad_request, "request body cut short", ec);
      if (!ec) ec = boost::asio::error::eof;
      co_return std::string_view{};
    }
  }
  co_return std::string_view{};
}

net::awaitable<bool> Http1Stream::discard_body(Context& ctx) {
  // Without a 100 Continue the client may never send the body: closing is the only safe end.
  if (head_.expect_continue && !sent_continue_) co_return false;
  head_.expect_continue = false;
  std::uint64_t discarded = 0;
  while (!body_done_) {
    boost::system::error_code ec;
    std::string_view piece = co_await read_body(ctx, ec);
    if (ec) co_return false;
    discarded += piece.size();
    if (discarded > max_drain_bytes) co_return false;
  }
  co_return true;
}

void Http1Stream::keep_pipelined() {
  Buffer& buffer = conn_->buffer_;
  buffer.consume(std::min(body_cursor_, buffer.size()));
  if (!body_buf_.empty()) {
    buffer.prepare(body_buf_.size(), body_buf_.size() + buffer.size() + 4096);
    std::memcpy(buffer.write_ptr(), body_buf_.readable().data(), body_buf_.size());
    buffer.commit(body_buf_.size());
    body_buf_.clear();
  }
  body_buf_.release_if_empty();
}

// --- the response ----------------------------------------------------------------------------

net::awaitable<bool> Http1Stream::write(std::span<const net::const_buffer> buffers) {
  conn_->watchdog_.arm(conn_->worker_.snapshot()->config.server.idle_timeout, &conn_->stream_);
  const Stream::Written w = conn_->stream_.write_now(buffers);
  const bool ok = w.done ? !w.failed : co_await conn_->stream_.write_rest(buffers, w.bytes);
  if (!ok) close_ = true;
  co_return ok;
}

net::awaitable<bool> Http1Stream::send_informational(const ResponseHead& head, std::string_view raw) {
  if (head_.version != 11) co_return true;  // an HTTP/1.0 client would take it for the response
  // One 100 Continue per request: the gateway's own (sent when it reads the body) or the origin's.
  if (head.status == 100) {
    if (sent_continue_) co_return true;
    sent_continue_ = true;
  }
  const std::array<net::const_buffer, 1> buffers{net::buffer(raw.data(), raw.size())};
  co_return co_await write(buffers);
}

void Http1Stream::send_head(const ResponseStart& start) {
  // Answering before the body was read: if the body will never come (no 100 Continue was sent) or
  // is too large to drain, say so now with Connection: close (RFC 9110 10.1.1).
  if (!body_done_ && ((head_.expect_continue && !sent_continue_) || head_.chunked || body_left_ > max_drain_bytes))
    close_ = true;
  if (start.close || conn_->worker_.draining()) close_ = true;
  std::int64_t length = start.content_length;
  chunked_out_ = false;
  if (!start.bodiless && length < 0) {
    if (head_.version == 11) chunked_out_ = true;
    else close_ = true;  // an HTTP/1.0 client: the body ends with the connection
  }
  ForwardedResponse r;
  r.status = start.status;
  r.reason = start.reason;
  r.fields = start.fields;
  r.client_version = head_.version;
  r.content_length = length;
  r.chunked = chunked_out_;
  r.close = close_;
  r.server_header = start.server_header;
  r.request_id = start.request_id;
  r.via = start.via;
  r.via_http2 = start.via_http2;
  out_.clear();
  append_response_head(out_, r);
  head_pending_ = true;
  terminated_ = false;
}

net::awaitable<bool> Http1Stream::send_body(std::span<const std::string_view> pieces, bool last) {
  std::array<net::const_buffer, 16> buffers;
  std::array<char[24], 4> chunk_headers;
  std::size_t n = 0;
  if (head_pending_) buffers[n++] = net::buffer(out_);
  for (std::size_t i = 0; i < pieces.size() && i < chunk_headers.size(); ++i) {
    if (pieces[i].empty()) continue;
    if (chunked_out_) buffers[n++] = net::buffer(chunk_header(pieces[i].size(), chunk_headers[i]));
    buffers[n++] = net::buffer(pieces[i].data(), pieces[i].size());
    if (chunked_out_) buffers[n++] = net::buffer("\r\n", 2);
  }
  if (last && chunked_out_ && !terminated_) {
    buffers[n++] = net::buffer("0\r\n\r\n", 5);
    terminated_ = true;
  }
  if (n == 0) co_return true;
  head_pending_ = false;
  started_ = true;
  co_return co_await write(std::span<const net::const_buffer>(buffers.data(), n));
}

net::awaitable<bool> Http1Stream::end() { co_return co_await send_body({}, true); }

}  // namespace portcullis::http
