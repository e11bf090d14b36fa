// The lua filters' per-worker VMs and script records (see runtime.h).
#include "filters/lua/runtime.h"

#include <fstream>
#include <sstream>

#include "config/runtime_state.h"
#include "filters/lua/api.h"
#include "util/log.h"

namespace portcullis::lua {
namespace {

constexpr std::size_t kMaxScriptBytes = 1u << 20;

bool read_file(const std::string& path, std::string& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot be read";
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  out = std::move(text).str();
  if (out.size() > kMaxScriptBytes) {
    error = path + ": larger than 1 MiB";
    return false;
  }
  return true;
}

}  // namespace

std::shared_ptr<Runtime> Runtime::of(RuntimeState& state) {
  return state.kept_state<Runtime>("lua", [] { return std::make_shared<Runtime>(); });
}

Runtime::Runtime() : vms_(kMaxWorkers) {}
Runtime::~Runtime() = default;

ScriptRecord& Runtime::record(const std::string& path) {
  ScriptRecord& r = records_[path];
  r.path = path;
  return r;
}

std::shared_ptr<const Script> Runtime::load(const std::string& path, const Budget& budget, std::string& error) {
  std::string source;
  std::shared_ptr<const Script> running;
  {
    std::lock_guard lock(mutex_);
    running = record(path).running;
  }
  Failure failure;
  std::shared_ptr<const Script> checked;
  if (!read_file(path, source, failure.message)) {
  } else if (running && running->source == source && running->budget == budget) {
    checked = running;
  } else {
    checked = check_script(path, std::move(source), budget, failure);
  }
  std::lock_guard lock(mutex_);
  ScriptRecord& r = record(path);
  if (checked) {
    if (checked != running)
      log::info(running ? "lua script checked: a new version" : "lua script checked",
                {{"filter", path}, {"hash", checked->hash}});
    r.running = checked;
    r.last_error.clear();
    return checked;
  }
  error = failure.message;
  r.last_error = failure.message;
  r.last_error_at = std::chrono::system_clock::now();
  if (running) log::error("lua script refused; the running version stays", {{"filter", path}, {"error", error}});
  return running;
}

Vm& Runtime::vm(unsigned worker) {
  std::unique_ptr<WorkerVm>& slot = vms_.at(worker);
  if (!slot) {
    slot = std::make_unique<WorkerVm>();
    slot->vm.owner = weak_from_this();
    install_api(slot->vm);
  }
  return slot->vm;
}

const Instance* Runtime::instance(unsigned worker, const std::shared_ptr<const Script>& script, const Budget& budget,
                                  Failure& failure) {
  vm(worker);
  WorkerVm& w = *vms_[worker];
  auto it = w.loaded.find(script.get());
  if (it != w.loaded.end() && !it->second.script.expired()) return &it->second.functions;
  // A version new to this VM: release those no snapshot holds any more first.
  for (auto old = w.loaded.begin(); old != w.loaded.end();) {
    if (old->second.script.expired()) {
      w.vm.release(old->second.functions.run);
      w.vm.release(old->second.functions.should_filter);
      old = w.loaded.erase(old);
    } else {
      ++old;
    }
  }
  Script shape;
  Instance functions;
  if (!instantiate(w.vm, *script, budget, shape, &functions, failure)) return nullptr;
  Loaded& entry = w.loaded[script.get()];
  entry.script = script;
  entry.functions = functions;
  return &entry.functions;
}

void Runtime::report_failure(const std::string& path, FailKind kind, const std::string& message) {
  const auto now = std::chrono::steady_clock::now();
  std::uint64_t suppressed = 0;
  {
    std::lock_guard lock(mutex_);
    ScriptRecord& r = record(path);
    r.last_error = message;
    r.last_error_at = std::chrono::system_clock::now();
    ++r.failed_calls;
    auto& [last, count] = log_window_[path];
    if (last != std::chrono::steady_clock::time_point{} && now - last < std::chrono::seconds(1)) {
      ++count;
      return;
    }
    suppressed = count;
    last = now;
    count = 0;
  }
  log::error("lua filter failed; the request gets 500",
             {{"filter", path}, {"kind", to_string(kind)}, {"error", message},
              {"failures_not_logged", std::to_string(suppressed)}});
}

std::vector<ScriptRecord> Runtime::records() const {
  std::lock_guard lock(mutex_);
  std::vector<ScriptRecord> out;
  for (const auto& [path, r] : records_) out.push_back(r);
  return out;
}

}  // namespace portcullis::lua
