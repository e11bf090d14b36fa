// Config errors carry the place they were found (file:line:column) and the YAML path, so that
// `portcullis validate` and a rejected reload can list every problem at once.
#pragma once
#include <string>
#include <vector>

namespace YAML { class Node; }

namespace portcullis {

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
  std::string path;     // e.g. "routes[2].filters[0].args.name"
  std::string message;

  std::string to_string() const;  // "file:line:column: path: message"
};

class ConfigErrors {
 public:
  explicit ConfigErrors(std::string file) : file_(std::move(file)) {}
  void add(const YAML::Node& at, const std::string& path, std::string message);
  void add_unplaced(const std::string& path, std::string message);
  // For problems found before there is a node, e.g. a YAML syntax error; line/column 1-based.
  void add_at(int line, int column, const std::string& path, std::string message);
  bool empty() const { return errors_.empty(); }
  const std::vector<ConfigError>& list() const { return errors_; }
  std::string joined() const;  // one error per line
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

}  // namespace portcullis
