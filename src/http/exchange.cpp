// One request's lifecycle (see exchange.h): the stages in the order they run.
#include "http/exchange.h"

#include <charconv>

#include "canary/choice.h"
#include "config/snapshot.h"
#include "core/worker_context.h"
#include "http/admission.h"
#include "http/error_response.h"
#include "http/forwarding.h"
#include "http/h2/origin_relay.h"
#include "http/relay.h"
#include "http/upstream_call.h"
#include "http/upstream_pool.h"
#include "http/watchdog.h"
#include "routing/path.h"

namespace portcullis::http {

void Exchange::reset(WorkerContext& worker) {
  worker_ = &worker;
  down_ = nullptr;
  call_.reset();
  response_.conn.reset();
  response_.origin.reset();
  ctx_.reset();
  snapshot_.reset();
  canonical_.clear();
  if (held_body_.capacity() > 64 * 1024) std::string().swap(held_body_);  // a large body is not kept
  held_body_.clear();
  upstream_head_.clear();
  global_ticket_.release();
  route_ticket_.release();
  proxied_ = false;
  close_ = false;
}

net::awaitable<Disposition> Exchange::run(Downstream& downstream) {
  down_ = &downstream;
  begin();
  const bool to_service = co_await before_route_stage();
  if (to_service) {
    const bool proxied = co_await call_upstream();
    proxied_ = proxied;
  }
  if (proxied_ && response_.head.status == 101) {
    co_await tunnel();
  } else {
    // One answer, proxied or local, goes through the post filters and out; an origin that fails
    // before any byte reached the client is answered with the error instead.
    if (!proxied_) answer_error();
    bool sent = false;
    const Route& route = ctx_.route ? *ctx_.route : snapshot_->no_route;
    while (!sent) {
      // The post filters edit ctx.response_fields; the status stays.
      prepare_response();
      const bool failing = static_cast<bool>(ctx_.error);
      std::size_t next = 0;
      if (run_filters_now(route.post, next) == FilterRun::needs_await) co_await run_filters(route.post, next);
      if (!failing && ctx_.error) {
        // A post filter failed: the error answer goes out instead, through the post filters once
        // more (a filter that fails again then leaves it as it is).
        if (proxied_) call_->finish(response_, false);
        proxied_ = false;
        answer_error();
        continue;
      }
      if (!proxied_) {
        co_await send_local();
        break;
      }
      const Sent result = co_await send_proxied();
      sent = result == Sent::done;
      if (!sent) {
        proxied_ = false;
        answer_error();
      }
    }
  }
  // A request body still going to an HTTP/2 origin beside the response ends with the exchange.
  if (call_ && call_->body_pumping()) co_await call_->join_body();  // no coroutine frame otherwise
  finish();
  co_return close_ ? Disposition::close : Disposition::keep;
}

// --- before the route stage ------------------------------------------------------------------

void Exchange::begin() {
  RequestHead& head = down_->head();
  const Peer& peer = down_->peer();
  snapshot_ = worker_->snapshot();  // kept until the request ends: a reload never changes it midway
  ctx_.snapshot = snapshot_.get();
  ctx_.start = std::chrono::steady_clock::now();
  ctx_.request = &head;
  ctx_.worker = worker_->index();
  ctx_.client_address = peer.address;
  ctx_.client_bytes = peer.bytes;
  ctx_.secure = peer.secure;
  ctx_.client_cert_subject = peer.client_cert_subject;
  // The client's request id is kept when usable; otherwise the gateway makes one (no syscall, no lock).
  if (std::string_view incoming = head.fields.get("x-request-id"); usable_request_id(incoming)) {
    ctx_.request_id = incoming;
  } else {
    char id[48];
    ctx_.request_id = ctx_.keep(format_request_id(worker_->request_id_prefix(), worker_->next_request(), id));
    head.fields.set("X-Request-Id", ctx_.request_id);
  }
  // The client certificate's subject is the gateway's to say: a client's copy goes before routing
  // and filters see the request.
  head.fields.remove_any_spelling(snapshot_->config.server.client_cert_header);
}

void Exchange::match_route() {
  const RequestHead& head = down_->head();
  if (head.path == "*") {
    ctx_.canonical_path = "*";
  } else {
    // canonical_ keeps its capacity across requests: no allocation per request.
    const auto error = routing::canonicalize_path(head.path, canonical_);
    ctx_.canonical_path = canonical_;
    if (error != routing::PathError::none) {
      fail(ErrorKind::bad_request, "invalid request path");
      close_ = true;
      return;
    }
  }
  const int index = snapshot_->table.match(ctx_.canonical_path, head.method_text, head.host, head.fields);
  if (index >= 0) ctx_.route = &snapshot_->routes[static_cast<std::size_t>(index)];
}

void Exchange::take_priority() {
  const Snapshot& snap = *snapshot_;
  ctx_.priority = (ctx_.route ? *ctx_.route : snap.no_route).priority;
  if (snap.shedding.priority_header.empty()) return;
  std::string_view text = down_->head().fields.get(snap.shedding.priority_header);
  int value = 0;
  const char* end = text.data() + text.size();
  if (!text.empty() && std::from_chars(text.data(), end, value).ptr == end && value >= 0)
    ctx_.priority = std::min(value, snap.shedding.max_header_priority);
}

net::awaitable<bool> Exchange::before_route_stage() {
  match_route();
  take_priority();
  if (ctx_.error) co_return false;
  const RequestHead& head = down_->head();
  // An overloaded worker turns new requests away before reading their bodies or running filters.
  if (worker_->lagging()) {
    shed(ShedReason::event_loop_lag, "the gateway is overloaded (event loop lag)");
    co_return false;
  }
  if (head.has_content_length && head.content_length > snapshot_->config.server.max_request_body_bytes) {
    fail(ErrorKind::body_too_large, "request body too large");
    close_ = true;
    co_return false;
  }
  const Route& route = ctx_.route ? *ctx_.route : snapshot_->no_route;
  std::size_t next = 0;
  FilterRun run = run_filters_now(route.pre, next);
  bool passed = run == FilterRun::passed;
  if (run == FilterRun::needs_await) passed = co_await run_filters(route.pre, next);
  if (!passed) co_return false;
  // Concurrency limits after the pre filters: they may have set the priority, and a request they
  // turned away never held a slot. The tickets are given back when the exchange is reset.
  if (!admit_gateway_and_route(ctx_, worker_->shard(), global_ticket_, route_ticket_)) co_return false;
  if (answer_locally()) co_return false;
  next = 0;
  run = run_filters_now(route.route_filters, next);
  passed = run == FilterRun::passed;
  if (run == FilterRun::needs_await) passed = co_await run_filters(route.route_filters, next);
  if (!passed) co_return false;
  if (!ctx_.route) {
    fail(ErrorKind::not_found, "no route matches the request");
    co_return false;
  }
  co_return ctx_.route->service != nullptr;
}

// Runs the filters from `next` on while none needs to await (an asynchronous filter, or one
// that needs the body read first): the common case costs no coroutine frame. `next` is left at
// the filter that needs the coroutine.
Exchange::FilterRun Exchange::run_filters_now(const std::vector<const Filter*>& list, std::size_t& next) {
  for (; next < list.size(); ++next) {
    const Filter* filter = list[next];
    if (!filter->should_filter(ctx_)) continue;
    if (filter->is_async() || (filter->body_limit(ctx_) > 0 && !ctx_.request_body && down_->head().has_body()))
      return FilterRun::needs_await;
    const Outcome outcome = filter->run(ctx_);
    if (outcome == Outcome::proceed) continue;
    if (outcome == Outcome::fail && !ctx_.error) fail(ErrorKind::internal, "filter " + filter->name() + " failed");
    return FilterRun::stopped;  // respond or fail: the stage ends here
  }
  return FilterRun::passed;
}

// The rest of a stage from the filter that needs to await (see run_filters_now).
net::awaitable<bool> Exchange::run_filters(const std::vector<const Filter*>& list, std::size_t next) {
  for (; next < list.size(); ++next) {
    const Filter* filter = list[next];
    if (!filter->should_filter(ctx_)) continue;
    if (const std::size_t limit = filter->body_limit(ctx_); limit > 0 && !ctx_.request_body && down_->head().has_body()) {
      const bool held = co_await hold_body(limit);
      if (!held) co_return false;
    }
    const Outcome outcome = filter->is_async() ? co_await filter->run_async(ctx_) : filter->run(ctx_);
    if (outcome == Outcome::proceed) continue;
    if (outcome == Outcome::fail && !ctx_.error) fail(ErrorKind::internal, "filter " + filter->name() + " failed");
    co_return false;  // respond or fail: the stage ends here
  }
  co_return true;
}

net::awaitable<bool> Exchange::hold_body(std::size_t limit) {
  // The whole body (at most `limit` bytes, else 413) for a filter that must see it; the upstream
  // call then sends it from here.
  held_body_.clear();
  const RequestHead& head = down_->head();
  if (!head.chunked && head.content_length > limit) {
    fail(ErrorKind::body_too_large, "request body too large");
    close_ = true;  // the rest of the body is not read
    co_return false;
  }
  while (down_->body_pending()) {
    boost::system::error_code ec;
    std::string_view piece = co_await down_->read_body(ctx_, ec);
    if (ec) co_return false;  // ctx.error says what the client did
    if (held_body_.size() + piece.size() > limit) {
      fail(ErrorKind::body_too_large, "request body too large");
      close_ = true;
      co_return false;
    }
    held_body_.append(piece);
  }
  ctx_.request_body = &held_body_;
  co_return true;
}

// RFC 9110 7.6.2: TRACE and OPTIONS with Max-Forwards: 0 are answered by the recipient.
bool Exchange::answer_locally() {
  const RequestHead& head = down_->head();
  const bool trace = head.method == Method::trace;
  if ((!trace && head.method != Method::options) || head.fields.get("max-forwards") != "0") return false;
  if (trace) {
    ctx_.respond(200, std::string(down_->head_bytes())).headers.emplace_back("Content-Type", "message/http");
  } else {
    ctx_.respond(200).headers.emplace_back("Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH");
  }
  return true;
}

void Exchange::shed(ShedReason reason, std::string message) { http::shed(ctx_, worker_->shard(), reason, std::move(message)); }

void Exchange::fail(ErrorKind kind, std::string message) {
  ctx_.error = {kind, ErrorSource::downstream, 0, std::move(message)};
}

// --- the route stage -------------------------------------------------------------------------

void Exchange::choose_variant() {
  const Route& route = *ctx_.route;
  ctx_.service = route.service;
  if (route.variants.empty()) return;
  const std::size_t index =
      canary::choose_variant(route, down_->head(), ctx_.client_address, worker_->split_sequence());
  ctx_.variant = &route.variants[index];
  ctx_.service = ctx_.variant->service;
}

net::awaitable<bool> Exchange::call_upstream() {
  choose_variant();
  call_.emplace(*worker_, *down_, ctx_, upstream_head_);
  const bool answered = co_await call_->run(response_);
  if (!answered) co_return false;  // ctx.error or the breaker's fallback answers
  ctx_.upstream_headers = std::chrono::steady_clock::now();
  co_return true;
}

net::awaitable<void> Exchange::tunnel() {
  UpstreamConnection& conn = *response_.conn;
  ctx_.response_status = 101;
  ctx_.response_fields = response_.head.fields;
  const std::string_view bytes = conn.buffer.readable();
  co_await down_->tunnel(ctx_, conn, bytes.substr(0, response_.head.head_bytes), bytes.substr(response_.head.head_bytes));
  call_->finish(response_, false);
  close_ = true;
}

// --- answers ---------------------------------------------------------------------------------

// Makes sure there is a local answer: the error filters' (or the default JSON error) for
// ctx.error, and an internal error when the route produced nothing.
void Exchange::answer_error() {
  if (!ctx_.error && ctx_.local_response) return;
  if (!ctx_.error) ctx_.error = {ErrorKind::internal, ErrorSource::internal, 0, "route produced no response"};
  const Route& route = ctx_.route ? *ctx_.route : snapshot_->no_route;
  ctx_.local_response.reset();
  for (const Filter* filter : route.error) {
    if (!filter->should_filter(ctx_)) continue;
    // Error filters run synchronously: the request is already failing, nothing is awaited.
    if (filter->run(ctx_) == Outcome::respond && ctx_.local_response) return;
  }
  respond_with_error(ctx_);
}

void Exchange::prepare_response() {
  ctx_.response_status = proxied_ ? response_.head.status : ctx_.local_response->status;
  if (proxied_) {
    ctx_.response_fields = response_.head.fields;
  } else {
    ctx_.response_fields.clear();
    for (const auto& [name, value] : ctx_.local_response->headers) ctx_.response_fields.add(name, value);
  }
  if (ctx_.variant && !ctx_.route->variant_header.empty())
    ctx_.response_fields.set(ctx_.route->variant_header, ctx_.variant->name);
  for (const auto& [name, value] : ctx_.added_response_headers) ctx_.response_fields.add(name, value);
}

net::awaitable<Exchange::Sent> Exchange::send_proxied() {
  const ResponseHead& head = response_.head;
  UpstreamConnection* conn = response_.conn.get();  // null: an HTTP/2 origin's stream
  const bool no_body = down_->head().method == Method::head || head.status == 204 || head.status == 304;
  std::int64_t length = -1;
  if (head.has_content_length && (!no_body || down_->head().method == Method::head))
    length = static_cast<std::int64_t>(head.content_length);
  down_->send_head(start_of(head.status, head.reason, length, no_body, false));
  // A trailers-only gRPC answer has its status in the head, whose fields go with the origin's buffer.
  if (ctx_.route->grpc[0].valid()) h2::note_grpc_status(ctx_, head.fields);
  if (conn) conn->buffer.consume(head.head_bytes);  // the sink has serialised the head: its views may go now
  if (no_body) {
    const bool ended = co_await down_->end();
    if (!ended) close_ = true;
    // A body where none belongs: the connection is not reused.
    call_->finish(response_, !conn || (conn->buffer.empty() && head.keep_alive));
    co_return Sent::done;
  }
  RelayResult r;
  if (conn) r = co_await relay_body(ctx_, *down_, *conn, head, response_.framing, call_->deadline());
  else r = co_await h2::relay_origin_body(ctx_, *down_, *response_.origin, call_->deadline());
  call_->finish(response_, r.reusable);
  if (r.ok) co_return Sent::done;
  close_ = true;  // a client with part of the response learns from the close that it is incomplete
  if (r.client_failed || down_->response_started()) co_return Sent::done;
  co_return Sent::failed_unsent;
}

ResponseStart Exchange::start_of(int status, std::string_view reason, std::int64_t length, bool bodiless,
                                 bool local) const {
  const ServerConfig& server = snapshot_->config.server;
  const bool proxied_route = ctx_.route && ctx_.route->service;
  ResponseStart s;
  s.status = status;
  s.reason = reason;
  s.fields = &ctx_.response_fields;
  s.content_length = length;
  s.bodiless = bodiless;
  s.close = close_;
  s.server_header = server.server_header && (local || !proxied_route);
  s.request_id = ctx_.request_id;
  if (proxied_route) s.via = server.via;
  s.via_http2 = !local && response_.origin != nullptr;
  return s;
}

net::awaitable<void> Exchange::send_local() {
  const LocalResponse& r = *ctx_.local_response;
  const int status = r.status;
  const bool bodiless = down_->head().method == Method::head || status == 204 || status == 304 || status < 200;
  const std::int64_t length = status == 204 || status == 304 ? -1 : static_cast<std::int64_t>(r.body.size());
  down_->send_head(start_of(status, {}, length, bodiless, true));
  bool ok = false;
  if (!bodiless && !r.body.empty()) {
    const std::string_view body = r.body;
    ok = co_await down_->send_body(std::span(&body, 1), true);
  } else {
    ok = co_await down_->end();
  }
  ctx_.response_body_bytes = bodiless ? 0 : r.body.size();
  if (!ok) close_ = true;
}

void Exchange::finish() {
  ctx_.end = std::chrono::steady_clock::now();
  const Route* route = ctx_.route ? ctx_.route : &snapshot_->no_route;
  auto& shard = worker_->shard();
  const int cls = ctx_.response_status / 100;
  const std::size_t slot = static_cast<std::size_t>(cls >= 1 && cls <= 5 ? cls : 5);
  const double seconds = std::chrono::duration<double>(ctx_.end - ctx_.start).count();
  shard.inc(route->metrics.by_class[slot]);
  shard.observe(route->metrics.duration, seconds);
  if (ctx_.variant) {
    shard.inc(ctx_.variant->metrics.by_class[slot]);
    shard.observe(ctx_.variant->metrics.duration, seconds);
  }
  if (route->grpc[0].valid() && is_grpc(down_->head())) count_grpc(*route);
  for (const Filter* f : route->completion) f->on_complete(ctx_);
}

// The call's grpc-status: the origin's trailers', else its head's (noted while the head was
// there), else the gateway's own answer's, else what gRPC makes of the HTTP status.
void Exchange::count_grpc(const Route& route) {
  int status = proxied_ ? ctx_.grpc_status : -1;
  if (!proxied_) {  // the local answer's fields live in the context
    ctx_.grpc_status = -1;
    h2::note_grpc_status(ctx_, ctx_.response_fields);
    status = ctx_.grpc_status;
  }
  if (status < 0) status = ctx_.response_status == 200 ? 2 : grpc_status_of(ctx_.response_status, ctx_.error.kind);
  if (status >= static_cast<int>(route.grpc.size())) status = 2;  // UNKNOWN
  worker_->shard().inc(route.grpc[static_cast<std::size_t>(status)]);
}

}  // namespace portcullis::http
