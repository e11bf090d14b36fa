// The lua filter: a script in Zuul's filter shape, run in its worker's sandboxed VM under an
// instruction budget and a memory cap. Its type and order come from the script; a changed script
// is checked on the control thread and, once it passes, runs from the next request on.
#pragma once
#include <array>
#include <memory>

#include "filters/lua/api.h"
#include "filters/lua/runtime.h"
#include "observability/metrics.h"
#include "pipeline/registry.h"

namespace portcullis::filters {

class LuaFilter final : public Filter {
 public:
  using Counters = std::array<observability::CounterId, 3>;  // by lua::FailKind
  LuaFilter(std::shared_ptr<lua::Runtime> runtime, std::shared_ptr<const lua::Script> script, lua::Budget budget,
            observability::Registry& metrics, Counters counters);

  bool should_filter(const Context& ctx) const override;
  Outcome run(Context& ctx) const override;
  std::vector<std::pair<std::string, std::string>> details() const override;
  const lua::Script& script() const { return *script_; }

 private:
  // Runs one of the script's functions with ctx; false when the call failed (reported).
  bool call(Context& ctx, lua::Phase phase, bool criterion, bool& result) const;
  Outcome fail(Context& ctx, const lua::Failure& failure) const;

  std::shared_ptr<lua::Runtime> runtime_;
  std::shared_ptr<const lua::Script> script_;
  lua::Budget budget_;
  observability::Registry* metrics_;
  Counters counters_;
};

// `{ name: lua, args: { file, max_instructions, max_memory } }`.
std::unique_ptr<Filter> make_lua(FilterBuild& build);

}  // namespace portcullis::filters
