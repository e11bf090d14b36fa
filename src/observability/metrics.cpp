// Sharded Prometheus metrics: slot storage per worker and the registry that hands out slot ids.
// A scrape sums the shards into prometheus-cpp's MetricFamily model (a Collectable), which its
// TextSerializer renders: the exposition format and its escaping are the library's.
#include "observability/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <ostream>
#include <streambuf>
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

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

// prometheus-cpp 1.0.1 writes HELP text as given, while the text format asks for `\\` and `\n`
// to be escaped there (label values it escapes itself): help is stored escaped.
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

prometheus::MetricType prometheus_type(MetricType type) {
  switch (type) {
    case MetricType::counter: return prometheus::MetricType::Counter;
    case MetricType::gauge: return prometheus::MetricType::Gauge;
    case MetricType::histogram: return prometheus::MetricType::Histogram;
  }
  return prometheus::MetricType::Untyped;
}

// A histogram's raw slots (one per finite bucket, +Inf, count, sum in nanounits) as cumulative
// buckets.
template <class Total>
void collect_histogram(const std::vector<double>& bounds, std::uint32_t index, Total& total,
                       prometheus::ClientMetric::Histogram& out) {
  const std::size_t n = bounds.size();
  std::uint64_t cumulative = 0;
  out.bucket.reserve(n + 1);
  for (std::size_t i = 0; i <= n; ++i) {
    cumulative += total(index + static_cast<std::uint32_t>(i));
    out.bucket.push_back({cumulative, i < n ? bounds[i] : std::numeric_limits<double>::infinity()});
  }
  // The count is taken from the buckets rather than the count slot: a scrape racing a writer
  // could otherwise show _count disagreeing with the +Inf bucket.
  out.sample_count = cumulative;
  const auto nanos = static_cast<std::int64_t>(total(index + static_cast<std::uint32_t>(n + 2)));
  out.sample_sum = static_cast<double>(nanos) / 1e9;
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

void Shard::clear(std::uint32_t index, std::uint32_t slots) {
  for (std::uint32_t i = index; i < index + slots; ++i) {
    if (i / block_slots < max_blocks && blocks_[i / block_slots]) slot(i).store(0, std::memory_order_relaxed);
  }
}

// ---- Registry ----

struct Registry::Series {
  std::uint32_t index = 0;
  std::uint32_t slots = 1;
  std::vector<prometheus::ClientMetric::Label> labels;  // built once at registration
};

struct Registry::Family {
  std::string name;
  std::string help;  // escaped
  MetricType type = MetricType::counter;
  std::vector<std::string> label_names;
  std::unique_ptr<const std::vector<double>> bounds;  // histograms; address handed out in ids
  std::vector<Series> series;                         // registration order, which a scrape keeps
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

  // Slots a removed series gave back come first; they start again from zero.
  auto reusable = free_slots_.find(slots);
  const bool reuse = reusable != free_slots_.end() && !reusable->second.empty();
  if (!reuse && slots > shard_capacity - next_slot_) throw std::length_error("metrics shard capacity exceeded");
  const std::uint32_t index = reuse ? reusable->second.back() : next_slot_;
  // Every shard must hold the slots before anyone can write through the id, and the allocation
  // may throw, so it happens before any bookkeeping changes.
  if (!reuse) {
    for (auto& shard : shards_) shard->ensure(index + slots);
  } else {
    for (auto& shard : shards_) shard->clear(index, slots);
    reusable->second.pop_back();
  }

  if (!family) {
    auto fresh = std::make_unique<Family>();
    fresh->name = std::string(name);
    fresh->help = escape_help(help);
    fresh->type = type;
    fresh->label_names = names;
    if (type == MetricType::histogram) fresh->bounds = std::make_unique<const std::vector<double>>(*bounds);
    family = fresh.get();
    families_.insert(it, std::move(fresh));
  }

  Series series;
  series.index = index;
  series.slots = slots;
  series.labels.reserve(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) series.labels.push_back({names[i], values[i]});
  family->series.push_back(std::move(series));
  family->by_values.emplace(std::move(values), family->series.size() - 1);
  if (!reuse) next_slot_ = index + slots;
  if (bounds_out) *bounds_out = family->bounds.get();
  return SlotId{index};
}

void Registry::remove(SlotId id) {
  std::lock_guard lock(mutex_);
  for (auto& f : families_) {
    Family& family = *f;
    auto s = std::find_if(family.series.begin(), family.series.end(),
                          [&](const Series& series) { return series.index == id.index; });
    if (s == family.series.end()) continue;
    free_slots_[s->slots].push_back(s->index);
    std::vector<std::string> values;
    for (const auto& label : s->labels) values.push_back(label.value);
    family.by_values.erase(values);
    const auto position = static_cast<std::size_t>(s - family.series.begin());
    for (auto& [_, i] : family.by_values)
      if (i > position) --i;
    // The family stays (a histogram's bounds are owned by it), without series: a scrape skips it.
    family.series.erase(s);
    return;
  }
}

std::size_t Registry::series_count() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& family : families_) n += family->series.size();
  return n;
}

std::vector<prometheus::MetricFamily> Registry::collect() const {
  std::lock_guard lock(mutex_);
  // Wrapping unsigned addition is exact for counters and, reinterpreted, for signed gauges.
  auto total = [this](std::uint32_t index) {
    std::uint64_t sum = 0;
    for (const auto& shard : shards_) sum += shard->read(index);
    return sum;
  };
  std::vector<prometheus::MetricFamily> out;
  out.reserve(families_.size());
  for (const auto& family : families_) {
    if (family->series.empty()) continue;  // every series removed
    prometheus::MetricFamily& f = out.emplace_back();
    f.name = family->name;
    f.help = family->help;
    f.type = prometheus_type(family->type);
    f.metric.reserve(family->series.size());
    for (const Series& s : family->series) {
      prometheus::ClientMetric& m = f.metric.emplace_back();
      m.label = s.labels;
      switch (family->type) {
        case MetricType::counter:
          m.counter.value = static_cast<double>(total(s.index));
          break;
        case MetricType::gauge:
          m.gauge.value = static_cast<double>(static_cast<std::int64_t>(total(s.index)));
          break;
        case MetricType::histogram:
          collect_histogram(*family->bounds, s.index, total, m.histogram);
          break;
      }
    }
  }
  return out;
}

namespace {

// Hands a registry to anything that gathers prometheus-cpp Collectables (an Exposer, a Gateway).
class RegistryCollectable final : public prometheus::Collectable {
 public:
  explicit RegistryCollectable(const Registry& registry) : registry_(registry) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return registry_.collect(); }

 private:
  const Registry& registry_;
};

// The serializer writes through an ostream; this buffer appends straight to a string reserved for
// the whole exposition, instead of a stringbuf that grows by copying and is copied out at the end.
class StringAppendBuf final : public std::streambuf {
 public:
  explicit StringAppendBuf(std::string& out) : out_(out) {}

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) out_.push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.append(s, static_cast<std::size_t>(n));
    return n;
  }

 private:
  std::string& out_;
};

}  // namespace

std::string Registry::render() const {
  const std::vector<prometheus::MetricFamily> families = RegistryCollectable(*this).Collect();
  std::string text;
  text.reserve(last_render_bytes_.load(std::memory_order_relaxed) + 4096);
  StringAppendBuf buffer(text);
  std::ostream out(&buffer);
  prometheus::TextSerializer().Serialize(out, families);
  last_render_bytes_.store(text.size(), std::memory_order_relaxed);
  return text;
}

std::shared_ptr<prometheus::Collectable> Registry::collectable() const {
  return std::make_shared<RegistryCollectable>(*this);
}

const std::vector<double>& Registry::default_latency_bounds() {
  static const std::vector<double> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,   0.5,   1,      2.5,   5,     10,   30,    60};
  return bounds;
}

}  // namespace portcullis::observability
