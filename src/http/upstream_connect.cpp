// TCP (and TLS) connections to origins.
#include "http/upstream_connect.h"

#include "config/snapshot.h"
#include "http/upstream_pool.h"
#include "http/watchdog.h"
#include "tls/tls.h"
#include "util/awaitable.h"

namespace portcullis::http {
namespace {

using tcp = boost::asio::ip::tcp;

Error connect_error(bool timed_out, const std::string& address, const std::string& what) {
  if (timed_out)
    return {ErrorKind::connect_timeout, ErrorSource::upstream, 0, what + " " + address + " timed out", true};
  return {ErrorKind::connect_failed, ErrorSource::upstream, 0, what + " " + address + " failed", true};
}

}  // namespace

tcp::endpoint tcp_endpoint(const Endpoint& e) {
  if (e.v6) {
    boost::asio::ip::address_v6::bytes_type b;
    std::copy(e.bytes.begin(), e.bytes.end(), b.begin());
    return {boost::asio::ip::address_v6(b), e.port};
  }
  boost::asio::ip::address_v4::bytes_type b;
  std::copy(e.bytes.begin(), e.bytes.begin() + 4, b.begin());
  return {boost::asio::ip::address_v4(b), e.port};
}

boost::asio::awaitable<Error> TcpConnector::connect(const Instance& instance, const Service& service,
                                                    Watchdog& watchdog, std::chrono::steady_clock::time_point deadline,
                                                    std::shared_ptr<UpstreamConnection>& out) {
  auto conn = std::make_shared<UpstreamConnection>(ioc_);
  conn->instance_id = instance.id;
  watchdog.clear();
  watchdog.arm_at(deadline, &conn->stream);
  auto [ec] = co_await conn->socket().async_connect(tcp_endpoint(instance.endpoint), use_tuple);
  if (ec) {
    Error e = connect_error(watchdog.fired(), instance.address, "connect to");
    if (!watchdog.fired()) e.message = "cannot connect to " + instance.address + ": " + ec.message();
    co_return e;
  }
  conn->stream.configure_tcp();
  if (const auto& tls = service.config.tls_context) {
    // TLS to the origin: the handshake counts against the connect timeout.
    const auto address = parse_listen_address(instance.address);
    ssl_st* ssl = address ? tls->new_connection(address->host, service.config.http2()) : nullptr;
    if (!ssl) co_return Error{ErrorKind::internal, ErrorSource::internal, 0, "cannot create a TLS connection"};
    conn->stream.start_tls(ssl, tls);
    conn->tls = tls.get();
    const boost::system::error_code hec = co_await conn->stream.handshake(Stream::TlsRole::client);
    if (hec) {
      Error e = connect_error(watchdog.fired(), instance.address, "TLS handshake with");
      if (!watchdog.fired()) e.message = "TLS handshake with " + instance.address + " failed: " + hec.message();
      co_return e;
    }
    if (service.config.http2() && !tls::negotiated_h2(conn->stream.native_tls()))
      co_return Error{ErrorKind::connect_failed, ErrorSource::upstream, 0, instance.address + " did not choose h2 by ALPN"};
  }
  out = std::move(conn);
  co_return Error{};
}

}  // namespace portcullis::http
