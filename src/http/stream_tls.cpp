// TLS straight over the socket. OpenSSL reads and writes the descriptor itself, through a small
// BIO of the gateway's own (recv and send, non-blocking, never SIGPIPE), and the event loop is
// asked for readiness only when OpenSSL says it would block. Compared with Asio's ssl::stream
// there is no BIO pair that every byte is copied through, and no pair of 17 KiB record buffers
// held for the connection's whole life: with SSL_MODE_RELEASE_BUFFERS an idle TLS connection
// keeps OpenSSL's session state and nothing else. Errors are reported in Asio's ssl category, as
// Asio's stream reports them, so callers read them the same way.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>

#include "http/stream.h"
#include "util/awaitable.h"

namespace portcullis::http {
namespace {

// Records are at most 16 KiB of plaintext: pieces up to that leave as one record and one send.
constexpr std::size_t kJoinLimit = 16 * 1024;

// The BIO reads the descriptor from the socket at every call: once the socket is closed that is -1
// and a late call fails with EBADF, never touching a number the kernel has since reused.
int fd_of(BIO* bio) { return static_cast<Stream::Socket*>(BIO_get_data(bio))->native_handle(); }

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

int socket_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::send(fd_of(bio), data, static_cast<std::size_t>(size), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && would_block()) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

int socket_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::recv(fd_of(bio), data, static_cast<std::size_t>(size), MSG_DONTWAIT);
  if (n < 0 && would_block()) BIO_set_retry_read(bio);
  if (n == 0) BIO_set_flags(bio, BIO_FLAGS_IN_EOF);  // lets OpenSSL tell a peer's close from an error
  return static_cast<int>(n);
}

long socket_ctrl(BIO* bio, int command, long, void*) {
  switch (command) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_EOF: return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0;
    default: return 0;
  }
}

// Before each SSL call: OpenSSL's error queue and errno say what that call did, nothing older.
void clear_errors() {
  ERR_clear_error();
  errno = 0;
}

int socket_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "portcullis socket");
    if (!m) throw std::bad_alloc();
    BIO_meth_set_write(m, socket_write);
    BIO_meth_set_read(m, socket_read);
    BIO_meth_set_ctrl(m, socket_ctrl);
    BIO_meth_set_create(m, socket_create);
    return m;
  }();
  return method;
}

// The pieces of a write, joined: what OpenSSL must see again, byte for byte, when it retries.
std::size_t join(std::span<const net::const_buffer> buffers, char* out) {
  std::size_t at = 0;
  for (const auto& b : buffers) {
    if (b.size() == 0) continue;
    std::memcpy(out + at, b.data(), b.size());
    at += b.size();
  }
  return at;
}

std::size_t total_size(std::span<const net::const_buffer> buffers, std::size_t& pieces) {
  std::size_t total = 0;
  pieces = 0;
  for (const auto& b : buffers) {
    if (b.size() == 0) continue;
    total += b.size();
    ++pieces;
  }
  return total;
}

}  // namespace

void Stream::SslFree::operator()(ssl_st* ssl) const { SSL_free(ssl); }

void Stream::start_tls(ssl_st* ssl, std::shared_ptr<const void> owner) {
  BIO* bio = BIO_new(socket_method());
  if (!bio) throw std::bad_alloc();
  BIO_set_data(bio, &socket_);  // a Stream never moves (its move operations are deleted)
  SSL_set_bio(ssl, bio, bio);   // the SSL owns the BIO
  // Partial writes and a moved retry buffer, as Asio's stream sets them; read-ahead so a record
  // comes in one recv rather than its header and its body in two.
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_read_ahead(ssl, 1);
  ssl_.reset(ssl);
  owner_ = std::move(owner);
}

bool Stream::tls_pending() {
  if (!ssl_) return false;
  return SSL_pending(ssl_.get()) > 0 || SSL_has_pending(ssl_.get()) == 1;
}

// What to do after an SSL call that did not succeed: wait for the socket, or give up with `ec`.
Stream::TlsStep Stream::tls_step(int result, boost::system::error_code& ec) {
  const int saved_errno = errno;
  switch (SSL_get_error(ssl_.get(), result)) {
    case SSL_ERROR_WANT_READ: return TlsStep::want_read;
    case SSL_ERROR_WANT_WRITE: return TlsStep::want_write;
    case SSL_ERROR_ZERO_RETURN: ec = net::error::eof; break;  // the peer's close_notify
    case SSL_ERROR_SYSCALL:
      ec = saved_errno ? boost::system::error_code(saved_errno, boost::system::system_category())
                       : boost::system::error_code(net::ssl::error::stream_truncated);
      break;
    default: {
      const unsigned long error = ERR_get_error();
      ERR_clear_error();  // the rest of the queue describes the same failure
      // OpenSSL 3 reports a peer that closed without close_notify as an SSL error.
      if (ERR_GET_REASON(error) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ec = net::ssl::error::stream_truncated;
      else if (error != 0) ec = boost::system::error_code(static_cast<int>(error), net::error::get_ssl_category());
      else ec = net::ssl::error::stream_truncated;
    }
  }
  return TlsStep::failed;
}

// A cancel() that came while a completed wait was queued found nothing to abort: the generation
// it bumped stops the operation before it waits again.
net::awaitable<boost::system::error_code> Stream::tls_wait(TlsStep step, std::uint32_t generation) {
  if (cancels_ != generation) co_return net::error::operation_aborted;
  auto [ec] = co_await socket_.async_wait(step == TlsStep::want_read ? Socket::wait_read : Socket::wait_write,
                                          use_tuple);
  co_return ec;
}

net::awaitable<boost::system::error_code> Stream::handshake(TlsRole role) {
  const std::uint32_t generation = cancels_;
  if (role == TlsRole::server) SSL_set_accept_state(ssl_.get());
  else SSL_set_connect_state(ssl_.get());
  while (true) {
    clear_errors();
    const int r = SSL_do_handshake(ssl_.get());
    if (r == 1) co_return boost::system::error_code();
    boost::system::error_code ec;
    const TlsStep step = tls_step(r, ec);
    if (step == TlsStep::failed) co_return ec;
    const boost::system::error_code wait_ec = co_await tls_wait(step, generation);
    if (wait_ec) co_return wait_ec;
  }
}

net::awaitable<void> Stream::close_notify() {
  const std::uint32_t generation = cancels_;
  // Marking the peer's close_notify as received makes SSL_shutdown done once ours is out.
  SSL_set_shutdown(ssl_.get(), SSL_RECEIVED_SHUTDOWN);
  while (true) {
    clear_errors();
    const int r = SSL_shutdown(ssl_.get());
    if (r == 1) co_return;
    boost::system::error_code ec;
    const TlsStep step = tls_step(r, ec);
    if (step == TlsStep::failed) co_return;
    const boost::system::error_code wait_ec = co_await tls_wait(step, generation);
    if (wait_ec) co_return;
  }
}

net::awaitable<std::size_t> Stream::tls_read_some(char* data, std::size_t size, boost::system::error_code& ec) {
  const std::uint32_t generation = cancels_;
  while (true) {
    clear_errors();
    std::size_t n = 0;
    const int r = SSL_read_ex(ssl_.get(), data, size, &n);
    if (r == 1) co_return n;
    const TlsStep step = tls_step(r, ec);
    if (step == TlsStep::failed) co_return 0;
    const boost::system::error_code wait_ec = co_await tls_wait(step, generation);
    if (wait_ec) {
      ec = wait_ec;
      co_return 0;
    }
  }
}

std::size_t Stream::tls_read_now(char* data, std::size_t size, boost::system::error_code& ec) {
  clear_errors();
  std::size_t n = 0;
  const int r = SSL_read_ex(ssl_.get(), data, size, &n);
  read_wants_write_ = false;
  if (r == 1) return n;
  const TlsStep step = tls_step(r, ec);
  if (step == TlsStep::failed) return 0;
  read_wants_write_ = step == TlsStep::want_write;
  ec = net::error::would_block;
  return 0;
}

// A read that outlives any coroutine (an idle connection's, a pooled one's): tries, and on "would
// block" waits for readiness and tries again, as one handler.
struct Stream::TlsReadOp {
  Stream* stream;
  char* data;
  std::size_t size;
  ReadDone done;
  std::uint32_t generation;

  // A read attempt: true when it ended (done was called or handed on), false to wait on `step`.
  bool attempt(TlsStep& step, boost::system::error_code& ec, std::size_t& n) {
    clear_errors();
    const int r = SSL_read_ex(stream->ssl_.get(), data, size, &n);
    if (r == 1) return true;
    step = stream->tls_step(r, ec);
    return step == TlsStep::failed;
  }
  void wait(TlsStep step) {
    if (stream->cancels_ != generation) return done(net::error::operation_aborted, 0);
    Socket& socket = stream->socket_;
    socket.async_wait(step == TlsStep::want_read ? Socket::wait_read : Socket::wait_write, std::move(*this));
  }
  void operator()(boost::system::error_code ec) {
    if (ec) return done(ec, 0);
    TlsStep step{};
    std::size_t n = 0;
    if (attempt(step, ec, n)) return done(ec, n);
    wait(step);
  }
};

void Stream::tls_start_read(char* data, std::size_t size, ReadDone done) {
  TlsReadOp op{this, data, size, std::move(done), cancels_};
  TlsStep step{};
  boost::system::error_code ec;
  std::size_t n = 0;
  // Bytes may be waiting already (in OpenSSL or in the socket, past their edge): try first. A
  // completion must not run inside its initiation, so one that ends now is posted.
  if (op.attempt(step, ec, n)) {
    net::post(socket_.get_executor(), [done = std::move(op.done), ec, n]() mutable { done(ec, n); });
    return;
  }
  op.wait(step);
}

Stream::Written Stream::tls_write_now(std::span<const net::const_buffer> buffers) {
  Written w;
  std::size_t pieces = 0;
  const std::size_t total = total_size(buffers, pieces);
  if (total == 0) {
    w.done = true;
    return w;
  }
  const char* data = nullptr;
  thread_local char joined[kJoinLimit];
  if (pieces == 1) {
    for (const auto& b : buffers)
      if (b.size() != 0) data = static_cast<const char*>(b.data());
  } else if (total <= kJoinLimit) {
    join(buffers, joined);
    data = joined;
  } else {
    return w;  // large pieces: write_rest() sends them one by one
  }
  while (w.bytes < total) {
    clear_errors();
    std::size_t n = 0;
    const int r = SSL_write_ex(ssl_.get(), data + w.bytes, total - w.bytes, &n);
    if (r != 1) {
      boost::system::error_code ec;
      if (tls_step(r, ec) == TlsStep::failed) w.done = w.failed = true;
      return w;
    }
    w.bytes += n;
  }
  w.done = true;
  return w;
}

net::awaitable<bool> Stream::tls_write_all(const char* data, std::size_t size) {
  const std::uint32_t generation = cancels_;
  while (size > 0) {
    clear_errors();
    std::size_t n = 0;
    const int r = SSL_write_ex(ssl_.get(), data, size, &n);
    if (r == 1) {
      data += n;
      size -= n;
      continue;
    }
    boost::system::error_code ec;
    const TlsStep step = tls_step(r, ec);
    if (step == TlsStep::failed) co_return false;
    const boost::system::error_code wait_ec = co_await tls_wait(step, generation);
    if (wait_ec) co_return false;
  }
  co_return true;
}

net::awaitable<bool> Stream::tls_write_rest(std::span<const net::const_buffer> buffers, std::size_t written) {
  std::size_t pieces = 0;
  const std::size_t total = total_size(buffers, pieces);
  if (pieces > 1 && total <= kJoinLimit) {
    // write_now() sent these joined, and a retry must offer OpenSSL the same bytes again.
    std::string joined(total, '\0');
    join(buffers, joined.data());
    co_return co_await tls_write_all(joined.data() + written, total - written);
  }
  for (const auto& b : buffers) {
    if (written >= b.size()) {
      written -= b.size();
      continue;
    }
    const bool sent = co_await tls_write_all(static_cast<const char*>(b.data()) + written, b.size() - written);
    if (!sent) co_return false;
    written = 0;
  }
  co_return true;
}

}  // namespace portcullis::http
