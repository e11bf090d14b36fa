// Reading the client's request body: first the bytes that arrived with the head, then from the
// socket, piece by piece (never the whole body in memory). Chunked bodies are decoded here and
// re-framed by the writer; Content-Length reads never go past the body, so a pipelined request
// that follows stays intact.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "config/snapshot.h"
#include "core/worker.h"
#include "http/session.h"

namespace portcullis {

namespace {
constexpr std::size_t body_buffer_bytes = 64 * 1024;
}

net::awaitable<std::string_view> Session::next_body_piece(Context& ctx, boost::system::error_code& ec) {
  const ServerConfig& server = ctx.snapshot->config.server;
  while (!body_done_) {
    const bool in_head_buffer = body_cursor_ < buffer_.size();
    std::string_view avail = in_head_buffer ? buffer_.readable().substr(body_cursor_) : body_buf_.readable();
    auto advance = [&](std::size_t n) {
      if (in_head_buffer) body_cursor_ += n;
      else body_buf_.consume(n);
    };
    if (!avail.empty()) {
      std::string_view piece;
      if (!head_.chunked) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(avail.size(), body_left_));
        piece = avail.substr(0, n);
        advance(n);
        body_left_ -= n;
        body_done_ = body_left_ == 0;
      } else {
        std::string_view in = avail;
        auto result = chunked_.next(in, piece);
        advance(avail.size() - in.size());
        if (result == http::ChunkedDecoder::Result::error) {
          ec = net::error::invalid_argument;
          ctx.error = {ErrorKind::bad_request, ErrorSource::downstream, 400, chunked_.error()};
          close_after_ = true;
          co_return std::string_view{};
        }
        if (result == http::ChunkedDecoder::Result::done) body_done_ = true;
        if (result != http::ChunkedDecoder::Result::data) continue;
      }
      ctx.request_body_bytes += piece.size();
      const std::uint64_t limit = ctx.max_body_bytes ? std::min(ctx.max_body_bytes, server.max_request_body_bytes)
                                                     : server.max_request_body_bytes;
      if (ctx.request_body_bytes > limit) {
        ec = net::error::message_size;
        ctx.error = {ErrorKind::rejected, ErrorSource::downstream, 413, "request body too large"};
        close_after_ = true;
        co_return std::string_view{};
      }
      co_return piece;
    }
    if (head_.expect_continue && !sent_continue_) {
      sent_continue_ = true;
      static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!co_await write_client(continue_line)) {
        ec = net::error::connection_reset;
        co_return std::string_view{};
      }
    }
    arm(server.idle_timeout, Phase::body_in);
    body_buf_.set_initial(body_buffer_bytes);
    std::size_t at_most = head_.chunked ? SIZE_MAX : static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, SIZE_MAX));
    std::size_t n = co_await read_some(stream_, body_buf_, body_buffer_bytes, ec, at_most);
    if (ec || n == 0) {
      if (!ec) ec = net::error::eof;
      ctx.error = {ErrorKind::bad_request, ErrorSource::downstream, 400, "request body cut short"};
      close_after_ = true;
      co_return std::string_view{};
    }
  }
  co_return std::string_view{};
}

net::awaitable<bool> Session::hold_body(Context& ctx, std::size_t limit) {
  held_body_.clear();
  auto too_large = [&] {
    ctx.error = {ErrorKind::rejected, ErrorSource::downstream, 413, "request body too large"};
    close_after_ = true;  // the rest of the body is not read
  };
  if (!head_.chunked && head_.content_length > limit) {
    too_large();
    co_return false;
  }
  while (!body_done_) {
    boost::system::error_code ec;
    std::string_view piece = co_await next_body_piece(ctx, ec);
    if (ec) co_return false;  // ctx.error says what the client did
    if (held_body_.size() + piece.size() > limit) {
      too_large();
      co_return false;
    }
    held_body_.append(piece);
  }
  ctx.request_body = &held_body_;
  co_return true;
}

net::awaitable<bool> Session::discard_body(Context& ctx) {
  // Without a 100 Continue the client may never send the body: closing is the only safe end.
  if (head_.expect_continue && !sent_continue_) co_return false;
  constexpr std::uint64_t max_discard = 1024 * 1024;
  std::uint64_t discarded = 0;
  head_.expect_continue = false;
  while (!body_done_) {
    boost::system::error_code ec;
    std::string_view piece = co_await next_body_piece(ctx, ec);
    if (ec) co_return false;
    discarded += piece.size();
    if (discarded > max_discard) co_return false;
  }
  co_return true;
}

}  // namespace portcullis
