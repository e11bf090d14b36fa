#include "canary/canary.h"

#include <mutex>
#include <unordered_map>

#include "util/log.h"

namespace portcullis::canary {

std::string_view to_string(State s) {
  switch (s) {
    case State::running: return "running";
    case State::paused: return "paused";
    case State::promoted: return "promoted";
    case State::rolled_back: return "rolled_back";
  }
  return "running";
}

RouteCanary::RouteCanary(std::string route, observability::Registry& metrics)
    : route_(std::move(route)), metrics_(metrics) {
  rollbacks = metrics.counter("portcullis_canary_rollbacks_total", "Canaries rolled back by the analysis.",
                              {{"route", route_}});
  percent_gauge = metrics.gauge("portcullis_canary_percent_milli",
                                "Share of traffic sent to the canary, in thousandths of a percent.", {{"route", route_}});
}

void RouteCanary::set_percent(double percent, std::string_view why) {
  percent_ = percent;
  threshold_.store(threshold_for(percent), std::memory_order_relaxed);
  metrics_.shard(metrics_.shard_count() - 1).set(percent_gauge, static_cast<std::int64_t>(percent * 1000));
  log::info("canary percent set", {{"route", route_}, {"percent", std::to_string(percent)}, {"why", std::string(why)}});
}

std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::size_t end = query.find('&');
    std::string_view pair = query.substr(0, end);
    std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (end == std::string_view::npos) break;
    query.remove_prefix(end + 1);
  }
  return std::nullopt;
}

}  // namespace portcullis::canary
