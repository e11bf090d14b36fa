// The lua filter (see lua_filter.h).
#include "filters/lua/lua_filter.h"

#include <ctime>

extern "C" {
#include <lua.h>
}

#include "filters/lua/api.h"

namespace portcullis::filters {
namespace {

// A should_filter that failed: the request is failed by run(), which comes next.
struct PendingFailure {
  const Filter* filter = nullptr;
  lua::Failure failure;
};

lua::Phase phase_of(FilterType type) {
  switch (type) {
    case FilterType::pre: return lua::Phase::pre;
    case FilterType::route: return lua::Phase::route;
    case FilterType::post: return lua::Phase::post;
    case FilterType::error: return lua::Phase::error;
  }
  return lua::Phase::pre;
}

std::string utc_text(std::chrono::system_clock::time_point at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace

LuaFilter::LuaFilter(std::shared_ptr<lua::Runtime> runtime, std::shared_ptr<const lua::Script> script,
                     lua::Budget budget, observability::Registry& metrics, Counters counters)
    : Filter("lua", script->type, script->order), runtime_(std::move(runtime)), script_(std::move(script)),
      budget_(budget), metrics_(&metrics), counters_(counters) {}

bool LuaFilter::call(Context& ctx, lua::Phase phase, bool criterion, bool& result) const {
  lua::Failure failure;
  const lua::Instance* functions = runtime_->instance(ctx.worker, script_, budget_, failure);
  if (functions) {
    lua::Vm& vm = runtime_->vm(ctx.worker);
    lua_State* L = vm.state();
    lua::CallScope scope(vm, ctx, phase, budget_.max_memory);
    vm.push(criterion ? functions->should_filter : functions->run);
    lua::push_ctx(vm);
    if (vm.call(1, 1, budget_, failure)) {
      result = criterion ? lua_toboolean(L, -1) != 0 : scope.responded();
      lua_pop(L, 1);
      return true;
    }
  }
  metrics_->shard(ctx.worker).inc(counters_[static_cast<std::size_t>(failure.kind)]);
  runtime_->report_failure(script_->path, failure.kind, failure.message);
  auto& pending = ctx.attribute<PendingFailure>();
  pending.filter = this;
  pending.failure = std::move(failure);
  return false;
}

bool LuaFilter::should_filter(const Context& ctx) const {
  if (!script_->has_criterion) return true;
  bool result = true;
  // The criterion phase refuses every change (api.cpp), so the context is only read.
  if (!call(const_cast<Context&>(ctx), lua::Phase::criterion, true, result)) return true;  // run() fails it
  return result;
}

Outcome LuaFilter::run(Context& ctx) const {
  if (const auto* pending = ctx.find_attribute<PendingFailure>(); pending && pending->filter == this)
    return fail(ctx, pending->failure);
  bool responded = false;
  if (!call(ctx, phase_of(type()), false, responded)) return fail(ctx, ctx.find_attribute<PendingFailure>()->failure);
  return responded ? Outcome::respond : Outcome::proceed;
}

Outcome LuaFilter::fail(Context& ctx, const lua::Failure&) const {
  // A pre or route filter's half-made answer goes; a post filter's answer is the exchange's to
  // replace (it may be the error answer already).
  if (type() == FilterType::pre || type() == FilterType::route) ctx.local_response.reset();
  // A request that already failed keeps its own error (an error filter, or a post filter on an
  // error answer, that fails).
  if (!ctx.error && type() != FilterType::error)
    ctx.error = {ErrorKind::internal, ErrorSource::internal, 0, "lua filter failed"};  // the file is in the log, not for clients
  if (auto* pending = const_cast<PendingFailure*>(ctx.find_attribute<PendingFailure>())) pending->filter = nullptr;
  return Outcome::fail;
}

std::vector<std::pair<std::string, std::string>> LuaFilter::details() const {
  std::vector<std::pair<std::string, std::string>> out{
      {"file", script_->path}, {"hash", script_->hash}, {"loaded_at", utc_text(script_->loaded_at)}};
  for (const lua::ScriptRecord& r : runtime_->records()) {
    if (r.path != script_->path) continue;
    out.emplace_back("last_error", r.last_error);
    out.emplace_back("last_error_at", r.last_error.empty() ? "" : utc_text(r.last_error_at));
    out.emplace_back("failed_calls", std::to_string(r.failed_calls));
  }
  return out;
}

std::unique_ptr<Filter> make_lua(FilterBuild& build) {
  auto file = build.args.string("file", true);
  auto max_instructions = build.args.integer("max_instructions", 1000, 1'000'000'000);
  auto max_memory = build.args.size("max_memory", 256u << 10, 1ull << 30);
  if (!file) return nullptr;
  lua::Budget budget;
  if (max_instructions) budget.max_instructions = static_cast<std::uint64_t>(*max_instructions);
  if (max_memory) budget.max_memory = static_cast<std::size_t>(*max_memory);
  auto runtime = lua::Runtime::of(build.state);
  std::string error;
  auto script = runtime->load(*file, budget, error);
  if (build.watched_files) build.watched_files->push_back(*file);
  observability::Registry& metrics = build.metrics();
  const char* help = "Lua filter calls that failed, and scripts refused, by filter file and kind.";
  if (!error.empty())
    metrics.shard(metrics.shard_count() - 1).inc(metrics.counter("portcullis_lua_errors_total", help,
                                                                  {{"filter", *file}, {"kind", "load"}}));
  if (!script) {
    build.args.error("file", error);
    return nullptr;
  }
  LuaFilter::Counters counters;
  for (lua::FailKind kind : {lua::FailKind::runtime, lua::FailKind::instructions, lua::FailKind::memory})
    counters[static_cast<std::size_t>(kind)] =
        metrics.counter("portcullis_lua_errors_total", help, {{"filter", *file}, {"kind", std::string(to_string(kind))}});
  return std::make_unique<LuaFilter>(std::move(runtime), std::move(script), budget, metrics, counters);
}

}  // namespace portcullis::filters
