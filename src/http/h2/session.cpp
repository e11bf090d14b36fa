// The HTTP/2 connection's reader, writer and stream bookkeeping (see session.h); nghttp2's
// callbacks are in callbacks.cpp, one stream's request and response in stream.cpp.
#include "http/h2/session.h"

#include <algorithm>
#include <array>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "config/snapshot.h"
#include "core/worker_context.h"
#include "http/connection.h"
#include "http/h2/callbacks.h"
#include "http/h2/stream.h"
#include "http/stream.h"

namespace portcullis::http::h2 {
namespace {

constexpr std::size_t kReadBytes = 16 * 1024;
constexpr std::size_t kWriteBytes = 64 * 1024;  // frames gathered for one write
constexpr std::size_t kSpareRequests = 8;

nghttp2_session* make_session(Session& owner, const ServerConfig& server) {
  const Http2Config& h2 = server.http2;
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // Windows are reopened by the gateway: a stream's as its exchange reads the body (a client sends
  // only as fast as the origin takes it), the connection's as bytes arrive (see Stream::on_data).
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_no_closed_streams(option, 1);
  nghttp2_option_set_max_send_header_block_length(option, server.max_response_header_bytes + 16384);
  // nghttp2's own limits stay as a backstop behind the gateway's budgets, which answer first.
  nghttp2_option_set_max_continuations(option, 8 + max_header_block(server) / 4096);
  nghttp2_option_set_stream_reset_rate_limit(option, 8 * h2.max_resets_per_second, 4 * h2.max_resets_per_second);
  nghttp2_session* session = nullptr;
  nghttp2_session_server_new2(&session, Callbacks::table(), &owner, option);
  nghttp2_option_del(option);
  const auto u32 = [](std::uint64_t v) { return static_cast<std::uint32_t>(std::min<std::uint64_t>(v, 0x7fffffff)); };
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, u32(h2.max_concurrent_streams)},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, u32(h2.initial_stream_window)},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, u32(h2.max_frame_size)},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, u32(h2.hpack_table_size)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, u32(server.max_request_header_bytes)},
  };
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  if (h2.initial_connection_window > 65535)
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, u32(h2.initial_connection_window));
  return session;
}

}  // namespace

std::size_t max_header_block(const ServerConfig& server) { return 2 * server.max_request_header_bytes + 16384; }

Session::Session(Connection& connection, const Peer& peer)
    : connection_(connection),
      stream_(connection.stream_),
      worker_(connection.worker_),
      peer_(peer),
      snapshot_(worker_.snapshot()),
      config_(snapshot_->config.server.http2),
      writer_wakeup_(worker_.io()),
      done_wakeup_(worker_.io()) {
  const ServerConfig& server = snapshot_->config.server;
  max_header_bytes_ = server.max_request_header_bytes;
  max_header_count_ = server.max_header_count;
  max_block_bytes_ = max_header_block(server);
  session_ = make_session(*this, server);
  resets_.reset(config_.max_resets_per_second);
  control_.reset(config_.max_control_frames_per_second);
  worker_.shard().inc(worker_.metrics().http2_connections);
}

Session::~Session() { nghttp2_session_del(session_); }

const ServerConfig& Session::server() const { return snapshot_->config.server; }

// --- the connection's life -------------------------------------------------------------------

boost::asio::awaitable<void> Session::run() {
  boost::asio::co_spawn(worker_.io(), write_loop(), boost::asio::detached);
  // What was read before HTTP/2 was recognised (the client preface, perhaps more) comes first;
  // after it the connection keeps no read buffer: bytes are read into the worker's scratch and
  // handed to nghttp2 before anything else runs, so an idle connection holds none.
  Buffer& buffer = connection_.buffer_;
  bool ok = feed(buffer.readable().data(), buffer.size());
  buffer.clear();
  buffer.release_if_empty();
  thread_local char scratch[kReadBytes];
  while (ok && !dead_ && !writer_done_) {
    update_deadline();
    boost::system::error_code ec;
    const std::size_t n = stream_.read_now(scratch, sizeof(scratch), ec);
    if (ec == boost::asio::error::would_block) {
      const boost::system::error_code wait_ec = co_await stream_.wait_readable();
      if (wait_ec) {
        if (!writer_done_) dead_ = true;  // the deadline closed the socket (else: the writer is done)
        break;
      }
      continue;
    }
    if (ec) {
      // The client closed its side: the streams in flight may still be answered, but no body
      // still coming will arrive. Anything else (a reset, a TLS error) ends the connection.
      if (ec != boost::asio::error::eof) dead_ = true;
      for (auto& request : streams_) request->stream.on_client_eof();
      break;
    }
    ok = feed(scratch, n);
  }
  reading_done_ = true;
  want_write();
  while (!writer_done_) co_await done_wakeup_.wait();
  // Nothing more reaches the client: the exchanges still running learn it and end.
  dead_ = true;
  for (auto& request : streams_) {
    request->stream.on_close();
  }
  while (running_ > 0) co_await done_wakeup_.wait();
  for (auto& request : streams_) {
    request->stream.watchdog().disarm();
    request->stream.watchdog().stop();
  }
  streams_.clear();
}

bool Session::feed(const char* data, std::size_t size) {
  if (size == 0) return true;
  const ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(data), size);
  if (rv < 0) {
    // A fatal error: a bad preface (nothing to say), a flood nghttp2 caught itself (too many
    // CONTINUATION frames, ACKs the client does not read), or a broken frame. GOAWAY, then close.
    broken_ = true;
    if (rv != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
      const bool flood = rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
      if (flood) calm_down(rv == NGHTTP2_ERR_FLOODED ? Flood::control : Flood::headers);
      else nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
    }
  }
  start_streams();
  want_write();
  return rv >= 0 && nghttp2_session_want_read(session_);
}

void Session::shutdown() {
  if (goaway_ || dead_) return;
  goaway_ = true;
  goaway_deadline_ = Clock::now() + config_.goaway_timeout;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  update_deadline();
  want_write();
}

void Session::calm_down(Flood budget) {
  if (calmed_) return;
  calmed_ = true;
  const WorkerMetrics& m = worker_.metrics();
  worker_.shard().inc(budget == Flood::resets    ? m.http2_calm_resets
                      : budget == Flood::control ? m.http2_calm_control
                                                 : m.http2_calm_headers);
  goaway_ = true;
  goaway_deadline_ = Clock::now() + config_.goaway_timeout;
  nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
}

// Nothing more can happen: the socket failed, nghttp2 is done, or the client sends nothing more
// and no exchange is left to answer.
bool Session::finished() const {
  if (dead_ || broken_) return true;
  if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) return true;
  return reading_done_ && running_ == 0;
}

// The connection's deadline: a write that makes no progress, an idle connection, the end of the
// time GOAWAY gave the streams in flight. Arming is a store (see watchdog.h).
void Session::update_deadline() {
  Watchdog& watchdog = connection_.watchdog_;
  const ServerConfig& server = snapshot_->config.server;
  Clock::time_point deadline = Clock::time_point::max();
  // No exchange running: idle since the client last sent a request or body bytes (a header block
  // it never finishes, a response it never reads, control frames alone count as idle).
  if (running_ == 0) deadline = last_progress_ + config_.idle_timeout;
  // A write the socket does not take, from when it began: frames the client sends do not extend it.
  if (!out_.empty()) deadline = std::min(deadline, write_started_ + server.idle_timeout);
  deadline = std::min(deadline, goaway_deadline_);
  if (deadline == Clock::time_point::max()) watchdog.disarm();
  else watchdog.arm_at(deadline, &stream_);
}

// Frames are gathered in the worker's scratch and written at once; only what the socket does not
// take at once is copied into the connection's own buffer, so an idle connection holds none.
boost::asio::awaitable<void> Session::write_loop() {
  auto keep = connection_.shared_from_this();
  thread_local std::string gather;
  while (true) {
    gather.clear();
    while (gather.size() < kWriteBytes && !dead_) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      gather.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (!gather.empty() && !dead_) {
      const std::array<boost::asio::const_buffer, 1> now{boost::asio::buffer(gather)};
      const http::Stream::Written w = stream_.write_now(now);
      if (w.done) {
        if (w.failed) dead_ = true;
        continue;
      }
      out_.assign(gather, w.bytes);  // the rest waits for the socket: this connection's to keep
      write_started_ = Clock::now();
      update_deadline();
      const std::array<boost::asio::const_buffer, 1> rest{boost::asio::buffer(out_)};
      const bool written = co_await stream_.write_rest(rest, 0);
      std::string().swap(out_);
      if (!written) dead_ = true;
      update_deadline();
      continue;
    }
    if (finished()) break;
    co_await writer_wakeup_.wait();
  }
  writer_done_ = true;
  // The reader may be waiting for bytes that will never matter now.
  if (!reading_done_) stream_.cancel();
  done_wakeup_.notify();
}

// --- streams -----------------------------------------------------------------------------------

Request* Session::open_stream(std::int32_t id) {
  std::shared_ptr<Request> request;
  if (!spare_.empty()) {
    request = std::move(spare_.back());
    spare_.pop_back();
  } else {
    request = Request::make(worker_);
  }
  request->stream.begin(*this, id);
  streams_.push_back(request);
  nghttp2_session_set_stream_user_data(session_, id, request.get());
  worker_.shard().inc(worker_.metrics().http2_streams);
  return request.get();
}

void Session::start_streams() {
  // Streams whose header block completed in this read; one reset in the same read never starts.
  for (Request* request : starting_) {
    request->starting = false;
    // Reset in the same read, or the connection is ending (a budget, a protocol error): no exchange.
    if (request->stream.closed() || calmed_ || broken_) {
      release(*request);
      continue;
    }
    // Streams nghttp2 closed (a stream error it answered itself) may still have their exchange
    // running: those count against max_concurrent_streams too, so a client cannot pile up
    // origin requests by making the gateway reset its streams.
    if (running_ >= config_.max_concurrent_streams) {
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, request->stream.id(), NGHTTP2_REFUSED_STREAM);
      continue;
    }
    if (const int status = request->stream.refusal(); status != 0) {
      request->stream.answer(status, request->stream.refusal_message());
      continue;
    }
    request->running = true;
    ++running_;
    request->stream.prepare_body();
    boost::asio::co_spawn(worker_.io(), serve(request->shared_from_this()), boost::asio::detached);
  }
  starting_.clear();
  update_deadline();
}

boost::asio::awaitable<void> Session::serve(std::shared_ptr<Request> request) {
  co_await request->exchange.run(request->stream);
  // The upstream call armed the stream's watchdog for its origin connection, which is pooled or
  // gone now.
  request->stream.watchdog().disarm();
  request->stream.after_exchange();
  request->exchange.reset(worker_);
  request->running = false;
  --running_;
  want_write();
  update_deadline();
  if (request->stream.closed()) release(*request);
  if (running_ == 0) done_wakeup_.notify();
}

// A stream is given up once nghttp2 closed it and its exchange has ended.
void Session::release(Request& request) {
  if (request.running || request.starting) return;
  auto it = std::find_if(streams_.begin(), streams_.end(), [&](auto& r) { return r.get() == &request; });
  if (it == streams_.end()) return;
  std::shared_ptr<Request> owner = std::move(*it);
  *it = std::move(streams_.back());
  streams_.pop_back();
  // nghttp2 may still hold the stream (the connection is ending): it must not reach this request.
  nghttp2_session_set_stream_user_data(session_, owner->stream.id(), nullptr);
  owner->stream.watchdog().disarm();
  owner->stream.watchdog().stop();
  // A deadline wait still pending holds a reference too; it ends harmlessly on a reused stream (the
  // watchdog sees the new deadline, as on a keep-alive connection).
  if (spare_.size() < kSpareRequests) spare_.push_back(std::move(owner));
}

}  // namespace portcullis::http::h2
