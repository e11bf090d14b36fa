// The configuration described once: each section is a list of keys, and each key carries its name,
// its reader (bounds and checks included), its default and one line of documentation. The loader
// reads a section through its description (Parser::read_section), and the same description gives
// `portcullis schema` (a JSON Schema of the whole file) and the key tables of
// docs/configuration.md. Internal to src/config, like parser.h.
//
// A new key is one line in its section's list, e.g.
//   integer("workers", &ServerConfig::workers, 0u, 1024u, "Worker threads; 0 = one per CPU."),
// and its default is the struct member's own initialiser.
#pragma once
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/parser.h"

namespace portcullis::loader {

using Json = nlohmann::ordered_json;
class SectionBase;

// What the docs and the schema say about one key.
struct KeyDoc {
  std::string name;
  std::string type;          // the docs' Type column, e.g. "integer 0–1024", "duration > 0"
  std::string default_text;  // the docs' Default column; "" = written by hand in the docs
  std::string doc;           // one line: the schema's description
  std::function<Json()> schema;  // JSON Schema of the value, without description and default
  Json default_value;            // the schema's default; null = none
  bool required = false;
  const SectionBase* nested = nullptr;  // a section of its own (its own table in the docs)
};

class SectionBase {
 public:
  std::string name;       // as the docs' headings name it: "server.limits", "services.NAME.retries"
  bool nullable = true;   // "limits:" with nothing after it keeps every default
  std::vector<KeyDoc> keys;
  Json schema() const;    // {"type": "object", "properties": ..., "additionalProperties": false}
  Keys key_names() const;
  std::size_t index_of(std::string_view key) const;  // the key must exist
  // Documents a custom key's value as a section of its own.
  void nest(std::string_view key, const SectionBase& section) { keys[index_of(key)].nested = &section; }
};

// Text for the docs and the schema (schema.cpp).
std::string format_size(std::uint64_t bytes);  // "`65536` (64 KiB)"
Json duration_schema();
Json size_schema(std::uint64_t min);

template <typename S>
using Reader = std::function<void(Parser&, const YAML::Node&, const std::string&, S&)>;

template <typename S>
struct Key {
  KeyDoc doc;
  Reader<S> read;
  Key&& required() && {
    doc.required = true;
    doc.default_text = "— (required)";
    doc.default_value = nullptr;
    return std::move(*this);
  }
  Key&& shown_default(std::string text) && {  // the docs' Default column, when derived is wrong
    doc.default_text = std::move(text);
    return std::move(*this);
  }
  Key&& type(std::string text) && {
    doc.type = std::move(text);
    return std::move(*this);
  }
  // Runs with the section's map when the key is not written (a requirement that depends on
  // other keys); `at` is the key's path.
  Key&& when_absent(Reader<S> reader) && {
    absent = std::move(reader);
    return std::move(*this);
  }
  Reader<S> absent;
};

template <typename S>
class Section : public SectionBase {
 public:
  Section(std::string section_name, std::vector<Key<S>> entries) {
    name = std::move(section_name);
    for (Key<S>& entry : entries) {
      keys.push_back(std::move(entry.doc));
      readers.push_back(std::move(entry.read));
      absent.push_back(std::move(entry.absent));
    }
  }
  std::vector<Reader<S>> readers;  // one per key, in reading order
  std::vector<Reader<S>> absent;   // one per key: what an absent key means, if anything
  Reader<S> before;  // runs first, even for an empty section
  Reader<S> after;   // checks between keys, once every key is read
};

// The struct's own initialisers are the defaults the docs and the schema show.
template <typename S>
const S& defaults() {
  static const S value{};
  return value;
}

template <typename S>
void Parser::read_section(const Section<S>& section, const YAML::Node& node, const std::string& path, S& out) {
  if (section.before) section.before(*this, node, path, out);
  if (node.IsNull() && section.nullable) return;
  if (!expect_keys(node, path, section.key_names())) return;
  for (std::size_t i = 0; i < section.keys.size(); ++i) {
    const KeyDoc& key = section.keys[i];
    const YAML::Node value = node[key.name];
    if (value.IsDefined()) {
      section.readers[i](*this, value, join(path, key.name), out);
    } else if (key.required) {
      error(node, join(path, key.name), "missing required key");  // placed at the map that lacks it
    } else if (section.absent[i]) {
      section.absent[i](*this, node, join(path, key.name), out);
    }
  }
  if (section.after) section.after(*this, node, path, out);
}

// ---- key builders: one per kind of value -------------------------------------------------------

template <typename S, typename T>
Key<S> integer(std::string name, T S::*member, T min, T max, std::string doc) {
  static_assert(std::is_integral_v<T>);
  Key<S> key;
  const bool unbounded = max == std::numeric_limits<T>::max();
  key.doc.name = std::move(name);
  key.doc.type = unbounded ? (min == 0 ? "integer" : "integer ≥ " + std::to_string(min))
                           : "integer " + std::to_string(min) + "–" + std::to_string(max);
  key.doc.default_text = "`" + std::to_string(defaults<S>().*member) + "`";
  key.doc.default_value = defaults<S>().*member;
  key.doc.doc = std::move(doc);
  key.doc.schema = [min, max, unbounded] {
    Json s = {{"type", "integer"}, {"minimum", min}};
    if (!unbounded) s["maximum"] = max;
    return s;
  };
  key.read = [member, min, max](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
    p.read_integer(v, at, out.*member, min, max);
  };
  return key;
}

template <typename S>
Key<S> size(std::string name, std::uint64_t S::*member, std::uint64_t min, std::string doc) {
  Key<S> key;
  key.doc.name = std::move(name);
  key.doc.type = min == 0 ? "size" : "size ≥ " + std::to_string(min);
  key.doc.default_text = format_size(defaults<S>().*member);
  key.doc.default_value = defaults<S>().*member;
  key.doc.doc = std::move(doc);
  key.doc.schema = [min] { return size_schema(min); };
  key.read = [member, min](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
    p.read_size(v, at, out.*member, min);
  };
  return key;
}

// Bounds of a duration: `min` 0 allows zero; a value outside [min, max] gets `message` (the plain
// "must be greater than 0" when min is the smallest step).
struct DurationBounds {
  Duration min{1};
  Duration max = Duration::max();
  std::string message;
};
inline const DurationBounds kPositive{};
inline const DurationBounds kZeroAllowed{Duration{0}, Duration::max(), {}};

template <typename S>
Key<S> duration(std::string name, Duration S::*member, DurationBounds bounds, std::string doc) {
  Key<S> key;
  key.doc.name = std::move(name);
  if (bounds.min.count() == 0) key.doc.type = "duration";
  else if (bounds.max != Duration::max())
    key.doc.type = "duration " + format_duration(bounds.min) + "–" + format_duration(bounds.max);
  else if (bounds.min.count() == 1) key.doc.type = "duration > 0";
  else key.doc.type = "duration ≥ " + format_duration(bounds.min);
  key.doc.default_text = "`" + format_duration(defaults<S>().*member) + "`";
  key.doc.default_value = format_duration(defaults<S>().*member);
  key.doc.doc = std::move(doc);
  key.doc.schema = [] { return duration_schema(); };
  key.read = [member, bounds](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
    Duration& d = out.*member;
    if (!p.read_duration(v, at, d, bounds.min.count() == 0)) return;
    if ((d < bounds.min || d > bounds.max) && !bounds.message.empty()) p.error(v, at, bounds.message);
  };
  return key;
}

template <typename S>
Key<S> number(std::string name, double S::*member, double min, double max, std::string doc) {
  Key<S> key;
  key.doc.name = std::move(name);
  key.doc.type = "number " + format_number(min) + "–" + format_number(max);
  key.doc.default_text = "`" + format_number(defaults<S>().*member) + "`";
  key.doc.default_value = defaults<S>().*member;
  key.doc.doc = std::move(doc);
  key.doc.schema = [min, max] { return Json{{"type", "number"}, {"minimum", min}, {"maximum", max}}; };
  key.read = [member, min, max](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
    p.read_number(v, at, out.*member, min, max);
  };
  return key;
}

template <typename S>
Key<S> boolean(std::string name, bool S::*member, std::string doc) {
  Key<S> key;
  key.doc.name = std::move(name);
  key.doc.type = "boolean";
  key.doc.default_text = defaults<S>().*member ? "`true`" : "`false`";
  key.doc.default_value = defaults<S>().*member;
  key.doc.doc = std::move(doc);
  key.doc.schema = [] { return Json{{"type", "boolean"}}; };
  key.read = [member](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
    p.read_bool(v, at, out.*member);
  };
  return key;
}

// A check on a string value: "" when it is good, else the message.
using TextCheck = std::function<std::string(const std::string&)>;

template <typename S>
Key<S> text(std::string name, std::string S::*member, std::string doc, TextCheck check = {}) {
  Key<S> key;
  key.doc.name = std::move(name);
  key.doc.type = "string";
  const std::string& initial = defaults<S>().*member;
  key.doc.default_text = initial.empty() ? "" : "`" + initial + "`";
  key.doc.default_value = initial;
  key.doc.doc = std::move(doc);
  key.doc.schema = [] { return Json{{"type", {"string", "number", "boolean"}}}; };
  key.read = [member, check](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
    if (!p.read_string(v, at, out.*member) || !check) return;
    if (std::string problem = check(out.*member); !problem.empty()) p.error(v, at, std::move(problem));
  };
  return key;
}

// A required string that must not be empty ("missing required key", "must not be empty").
template <typename S>
Key<S> required_text(std::string name, std::string S::*member, std::string doc, TextCheck check = {}) {
  Key<S> key = text(std::move(name), member, std::move(doc), std::move(check));
  key.doc.required = true;
  key.doc.default_text = "— (required)";
  key.doc.default_value = nullptr;
  Reader<S> read = std::move(key.read);
  key.read = [read, member](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
    if (v.IsScalar() && v.Scalar().empty()) return p.error(v, at, "must not be empty");
    read(p, v, at, out);
  };
  return key;
}

// One of a few words: `unknown NOUN "x"; did you mean y? (expected a, b or c)`.
std::string unknown_choice(std::string_view noun, const std::string& value, const Keys& choices);
std::string choice_list(const Keys& choices);  // "a, b or c"

template <typename S>
Key<S> choice(std::string name, std::string S::*member, std::string noun, Keys choices, std::string doc) {
  Key<S> key = text(std::move(name), member, std::move(doc), [noun, choices](const std::string& value) {
    if (std::find(choices.begin(), choices.end(), value) != choices.end()) return std::string();
    return unknown_choice(noun, value, choices);
  });
  std::string type;
  for (std::string_view c : choices) type += (type.empty() ? "" : " \\| ") + std::string("`") + std::string(c) + "`";
  key.doc.type = type;
  key.doc.schema = [choices] {
    Json values = Json::array();
    for (std::string_view c : choices) values.push_back(std::string(c));
    return Json{{"enum", values}};
  };
  return key;
}

// A list of strings, each checked.
template <typename S>
Key<S> strings(std::string name, std::vector<std::string> S::*member, std::string doc, TextCheck check = {}) {
  Key<S> key;
  key.doc.name = std::move(name);
  key.doc.type = "list of strings";
  std::string shown;
  for (const std::string& s : defaults<S>().*member) shown += (shown.empty() ? "" : ", ") + s;
  key.doc.default_text = "`[" + shown + "]`";
  key.doc.default_value = defaults<S>().*member;
  key.doc.doc = std::move(doc);
  key.doc.schema = [] { return Json{{"type", "array"}, {"items", {{"type", {"string", "number"}}}}}; };
  key.read = [member, check](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
    p.read_string_list(v, at, out.*member);
    if (!check || !v.IsSequence()) return;
    for (std::size_t i = 0; i < (out.*member).size(); ++i)
      if (std::string problem = check((out.*member)[i]); !problem.empty()) p.error(v[i], indexed(at, i), problem);
  };
  return key;
}

// A section of its own inside this one: documented in a table of its own, its schema inlined.
template <typename S>
Key<S> section_key(std::string name, const SectionBase& section, std::string default_text, std::string doc,
                   Reader<S> read) {
  Key<S> key;
  key.doc.name = std::move(name);
  key.doc.type = "map";
  key.doc.default_text = std::move(default_text);
  key.doc.doc = std::move(doc);
  key.doc.nested = &section;
  key.doc.schema = [&section] { return section.schema(); };
  key.read = std::move(read);
  return key;
}

template <typename S, typename T>
Key<S> nested(std::string name, T S::*member, const Section<T>& section, std::string doc) {
  return section_key<S>(std::move(name), section, "see below", std::move(doc),
                        [member, &section](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                          p.read_section(section, v, at, out.*member);
                        });
}

// Written into an optional member, which the key's presence sets.
template <typename S, typename T>
Key<S> optional_nested(std::string name, std::optional<T> S::*member, const Section<T>& section, std::string doc) {
  return section_key<S>(std::move(name), section, "none", std::move(doc),
                        [member, &section](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                          p.read_section(section, v, at, (out.*member).emplace());
                        });
}

// Keys grouped under a name of their own but kept in `S` itself, such as server.limits.
template <typename S>
Key<S> group(std::string name, const Section<S>& section, std::string doc) {
  return section_key<S>(std::move(name), section, "see below", std::move(doc),
                        [&section](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                          p.read_section(section, v, at, out);
                        });
}

// Anything else: the reader, the docs' type and the schema are given.
template <typename S>
Key<S> custom(std::string name, std::string type, std::string default_text, std::string doc,
              std::function<Json()> schema, Reader<S> read) {
  Key<S> key;
  key.doc.name = std::move(name);
  key.doc.type = std::move(type);
  key.doc.default_text = std::move(default_text);
  key.doc.doc = std::move(doc);
  key.doc.schema = std::move(schema);
  key.read = std::move(read);
  return key;
}

// ---- the sections (each in the loader file of its subject) --------------------------------------

const Section<Config>& root_section();                       // loader.cpp
const Section<LuaConfig>& lua_section();
const Section<ServerConfig>& server_section();               // loader_server.cpp
const Section<ListenAddress>& listener_section();
const Section<AdminConfig>& admin_section();
const Section<ServiceConfig>& service_section();             // loader_services.cpp
const Section<DiscoverySettings>& discovery_settings_section();
const Section<SheddingConfig>& shedding_section();
const Section<RouteConfig>& route_section();                 // loader_routes.cpp
const Section<FilterConfig>& filter_section();
const Section<StaticResponseConfig>& static_section();

// min_version of a TLS section, client or server (loader_server.cpp).
template <typename S>
Key<S> tls_version(std::string doc);

// Every section reachable from the root once, depth first (schema.cpp).
std::vector<const SectionBase*> all_sections();

}  // namespace portcullis::loader
