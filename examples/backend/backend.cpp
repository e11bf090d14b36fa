// portcullis-example-backend: the origin server that `make demo`, the integration tests and the peer
// benchmark (portcullis, nginx, HAProxy) put behind a proxy. It is one thread of Boost.Asio
// coroutines; requests are parsed by Boost.Beast's request parser (fed from a read buffer of its
// own, one parser per request) and answered with gathered writes, fast enough that a benchmark
// measures the proxy rather than the backend. It reports what it received (X-Seen-* headers,
// /headers) so tests can check what a proxy forwarded.
//
// Endpoints are matched on the last path segment, so /hello/echo and /echo are the same; anything
// else gets the default "hello from NAME". Every response carries X-Backend, X-Seen-Method and
// X-Seen-Path (the request target exactly as received).
//   /headers               the request head as JSON       /echo       the request body back
//   /sink                  count a streamed body (JSON)   /close      answer, then close
//   /bytes?n=N[&chunked=1] N bytes of 'x', 64 KiB writes  /status/NNN answer with that status
//   /sleep?ms=N            answer after N ms
//
// Usage: portcullis-example-backend --port N [--host 127.0.0.1] [--name NAME] [--ready-file PATH]
//          [--capacity N]
//          [--register EUREKA_URL [--app APP] [--instance-id ID] [--zone Z] [--heartbeat S]
//           [--lease-duration S]]
// With --capacity N at most N requests are served at once, as by a server with N worker threads:
// the others wait their turn in arrival order (they queue, they are never refused), and /sleep
// holds its slot for the whole sleep, so /sleep?ms=10 with --capacity 20 serves at most 2000 req/s
// (benchmarks/overload.sh).
// With --register it joins a Eureka registry (the gateway's own: http://127.0.0.1:9901/eureka) once
// it listens, heartbeats every S seconds, and leaves (DELETE) on SIGTERM/SIGINT; see registration.h.
//   portcullis-example-backend --port 8081 --name a &
//   curl -v localhost:8081/ localhost:8081/headers          # two requests on one connection
//   curl --data-binary hi -H 'Content-Type: text/x' localhost:8081/echo
//   curl -H 'Transfer-Encoding: chunked' -T big.file localhost:8081/sink    # -T streams the file
//   curl -s 'localhost:8081/bytes?n=1073741824&chunked=1' -o /dev/null -w '%{size_download}\n'
//   curl -i localhost:8081/status/503; curl -I 'localhost:8081/sleep?ms=200'
//   printf 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /close HTTP/1.1\r\nHost: x\r\n\r\n' | nc localhost 8081
//   portcullis-example-backend --port 8082 --capacity 2 &      # the third of three waits 200 ms:
//   for i in 1 2 3; do curl -s -o /dev/null -w '%{time_total}\n' 'localhost:8082/sleep?ms=200' & done
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "capacity.h"
#include "options.h"
#include "registration.h"
#include "request.h"
#include "text.h"

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

namespace {

using namespace backend;

// Every asynchronous call reports errors as values: a dropped connection is ordinary here.
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

constexpr std::size_t min_read = 1024;               // smallest free space worth a read
constexpr std::size_t max_head = 64 * 1024;          // request line plus fields
constexpr std::size_t max_echo = 64 * 1024 * 1024;   // /echo holds the body, so it is capped
constexpr std::size_t kept_payload = 64 * 1024;      // larger payload buffers are freed when idle
constexpr std::size_t linger_budget = 1024 * 1024;
constexpr auto linger_time = 1s;
constexpr std::uint64_t max_sleep_ms = 3'600'000;

// ---------------------------------------------------------------------------------------------
// Connection: reads requests one after another (pipelined ones are answered in order because
// each is finished before the next is parsed) and writes each response with one gathered write.

struct ServerConfig {
  std::string name;
  std::string hello;             // the default body, built once
  Capacity* capacity = nullptr;  // --capacity, else no limit
};

enum class BodyStatus { data, done, malformed, too_large, io_error };

struct BodyPiece {
  BodyStatus status;
  std::string_view data;
};

enum class Framing { length, chunked, none };

struct Reply {
  int status;
  std::string_view content_type;
  std::string_view body;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, const ServerConfig& config)
      : socket_(std::move(socket)), config_(config) {}

  awaitable<void> run();

 private:
  awaitable<bool> fill(std::size_t want);
  awaitable<int> read_head();
  awaitable<BodyPiece> next_body_piece();
  awaitable<BodyStatus> consume_body(bool keep, std::uint64_t& total);
  awaitable<bool> dispatch();
  Reply reply_for(const TargetParts& target, std::uint64_t received);
  awaitable<bool> send_bytes(std::string_view query);
  awaitable<bool> stream_plain(std::uint64_t n);
  awaitable<bool> stream_chunked(std::uint64_t n);
  awaitable<bool> sleep(std::string_view query);
  awaitable<bool> respond(Reply reply);
  awaitable<bool> reject(int status);
  awaitable<bool> write_out(std::string_view body);
  awaitable<void> linger_close();
  void start_head(int status);
  void finish_head(std::string_view content_type, Framing framing, std::uint64_t length);
  void build_headers_json();
  void trim_idle_memory();

  tcp::socket socket_;
  const ServerConfig& config_;
  ReadBuffer in_;
  RequestHead req_;
  bool head_parsed_ = false;  // whether req_ describes the request being answered
  std::optional<RequestParser> parser_;  // the request being answered; reset per request
  std::array<char, io_chunk> scratch_;    // where the parser writes body bytes
  std::uint64_t body_left_ = 0;           // Content-Length bytes not yet read
  bool continue_pending_ = false;
  bool keep_alive_ = true;
  bool head_only_ = false;
  std::string out_;      // response head, reused
  std::string payload_;  // request body for /echo, else the response body; reused
};

awaitable<void> Connection::run() {
  error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);  // responses are whole: never hold them back
  for (;;) {
    int status = co_await read_head();
    if (status < 0) break;  // the peer left (or failed) between requests: nothing to answer
    bool keep = false;
    if (status == 0) keep = co_await dispatch();
    else keep = co_await reject(status);
    if (!keep) {
      co_await linger_close();
      co_return;
    }
    trim_idle_memory();
  }
  socket_.close(ec);
}

awaitable<bool> Connection::fill(std::size_t want) {
  auto [ec, n] = co_await socket_.async_read_some(in_.prepare(want), use_nothrow);
  if (ec) co_return false;
  in_.commit(n);
  co_return true;
}

// Reads until a whole head is buffered and parses it into req_. Returns 0 when a request is
// ready, -1 when the peer went away, or the status to refuse the request with.
awaitable<int> Connection::read_head() {
  head_parsed_ = false;
  parser_.emplace();
  parser_->header_limit(max_head);
  parser_->body_limit(boost::none);  // /echo caps what it keeps; /sink takes any size
  for (;;) {
    // Only before the request line: later, an empty line is the end of the head.
    if (!parser_->got_some())
      if (std::size_t skip = leading_empty_lines(in_.view()); skip > 0) in_.consume(skip);
    if (in_.size() > 0) {
      error_code ec;
      const std::string_view v = in_.view();
      in_.consume(parser_->put(asio::buffer(v.data(), v.size()), ec));
      if (ec && ec != bhttp::error::need_more) {
        if (parser_->is_header_done()) head_parsed_ = true;
        co_return status_for(ec);
      }
      if (parser_->is_header_done()) {
        const int status = take_head(*parser_, req_);
        head_parsed_ = true;
        body_left_ = req_.chunked ? 0 : req_.content_length;
        co_return status;
      }
    }
    if (in_.size() >= max_head) co_return 431;
    auto [ec, n] = co_await socket_.async_read_some(in_.prepare(min_read), use_nothrow);
    if (ec) co_return -1;
    in_.commit(n);
  }
}

// The next piece of request body (a view into scratch_, valid until the next call).
awaitable<BodyPiece> Connection::next_body_piece() {
  for (;;) {
    if (parser_->is_done()) co_return BodyPiece{BodyStatus::done, {}};
    auto& body = parser_->get().body();
    body.data = scratch_.data();
    body.size = scratch_.size();
    if (in_.size() > 0) {
      error_code ec;
      const std::string_view v = in_.view();
      const std::size_t used = parser_->put(asio::buffer(v.data(), v.size()), ec);
      in_.consume(used);
      if (ec && ec != bhttp::error::need_more && ec != bhttp::error::need_buffer)
        co_return BodyPiece{BodyStatus::malformed, {}};
      const std::size_t got = scratch_.size() - body.size;
      if (got > 0) {
        body_left_ -= std::min<std::uint64_t>(body_left_, got);
        co_return BodyPiece{BodyStatus::data, std::string_view(scratch_.data(), got)};
      }
      if (used > 0) continue;  // a chunk's size line or the trailers: parse on before reading
    }
    if (continue_pending_) {
      // The client waits for this before sending the body; only say it once we need the body.
      continue_pending_ = false;
      static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(go_on), use_nothrow);
      if (ec) co_return BodyPiece{BodyStatus::io_error, {}};
    }
    // The whole rest of a sized body, up to one io_chunk; a chunked one reads in io_chunks.
    const std::uint64_t want = req_.chunked ? io_chunk : body_left_;
    const bool filled = co_await fill(static_cast<std::size_t>(std::clamp<std::uint64_t>(want, min_read, io_chunk)));
    if (!filled) co_return BodyPiece{BodyStatus::io_error, {}};
  }
}

// Reads the whole request body, counting it and, when `keep`, appending it to payload_.
awaitable<BodyStatus> Connection::consume_body(bool keep, std::uint64_t& total) {
  for (;;) {
    BodyPiece p = co_await next_body_piece();
    if (p.status != BodyStatus::data) co_return p.status;
    total += p.data.size();
    if (keep) {
      if (payload_.size() + p.data.size() > max_echo) co_return BodyStatus::too_large;
      payload_.append(p.data);
    }
  }
}

// Answers the request in req_. Returns whether the connection stays open for another request.
awaitable<bool> Connection::dispatch() {
  // With --capacity the whole request, body and response included, is served inside a slot.
  if (config_.capacity) co_await config_.capacity->acquire();
  CapacitySlot slot(config_.capacity);
  TargetParts target = split_target(req_.target);
  keep_alive_ = req_.keep_alive;
  head_only_ = req_.method == "HEAD";
  payload_.clear();
  const bool has_body = !parser_->is_done();
  continue_pending_ = req_.expect_continue && req_.minor >= 1 && has_body;
  bool echo = target.last == "echo";
  // Refused before the body is read, so a client that expects 100-continue never sends it.
  if (echo && req_.content_length > max_echo) co_return co_await reject(413);
  std::uint64_t received = 0;
  if (echo) payload_.reserve(static_cast<std::size_t>(req_.content_length));  // 0 when chunked
  if (has_body) {
    // Every request's body is read (and dropped unless needed) so the next request can follow.
    BodyStatus s = co_await consume_body(echo, received);
    if (s == BodyStatus::io_error) co_return false;
    if (s == BodyStatus::too_large) co_return co_await reject(413);
    if (s == BodyStatus::malformed) co_return co_await reject(400);
  }
  if (target.last == "bytes") co_return co_await send_bytes(target.query);
  if (target.last == "sleep") {
    bool slept = co_await sleep(target.query);
    if (!slept) co_return co_await respond({400, "text/plain", "sleep needs ?ms=N (N <= 3600000)\n"});
  }
  co_return co_await respond(reply_for(target, received));
}

// The answer of every endpoint that needs no further I/O, built without a coroutine of its own
// because this is the path every benchmark request takes.
Reply Connection::reply_for(const TargetParts& target, std::uint64_t received) {
  const std::string_view last = target.last;
  if (last == "headers") {
    build_headers_json();
    return {200, "application/json", payload_};
  }
  if (last == "echo") return {200, req_.field("content-type"), payload_};
  if (last == "sink") {
    payload_ = "{\"bytes\":";
    append_number(payload_, received);
    payload_ += req_.chunked ? ",\"chunked\":true}" : ",\"chunked\":false}";
    return {200, "application/json", payload_};
  }
  if (target.parent == "status") {
    std::uint64_t status = 0;
    // 1xx are not final responses, so they cannot be the answer to a request.
    if (last.size() != 3 || !parse_decimal(last, status) || status < 200 || status > 599)
      return {400, "text/plain", "status must be 200..599\n"};
    payload_ = "status ";
    payload_ += last;
    payload_ += '\n';
    return {static_cast<int>(status), "text/plain", payload_};
  }
  if (last == "close") keep_alive_ = false;
  return {200, "text/plain", config_.hello};
}

void Connection::build_headers_json() {
  payload_ = "{\"method\":";
  append_json_string(payload_, req_.method);
  payload_ += ",\"target\":";
  append_json_string(payload_, req_.target);
  payload_ += ",\"version\":\"1.";
  payload_ += static_cast<char>('0' + req_.minor);
  payload_ += "\",\"headers\":[";
  for (std::size_t i = 0; i < req_.fields.size(); ++i) {
    payload_ += i == 0 ? "[" : ",[";
    append_json_string(payload_, req_.fields[i].name);
    payload_ += ',';
    append_json_string(payload_, req_.fields[i].value);
    payload_ += ']';
  }
  payload_ += "]}";
}

// Waits ?ms=N without blocking the thread. False when the parameter is missing or out of range.
awaitable<bool> Connection::sleep(std::string_view query) {
  std::optional<std::string_view> ms = query_param(query, "ms");
  std::uint64_t n = 0;
  if (!ms || !parse_decimal(*ms, n) || n > max_sleep_ms) co_return false;
  asio::steady_timer timer(socket_.get_executor(), std::chrono::milliseconds(n));
  co_await timer.async_wait(use_nothrow);
  co_return true;
}

awaitable<bool> Connection::send_bytes(std::string_view query) {
  std::optional<std::string_view> n_text = query_param(query, "n");
  std::uint64_t n = 0;
  if (!n_text || !parse_decimal(*n_text, n))
    co_return co_await respond({400, "text/plain", "bytes needs ?n=N\n"});
  std::optional<std::string_view> flag = query_param(query, "chunked");
  // HTTP/1.0 has no chunked coding; such a client gets the same bytes with a Content-Length.
  bool chunked = flag && (*flag == "1" || *flag == "true") && req_.minor >= 1;
  start_head(200);
  finish_head("application/octet-stream", chunked ? Framing::chunked : Framing::length, n);
  bool ok = false;
  if (head_only_) ok = co_await write_out({});
  else if (chunked) ok = co_await stream_chunked(n);
  else ok = co_await stream_plain(n);
  co_return ok && keep_alive_;
}

// n bytes of the pattern in io_chunk writes; the first one carries the head too.
awaitable<bool> Connection::stream_plain(std::uint64_t n) {
  std::string_view block = pattern_block();
  std::size_t first = static_cast<std::size_t>(std::min<std::uint64_t>(n, io_chunk));
  const bool written = co_await write_out(block.substr(0, first));
  if (!written) co_return false;
  for (n -= first; n > 0;) {
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, io_chunk));
    auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(block.data(), k), use_nothrow);
    if (ec) co_return false;
    n -= k;
  }
  co_return true;
}

// n bytes as io_chunk-sized chunks. Each write is one chunk (size line, data, CRLF); the head
// rides on the first and the last-chunk on the last, so a small body is a single write.
awaitable<bool> Connection::stream_chunked(std::uint64_t n) {
  static constexpr std::string_view crlf = "\r\n", last_chunk = "0\r\n\r\n";
  std::string_view block = pattern_block();
  bool first = true;
  do {
    std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, io_chunk));
    n -= k;
    char size_line[24];
    char* end = std::to_chars(size_line, size_line + 16, k, 16).ptr;
    end = std::copy(crlf.begin(), crlf.end(), end);
    std::array<asio::const_buffer, 5> parts{
        asio::buffer(first ? std::string_view(out_) : std::string_view{}),
        asio::buffer(size_line, k > 0 ? static_cast<std::size_t>(end - size_line) : 0),
        asio::buffer(block.data(), k), asio::buffer(k > 0 ? crlf : std::string_view{}),
        asio::buffer(n == 0 ? last_chunk : std::string_view{})};
    auto [ec, written] = co_await asio::async_write(socket_, parts, use_nothrow);
    if (ec) co_return false;
    first = false;
  } while (n > 0);
  co_return true;
}

awaitable<bool> Connection::respond(Reply reply) {
  bool bodiless = reply.status == 204 || reply.status == 304;  // never content, nor its length
  start_head(reply.status);
  finish_head(bodiless ? std::string_view{} : reply.content_type, bodiless ? Framing::none : Framing::length,
              reply.body.size());
  if (head_only_ || bodiless) reply.body = {};
  // Written here rather than through write_out: one coroutine frame less on the hot path.
  std::array<asio::const_buffer, 2> parts{asio::buffer(out_), asio::buffer(reply.body)};
  auto [ec, n] = co_await asio::async_write(socket_, parts, use_nothrow);
  co_return !ec && keep_alive_;
}

// Refuses the request and ends the connection: after a framing error, nothing later on it can be
// trusted to start where we think it does.
awaitable<bool> Connection::reject(int status) {
  keep_alive_ = false;
  head_only_ = false;
  std::string body = std::to_string(status) + ' ' + reason_phrase(status) + '\n';
  co_await respond({status, "text/plain", body});
  co_return false;
}

void Connection::start_head(int status) {
  out_ = "HTTP/1.1 ";
  append_number(out_, static_cast<std::uint64_t>(status));
  out_ += ' ';
  out_ += reason_phrase(status);
  out_ += "\r\nDate: ";
  out_ += http_date();
  out_ += "\r\nX-Backend: ";
  out_ += config_.name;
  if (head_parsed_) {
    out_ += "\r\nX-Seen-Method: ";
    out_ += req_.method;
    out_ += "\r\nX-Seen-Path: ";
    out_ += req_.target;
  }
  out_ += "\r\n";
}

void Connection::finish_head(std::string_view content_type, Framing framing, std::uint64_t length) {
  if (!content_type.empty()) {
    out_ += "Content-Type: ";
    out_ += content_type;
    out_ += "\r\n";
  }
  if (framing == Framing::length) {
    out_ += "Content-Length: ";
    append_number(out_, length);
    out_ += "\r\n";
  } else if (framing == Framing::chunked) {
    out_ += "Transfer-Encoding: chunked\r\n";
  }
  // HTTP/1.1 persists unless told otherwise; an HTTP/1.0 client needs to hear that it does.
  if (!keep_alive_) out_ += "Connection: close\r\n";
  else if (req_.minor == 0) out_ += "Connection: keep-alive\r\n";
  out_ += "\r\n";
}

awaitable<bool> Connection::write_out(std::string_view body) {
  std::array<asio::const_buffer, 2> parts{asio::buffer(out_), asio::buffer(body)};
  auto [ec, n] = co_await asio::async_write(socket_, parts, use_nothrow);
  co_return !ec;
}

// Closes after the last response without losing it: closing with unread input makes the kernel
// send a reset, which can destroy the response before the client reads it. So: stop sending, read
// and drop what still comes (bounded in time and bytes), then close.
awaitable<void> Connection::linger_close() {
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (!ec) {
    asio::steady_timer timer(socket_.get_executor(), linger_time);
    // The handler owns a reference, so it may safely run after this coroutine is gone.
    timer.async_wait([self = shared_from_this()](error_code e) {
      if (!e) self->socket_.cancel(e);
    });
    for (std::size_t budget = linger_budget; budget > 0;) {
      in_.consume(in_.size());
      auto [read_ec, n] = co_await socket_.async_read_some(in_.prepare(min_read), use_nothrow);
      if (read_ec) break;
      budget -= std::min(budget, n);
    }
  }
  socket_.close(ec);
}

// Idle connections should cost little: drop what one large request made the buffers grow to.
void Connection::trim_idle_memory() {
  bool released_large = payload_.capacity() > kept_payload;
  if (released_large) std::string().swap(payload_);
  in_.shrink();
#ifdef __GLIBC__
  // glibc keeps freed heap for reuse; after a large /echo that would be megabytes of idle RSS.
  if (released_large) malloc_trim(0);
#endif
}

awaitable<void> serve(std::shared_ptr<Connection> connection) { co_await connection->run(); }

awaitable<void> accept_loop(tcp::acceptor& acceptor, const ServerConfig& config) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Usually out of descriptors: pause instead of spinning on the same error.
      asio::steady_timer pause(acceptor.get_executor(), 50ms);
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    auto connection = std::make_shared<Connection>(std::move(socket), config);
    asio::co_spawn(acceptor.get_executor(), serve(std::move(connection)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Options> options = parse_options(argc, argv);
  if (!options) return 2;
  // Declared before the io_context: the coroutines it destroys at exit still release their slots.
  std::optional<Capacity> capacity;
  if (options->capacity > 0) capacity.emplace(static_cast<std::size_t>(options->capacity));
  ServerConfig config{options->name, "hello from " + options->name + "\n", capacity ? &*capacity : nullptr};

  asio::io_context io(1);  // one thread: lets Asio skip most of its locking
  // Installed before anything announces readiness, so a SIGTERM sent right after "listening"
  // already takes the clean exit path.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const error_code&, int) { io.stop(); });
  std::optional<tcp::endpoint> endpoint = listen_endpoint(io, *options);
  tcp::acceptor acceptor(io);
  error_code ec;
  if (!endpoint || !open_acceptor(acceptor, *endpoint, ec)) {
    std::fprintf(stderr, "portcullis-example-backend: cannot listen on %s:%d: %s\n", options->host.c_str(),
                 options->port, endpoint ? ec.message().c_str() : "unknown host");
    return 1;
  }
  unsigned short port = acceptor.local_endpoint().port();
  std::printf("listening %s:%u\n", options->host.c_str(), static_cast<unsigned>(port));
  std::fflush(stdout);
  if (!options->ready_file.empty() && !write_ready_file(options->ready_file, port)) {
    std::fprintf(stderr, "portcullis-example-backend: cannot write %s\n", options->ready_file.c_str());
    return 1;
  }

  std::optional<registration::Registrar> registrar;
  if (!options->register_url.empty()) {
    registration::Settings rs;
    rs.url = options->register_url;
    rs.app = options->app;
    rs.instance_id = options->instance_id;
    rs.zone = options->zone;
    // The registry hands out this address for traffic: a wildcard bind is reached over loopback.
    asio::ip::address bound = acceptor.local_endpoint().address();
    rs.ip = bound.is_unspecified() ? (bound.is_v6() ? "::1" : "127.0.0.1") : bound.to_string();
    rs.port = port;
    rs.heartbeat_s = options->heartbeat_s;
    rs.lease_s = options->lease_s;
    registrar.emplace(std::move(rs));
    registrar->start();
  }

  asio::co_spawn(io, accept_loop(acceptor, config), asio::detached);
  io.run();
  if (capacity) capacity->close();
  if (registrar) registrar->stop();  // leave the registry before exiting
  return 0;
}
