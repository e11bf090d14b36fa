// Guarded pattern functions (see patterns.h).
#include "filters/lua/patterns.h"

#include <cmath>

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

#include "filters/lua/vm.h"

namespace portcullis::lua {
namespace {

// Skips a set "[...]" starting at `i` (on the '['); returns the index of its ']' or the end.
std::size_t skip_set(std::string_view p, std::size_t i) {
  ++i;
  if (i < p.size() && p[i] == '^') ++i;
  if (i < p.size() && p[i] == ']') ++i;  // a leading ']' is a member
  for (; i < p.size() && p[i] != ']'; ++i)
    if (p[i] == '%') ++i;
  return i;
}

bool is_quantifier(char c) { return c == '*' || c == '+' || c == '-'; }

// Repetitions: a quantifier that follows a single-character class (a character, `.`, `%x` or a
// set). After `(`, `)` or at the start, `-` and friends are literal characters.
int repetitions(std::string_view p) {
  int count = 0;
  std::size_t i = !p.empty() && p[0] == '^' ? 1 : 0;
  while (i < p.size()) {
    const char c = p[i];
    std::size_t end = i;  // last index of the single-character class starting at i
    if (c == '(' || c == ')') {
      ++i;
      continue;
    }
    if (c == '%') {
      if (i + 1 < p.size() && p[i + 1] == 'b') {
        i += 4;  // %bxy
        continue;
      }
      if (i + 1 < p.size() && p[i + 1] == 'f') {
        i = skip_set(p, i + 2) + 1;  // %f[set]
        continue;
      }
      end = i + 1;
    } else if (c == '[') {
      end = skip_set(p, i);
    }
    if (end + 1 < p.size() && is_quantifier(p[end + 1])) {
      ++count;
      i = end + 2;
    } else {
      i = end + 1;
    }
  }
  return count;
}

int guarded(lua_State* L) {
  const int kind = static_cast<int>(lua_tointeger(L, lua_upvalueindex(2)));  // 0 find, 1 match, 2 gmatch, 3 gsub
  std::size_t subject = 0, pattern_size = 0;
  const char* s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &subject) : nullptr;
  const char* p = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &pattern_size) : nullptr;
  const bool plain = kind == 0 && lua_toboolean(L, 4);
  if (s && p && !plain) {
    const double worst = pattern_worst_case({p, pattern_size}, subject);
    const double allowed = kPatternStepsPerInstruction * static_cast<double>(Vm::of(L).instructions_budget);
    if (worst > allowed)
      return luaL_error(L, "pattern too costly for a subject of %d bytes (its repetitions could take %.3g steps; "
                           "anchor it with ^, use fewer repetitions, or shorten the subject)",
                        static_cast<int>(subject), worst);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

}  // namespace

double pattern_worst_case(std::string_view pattern, std::size_t subject_length) {
  const double n = static_cast<double>(subject_length) + 1;
  const bool anchored = !pattern.empty() && pattern[0] == '^';
  return std::pow(n, repetitions(pattern) + (anchored ? 0 : 1));
}

void guard_patterns(lua_State* L, int index) {
  const char* names[] = {"find", "match", "gmatch", "gsub"};
  index = index < 0 ? lua_gettop(L) + index + 1 : index;
  for (int kind = 0; kind < 4; ++kind) {
    lua_getfield(L, index, names[kind]);
    lua_pushinteger(L, kind);
    lua_pushcclosure(L, guarded, 2);
    lua_setfield(L, index, names[kind]);
  }
}

}  // namespace portcullis::lua
