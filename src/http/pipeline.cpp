// The request lifecycle (Zuul's model): pre filters -> route stage -> post filters; any failure
// goes to the error filters. Synchronous filters run without a coroutine frame.
#include <charconv>

#include <boost/asio/use_awaitable.hpp>

#include "config/snapshot.h"
#include "core/worker.h"
#include "http/session.h"
#include "routing/path.h"

namespace portcullis {

net::awaitable<bool> Session::run_filters(Context& ctx, const std::vector<const Filter*>& list) {
  for (const Filter* filter : list) {
    if (!filter->should_filter(ctx)) continue;
    if (const std::size_t limit = filter->body_limit(ctx); limit > 0 && !ctx.request_body && head_.has_body()) {
      if (!co_await hold_body(ctx, limit)) co_return false;
    }
    Outcome outcome = filter->is_async() ? co_await filter->run_async(ctx) : filter->run(ctx);
    if (outcome == Outcome::proceed) continue;
    if (outcome == Outcome::fail && !ctx.error) {
      ctx.error.kind = ErrorKind::internal;
      ctx.error.message = "filter " + filter->name() + " failed";
    }
    co_return false;  // respond or fail: the stage ends here
  }
  co_return true;
}

void Session::run_error_filters(Context& ctx) {
  const Route* route = ctx.route ? ctx.route : &ctx.snapshot->no_route;
  ctx.local_response.reset();
  for (const Filter* filter : route->error) {
    if (!filter->should_filter(ctx)) continue;
    // Error filters run synchronously: the connection is already failing, nothing is awaited.
    if (filter->run(ctx) == Outcome::respond && ctx.local_response) return;
  }
  build_error(ctx);
}

namespace {

// RFC 9110 7.6.2: TRACE and OPTIONS with Max-Forwards: 0 are answered by the recipient.
bool answered_locally(const http::RequestHead& head) {
  return (head.method == http::Method::trace || head.method == http::Method::options) &&
         head.fields.get("max-forwards") == "0";
}

}  // namespace

void Session::choose_variant(Context& ctx) {
  const Route& route = *ctx.route;
  std::size_t index = 0;
  // The pin is an index into the newest snapshot's variants; a request on an older snapshot
  // whose list is shorter ignores it rather than read past the end.
  const int pinned = route.canary->pinned();
  bool decided = pinned >= 0 && static_cast<std::size_t>(pinned) < route.variants.size();
  if (decided) index = static_cast<std::size_t>(pinned);
  if (!decided && !route.force_header.empty()) {
    std::string_view forced = head_.fields.get(route.force_header);
    for (std::size_t i = 0; i < route.variants.size() && !forced.empty(); ++i) {
      if (forced == route.variants[i].name || forced == route.variants[i].service->name) {
        index = i;
        decided = true;
      }
    }
  }
  if (!decided) {
    std::string_view key;
    if (route.sticky) key = sticky_key(ctx, route.sticky_on, route.sticky_name);
    const std::uint32_t point = canary::split_point(!key.empty(), canary::hash_key(key), worker_.split_sequence());
    index = route.canary_form ? (point < route.canary->threshold() ? 1 : 0)
                              : canary::variant_for(point, route.upto.data(), route.upto.size());
  }
  ctx.variant = &route.variants[index];
  ctx.service = ctx.variant->service;
}

net::awaitable<void> Session::run_request(Context& ctx) {
  const Snapshot& snap = *ctx.snapshot;
  if (head_.path != "*") {
    // The session's buffer keeps its capacity across requests: no allocation per request.
    auto error = routing::canonicalize_path(head_.path, canonical_);
    ctx.canonical_path = canonical_;
    if (error != routing::PathError::none) {
      ctx.error = {ErrorKind::bad_request, ErrorSource::downstream, 400, "invalid request path"};
      close_after_ = true;
    }
  } else {
    ctx.canonical_path = "*";
  }
  if (!ctx.error) {
    int index = snap.table.match(ctx.canonical_path, head_.method_text, head_.host, head_.fields);
    if (index >= 0) ctx.route = &snap.routes[static_cast<std::size_t>(index)];
  }
  const Route& route = ctx.route ? *ctx.route : snap.no_route;
  ctx.priority = route.priority;
  if (!snap.shedding.priority_header.empty()) {
    std::string_view text = head_.fields.get(snap.shedding.priority_header);
    int value = 0;
    const char* end = text.data() + text.size();
    if (!text.empty() && std::from_chars(text.data(), end, value).ptr == end && value >= 0)
      ctx.priority = std::min(value, snap.shedding.max_header_priority);
  }

  bool proceed = !ctx.error;
  // An overloaded worker turns new requests away before reading their bodies or running filters.
  if (proceed && worker_.lagging()) {
    shed(ctx, ShedReason::event_loop_lag, "the gateway is overloaded (event loop lag)");
    proceed = false;
  }
  if (proceed && head_.has_content_length && head_.content_length > snap.config.server.max_request_body_bytes) {
    ctx.error = {ErrorKind::rejected, ErrorSource::downstream, 413, "request body too large"};
    close_after_ = true;
    proceed = false;
  }
  if (proceed) proceed = co_await run_filters(ctx, route.pre);
  // Concurrency limits after the pre filters: they may have set the priority, and a request they
  // turned away never held a slot. The tickets are given back when the request ends.
  protection::GateTicket global_ticket, route_ticket;
  if (proceed) proceed = admit(ctx, global_ticket, route_ticket);
  if (proceed && answered_locally(head_)) {
    if (head_.method == http::Method::trace) {
      std::string echo(buffer_.readable().substr(0, head_.head_bytes));
      ctx.respond(200, std::move(echo)).headers.emplace_back("Content-Type", "message/http");
    } else {
      ctx.respond(200).headers.emplace_back("Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH");
    }
    proceed = false;
  }
  if (proceed) proceed = co_await run_filters(ctx, route.route);
  if (proceed && !ctx.route) {
    ctx.error = {ErrorKind::not_found, ErrorSource::downstream, 404, "no route matches the request"};
    proceed = false;
  }
  if (proceed && ctx.route->service) {
    ctx.service = ctx.route->service;
    if (!ctx.route->variants.empty()) choose_variant(ctx);
    co_await proxy(ctx);  // writes the response itself, or leaves ctx.error / ctx.local_response
    if (ctx.response_status != 0 && !ctx.error) co_return;
  }
  if (ctx.error) {
    if (ctx.response_status != 0) {  // failed after the response head was sent: nothing to add
      close_after_ = true;
      co_return;
    }
    run_error_filters(ctx);
  }
  if (!ctx.local_response) {
    ctx.error = {ErrorKind::internal, ErrorSource::internal, 500, "route produced no response"};
    run_error_filters(ctx);
  }
  // Answering before the body was read: if the body will never come (no 100 Continue was sent) or
  // is too large to drain, say so now with Connection: close (RFC 9110 10.1.1).
  if (!body_done_ && ((head_.expect_continue && !sent_continue_) || (head_.chunked || body_left_ > (1u << 20))))
    close_after_ = true;
  // Post filters see the local answer as the response.
  ctx.response_status = ctx.local_response->status;
  ctx.response_fields.clear();
  for (const auto& [name, value] : ctx.local_response->headers) ctx.response_fields.add(name, value);
  if (ctx.variant && !route.variant_header.empty()) ctx.response_fields.set(route.variant_header, ctx.variant->name);
  for (const auto& [name, value] : ctx.added_response_headers) ctx.response_fields.add(name, value);
  co_await run_filters(ctx, route.post);
  if (!co_await write_local(ctx, *ctx.local_response)) close_after_ = true;
}

bool Session::admit(Context& ctx, protection::GateTicket& global_ticket, protection::GateTicket& route_ticket) {
  const Snapshot& snap = *ctx.snapshot;
  if (const std::uint64_t max = snap.config.shedding.max_concurrent_requests; max > 0) {
    protection::Gate& gate = protection::global_gate();
    if (!gate.enter(snap.shedding.bands.allowed(static_cast<std::int64_t>(max), ctx.priority))) {
      shed(ctx, ShedReason::global_limit, "the gateway is at shedding.max_concurrent_requests");
      return false;
    }
    global_ticket = protection::GateTicket(&gate);
  }
  if (ctx.route && ctx.route->gate) {
    const auto max = static_cast<std::int64_t>(ctx.route->config->max_concurrent_requests);
    if (!ctx.route->gate->enter(snap.shedding.bands.allowed(max, ctx.priority))) {
      shed(ctx, ShedReason::route_limit, "route " + ctx.route->id + " is at max_concurrent_requests");
      return false;
    }
    route_ticket = protection::GateTicket(ctx.route->gate.get());
  }
  return true;
}

void Session::shed(Context& ctx, ShedReason reason, std::string message) {
  worker_.shard().inc(ctx.snapshot->shedding.counter(reason, ctx.priority));
  ctx.error = {ErrorKind::unavailable, ErrorSource::internal, 503, std::move(message)};
}

}  // namespace portcullis
