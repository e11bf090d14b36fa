// set_path and rewrite_path: change the path sent upstream (the query string is kept).
#pragma once
#include <regex>

#include "pipeline/registry.h"

namespace portcullis::filters {

class SetPathFilter final : public Filter {
 public:
  explicit SetPathFilter(std::string path);
  Outcome run(Context& ctx) const override;

 private:
  std::string path_;
};

// Regex rewrite of the upstream path (after prefix strip), ECMAScript syntax, "$1" references.
class RewritePathFilter final : public Filter {
 public:
  RewritePathFilter(std::regex pattern, std::string replacement);
  Outcome run(Context& ctx) const override;

 private:
  std::regex pattern_;
  std::string replacement_;
};

// The path the upstream would get now: the filter override, else the target's path after the
// route's prefix strip.
std::string_view current_upstream_path(Context& ctx);

std::unique_ptr<Filter> make_set_path(FilterBuild& build);
std::unique_ptr<Filter> make_rewrite_path(FilterBuild& build);

}  // namespace portcullis::filters
