// A small asynchronous HTTP/1.1 client for the control plane: registry polls (eureka, etcd) and
// active health checks. Plain TCP, one request per connection (Connection: close): control-plane
// requests are rare enough that pooling would only add states to get wrong. Requests are written
// and responses parsed by Boost.Beast (chunked watch streams included), so a registry that answers
// garbage fails cleanly; Beast stays out of this header.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

namespace portcullis::tls {
class ClientContext;
}

namespace portcullis::discovery {

// http[s]://host[:port][/path][?query]. host: IP literal ([v6] in brackets) or a name (resolved
// asynchronously, e.g. "localhost").
struct Url {
  std::string host;  // without brackets
  std::uint16_t port = 80;
  bool https = false;
  std::string target = "/";  // path and query, as sent
  std::string authority() const;  // for the Host header
};
std::optional<Url> parse_url(std::string_view text, std::string& error);

// Lets the owner of a request end it early (provider stop, watch restart). Control thread only.
class HttpCancel {
 public:
  void cancel() {
    cancelled_ = true;
    if (hook_) hook_();
  }
  bool cancelled() const { return cancelled_; }

 private:
  friend struct HttpExchange;
  bool cancelled_ = false;
  std::function<void()> hook_;  // closes the socket of the request in flight
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // Host, Content-Length, Connection are added
  std::string host;  // the Host header; "" = the URL's authority
  std::string body;
  // Whole exchange (resolve, connect, send, response). In streaming mode it covers up to the end
  // of the response head; the stream then runs until it ends or `cancel` fires.
  std::chrono::milliseconds timeout{5000};
  std::size_t max_body = 16 << 20;
  std::shared_ptr<HttpCancel> cancel;  // optional
  // For https URLs: the TLS settings (CA, SNI, client certificate); null = the system's trust store
  // and the URL's host.
  std::shared_ptr<const tls::ClientContext> tls;
};

struct HttpResult {
  std::string error;  // "" when a complete response arrived (whatever its status)
  bool timed_out = false;
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // empty when streamed (unless the status was not 2xx)

  bool ok() const { return error.empty(); }
  std::string header(std::string_view name) const;  // case-insensitive, first; "" when absent
};

// One request. Never throws: failures (resolve, connect, timeout, malformed response, body over
// max_body) come back in HttpResult::error.
boost::asio::awaitable<HttpResult> http_request(boost::asio::io_context& ioc, HttpRequest request);

// Streaming: for a 2xx response, each decoded piece of the body goes to `on_piece` as it arrives
// (return false to stop reading); other statuses are buffered into HttpResult::body as usual.
// Returns when the body ends, the connection closes, on_piece says stop, or the request is
// cancelled (error "cancelled").
using PieceHandler = std::function<bool(std::string_view piece)>;
boost::asio::awaitable<HttpResult> http_stream(boost::asio::io_context& ioc, HttpRequest request,
                                               PieceHandler on_piece);

}  // namespace portcullis::discovery
