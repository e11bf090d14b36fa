// One HTTP/2 connection to an origin (see origin_session.h).
#include "http/h2/origin_session.h"

#include <algorithm>
#include <array>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "config/config.h"
#include "core/worker_context.h"
#include "http/h2/origin_stream.h"
#include "http/stream.h"
#include "http/upstream_pool.h"
#include "util/awaitable.h"
#include "util/clock.h"

namespace portcullis::http::h2 {
namespace {

constexpr std::size_t kReadBytes = 16 * 1024;
constexpr std::size_t kWriteBytes = 64 * 1024;  // frames gathered for one write
// What an origin may send ahead on one stream (its body waits in the gateway until the client takes
// it) and on the connection (reopened as bytes arrive: the streams' windows are the bound).
constexpr std::uint32_t kStreamWindow = 256 * 1024;
constexpr std::uint32_t kConnectionWindow = 16 * 1024 * 1024;
constexpr std::uint32_t kMaxStreams = 1000;  // per connection, whatever the origin allows

OriginStream* stream_of(nghttp2_session* session, std::int32_t id) {
  return static_cast<OriginStream*>(nghttp2_session_get_stream_user_data(session, id));
}

std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace

struct OriginSession::Callbacks {
  static const nghttp2_session_callbacks* table() {
    static nghttp2_session_callbacks* const callbacks = [] {
      nghttp2_session_callbacks* c = nullptr;
      nghttp2_session_callbacks_new(&c);
      nghttp2_session_callbacks_set_on_header_callback(c, &on_header);
      nghttp2_session_callbacks_set_on_frame_recv_callback(c, &on_frame_recv);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, &on_data_chunk);
      nghttp2_session_callbacks_set_on_stream_close_callback(c, &on_stream_close);
      nghttp2_session_callbacks_set_on_frame_send_callback(c, &on_frame_send);
      return c;
    }();
    return callbacks;
  }

  static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t name_size, const std::uint8_t* value, std::size_t value_size, std::uint8_t,
                       void*) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (OriginStream* s = stream_of(session, frame->hd.stream_id))
      s->on_header(text(name, name_size), text(value, value_size));
    return 0;
  }

  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        if (OriginStream* s = stream_of(session, frame->hd.stream_id)) s->on_headers_end(end_stream);
        break;
      case NGHTTP2_DATA:
        if (OriginStream* s = stream_of(session, frame->hd.stream_id); s && end_stream) s->on_end_stream();
        break;
      case NGHTTP2_SETTINGS:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) static_cast<OriginSession*>(user)->on_settings();
        break;
      case NGHTTP2_GOAWAY:
        static_cast<OriginSession*>(user)->goaway_ = true;  // nghttp2 refuses the streams above its last id
        break;
      default:
        break;
    }
    return 0;
  }

  static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void*) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (OriginStream* s = stream_of(session, frame->hd.stream_id)) s->on_headers_sent();
    return 0;
  }

  static int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                           std::size_t size, void*) {
    nghttp2_session_consume_connection(session, size);
    if (OriginStream* s = stream_of(session, id)) s->on_data(data, size);
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, std::int32_t id, std::uint32_t code, void* user) {
    OriginStream* s = stream_of(session, id);
    if (!s) return 0;
    nghttp2_session_set_stream_user_data(session, id, nullptr);
    s->on_close(code, code == NGHTTP2_REFUSED_STREAM);
    static_cast<OriginSession*>(user)->forget(*s);
    return 0;
  }
};

OriginSession::OriginSession(WorkerContext& worker, std::uint32_t instance_id, const void* tls,
                             const ServiceConfig& service, std::size_t max_head_bytes)
    : worker_(worker),
      writer_wakeup_(worker.io()),
      settings_timer_(worker.io()),
      write_timer_(worker.io()),
      write_timeout_(service.read_timeout),
      instance_id_(instance_id),
      tls_(tls),
      max_head_bytes_(max_head_bytes),
      max_streams_total_(service.max_requests_per_connection),
      idle_timeout_(service.idle_connection_timeout) {
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // A stream's window reopens as the client takes its body (OriginStream::consumed).
  nghttp2_option_set_no_auto_window_update(option, 1);
  // Until the origin's SETTINGS say otherwise, as RFC 9113 suggests.
  nghttp2_option_set_peer_max_concurrent_streams(option, 100);
  nghttp2_session_client_new2(&session_, Callbacks::table(), this, option);
  nghttp2_option_del(option);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(std::min<std::size_t>(max_head_bytes, 0x7fffffff))},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
}

OriginSession::~OriginSession() { nghttp2_session_del(session_); }

void OriginSession::connected(std::shared_ptr<UpstreamConnection> conn, Clock::time_point deadline) {
  if (dead_) {  // closed meanwhile (a drain, the instance left)
    conn->stream.close();
    return;
  }
  conn_ = std::move(conn);
  boost::asio::co_spawn(worker_.io(), read_loop(shared_from_this()), boost::asio::detached);
  boost::asio::co_spawn(worker_.io(), write_loop(shared_from_this()), boost::asio::detached);
  settings_timer_.expires_at(deadline);
  settings_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || !self->connecting()) return;
    self->connect_error_ = {ErrorKind::connect_timeout, ErrorSource::upstream, 0,
                            "upstream sent no HTTP/2 SETTINGS within connect_timeout"};
    self->close();
  });
}

void OriginSession::on_settings() {
  if (settings_) return;
  settings_ = true;
  settings_timer_.cancel();
  wake_waiters();
}

void OriginSession::connect_failed(const Error& error) {
  connect_error_ = error;
  dead_ = true;
  wake_waiters();
}

void OriginSession::wake_waiters() {
  for (Timer* t : connect_waiters_) t->cancel();
}

boost::asio::awaitable<OriginSession::Wait> OriginSession::wait_connected(Clock::time_point deadline) {
  auto keep = shared_from_this();
  Timer timer(worker_.io());
  timer.expires_at(deadline);
  connect_waiters_.push_back(&timer);
  bool expired = false;
  while (connecting() && !expired) {
    auto [ec] = co_await timer.async_wait(use_tuple);
    expired = !ec;  // cancelled = woken: the connect is decided
  }
  connect_waiters_.erase(std::find(connect_waiters_.begin(), connect_waiters_.end(), &timer));
  if (connecting()) co_return Wait::timeout;
  if (dead_ && !connect_error_)
    connect_error_ = {ErrorKind::connect_failed, ErrorSource::upstream, 0, "upstream connection closed while opening"};
  // The waiters resume one at a time, each opening its stream before the next resumes.
  if (dead_) co_return Wait::failed;
  co_return has_room() ? Wait::up : Wait::full;
}

bool OriginSession::has_room() const {
  if (retired()) return false;
  // Before the origin's SETTINGS arrive nghttp2 assumes 100 (see the constructor).
  const std::uint32_t allowed =
      std::min(kMaxStreams, nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
  return streams_.size() + connect_waiters_.size() < allowed;
}

std::int32_t OriginSession::open(std::shared_ptr<OriginStream> stream, const nghttp2_nv* nv, std::size_t count,
                                 bool with_body) {
  if (retired()) return 0;
  nghttp2_data_provider provider;
  provider.source.ptr = stream.get();
  provider.read_callback = &OriginStream::read_body;
  const std::int32_t id = nghttp2_submit_request(session_, nullptr, nv, count, with_body ? &provider : nullptr, stream.get());
  if (id <= 0) return 0;
  ++opened_;
  streams_.push_back(std::move(stream));
  want_write();
  return id;
}

void OriginSession::forget(OriginStream& stream) {
  auto it = std::find_if(streams_.begin(), streams_.end(), [&](const auto& s) { return s.get() == &stream; });
  if (it == streams_.end()) return;
  // Kept until the callback returns: nghttp2 is still inside the stream's close.
  std::shared_ptr<OriginStream> owner = std::move(*it);
  *it = std::move(streams_.back());
  streams_.pop_back();
  if (streams_.empty()) idle_since_ = Clock::now();
  want_write();
}

void OriginSession::fail_streams() {
  std::vector<std::shared_ptr<OriginStream>> streams;
  streams.swap(streams_);
  for (auto& s : streams) {
    nghttp2_session_set_stream_user_data(session_, s->id(), nullptr);
    s->on_session_gone();
  }
  idle_since_ = Clock::now();
}

void OriginSession::close() {
  if (dead_) return;
  dead_ = true;
  if (conn_) conn_->stream.close();
  wake_waiters();
  settings_timer_.cancel();
  write_timer_.cancel();
  want_write();
  fail_streams();
}

// --- the connection --------------------------------------------------------------------------------

boost::asio::awaitable<void> OriginSession::read_loop(std::shared_ptr<OriginSession> self) {
  thread_local char scratch[kReadBytes];
  http::Stream& stream = conn_->stream;
  while (!dead_) {
    boost::system::error_code ec;
    const std::size_t n = stream.read_now(scratch, sizeof(scratch), ec);
    if (ec == boost::asio::error::would_block) {
      const boost::system::error_code wait_ec = co_await stream.wait_readable();
      if (wait_ec) break;
      continue;
    }
    if (ec) break;  // the origin closed the connection, or it failed
    last_recv_ = coarse_now();
    const ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(scratch), n);
    if (rv < 0) break;  // the origin broke the protocol: the connection goes
    want_write();
  }
  close();
}

boost::asio::awaitable<void> OriginSession::write_loop(std::shared_ptr<OriginSession> self) {
  thread_local std::string gather;
  http::Stream& stream = conn_->stream;
  while (!dead_) {
    gather.clear();
    while (gather.size() < kWriteBytes) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      gather.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (!gather.empty()) {
      const std::array<boost::asio::const_buffer, 1> now{boost::asio::buffer(gather)};
      const http::Stream::Written w = stream.write_now(now);
      if (w.done) {
        if (w.failed) break;
        continue;
      }
      out_.assign(gather, w.bytes);  // the rest waits for the socket
      write_timer_.expires_after(write_timeout_);
      write_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        if (auto self = weak.lock(); self && !ec) self->close();  // the origin reads nothing: it is gone
      });
      const std::array<boost::asio::const_buffer, 1> rest{boost::asio::buffer(out_)};
      const bool written = co_await stream.write_rest(rest, 0);
      write_timer_.cancel();
      std::string().swap(out_);
      if (!written) break;
      continue;
    }
    // After GOAWAY, once the streams it let finish are done, nghttp2 wants nothing more.
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) break;
    co_await writer_wakeup_.wait();
  }
  writer_done_ = true;
  close();
}

}  // namespace portcullis::http::h2
