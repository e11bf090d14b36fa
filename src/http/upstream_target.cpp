#include "http/upstream_target.h"

#include "config/snapshot.h"
#include "routing/path.h"

namespace portcullis::http {

std::string_view upstream_path(Context& ctx, std::string_view* prefix) {
  if (!ctx.upstream_path.empty()) return ctx.upstream_path;
  std::string_view path = ctx.request->path;
  if (!ctx.route || ctx.route->strip.empty()) return path;
  const std::string& strip = ctx.route->strip;
  if (path != ctx.canonical_path) path = ctx.keep(routing::encode_path(ctx.canonical_path));
  if (!path.starts_with(strip)) return path;
  if (prefix) *prefix = path.substr(0, strip.size());
  path.remove_prefix(strip.size());
  return path;
}

}  // namespace portcullis::http
