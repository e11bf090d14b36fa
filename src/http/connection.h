// One downstream HTTP/1.1 connection = one coroutine on one worker. The connection owns the stream
// and its read buffer, the TLS handshake, the keep-alive loop, the head and idle deadlines,
// parking of idle connections and drain; it parses request heads one after another and hands
// each request to an Exchange (through an Http1Stream), answering pipelined requests in order.
//
// An idle connection holds no request state: the request object (head, body state, response
// buffer, exchange) is taken from the worker's pool when a request arrives and given back after
// it, and a connection idle across a sweep of its worker is parked (no read buffer, no coroutine
// frame).
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http/buffer.h"
#include "http/downstream.h"
#include "http/stream.h"
#include "http/watchdog.h"

namespace portcullis {
class WorkerContext;
namespace tls {
class ServerContext;
}
}

namespace portcullis::http {

struct Http1Request;
class Http1Stream;
namespace h2 {
class Session;
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using tcp = boost::asio::ip::tcp;
  // `tls`: the listener's TLS context; null for a plain listener. `peer`: the client's address as
  // accept() gave it (no getpeername call); unspecified = read it from the socket.
  Connection(WorkerContext& worker, Stream::Socket socket, std::shared_ptr<const tls::ServerContext> tls,
             const tcp::endpoint& peer);
  ~Connection();
  static void start(WorkerContext& worker, Stream::Socket socket, std::shared_ptr<const tls::ServerContext> tls,
                    const tcp::endpoint& peer = {});

  void wake_if_idle();  // drain: an idle keep-alive connection closes now
  // The worker's periodic sweep: a connection idle for a whole sweep period is parked; a parked
  // one whose idle deadline passed is closed.
  void park_if_idle(std::uint64_t tick);

  // The worker's list of its connections (intrusive: registering allocates nothing).
  Connection* list_prev = nullptr;
  Connection* list_next = nullptr;

 private:
  friend class Http1Stream;
  friend class h2::Session;
  enum class Wait { ready, closed, parked };

  net::awaitable<void> run();
  net::awaitable<bool> handshake();
  net::awaitable<void> linger();
  net::awaitable<void> finish();
  void wait_idle();
  static void on_idle_read(void* self, std::shared_ptr<void>& owner, boost::system::error_code ec, std::size_t n);
  net::awaitable<bool> read_head(RequestHead& head);
  net::awaitable<bool> serve(Http1Request& request);
  // HTTP/2 (by ALPN, or the client preface on a plain connection) until the connection ends.
  enum class Preface { no, partial, yes };
  Preface http2_preface() const;
  net::awaitable<void> serve_http2();
  // A request that could not be parsed: no exchange, no filters; a short JSON answer and close.
  net::awaitable<void> refuse(int status, const char* message, std::string_view request_start);
  // Reads into `buffer` (growing it up to `max` bytes); no_buffer_space when it is full.
  net::awaitable<std::size_t> read_into(Buffer& buffer, std::size_t max, boost::system::error_code& ec,
                                        std::size_t at_most = SIZE_MAX, ReadKind kind = ReadKind::plain);
  Wait after_idle_read(boost::system::error_code ec);
  void park();
  void spawn();
  void close();

  // What only a TLS connection has (a plain one, most idle ones, keeps just the pointer).
  struct Tls {
    std::shared_ptr<const tls::ServerContext> context;  // until the handshake is over
    std::string client_subject;                         // the verified client certificate's subject
  };

  WorkerContext& worker_;
  Stream stream_;
  Watchdog watchdog_;
  std::unique_ptr<Tls> tls_;
  Buffer buffer_;  // request heads (and the start of bodies, pipelined requests)
  std::array<std::uint8_t, 16> peer_bytes_{};  // the client's address, IPv4 mapped into IPv6
  char peer_text_[46] = {};                    // the same as text
  h2::Session* h2_ = nullptr;  // while the connection speaks HTTP/2
  bool idle_ = false;
  bool parked_ = false;
  bool park_requested_ = false;
  std::uint64_t idle_tick_ = 0;
  std::uint64_t served_ = 0;
};

}  // namespace portcullis::http
