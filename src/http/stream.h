// A connection's byte stream: plain TCP, TLS over the same socket, or an in-memory transport (the
// data path's unit tests). The connection, the exchange and the upstream side read and write through
// it with one code path; a plain stream costs a predictable branch per operation.
//
// Reads and writes are shaped for few system calls (see stream.cpp): a request head read that
// drained the socket lets the wait for the next request go without a recv that would return
// EAGAIN; a write is one sendmsg made at once, the remainder (a full socket buffer) awaited.
// TLS runs OpenSSL straight over the socket (see stream_tls.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

struct ssl_st;

namespace portcullis::http {

namespace net = boost::asio;

// What a read is for, so a read that leaves the socket drained can tell the event loop (see
// stream.cpp): a request head, a response from an origin, or anything else.
enum class ReadKind { plain, request_head, response };

// A byte stream that is not a socket: the unit tests' in-memory peers.
class ByteTransport {
 public:
  virtual ~ByteTransport() = default;
  virtual net::awaitable<std::size_t> read_some(char* data, std::size_t size, boost::system::error_code& ec) = 0;
  virtual net::awaitable<bool> write(std::span<const net::const_buffer> buffers) = 0;
  virtual void close() = 0;          // both directions; pending reads end with an error
  virtual void shutdown_send() = 0;  // the peer reads end-of-stream
  virtual bool is_open() const = 0;
};

class Stream {
 public:
  using tcp = net::ip::tcp;
  // The io_context's own executor rather than any_io_executor: a smaller socket (an idle
  // connection is mostly its socket) and no type-erased executor to track per operation.
  using Socket = net::basic_stream_socket<tcp, net::io_context::executor_type>;
  using executor_type = Socket::executor_type;

  explicit Stream(Socket socket) : socket_(std::move(socket)) {}
  explicit Stream(net::io_context& ioc) : socket_(ioc) {}
  Stream(net::io_context& ioc, std::unique_ptr<ByteTransport> transport)
      : socket_(ioc), memory_(std::move(transport)) {}
  // The TLS layer keeps the socket's address: a stream stays where it was made.
  Stream(Stream&&) = delete;
  Stream& operator=(Stream&&) = delete;

  // Layers TLS over the socket before any byte is read or written; `ssl` (from tls::ServerContext
  // or tls::ClientContext) is owned by the stream from here on. `owner` keeps its context alive.
  void start_tls(ssl_st* ssl, std::shared_ptr<const void> owner);
  bool secure() const { return ssl_ != nullptr; }
  ssl_st* native_tls() { return ssl_.get(); }
  enum class TlsRole { client, server };
  // The TLS handshake; errors carry OpenSSL's reason (Asio's ssl category).
  net::awaitable<boost::system::error_code> handshake(TlsRole role);
  // Sends close_notify without waiting for the peer's (the caller bounds it with a deadline).
  net::awaitable<void> close_notify();
  // Whether the TLS layer holds bytes already read from the socket (a readiness wait on the socket
  // would miss them).
  bool tls_pending();
  // A socket (not an in-memory transport): readiness waits, pooling and parking apply to it.
  bool pollable() const { return memory_ == nullptr; }

  // TCP_NODELAY, and (with the epoll backend) a non-blocking socket for the direct writes.
  void configure_tcp();
  Socket& socket() { return socket_; }
  executor_type get_executor() { return socket_.get_executor(); }
  bool is_open() const { return memory_ ? memory_->is_open() : socket_.is_open(); }

  // What is there, at most `size` bytes, waiting when nothing is.
  net::awaitable<std::size_t> read_some(char* data, std::size_t size, boost::system::error_code& ec,
                                        ReadKind kind = ReadKind::plain);
  // The same read with a completion handler, for reads that outlive any one coroutine (a pooled
  // connection's pending read). Plain or TLS only. The handler is a plain function with its
  // context and owner rather than a type-erased handler: Asio's type-erased handlers allocate a
  // tracked executor for every operation they complete.
  struct ReadDone {
    void (*fn)(void* context, std::shared_ptr<void>& owner, boost::system::error_code ec, std::size_t n);
    void* context;
    std::shared_ptr<void> owner;
    void operator()(boost::system::error_code ec, std::size_t n) { fn(context, owner, ec, n); }
  };
  void start_read(char* data, std::size_t size, ReadKind kind, ReadDone done);
  // What is there now, without waiting: would_block when nothing is (then wait_readable()).
  // Plain or TLS only. For a reader that hands the bytes on before it could be suspended (HTTP/2
  // feeds them to nghttp2), so its buffer can be the worker's own and an idle connection holds none.
  std::size_t read_now(char* data, std::size_t size, boost::system::error_code& ec);
  net::awaitable<boost::system::error_code> wait_readable();
  // Writes all of `buffers` (at most 16 of them); false when the peer is gone.
  net::awaitable<bool> write(std::span<const net::const_buffer> buffers);
  // The same in two steps, so the common case costs no coroutine frame: write_now() sends what the
  // kernel takes at once (a plain socket only); when it says pending, write_rest() sends the rest.
  struct Written {
    bool done = false;    // everything went out, or the stream failed (then `failed`)
    bool failed = false;
    std::size_t bytes = 0;
  };
  Written write_now(std::span<const net::const_buffer> buffers);
  net::awaitable<bool> write_rest(std::span<const net::const_buffer> buffers, std::size_t written);
  net::awaitable<bool> write(std::string_view a, std::string_view b = {});
  void close();
  void shutdown_send();  // half-close; TLS has none, so a TLS stream closes
  void cancel();         // pending operations end with operation_aborted

 private:
  enum class TlsStep { want_read, want_write, failed };
  struct SslFree {
    void operator()(ssl_st* ssl) const;
  };
  struct TlsReadOp;
  TlsStep tls_step(int result, boost::system::error_code& ec);
  net::awaitable<boost::system::error_code> tls_wait(TlsStep step, std::uint32_t generation);
  net::awaitable<std::size_t> tls_read_some(char* data, std::size_t size, boost::system::error_code& ec);
  std::size_t tls_read_now(char* data, std::size_t size, boost::system::error_code& ec);
  void tls_start_read(char* data, std::size_t size, ReadDone done);
  Written tls_write_now(std::span<const net::const_buffer> buffers);
  net::awaitable<bool> tls_write_rest(std::span<const net::const_buffer> buffers, std::size_t written);
  net::awaitable<bool> tls_write_all(const char* data, std::size_t size);

  Socket socket_;
  std::shared_ptr<const void> owner_;  // declared before ssl_: it outlives the TLS object it made
  std::unique_ptr<ssl_st, SslFree> ssl_;
  std::unique_ptr<ByteTransport> memory_;
  std::uint32_t cancels_ = 0;  // cancel() calls, for TLS operations between two waits
  bool read_wants_write_ = false;  // TLS: the last read_now needs the socket writable first
};

}  // namespace portcullis::http
