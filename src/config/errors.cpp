// Config error collection: every problem keeps its file:line:column and YAML path so that all of
// them can be listed at once instead of making the operator fix one and re-run.
#include "config/errors.h"

#include <yaml-cpp/yaml.h>

namespace portcullis {

std::string ConfigError::to_string() const {
  // Parts that are unknown are left out rather than printed as "0" or "", which would look like
  // real positions or paths.
  std::string out = file;
  if (line > 0) {
    if (!out.empty()) out += ':';
    out += std::to_string(line) + ':' + std::to_string(column);
  }
  if (!out.empty()) out += ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

void ConfigErrors::add(const YAML::Node& at, const std::string& path, std::string message) {
  // A missing (zombie) node throws from Mark(), and a node built in memory has the null mark
  // (-1): both mean "no position".
  int line = 0;
  int column = 0;
  if (at.IsDefined()) {
    const YAML::Mark mark = at.Mark();
    if (!mark.is_null() && mark.line >= 0) {
      line = mark.line + 1;  // yaml-cpp counts from 0, editors from 1
      column = mark.column + 1;
    }
  }
  add_at(line, column, path, std::move(message));
}

void ConfigErrors::add_unplaced(const std::string& path, std::string message) {
  add_at(0, 0, path, std::move(message));
}

void ConfigErrors::add_at(int line, int column, const std::string& path, std::string message) {
  errors_.push_back(ConfigError{file_, line, column, path, std::move(message)});
}

std::string ConfigErrors::joined() const {
  std::string out;
  for (const ConfigError& error : errors_) {
    if (!out.empty()) out += '\n';
    out += error.to_string();
  }
  return out;
}

}  // namespace portcullis
