// Control-plane HTTP client: resolve, connect, send, and read the response with Boost.Beast's parser
// (fed from the gateway's plain-or-TLS stream).
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

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <charconv>
#include <sstream>

#include "http/buffer.h"
#include "http/message.h"
#include "http/stream.h"
#include "tls/tls.h"

namespace portcullis::discovery {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
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

// The request as Beast writes it. Host and, for a body or a method that carries one,
// Content-Length are added; Connection: close, as every exchange here is one request.
std::string build_request(const HttpRequest& req, const Url& url) {
  bhttp::request<bhttp::string_body> message;
  message.method_string(req.method);
  message.target(url.target);
  message.version(11);
  message.set(bhttp::field::host, req.host.empty() ? url.authority() : req.host);
  for (const auto& [k, v] : req.headers) message.insert(k, v);
  message.body() = req.body;
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT")
    message.content_length(req.body.size());
  message.set(bhttp::field::connection, "close");
  std::ostringstream out;
  out << message;
  return out.str();
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

// Beast's response parser, fed from the Reader's buffer (so plain and TLS streams read alike). A
// buffer_body parser hands over the body a scratch buffer at a time, whatever its framing.
class ResponseReader {
 public:
  ResponseReader(Reader& reader, bool head_request) : reader_(reader), head_request_(head_request) { fresh(); }

  // Reads up to the final response's head (1xx are skipped) into `result`. "" or what went wrong.
  net::awaitable<std::string> head(HttpResult& result, const std::string& where) {
    while (true) {
      boost::system::error_code ec;
      feed(ec);
      if (ec) co_return "bad response from " + where + ": " + ec.message();
      if (parser_->is_header_done()) {
        const int status = parser_->get().result_int();
        if (status == 101) co_return "unexpected 101 from " + where;
        if (status >= 200) break;
        fresh();  // a 1xx is a message of its own
        continue;
      }
      const auto rec = co_await reader_.more();
      if (rec) co_return reader_.failure(where, rec, "before a response");
    }
    result.status = parser_->get().result_int();
    for (const auto& field : parser_->get()) result.headers.emplace_back(field.name_string(), field.value());
    co_return std::string();
  }

  // Reads the body as framed, handing it to `sink`. "" or what went wrong.
  net::awaitable<std::string> body(BodySink& sink, const std::string& where) {
    const std::string too_large = "response body from " + where + " exceeds " + std::to_string(sink.max) + " bytes";
    while (!sink.stop) {
      if (!take(sink)) co_return too_large;
      if (parser_->is_done() || sink.stop) break;
      if (!reader_.buffer.empty() && last_used_ > 0) {  // the scratch buffer filled up: more to parse
        boost::system::error_code ec;
        feed(ec);
        if (ec) co_return "bad response body from " + where + ": " + ec.message();
        continue;
      }
      const auto rec = co_await reader_.more();
      boost::system::error_code ec;
      if (rec && reader_.eof) {
        parser_->put_eof(ec);  // ends a body framed by the close; anything else is cut short
        if (!ec) break;
      }
      if (rec) co_return reader_.failure(where, rec, "before the body ended");
      feed(ec);
      if (ec) co_return "bad response body from " + where + ": " + ec.message();
    }
    co_return std::string();
  }

 private:
  void fresh() {
    parser_.emplace();
    parser_->header_limit(max_head_bytes);
    parser_->body_limit(boost::none);  // BodySink enforces max_body, and a stream has none
    parser_->eager(true);
    parser_->skip(head_request_);
    parser_->get().body().data = nullptr;
  }

  // Parses what the buffer holds into the scratch buffer. need_more and need_buffer are not errors.
  void feed(boost::system::error_code& ec) {
    auto& body = parser_->get().body();
    if (body.data == nullptr) {
      body.data = scratch_.data();
      body.size = scratch_.size();
    }
    last_used_ = 0;
    if (reader_.buffer.empty()) return;
    const std::string_view in = reader_.buffer.readable();
    last_used_ = parser_->put(net::buffer(in.data(), in.size()), ec);
    reader_.buffer.consume(last_used_);
    if (ec == bhttp::error::need_more || ec == bhttp::error::need_buffer) ec = {};
  }

  // Hands what the scratch buffer holds to `sink` and empties it. False when the sink is full.
  bool take(BodySink& sink) {
    auto& body = parser_->get().body();
    const std::size_t got = body.data == nullptr ? 0 : scratch_.size() - body.size;
    body.data = scratch_.data();
    body.size = scratch_.size();
    return got == 0 || sink.put(std::string_view(scratch_.data(), got));
  }

  Reader& reader_;
  bool head_request_;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> parser_;
  std::array<char, read_size> scratch_{};
  std::size_t last_used_ = 0;
};

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
    ResponseReader response(reader, req.method == "HEAD");
    error = co_await response.head(result, where);
    if (!error.empty()) break;
    const bool streaming = on_piece && *on_piece && result.status >= 200 && result.status < 300;
    if (streaming) ex->timer.cancel();  // a watch runs until it ends or is cancelled
    BodySink sink{streaming ? on_piece : nullptr, result.body, req.max_body};
    error = co_await response.body(sink, where);
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
