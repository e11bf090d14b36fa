// One LuaJIT state with the lua filter's guard rails: a memory cap enforced by its allocator, an
// instruction budget per call enforced by a count hook (the JIT compiler is off, because code in
// compiled traces does not run hooks and `while true do end` would escape the budget), and a
// sandbox: each script runs in an environment of its own holding only safe base functions and
// copies of string, table and math. Each worker owns one Vm (lua_runtime.h); scripts are checked
// in a throwaway one on the control thread. Not thread-safe: one thread uses a Vm.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

struct lua_State;
struct lua_Debug;

namespace portcullis::lua {

enum class FailKind { runtime, instructions, memory };
std::string_view to_string(FailKind kind);

struct Failure {
  FailKind kind = FailKind::runtime;
  std::string message;  // "path:line: text" when Lua knows the line
};

struct Budget {
  std::uint64_t max_instructions = 1'000'000;
  std::size_t max_memory = 16u << 20;  // the VM's bytes while the call runs
  bool operator==(const Budget&) const = default;
};

class Vm {
 public:
  Vm();
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  lua_State* state() const { return L_; }
  std::size_t used_bytes() const { return used_; }

  // Compiles `source` (named `path` in messages) and leaves the chunk on the stack with a new
  // sandbox environment of its own. Returns false with `failure` set (the stack unchanged).
  bool load(std::string_view source, const std::string& path, Failure& failure);
  // lua_pcall under `budget`: the function and its `nargs` arguments are on the stack. Leaves
  // `nresults` results, or nothing with `failure` set.
  bool call(int nargs, int nresults, const Budget& budget, Failure& failure);

  // The Vm a C function was called from (set as the state's extra space at creation).
  static Vm& of(lua_State* L);
  // Where the ctx API finds the request of the call in progress (api.cpp), and what keeps this
  // VM's owner alive for a request's ctx.vars table.
  void* call_state = nullptr;
  int api_ctx = -1;  // registry ref of the ctx table
  unsigned log_lines_left = 0;  // log lines one call may still write (api.cpp)
  std::uint64_t instructions_budget = Budget{}.max_instructions;  // of the call in progress (patterns.cpp)
  std::weak_ptr<void> owner;
  // A value C++ code keeps across calls, in the registry; unref with release().
  int keep();  // pops the top value
  // The ctx API refused to copy more request data than the budget allows: classed as memory.
  void note_refused_allocation() { refused_allocation_ = true; }
  void release(int ref);
  void push(int ref) const;

 private:
  static void* allocate(void* self, void* block, std::size_t old_size, std::size_t new_size);
  static void on_count(lua_State* L, lua_Debug* debug);
  void open_safe_libraries();
  void push_sandbox();

  lua_State* L_ = nullptr;
  std::size_t used_ = 0;
  std::size_t limit_ = std::numeric_limits<std::size_t>::max();
  bool refused_allocation_ = false;
  std::size_t collected_at_ = 0;  // used_ after the last full collection
  bool over_budget_ = false;
  int sandbox_template_ = -1;  // registry ref: the safe globals every environment copies
};

}  // namespace portcullis::lua
