// The Eureka JSON codec on arbitrary documents: what decodes encodes and decodes again to the
// same applications, with the same reconcile hash.
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "discovery/eureka_codec.h"
#include "fuzz_check.h"

using namespace portcullis::discovery;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const auto doc = nlohmann::json::parse(std::string_view(reinterpret_cast<const char*>(bytes), size), nullptr, false);
  if (doc.is_discarded()) return 0;
  EurekaApplications apps;
  std::string error;
  if (!decode_applications(doc, apps, error)) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  EurekaApplications again;
  FUZZ_CHECK(decode_applications(encode_applications(apps), again, error));
  FUZZ_CHECK(again.applications.size() == apps.applications.size());
  std::vector<const EurekaInstance*> a, b;
  for (const auto& app : apps.applications)
    for (const auto& i : app.instances) a.push_back(&i);
  for (const auto& app : again.applications)
    for (const auto& i : app.instances) b.push_back(&i);
  FUZZ_CHECK(reconcile_hashcode(a) == reconcile_hashcode(b));
  return 0;
}
