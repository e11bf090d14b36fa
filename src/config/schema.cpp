// What the configuration's description gives besides the loader: the JSON Schema printed by
// `portcullis schema` and the key list that docs/configuration.md is checked against.
#include "config/schema.h"

#include <set>
#include <stdexcept>

#include "config/schema_export.h"
#include "config/suggest.h"

namespace portcullis {
namespace loader {

Keys SectionBase::key_names() const {
  Keys names;
  for (const KeyDoc& key : keys) names.push_back(key.name);
  return names;
}

std::size_t SectionBase::index_of(std::string_view key) const {
  for (std::size_t i = 0; i < keys.size(); ++i)
    if (keys[i].name == key) return i;
  throw std::logic_error("config description: no key " + std::string(key) + " in " + name);
}

Json SectionBase::schema() const {
  Json properties = Json::object();
  Json required = Json::array();
  for (const KeyDoc& key : keys) {
    Json value = key.schema();
    if (!key.doc.empty()) value["description"] = key.doc;
    if (!key.default_value.is_null()) value["default"] = key.default_value;
    properties[key.name] = std::move(value);
    if (key.required) required.push_back(key.name);
  }
  Json out = {{"type", nullable ? Json{"object", "null"} : Json("object")},
              {"properties", std::move(properties)},
              {"additionalProperties", false}};
  if (!required.empty()) out["required"] = std::move(required);
  return out;
}

std::string format_size(std::uint64_t bytes) {
  std::string out = "`" + std::to_string(bytes) + "`";
  struct Unit {
    std::uint64_t factor;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
  for (const Unit& unit : kUnits)
    if (bytes >= unit.factor && bytes % unit.factor == 0)
      return out + " (" + std::to_string(bytes / unit.factor) + " " + unit.name + ")";
  return out;
}

// The grammars of util/units.cpp: a number (a bare one is seconds or bytes) and a unit.
Json duration_schema() {
  return {{"anyOf",
           {{{"type", "number"}, {"minimum", 0}},
            {{"type", "string"}, {"pattern", "^ *([0-9]+(\\.[0-9]*)?|\\.[0-9]+) *(ns|us|ms|s|m|h)? *$"}}}}};
}

Json size_schema(std::uint64_t min) {
  return {{"anyOf",
           {{{"type", "integer"}, {"minimum", min}},
            {{"type", "string"},
             {"pattern", "^ *([0-9]+(\\.[0-9]*)?|\\.[0-9]+) *(B|KiB|MiB|GiB|KB|kB|MB|GB)? *$"}}}}};
}

std::string choice_list(const Keys& choices) {
  std::string out;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += i + 1 == choices.size() ? " or " : ", ";
    out += choices[i];
  }
  return out;
}

std::string unknown_choice(std::string_view noun, const std::string& value, const Keys& choices) {
  return "unknown " + std::string(noun) + " " + in_quotes(value) + did_you_mean(value, choices) + " (expected " +
         choice_list(choices) + ")";
}

namespace {

void collect(const SectionBase& section, std::set<const SectionBase*>& seen, std::vector<const SectionBase*>& out) {
  if (!seen.insert(&section).second) return;
  out.push_back(&section);
  for (const KeyDoc& key : section.keys)
    if (key.nested) collect(*key.nested, seen, out);
}

}  // namespace

std::vector<const SectionBase*> all_sections() {
  std::set<const SectionBase*> seen;
  std::vector<const SectionBase*> out;
  collect(root_section(), seen, out);
  return out;
}

}  // namespace loader

std::string configuration_schema() {
  using loader::Json;
  Json schema = loader::root_section().schema();
  Json out = {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
              {"$id", "https://portcullis.dev/schema/gateway.json"},
              {"title", "portcullis gateway configuration"},
              {"description", "The YAML file given to portcullis run -c FILE (docs/configuration.md)."}};
  for (auto& [name, value] : schema.items()) out[name] = value;
  return out.dump(2) + "\n";
}

std::string configuration_keys() {
  using loader::Json;
  Json out = Json::array();
  for (const loader::SectionBase* section : loader::all_sections()) {
    if (section->name.empty()) continue;  // the root: its keys are the headings
    for (const loader::KeyDoc& key : section->keys)
      out.push_back({{"section", section->name},
                     {"key", key.name},
                     {"type", key.type},
                     {"default", key.default_text},
                     {"doc", key.doc}});
  }
  return out.dump(1) + "\n";
}

}  // namespace portcullis
