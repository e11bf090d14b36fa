// The ctx API (see api.h). Every field of ctx, ctx.request and ctx.response is read through an
// __index function from the request of the call in progress; the objects themselves are empty
// userdata that refuse writes, so one script cannot change what another sees.
#include "filters/lua/api.h"

#include <cstring>

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

#include "filters/auth/auth_common.h"
#include "pipeline/context.h"
#include "config/snapshot.h"
#include "util/log.h"

namespace portcullis::lua {
namespace {

// ctx.vars: one table per request, shared by its lua filters across phases; released with the
// request's context.
struct RequestVars {
  std::shared_ptr<void> owner;  // keeps the VM alive as long as the context holds the table
  Vm* vm = nullptr;
  int ref = -1;
  RequestVars() = default;
  RequestVars(const RequestVars&) = delete;
  ~RequestVars() {
    if (vm) vm->release(ref);
  }
};

std::string_view arg_text(lua_State* L, int index) {
  std::size_t size = 0;
  const char* text = luaL_checklstring(L, index, &size);
  return {text, size};
}

void push_text(lua_State* L, std::string_view text) { lua_pushlstring(L, text.data(), text.size()); }

void push_text_or_nil(lua_State* L, std::string_view text) {
  if (text.empty()) lua_pushnil(L);
  else push_text(L, text);
}

std::string_view header_name(lua_State* L, int index) {
  const std::string_view name = arg_text(L, index);
  if (!filters::auth::is_header_name(name)) luaL_error(L, "invalid header name '%s'", std::string(name).c_str());
  return name;
}

std::string_view header_value(lua_State* L, int index) {
  const std::string_view value = arg_text(L, index);
  for (unsigned char c : value)
    if ((c < 0x20 && c != '\t') || c == 0x7f) luaL_error(L, "header values must not hold control characters");
  return value;
}

// Method calls (`ctx.request:header(x)`) work as well as the documented `ctx.request.header(x)`.
int first_arg(lua_State* L) { return lua_istable(L, 1) ? 2 : 1; }

}  // namespace

struct Api {
  static CallScope& scope(lua_State* L) {
    auto* scope = static_cast<CallScope*>(Vm::of(L).call_state);
    if (!scope) luaL_error(L, "ctx is only usable while a filter runs");
    return *scope;
  }
  static Context& context(lua_State* L) { return scope(L).ctx_; }

  static void need_phase(lua_State* L, bool allowed, const char* what) {
    if (!allowed) luaL_error(L, "%s", what);
  }
  static bool changes_request(const CallScope& s) { return s.phase_ == Phase::pre || s.phase_ == Phase::route; }

  // What a call copies into the request outlives the call, outside the VM's allocator: it is
  // charged to the call's memory budget.
  static void charge(lua_State* L, CallScope& s, std::size_t bytes) {
    if (s.copied_ + bytes <= s.copy_limit_) {
      s.copied_ += bytes;
      return;
    }
    s.vm_.note_refused_allocation();
    luaL_error(L, "memory cap reached: this call copied more request data than max_memory");
  }
  static std::string_view keep(lua_State* L, CallScope& s, std::string_view text) {
    charge(L, s, text.size());
    return s.ctx_.keep(text);
  }

  // --- ctx.request ---
  static int request_header(lua_State* L) {
    Context& ctx = context(L);
    const http::Field* field = ctx.request->fields.find(arg_text(L, first_arg(L)));
    if (field) push_text(L, field->value);
    else lua_pushnil(L);
    return 1;
  }
  static int request_set_header(lua_State* L) {
    CallScope& s = scope(L);
    need_phase(L, changes_request(s), "request headers can be changed in pre and route filters only");
    const int at = first_arg(L);
    const std::string_view name = header_name(L, at), value = header_value(L, at + 1);
    s.ctx_.request->fields.set(keep(L, s, name), keep(L, s, value));
    return 0;
  }
  static int request_remove_header(lua_State* L) {
    CallScope& s = scope(L);
    need_phase(L, changes_request(s), "request headers can be changed in pre and route filters only");
    s.ctx_.request->fields.remove(arg_text(L, first_arg(L)));
    return 0;
  }
  static int request_index(lua_State* L) {
    Context& ctx = context(L);
    const std::string_view key = arg_text(L, 2);
    if (key == "method") push_text(L, ctx.request->method_text);
    else if (key == "path") push_text(L, ctx.canonical_path);
    else if (key == "query") push_text(L, ctx.request->query);
    else if (key == "header") lua_pushcfunction(L, request_header);
    else if (key == "set_header") lua_pushcfunction(L, request_set_header);
    else if (key == "remove_header") lua_pushcfunction(L, request_remove_header);
    else lua_pushnil(L);
    return 1;
  }

  // --- ctx.response ---
  static int response_header(lua_State* L) {
    CallScope& s = scope(L);
    const http::Field* field = s.phase_ == Phase::post ? s.ctx_.response_fields.find(arg_text(L, first_arg(L))) : nullptr;
    if (field) push_text(L, field->value);
    else lua_pushnil(L);
    return 1;
  }
  // In post filters this edits the response; before it, the header is added to whatever answer
  // the request gets.
  static int response_set_header(lua_State* L) {
    CallScope& s = scope(L);
    need_phase(L, s.phase_ != Phase::criterion, "should_filter cannot change the response");
    const int at = first_arg(L);
    const std::string_view name = keep(L, s, header_name(L, at)), value = keep(L, s, header_value(L, at + 1));
    if (s.phase_ == Phase::post) s.ctx_.response_fields.set(name, value);
    else s.ctx_.added_response_headers.emplace_back(name, value);
    return 0;
  }
  static int response_remove_header(lua_State* L) {
    CallScope& s = scope(L);
    need_phase(L, s.phase_ == Phase::post, "response headers can be removed in post filters only");
    s.ctx_.response_fields.remove(arg_text(L, first_arg(L)));
    return 0;
  }
  static int response_index(lua_State* L) {
    CallScope& s = scope(L);
    const std::string_view key = arg_text(L, 2);
    if (key == "status") {
      if (s.phase_ == Phase::post) lua_pushinteger(L, s.ctx_.response_status);
      else lua_pushnil(L);
    } else if (key == "header") lua_pushcfunction(L, response_header);
    else if (key == "set_header") lua_pushcfunction(L, response_set_header);
    else if (key == "remove_header") lua_pushcfunction(L, response_remove_header);
    else lua_pushnil(L);
    return 1;
  }

  // --- ctx ---
  static int respond(lua_State* L) {
    CallScope& s = scope(L);
    need_phase(L, s.phase_ == Phase::pre || s.phase_ == Phase::route || s.phase_ == Phase::error,
               "ctx.respond is available in pre, route and error filters only");
    const lua_Integer status = luaL_checkinteger(L, 1);
    if (status < 200 || status > 599) luaL_error(L, "ctx.respond: status must be from 200 to 599");
    std::string body;
    if (!lua_isnoneornil(L, 2)) {
      charge(L, s, lua_objlen(L, 2));
      body = std::string(arg_text(L, 2));
    }
    LocalResponse answer;
    answer.status = static_cast<int>(status);
    answer.body = std::move(body);
    if (!lua_isnoneornil(L, 3)) {
      luaL_checktype(L, 3, LUA_TTABLE);
      lua_pushnil(L);
      while (lua_next(L, 3) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
          luaL_error(L, "ctx.respond: headers must map names to strings");
        charge(L, s, lua_objlen(L, -2) + lua_objlen(L, -1));
        answer.headers.emplace_back(std::string(header_name(L, -2)), std::string(header_value(L, -1)));
        lua_pop(L, 1);
      }
    }
    s.ctx_.local_response = std::move(answer);
    s.responded_ = true;
    return 0;
  }
  static void push_vars(lua_State* L, Context& ctx) {
    Vm& vm = Vm::of(L);
    auto& vars = ctx.attribute<RequestVars>();
    if (!vars.vm) {
      lua_newtable(L);
      vars.ref = vm.keep();
      vars.vm = &vm;
      vars.owner = vm.owner.lock();
    }
    vm.push(vars.ref);
  }
  static int ctx_index(lua_State* L) {
    Context& ctx = context(L);
    const std::string_view key = arg_text(L, 2);
    if (key == "request" || key == "response") {
      lua_pushvalue(L, lua_upvalueindex(key == "request" ? 1 : 2));
    } else if (key == "respond") lua_pushcfunction(L, respond);
    else if (key == "vars") push_vars(L, ctx);
    else if (key == "route_id") push_text_or_nil(L, ctx.route ? std::string_view(ctx.route->id) : "");
    else if (key == "service") push_text_or_nil(L, ctx.service ? std::string_view(ctx.service->name) : "");
    else if (key == "variant") push_text_or_nil(L, ctx.variant ? std::string_view(ctx.variant->name) : "");
    else if (key == "client_ip") push_text(L, ctx.client_address);
    else if (key == "request_id") push_text_or_nil(L, ctx.request_id);
    else if (key == "consumer") push_text_or_nil(L, ctx.consumer);
    else if (key == "error") push_text_or_nil(L, ctx.error ? std::string_view(ctx.error.message) : "");
    else lua_pushnil(L);
    return 1;
  }
  static int read_only(lua_State* L) { return luaL_error(L, "ctx is read-only: use its functions and ctx.vars"); }

  // Pushes an empty userdata whose reads go to `index` (with `upvalues` taken from the stack): a
  // userdata, so not even rawset can change what every script and request shares.
  static void push_proxy(lua_State* L, lua_CFunction index, int upvalues) {
    lua_newuserdata(L, 0);
    lua_insert(L, -1 - upvalues);
    lua_newtable(L);
    lua_insert(L, -1 - upvalues);
    lua_pushcclosure(L, index, upvalues);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, read_only);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
  }

  static int log_at(lua_State* L, log::Level level) {
    Vm& vm = Vm::of(L);
    const char* path = lua_tostring(L, lua_upvalueindex(1));
    if (vm.log_lines_left == 0) return 0;
    if (--vm.log_lines_left == 0) {
      log::warn("lua filter log lines past 20 in one call are dropped", {{"filter", path ? path : "lua"}});
      return 0;
    }
    std::string message;
    for (int i = 1, n = lua_gettop(L); i <= n; ++i) {
      if (i > 1) message += ' ';
      if (lua_isstring(L, i)) message += lua_tostring(L, i);
      else if (lua_isboolean(L, i)) message += lua_toboolean(L, i) ? "true" : "false";
      else message += luaL_typename(L, i);
    }
    if (log::enabled(level)) log::write(level, message, {{"filter", path ? path : "lua"}});
    return 0;
  }
  static int log_info(lua_State* L) { return log_at(L, log::Level::info); }
  static int log_warn(lua_State* L) { return log_at(L, log::Level::warn); }
  static int log_error(lua_State* L) { return log_at(L, log::Level::error); }
};

CallScope::CallScope(Vm& vm, Context& ctx, Phase phase, std::size_t copy_limit)
    : vm_(vm), ctx_(ctx), phase_(phase), copy_limit_(copy_limit), previous_(vm.call_state) {
  vm_.call_state = this;
}

CallScope::~CallScope() { vm_.call_state = previous_; }

void install_api(Vm& vm) {
  lua_State* L = vm.state();
  Api::push_proxy(L, Api::request_index, 0);
  Api::push_proxy(L, Api::response_index, 0);
  Api::push_proxy(L, Api::ctx_index, 2);
  vm.api_ctx = vm.keep();
}

void add_log(Vm& vm, const std::string& path) {
  lua_State* L = vm.state();
  lua_newtable(L);
  const std::pair<const char*, lua_CFunction> functions[] = {
      {"info", Api::log_info}, {"warn", Api::log_warn}, {"error", Api::log_error}};
  for (const auto& [name, function] : functions) {
    lua_pushlstring(L, path.data(), path.size());
    lua_pushcclosure(L, function, 1);
    lua_setfield(L, -2, name);
  }
  lua_setfield(L, -2, "log");
  lua_pushlstring(L, path.data(), path.size());
  lua_pushcclosure(L, Api::log_info, 1);
  lua_setfield(L, -2, "print");
}

void push_ctx(Vm& vm) { vm.push(vm.api_ctx); }

}  // namespace portcullis::lua
