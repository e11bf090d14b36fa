// One HTTP/2 connection to an origin instance (RFC 9113, client side, on nghttp2): a reader that
// feeds nghttp2 what the origin sends, a writer that sends what nghttp2 has queued, and the
// streams of the requests in flight on it. A worker keeps a few per instance (h2/origin_pool.h)
// and multiplexes its requests over them, up to the origin's SETTINGS_MAX_CONCURRENT_STREAMS.
//
// After the origin's GOAWAY the session takes no new stream; the streams above its last stream id
// are refused (the origin never processed them, so they may be sent again elsewhere), the others
// finish, then the connection closes. A connection that fails fails the streams on it.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nghttp2/nghttp2.h>

#include "http/h2/wakeup.h"
#include "pipeline/context.h"

namespace portcullis {
class WorkerContext;
struct ServiceConfig;
}

namespace portcullis::http {
struct UpstreamConnection;
}

namespace portcullis::http::h2 {

class OriginStream;

class OriginSession : public std::enable_shared_from_this<OriginSession> {
 public:
  using Clock = std::chrono::steady_clock;
  // A session is pooled before its connection is up: requests that find it meanwhile wait for
  // that one connect instead of each opening a connection of its own.
  OriginSession(WorkerContext& worker, std::uint32_t instance_id, const void* tls, const ServiceConfig& service,
                std::size_t max_head_bytes);
  ~OriginSession();
  OriginSession(const OriginSession&) = delete;
  OriginSession& operator=(const OriginSession&) = delete;

  // The connect made for it succeeded: the reader and the writer start (each keeps the session
  // alive until the connection ends), and the session is up once the origin's SETTINGS came
  // (so its limits hold from the first stream), by `deadline`. Or it failed: the waiting requests
  // fail with `error`.
  void connected(std::shared_ptr<UpstreamConnection> conn, Clock::time_point deadline);
  void connect_failed(const Error& error);
  bool connecting() const { return !settings_ && !dead_; }
  // Waits for the connect under way, until `deadline` at most: up (with room for the waiter's
  // stream), full (up, but the origin's SETTINGS allow fewer streams than were waiting), failed
  // (connect_error() says why), or timeout (the connect goes on for the others).
  enum class Wait { up, full, failed, timeout };
  boost::asio::awaitable<Wait> wait_connected(Clock::time_point deadline);
  const Error& connect_error() const { return connect_error_; }
  // No new stream: GOAWAY came, the connection failed, it went silent on a stream that timed out,
  // or it carried its request quota.
  bool retired() const { return dead_ || goaway_ || stalled_ || opened_ >= max_streams_total_; }
  // A stream opened at `opened` timed out: when nothing at all came from the origin since, the
  // connection may be dead (a black hole): it takes no new stream.
  void on_stream_timeout(Clock::time_point opened) {
    if (last_recv_ <= opened) stalled_ = true;  // the coarse clock: the same tick counts as before
  }
  // Room for one more stream now.
  bool has_room() const;
  std::size_t active() const { return streams_.size(); }
  // No stream for longer than the service's idle_connection_timeout.
  bool idle_past(Clock::time_point now) const { return streams_.empty() && now - idle_since_ > idle_timeout_; }
  std::uint32_t instance_id() const { return instance_id_; }
  const void* tls() const { return tls_; }
  // Closes the connection; the streams still on it fail.
  void close();

  // --- for the streams -------------------------------------------------------------------------
  // The stream id, or 0 when nghttp2 took no new stream.
  std::int32_t open(std::shared_ptr<OriginStream> stream, const nghttp2_nv* nv, std::size_t count, bool with_body);
  void forget(OriginStream& stream);  // nghttp2 closed it
  nghttp2_session* native() { return session_; }
  bool alive() const { return !dead_; }
  std::size_t max_head_bytes() const { return max_head_bytes_; }
  void want_write() { writer_wakeup_.notify(); }

 private:
  struct Callbacks;
  boost::asio::awaitable<void> read_loop(std::shared_ptr<OriginSession> self);
  boost::asio::awaitable<void> write_loop(std::shared_ptr<OriginSession> self);
  void fail_streams();
  void on_settings();  // the origin's first SETTINGS: the session is up
  void wake_waiters();

  WorkerContext& worker_;
  std::shared_ptr<UpstreamConnection> conn_;
  nghttp2_session* session_ = nullptr;
  std::vector<std::shared_ptr<OriginStream>> streams_;
  using Timer =
      boost::asio::basic_waitable_timer<Clock, boost::asio::wait_traits<Clock>, boost::asio::io_context::executor_type>;
  Wakeup writer_wakeup_;
  std::vector<Timer*> connect_waiters_;  // each request waiting for the connect, on its own deadline
  Timer settings_timer_;  // the origin's SETTINGS are due by the connect deadline
  Timer write_timer_;     // a write the socket takes nothing of for write_timeout_ ends the connection
  Clock::duration write_timeout_{};
  Clock::time_point last_recv_{};  // when the origin last sent anything
  bool stalled_ = false;
  Error connect_error_;
  bool settings_ = false;  // the origin's first SETTINGS arrived
  std::string out_;  // frames the socket did not take at once
  std::uint32_t instance_id_ = 0;
  const void* tls_ = nullptr;
  std::size_t max_head_bytes_ = 0;
  std::uint64_t opened_ = 0, max_streams_total_ = 0;
  Clock::time_point idle_since_ = Clock::now();
  Clock::duration idle_timeout_{};
  bool dead_ = false;
  bool goaway_ = false;
  bool writer_done_ = false;
};

}  // namespace portcullis::http::h2
