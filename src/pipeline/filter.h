// The filter contract (Zuul's model). A filter has a type, an order within its type, a criterion
// (should_filter) and an action (run). Filters are built once per config snapshot from their YAML
// args by a factory registered by name (pipeline/registry.h) and are shared, immutable, by every
// request and worker: per-request state belongs in the Context.
//
//   pre filters (by order) -> route stage (route filters, then proxy or static) -> post filters
//   on the response head -> body streamed -> on_complete (logging)
//   any fail -> error filters (by order), then the default JSON error response.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "pipeline/context.h"

namespace portcullis {

enum class FilterType { pre, route, post, error };
std::string_view to_string(FilterType type);

// What a filter's action decided.
//  proceed: go on with the next filter / stage.
//  respond: the filter set ctx.local_response (ctx.respond(...)); skip the remaining pre and route
//           work and send it (post filters still run on it).
//  fail:    the filter set ctx.error; the error filters produce the response.
enum class Outcome { proceed, respond, fail };

class Filter {
 public:
  Filter(std::string name, FilterType type, int order) : name_(std::move(name)), type_(type), order_(order) {}
  virtual ~Filter() = default;

  const std::string& name() const { return name_; }
  FilterType type() const { return type_; }
  int order() const { return order_; }
  void set_order(int order) { order_ = order; }

  // Criterion: cheap and synchronous.
  virtual bool should_filter(const Context&) const { return true; }
  // Action, synchronous fast path (no coroutine frame).
  virtual Outcome run(Context& ctx) const = 0;
  // Filters that await I/O override is_async() and run_async(); the chain awaits them instead.
  virtual bool is_async() const { return false; }
  virtual boost::asio::awaitable<Outcome> run_async(Context& ctx) const;
  // A filter that must see the whole request body before it decides (a signature over the body)
  // returns the most bytes it accepts for this request: the pipeline reads the body first (413
  // when it is larger) and sets ctx.request_body, then runs the filter. 0 = the body is not needed
  // (streamed later); a filter returns 0 for a request it will refuse on its head alone, so an
  // unauthenticated client cannot make the gateway read and hold a body.
  virtual std::size_t body_limit(const Context&) const { return 0; }
  // Called once the exchange is over (response sent or connection lost), for logging and metrics.
  virtual bool wants_completion() const { return false; }
  virtual void on_complete(const Context&) const {}
  // What GET /admin/filters shows of this filter beyond its name, type and order (a lua filter's
  // file, version and last error), as name/value pairs.
  virtual std::vector<std::pair<std::string, std::string>> details() const { return {}; }

 private:
  std::string name_;
  FilterType type_;
  int order_;
};

}  // namespace portcullis
