// The daemon: workers on the data path, the admin/control thread, config snapshots, signals,
// reload and graceful drain.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <boost/system/error_code.hpp>

#include "config/snapshot.h"
#include "core/worker_context.h"
#include "observability/metrics.h"

namespace portcullis {

class Worker;
class RuntimeState;
class ConfigErrors;

struct ReloadResult {
  bool ok = false;
  std::uint64_t generation = 0;
  std::vector<std::string> errors;
};

class Server {
 public:
  // `state` is what outlives reloads; the first snapshot was compiled with it.
  Server(std::string config_path, std::shared_ptr<observability::Registry> metrics, std::shared_ptr<RuntimeState> state);
  ~Server();

  // Starts workers and the admin listener with `initial`; returns the exit code once drained.
  int run(std::shared_ptr<const Snapshot> initial);

  std::shared_ptr<const Snapshot> snapshot() const { return snapshots_.current.load(std::memory_order_acquire); }
  std::uint64_t generation() const { return snapshots_.generation.load(std::memory_order_acquire); }
  const SnapshotSource& snapshots() const { return snapshots_; }
  observability::Registry& metrics() { return *metrics_; }
  RuntimeState& runtime_state() { return *state_; }
  observability::Shard& control_shard() { return metrics_->shard(static_cast<unsigned>(workers_.size())); }

  // Control thread only: parse, validate and compile off the data path, then swap atomically.
  ReloadResult reload();
  // Control thread only: the running config compiled again, when a file it refers to changed.
  ReloadResult recompile();
  void begin_shutdown();  // graceful: stop accepting, finish in-flight work, exit 0
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }
  const std::string& config_path() const { return config_path_; }

  // Lets tests and `make demo` find ephemeral ports: printed once everything listens.
  std::vector<std::string> listening;

 private:
  struct Control;
  void on_signal(boost::system::error_code ec, int signo);
  void publish(std::shared_ptr<const Snapshot> snap);
  ReloadResult apply(std::shared_ptr<const Snapshot> snap, const ConfigErrors& errors, std::uint64_t next,
                     const char* done);
  void update_gauges();  // control thread, every second

  std::string config_path_;
  std::shared_ptr<observability::Registry> metrics_;
  std::shared_ptr<RuntimeState> state_;
  SnapshotSource snapshots_;
  std::atomic<bool> draining_{false};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<Control> control_;
  observability::CounterId reloads_ok_, reloads_failed_;
};

// Number of workers a config asks for (0 = one per CPU).
unsigned effective_workers(const Config& config);

}  // namespace portcullis
