// Filter registry and the args reader used by every filter factory.
#include "pipeline/registry.h"

#include <algorithm>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "config/runtime_state.h"
#include "config/suggest.h"
#include "util/units_text.h"

namespace portcullis {

std::string_view to_string(FilterType type) {
  switch (type) {
    case FilterType::pre: return "pre";
    case FilterType::route: return "route";
    case FilterType::post: return "post";
    case FilterType::error: return "error";
  }
  return "?";
}

boost::asio::awaitable<Outcome> Filter::run_async(Context& ctx) const { co_return run(ctx); }

FilterArgs::FilterArgs(const YAML::Node& args, const std::string& yaml_path, ConfigErrors& errors)
    : args_(args), path_(yaml_path + ".args"), errors_(errors), errors_before_(errors.list().size()) {
  if (args && !args.IsNull() && !args.IsMap()) errors_.add(args, path_, "args must be a map");
}

FilterArgs::FilterArgs(const YAML::Node& args, std::string path, ConfigErrors& errors, nested_tag)
    : args_(args), path_(std::move(path)), errors_(errors), errors_before_(errors.list().size()) {}

FilterArgs FilterArgs::map(const std::string& key) {
  YAML::Node value = node(key);
  if (value && !value.IsMap()) error(key, "must be a map");
  return FilterArgs(value && value.IsMap() ? value : YAML::Node(YAML::NodeType::Undefined), path_ + "." + key, errors_,
                    nested_tag{});
}

YAML::Node FilterArgs::node(const std::string& key) {
  known_.push_back(key);
  if (!args() || !args().IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  YAML::Node value = args()[key];
  if (!value || value.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
  return value;
}

bool FilterArgs::present(const std::string& key) const {
  return args() && args().IsMap() && args()[key];  // the const operator[] never inserts
}

void FilterArgs::error(const std::string& key, const std::string& message) {
  YAML::Node at = (args() && args().IsMap() && args()[key]) ? args()[key] : args();
  errors_.add(at, path_ + "." + key, message);
}

std::optional<std::string> FilterArgs::string(const std::string& key, bool required) {
  const YAML::Node n = node(key);
  if (!n) {
    if (required) errors_.add(args(), path_ + "." + key, "is required");
    return std::nullopt;
  }
  if (!n.IsScalar()) {
    error(key, "must be a string");
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<long long> FilterArgs::integer(const std::string& key, long long min, long long max) {
  const YAML::Node n = node(key);
  if (!n) return std::nullopt;
  long long v = 0;
  if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v) || v < min || v > max) {
    error(key, "must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> FilterArgs::boolean(const std::string& key) {
  const YAML::Node n = node(key);
  if (!n) return std::nullopt;
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
    error(key, "must be true or false");
    return std::nullopt;
  }
  return v;
}

std::optional<std::vector<std::string>> FilterArgs::strings(const std::string& key) {
  const YAML::Node n = node(key);
  if (!n) return std::nullopt;
  std::vector<std::string> out;
  if (n.IsScalar()) return std::vector<std::string>{n.Scalar()};
  if (!n.IsSequence()) {
    error(key, "must be a string or a list of strings");
    return std::nullopt;
  }
  for (const auto& item : n) {
    if (!item.IsScalar()) {
      error(key, "must be a list of strings");
      return std::nullopt;
    }
    out.push_back(item.Scalar());
  }
  return out;
}

// A value in a unit: parsed by `parse`, described by `invalid` when malformed, and by `noun` and
// `format` when out of [min, max].
template <typename T, typename Parse, typename Invalid, typename Format>
std::optional<T> FilterArgs::unit_value(const std::string& key, T min, T max, const char* noun, Parse parse,
                                        Invalid invalid, Format format) {
  const YAML::Node n = node(key);
  if (!n) return std::nullopt;
  const std::optional<T> value = n.IsScalar() ? parse(n.Scalar()) : std::nullopt;
  if (!value) {
    error(key, invalid(n.IsScalar() ? std::optional<std::string_view>(n.Scalar()) : std::nullopt));
    return std::nullopt;
  }
  if (*value < min || *value > max) {
    error(key, std::string("must be a ") + noun + " from " + format(min) + " to " + format(max));
    return std::nullopt;
  }
  return value;
}

std::optional<Duration> FilterArgs::duration(const std::string& key, Duration min, Duration max) {
  return unit_value<Duration>(key, min, max, "duration", parse_duration, invalid_duration, format_duration);
}

std::optional<std::uint64_t> FilterArgs::size(const std::string& key, std::uint64_t min, std::uint64_t max) {
  return unit_value<std::uint64_t>(key, min, max, "size", parse_size, invalid_size, format_bytes);
}

bool FilterArgs::finish() {
  if (args() && args().IsMap()) {
    for (const auto& kv : args()) {
      const std::string key = kv.first.Scalar();
      if (std::find(known_.begin(), known_.end(), key) == known_.end())
        errors_.add(kv.first, path_ + "." + key,
                    "unknown key" + did_you_mean(key, std::vector<std::string_view>(known_.begin(), known_.end())));
    }
  }
  return errors_.list().size() == errors_before_;
}

observability::Registry& FilterBuild::metrics() const { return state.metrics(); }

FilterRegistry& FilterRegistry::instance() {
  static FilterRegistry* registry = [] {
    auto* r = new FilterRegistry();
    register_builtin_filters(*r);
    return r;
  }();
  return *registry;
}

void FilterRegistry::add(const std::string& name, FilterFactory factory) {
  factories_[name] = std::move(factory);
}

const FilterFactory* FilterRegistry::find(const std::string& name) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> FilterRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : factories_) out.push_back(name);
  return out;
}

}  // namespace portcullis
