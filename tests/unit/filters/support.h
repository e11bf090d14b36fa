// Shared by the filter unit tests: build a registered filter from YAML args, and a request to run
// it on.
#pragma once
#include <memory>
#include <string>

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include "config/runtime_state.h"
#include "config/errors.h"
#include "observability/metrics.h"
#include "pipeline/registry.h"

namespace filter_support {

using namespace portcullis;

struct Built {
  std::unique_ptr<Filter> filter;
  ConfigErrors errors{"test.yaml"};
};

// One gateway's state for every filter the tests build, so two builds are like a reload.
inline RuntimeState& test_state() {
  static observability::Registry metrics(1);
  static RuntimeState state(metrics);
  return state;
}

inline std::unique_ptr<Built> build(const std::string& name, const std::string& args_yaml) {
  RuntimeState& state = test_state();
  auto out = std::make_unique<Built>();
  YAML::Node args = YAML::Load(args_yaml);
  FilterArgs fa(args, "filters[0]", out->errors);
  FilterBuild b{fa, "filters[0]", "", state};
  const FilterFactory* factory = FilterRegistry::instance().find(name);
  REQUIRE(factory);
  out->filter = (*factory)(b);
  if (!fa.finish()) out->filter.reset();
  return out;
}

struct Request {
  http::RequestHead head;
  Context ctx;
  Request() {
    head.method_text = "GET";
    head.target = "/api/v1/items?x=1";
    head.path = "/api/v1/items";
    head.query = "x=1";
    head.fields.add("Host", "example.com");
    head.fields.add("Cookie", "a=b");
    ctx.request = &head;
  }
};


}  // namespace filter_support
