// The TLS layer over a real loopback socket, against a plain blocking OpenSSL server in a thread:
// data arrives, a peer that closes without close_notify reads as a truncated stream (not as a
// stale errno), and a closed stream fails its reads instead of touching a reused descriptor.
#include <catch2/catch.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>

#include "http/stream.h"

namespace net = boost::asio;
using portcullis::http::Stream;

namespace {

std::filesystem::path make_certificate() {
  const auto dir = std::filesystem::temp_directory_path() / ("portcullis-stream-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
                          "-subj /CN=stream.test -keyout " + (dir / "key.pem").string() + " -out " +
                          (dir / "cert.pem").string() + " 2>/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  return dir;
}

// Accepts one connection, completes the handshake, sends `payload` and closes the socket without
// a close_notify (a peer that cuts the connection).
void cut_after_sending(net::ip::tcp::acceptor& acceptor, const std::filesystem::path& dir, std::string payload) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate_file(ctx, (dir / "cert.pem").c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_use_PrivateKey_file(ctx, (dir / "key.pem").c_str(), SSL_FILETYPE_PEM);
  net::ip::tcp::socket peer = acceptor.accept();
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, peer.native_handle());
  if (SSL_accept(ssl) == 1) SSL_write(ssl, payload.data(), static_cast<int>(payload.size()));
  peer.close();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
}

}  // namespace

TEST_CASE("TLS stream: data, then a peer that closes without close_notify reads as truncated", "[stream][tls]") {
  const auto dir = make_certificate();
  net::io_context ioc;
  net::ip::tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  std::thread server(cut_after_sending, std::ref(acceptor), dir, std::string("hello"));

  Stream stream(ioc);
  boost::system::error_code handshake_ec, first_ec, second_ec, after_close_ec;
  std::string first;
  std::size_t after_close = 99;
  bool finished = false;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        stream.socket().connect(acceptor.local_endpoint());
        stream.configure_tcp();
        SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
        stream.start_tls(SSL_new(ctx), std::shared_ptr<const void>(ctx, [](const void* c) {
                           SSL_CTX_free(static_cast<SSL_CTX*>(const_cast<void*>(c)));
                         }));
        handshake_ec = co_await stream.handshake(Stream::TlsRole::client);
        char buf[64];
        std::size_t n = 0;
        // The payload and the cut may arrive together or apart: read until the stream ends.
        while (!first_ec) {
          n = co_await stream.read_some(buf, sizeof buf, first_ec);
          if (!first_ec) first.append(buf, n);
        }
        second_ec = first_ec;
        stream.close();
        after_close = co_await stream.read_some(buf, sizeof buf, after_close_ec);
        finished = true;
      },
      net::detached);
  ioc.run();
  server.join();
  std::filesystem::remove_all(dir);

  REQUIRE(finished);
  CHECK_FALSE(handshake_ec);
  CHECK(first == "hello");
  // Not "resource temporarily unavailable" left over from an earlier recv.
  CHECK(second_ec == boost::system::error_code(net::ssl::error::stream_truncated));
  // A closed stream fails at once.
  CHECK(after_close_ec);
  CHECK(after_close == 0);
}
