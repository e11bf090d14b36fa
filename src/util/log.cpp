#include "util/log.h"

#include <unistd.h>

#include <atomic>

#include "observability/access_log.h"

namespace portcullis::log {
namespace {
std::atomic<int> current_level{static_cast<int>(Level::info)};
const char* names[] = {"debug", "info", "warn", "error"};
}  // namespace

void set_level(Level level) { current_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool enabled(Level level) { return static_cast<int>(level) >= current_level.load(std::memory_order_relaxed); }

bool parse_level(std::string_view text, Level& out) {
  for (int i = 0; i < 4; ++i)
    if (text == names[i]) {
      out = static_cast<Level>(i);
      return true;
    }
  if (text == "warning") {
    out = Level::warn;
    return true;
  }
  return false;
}

void write(Level level, std::string_view message, KeyValues fields) {
  std::string line = "{\"time\":\"";
  observability::append_timestamp(line);
  line += "\",\"level\":\"";
  line += names[static_cast<int>(level)];
  line += "\",\"msg\":\"";
  observability::append_json_escaped(line, message);
  line += '"';
  for (const auto& [k, v] : fields) {
    line += ",\"";
    observability::append_json_escaped(line, k);
    line += "\":\"";
    observability::append_json_escaped(line, v);
    line += '"';
  }
  line += "}\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace portcullis::log
