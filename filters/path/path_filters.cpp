// set_path / rewrite_path filters.
#include "filters/path/path_filters.h"

#include "config/snapshot.h"
#include "http/upstream_target.h"

namespace portcullis::filters {
namespace {
constexpr int path_order = 500;  // after header rules and auth, before routing-sensitive filters
}

std::string_view current_upstream_path(Context& ctx) { return http::upstream_path(ctx); }

SetPathFilter::SetPathFilter(std::string path) : Filter("set_path", FilterType::pre, path_order), path_(std::move(path)) {}

Outcome SetPathFilter::run(Context& ctx) const {
  ctx.upstream_path = path_;
  return Outcome::proceed;
}

RewritePathFilter::RewritePathFilter(std::regex pattern, std::string replacement)
    : Filter("rewrite_path", FilterType::pre, path_order), pattern_(std::move(pattern)),
      replacement_(std::move(replacement)) {}

Outcome RewritePathFilter::run(Context& ctx) const {
  std::string_view path = current_upstream_path(ctx);
  std::string rewritten = std::regex_replace(std::string(path), pattern_, replacement_);
  if (rewritten.empty() || rewritten.front() != '/') rewritten.insert(rewritten.begin(), '/');
  ctx.upstream_path = ctx.keep(rewritten);
  return Outcome::proceed;
}

std::unique_ptr<Filter> make_set_path(FilterBuild& build) {
  auto path = build.args.string("path", true);
  if (!path) return nullptr;
  if (path->empty() || path->front() != '/') {
    build.args.error("path", "must start with '/'");
    return nullptr;
  }
  for (unsigned char c : *path)
    if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#') {
      build.args.error("path", "must be a path without spaces, controls, '?' or '#'");
      return nullptr;
    }
  return std::make_unique<SetPathFilter>(*path);
}

std::unique_ptr<Filter> make_rewrite_path(FilterBuild& build) {
  auto regex = build.args.string("regex", true);
  auto replacement = build.args.string("replacement", true);
  if (!regex || !replacement) return nullptr;
  try {
    return std::make_unique<RewritePathFilter>(std::regex(*regex, std::regex::ECMAScript), *replacement);
  } catch (const std::regex_error& e) {
    build.args.error("regex", std::string("invalid regular expression: ") + e.what());
    return nullptr;
  }
}

}  // namespace portcullis::filters
