// Upgrades (a 101 from the origin, e.g. WebSocket): both connections become one byte tunnel until
// either side ends. Only routes with allow_upgrade forward the Upgrade request that leads here.
#include <array>
#include <vector>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "http/connection.h"
#include "http/http1_stream.h"
#include "http/upstream_pool.h"

namespace portcullis::http {
namespace {

// Copies `from` to `to` until `from` ends, then ends `to`'s direction.
net::awaitable<void> pump(Stream& from, Stream& to, std::uint64_t& bytes) {
  std::vector<char> buf(16 * 1024);
  while (true) {
    boost::system::error_code ec;
    const std::size_t n = co_await from.read_some(buf.data(), buf.size(), ec);
    if (ec) break;
    const bool written = co_await to.write(std::string_view(buf.data(), n));
    if (!written) break;
    bytes += n;
  }
  to.shutdown_send();  // TLS has no half-close: its side is closed, which also ends the pump reading from it
}

}  // namespace

net::awaitable<void> Http1Stream::tunnel(Context& ctx, UpstreamConnection& upstream, std::string_view head,
                                         std::string_view early) {
  using namespace net::experimental::awaitable_operators;
  close_ = true;
  started_ = true;
  std::string relayed(head);  // the head and what followed it, before the buffer is reused
  relayed.append(early);
  upstream.buffer.clear();
  Stream& client = conn_->stream_;
  const bool relayed_ok = co_await client.write(relayed);
  if (!relayed_ok) co_return;
  // Bytes the client sent after its upgrade request belong to the new protocol.
  Buffer& buffer = conn_->buffer_;
  const std::string_view client_early = buffer.readable().substr(std::min(body_cursor_, buffer.size()));
  if (!client_early.empty()) {
    const bool forwarded = co_await upstream.stream.write(client_early);
    if (!forwarded) co_return;
  }
  body_cursor_ = buffer.size();
  conn_->watchdog_.disarm();
  co_await (pump(client, upstream.stream, ctx.request_body_bytes) &&
            pump(upstream.stream, client, ctx.response_body_bytes));
}

}  // namespace portcullis::http
