// Filters are registered by name with a factory that validates their YAML args once, at config
// load: bad args are config errors with file:line:column, never a runtime surprise.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/errors.h"
#include "config/yaml_node.h"
#include "pipeline/filter.h"
#include "util/units.h"

namespace portcullis {

namespace observability { class Registry; }
class RuntimeState;

// Reads a filter's args map and reports unknown keys and wrong types, all at once.
class FilterArgs {
 public:
  FilterArgs(const YAML::Node& args, const std::string& yaml_path, ConfigErrors& errors);
  std::optional<std::string> string(const std::string& key, bool required = false);
  std::optional<long long> integer(const std::string& key, long long min, long long max);
  std::optional<bool> boolean(const std::string& key);
  std::optional<std::vector<std::string>> strings(const std::string& key);
  // Durations and sizes as config keys take them ("250ms", "2m", "64KiB"), with the loader's
  // messages, within [min, max].
  std::optional<Duration> duration(const std::string& key, Duration min, Duration max);
  std::optional<std::uint64_t> size(const std::string& key, std::uint64_t min, std::uint64_t max);
  YAML::Node node(const std::string& key);  // raw access (undefined when absent), marks the key as known
  // Whether the key is written at all, even as null: lets `key: null` mean "off" where absence
  // means "the default".
  bool present(const std::string& key) const;
  // A nested map of settings (e.g. a backend's), read and checked like the args themselves: its
  // errors carry the path `args.KEY.name`. An absent key gives an empty reader; check node(key).
  FilterArgs map(const std::string& key);
  void error(const std::string& key, const std::string& message);
  // Reports keys nobody asked for; returns true when no error was found for this filter.
  bool finish();

 private:
  template <typename T, typename Parse, typename Invalid, typename Format>
  std::optional<T> unit_value(const std::string& key, T min, T max, const char* noun, Parse parse, Invalid invalid,
                              Format format);
  struct nested_tag {};
  FilterArgs(const YAML::Node& args, std::string path, ConfigErrors& errors, nested_tag);
  const YAML::Node& args() const { return *args_; }
  YamlNode args_;
  std::string path_;
  ConfigErrors& errors_;
  std::vector<std::string> known_;
  std::size_t errors_before_;
};

struct FilterBuild {
  FilterArgs& args;
  std::string yaml_path;
  std::string route_id;  // empty for global filters
  RuntimeState& state;   // what outlives reloads, metrics included (config/runtime_state.h)
  // Files whose change should recompile the config (a lua script): the control thread watches
  // them while the snapshot runs. Null when nothing watches (validate, tests).
  std::vector<std::string>* watched_files = nullptr;
  observability::Registry& metrics() const;
};

using FilterFactory = std::function<std::unique_ptr<Filter>(FilterBuild&)>;

class FilterRegistry {
 public:
  static FilterRegistry& instance();  // built-in filters are registered on first use
  void add(const std::string& name, FilterFactory factory);
  const FilterFactory* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, FilterFactory> factories_;
};

// Built-in filters (filters/builtin.cpp): one line per filter.
void register_builtin_filters(FilterRegistry& registry);

}  // namespace portcullis
