#include "http/admission.h"

#include <limits>

#include "config/snapshot.h"

namespace portcullis::http {

void shed(Context& ctx, observability::Shard& shard, ShedReason reason, std::string message) {
  shard.inc(ctx.snapshot->shedding.counter(reason, ctx.priority));
  ctx.error = {ErrorKind::unavailable, ErrorSource::internal, 0, std::move(message)};
}

bool admit_gateway_and_route(Context& ctx, observability::Shard& shard, protection::GateTicket& global,
                             protection::GateTicket& route) {
  const Snapshot& snap = *ctx.snapshot;
  if (const std::uint64_t max = snap.config.shedding.max_concurrent_requests; max > 0) {
    protection::Gate& gate = *snap.shedding.gate;
    if (!gate.enter(snap.shedding.bands.allowed(static_cast<std::int64_t>(max), ctx.priority))) {
      shed(ctx, shard, ShedReason::global_limit, "the gateway is at shedding.max_concurrent_requests");
      return false;
    }
    global = protection::GateTicket(&gate);
  }
  if (ctx.route && ctx.route->gate) {
    const auto max = static_cast<std::int64_t>(ctx.route->config->max_concurrent_requests);
    if (!ctx.route->gate->enter(snap.shedding.bands.allowed(max, ctx.priority))) {
      shed(ctx, shard, ShedReason::route_limit, "route " + ctx.route->id + " is at max_concurrent_requests");
      return false;
    }
    route = protection::GateTicket(ctx.route->gate.get());
  }
  return true;
}

bool admit_service(Context& ctx, const Service& service, observability::Shard& shard, protection::GateTicket& ticket,
                   std::int64_t& in_flight) {
  const ServiceConfig& cfg = service.config;
  protection::AdaptiveLimiter* adaptive = service.adaptive.get();
  if (cfg.max_concurrent_requests == 0 && !adaptive) return true;
  discovery::ServiceRuntime& rt = *service.runtime;
  const auto fixed = cfg.max_concurrent_requests > 0 ? static_cast<std::int64_t>(cfg.max_concurrent_requests)
                                                     : std::numeric_limits<std::int64_t>::max();
  const std::int64_t learned = adaptive ? adaptive->limit() : fixed;
  if (!rt.gate().enter(ctx.snapshot->shedding.bands.allowed(std::min(fixed, learned), ctx.priority))) {
    if (learned < fixed) {
      adaptive->note_limited();
      shed(ctx, shard, ShedReason::adaptive_limit, "service " + service.name + " is at its adaptive concurrency limit");
    } else {
      shard.inc(rt.metrics().bulkhead_rejections);
      shed(ctx, shard, ShedReason::service_limit, "service " + service.name + " is at max_concurrent_requests");
    }
    return false;
  }
  ticket = protection::GateTicket(&rt.gate());
  in_flight = rt.in_flight();
  return true;
}

}  // namespace portcullis::http
