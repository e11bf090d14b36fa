// The daemon's own log: JSON lines on stderr, one write per line (atomic for lines under
// PIPE_BUF), level set by config or PORTCULLIS_LOG_LEVEL.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace portcullis::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level level);
bool parse_level(std::string_view text, Level& out);
bool enabled(Level level);

using KeyValues = std::initializer_list<std::pair<std::string_view, std::string_view>>;
void write(Level level, std::string_view message, KeyValues fields = {});

inline void debug(std::string_view m, KeyValues f = {}) { if (enabled(Level::debug)) write(Level::debug, m, f); }
inline void info(std::string_view m, KeyValues f = {}) { if (enabled(Level::info)) write(Level::info, m, f); }
inline void warn(std::string_view m, KeyValues f = {}) { if (enabled(Level::warn)) write(Level::warn, m, f); }
inline void error(std::string_view m, KeyValues f = {}) { write(Level::error, m, f); }

}  // namespace portcullis::log
