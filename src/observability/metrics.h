// Native Prometheus metrics. Each worker writes only its own shard (plain relaxed stores by one
// writer, no lock-prefixed instructions and no mutex on the request path); a scrape sums the
// shards into prometheus-cpp's model and its TextSerializer renders text format 0.0.4. Series are
// registered when a config snapshot is compiled, so the request path only holds pre-resolved slot
// ids and never builds a label string. prometheus-cpp's own headers stay in metrics.cpp.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace prometheus {
struct MetricFamily;
class Collectable;
}  // namespace prometheus

namespace portcullis::observability {

using Labels = std::vector<std::pair<std::string, std::string>>;

// A series' first slot. Counters and gauges use one slot, histograms bounds.size() + 3
// (one per finite bucket, +Inf, count, and sum in nanounits).
struct SlotId {
  std::uint32_t index = UINT32_MAX;
  bool valid() const { return index != UINT32_MAX; }
};
struct CounterId : SlotId {};
struct GaugeId : SlotId {};
struct HistogramId : SlotId {
  const std::vector<double>* bounds = nullptr;  // owned by the registry, stable
};

// One writer's slots. Storage grows in fixed blocks that never move, so a scrape may read while
// the owner writes.
class Shard {
 public:
  static constexpr std::size_t block_slots = 4096;
  static constexpr std::size_t max_blocks = 256;

  Shard();
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  void inc(CounterId id, std::uint64_t n = 1) { bump(id.index, n); }
  void add(GaugeId id, std::int64_t delta) { bump(id.index, static_cast<std::uint64_t>(delta)); }
  void set(GaugeId id, std::int64_t value) {
    slot(id.index).store(static_cast<std::uint64_t>(value), std::memory_order_relaxed);
  }
  void observe(const HistogramId& id, double value);

  std::uint64_t read(std::uint32_t index) const;
  void ensure(std::uint32_t slots);  // registry only, before any id past it is handed out
  void clear(std::uint32_t index, std::uint32_t slots);  // registry only, when slots are reused

 private:
  std::atomic<std::uint64_t>& slot(std::uint32_t index) {
    return blocks_[index / block_slots][index % block_slots];
  }
  void bump(std::uint32_t index, std::uint64_t n) {
    auto& s = slot(index);
    s.store(s.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // one writer
  }
  std::unique_ptr<std::atomic<std::uint64_t>[]> blocks_[max_blocks];
};

enum class MetricType { counter, gauge, histogram };

// Registration and rendering. Registration is thread-safe (mutex, control plane only).
// Registering the same name and labels again returns the same id, so a reload keeps its series.
class Registry {
 public:
  explicit Registry(unsigned shards);
  ~Registry();

  CounterId counter(std::string_view name, std::string_view help, const Labels& labels = {});
  GaugeId gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  HistogramId histogram(std::string_view name, std::string_view help, const Labels& labels,
                        const std::vector<double>& bounds);

  // Unregisters the series whose id this is: a scrape no longer shows it, and its slots are
  // handed to a later registration (zeroed first). Only once no writer can still hold the id
  // (the departed-instance sweep makes sure of that). Unknown ids are ignored.
  void remove(SlotId id);
  std::size_t series_count() const;

  Shard& shard(unsigned i) { return *shards_[i]; }
  unsigned shard_count() const { return static_cast<unsigned>(shards_.size()); }

  // The shards summed into prometheus-cpp's model, families sorted by name, series in
  // registration order; render() is that through prometheus-cpp's text format 0.0.4 serializer.
  std::vector<prometheus::MetricFamily> collect() const;
  std::string render() const;
  // A prometheus::Collectable over this registry (which must outlive it).
  std::shared_ptr<prometheus::Collectable> collectable() const;

  static const std::vector<double>& default_latency_bounds();  // seconds, 0.5ms .. 60s

 private:
  struct Series;
  struct Family;
  SlotId add_series(std::string_view name, std::string_view help, MetricType type,
                    const Labels& labels, const std::vector<double>* bounds, std::uint32_t slots,
                    const std::vector<double>** bounds_out);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::unique_ptr<Family>> families_;
  std::uint32_t next_slot_ = 0;
  std::map<std::uint32_t, std::vector<std::uint32_t>> free_slots_;  // by series size: first slots
  mutable std::atomic<std::size_t> last_render_bytes_{0};  // sizes the next scrape's buffer
};

}  // namespace portcullis::observability
