// Sharded Prometheus metrics: slot storage per worker, the registry that hands out slot ids, and
// the text-format 0.0.4 renderer that sums the shards at scrape time.
#include "observability/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <stdexcept>

namespace portcullis::observability {
namespace {

constexpr std::size_t shard_capacity = Shard::block_slots * Shard::max_blocks;

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Names starting with "__" are reserved for Prometheus' own use.
bool valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_label_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// Shortest digits that parse back to the same double. Plain shortest to_chars picks "5e-04" over
// "0.0005", so mid-range magnitudes are forced to fixed notation (the same cut-offs as Go's %g,
// which is what Prometheus' own clients print); non-finite values use Go's spelling.
std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  double magnitude = std::fabs(v);
  auto format = (v == 0 || (magnitude >= 1e-4 && magnitude < 1e21)) ? std::chars_format::fixed
                                                                      : std::chars_format::general;
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, format);
  if (ec != std::errc{}) return "NaN";  // cannot happen with 64 bytes; keeps the output parseable
  return std::string(buf, end);
}

template <class Int>
void append_int(std::string& out, Int v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc{} ? end : buf);
}

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

// ---- Shard ----

Shard::Shard() = default;
Shard::~Shard() = default;

void Shard::observe(const HistogramId& id, double value) {
  const std::vector<double>& bounds = *id.bounds;
  const std::size_t n = bounds.size();
  // Written as !(value <= bound) so NaN falls through to +Inf, which is where Prometheus' own
  // clients put it.
  std::size_t i = 0;
  while (i < n && !(value <= bounds[i])) ++i;
  bump(id.index + static_cast<std::uint32_t>(i), 1);  // i == n is the +Inf slot
  bump(id.index + static_cast<std::uint32_t>(n + 1), 1);
  // The sum is an integer so that one writer can add to it without a CAS loop. Clamp so a wild
  // value cannot hit the undefined float-to-int conversion; NaN adds nothing.
  constexpr double limit = 9.0e18;
  double nanos = value * 1e9;
  std::int64_t delta = 0;
  if (nanos >= limit) delta = static_cast<std::int64_t>(limit);
  else if (nanos <= -limit) delta = -static_cast<std::int64_t>(limit);
  else if (!std::isnan(nanos)) delta = std::llround(nanos);
  bump(id.index + static_cast<std::uint32_t>(n + 2), static_cast<std::uint64_t>(delta));
}

std::uint64_t Shard::read(std::uint32_t index) const {
  std::size_t block = index / block_slots;
  if (block >= max_blocks || !blocks_[block]) return 0;
  return blocks_[block][index % block_slots].load(std::memory_order_relaxed);
}

void Shard::ensure(std::uint32_t slots) {
  std::size_t needed = (static_cast<std::size_t>(slots) + block_slots - 1) / block_slots;
  if (needed > max_blocks) throw std::length_error("metrics shard capacity exceeded");
  for (std::size_t b = 0; b < needed; ++b) {
    // make_unique<T[]> value-initialises, so every new slot starts at zero.
    if (!blocks_[b]) blocks_[b] = std::make_unique<std::atomic<std::uint64_t>[]>(block_slots);
  }
}

// ---- Registry ----

struct Registry::Series {
  std::uint32_t index = 0;
  std::string label_text;  // escaped `a="x",b="y"`, without braces, built once at registration
};

struct Registry::Family {
  std::string name;
  std::string help;  // already escaped
  MetricType type = MetricType::counter;
  std::vector<std::string> label_names;
  std::unique_ptr<const std::vector<double>> bounds;  // histograms; address handed out in ids
  std::vector<std::string> bound_text;                // formatted le values, +Inf excluded
  std::vector<Series> series;                         // registration order, which render keeps
  std::map<std::vector<std::string>, std::size_t> by_values;
};

Registry::Registry(unsigned shards) {
  if (shards == 0) shards = 1;  // a registry nobody can write to would only hide mistakes
  shards_.reserve(shards);
  for (unsigned i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

Registry::~Registry() = default;

CounterId Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  CounterId id;
  static_cast<SlotId&>(id) = add_series(name, help, MetricType::counter, labels, nullptr, 1, nullptr);
  return id;
}

GaugeId Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  GaugeId id;
  static_cast<SlotId&>(id) = add_series(name, help, MetricType::gauge, labels, nullptr, 1, nullptr);
  return id;
}

HistogramId Registry::histogram(std::string_view name, std::string_view help, const Labels& labels,
                                const std::vector<double>& bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    // +Inf is implicit and a repeated or unordered bound would make the cumulative counts lie.
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i])))
      throw std::logic_error("histogram '" + std::string(name) +
                             "': bounds must be finite and strictly increasing");
  }
  for (const auto& [label, value] : labels) {
    if (label == "le")
      throw std::logic_error("histogram '" + std::string(name) + "': label 'le' is reserved");
  }
  HistogramId id;
  const std::vector<double>* owned = nullptr;
  if (bounds.size() + 3 > shard_capacity) throw std::length_error("histogram has too many bounds");
  auto slots = static_cast<std::uint32_t>(bounds.size() + 3);
  static_cast<SlotId&>(id) = add_series(name, help, MetricType::histogram, labels, &bounds, slots, &owned);
  id.bounds = owned;
  return id;
}

SlotId Registry::add_series(std::string_view name, std::string_view help, MetricType type,
                            const Labels& labels, const std::vector<double>* bounds,
                            std::uint32_t slots, const std::vector<double>** bounds_out) {
  std::vector<std::string> names;
  std::vector<std::string> values;
  names.reserve(labels.size());
  values.reserve(labels.size());
  for (const auto& [label, value] : labels) {
    names.push_back(label);
    values.push_back(value);
  }

  std::lock_guard lock(mutex_);
  auto it = std::lower_bound(families_.begin(), families_.end(), name,
                             [](const std::unique_ptr<Family>& f, std::string_view n) { return f->name < n; });
  Family* family = (it != families_.end() && (*it)->name == name) ? it->get() : nullptr;

  if (family) {
    if (family->type != type)
      throw std::logic_error("metric '" + std::string(name) + "' registered as " +
                             type_name(family->type) + " and again as " + type_name(type));
    if (family->label_names != names)
      throw std::logic_error("metric '" + std::string(name) + "' registered with different label names");
    if (type == MetricType::histogram && *family->bounds != *bounds)
      throw std::logic_error("histogram '" + std::string(name) + "' registered with different bounds");
    auto found = family->by_values.find(values);
    if (found != family->by_values.end()) {
      if (bounds_out) *bounds_out = family->bounds.get();
      return SlotId{family->series[found->second].index};
    }
  } else {
    if (!valid_metric_name(name))
      throw std::logic_error("invalid metric name '" + std::string(name) + "'");
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!valid_label_name(names[i]))
        throw std::logic_error("metric '" + std::string(name) + "': invalid label name '" + names[i] + "'");
      for (std::size_t j = 0; j < i; ++j) {
        if (names[j] == names[i])
          throw std::logic_error("metric '" + std::string(name) + "': duplicate label '" + names[i] + "'");
      }
    }
  }

  if (slots > shard_capacity - next_slot_) throw std::length_error("metrics shard capacity exceeded");
  const std::uint32_t index = next_slot_;
  // Every shard must hold the slots before anyone can write through the id, and the allocation
  // may throw, so it happens before any bookkeeping changes.
  for (auto& shard : shards_) shard->ensure(index + slots);

  if (!family) {
    auto fresh = std::make_unique<Family>();
    fresh->name = std::string(name);
    fresh->help = escape_help(help);
    fresh->type = type;
    fresh->label_names = names;
    if (type == MetricType::histogram) {
      fresh->bounds = std::make_unique<const std::vector<double>>(*bounds);
      for (double b : *bounds) fresh->bound_text.push_back(format_double(b));
    }
    family = fresh.get();
    families_.insert(it, std::move(fresh));
  }

  Series series;
  series.index = index;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) series.label_text += ',';
    series.label_text += names[i];
    series.label_text += "=\"";
    series.label_text += escape_label_value(values[i]);
    series.label_text += '"';
  }
  family->series.push_back(std::move(series));
  family->by_values.emplace(std::move(values), family->series.size() - 1);
  next_slot_ = index + slots;
  if (bounds_out) *bounds_out = family->bounds.get();
  return SlotId{index};
}

std::string Registry::render() const {
  std::lock_guard lock(mutex_);
  // Wrapping unsigned addition is exact for counters and, reinterpreted, for signed gauges.
  auto total = [this](std::uint32_t index) {
    std::uint64_t sum = 0;
    for (const auto& shard : shards_) sum += shard->read(index);
    return sum;
  };

  std::string out;
  out.reserve(4096);
  auto series_line = [&out](const std::string& name, std::string_view suffix,
                            const std::string& labels, std::string_view extra) {
    out += name;
    out += suffix;
    if (!labels.empty() || !extra.empty()) {
      out += '{';
      out += labels;
      if (!labels.empty() && !extra.empty()) out += ',';
      out += extra;
      out += '}';
    }
    out += ' ';
  };

  for (const auto& family : families_) {
    out += "# HELP ";
    out += family->name;
    out += ' ';
    out += family->help;
    out += "\n# TYPE ";
    out += family->name;
    out += ' ';
    out += type_name(family->type);
    out += '\n';

    for (const Series& s : family->series) {
      switch (family->type) {
        case MetricType::counter:
          series_line(family->name, "", s.label_text, "");
          append_int(out, total(s.index));
          out += '\n';
          break;
        case MetricType::gauge:
          series_line(family->name, "", s.label_text, "");
          append_int(out, static_cast<std::int64_t>(total(s.index)));
          out += '\n';
          break;
        case MetricType::histogram: {
          const std::size_t n = family->bounds->size();
          std::uint64_t cumulative = 0;
          std::string le;
          for (std::size_t i = 0; i <= n; ++i) {
            cumulative += total(s.index + static_cast<std::uint32_t>(i));
            le = "le=\"";
            le += i < n ? family->bound_text[i] : std::string("+Inf");
            le += '"';
            series_line(family->name, "_bucket", s.label_text, le);
            append_int(out, cumulative);
            out += '\n';
          }
          auto nanos = static_cast<std::int64_t>(total(s.index + static_cast<std::uint32_t>(n + 2)));
          series_line(family->name, "_sum", s.label_text, "");
          out += format_double(static_cast<double>(nanos) / 1e9);
          out += '\n';
          // The count is taken from the buckets rather than the count slot: a scrape racing a
          // writer could otherwise show _count disagreeing with the +Inf bucket.
          series_line(family->name, "_count", s.label_text, "");
          append_int(out, cumulative);
          out += '\n';
          break;
        }
      }
    }
  }
  return out;
}

const std::vector<double>& Registry::default_latency_bounds() {
  static const std::vector<double> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,   0.5,   1,      2.5,   5,     10,   30,    60};
  return bounds;
}

}  // namespace portcullis::observability
