// Gradient2 and Vegas as described by Netflix's concurrency-limits, fed one aggregate per window.
#include "protection/adaptive.h"

#include <algorithm>
#include <cmath>

namespace portcullis::protection {

namespace {

double clamp_limit(const AdaptiveConcurrencyConfig& c, double v) {
  return std::clamp(v, static_cast<double>(c.min_limit), static_cast<double>(c.max_limit));
}

double initial(const AdaptiveConcurrencyConfig& c) { return clamp_limit(c, c.initial_limit); }

// A probe needs the limit full for this many windows in a row: overload, not a burst.
constexpr unsigned probe_after_full_windows = 3;

}  // namespace

// ---- Gradient2 ------------------------------------------------------------------------------

Gradient2::Gradient2(const AdaptiveConcurrencyConfig& config)
    : config_(config), smoothing_(config.smoothing.value_or(0.2)), limit_(initial(config)) {}

double Gradient2::update(const WindowSample& s) {
  const double short_rtt = s.rtt_ns;
  if (short_rtt <= 0) return limit_;
  // The long-term latency: a plain mean while warming up, then an exponential average.
  if (warmup_ < 10) {
    long_rtt_ = (long_rtt_ * static_cast<double>(warmup_) + short_rtt) / static_cast<double>(warmup_ + 1);
    ++warmup_;
  } else {
    const double factor = 2.0 / (static_cast<double>(config_.long_window) + 1.0);
    long_rtt_ = long_rtt_ * (1 - factor) + short_rtt * factor;
  }
  // After a long slow period the average lags behind a recovered service: pull it down faster.
  if (long_rtt_ / short_rtt > 2) long_rtt_ *= 0.95;
  // Only grow a limit the service is using; an idle service says nothing about its capacity.
  if (s.in_flight < limit_ / 2) return limit_;
  const double gradient = std::clamp(config_.rtt_tolerance * long_rtt_ / short_rtt, 0.5, 1.0);
  double next = limit_ * gradient + config_.queue_size;
  next = limit_ * (1 - smoothing_) + next * smoothing_;
  limit_ = clamp_limit(config_, next);
  return limit_;
}

void Gradient2::reference(double rtt_ns) {
  if (rtt_ns <= 0) return;
  long_rtt_ = rtt_ns;
  warmup_ = std::max<std::uint64_t>(warmup_, 10);  // a measured reference ends the warm-up
}

// ---- Vegas ------------------------------------------------------------------------------------

Vegas::Vegas(const AdaptiveConcurrencyConfig& config)
    : config_(config), smoothing_(config.smoothing.value_or(1.0)), limit_(initial(config)),
      probe_after_(static_cast<std::uint64_t>(limit_ * config.probe_multiplier)) {}

double Vegas::update(const WindowSample& s) {
  const double rtt = s.rtt_ns;
  if (rtt <= 0) return limit_;
  requests_since_probe_ += s.count;
  // Re-probe: the no-load latency may have risen for good (a slower release, a farther zone).
  // A window that reached the limit holds the gateway's own queue: it is no measure of the no-load
  // latency (the limiter's probe at half the limit re-measures it instead).
  if (requests_since_probe_ >= probe_after_) {
    requests_since_probe_ = 0;
    probe_after_ = static_cast<std::uint64_t>(limit_ * config_.probe_multiplier);
    if (!s.limited) {
      no_load_rtt_ = rtt;
      return limit_;
    }
  }
  if (no_load_rtt_ == 0 && s.limited) return limit_;
  if (no_load_rtt_ == 0 || rtt < no_load_rtt_) {
    no_load_rtt_ = rtt;
    return limit_;
  }
  const double log_limit = std::max(1.0, std::log10(limit_));
  const double alpha = 3 * log_limit, beta = 6 * log_limit, threshold = log_limit;
  double next;
  if (s.dropped) {
    next = limit_ - log_limit;
  } else {
    if (s.in_flight * 2 < limit_) return limit_;
    const double queue = std::ceil(limit_ * (1 - no_load_rtt_ / rtt));
    if (queue <= threshold) next = limit_ + beta;
    else if (queue < alpha) next = limit_ + log_limit;
    else if (queue > beta) next = limit_ - log_limit;
    else return limit_;
  }
  next = clamp_limit(config_, next);
  limit_ = limit_ * (1 - smoothing_) + next * smoothing_;
  return limit_;
}

void Vegas::reference(double rtt_ns) {
  if (rtt_ns <= 0) return;
  no_load_rtt_ = rtt_ns;
  requests_since_probe_ = 0;
  probe_after_ = static_cast<std::uint64_t>(limit_ * config_.probe_multiplier);
}

// ---- AdaptiveLimiter --------------------------------------------------------------------------

AdaptiveLimiter::AdaptiveLimiter(const AdaptiveConcurrencyConfig& config)
    : config_(config), vegas_(config.algorithm == "vegas"), gradient2_(config), vegas_algo_(config),
      limit_(static_cast<std::int64_t>(initial(config))) {}

void AdaptiveLimiter::sample(std::int64_t now_ns, std::int64_t rtt_ns, std::int64_t in_flight, bool dropped) {
  // During a probe, a request admitted before it saw the full limit: not part of the measure.
  const std::int64_t probe = probe_start_ns_.load(std::memory_order_relaxed);
  if (probe != 0 && now_ns - rtt_ns < probe) return;
  rtt_sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(rtt_ns, 0)), std::memory_order_relaxed);
  const std::uint64_t count = count_.fetch_add(1, std::memory_order_relaxed) + 1;
  std::int64_t seen = max_in_flight_.load(std::memory_order_relaxed);
  while (in_flight > seen && !max_in_flight_.compare_exchange_weak(seen, in_flight, std::memory_order_relaxed)) {
  }
  if (dropped && !dropped_.load(std::memory_order_relaxed)) dropped_.store(true, std::memory_order_relaxed);
  std::int64_t start = window_start_ns_.load(std::memory_order_relaxed);
  if (start == 0) {
    window_start_ns_.compare_exchange_strong(start, now_ns, std::memory_order_relaxed);
    return;
  }
  if (count < config_.min_samples || now_ns - start < config_.window.count()) return;
  // One worker closes the window; the others go on without waiting.
  if (updating_.exchange(true, std::memory_order_acquire)) return;
  close_window(now_ns);
  updating_.store(false, std::memory_order_release);
}

void AdaptiveLimiter::close_window(std::int64_t now_ns) {
  // Samples that land between these exchanges go to the next window: a few, never lost.
  WindowSample s;
  s.count = count_.exchange(0, std::memory_order_relaxed);
  const std::uint64_t sum = rtt_sum_ns_.exchange(0, std::memory_order_relaxed);
  s.in_flight = static_cast<double>(max_in_flight_.exchange(0, std::memory_order_relaxed));
  s.dropped = dropped_.exchange(false, std::memory_order_relaxed);
  s.limited = limited_.exchange(false, std::memory_order_relaxed) ||
              s.in_flight >= static_cast<double>(limit_.load(std::memory_order_relaxed));
  window_start_ns_.store(now_ns, std::memory_order_relaxed);
  if (s.count == 0) return;
  s.rtt_ns = static_cast<double>(sum) / static_cast<double>(s.count);
  const bool probed = probe_start_ns_.load(std::memory_order_relaxed) != 0;
  if (probed) {
    // The probe window ends: its latency is the new reference and the algorithm's limit returns.
    probe_start_ns_.store(0, std::memory_order_relaxed);
    if (vegas_) vegas_algo_.reference(s.rtt_ns);
    else gradient2_.reference(s.rtt_ns);
  } else if (vegas_) {
    vegas_algo_.update(s);
  } else {
    gradient2_.update(s);
  }
  double limit = algorithm_limit();
  full_windows_ = s.limited ? full_windows_ + 1 : 0;
  if (!probed && full_windows_ >= probe_after_full_windows &&
      (last_probe_ns_ == 0 || now_ns - last_probe_ns_ >= config_.probe_interval.count())) {
    last_probe_ns_ = now_ns;
    // What was admitted at the full limit is still queued at the service for about one latency:
    // the measure starts once that backlog is through.
    probe_start_ns_.store(now_ns + static_cast<std::int64_t>(s.rtt_ns), std::memory_order_relaxed);
    probes_.fetch_add(1, std::memory_order_relaxed);
    limit = std::max(static_cast<double>(config_.min_limit), limit / 2);
  }
  limit_.store(static_cast<std::int64_t>(limit), std::memory_order_relaxed);
  last_rtt_ms_.store(s.rtt_ns / 1e6, std::memory_order_relaxed);
  reference_rtt_ms_.store((vegas_ ? vegas_algo_.no_load_rtt() : gradient2_.long_rtt()) / 1e6, std::memory_order_relaxed);
  windows_.fetch_add(1, std::memory_order_relaxed);
}

AdaptiveLimiter::View AdaptiveLimiter::view() const {
  return {limit(), last_rtt_ms_.load(std::memory_order_relaxed), reference_rtt_ms_.load(std::memory_order_relaxed),
          windows_.load(std::memory_order_relaxed), probes_.load(std::memory_order_relaxed)};
}

}  // namespace portcullis::protection
