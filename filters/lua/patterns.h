// Lua's pattern functions (string.find, match, gmatch, gsub) run in C, where the instruction
// budget's count hook never fires, and a pattern with several repetitions can backtrack for a
// time polynomial in its subject (three `.-` on an 8 KB header: about 10^15 steps). The lua
// filter's VMs wrap them: a call whose worst case passes kPatternStepsPerInstruction times the
// call's instruction budget is refused with an error before it runs. Plain finds, and patterns
// without repetitions, always run.
#pragma once
#include <cstddef>
#include <string_view>

struct lua_State;

namespace portcullis::lua {

inline constexpr double kPatternStepsPerInstruction = 100;

// The worst-case steps of matching `pattern` on `subject_length` bytes: the length to the power
// of the pattern's repetitions (`*`, `+`, `-` after a single-character class), times the length
// again when the pattern is not anchored with `^` (every start position is tried).
double pattern_worst_case(std::string_view pattern, std::size_t subject_length);

// Replaces find, match, gmatch and gsub in the string table at `index` with guarded versions.
void guard_patterns(lua_State* L, int index);

}  // namespace portcullis::lua
