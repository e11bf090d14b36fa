// The config loader on arbitrary YAML text: it reports problems as errors (each with a message)
// and never crashes, whatever the document holds.
#include <cstdint>
#include <string>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/errors.h"
#include "fuzz_check.h"

using namespace portcullis;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(reinterpret_cast<const char*>(bytes), size));
  } catch (const YAML::Exception&) {
    return 0;  // the loader reports these with their mark; the parser is yaml-cpp's
  }
  ConfigErrors errors("fuzz.yaml");
  parse_config(root, errors);
  for (const auto& e : errors.list()) FUZZ_CHECK(!e.message.empty());
  return 0;
}
