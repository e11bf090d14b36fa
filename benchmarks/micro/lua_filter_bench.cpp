// One call of a Lua filter that sets a request header, against the built-in add_request_header
// doing the same, on a context reused request after request as a connection reuses it.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <fstream>

#include <yaml-cpp/yaml.h>

#include "config/errors.h"
#include "config/runtime_state.h"
#include "observability/metrics.h"
#include "pipeline/registry.h"

namespace {

using namespace portcullis;

std::unique_ptr<Filter> make(const std::string& name, const std::string& args_yaml) {
  static observability::Registry metrics(1);
  static RuntimeState state(metrics);
  ConfigErrors errors("bench.yaml");
  YAML::Node args = YAML::Load(args_yaml);
  FilterArgs fa(args, "filters[0]", errors);
  FilterBuild build{fa, "filters[0]", "", state};
  auto filter = (*FilterRegistry::instance().find(name))(build);
  if (!fa.finish() || !filter) throw std::runtime_error(errors.joined());
  return filter;
}

void run_filter(benchmark::State& state, const Filter& filter) {
  http::RequestHead head;
  head.method_text = "GET";
  head.target = head.path = "/api/items";
  Context ctx;
  for (auto _ : state) {
    ctx.reset();
    head.fields.clear();
    head.fields.add("Host", "example.com");
    ctx.request = &head;
    ctx.canonical_path = head.path;
    if (filter.should_filter(ctx)) benchmark::DoNotOptimize(filter.run(ctx));
  }
  if (head.fields.get("X-Gateway") != "portcullis") state.SkipWithError("the header was not set");
}

void bm_builtin_set_header(benchmark::State& state) {
  static auto filter = make("add_request_header", "{ name: X-Gateway, value: portcullis, replace: true }");
  run_filter(state, *filter);
}

void bm_lua_set_header(benchmark::State& state) {
  static auto filter = [] {
    char path[] = "/tmp/portcullis-lua-bench-XXXXXX";
    const int fd = mkstemp(path);
    close(fd);
    std::ofstream(path) << "return { type = 'pre', run = function(ctx) "
                           "ctx.request.set_header('X-Gateway', 'portcullis') end }";
    auto made = make("lua", std::string("{ file: ") + path + " }");
    unlink(path);
    return made;
  }();
  run_filter(state, *filter);
}

}  // namespace

BENCHMARK(bm_builtin_set_header);
BENCHMARK(bm_lua_set_header);
