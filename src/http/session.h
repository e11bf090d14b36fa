// One downstream connection = one coroutine on one worker. The session reads request heads,
// runs each request through the filter pipeline (pipeline/chain.h) and the route stage, and writes
// responses in order (pipelined requests are answered one after another).
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/buffer.h"
#include "http/message.h"
#include "http/parser.h"
#include "http/stream.h"
#include "http/upstream_pool.h"
#include "pipeline/context.h"
#include "pipeline/filter.h"
#include "protection/gate.h"

namespace portcullis {

class Worker;
struct Route;
struct Service;
enum class HashOn : std::uint8_t;
enum class ShedReason : std::uint8_t;
namespace tls { class ServerContext; }

namespace net = boost::asio;
using tcp = net::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `tls`: the listener's TLS context; null for a plain listener.
  Session(Worker& worker, tcp::socket socket, std::shared_ptr<const tls::ServerContext> tls);
  ~Session();
  static void start(Worker& worker, tcp::socket socket, std::shared_ptr<const tls::ServerContext> tls);
  void wake_if_idle();  // drain: an idle keep-alive connection closes now
  // Called by the worker's periodic sweep: a connection idle for a whole sweep period gives back
  // its read buffer.
  void park_if_idle(std::uint64_t tick);

 private:
  enum class Phase { idle, head, body_in, connect, upstream_wait, upstream_body, write };

  net::awaitable<void> run();
  net::awaitable<bool> handshake();
  net::awaitable<bool> read_head();
  net::awaitable<bool> exchange();

  // Pipeline stages (pipeline.cpp)
  net::awaitable<void> run_request(Context& ctx);
  net::awaitable<bool> run_filters(Context& ctx, const std::vector<const Filter*>& list);
  void run_error_filters(Context& ctx);

  // Route stage: proxying (proxy.cpp)
  net::awaitable<void> proxy(Context& ctx);
  std::uint64_t request_hash(const Context& ctx, const Service& service) const;
  std::string_view sticky_key(const Context& ctx, HashOn on, const std::string& name) const;
  void choose_variant(Context& ctx);
  // Load shedding: the gateway's and the route's concurrency limits; a refusal sets ctx.error.
  bool admit(Context& ctx, protection::GateTicket& global_ticket, protection::GateTicket& route_ticket);
  void shed(Context& ctx, ShedReason reason, std::string message);
  void start_mirror(Context& ctx, std::size_t body_start, bool body_whole);
  // Arms the watchdog for `d`, or less when the route's overall timeout comes first.
  void arm_upstream(std::chrono::steady_clock::duration d, Phase phase);
  bool timed_out_route() const { return std::chrono::steady_clock::now() >= upstream_deadline_; }
  net::awaitable<bool> connect_upstream(Context& ctx, const Instance& instance,
                                        std::shared_ptr<http::UpstreamConnection>& conn);
  net::awaitable<bool> send_request(Context& ctx, http::UpstreamConnection& conn, bool& body_started);
  net::awaitable<bool> read_response_head(Context& ctx, http::UpstreamConnection& conn, http::ResponseHead& head,
                                          http::ResponseFraming& framing, bool& got_bytes);
  net::awaitable<bool> relay_response(Context& ctx, http::UpstreamConnection& conn, const http::ResponseHead& head,
                                      const http::ResponseFraming& framing);
  net::awaitable<bool> tunnel(Context& ctx, http::UpstreamConnection& conn, const http::ResponseHead& head);

  // Request body (body.cpp): pieces of the client's body, decoded from chunked when needed.
  net::awaitable<std::string_view> next_body_piece(Context& ctx, boost::system::error_code& ec);
  net::awaitable<bool> discard_body(Context& ctx);
  // Reads the whole body (at most `limit` bytes, else 413) into held_body_ for a filter that must
  // see it (Filter::body_limit); the proxy then sends it from there.
  net::awaitable<bool> hold_body(Context& ctx, std::size_t limit);

  // Responses written by the gateway itself (respond.cpp)
  net::awaitable<bool> write_local(Context& ctx, const LocalResponse& response);
  void build_error(Context& ctx);
  net::awaitable<void> write_error_and_close(int status, const char* message);

  // Writing (respond.cpp)
  net::awaitable<bool> write_client(std::string_view a, std::string_view b = {});
  void append_response_head(Context& ctx, int status, std::string_view reason, const http::Fields& fields,
                            std::int64_t content_length, bool chunked);
  void append_request_head(Context& ctx, const Instance& instance);

  // Deadline watchdog: one timer per connection, re-armed lazily (setting a deadline is a store).
  void arm(std::chrono::steady_clock::duration d, Phase phase);
  void disarm() { deadline_ = std::chrono::steady_clock::time_point::max(); }
  void start_timer();
  void on_timer(boost::system::error_code ec);

  net::awaitable<std::size_t> read_some(http::Stream& stream, http::Buffer& buffer, std::size_t max,
                                        boost::system::error_code& ec, std::size_t at_most = SIZE_MAX);
  enum class Wait { ready, closed, parked };
  net::awaitable<Wait> wait_for_request();
  Wait after_idle_read(boost::system::error_code ec);
  void park();
  void spawn();
  void close();
  void finish_request(Context& ctx);
  void make_request_id(Context& ctx);

  Worker& worker_;
  http::Stream stream_;
  tcp::socket& socket_;  // the stream's socket: closing, cancelling, readiness
  std::shared_ptr<const tls::ServerContext> tls_;  // until the handshake is over
  std::string client_subject_;  // the verified client certificate's subject
  net::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point timer_expiry_{};
  bool timer_running_ = false;
  Phase phase_ = Phase::idle;
  bool timed_out_ = false;
  Phase timed_out_phase_ = Phase::idle;
  http::UpstreamConnection* upstream_ = nullptr;  // the socket the watchdog closes in upstream phases
  std::chrono::steady_clock::time_point upstream_deadline_ = std::chrono::steady_clock::time_point::max();

  http::Buffer buffer_;       // request heads (and the start of bodies, pipelined requests)
  http::Buffer body_buf_;     // request body bytes read after the head
  std::string held_body_;     // the whole body, when a filter needed it
  http::RequestHead head_;
  http::ChunkedDecoder chunked_;
  std::size_t body_cursor_ = 0;  // offset in buffer_ of unread body bytes
  std::uint64_t body_left_ = 0;  // content-length bytes still to read
  bool body_done_ = true;
  bool sent_continue_ = false;
  std::string out_;           // serialised heads, reused
  std::string canonical_;     // the canonical path of the current request
  std::string peer_;          // client IP as text
  std::array<std::uint8_t, 16> peer_bytes_{};
  std::list<Session*>::iterator registration_;
  bool idle_ = false;
  bool parked_ = false;
  bool park_requested_ = false;
  std::uint64_t idle_tick_ = 0;
  bool close_after_ = false;
  std::uint64_t served_ = 0;
};

}  // namespace portcullis
