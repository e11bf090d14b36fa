// The route stage's proxy: pick an instance, lease a pooled connection (or connect), send the
// request head and stream the body, read the response head, run post filters, stream the body back.
#include <span>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "config/snapshot.h"
#include "core/worker.h"
#include "http/session.h"
#include "util/log.h"

namespace portcullis {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t response_buffer_bytes = 64 * 1024;

tcp::endpoint to_asio(const Endpoint& e) {
  if (e.v6) {
    net::ip::address_v6::bytes_type b;
    std::copy(e.bytes.begin(), e.bytes.end(), b.begin());
    return {net::ip::address_v6(b), e.port};
  }
  net::ip::address_v4::bytes_type b;
  std::copy(e.bytes.begin(), e.bytes.begin() + 4, b.begin());
  return {net::ip::address_v4(b), e.port};
}

// "1a2b\r\n" for a chunk of `n` bytes.
std::string_view chunk_header(std::size_t n, char (&buf)[24]) {
  static const char hex[] = "0123456789abcdef";
  char tmp[20];
  int len = 0;
  do {
    tmp[len++] = hex[n & 15];
    n >>= 4;
  } while (n);
  int i = 0;
  while (len) buf[i++] = tmp[--len];
  buf[i++] = '\r';
  buf[i++] = '\n';
  return {buf, static_cast<std::size_t>(i)};
}

// Writes `prefix` (may be empty) then `piece`, framed as a chunk when `chunked`.
net::awaitable<bool> write_framed(http::Stream& socket, std::string_view prefix, std::string_view piece, bool chunked) {
  char header_buf[24];
  std::array<net::const_buffer, 4> buffers;
  std::size_t count = 0;
  if (!prefix.empty()) buffers[count++] = net::buffer(prefix.data(), prefix.size());
  if (!piece.empty()) {
    if (chunked) {
      auto h = chunk_header(piece.size(), header_buf);
      buffers[count++] = net::buffer(h.data(), h.size());
    }
    buffers[count++] = net::buffer(piece.data(), piece.size());
    if (chunked) buffers[count++] = net::buffer("\r\n", 2);
  }
  if (count == 0) co_return true;
  auto [ec, n] = co_await net::async_write(socket, std::span(buffers.data(), count), use_tuple);
  co_return !ec;
}

}  // namespace

net::awaitable<bool> Session::connect_upstream(Context& ctx, const Instance& instance,
                                               std::shared_ptr<http::UpstreamConnection>& conn) {
  const Service& service = *ctx.service;
  conn = std::make_shared<http::UpstreamConnection>(worker_.context());
  conn->instance_id = instance.id;
  upstream_ = conn.get();
  arm_upstream(service.config.connect_timeout, Phase::connect);
  auto [ec] = co_await conn->socket.async_connect(to_asio(instance.endpoint), use_tuple);
  upstream_ = nullptr;
  if (ec) {
    worker_.shard().inc(service.connect_failures);
    if (timed_out_) {
      timed_out_ = false;
      ctx.error = {ErrorKind::connect_timeout, ErrorSource::upstream, 504,
                   "connect to " + instance.address + " timed out", true};
    } else {
      ctx.error = {ErrorKind::connect_failed, ErrorSource::upstream, 502,
                   "cannot connect to " + instance.address + ": " + ec.message(), true};
    }
    co_return false;
  }
  boost::system::error_code ignored;
  conn->socket.set_option(tcp::no_delay(true), ignored);
  conn->socket.non_blocking(true, ignored);
  if (service.config.tls_context) {
    // TLS to the origin: the handshake counts against the connect timeout.
    const auto address = parse_listen_address(instance.address);
    ssl_st* ssl = address ? service.config.tls_context->new_connection(address->host) : nullptr;
    if (!ssl) {
      ctx.error = {ErrorKind::internal, ErrorSource::internal, 500, "cannot create a TLS connection"};
      co_return false;
    }
    conn->stream.start_tls(ssl, service.config.tls_context);
    conn->tls = service.config.tls_context.get();
    upstream_ = conn.get();
    auto [hec] = co_await conn->stream.tls().async_handshake(net::ssl::stream_base::client, use_tuple);
    upstream_ = nullptr;
    if (hec) {
      worker_.shard().inc(service.connect_failures);
      const bool timed_out = timed_out_;
      timed_out_ = false;
      ctx.error = {timed_out ? ErrorKind::connect_timeout : ErrorKind::connect_failed, ErrorSource::upstream,
                   timed_out ? 504 : 502,
                   "TLS handshake with " + instance.address + (timed_out ? " timed out" : " failed: " + hec.message()),
                   true};
      co_return false;
    }
  }
  co_return true;
}

net::awaitable<bool> Session::send_request(Context& ctx, http::UpstreamConnection& conn, bool& body_started) {
  const Service& service = *ctx.service;
  append_request_head(ctx, *ctx.instance);
  arm_upstream(service.config.read_timeout, Phase::upstream_wait);
  if (ctx.request_body) {
    // A filter had the body read whole: it is sent from memory, framed as the client framed it.
    const std::string& body = *ctx.request_body;
    const bool sent = head_.chunked ? co_await write_framed(conn.stream, out_, body, true) &&
                                          co_await write_framed(conn.stream, "0\r\n\r\n", {}, false)
                                    : co_await write_framed(conn.stream, out_, body, false);
    if (sent) co_return true;
    ctx.error = {ErrorKind::upstream_reset, ErrorSource::upstream, 502, "upstream closed the connection", true};
    co_return false;
  }
  std::string_view in_buffer = buffer_.readable().substr(std::min(body_cursor_, buffer_.size()));
  if (!head_.has_body() || (!head_.chunked && in_buffer.size() >= head_.content_length)) {
    // Head and whole body in one gathered write: the common case costs one system call.
    std::string_view body = head_.has_body() ? in_buffer.substr(0, head_.content_length) : std::string_view{};
    if (head_.has_body()) {
      body_cursor_ += body.size();
      body_left_ = 0;
      body_done_ = true;
      ctx.request_body_bytes = body.size();
    }
    if (co_await write_framed(conn.stream, out_, body, false)) co_return true;
    ctx.error = {ErrorKind::upstream_reset, ErrorSource::upstream, 502, "upstream closed the connection", true};
    co_return false;
  }
  if (!co_await write_framed(conn.stream, out_, {}, false)) {
    ctx.error = {ErrorKind::upstream_reset, ErrorSource::upstream, 502, "upstream closed the connection", true};
    co_return false;
  }
  body_started = true;
  while (!body_done_) {
    boost::system::error_code ec;
    std::string_view piece = co_await next_body_piece(ctx, ec);
    if (ec) co_return false;  // ctx.error says what the client did
    arm_upstream(service.config.read_timeout, Phase::upstream_wait);
    if (!co_await write_framed(conn.stream, {}, piece, head_.chunked)) {
      ctx.error = {ErrorKind::upstream_reset, ErrorSource::upstream, 502, "upstream closed while receiving the body"};
      co_return false;
    }
  }
  if (head_.chunked && !co_await write_framed(conn.stream, "0\r\n\r\n", {}, false)) {
    ctx.error = {ErrorKind::upstream_reset, ErrorSource::upstream, 502, "upstream closed while receiving the body"};
    co_return false;
  }
  co_return true;
}

net::awaitable<bool> Session::read_response_head(Context& ctx, http::UpstreamConnection& conn,
                                                 http::ResponseHead& head, http::ResponseFraming& framing,
                                                 bool& got_bytes) {
  const Service& service = *ctx.service;
  const std::size_t max_head = ctx.snapshot->config.server.max_response_header_bytes;
  arm_upstream(service.config.read_timeout, Phase::upstream_wait);
  while (true) {
    if (!conn.buffer.empty()) {
      got_bytes = true;
      auto r = http::parse_response_head(conn.buffer.readable(), max_head, head, framing);
      if (r.status == http::ParseStatus::error) {
        ctx.error = {ErrorKind::bad_upstream_response, ErrorSource::upstream, 502, r.error_message};
        co_return false;
      }
      if (r.status == http::ParseStatus::complete) {
        if (head.status == 101) {
          if (head_.upgrade && ctx.route->config->allow_upgrade) co_return true;
          ctx.error = {ErrorKind::bad_upstream_response, ErrorSource::upstream, 502, "unsolicited 101 from upstream"};
          co_return false;
        }
        if (head.status >= 200) co_return true;
        // Informational responses go to HTTP/1.1 clients; 100 was the gateway's own business.
        if (head.status != 100 && head_.version == 11) {
          std::string info(conn.buffer.readable().substr(0, head.head_bytes));
          if (!co_await write_client(info)) {
            close_after_ = true;
            co_return false;
          }
          arm_upstream(service.config.read_timeout, Phase::upstream_wait);
        }
        conn.buffer.consume(head.head_bytes);
        continue;
      }
    }
    boost::system::error_code ec;
    conn.buffer.set_initial(16 * 1024);
    co_await read_some(conn.stream, conn.buffer, max_head + 4096, ec);
    if (ec) {
      if (timed_out_) {
        ctx.error = {ErrorKind::upstream_timeout, ErrorSource::upstream, 504,
                     "upstream did not answer within read_timeout"};
      } else if (ec == net::error::no_buffer_space) {
        ctx.error = {ErrorKind::bad_upstream_response, ErrorSource::upstream, 502, "upstream response head too large"};
      } else {
        ctx.error = {ErrorKind::upstream_reset, ErrorSource::upstream, 502,
                     conn.buffer.empty() ? "upstream closed the connection without a response"
                                         : "upstream response cut short"};
        ctx.error.retryable = conn.buffer.empty();
      }
      co_return false;
    }
  }
}

namespace {

std::int64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The cookie's value in a Cookie header ("a=1; b=2"), or empty.
std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    std::size_t end = header.find(';');
    std::string_view pair = header.substr(0, end);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=')
      return pair.substr(name.size() + 1);
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

// How an attempt ended, for retries, outlier detection and the breaker.
enum class Failure { none, connect, reset, timeout, status };

Failure classify(const Error& e) {
  switch (e.kind) {
    case ErrorKind::connect_failed:
    case ErrorKind::connect_timeout: return Failure::connect;
    case ErrorKind::upstream_reset: return Failure::reset;
    case ErrorKind::upstream_timeout: return Failure::timeout;
    case ErrorKind::bad_upstream_response: return Failure::reset;
    default: return Failure::none;
  }
}

// One shadow exchange: send the copy, wait for the response head (or the timeout), close. Nothing
// of it reaches the client; it runs detached on the worker, bounded by the route's in-flight cap.
net::awaitable<void> mirror_exchange(tcp::endpoint endpoint, std::string bytes, Duration timeout,
                                     std::shared_ptr<std::atomic<std::int64_t>> in_flight, observability::Shard* shard,
                                     observability::CounterId answered, observability::CounterId failed) {
  using namespace net::experimental::awaitable_operators;
  auto executor = co_await net::this_coro::executor;
  tcp::socket socket(executor);
  net::steady_timer deadline(executor);
  deadline.expires_after(timeout);
  auto exchange = [&]() -> net::awaitable<bool> {
    auto [cec] = co_await socket.async_connect(endpoint, use_tuple);
    if (cec) co_return false;
    auto [wec, wn] = co_await net::async_write(socket, net::buffer(bytes), use_tuple);
    if (wec) co_return false;
    http::Buffer buffer;
    while (true) {
      http::ResponseHead head;
      http::ResponseFraming framing;
      auto r = http::parse_response_head(buffer.readable(), 65536, head, framing);
      if (r.status == http::ParseStatus::complete && head.status >= 200) co_return true;
      if (r.status == http::ParseStatus::error) co_return false;
      if (r.status == http::ParseStatus::complete) buffer.consume(head.head_bytes);  // 1xx
      if (!buffer.prepare(4096, 70000)) co_return false;
      auto [rec, n] = co_await socket.async_read_some(net::buffer(buffer.write_ptr(), buffer.writable()), use_tuple);
      if (rec) co_return false;
      buffer.commit(n);
    }
  };
  auto wait = [&]() -> net::awaitable<void> { co_await deadline.async_wait(use_tuple); };
  auto result = co_await (exchange() || wait());
  const bool ok = result.index() == 0 && std::get<0>(result);
  in_flight->fetch_sub(1, std::memory_order_relaxed);
  shard->inc(ok ? answered : failed);
}

}  // namespace

void Session::start_mirror(Context& ctx, std::size_t body_start, bool body_whole) {
  const Route::Mirror& m = *ctx.route->mirror;
  const MirrorConfig& cfg = *ctx.route->config->mirror;
  if (head_.upgrade) return;  // a copy of an upgrade would hold a shadow connection open for nothing
  if (canary::split_point(false, 0, worker_.mirror_sequence()) >= m.threshold) return;
  auto& shard = worker_.shard();
  // A held body (read whole for a filter) is mirrored from memory when it was sent with a length.
  const bool held = ctx.request_body != nullptr;
  if (head_.has_body() && (!body_whole || (held && head_.chunked) || head_.content_length > cfg.max_body_bytes)) {
    shard.inc(m.skipped_body);
    return;
  }
  if (m.service->config.tls_context) {  // shadow copies are sent over plain connections only
    shard.inc(m.failed);
    return;
  }
  if (m.in_flight->fetch_add(1, std::memory_order_relaxed) >= static_cast<std::int64_t>(cfg.max_in_flight)) {
    m.in_flight->fetch_sub(1, std::memory_order_relaxed);
    shard.inc(m.dropped_full);
    return;
  }
  discovery::Balancer& balancer = worker_.balancer(m.service->id);
  balancer.refresh(*m.service->runtime);
  auto pick = balancer.pick(m.service->policy, false, 50, 0, steady_ns(std::chrono::steady_clock::now()));
  if (!pick.instance) {
    m.in_flight->fetch_sub(1, std::memory_order_relaxed);
    shard.inc(m.failed);
    return;
  }
  std::string bytes = out_;  // the head as sent to the primary (Host, X-Forwarded-*, X-Request-Id)
  if (held) bytes.append(*ctx.request_body);
  else if (head_.has_body()) bytes.append(buffer_.readable().substr(body_start, head_.content_length));
  net::co_spawn(worker_.context(),
                mirror_exchange(to_asio(pick.instance->endpoint), std::move(bytes), cfg.timeout, m.in_flight, &shard,
                                m.sent, m.failed),
                net::detached);
}

std::string_view Session::sticky_key(const Context& ctx, HashOn on, const std::string& name) const {
  switch (on) {
    case HashOn::header: return head_.fields.get(name);
    case HashOn::cookie: return cookie_value(head_.fields.get("cookie"), name);
    case HashOn::ip: break;
  }
  return ctx.client_address;
}

std::uint64_t Session::request_hash(const Context& ctx, const Service& service) const {
  return canary::hash_key(sticky_key(ctx, service.hash_on, service.hash_name));
}

void Session::arm_upstream(std::chrono::steady_clock::duration d, Phase phase) {
  const auto now = std::chrono::steady_clock::now();
  if (upstream_deadline_ - now < d) d = std::max<std::chrono::steady_clock::duration>(upstream_deadline_ - now, {});
  arm(d, phase);
}

net::awaitable<void> Session::proxy(Context& ctx) {
  const Service& service = *ctx.service;
  const ServiceConfig& cfg = service.config;
  discovery::ServiceRuntime& rt = *service.runtime;
  auto& shard = worker_.shard();
  const auto start = std::chrono::steady_clock::now();
  ctx.upstream_start = start;
  const std::int64_t start_ns = steady_ns(start);

  // Concurrency limits (the fixed bulkhead and the adaptive limit), then the breaker: all fail
  // fast, without queueing, so one slow service cannot hold every connection of the gateway.
  protection::AdaptiveLimiter* adaptive = service.adaptive.get();
  protection::GateTicket ticket;
  std::int64_t admitted_in_flight = 0;
  if (cfg.max_concurrent_requests > 0 || adaptive) {
    const auto fixed = cfg.max_concurrent_requests > 0 ? static_cast<std::int64_t>(cfg.max_concurrent_requests)
                                                       : std::numeric_limits<std::int64_t>::max();
    const std::int64_t learned = adaptive ? adaptive->limit() : fixed;
    const std::int64_t limit = std::min(fixed, learned);
    if (!rt.gate().enter(ctx.snapshot->shedding.bands.allowed(limit, ctx.priority))) {
      if (learned < fixed) {
        shed(ctx, ShedReason::adaptive_limit, "service " + service.name + " is at its adaptive concurrency limit");
      } else {
        shard.inc(rt.metrics().bulkhead_rejections);
        shed(ctx, ShedReason::service_limit, "service " + service.name + " is at max_concurrent_requests");
      }
      co_return;
    }
    ticket = protection::GateTicket(&rt.gate());
    admitted_in_flight = rt.in_flight();
  }
  bool probe = false;
  if (!rt.circuit_allows(cfg.circuit_breaker, start_ns, probe, shard)) {
    shard.inc(rt.metrics().circuit_open_rejections);
    if (const auto& fb = cfg.circuit_breaker.fallback) {
      ctx.respond(fb->status, fb->body).headers = fb->headers;
    } else {
      ctx.error = {ErrorKind::unavailable, ErrorSource::upstream, 503, "circuit open for service " + service.name};
    }
    co_return;
  }
  // The breaker hears of the request once, as soon as its outcome is known (the final response
  // head or the final failure), not when a long body or tunnel ends. A request that ends any other
  // way (cancelled, an exception) counts as a failure, so a probe never leaves the circuit waiting.
  // The adaptive limiter hears of it at the same moment: latency to the response head, and
  // whether the service dropped it (refused, timed out, answered 503 or 429).
  struct Record {
    discovery::ServiceRuntime& rt;
    const CircuitBreakerConfig& cfg;
    bool probe;
    observability::Shard& shard;
    protection::AdaptiveLimiter* adaptive;
    std::int64_t start_ns;
    std::int64_t in_flight;
    bool done = false;
    void settle(bool failed, bool dropped = false) {
      if (done) return;
      done = true;
      const std::int64_t now = steady_ns(std::chrono::steady_clock::now());
      if (cfg.enabled) rt.circuit_record(cfg, now, failed, probe, shard);
      if (adaptive) adaptive->sample(now, now - start_ns, in_flight, dropped);
    }
    ~Record() {
      adaptive = nullptr;  // ended some other way (cancelled): no latency to learn from
      settle(true);
    }
  } record{rt, cfg.circuit_breaker, probe, shard, adaptive, start_ns, admitted_in_flight};

  discovery::Balancer& balancer = worker_.balancer(service.id);
  const std::uint64_t hash = service.policy == discovery::Policy::consistent_hash ? request_hash(ctx, service) : 0;
  const RetryConfig& retry = cfg.retries;
  unsigned same_left = retry.max_auto_retries;
  unsigned next_left = retry.max_auto_retries_next_server;
  if (same_left + next_left > 0) rt.budget_request(start_ns);
  const bool method_retryable = (service.retry_methods >> static_cast<unsigned>(head_.method)) & 1u;
  // A body can be sent again only when all of it sits in the head buffer, untouched.
  const std::size_t body_start = body_cursor_;
  const bool body_replayable =
      !head_.has_body() || ctx.request_body ||
      (!head_.chunked && buffer_.size() >= body_cursor_ && buffer_.size() - body_cursor_ >= head_.content_length);
  const Duration route_timeout = ctx.route->config->timeout;
  upstream_deadline_ = route_timeout.count() > 0 ? start + route_timeout : std::chrono::steady_clock::time_point::max();

  std::uint32_t exclude = UINT32_MAX;
  const Instance* instance = nullptr;
  bool pick = true;
  bool replayed = false;
  bool mirrored = false;
  while (true) {
    if (pick) {
      // A retry picks from the newest set; the request keeps the set of its current instance alive.
      balancer.refresh(rt);
      ctx.instance_owner = balancer.hold();
      const std::int64_t now = exclude == UINT32_MAX ? start_ns : steady_ns(std::chrono::steady_clock::now());
      discovery::PickResult r =
          balancer.pick(service.policy, cfg.zone_aware, cfg.zone_min_healthy_percent, hash, now, exclude);
      if (!r.instance) {
        ctx.instance = nullptr;
        ctx.error = {ErrorKind::no_instances, ErrorSource::upstream, 503, "no instances available for " + service.name};
        record.adaptive = nullptr;  // nothing was sent: no latency to learn from
        record.settle(true);
        co_return;
      }
      if (r.panic) shard.inc(rt.metrics().panic_picks);
      instance = r.instance;
    }
    ctx.instance = instance;
    InstanceState& state = *instance->state;
    state.in_flight.fetch_add(1, std::memory_order_relaxed);
    struct Done {
      InstanceState& s;
      ~Done() { s.in_flight.fetch_sub(1, std::memory_order_relaxed); }
    } done{state};

    // A request with a body may not be replayed on a connection the origin just closed, so its
    // pooled connection is peeked; one without a body is replayed instead.
    std::shared_ptr<http::UpstreamConnection> conn =
        worker_.pools().take(*instance, service.config.tls_context.get(), head_.has_body());
    const bool reused = conn != nullptr;
    bool ok = reused || co_await connect_upstream(ctx, *instance, conn);
    bool body_started = false;
    bool got_bytes = false;
    http::ResponseHead rhead;
    http::ResponseFraming framing;
    if (ok) {
      ++ctx.attempts;
      shard.add(instance->metrics.pool_active, 1);
      upstream_ = conn.get();
      ok = co_await send_request(ctx, *conn, body_started);
      if (ok && !mirrored && ctx.route->mirror) {
        mirrored = true;
        start_mirror(ctx, body_start, body_replayable);
      }
      if (ok) ok = co_await read_response_head(ctx, *conn, rhead, framing, got_bytes);
      if (!ok) {
        shard.add(instance->metrics.pool_active, -1);
        upstream_ = nullptr;
        // A pooled connection the origin closed just as it was reused: replay once on a fresh one,
        // which is safe only when nothing of the request could have been acted on.
        if (reused && !replayed && !got_bytes && !body_started && !timed_out_ && !head_.has_body() &&
            ctx.error.kind == ErrorKind::upstream_reset) {
          ctx.error = {};
          replayed = true;
          pick = false;
          continue;
        }
      }
    }

    // Decide whether this attempt failed, and whether another may be made.
    Failure failure = ok ? Failure::none : classify(ctx.error);
    if (ok && rhead.status >= 500) failure = Failure::status;
    const int status_class = ok ? rhead.status / 100 : 0;
    shard.inc(instance->metrics.requests[static_cast<std::size_t>(std::min(status_class, 5))]);
    if (cfg.outlier) rt.outlier_record(*cfg.outlier, *instance, failure != Failure::none, steady_ns(std::chrono::steady_clock::now()), shard);

    bool condition = false;
    switch (failure) {
      case Failure::none: break;
      case Failure::connect: condition = service.retry_on_connect_failure; break;
      case Failure::reset: condition = service.retry_on_reset && ctx.error.retryable; break;
      case Failure::timeout: condition = service.retry_on_timeout && !timed_out_route(); break;
      case Failure::status:
        condition = service.retry_on_5xx ||
                    std::find(service.retry_statuses.begin(), service.retry_statuses.end(), rhead.status) !=
                        service.retry_statuses.end();
        break;
    }
    const bool nothing_sent = failure == Failure::connect && !body_started;
    const bool may_retry = condition && method_retryable && (body_replayable || nothing_sent) && (same_left + next_left) > 0 &&
                           socket_.is_open() && std::chrono::steady_clock::now() < upstream_deadline_;
    if (may_retry && rt.budget_allows_retry(retry, steady_ns(std::chrono::steady_clock::now()))) {
      shard.inc(rt.metrics().retries);
      if (ok) {  // a 5xx held back: this connection is not reused, its body is not wanted
        shard.add(instance->metrics.pool_active, -1);
        upstream_ = nullptr;
        boost::system::error_code ignored;
        conn->socket.close(ignored);
      }
      // A connection that cannot be made goes to the next server first (as Ribbon does).
      if ((failure == Failure::connect && next_left > 0) || same_left == 0) {
        --next_left;
        pick = true;
        exclude = instance->id;
      } else {
        --same_left;
        pick = false;
      }
      timed_out_ = false;
      ctx.error = {};
      if (!ctx.request_body) {  // a held body is sent again from memory; the client's bytes are all read
        body_cursor_ = body_start;
        body_left_ = head_.chunked ? 0 : head_.content_length;
        body_done_ = !head_.has_body();
      }
      continue;
    }
    if (may_retry) shard.inc(rt.metrics().retry_budget_exhausted);
    // Client-side failures (an aborted upload) say nothing about the service.
    record.settle(failure != Failure::none, failure == Failure::timeout || failure == Failure::connect ||
                                                (ok && (rhead.status == 503 || rhead.status == 429)));
    if (!ok) {
      if ((failure == Failure::timeout || failure == Failure::connect) && timed_out_route())
        ctx.error = {ErrorKind::upstream_timeout, ErrorSource::upstream, 504, "route timeout exceeded"};
      co_return;
    }

    ctx.upstream_headers = std::chrono::steady_clock::now();
    bool reusable = false;
    if (rhead.status == 101) {
      co_await tunnel(ctx, *conn, rhead);
    } else {
      reusable = co_await relay_response(ctx, *conn, rhead, framing);
    }
    shard.add(instance->metrics.pool_active, -1);
    upstream_ = nullptr;
    ++conn->requests;
    if (reusable) worker_.pools().give_back(std::move(conn), *instance, cfg);
    co_return;
  }
}

net::awaitable<bool> Session::relay_response(Context& ctx, http::UpstreamConnection& conn,
                                             const http::ResponseHead& head, const http::ResponseFraming& framing) {
  const Service& service = *ctx.service;
  ctx.response_status = head.status;
  ctx.response_fields = head.fields;
  if (ctx.variant && !ctx.route->variant_header.empty())
    ctx.response_fields.set(ctx.route->variant_header, ctx.variant->name);
  for (const auto& [name, value] : ctx.added_response_headers) ctx.response_fields.add(name, value);
  co_await run_filters(ctx, ctx.route->post);  // edits ctx.response_fields; the status stays the origin's
  const bool no_body = head_.method == http::Method::head || head.status == 204 || head.status == 304;
  std::int64_t length = -1;
  bool chunked_out = false;
  if (no_body) {
    if (head_.method == http::Method::head && head.has_content_length) length = static_cast<std::int64_t>(head.content_length);
  } else if (head.has_content_length) {
    length = static_cast<std::int64_t>(head.content_length);
  } else if (head_.version == 11) {
    chunked_out = true;
  } else {
    close_after_ = true;  // HTTP/1.0 client: the body ends with the connection
  }
  if (worker_.draining()) close_after_ = true;
  append_response_head(ctx, head.status, head.reason, ctx.response_fields, length, chunked_out);
  conn.buffer.consume(head.head_bytes);  // the head is serialised in out_: the views may go now

  if (no_body) {
    if (!co_await write_client(out_)) close_after_ = true;
    co_return conn.buffer.empty() && head.keep_alive;  // a body where none belongs: do not reuse
  }

  std::uint64_t left = head.content_length;
  http::ChunkedDecoder decoder(4096, 64 * 1024);
  std::string_view pending_head = out_;
  bool complete = false;
  while (!complete) {
    std::string_view avail = conn.buffer.readable();
    std::string_view piece;
    if (!avail.empty()) {
      if (head.has_content_length) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(avail.size(), left));
        piece = avail.substr(0, n);
        left -= n;
        complete = left == 0;
      } else if (head.chunked) {
        std::string_view in = avail;
        auto r = decoder.next(in, piece);
        if (r == http::ChunkedDecoder::Result::error) {
          close_after_ = true;  // the client must not mistake a broken body for a complete one
          if (!pending_head.empty()) {
            ctx.response_status = 0;
            ctx.error = {ErrorKind::bad_upstream_response, ErrorSource::upstream, 502, decoder.error()};
          }
          co_return false;
        }
        complete = r == http::ChunkedDecoder::Result::done;
        // `piece` views avail; consume after writing.
        avail = avail.substr(0, avail.size() - in.size());
      } else {
        piece = avail;
      }
      const std::size_t consumed = head.chunked ? avail.size() : piece.size();
      if (!piece.empty() || !pending_head.empty()) {
        if (!co_await write_framed(stream_, pending_head, piece, chunked_out)) {
          close_after_ = true;
          co_return false;
        }
        pending_head = {};
        ctx.response_body_bytes += piece.size();
      }
      conn.buffer.consume(consumed);
      if (head.has_content_length && complete) break;
      if (complete || !conn.buffer.empty()) continue;
    } else if (head.has_content_length && left == 0) {
      complete = true;
      break;
    }
    if (!pending_head.empty() && !co_await write_framed(stream_, pending_head, {}, false)) {
      close_after_ = true;
      co_return false;
    }
    pending_head = {};
    arm_upstream(service.config.read_timeout, Phase::upstream_body);
    boost::system::error_code ec;
    co_await read_some(conn.stream, conn.buffer, response_buffer_bytes, ec);
    if (ec) {
      if (framing.until_close && (ec == net::error::eof)) {
        complete = true;
        break;
      }
      close_after_ = true;  // cut short: closing tells the client the body is incomplete
      ctx.error = {timed_out_ ? ErrorKind::upstream_timeout : ErrorKind::upstream_reset, ErrorSource::upstream, 0,
                   "upstream response body cut short"};
      co_return false;
    }
  }
  if (!pending_head.empty() && !co_await write_framed(stream_, pending_head, {}, false)) {
    close_after_ = true;
    co_return false;
  }
  if (chunked_out && !co_await write_framed(stream_, "0\r\n\r\n", {}, false)) {
    close_after_ = true;
    co_return false;
  }
  co_return complete && !framing.until_close && head.keep_alive && conn.buffer.empty();
}

net::awaitable<bool> Session::tunnel(Context& ctx, http::UpstreamConnection& conn, const http::ResponseHead& head) {
  using namespace net::experimental::awaitable_operators;
  ctx.response_status = 101;
  ctx.response_fields = head.fields;
  std::string head_bytes(conn.buffer.readable().substr(0, head.head_bytes));
  conn.buffer.consume(head.head_bytes);
  std::string early(conn.buffer.readable());
  conn.buffer.clear();
  close_after_ = true;
  if (!co_await write_client(head_bytes, early)) co_return false;
  // Bytes the client sent after its upgrade request belong to the new protocol.
  std::string_view client_early = buffer_.readable().substr(std::min(body_cursor_, buffer_.size()));
  if (!client_early.empty() && !co_await write_framed(conn.stream, client_early, {}, false)) co_return false;
  body_cursor_ = buffer_.size();
  disarm();
  auto pump = [](http::Stream& from, http::Stream& to, std::uint64_t& bytes) -> net::awaitable<void> {
    std::vector<char> buf(16 * 1024);
    while (true) {
      auto [ec, n] = co_await from.async_read_some(net::buffer(buf), use_tuple);
      if (ec) break;
      auto [wec, wn] = co_await net::async_write(to, net::buffer(buf.data(), n), use_tuple);
      if (wec) break;
      bytes += n;
    }
    // TLS has no half-close: its side is closed, which also ends the pump reading from it.
    boost::system::error_code ignored;
    if (to.secure()) to.socket().close(ignored);
    else to.socket().shutdown(tcp::socket::shutdown_send, ignored);
  };
  co_await (pump(stream_, conn.stream, ctx.request_body_bytes) && pump(conn.stream, stream_, ctx.response_body_bytes));
  co_return false;
}

}  // namespace portcullis
