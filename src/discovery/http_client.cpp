// Control-plane HTTP client: resolve, connect, send, read the response with the strict parser.
// One watchdog timer per exchange closes the socket on timeout or cancellation, so every await
// below ends promptly with an error instead of hanging.
#include "discovery/http_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include <charconv>

#include "http/buffer.h"
#include "http/message.h"
#include "http/parser.h"
#include "http/stream.h"
#include "tls/tls.h"

namespace portcullis::discovery {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t max_head_bytes = 64 * 1024;
constexpr std::size_t read_size = 16 * 1024;
constexpr std::size_t max_buffer = 1 << 20;
}  // namespace

std::string Url::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

namespace {

// The context for https URLs that name no TLS settings: the system's trust store.
std::shared_ptr<const tls::ClientContext> default_tls() {
  static const std::shared_ptr<const tls::ClientContext> context = [] {
    std::vector<tls::BuildError> errors;
    return tls::ClientContext::build(tls::ClientSettings{}, errors);
  }();
  return context;
}

}  // namespace

std::optional<Url> parse_url(std::string_view text, std::string& error) {
  constexpr std::string_view plain = "http://", secure = "https://";
  Url url;
  if (text.size() >= secure.size() && http::iequals(text.substr(0, secure.size()), secure)) {
    url.https = true;
    url.port = 443;
    text.remove_prefix(secure.size());
  } else if (text.size() >= plain.size() && http::iequals(text.substr(0, plain.size()), plain)) {
    text.remove_prefix(plain.size());
  } else {
    error = "URL must start with http:// or https://: " + std::string(text);
    return std::nullopt;
  }
  std::size_t end = text.find_first_of("/?");
  std::string_view authority = text.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view{} : text.substr(end);
  std::string_view port;
  if (authority.starts_with("[")) {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated [IPv6] in URL";
      return std::nullopt;
    }
    url.host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
      error = "junk after ] in URL";
      return std::nullopt;
    }
    if (!after.empty()) port = after.substr(1);
  } else {
    std::size_t colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty() || url.host.find('@') != std::string::npos) {
    error = "URL has no usable host: http://" + std::string(text);
    return std::nullopt;
  }
  if (!port.empty()) {
    unsigned n = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (ec != std::errc() || p != port.data() + port.size() || n == 0 || n > 65535) {
      error = "invalid port in URL: " + std::string(port);
      return std::nullopt;
    }
    url.port = static_cast<std::uint16_t>(n);
  }
  if (rest.empty()) url.target = "/";
  else url.target = rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);
  return url;
}

std::string HttpResult::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (http::iequals(k, name)) return v;
  return {};
}

// The sockets and the watchdog of one exchange, shared with the timer and cancel handlers so
// they can close the socket whatever the coroutine is awaiting.
struct HttpExchange : std::enable_shared_from_this<HttpExchange> {
  explicit HttpExchange(net::io_context& ioc) : resolver(ioc), stream(ioc), socket(stream.socket()), timer(ioc) {}

  void abort() {
    resolver.cancel();
    boost::system::error_code ec;
    socket.close(ec);
  }
  void arm(std::chrono::milliseconds timeout) {
    timer.expires_after(timeout);
    timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (auto self = weak.lock(); self && !ec) {
        self->timed_out = true;
        self->abort();
      }
    });
  }
  void attach(HttpCancel& cancel) {
    cancel.hook_ = [weak = weak_from_this()] {
      if (auto self = weak.lock()) {
        self->cancelled = true;
        self->abort();
      }
    };
  }
  static void detach(HttpCancel& cancel) { cancel.hook_ = nullptr; }

  tcp::resolver resolver;
  http::Stream stream;
  http::Stream::Socket& socket;  // the stream's
  net::steady_timer timer;
  bool timed_out = false;
  bool cancelled = false;
};

namespace {

std::string build_request(const HttpRequest& req, const Url& url) {
  std::string out = req.method + " " + url.target + " HTTP/1.1\r\nHost: " +
                    (req.host.empty() ? url.authority() : req.host) + "\r\n";
  for (const auto& [k, v] : req.headers) out += k + ": " + v + "\r\n";
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT")
    out += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  out += req.body;
  return out;
}

// Reads the response off the socket into a buffer; `eof` tells a clean close from an error.
struct Reader {
  http::Stream& stream;
  http::Buffer buffer;
  bool eof = false;

  net::awaitable<boost::system::error_code> more() {
    if (!buffer.prepare(read_size, max_buffer)) co_return net::error::no_buffer_space;
    boost::system::error_code ec;
    const std::size_t n = co_await stream.read_some(buffer.write_ptr(), buffer.writable(), ec);
    // A TLS peer that closes without close_notify ends the stream like a plain close.
    if (ec == net::error::eof || ec == net::ssl::error::stream_truncated) {
      ec = net::error::eof;
      eof = true;
    }
    if (!ec) buffer.commit(n);
    co_return ec;
  }
  std::string failure(const std::string& where, const boost::system::error_code& ec, const char* while_doing) const {
    return eof ? "connection closed by " + where + " " + while_doing : "read from " + where + ": " + ec.message();
  }
};

// Where body bytes go: to the stream handler, or into the result up to max_body.
struct BodySink {
  const PieceHandler* stream;  // null = buffer
  std::string& body;
  std::size_t max;
  bool stop = false;  // the stream handler asked to stop

  bool put(std::string_view piece) {
    if (stream) {
      if (!(*stream)(piece)) stop = true;
      return true;
    }
    if (body.size() + piece.size() > max) return false;
    body.append(piece);
    return true;
  }
};

struct Framing {
  bool chunked = false;
  bool until_close = false;
  std::uint64_t length = 0;
};

// Reads the final response head (1xx skipped) into `result`. Returns "" or what went wrong.
net::awaitable<std::string> read_head(Reader& r, HttpResult& result, Framing& framing, const std::string& where) {
  http::ResponseHead head;
  http::ResponseFraming response_framing;
  while (true) {
    http::ParseResult p = http::parse_response_head(r.buffer.readable(), max_head_bytes, head, response_framing);
    if (p.status == http::ParseStatus::error) co_return std::string(p.error_message) + " from " + where;
    if (p.status == http::ParseStatus::incomplete) {
      const auto ec = co_await r.more();
      if (ec) co_return r.failure(where, ec, "before a response");
      continue;
    }
    if (head.status == 101) co_return "unexpected 101 from " + where;
    if (head.status >= 200) break;
    r.buffer.consume(head.head_bytes);
  }
  result.status = head.status;
  for (const auto& f : head.fields.items()) result.headers.emplace_back(std::string(f.name), std::string(f.value));
  framing = {head.chunked, response_framing.until_close, head.content_length};
  r.buffer.consume(head.head_bytes);  // invalidates `head`'s views: copied above
  co_return std::string();
}

// Reads the body as framed, handing it to `sink`. Returns "" or what went wrong.
net::awaitable<std::string> read_body(Reader& r, BodySink& sink, const Framing& framing, const std::string& where) {
  const std::string too_large = "response body from " + where + " exceeds " + std::to_string(sink.max) + " bytes";
  if (framing.chunked) {
    http::ChunkedDecoder decoder;
    while (!sink.stop) {
      std::string_view in = r.buffer.readable(), piece;
      auto result = decoder.next(in, piece);
      std::size_t used = r.buffer.size() - in.size();
      bool fits = result != http::ChunkedDecoder::Result::data || sink.put(piece);
      r.buffer.consume(used);
      if (!fits) co_return too_large;
      if (result == http::ChunkedDecoder::Result::done) break;
      if (result == http::ChunkedDecoder::Result::error)
        co_return std::string("bad chunked body from ") + where + ": " + decoder.error();
      if (result == http::ChunkedDecoder::Result::need_more) {
        const auto ec = co_await r.more();
        if (ec) co_return r.failure(where, ec, "inside a chunked body");
      }
    }
    co_return std::string();
  }
  std::uint64_t remaining = framing.length;
  while (!sink.stop && (framing.until_close || remaining > 0)) {
    if (r.buffer.empty()) {
      const auto ec = co_await r.more();
      if (ec) {
        if (r.eof && framing.until_close) break;
        co_return r.failure(where, ec, "before the body ended");
      }
    }
    std::string_view piece = r.buffer.readable();
    if (!framing.until_close && piece.size() > remaining) piece = piece.substr(0, static_cast<std::size_t>(remaining));
    bool fits = sink.put(piece);
    if (!framing.until_close) remaining -= piece.size();
    r.buffer.consume(piece.size());
    if (!fits) co_return too_large;
  }
  co_return std::string();
}

// The exchange itself; `on_piece` null = buffer the body.
net::awaitable<HttpResult> exchange(net::io_context& ioc, HttpRequest req, const PieceHandler* on_piece) {
  HttpResult result;
  std::string error;
  std::optional<Url> url = parse_url(req.url, error);
  if (!url) {
    result.error = error;
    co_return result;
  }
  auto ex = std::make_shared<HttpExchange>(ioc);
  if (req.cancel) {
    if (req.cancel->cancelled()) {
      result.error = "cancelled";
      co_return result;
    }
    ex->attach(*req.cancel);
  }
  ex->arm(req.timeout);
  const std::string where = url->authority();

  do {
    auto [rec, endpoints] = co_await ex->resolver.async_resolve(url->host, std::to_string(url->port), use_tuple);
    if (rec) {
      error = "cannot resolve " + url->host + ": " + rec.message();
      break;
    }
    auto [cec, endpoint] = co_await net::async_connect(ex->socket, endpoints, use_tuple);
    if (cec) {
      error = "cannot connect to " + where + ": " + cec.message();
      break;
    }
    // A long-lived stream (an etcd watch) may go quiet for minutes; TCP keepalive finds a peer
    // that vanished without a reset within about a minute, and the read then fails.
    {
      boost::system::error_code ignored;
      ex->socket.set_option(net::socket_base::keep_alive(true), ignored);
      const int fd = ex->socket.native_handle();
      int idle = 30, interval = 10, count = 3;
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    }
    if (url->https) {
      const auto context = req.tls ? req.tls : default_tls();
      ssl_st* ssl = context ? context->new_connection(url->host) : nullptr;
      if (!ssl) {
        error = "cannot set up TLS for " + where;
        break;
      }
      ex->stream.start_tls(ssl, context);
      const boost::system::error_code hec = co_await ex->stream.handshake(http::Stream::TlsRole::client);
      if (hec) {
        error = "TLS handshake with " + where + " failed: " + hec.message();
        break;
      }
    }
    std::string out = build_request(req, *url);
    const bool sent = co_await ex->stream.write(std::string_view(out));
    if (!sent) {
      error = "cannot send to " + where + ": connection closed";
      break;
    }
    Reader reader{ex->stream, {}, false};
    Framing framing;
    error = co_await read_head(reader, result, framing, where);
    if (!error.empty()) break;
    const bool streaming = on_piece && *on_piece && result.status >= 200 && result.status < 300;
    if (streaming) ex->timer.cancel();  // a watch runs until it ends or is cancelled
    if (req.method == "HEAD" || result.status == 204 || result.status == 304) break;
    BodySink sink{streaming ? on_piece : nullptr, result.body, req.max_body};
    error = co_await read_body(reader, sink, framing, where);
  } while (false);

  // The watchdog's reason wins: an I/O error after it closed the socket is only its symptom.
  if (ex->cancelled) result.error = "cancelled";
  else if (ex->timed_out) {
    result.timed_out = true;
    result.error = "timeout after " + std::to_string(req.timeout.count()) + "ms talking to " + where;
  } else {
    result.error = error;
  }
  if (req.cancel) HttpExchange::detach(*req.cancel);
  ex->timer.cancel();
  boost::system::error_code ignored;
  ex->socket.close(ignored);
  co_return result;
}

}  // namespace

net::awaitable<HttpResult> http_request(net::io_context& ioc, HttpRequest request) {
  co_return co_await exchange(ioc, std::move(request), nullptr);
}

net::awaitable<HttpResult> http_stream(net::io_context& ioc, HttpRequest request, PieceHandler on_piece) {
  co_return co_await exchange(ioc, std::move(request), &on_piece);
}

}  // namespace portcullis::discovery
