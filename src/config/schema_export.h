// What the configuration's description tells the outside: `portcullis schema` and the docs check.
#pragma once
#include <string>

namespace portcullis {

// A JSON Schema (draft 2020-12) of the whole configuration file: unknown keys refused, durations
// and sizes as patterns, enums listed, defaults and descriptions included.
std::string configuration_schema();

// Every section's keys as JSON, [{section, key, type, default, doc}], for the docs' key tables.
std::string configuration_keys();

}  // namespace portcullis
