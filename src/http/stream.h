// A connection's byte stream: plain TCP, or TLS over the same socket. The session and the proxy
// read and write through it with one code path; a plain stream costs one predictable branch per
// operation, and both kinds return the same awaitable type, so nothing is copied or wrapped.
#pragma once
#include <memory>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

namespace portcullis::http {

class Stream {
 public:
  using tcp = boost::asio::ip::tcp;
  using executor_type = tcp::socket::executor_type;

  explicit Stream(tcp::socket socket) : socket_(std::move(socket)) {}
  explicit Stream(boost::asio::io_context& ioc) : socket_(ioc) {}

  // Layers TLS over the socket before any byte is read or written; `ssl` (from tls::ServerContext
  // or tls::ClientContext) is owned by the stream from here on. `owner` keeps its context alive.
  void start_tls(ssl_st* ssl, std::shared_ptr<const void> owner) {
    tls_ = std::make_unique<boost::asio::ssl::stream<tcp::socket&>>(socket_, ssl);
    owner_ = std::move(owner);
  }
  bool secure() const { return tls_ != nullptr; }
  ssl_st* native_tls() { return tls_ ? tls_->native_handle() : nullptr; }
  boost::asio::ssl::stream<tcp::socket&>& tls() { return *tls_; }
  // Whether the TLS layer holds bytes already read from the socket (a readiness wait on the socket
  // would miss them).
  bool tls_pending() {
    if (!tls_) return false;
    ssl_st* ssl = tls_->native_handle();
    return SSL_pending(ssl) > 0 || SSL_has_pending(ssl) == 1;
  }

  tcp::socket& socket() { return socket_; }
  executor_type get_executor() { return socket_.get_executor(); }
  bool is_open() const { return socket_.is_open(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Token>(token));
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  tcp::socket socket_;
  std::shared_ptr<const void> owner_;  // declared first: it outlives the TLS object it made
  std::unique_ptr<boost::asio::ssl::stream<tcp::socket&>> tls_;
};

}  // namespace portcullis::http
