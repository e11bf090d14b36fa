// Config description: the process-wide discovery settings and load shedding.
#include <limits>

#include "config/schema.h"

namespace portcullis::loader {
namespace {

const Section<PriorityBandConfig>& band_section() {
  using S = PriorityBandConfig;
  static Section<S> section = [] {
    Section<S> s("shedding.priority_bands[]", {
      integer("from", &S::from, 0, 99, "The band covers priorities from here up to the next band's.").required(),
      custom<S>("shed_at", "share", "", "How much of any limit the band's requests may fill (0–1 or a percentage).",
                [] {
                  return Json{{"anyOf",
                               {{{"type", "number"}, {"minimum", 0}, {"maximum", 1}},
                                {{"type", "string"}, {"pattern", "^[0-9]+(\\.[0-9]*)?%$"}}}}};
                },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) { p.read_share(v, at, out.shed_at); })
          .required(),
    });
    s.nullable = false;
    return s;
  }();
  return section;
}

void read_bands(Parser& p, const YAML::Node& v, const std::string& at, SheddingConfig& out) {
  if (!p.expect_list(v, at)) return;
  out.bands.clear();
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string item = indexed(at, i);
    if (!v[i].IsMap()) {
      p.expect_map(v[i], item);
      continue;
    }
    PriorityBandConfig& band = out.bands.emplace_back();
    p.read_section(band_section(), v[i], item, band);
    if (out.bands.size() >= 2 && band.from <= out.bands[out.bands.size() - 2].from)
      p.error(v[i], join(item, "from"), "bands must be listed in rising order of \"from\"");
  }
  if (!out.bands.empty() && out.bands.front().from != 0) p.error(v, at, "the first band must start at priority 0 (from: 0)");
}

}  // namespace

const Section<SheddingConfig>& shedding_section() {
  using S = SheddingConfig;
  static Section<S> section = [] {
    Section<S> s("shedding", {
      integer("max_concurrent_requests", &S::max_concurrent_requests, std::uint64_t{0},
              std::numeric_limits<std::uint64_t>::max(), "Requests in flight through the whole gateway; 0 = no limit.")
          .shown_default("`0` (no limit)"),
      text("priority_header", &S::priority_header, "Request header carrying a priority 0–99; \"\" = none.",
           [](const std::string& name) {
             return name.empty() || is_token(name) ? "" : "invalid header name " + in_quotes(name);
           }).type("header name"),
      integer("default_priority", &S::default_priority, 0, 99, "Priority of requests on routes without one."),
      integer("max_header_priority", &S::max_header_priority, 0, 99, "The highest priority a client may claim."),
      custom<S>("priority_bands", "list", "", "Shares of every limit that each band of priorities may fill.",
                [] { return Json{{"type", "array"}, {"items", band_section().schema()}}; }, read_bands),
      duration("max_event_loop_lag", &S::max_event_loop_lag, kZeroAllowed,
               "Shed new requests on a worker lagging more than this; 0 = off.").shown_default("`0` (off)"),
      duration("lag_probe_interval", &S::lag_probe_interval,
               {std::chrono::milliseconds(1), Duration::max(), "must be at least 1ms"}, "How often each worker measures its lag."),
      duration("retry_after", &S::retry_after,
               {std::chrono::seconds(1), Duration::max(), "must be at least 1s (Retry-After counts whole seconds)"},
               "The Retry-After of every 503 the gateway produces."),
    });
    s.nest("priority_bands", band_section());
    return s;
  }();
  return section;
}

const Section<DiscoverySettings>& discovery_settings_section() {
  using S = DiscoverySettings;
  static const Section<S> section("discovery", {
    text("zone", &S::zone, "The gateway's own zone, for zone_aware services."),
    duration("lease_duration", &S::lease_duration, kPositive, "Embedded registry: lease of a client that sends none."),
    duration("eviction_interval", &S::eviction_interval, kPositive, "Embedded registry: how often expired leases go."),
    boolean("registry_enabled", &S::registry_enabled, "Serve the embedded Eureka registry under /eureka/."),
    integer("max_registered_instances", &S::max_registered_instances, std::uint64_t{1}, std::uint64_t{1'000'000},
            "Embedded registry: registrations of new instances beyond this get 503."),
    boolean("self_preservation", &S::self_preservation,
            "Embedded registry: stop expiring leases while renewals are below the threshold."),
    number("renewal_percent_threshold", &S::renewal_percent_threshold, 0.0, 1.0,
           "Embedded registry: self-preservation starts below this share of the renewals expected in a minute."),
    integer("self_preservation_min_instances", &S::self_preservation_min_instances, std::uint64_t{1},
            std::uint64_t{1'000'000}, "Embedded registry: self-preservation needs at least this many instances registered for a minute."),
    duration("forget_departed_after", &S::forget_departed_after, kPositive,
             "How long an instance that left its service keeps its metric series, pooled connections and id."),
  });
  return section;
}

// A share of a limit: a number from 0 to 1, or a percentage ("80%").
bool Parser::read_share(const YAML::Node& node, const std::string& path, double& out) {
  double value = -1;
  if (node.IsScalar()) {
    std::string text = node.Scalar();
    const bool percent = !text.empty() && text.back() == '%';
    if (percent) text.pop_back();
    char* end = nullptr;
    const double v = text.empty() ? -1 : std::strtod(text.c_str(), &end);
    if (end && *end == '\0') value = percent ? v / 100 : v;
  }
  if (!(value >= 0 && value <= 1)) {
    error(node, path, "expected a share from 0 to 1 or a percentage (e.g. 0.8 or 80%)");
    return false;
  }
  out = value;
  return true;
}

}  // namespace portcullis::loader
