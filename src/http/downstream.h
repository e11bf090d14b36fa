// What an Exchange sees of the connection its request arrived on: the request head, a body source,
// a response sink (head, body pieces, trailers, end) and the deadline timer. An HTTP/1.1
// connection implements it for the request it is serving (http/http1_stream.h); an HTTP/2 stream
// implements the same interface, so the Exchange does not know which protocol carries it.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "http/message.h"

namespace portcullis {
class Context;
}

namespace portcullis::http {

namespace net = boost::asio;
class Watchdog;
struct UpstreamConnection;

// The client end of the connection.
struct Peer {
  std::string_view address;                          // IP as text
  const std::array<std::uint8_t, 16>* bytes = nullptr;  // the same, IPv4 mapped into IPv6
  bool secure = false;                               // TLS
  std::string_view client_cert_subject;              // the verified certificate's subject, or ""
};

// A response head as the exchange hands it over: status and fields after the post filters.
struct ResponseStart {
  int status = 200;
  std::string_view reason;             // "" = the standard phrase
  const Fields* fields = nullptr;
  std::int64_t content_length = -1;    // -1 = not known: the sink frames the body itself
  bool bodiless = false;               // HEAD, 204, 304, 1xx: no body bytes follow
  bool close = false;                  // the exchange ends the connection after this response
  bool server_header = false;          // an answer the gateway made itself, and server_header is on
  std::string_view request_id;
  std::string_view via;                // "" = no Via
  bool via_http2 = false;              // the response came from an HTTP/2 origin ("Via: 2 ...")
};

// What the connection does once the exchange is over.
enum class Disposition { keep, close };

class Downstream {
 public:
  virtual ~Downstream() = default;

  // --- the request -------------------------------------------------------------------------
  virtual RequestHead& head() = 0;                // fields may be edited (views: use ctx.keep)
  virtual std::string_view head_bytes() const = 0;  // the head as it arrived (TRACE echoes it)
  virtual const Peer& peer() const = 0;
  virtual Watchdog& watchdog() = 0;
  // The client is still connected (a retry is pointless once it has gone).
  virtual bool client_open() const = 0;

  // --- the request body --------------------------------------------------------------------
  // True while some of the body is still to be read.
  virtual bool body_pending() const = 0;
  // The whole body, when all of it is already in memory and none of it was read: it can then go
  // out with the request head in one write, and again on a retry or to a mirror.
  virtual std::optional<std::string_view> buffered_body() const = 0;
  virtual void consume_buffered_body() = 0;  // it was sent: count it read
  virtual void rewind_body() = 0;            // a retry sends the buffered body again
  // The next piece of the body (decoded from its framing), valid until the next call; empty at
  // the end. On failure sets ctx.error (400 cut short or malformed, 413 over the limit) and `ec`.
  virtual net::awaitable<std::string_view> read_body(Context& ctx, boost::system::error_code& ec) = 0;
  // A read_body() waiting for the client ends now with operation_aborted, ctx.error untouched, and
  // so do later ones: the body's reader (a pump to an HTTP/2 origin) is being joined. Only
  // protocols whose body is read beside the response (HTTP/2) need it.
  virtual void abandon_body() {}
  // The trailer fields that ended the request body (HTTP/2), once read_body() returned its end or
  // buffered_body() the whole of it; null when none came.
  virtual const Fields* request_trailers() const { return nullptr; }

  // --- the response ------------------------------------------------------------------------
  // A 1xx from the origin, relayed as it came (`raw`) where the protocol allows.
  virtual net::awaitable<bool> send_informational(const ResponseHead& head, std::string_view raw) = 0;
  // The head is held until the first body bytes or the end, so head and body leave in one write
  // (nothing is written here: it cannot fail, and it costs no coroutine frame).
  virtual void send_head(const ResponseStart& start) = 0;
  // Body pieces (at most 4 per call); `last` ends the body with them.
  virtual net::awaitable<bool> send_body(std::span<const std::string_view> pieces, bool last) = 0;
  // Ends the response (after send_head, or after body pieces not marked last).
  virtual net::awaitable<bool> end() = 0;
  // Trailer fields sent after the body, given before its last piece (copied here). HTTP/2 sends
  // them; HTTP/1.1 leaves them out (its clients rarely ask for trailers, and gRPC needs HTTP/2).
  virtual void set_trailers(const Fields& trailers) { (void)trailers; }
  // Whether a response head went out (then an error can only cut the response short).
  virtual bool response_started() const = 0;

  // --- upgrades ------------------------------------------------------------------------------
  // A 101 from the origin: relays the head (`head`, then what the origin sent after it) and turns
  // both connections into a byte tunnel until either side ends. Counts the bytes into `ctx`.
  virtual net::awaitable<void> tunnel(Context& ctx, UpstreamConnection& upstream, std::string_view head,
                                      std::string_view early) = 0;
};

}  // namespace portcullis::http
