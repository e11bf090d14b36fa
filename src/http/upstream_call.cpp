// The upstream call: service admission, breaker, attempts and retries (see upstream_call.h).
#include "http/upstream_call.h"

#include <span>

#include "config/snapshot.h"
#include "core/worker_context.h"
#include "http/admission.h"
#include "http/downstream.h"
#include "http/grpc.h"
#include "http/h2/origin_pool.h"
#include "http/h2/origin_stream.h"
#include "http/mirror.h"
#include "http/retry.h"
#include "http/upstream_attempt.h"
#include "http/upstream_pool.h"
#include "http/watchdog.h"
#include "routing/request_key.h"
#include "util/clock.h"

namespace portcullis::http {
namespace {

std::int64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

RetryPolicy policy_for(const Service& service, const RequestHead& request, bool body_replayable) {
  RetryPolicy p;
  p.on_connect_failure = service.retry_on_connect_failure;
  p.on_reset = service.retry_on_reset;
  p.on_timeout = service.retry_on_timeout;
  p.on_5xx = service.retry_on_5xx;
  p.statuses = &service.retry_statuses;
  p.method_retryable = (service.retry_methods >> static_cast<unsigned>(request.method)) & 1u;
  p.body_replayable = body_replayable;
  return p;
}

}  // namespace

UpstreamCall::UpstreamCall(WorkerContext& worker, Downstream& down, Context& ctx, std::string& head_buffer)
    : worker_(worker), down_(down), ctx_(ctx), head_buffer_(head_buffer) {}

UpstreamCall::~UpstreamCall() {
  adaptive_ = nullptr;  // ended some other way (cancelled): no latency to learn from
  settle(true, false);
  end_attempt();
}

void UpstreamCall::settle(bool failed, bool dropped) {
  if (settled_) return;
  settled_ = true;
  const std::int64_t now = steady_ns(Clock::now());
  const CircuitBreakerConfig& cfg = service_->config.circuit_breaker;
  if (cfg.enabled) service_->runtime->circuit_record(cfg, now, failed, probe_, worker_.shard());
  if (adaptive_) adaptive_->sample(now, now - start_ns_, admitted_in_flight_, dropped);
}

bool UpstreamCall::breaker_allows(std::int64_t now_ns) {
  const Service& service = *service_;
  discovery::ServiceRuntime& rt = *service.runtime;
  if (rt.circuit_allows(service.config.circuit_breaker, now_ns, probe_, worker_.shard())) return true;
  worker_.shard().inc(rt.metrics().circuit_open_rejections);
  if (const auto& fb = service.config.circuit_breaker.fallback) {
    ctx_.respond(fb->status, fb->body).headers = fb->headers;
  } else {
    ctx_.error = {ErrorKind::unavailable, ErrorSource::upstream, 0, "circuit open for service " + service.name};
  }
  return false;
}

void UpstreamCall::begin_attempt(const Instance& instance) {
  active_ = &instance;
  instance.state->in_flight.fetch_add(1, std::memory_order_relaxed);
}

void UpstreamCall::end_attempt() {
  if (!active_) return;
  active_->state->in_flight.fetch_sub(1, std::memory_order_relaxed);
  active_ = nullptr;
}

void UpstreamCall::mirror_once(bool body_replayable) {
  if (mirrored_ || !ctx_.route->mirror) return;
  mirrored_ = true;
  std::string_view body;
  if (ctx_.request_body) body = *ctx_.request_body;
  else if (auto buffered = down_.buffered_body(); buffered) body = *buffered;
  start_mirror(worker_, ctx_, head_buffer_, body_replayable ? &body : nullptr);
}

bool UpstreamCall::begin() {
  service_ = ctx_.service;
  const Service& service = *service_;
  const ServiceConfig& cfg = service.config;
  start_ = Clock::now();
  ctx_.upstream_start = start_;
  start_ns_ = steady_ns(start_);
  // Concurrency limits, then the breaker: all fail fast, without queueing, so one slow service
  // cannot hold every connection of the gateway.
  if (!admit_service(ctx_, service, worker_.shard(), ticket_, admitted_in_flight_)) return false;
  if (!breaker_allows(start_ns_)) return false;
  settled_ = false;
  adaptive_ = service.adaptive.get();
  const RequestHead& request = down_.head();
  hash_ = service.policy == discovery::Policy::consistent_hash
              ? canary::hash_key(routing::request_key(service.hash_on, service.hash_name, request, ctx_.client_address))
              : 0;
  counters_ = {cfg.retries.max_auto_retries, cfg.retries.max_auto_retries_next_server};
  if (counters_.same_left + counters_.next_left > 0) service.runtime->budget_request(start_ns_);
  // A body can be sent again only when all of it is in memory (held for a filter, or buffered).
  body_replayable_ = !request.has_body() || ctx_.request_body || down_.buffered_body().has_value();
  policy_ = policy_for(service, request, body_replayable_);
  const Duration route_timeout = ctx_.route->config->timeout;
  deadline_ = route_timeout.count() > 0 ? start_ + route_timeout : Clock::time_point::max();
  // A gRPC client's own deadline, when it comes first: nothing waits for an answer past it (gRPC
  // needs an HTTP/2 service: other requests do not pay for the look-up).
  if (service.http2) {
    if (const auto grpc = grpc_timeout(request); grpc && is_grpc(request) && *grpc < deadline_ - start_)
      deadline_ = start_ + std::chrono::duration_cast<Clock::duration>(*grpc);
  }
  return true;
}

bool UpstreamCall::pick(bool next_server) {
  // A retry picks from the newest set; the request keeps the set of its current instance alive.
  const Service& service = *service_;
  discovery::ServiceRuntime& rt = *service.runtime;
  discovery::Balancer& balancer = worker_.balancer(service.id);
  balancer.refresh(rt);
  const std::int64_t now = tried_count_ == 0 ? start_ns_ : steady_ns(Clock::now());
  const discovery::Exclusion exclude{
      next_server ? std::span<const std::uint32_t>(tried_.data(), tried_count_) : std::span<const std::uint32_t>(),
      next_server};
  const discovery::PickResult r = balancer.pick(service.policy, service.config.zone_aware,
                                                service.config.zone_min_healthy_percent, hash_, now, exclude);
  if (!r.instance && next_server) return false;  // every instance it could go to was tried
  if (!r.instance) {
    ctx_.instance = nullptr;
    ctx_.error = {ErrorKind::no_instances, ErrorSource::upstream, 0, "no instances available for " + service.name};
    adaptive_ = nullptr;  // nothing was sent: no latency to learn from
    settle(true, false);
    return false;
  }
  if (r.panic) worker_.shard().inc(rt.metrics().panic_picks);
  next_ = r.instance;
  // Held apart until the attempt starts: the attempt that just ended still uses its own set.
  next_owner_ = balancer.hold();
  return true;
}

boost::asio::awaitable<UpstreamCall::Tried> UpstreamCall::try_instance(UpstreamAttempt& attempt, UpstreamResponse& out) {
  const Instance& instance = *instance_;
  bool ok = co_await attempt.connect(instance);
  if (!ok) co_return Tried::failed;
  ++ctx_.attempts;
  // The pool gauges count HTTP/1.1 connections; an HTTP/2 stream holds none of its own.
  if (attempt.conn) worker_.shard().add(instance.metrics.pool_active, 1);
  ok = co_await attempt.send();
  // A request body an HTTP/2 origin is fed beside the response: joined before the exchange ends.
  if (attempt.origin && attempt.origin->pump_running()) pumped_ = attempt.origin;
  if (ok) mirror_once(body_replayable_);
  if (ok) ok = co_await attempt.read_head(out.head, out.framing);
  if (ok) co_return Tried::answered;
  if (attempt.conn) worker_.shard().add(instance.metrics.pool_active, -1);
  attempt.abandon();
  // An HTTP/2 origin that did not process the request (REFUSED_STREAM, above its GOAWAY's last
  // stream id, or never sent): sent again whatever the method, a few times at most (an origin that
  // refuses everything is failing); a connection that had GOAWAY takes no new stream, so the
  // request goes on another.
  const bool replayable = attempt.unsent || (!attempt.body_started && body_replayable_);
  if (attempt.refused && refused_replays_ < kMaxRefusedReplays && replayable) {
    ctx_.error = {};
    ++refused_replays_;
    if (!ctx_.request_body) down_.rewind_body();
    co_return Tried::replay;
  }
  if (replay_on_fresh_connection(attempt.reused, replayed_, attempt.got_bytes, attempt.body_started,
                                 down_.watchdog().fired(), down_.head().has_body(), ctx_.error.kind)) {
    ctx_.error = {};
    replayed_ = true;
    co_return Tried::replay;
  }
  co_return Tried::failed;
}

AttemptReport UpstreamCall::report(bool ok, const UpstreamAttempt& attempt, const ResponseHead& head) {
  // What this attempt tells about the instance (metrics, outlier detection) and for the retry.
  AttemptReport r;
  r.failure = ok ? Failure::none : classify(ctx_.error.kind);
  if (ok && head.status >= 500) r.failure = Failure::status;
  r.status = ok ? head.status : 0;
  r.error_retryable = ctx_.error.retryable;
  r.body_started = attempt.body_started;
  r.time_left = Clock::now() < deadline_;  // precise: the watchdog may have fired at this deadline
  r.client_connected = down_.client_open();
  const ServiceConfig& cfg = service_->config;
  auto& shard = worker_.shard();
  const int status_class = ok ? head.status / 100 : 0;
  shard.inc(instance_->metrics.requests[static_cast<std::size_t>(std::min(status_class, 5))]);
  if (cfg.outlier)
    service_->runtime->outlier_record(*cfg.outlier, *instance_, r.failure != Failure::none, steady_ns(coarse_now()), shard);
  return r;
}

bool UpstreamCall::retry(bool ok, const AttemptReport& report, UpstreamAttempt& attempt) {
  discovery::ServiceRuntime& rt = *service_->runtime;
  auto& shard = worker_.shard();
  RetryChoice choice = decide_retry(policy_, report, counters_);
  if (choice == RetryChoice::next_server && !pick(true)) {
    // Every instance it could go to was tried: the same one again if the policy has a same-server
    // retry left, else the request ends with the error it had (a retry would only repeat it).
    ++counters_.next_left;
    if (counters_.same_left == 0) return false;
    --counters_.same_left;
    choice = RetryChoice::same_server;
  }
  if (choice == RetryChoice::none) return false;
  if (!rt.budget_allows_retry(service_->config.retries, steady_ns(Clock::now()))) {
    shard.inc(rt.metrics().retry_budget_exhausted);
    return false;
  }
  shard.inc(rt.metrics().retries);
  if (ok) {  // a 5xx held back: this connection is not reused, its body is not wanted
    if (attempt.conn) shard.add(instance_->metrics.pool_active, -1);
    attempt.abandon();
  }
  pick_next_ = choice == RetryChoice::next_server;
  down_.watchdog().clear();
  ctx_.error = {};
  if (!ctx_.request_body) down_.rewind_body();  // a held body is sent again from memory
  return true;
}

boost::asio::awaitable<bool> UpstreamCall::run(UpstreamResponse& out) {
  if (!begin()) co_return false;
  if (!pick(false)) co_return false;
  pick_next_ = true;
  while (true) {
    if (pick_next_) {
      instance_ = next_;
      ctx_.instance_owner = std::move(next_owner_);
      if (tried_count_ < tried_.size()) tried_[tried_count_++] = instance_->id;
    }
    ctx_.instance = instance_;
    begin_attempt(*instance_);
    UpstreamAttempt attempt(worker_, down_, ctx_, head_buffer_, deadline_);
    const Tried tried = co_await try_instance(attempt, out);
    const bool ok = tried == Tried::answered;
    if (tried == Tried::replay) {
      pick_next_ = false;
      end_attempt();
      continue;
    }
    const AttemptReport r = report(ok, attempt, out.head);
    if (retry(ok, r, attempt)) {
      end_attempt();
      continue;
    }
    // Client-side failures (an aborted upload) say nothing about the service.
    const bool dropped = r.failure == Failure::timeout || r.failure == Failure::connect ||
                         (ok && (out.head.status == 503 || out.head.status == 429));
    settle(r.failure != Failure::none, dropped);
    if (!ok) {
      if ((r.failure == Failure::timeout || r.failure == Failure::connect) && !r.time_left)
        ctx_.error = {ErrorKind::upstream_timeout, ErrorSource::upstream, 0, "route timeout exceeded"};
      end_attempt();
      co_return false;
    }
    out.conn = std::move(attempt.conn);
    out.origin = std::move(attempt.origin);
    co_return true;
  }
}

void UpstreamCall::finish(UpstreamResponse& response, bool reusable) {
  if (response.origin) {
    // The stream is done with: reset if the origin has not ended it; its connection stays pooled.
    response.origin->detach();
    worker_.origins().give_back(std::move(response.origin));
    end_attempt();
    return;
  }
  if (!response.conn) return;
  worker_.shard().add(active_->metrics.pool_active, -1);
  ++response.conn->requests;
  if (reusable) worker_.pools().give_back(std::move(response.conn), *active_, service_->config);
  else response.conn->stream.close();
  response.conn.reset();
  end_attempt();
}

boost::asio::awaitable<void> UpstreamCall::join_body() {
  if (!pumped_) co_return;
  co_await pumped_->join_pump(down_);
  pumped_.reset();
}

}  // namespace portcullis::http
