// One request to an HTTP/2 origin, as a stream on a pooled OriginSession: the request head made
// from the HTTP/1.1 head the gateway builds for every origin (so the forwarding rules are the same
// for both protocols), the request body handed to nghttp2 as the origin's window allows, and the
// response head, body and trailers as they arrive. The origin's stream window reopens only as the
// client takes the body, so a slow client holds back its own stream and no other.
//
// The upstream attempt drives it (http/upstream_attempt_h2.cpp): submit, wait for the head, then
// the relay (h2/origin_relay.h) takes the body. A request body still arriving from an HTTP/2
// client is pumped by a coroutine of its own while the response comes back, so bidirectional
// gRPC calls work; the exchange joins that pump before it ends.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nghttp2/nghttp2.h>

#include "http/h2/header_block.h"
#include "http/h2/nv_list.h"
#include "http/h2/wakeup.h"
#include "http/message.h"

namespace portcullis {
class Context;
}

namespace portcullis::http {
class Downstream;
}

namespace portcullis::http::h2 {

class OriginSession;

class OriginStream : public std::enable_shared_from_this<OriginStream> {
 public:
  using Clock = std::chrono::steady_clock;
  explicit OriginStream(boost::asio::io_context& ioc) : wakeup_(ioc), room_(ioc), pump_done_(ioc) {}
  // Ready for another request, its buffers' memory kept (only once nobody else holds it).
  void reset();

  // --- the request (the attempt) -----------------------------------------------------------------
  // The request from `head` (an HTTP/1.1 request head: request line, fields, empty line): names
  // lower-cased, Host as :authority, connection-specific fields left out; `te: trailers` added
  // when `te_trailers` (gRPC servers want it).
  void build_request(std::string_view head, std::string_view scheme, bool te_trailers);
  const std::vector<nghttp2_nv>& request_fields() const { return fields_.entries(); }
  // The whole body, sent from `body` (which outlives the stream's use of it: see detach()).
  void set_fixed_body(std::string_view body) { fixed_ = body, has_body_ = true; }
  void set_streamed_body() { has_body_ = true; streamed_ = true; }
  // Trailers sent after the body (views that outlive the stream's use of them); null = none.
  void set_request_trailers(const Fields* trailers) { request_trailers_ = trailers; }
  // Submits the request on `session`; false when the session takes no more streams.
  bool submit(OriginSession& session);
  // Pumps the request body from `down` into the stream (see the file comment), waiting at most
  // `room_timeout` at a time for the origin to take what waits. False when it stopped early: the
  // client failed (ctx.error and client_failed() say so), or the stream ended first.
  boost::asio::awaitable<bool> pump_body(Downstream& down, Context& ctx, Clock::duration room_timeout);
  // The same as a coroutine of its own; join_pump() waits for it.
  void spawn_pump(boost::asio::io_context& ioc, Downstream& down, Context& ctx, Clock::duration room_timeout);
  // Ends a pump still running (its client read is abandoned) and waits for it.
  boost::asio::awaitable<void> join_pump(Downstream& down);
  bool pump_running() const { return pumping_; }
  bool client_failed() const { return client_failed_; }

  // --- the response (the attempt and the relay) ----------------------------------------------------
  // True when something happened (head, body bytes, trailers, the end); false when `deadline` passed.
  boost::asio::awaitable<bool> wait(Clock::time_point deadline) { co_return co_await wakeup_.wait(deadline); }
  bool head_done() const { return head_done_; }
  int status() const { return status_; }
  const Fields& fields() const { return head_.fields; }
  // Body bytes received and not yet taken; take() swaps them out (valid until the next take()).
  std::string_view take();
  bool has_data() const { return !in_.empty(); }
  void consumed(std::size_t n);  // the client took n bytes: the origin may send as many more
  bool ended() const { return ended_; }  // END_STREAM arrived: body and trailers are complete
  bool has_trailers() const { return !trailers_.fields.items().empty(); }
  const Fields& trailers() const { return trailers_.fields; }
  bool closed() const { return closed_; }
  // The origin did not process the request (REFUSED_STREAM, or above GOAWAY's last stream id): it
  // may go to another connection whatever its method.
  bool refused() const { return refused_; }
  // The request's HEADERS went out (before that, a lost connection lost nothing the origin saw).
  bool headers_sent() const { return headers_sent_; }
  void on_headers_sent() { headers_sent_ = true; }
  std::uint32_t error_code() const { return error_code_; }
  const char* failure() const { return failure_; }  // a malformed response, or ""
  // The gateway gave up waiting for the origin on this stream (its connection may be dead).
  void timed_out();

  // Ends the gateway's use of the stream: a stream not ended is reset (CANCEL), and nothing more
  // is read from the request body views it was given.
  void detach();

  // --- nghttp2 (the session) -------------------------------------------------------------------
  void on_header(std::string_view name, std::string_view value);
  void on_headers_end(bool end_stream);
  void on_data(const std::uint8_t* data, std::size_t size);
  void on_end_stream();
  void on_close(std::uint32_t error_code, bool refused);
  void on_session_gone();  // the connection died under the stream
  std::int32_t id() const { return id_; }
  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*);

 private:
  boost::asio::awaitable<void> run_pump(std::shared_ptr<OriginStream> self, Downstream& down, Context& ctx,
                                        Clock::duration room_timeout);
  void resume();
  void fail(const char* why);
  // At the body's end: the request trailers, if any, as a HEADERS frame that ends the stream.
  bool submit_request_trailers();

  OriginSession* session_ = nullptr;
  std::shared_ptr<OriginSession> keep_;  // session_, for as long as the stream exists
  std::int32_t id_ = 0;
  Clock::time_point opened_{};
  Wakeup wakeup_;     // the attempt or the relay waiting for the response
  Wakeup room_;       // the pump waiting for nghttp2 to take the body bytes waiting
  Wakeup pump_done_;  // join_pump() waiting for the pump

  // The request.
  NvList fields_;  // the request head's fields, then its trailers
  std::string_view fixed_;  // a whole body, sent from the downstream's memory
  std::size_t fixed_sent_ = 0;
  std::string out_;  // streamed body bytes nghttp2 has not taken yet
  std::size_t out_sent_ = 0;
  const Fields* request_trailers_ = nullptr;
  bool has_body_ = false, streamed_ = false, out_ended_ = false, deferred_ = false;
  bool pumping_ = false, abandoned_ = false, client_failed_ = false;

  // The response.
  HeaderBlock head_, trailers_;
  int status_ = 0;
  bool in_head_ = true;  // header fields go to the head (else to the trailers)
  bool head_done_ = false;
  std::string in_, reading_;
  bool ended_ = false, closed_ = false, refused_ = false, detached_ = false, headers_sent_ = false;
  std::uint32_t error_code_ = 0;
  const char* failure_ = "";
  std::size_t max_head_bytes_ = 0;
};

}  // namespace portcullis::http::h2
