// Reads and writes with as few system calls as the protocol allows.
//
// Reads. Asio's reactor registers a socket once, edge-triggered, and tries a read at once
// ("speculatively") unless it knows the socket is drained; it counts a socket as drained only
// after a read returned end-of-stream. So after every message the next read is a recv that returns
// EAGAIN before the reactor waits: one wasted call per message. A short read cannot in general be
// taken for "drained" (a FIN that arrived with the data would then go unseen until the next edge,
// and a message cut short would hang until its timeout). But a short read that ends exactly where
// its message ends (a request head ending in CRLF CRLF; a whole response with its Content-Length
// body or last chunk) left nothing to read but, at most, the peer's FIN: the next read waits for
// the peer's next message, and it waits for the edge without a syscall (nginx's `ready` flag does
// the same). A FIN that came with the message is seen when the idle client connection is parked
// (parking re-arms the descriptor) or when the pool's sweep peeks at its idle connections, at
// most two upkeep periods later. The hook is Asio's per-buffer-type receive operation, a template of Boost 1.81
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
#include <cstring>

#include <boost/asio/write.hpp>
#include <boost/version.hpp>

#include "http/parser.h"
#include "util/awaitable.h"

namespace portcullis::http {
namespace {

// A single buffer whose read, when short and ending where its message ends, drains the socket.
struct MessageRead : net::mutable_buffer {
  MessageRead(void* data, std::size_t size, ReadKind kind) : net::mutable_buffer(data, size), kind(kind) {}
  ReadKind kind;
};

// A short read that ends exactly at the end of its message: the rest of the exchange is the
// other side's turn, so nothing more can arrive before a new edge (but a FIN, see above).
bool drains(const MessageRead& buffer, std::size_t n) {
  if (n >= buffer.size()) return false;
  const std::string_view bytes(static_cast<const char*>(buffer.data()), n);
  return buffer.kind == ReadKind::request_head ? ends_at_head_end(bytes) : holds_whole_response(bytes);
}

}  // namespace
}  // namespace portcullis::http

#if BOOST_VERSION == 108100 && !defined(BOOST_ASIO_HAS_IO_URING)
#define PORTCULLIS_SHORT_READ_HOOK 1
namespace boost::asio::detail {

template <>
class reactive_socket_recv_op_base<portcullis::http::MessageRead> : public reactor_op {
 public:
  reactive_socket_recv_op_base(const boost::system::error_code& success_ec, socket_type socket,
                               socket_ops::state_type state, const portcullis::http::MessageRead& buffer,
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
    return portcullis::http::drains(o->buffer_, o->bytes_transferred_) ? done_and_exhausted : done;
  }

 private:
  socket_type socket_;
  socket_ops::state_type state_;
  portcullis::http::MessageRead buffer_;
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

net::awaitable<std::size_t> Stream::read_some(char* data, std::size_t size, boost::system::error_code& ec,
                                              ReadKind kind) {
  if (ssl_) co_return co_await tls_read_some(data, size, ec);
  if (memory_) co_return co_await memory_->read_some(data, size, ec);
  if (kind != ReadKind::plain) {
    auto [e, n] = co_await socket_.async_read_some(MessageRead(data, size, kind), use_tuple);
    ec = e;
    co_return n;
  }
  auto [e, n] = co_await socket_.async_read_some(net::buffer(data, size), use_tuple);
  ec = e;
  co_return n;
}

std::size_t Stream::read_now(char* data, std::size_t size, boost::system::error_code& ec) {
  ec = {};
  if (ssl_) return tls_read_now(data, size, ec);
  if (memory_) {
    ec = net::error::operation_not_supported;
    return 0;
  }
  const ssize_t n = ::recv(socket_.native_handle(), data, size, MSG_DONTWAIT);
  if (n > 0) return static_cast<std::size_t>(n);
  if (n == 0) ec = net::error::eof;
  else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ec = net::error::would_block;
  else ec = boost::system::error_code(errno, boost::system::system_category());
  return 0;
}

net::awaitable<boost::system::error_code> Stream::wait_readable() {
  auto [ec] = co_await socket_.async_wait(read_wants_write_ ? Socket::wait_write : Socket::wait_read, use_tuple);
  co_return ec;
}

void Stream::start_read(char* data, std::size_t size, ReadKind kind, ReadDone done) {
  if (ssl_) tls_start_read(data, size, std::move(done));
  else if (kind != ReadKind::plain) socket_.async_read_some(MessageRead(data, size, kind), std::move(done));
  else socket_.async_read_some(net::buffer(data, size), std::move(done));
}

Stream::Written Stream::write_now(std::span<const net::const_buffer> buffers) {
  if (ssl_) return tls_write_now(buffers);
  Written w;
  if (memory_) return w;  // not done: write_rest() does it all
  std::array<iovec, 16> iov;
  std::size_t count = 0;
  std::size_t total = 0;
  for (const auto& b : buffers) {
    if (b.size() == 0) continue;
    if (count == iov.size()) return w;
    iov[count++] = {const_cast<void*>(b.data()), b.size()};
    total += b.size();
  }
  if (total == 0) {
    w.done = true;
    return w;
  }
  ssize_t n;
  if (count == 1) {
    n = ::send(socket_.native_handle(), iov[0].iov_base, total, MSG_NOSIGNAL | MSG_DONTWAIT);
  } else if (total <= 4096) {
    // A small message in pieces (a head and a short body) leaves as one buffer.
    thread_local char joined[4096];
    std::size_t at = 0;
    for (std::size_t i = 0; i < count; ++i) {
      std::memcpy(joined + at, iov[i].iov_base, iov[i].iov_len);
      at += iov[i].iov_len;
    }
    n = ::send(socket_.native_handle(), joined, total, MSG_NOSIGNAL | MSG_DONTWAIT);
  } else {
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = count;
    n = ::sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  if (n == static_cast<ssize_t>(total)) {
    w.done = true;
  } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    w.done = w.failed = true;
  } else {
    w.bytes = n < 0 ? 0 : static_cast<std::size_t>(n);
  }
  return w;
}

net::awaitable<bool> Stream::write(std::span<const net::const_buffer> buffers) {
  const Written w = write_now(buffers);
  if (w.done) co_return !w.failed;
  co_return co_await write_rest(buffers, w.bytes);
}

net::awaitable<bool> Stream::write_rest(std::span<const net::const_buffer> buffers, std::size_t written) {
  if (ssl_) co_return co_await tls_write_rest(buffers, written);
  if (memory_) co_return co_await memory_->write(buffers);
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
  if (ssl_) socket_.close(ec);
  else socket_.shutdown(Socket::shutdown_send, ec);
}

void Stream::cancel() {
  ++cancels_;
  boost::system::error_code ec;
  socket_.cancel(ec);
}

}  // namespace portcullis::http
