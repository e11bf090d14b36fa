// Checking and instantiating a script's filter table (see script.h).
#include "filters/lua/script.h"

#include <cmath>

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

#include "filters/auth/auth_common.h"
#include "filters/lua/api.h"

namespace portcullis::lua {
namespace {

bool type_from(std::string_view text, FilterType& out) {
  if (text == "pre") out = FilterType::pre;
  else if (text == "route") out = FilterType::route;
  else if (text == "post") out = FilterType::post;
  else if (text == "error") out = FilterType::error;
  else return false;
  return true;
}

// Reads a field without metamethods: the table is the script's, and an __index of its own would
// run outside any protected call here.
void raw_field(lua_State* L, const char* name) {
  lua_pushstring(L, name);
  lua_rawget(L, -2);
}

bool refuse(lua_State* L, int top, const std::string& path, const std::string& why, Failure& failure) {
  lua_settop(L, top);
  failure.kind = FailKind::runtime;
  failure.message = path + ": " + why;
  return false;
}

// Checks the table at the top of the stack; fills type, order and criterion.
bool check_table(lua_State* L, int top, const std::string& path, Script& out, Failure& failure) {
  if (!lua_istable(L, -1)) return refuse(L, top, path, "the script must return a filter table, not a " +
                                                            std::string(luaL_typename(L, -1)), failure);
  raw_field(L, "type");
  const char* type = lua_isstring(L, -1) ? lua_tostring(L, -1) : nullptr;
  if (!type || !type_from(type, out.type))
    return refuse(L, top, path, "the filter table's type must be \"pre\", \"route\", \"post\" or \"error\"", failure);
  lua_pop(L, 1);
  raw_field(L, "order");
  if (!lua_isnil(L, -1)) {
    const double order = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : NAN;
    if (!(std::floor(order) == order && std::fabs(order) <= 1e9))
      return refuse(L, top, path, "the filter table's order must be an integer", failure);
    out.order = static_cast<int>(order);
  }
  lua_pop(L, 1);
  raw_field(L, "run");
  if (!lua_isfunction(L, -1)) return refuse(L, top, path, "the filter table needs a run function", failure);
  lua_pop(L, 1);
  raw_field(L, "should_filter");
  if (!lua_isnil(L, -1) && !lua_isfunction(L, -1))
    return refuse(L, top, path, "the filter table's should_filter must be a function", failure);
  out.has_criterion = lua_isfunction(L, -1);
  lua_pop(L, 1);
  return true;
}

}  // namespace

bool instantiate(Vm& vm, const Script& script, const Budget& budget, Script& out, Instance* keep, Failure& failure) {
  lua_State* L = vm.state();
  const int top = lua_gettop(L);
  if (!vm.load(script.source, script.path, failure)) return false;
  lua_getfenv(L, -1);
  add_log(vm, script.path);
  lua_pop(L, 1);
  if (!vm.call(0, 1, budget, failure)) {
    lua_settop(L, top);
    return false;
  }
  if (!check_table(L, top, script.path, out, failure)) return false;
  if (keep) {
    raw_field(L, "run");
    keep->run = vm.keep();
    if (out.has_criterion) {
      raw_field(L, "should_filter");
      keep->should_filter = vm.keep();
    }
  }
  lua_settop(L, top);
  return true;
}

std::shared_ptr<const Script> check_script(const std::string& path, std::string source, const Budget& budget,
                                           Failure& failure) {
  auto script = std::make_shared<Script>();
  script->path = path;
  script->source = std::move(source);
  script->hash = sha256_hex(script->source);
  script->loaded_at = std::chrono::system_clock::now();
  script->budget = budget;
  Vm vm;
  install_api(vm);
  if (!instantiate(vm, *script, budget, *script, nullptr, failure)) return nullptr;
  return script;
}

std::string sha256_hex(std::string_view data) {
  const filters::auth::Sha256 digest = filters::auth::sha256({data});
  return filters::auth::hex_encode(digest.data(), digest.size());
}

}  // namespace portcullis::lua
