// Reads and writes with as few system calls as the protocol allows.
//
// Reads. Asio's reactor registers a socket once, edge-triggered, and tries a read at once
// ("speculatively") unless it knows the socket is drained; it counts a socket as drained only
// after a read returned end-of-stream. So after every message the next read is a recv that returns
// EAGAIN before the reactor waits: one wasted call per message. A short read cannot in general be
// taken for "drained" (a FIN that arrived with the data would then go unseen until the next edge,
// and a message cut short would hang until its timeout). But a request head read that ends exactly
// at the head's end (CRLF CRLF) and did not fill its buffer left nothing to read but, at most, the
// client's FIN: the next read is the wait for the client's next request, and it waits for the edge
// without a syscall (nginx's `ready` flag does the same). A FIN that came with the request is then
// seen when the idle connection is parked, which re-arms the descriptor (at most two upkeep
// periods later). The hook is Asio's per-buffer-type receive operation, a template of Boost 1.81
// that other versions may change; with another Boost every read speculates (correct, one call more).
//
// Writes. An asynchronous write that completes at once is still posted to the event loop, and a
// posted completion makes the loop poll epoll once more before it runs: one wasted call per write.
// A write here is one sendmsg made directly (the socket is non-blocking); only what the kernel did
// not take (a full socket buffer) is handed to an asynchronous write.
#include "http/stream.h"

#include <sys/socket.h>

#include <array>
#include <cerrno>

#include <boost/asio/write.hpp>
#include <boost/version.hpp>

#include "util/awaitable.h"

namespace portcullis::http {
namespace {

// A single buffer for request heads: a short read that ends at the end of a head drains the socket.
struct HeadRead : net::mutable_buffer {
  using net::mutable_buffer::mutable_buffer;
};

}  // namespace
}  // namespace portcullis::http

#if BOOST_VERSION == 108100 && !defined(BOOST_ASIO_HAS_IO_URING)
#define PORTCULLIS_SHORT_READ_HOOK 1
namespace boost::asio::detail {

template <>
class reactive_socket_recv_op_base<portcullis::http::HeadRead> : public reactor_op {
 public:
  reactive_socket_recv_op_base(const boost::system::error_code& success_ec, socket_type socket,
                               socket_ops::state_type state, const portcullis::http::HeadRead& buffer,
                               socket_base::message_flags flags, func_type complete_func)
      : reactor_op(success_ec, &reactive_socket_recv_op_base::do_perform, complete_func),
        socket_(socket),
        state_(state),
        buffer_(buffer),
        flags_(flags) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<reactive_socket_recv_op_base*>(base);
    const bool stream = (o->state_ & socket_ops::stream_oriented) != 0;
    if (!socket_ops::non_blocking_recv1(o->socket_, o->buffer_.data(), o->buffer_.size(), o->flags_, stream, o->ec_,
                                        o->bytes_transferred_))
      return not_done;  // EAGAIN: wait for the edge
    if (o->ec_) return done_and_exhausted;
    // Fewer bytes than asked for, ending where a head ends: nothing more until the next edge.
    const std::size_t n = o->bytes_transferred_;
    const char* end = static_cast<const char*>(o->buffer_.data()) + n;
    const bool at_head_end = n >= 4 && end[-4] == '\r' && end[-3] == '\n' && end[-2] == '\r' && end[-1] == '\n';
    return n < o->buffer_.size() && at_head_end ? done_and_exhausted : done;
  }

 private:
  socket_type socket_;
  socket_ops::state_type state_;
  portcullis::http::HeadRead buffer_;
  socket_base::message_flags flags_;
};

}  // namespace boost::asio::detail
#endif

namespace portcullis::http {

void Stream::configure_tcp() {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
#ifndef BOOST_ASIO_HAS_IO_URING
  // io_uring receives asynchronously only on sockets Asio sees as blocking; direct writes pass
  // MSG_DONTWAIT either way.
  socket_.non_blocking(true, ec);
#endif
}

bool Stream::tls_pending() {
  if (!tls_) return false;
  ssl_st* ssl = tls_->native_handle();
  return SSL_pending(ssl) > 0 || SSL_has_pending(ssl) == 1;
}

net::awaitable<std::size_t> Stream::read_some(char* data, std::size_t size, boost::system::error_code& ec,
                                              bool request_head) {
  if (tls_) {
    auto [e, n] = co_await tls_->async_read_some(net::buffer(data, size), use_tuple);
    ec = e;
    co_return n;
  }
  if (memory_) co_return co_await memory_->read_some(data, size, ec);
  if (request_head) {
    auto [e, n] = co_await socket_.async_read_some(HeadRead(data, size), use_tuple);
    ec = e;
    co_return n;
  }
  auto [e, n] = co_await socket_.async_read_some(net::buffer(data, size), use_tuple);
  ec = e;
  co_return n;
}

void Stream::start_read(char* data, std::size_t size,
                        net::any_completion_handler<void(boost::system::error_code, std::size_t)> handler) {
  if (tls_) tls_->async_read_some(net::buffer(data, size), std::move(handler));
  else socket_.async_read_some(net::buffer(data, size), std::move(handler));
}

net::awaitable<bool> Stream::write(std::span<const net::const_buffer> buffers) {
  if (tls_) {
    auto [ec, n] = co_await net::async_write(*tls_, buffers, use_tuple);
    co_return !ec;
  }
  if (memory_) co_return co_await memory_->write(buffers);
  std::array<iovec, 16> iov;
  std::size_t count = 0;
  std::size_t total = 0;
  for (const auto& b : buffers) {
    if (b.size() == 0) continue;
    if (count == iov.size()) co_return co_await write_rest(buffers, 0);
    iov[count++] = {const_cast<void*>(b.data()), b.size()};
    total += b.size();
  }
  if (total == 0) co_return true;
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = count;
  const ssize_t n = ::sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n == static_cast<ssize_t>(total)) co_return true;
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) co_return false;
  co_return co_await write_rest(buffers, n < 0 ? 0 : static_cast<std::size_t>(n));
}

net::awaitable<bool> Stream::write_rest(std::span<const net::const_buffer> buffers, std::size_t written) {
  // The part the kernel did not take: skip what was written, await the rest.
  std::array<net::const_buffer, 16> rest;
  std::size_t count = 0;
  for (const auto& b : buffers) {
    if (written >= b.size()) {
      written -= b.size();
      continue;
    }
    if (count == rest.size()) co_return false;  // callers pass at most 16 pieces
    rest[count++] = net::buffer(static_cast<const char*>(b.data()) + written, b.size() - written);
    written = 0;
  }
  auto [ec, n] = co_await net::async_write(socket_, std::span(rest.data(), count), use_tuple);
  co_return !ec;
}

net::awaitable<bool> Stream::write(std::string_view a, std::string_view b) {
  const std::array<net::const_buffer, 2> buffers{net::buffer(a.data(), a.size()), net::buffer(b.data(), b.size())};
  co_return co_await write(std::span<const net::const_buffer>(buffers));
}

void Stream::close() {
  if (memory_) {
    memory_->close();
    return;
  }
  boost::system::error_code ec;
  socket_.close(ec);
}

void Stream::shutdown_send() {
  if (memory_) {
    memory_->shutdown_send();
    return;
  }
  boost::system::error_code ec;
  if (tls_) socket_.close(ec);
  else socket_.shutdown(tcp::socket::shutdown_send, ec);
}

void Stream::cancel() {
  boost::system::error_code ec;
  socket_.cancel(ec);
}

}  // namespace portcullis::http
