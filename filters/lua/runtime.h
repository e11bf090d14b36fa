// What the lua filters share for the process's life (kept in the RuntimeState): one VM per worker,
// made by that worker on first use and touched by no other thread, so the request path takes no
// lock; and one record per script file: the version that runs, when it was loaded, its last error.
//
// A script version (script.h) is checked on the control thread when a config is compiled; a
// worker instantiates it in its own VM the first time a request reaches it, and a snapshot holding
// the version keeps it, so a request runs start to end on one version. Versions no snapshot holds
// any more are released from the VMs as new ones arrive.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "filters/lua/script.h"

namespace portcullis {
class RuntimeState;
}

namespace portcullis::lua {

struct ScriptRecord {
  std::string path;
  // The last version that passed its check: what a config compiled now runs (the running
  // snapshot's filters say what they run). Null until a version passed.
  std::shared_ptr<const Script> running;
  std::string last_error;                 // "" = none since the running version was loaded
  std::chrono::system_clock::time_point last_error_at;
  std::uint64_t failed_calls = 0;
};

class Runtime : public std::enable_shared_from_this<Runtime> {
 public:
  static constexpr unsigned kMaxWorkers = 1024;
  static std::shared_ptr<Runtime> of(RuntimeState& state);  // made on first use
  Runtime();
  ~Runtime();

  // Control thread. The script at `path` as the file now reads: the running version when the text
  // is unchanged, a new one when it changed and passes, and when it fails the running version
  // (`error` set: refused, the version that was running stays) or null (`error` set: there is no
  // version to run).
  std::shared_ptr<const Script> load(const std::string& path, const Budget& budget, std::string& error);

  // Worker `worker` only: its VM, and a version's functions in it (instantiated on first use;
  // null with `failure` set when the version fails in this VM).
  Vm& vm(unsigned worker);
  const Instance* instance(unsigned worker, const std::shared_ptr<const Script>& script, const Budget& budget,
                           Failure& failure);

  // A call that failed (any thread, error path only): remembered for /admin/filters, and logged
  // at most once a second per script with the number of failures since.
  void report_failure(const std::string& path, FailKind kind, const std::string& message);
  std::vector<ScriptRecord> records() const;

 private:
  struct Loaded {
    std::weak_ptr<const Script> script;
    Instance functions;
  };
  struct WorkerVm {
    Vm vm;
    std::unordered_map<const Script*, Loaded> loaded;
  };
  ScriptRecord& record(const std::string& path);  // under mutex_

  mutable std::mutex mutex_;  // records only
  std::map<std::string, ScriptRecord> records_;
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> log_window_;
  std::vector<std::unique_ptr<WorkerVm>> vms_;  // slot i: worker i's, made and used by it alone
};

}  // namespace portcullis::lua
