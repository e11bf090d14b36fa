// The sandboxed LuaJIT state (see vm.h).
#include "filters/lua/vm.h"

#include "filters/lua/patterns.h"

#include <climits>

// Lua errors are raised by longjmp-free unwinding through the C++ frames of the ctx API (which
// hold std::strings): LuaJIT does that on x64 and arm64, where it unwinds like C++ exceptions.
#if !defined(__x86_64__) && !defined(__aarch64__)
#error "the lua filter needs LuaJIT's C++-compatible unwinding (x64 or arm64)"
#endif
#include <cstdlib>
#include <stdexcept>

extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <luajit.h>
}

namespace portcullis::lua {
namespace {

// What a script may use of the base library; everything else (load*, dofile, require, getfenv,
// setfenv, collectgarbage, newproxy, module, print) stays out of its environment.
constexpr const char* kSafeBase[] = {"assert",   "error",  "ipairs", "next",     "pairs",        "pcall",
                                     "select",   "tonumber", "tostring", "type", "unpack",       "xpcall",
                                     "rawequal", "rawget", "rawset", "setmetatable", "getmetatable"};
constexpr const char* kCopiedLibraries[] = {"string", "table", "math"};
constexpr unsigned kLogLinesPerCall = 20;

void copy_table(lua_State* L, int from) {
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, from) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
}

}  // namespace

std::string_view to_string(FailKind kind) {
  switch (kind) {
    case FailKind::runtime: return "runtime";
    case FailKind::instructions: return "instructions";
    case FailKind::memory: return "memory";
  }
  return "runtime";
}

Vm::Vm() {
  L_ = lua_newstate(&Vm::allocate, this);
  if (!L_) throw std::runtime_error("cannot create a Lua state");
  // Hooks do not run inside compiled traces: the interpreter alone keeps the budget enforceable.
  luaJIT_setmode(L_, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  open_safe_libraries();
}

Vm::~Vm() {
  if (L_) lua_close(L_);
}

Vm& Vm::of(lua_State* L) {
  void* self = nullptr;
  lua_getallocf(L, &self);
  return *static_cast<Vm*>(self);
}

void* Vm::allocate(void* self, void* block, std::size_t old_size, std::size_t new_size) {
  Vm& vm = *static_cast<Vm*>(self);
  if (new_size == 0) {
    std::free(block);
    vm.used_ -= old_size;
    return nullptr;
  }
  const std::size_t before = block ? old_size : 0;
  if (new_size > before && vm.used_ + (new_size - before) > vm.limit_) {
    vm.refused_allocation_ = true;
    return nullptr;
  }
  void* moved = std::realloc(block, new_size);
  if (moved) vm.used_ = vm.used_ - before + new_size;
  return moved;
}

void Vm::on_count(lua_State* L, lua_Debug*) {
  Vm& vm = of(L);
  vm.over_budget_ = true;
  // From here on every instruction fails, so a script cannot pcall its way past the budget.
  lua_sethook(L, &Vm::on_count, LUA_MASKCOUNT, 1);
  lua_Debug where;
  if (lua_getstack(L, 0, &where) && lua_getinfo(L, "Sl", &where) && where.currentline > 0)
    lua_pushfstring(L, "%s:%d: instruction budget exceeded", where.short_src, where.currentline);
  else
    lua_pushstring(L, "instruction budget exceeded");
  lua_error(L);
}

void Vm::open_safe_libraries() {
  const lua_CFunction openers[] = {luaopen_base, luaopen_string, luaopen_table, luaopen_math};
  for (lua_CFunction open : openers) {
    lua_pushcfunction(L_, open);
    lua_call(L_, 0, 0);
  }
  // The string metatable (what "s:upper()" goes through) cannot be reached or changed by scripts.
  lua_pushliteral(L_, "");
  lua_getmetatable(L_, -1);
  lua_pushliteral(L_, "__metatable");
  lua_pushboolean(L_, 0);
  lua_rawset(L_, -3);
  lua_pop(L_, 2);

  // Gone from the real string table too: ("").dump would reach it through the metatable. Its
  // pattern functions are guarded there, so "s:find(p)" is as well (patterns.h).
  lua_getglobal(L_, "string");
  lua_pushnil(L_);
  lua_setfield(L_, -2, "dump");
  guard_patterns(L_, -1);
  lua_pop(L_, 1);

  lua_newtable(L_);
  for (const char* name : kSafeBase) {
    lua_getglobal(L_, name);
    lua_setfield(L_, -2, name);
  }
  lua_pushliteral(L_, LUA_VERSION);
  lua_setfield(L_, -2, "_VERSION");
  sandbox_template_ = keep();
}

void Vm::push_sandbox() {
  push(sandbox_template_);
  copy_table(L_, lua_gettop(L_));
  lua_remove(L_, -2);
  const int env = lua_gettop(L_);
  for (const char* name : kCopiedLibraries) {
    lua_getglobal(L_, name);
    copy_table(L_, lua_gettop(L_));
    lua_remove(L_, -2);
    if (std::string_view(name) == "math") {
      // The generator's state is the VM's: no script may reseed it for the others.
      lua_pushnil(L_);
      lua_setfield(L_, -2, "randomseed");
    }
    lua_setfield(L_, env, name);
  }
  lua_pushvalue(L_, env);
  lua_setfield(L_, env, "_G");
}

bool Vm::load(std::string_view source, const std::string& path, Failure& failure) {
  const std::string chunk_name = "@" + path;
  // Text only: bytecode would let a script step outside the checks the compiler makes.
  const int status = luaL_loadbufferx(L_, source.data(), source.size(), chunk_name.c_str(), "t");
  if (status != 0) {
    failure.kind = status == LUA_ERRMEM ? FailKind::memory : FailKind::runtime;
    const char* text = lua_tostring(L_, -1);
    failure.message = text ? text : "cannot load the script";
    if (!failure.message.starts_with(path)) failure.message = path + ": " + failure.message;
    lua_pop(L_, 1);
    return false;
  }
  push_sandbox();
  lua_setfenv(L_, -2);
  return true;
}

bool Vm::call(int nargs, int nresults, const Budget& budget, Failure& failure) {
  over_budget_ = false;
  refused_allocation_ = false;
  // The cap counts live data and garbage alike, and LuaJIT does not collect and retry when an
  // allocation fails: near the cap, collect first (once per growth of an eighth of it).
  if (used_ > budget.max_memory / 4 * 3 && used_ > collected_at_ + budget.max_memory / 8) {
    lua_gc(L_, LUA_GCCOLLECT, 0);
    collected_at_ = used_;
  }
  limit_ = budget.max_memory;
  log_lines_left = kLogLinesPerCall;
  instructions_budget = budget.max_instructions;
  const int count = budget.max_instructions > INT_MAX ? INT_MAX : static_cast<int>(budget.max_instructions);
  lua_sethook(L_, &Vm::on_count, LUA_MASKCOUNT, count);
  const int status = lua_pcall(L_, nargs, nresults, 0);
  limit_ = std::numeric_limits<std::size_t>::max();
  if (status == 0) return true;
  if (over_budget_) failure.kind = FailKind::instructions;
  else if (status == LUA_ERRMEM || refused_allocation_) failure.kind = FailKind::memory;
  else failure.kind = FailKind::runtime;
  const char* text = lua_tostring(L_, -1);
  failure.message = text ? text : std::string("error object is a ") + luaL_typename(L_, -1) + " value";
  if (failure.kind == FailKind::memory && failure.message == "not enough memory")
    failure.message = "memory cap of " + std::to_string(budget.max_memory) + " bytes reached";
  lua_pop(L_, 1);
  if (failure.kind == FailKind::memory) {
    lua_gc(L_, LUA_GCCOLLECT, 0);
    collected_at_ = used_;
  }
  return false;
}

int Vm::keep() { return luaL_ref(L_, LUA_REGISTRYINDEX); }

void Vm::release(int ref) {
  if (ref != LUA_NOREF && ref != LUA_REFNIL) luaL_unref(L_, LUA_REGISTRYINDEX, ref);
}

void Vm::push(int ref) const { lua_rawgeti(L_, LUA_REGISTRYINDEX, ref); }

}  // namespace portcullis::lua
