// One request on an HTTP/2 origin connection (see origin_stream.h).
#include "http/h2/origin_stream.h"

#include <charconv>
#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "http/downstream.h"
#include "http/forwarding.h"
#include "http/h2/origin_session.h"
#include "pipeline/context.h"
#include "util/clock.h"

namespace portcullis::http::h2 {
namespace {

constexpr std::size_t kBodyHighWater = 64 * 1024;  // streamed request bytes waiting for nghttp2

bool connection_specific(std::string_view name) {
  return iequals(name, "host") || is_hop_by_hop(name) || iequals(name, "http2-settings");
}

}  // namespace

namespace {

// Calls `each(name, value)` for the fields of an HTTP/1.1 head after its request line.
template <typename Each>
void for_each_field(std::string_view head, Each&& each) {
  for (std::size_t pos = head.find("\r\n") + 2; pos < head.size();) {
    const std::size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos || eol == pos) return;
    const std::string_view field = head.substr(pos, eol - pos);
    pos = eol + 2;
    const std::size_t colon = field.find(':');
    std::string_view value = field.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    each(field.substr(0, colon), value);
  }
}

}  // namespace

void OriginStream::build_request(std::string_view head, std::string_view scheme, bool te_trailers) {
  // `head` is the gateway's own HTTP/1.1 head: "METHOD TARGET HTTP/1.1", then "Name: value" lines.
  fields_.clear();
  const std::string_view line = head.substr(0, head.find("\r\n"));
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = line.rfind(' ');
  std::string_view authority;
  for_each_field(head, [&](std::string_view name, std::string_view value) {
    if (authority.empty() && iequals(name, "host")) authority = value;
  });
  fields_.add(":method", line.substr(0, sp1));
  fields_.add(":scheme", scheme);
  fields_.add(":authority", authority);
  fields_.add(":path", line.substr(sp1 + 1, sp2 - sp1 - 1));
  for_each_field(head, [&](std::string_view name, std::string_view value) {
    if (!connection_specific(name)) fields_.add(name, value, true);
  });
  if (te_trailers) fields_.add("te", "trailers");
  fields_.finish();
}

bool OriginStream::submit(OriginSession& session) {
  session_ = &session;
  keep_ = session.shared_from_this();
  max_head_bytes_ = session.max_head_bytes();
  opened_ = coarse_now();
  id_ = session.open(shared_from_this(), fields_.entries().data(), fields_.entries().size(), has_body_);
  if (id_ > 0) return true;
  keep_.reset();
  session_ = nullptr;
  closed_ = true;
  return false;
}

ssize_t OriginStream::read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                                std::uint32_t* flags, nghttp2_data_source* source, void*) {
  auto* s = static_cast<OriginStream*>(source->ptr);
  if (s->detached_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // the stream is reset
  if (!s->streamed_) {
    const std::size_t n = std::min(length, s->fixed_.size() - s->fixed_sent_);
    std::memcpy(buf, s->fixed_.data() + s->fixed_sent_, n);
    s->fixed_sent_ += n;
    if (s->fixed_sent_ == s->fixed_.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (s->submit_request_trailers()) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return static_cast<ssize_t>(n);
  }
  const std::size_t n = std::min(length, s->out_.size() - s->out_sent_);
  std::memcpy(buf, s->out_.data() + s->out_sent_, n);
  s->out_sent_ += n;
  if (s->out_sent_ == s->out_.size()) {
    s->out_.clear();
    s->out_sent_ = 0;
    if (s->out_ended_) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (s->submit_request_trailers()) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    } else if (n == 0) {
      s->deferred_ = true;
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  s->room_.notify();
  return static_cast<ssize_t>(n);
}

bool OriginStream::submit_request_trailers() {
  if (!request_trailers_ || request_trailers_->items().empty()) return false;
  fields_.clear();  // the request head's went to nghttp2 long ago (it copies them)
  for (const auto& f : request_trailers_->items()) {
    if (f.name.empty() || f.name.front() == ':' || is_hop_by_hop(f.name) || iequals(f.name, "content-length")) continue;
    fields_.add(f.name, f.value, true);
  }
  request_trailers_ = nullptr;
  const auto& nv = fields_.finish();
  return !nv.empty() && nghttp2_submit_trailer(session_->native(), id_, nv.data(), nv.size()) == 0;
}

void OriginStream::resume() {
  if (!deferred_ || closed_ || !session_->alive()) return;
  deferred_ = false;
  nghttp2_session_resume_data(session_->native(), id_);
  session_->want_write();
}

boost::asio::awaitable<bool> OriginStream::pump_body(Downstream& down, Context& ctx, Clock::duration room_timeout) {
  while (down.body_pending()) {
    const auto deadline = coarse_now() + room_timeout;
    while (out_.size() - out_sent_ > kBodyHighWater && !closed_ && !abandoned_ && !ended_) {
      const bool woken = co_await room_.wait(deadline);
      if (!woken) break;
    }
    // The origin answered in full (it wants no more), or the stream is gone.
    if (closed_ || abandoned_ || detached_ || ended_) co_return false;
    if (out_.size() - out_sent_ > kBodyHighWater) {
      // What waits did not drain below the mark within a read_timeout: the origin is not reading
      // the request. An answer it already began is left to the relay.
      if (!head_done_) fail("upstream stopped reading the request body");
      co_return false;
    }
    boost::system::error_code ec;
    const std::string_view piece = co_await down.read_body(ctx, ec);
    if (abandoned_) co_return false;  // join_pump() cut the read short: nothing more is touched
    if (ec) {
      client_failed_ = true;  // ctx.error says what the client did
      if (!closed_ && !detached_ && session_->alive()) {
        nghttp2_submit_rst_stream(session_->native(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
        session_->want_write();
      }
      wakeup_.notify();
      co_return false;
    }
    if (closed_ || detached_ || ended_) co_return false;  // the origin answered and wants no more
    if (out_sent_ > 0) {
      out_.erase(0, out_sent_);
      out_sent_ = 0;
    }
    out_.append(piece);
    resume();
  }
  request_trailers_ = down.request_trailers();  // the body's end came: its trailers are known
  out_ended_ = true;
  resume();
  co_return true;
}

void OriginStream::spawn_pump(boost::asio::io_context& ioc, Downstream& down, Context& ctx, Clock::duration room_timeout) {
  pumping_ = true;
  boost::asio::co_spawn(ioc, run_pump(shared_from_this(), down, ctx, room_timeout), boost::asio::detached);
}

boost::asio::awaitable<void> OriginStream::run_pump(std::shared_ptr<OriginStream> self, Downstream& down, Context& ctx,
                                                    Clock::duration room_timeout) {
  co_await pump_body(down, ctx, room_timeout);
  pumping_ = false;
  pump_done_.notify();
}

boost::asio::awaitable<void> OriginStream::join_pump(Downstream& down) {
  if (!pumping_) co_return;
  abandoned_ = true;
  room_.notify();
  down.abandon_body();
  while (pumping_) co_await pump_done_.wait();
}

// --- the response ----------------------------------------------------------------------------------

void OriginStream::fail(const char* why) {
  failure_ = why;
  if (!closed_ && session_ && session_->alive()) {
    nghttp2_submit_rst_stream(session_->native(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_PROTOCOL_ERROR);
    session_->want_write();
  }
  wakeup_.notify();
}

void OriginStream::on_header(std::string_view name, std::string_view value) {
  if (*failure_ != '\0') return;
  if (in_head_ && name == ":status") {
    head_.clear();  // an informational head before it is dropped (1xx are not relayed from HTTP/2 origins)
    status_ = 0;
    std::from_chars(value.data(), value.data() + value.size(), status_);
    return;
  }
  HeaderBlock& block = in_head_ ? head_ : trailers_;
  if (!block.add(name, value, max_head_bytes_)) fail("upstream response head too large");
}

void OriginStream::on_headers_end(bool end_stream) {
  if (*failure_ != '\0') return;
  if (in_head_) {
    if (status_ < 200) {
      head_.clear();
      return;
    }
    head_.finish();
    in_head_ = false;
    head_done_ = true;
  } else {
    trailers_.finish();
  }
  if (end_stream) ended_ = true;
  wakeup_.notify();
}

void OriginStream::on_data(const std::uint8_t* data, std::size_t size) {
  if (detached_) return;
  in_.append(reinterpret_cast<const char*>(data), size);
  wakeup_.notify();
}

void OriginStream::on_end_stream() {
  ended_ = true;
  wakeup_.notify();
}

std::string_view OriginStream::take() {
  reading_.swap(in_);
  in_.clear();
  return reading_;
}

void OriginStream::consumed(std::size_t n) {
  if (n == 0 || closed_ || !session_->alive()) return;
  nghttp2_session_consume_stream(session_->native(), id_, n);
  session_->want_write();
}

void OriginStream::on_close(std::uint32_t error_code, bool refused) {
  closed_ = true;
  error_code_ = error_code;
  refused_ = refused && !head_done_;
  wakeup_.notify();
  room_.notify();
}

void OriginStream::on_session_gone() {
  if (closed_) return;
  closed_ = true;
  error_code_ = NGHTTP2_CONNECT_ERROR;
  wakeup_.notify();
  room_.notify();
}

void OriginStream::reset() {
  session_ = nullptr;
  keep_.reset();
  id_ = 0;
  opened_ = {};
  fields_.clear();
  fixed_ = {};
  fixed_sent_ = 0;
  out_.clear();
  out_sent_ = 0;
  request_trailers_ = nullptr;
  has_body_ = streamed_ = out_ended_ = deferred_ = false;
  pumping_ = abandoned_ = client_failed_ = false;
  head_.clear();
  trailers_.clear();
  status_ = 0;
  in_head_ = true;
  head_done_ = false;
  in_.clear();
  reading_.clear();
  ended_ = closed_ = refused_ = detached_ = headers_sent_ = false;
  error_code_ = 0;
  failure_ = "";
  max_head_bytes_ = 0;
}

void OriginStream::timed_out() {
  if (session_) session_->on_stream_timeout(opened_);
}

void OriginStream::detach() {
  if (detached_) return;
  detached_ = true;
  fixed_ = {};
  request_trailers_ = nullptr;
  if (!closed_ && session_ && session_->alive()) {
    nghttp2_submit_rst_stream(session_->native(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
    session_->want_write();
  }
  room_.notify();
}

}  // namespace portcullis::http::h2
