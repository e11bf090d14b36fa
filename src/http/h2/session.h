// One downstream HTTP/2 connection (RFC 9113), on nghttp2: a reader that feeds nghttp2 what the
// client sends, a writer that sends what nghttp2 has queued, and one Exchange per stream, each its
// own coroutine. The same Exchange as HTTP/1.1 (http/exchange.h) serves each stream through
// h2::Stream, so routing, filters, shedding and the upstream call do not know the protocol.
//
// Streams start once the bytes read in one go have been processed: a stream the client opened
// and reset in the same read never reaches an origin. Budgets end a connection that floods the
// gateway (rapid resets, PING/SETTINGS/PRIORITY/empty DATA, endless header blocks) with GOAWAY
// ENHANCE_YOUR_CALM. Drain sends GOAWAY and lets the streams in flight finish.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nghttp2/nghttp2.h>

#include "http/h2/budget.h"
#include "http/h2/wakeup.h"
#include "util/clock.h"

namespace portcullis {
class WorkerContext;
struct Http2Config;
struct ServerConfig;
struct Snapshot;
}

namespace portcullis::http {
class Connection;
class Stream;
struct Peer;
}

namespace portcullis::http::h2 {

struct Request;
struct Callbacks;

class Session {
 public:
  Session(Connection& connection, const Peer& peer);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Serves the connection until it ends: the client went away, or GOAWAY and no stream left.
  boost::asio::awaitable<void> run();
  // Drain: GOAWAY now; the streams in flight finish, then the connection closes.
  void shutdown();

  // --- for the streams -------------------------------------------------------------------------
  nghttp2_session* native() { return session_; }
  WorkerContext& worker() { return worker_; }
  const Peer& peer() const { return peer_; }
  bool alive() const { return !dead_; }
  const Http2Config& config() const { return config_; }
  const ServerConfig& server() const;  // of the snapshot the connection started with
  std::size_t max_header_bytes() const { return max_header_bytes_; }
  std::size_t max_header_count() const { return max_header_count_; }
  // Something was handed to nghttp2: the writer runs.
  void want_write() { writer_wakeup_.notify(); }

 private:
  friend struct Callbacks;
  using Clock = std::chrono::steady_clock;

  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> serve(std::shared_ptr<Request> request);
  bool feed(const char* data, std::size_t size);
  void start_streams();
  Request* open_stream(std::int32_t id);
  void release(Request& request);
  void update_deadline();
  // Ends the connection for a client over a budget: GOAWAY ENHANCE_YOUR_CALM.
  enum class Flood { resets, control, headers };
  void calm_down(Flood budget);
  bool finished() const;

  Connection& connection_;
  http::Stream& stream_;
  WorkerContext& worker_;
  const Peer& peer_;
  std::shared_ptr<const Snapshot> snapshot_;  // declared before config_: it holds it
  const Http2Config& config_;
  nghttp2_session* session_ = nullptr;
  std::size_t max_header_bytes_ = 0;
  std::size_t max_header_count_ = 0;
  std::size_t max_block_bytes_ = 0;  // see max_header_block()

  std::vector<std::shared_ptr<Request>> streams_;  // open, or with their exchange still running
  std::vector<Request*> starting_;                 // header blocks complete in this read
  std::vector<std::shared_ptr<Request>> spare_;    // finished, kept for the next streams
  std::size_t running_ = 0;                        // exchange coroutines not yet ended
  Wakeup writer_wakeup_;
  Wakeup done_wakeup_;  // run() waiting for the writer and the exchanges to end
  std::string out_;     // frames the socket did not take at once, while they wait for it
  bool writer_done_ = false;
  bool reading_done_ = false;  // the client sent end-of-stream, or the read failed
  bool dead_ = false;          // the socket failed or closed: nothing more goes out
  bool broken_ = false;        // nghttp2 gave up on the connection: what it queued goes, then close
  bool goaway_ = false;
  bool calmed_ = false;  // ended for going over a budget
  Clock::time_point goaway_deadline_ = Clock::time_point::max();
  Clock::time_point last_progress_ = coarse_now();  // the last HEADERS or DATA from the client
  Clock::time_point write_started_{};               // when out_ began waiting for the socket
  Budget resets_, control_;
  std::size_t block_bytes_ = 0;  // the header block being received, raw
};

}  // namespace portcullis::http::h2
