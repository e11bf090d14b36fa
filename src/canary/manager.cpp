#include "canary/manager.h"

#include <algorithm>
#include <charconv>

#include "config/snapshot.h"
#include "util/log.h"

namespace portcullis::canary {

namespace {

using Clock = std::chrono::steady_clock;

// Totals over all shards of one variant: requests, 5xx, then the duration histogram's buckets.
std::vector<std::uint64_t> totals(const observability::Registry& metrics, const RequestMetrics& m) {
  auto sum = [&](std::uint32_t index) {
    std::uint64_t total = 0;
    for (unsigned s = 0; s < metrics.shard_count(); ++s)
      total += const_cast<observability::Registry&>(metrics).shard(s).read(index);
    return total;
  };
  std::vector<std::uint64_t> out;
  std::uint64_t requests = 0;
  for (int c = 1; c <= 5; ++c) requests += sum(m.by_class[c].index);
  out.push_back(requests);
  out.push_back(sum(m.by_class[5].index));
  for (std::size_t b = 0; b <= m.duration.bounds->size(); ++b) out.push_back(sum(m.duration.index + static_cast<std::uint32_t>(b)));
  return out;
}

// p99 of the interval from bucket deltas, interpolated linearly inside the bucket that holds it
// (as Prometheus' histogram_quantile does), so a ratio is not decided by bucket edges alone.
double p99(const std::vector<std::uint64_t>& delta, const std::vector<double>& bounds) {
  std::uint64_t count = 0;
  for (std::size_t i = 2; i < delta.size(); ++i) count += delta[i];
  if (count == 0) return 0;
  const double target = 0.99 * static_cast<double>(count);
  double seen = 0;
  for (std::size_t i = 2; i < delta.size(); ++i) {
    const double in_bucket = static_cast<double>(delta[i]);
    if (seen + in_bucket >= target && in_bucket > 0) {
      const std::size_t b = i - 2;
      if (b >= bounds.size()) return bounds.back();  // +Inf bucket: the highest finite bound
      const double lower = b == 0 ? 0 : bounds[b - 1];
      return lower + (bounds[b] - lower) * (target - seen) / in_bucket;
    }
    seen += in_bucket;
  }
  return bounds.back();
}

std::optional<double> parse_number(std::string_view text) {
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

Manager::Manager(boost::asio::io_context& control, observability::Registry& metrics)
    : ioc_(control), metrics_(metrics), timer_(control) {
  tick();
}

Manager::~Manager() { stop(); }

void Manager::stop() {
  stopped_ = true;
  timer_.cancel();
}

const Route* Manager::find(std::string_view id) const {
  if (!snap_) return nullptr;
  for (const Route& r : snap_->routes)
    if (r.id == id) return &r;
  return nullptr;
}

void Manager::reconcile(std::shared_ptr<const Snapshot> snap) {
  const auto now = Clock::now();
  for (const Route& r : snap->routes) {
    if (!r.canary) continue;
    RouteCanary& c = *r.canary;
    std::vector<std::string> services;
    for (const Variant& v : r.variants) services.push_back(v.service->name);
    if (services != c.variant_services && c.pinned() >= 0) {
      c.pin(-1, {});
      log::info("route unpinned: its versions changed", {{"route", r.id}});
    }
    c.variant_services = services;
    if (!r.canary_form) continue;
    const CanaryConfig& cfg = *r.config->canary;
    if (c.file_config && *c.file_config == cfg) continue;  // runtime changes survive this reload
    c.file_config = cfg;
    c.set_state(State::running);
    c.set_percent(cfg.percent, "config");
    if (cfg.percent >= 100) c.set_state(State::promoted);
    c.ramp_step = 0;
    while (c.ramp_step < cfg.ramp_steps.size() && cfg.ramp_steps[c.ramp_step] <= cfg.percent) ++c.ramp_step;
    c.next_ramp = now + cfg.ramp_interval;
    c.next_analysis = now + (cfg.analysis ? cfg.analysis->interval : std::chrono::seconds(30));
    // The first window starts now: an earlier rollout's requests say nothing about this one.
    c.seen = totals(metrics_, r.variants[0].metrics);
    auto canary_totals = totals(metrics_, r.variants[1].metrics);
    c.seen.insert(c.seen.end(), canary_totals.begin(), canary_totals.end());
    c.last_verdict.clear();
    c.last_analysis_healthy = !cfg.analysis;  // with analysis, the first step waits for a verdict
  }
  snap_ = std::move(snap);
}

void Manager::tick() {
  if (stopped_) return;
  const auto now = Clock::now();
  if (snap_) {
    for (const Route& r : snap_->routes) {
      if (!r.canary || !r.canary_form) continue;
      RouteCanary& c = *r.canary;
      const CanaryConfig& cfg = *r.config->canary;
      if (cfg.analysis && now >= c.next_analysis) {
        analyse(r, c, now);
        c.next_analysis = now + cfg.analysis->interval;
      }
      // The ramp moves only while running and, with analysis, only after a healthy verdict.
      // Steps at or below the current percent (set by an operator) are passed over: a ramp
      // never lowers the share, so sticky users never move back.
      while (c.ramp_step < cfg.ramp_steps.size() && cfg.ramp_steps[c.ramp_step] <= c.percent()) ++c.ramp_step;
      // A canary at 0% gets no traffic to judge: its first step needs no verdict.
      if (c.state() == State::running && c.ramp_step < cfg.ramp_steps.size() && now >= c.next_ramp &&
          (!cfg.analysis || c.last_analysis_healthy || c.percent() == 0)) {
        const double step = cfg.ramp_steps[c.ramp_step++];
        c.set_percent(step, "ramp");
        c.last_analysis_healthy = false;  // the next step waits for a verdict on this one
        if (step >= 100) c.set_state(State::promoted);
        c.next_ramp = now + cfg.ramp_interval;
      }
    }
  }
  timer_.expires_after(std::chrono::milliseconds(250));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

void Manager::analyse(const Route& r, RouteCanary& c, Clock::time_point) {
  const CanaryAnalysisConfig& a = *r.config->canary->analysis;
  std::vector<std::uint64_t> base = totals(metrics_, r.variants[0].metrics);
  std::vector<std::uint64_t> can = totals(metrics_, r.variants[1].metrics);
  std::vector<std::uint64_t> now_seen = base;
  now_seen.insert(now_seen.end(), can.begin(), can.end());
  if (c.seen.size() != now_seen.size()) c.seen.assign(now_seen.size(), 0);
  const std::size_t half = base.size();
  for (std::size_t i = 0; i < half; ++i) {
    base[i] -= std::min(base[i], c.seen[i]);
    can[i] -= std::min(can[i], c.seen[half + i]);
  }
  if (c.state() != State::running && c.state() != State::paused) {
    c.seen = std::move(now_seen);
    return;
  }
  // A window grows over intervals until both sides have min_requests: a 1% canary on a quiet
  // route is judged later, never on a handful of requests.
  if (base[0] < a.min_requests || can[0] < a.min_requests) {
    c.last_verdict = "collecting: baseline " + std::to_string(base[0]) + ", canary " + std::to_string(can[0]) +
                     " of " + std::to_string(a.min_requests) + " requests";
    return;
  }
  c.seen = std::move(now_seen);
  const double base_err = static_cast<double>(base[1]) / static_cast<double>(base[0]);
  const double can_err = static_cast<double>(can[1]) / static_cast<double>(can[0]);
  const auto& bounds = *r.variants[0].metrics.duration.bounds;
  const double base_p99 = p99(base, bounds), can_p99 = p99(can, bounds);
  const bool errors_worse = can_err - base_err > a.max_error_rate_delta;
  const bool slower = base_p99 > 0 && can_p99 / base_p99 > a.max_p99_ratio;
  char figures[200];
  std::snprintf(figures, sizeof figures, "error rate %.4f vs %.4f, p99 %.4fs vs %.4fs", can_err, base_err, can_p99,
                base_p99);
  if (!errors_worse && !slower) {
    c.last_analysis_healthy = true;
    c.last_verdict = std::string("healthy: ") + figures;
    return;
  }
  c.last_analysis_healthy = false;
  c.last_verdict = std::string(errors_worse ? "rolled back, errors: " : "rolled back, latency: ") + figures;
  c.set_percent(0, "analysis");
  c.set_state(State::rolled_back);
  metrics_.shard(metrics_.shard_count() - 1).inc(c.rollbacks);
  log::warn("canary rolled back by analysis", {{"route", r.id}, {"figures", figures}});
}

nlohmann::json Manager::describe() const {
  nlohmann::json out = nlohmann::json::object();
  if (!snap_) return out;
  for (const Route& r : snap_->routes) {
    if (!r.canary) continue;
    const RouteCanary& c = *r.canary;
    nlohmann::json variants = nlohmann::json::object();
    for (const Variant& v : r.variants) {
      auto t = totals(metrics_, v.metrics);
      variants[v.name] = {{"service", v.service->name}, {"requests", t[0]}, {"errors_5xx", t[1]},
                          {"p99_seconds_all_time", p99(t, *v.metrics.duration.bounds)}};
    }
    nlohmann::json entry = {{"kind", r.canary_form ? "canary" : "split"},
                            {"variants", variants},
                            {"pinned", c.pinned() >= 0 ? nlohmann::json(c.pinned_service()) : nlohmann::json()}};
    if (r.canary_form) {
      const CanaryConfig& cfg = *r.config->canary;
      entry["percent"] = c.percent();
      entry["state"] = std::string(to_string(c.state()));
      entry["ramp"] = {{"steps", cfg.ramp_steps}, {"next_step", c.ramp_step < cfg.ramp_steps.size()
                                                                    ? nlohmann::json(cfg.ramp_steps[c.ramp_step])
                                                                    : nlohmann::json()}};
      entry["analysis"] = cfg.analysis ? nlohmann::json(c.last_verdict) : nlohmann::json();
    } else {
      std::vector<double> weights;
      for (const auto& e : r.config->split) weights.push_back(e.weight);
      entry["weights"] = weights;
    }
    out[r.id] = std::move(entry);
  }
  return out;
}

std::pair<int, nlohmann::json> Manager::command(std::string_view route, std::string_view query) {
  const Route* r = find(route);
  if (!r || !r->canary || !r->canary_form)
    return {404, {{"error", "no canary route " + std::string(route)}}};
  RouteCanary& c = *r->canary;
  if (auto p = query_param(query, "percent")) {
    auto v = parse_number(*p);
    if (!v || !(*v >= 0 && *v <= 100)) return {400, {{"error", "percent must be a number from 0 to 100"}}};
    c.set_percent(*v, "admin");
    if (c.state() == State::rolled_back || c.state() == State::promoted) c.set_state(State::paused);
  } else if (auto action = query_param(query, "action")) {
    if (*action == "pause") c.set_state(State::paused);
    else if (*action == "resume") {
      c.set_state(State::running);
      c.last_analysis_healthy = true;
      c.next_ramp = Clock::now() + r->config->canary->ramp_interval;
    } else if (*action == "promote") {
      c.set_percent(100, "admin promote");
      c.set_state(State::promoted);
    } else if (*action == "rollback") {
      c.set_percent(0, "admin rollback");
      c.set_state(State::rolled_back);
    } else {
      return {400, {{"error", "action must be pause, resume, promote or rollback"}}};
    }
    log::info("canary state set", {{"route", std::string(route)}, {"state", std::string(to_string(c.state()))}});
  } else {
    return {400, {{"error", "give percent=N or action=pause|resume|promote|rollback"}}};
  }
  return {200, {{"route", std::string(route)}, {"percent", c.percent()}, {"state", std::string(to_string(c.state()))}}};
}

std::pair<int, nlohmann::json> Manager::pin(std::string_view route, std::string_view service) {
  const Route* r = find(route);
  if (!r || !r->canary) return {404, {{"error", "no canary or split route " + std::string(route)}}};
  if (service.empty()) {
    r->canary->pin(-1, {});
    log::info("route unpinned", {{"route", std::string(route)}});
    return {200, {{"route", std::string(route)}, {"pinned", nullptr}}};
  }
  for (std::size_t i = 0; i < r->variants.size(); ++i) {
    if (r->variants[i].service->name != service) continue;
    r->canary->pin(static_cast<int>(i), std::string(service));
    log::info("route pinned", {{"route", std::string(route)}, {"service", std::string(service)}});
    return {200, {{"route", std::string(route)}, {"pinned", std::string(service)}}};
  }
  return {400, {{"error", "service " + std::string(service) + " is not one of the route's versions"}}};
}

}  // namespace portcullis::canary
