// One try of a request on one instance: a pooled connection or a new one, the request head and
// body, then the response head (1xx relayed to the client on the way). Whether another try
// follows is decided from its outcome by http/retry.h, in the upstream call.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "http/message.h"
#include "http/parser.h"
#include "pipeline/context.h"

namespace portcullis {
class WorkerContext;
struct Instance;
struct Service;
}

namespace portcullis::http {

class Downstream;
struct UpstreamConnection;
namespace h2 {
class OriginSession;
class OriginStream;
}

class UpstreamAttempt {
 public:
  using Clock = std::chrono::steady_clock;
  UpstreamAttempt(WorkerContext& worker, Downstream& down, Context& ctx, std::string& head_buffer,
                  Clock::time_point route_deadline)
      : worker_(worker), down_(down), ctx_(ctx), head_(head_buffer), route_deadline_(route_deadline) {}

  // A pooled connection to `instance`, or a new one; false with ctx.error when none can be made.
  boost::asio::awaitable<bool> connect(const Instance& instance);
  // The request head (in `head_buffer`, which a mirror copies) and the body; false with ctx.error.
  boost::asio::awaitable<bool> send();
  // Reads up to the final response head; false with ctx.error.
  boost::asio::awaitable<bool> read_head(ResponseHead& head, ResponseFraming& framing);

  std::shared_ptr<UpstreamConnection> conn;   // HTTP/1.1 services
  std::shared_ptr<h2::OriginStream> origin;   // HTTP/2 services: the request's stream
  bool reused = false;        // the connection came from the pool
  bool body_started = false;  // part of a streamed body went out: it cannot be sent again
  bool got_bytes = false;     // the origin sent something back
  bool refused = false;       // HTTP/2: the origin did not process the request (it may go again)
  bool unsent = false;        // HTTP/2: nothing of it left the gateway (it may go again, any body too)
  // Gives up the attempt's origin stream or connection (a failure, or a response not relayed).
  void abandon();

 private:
  void arm(Clock::duration d);
  void build_head();
  boost::asio::awaitable<bool> send_streamed_body();
  void failed(ErrorKind kind, std::string message, bool retryable = false);
  // The same steps on a stream of a pooled HTTP/2 connection (upstream_attempt_h2.cpp).
  boost::asio::awaitable<bool> connect_h2(const Instance& instance);
  boost::asio::awaitable<bool> send_h2();
  boost::asio::awaitable<bool> read_head_h2(ResponseHead& head, ResponseFraming& framing);
  std::shared_ptr<h2::OriginSession> session_;

  WorkerContext& worker_;
  Downstream& down_;
  Context& ctx_;
  std::string& head_;
  Clock::time_point route_deadline_;
  // The last chunk of a chunked body: "0\r\n\r\n", or with the request's trailers in the request's arena.
  std::string_view last_chunk_text();
};

// The watchdog deadline for an upstream phase of `d`, or the route's deadline if that comes first.
std::chrono::steady_clock::time_point upstream_deadline(std::chrono::steady_clock::duration d,
                                                        std::chrono::steady_clock::time_point route_deadline);

}  // namespace portcullis::http
