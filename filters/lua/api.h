// The `ctx` a lua filter's functions receive, and its `log`: the request (method, path, query,
// headers), the response in post filters, answers at the edge, a per-request `vars` table and the
// request's read-only facts. The ctx table is made once per VM and reads the request of the call
// in progress, so a call allocates nothing for it. Documented in docs/filters.md.
#pragma once
#include <cstddef>
#include <string>

#include "filters/lua/vm.h"

namespace portcullis {
class Context;
}

namespace portcullis::lua {

enum class Phase { criterion, pre, route, post, error };

// Makes the ctx table of `vm` (once per VM).
void install_api(Vm& vm);
// Adds `log` (info, warn, error) and `print` naming `path` to the environment table on the top of
// the stack.
void add_log(Vm& vm, const std::string& path);

// The request one call works on, from construction to destruction; pushes nothing.
class CallScope {
 public:
  // `copy_limit`: the most request data (header names and values, an answer's body) the call may
  // copy into the request, the call's memory budget.
  CallScope(Vm& vm, Context& ctx, Phase phase, std::size_t copy_limit);
  ~CallScope();
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;
  bool responded() const { return responded_; }

 private:
  friend struct Api;
  Vm& vm_;
  Context& ctx_;
  Phase phase_;
  bool responded_ = false;
  std::size_t copy_limit_;
  std::size_t copied_ = 0;
  void* previous_;
};

void push_ctx(Vm& vm);

}  // namespace portcullis::lua
