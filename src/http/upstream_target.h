// The path an upstream receives, decided in one place for the proxy and for path filters.
#pragma once
#include <string_view>

#include "pipeline/context.h"

namespace portcullis::http {

// A path filter's override if any; otherwise the request's path with the route's literal prefix
// stripped. The raw path is used byte for byte when it is already canonical (the common case);
// when it is not (dot-segments, escapes of plain characters), the prefix the route matched is
// stripped from the canonical path, re-encoded, so "/hello/../hello/x" and "/%68ello/x" both
// reach the origin as "/x". `prefix` (optional) receives the stripped prefix.
std::string_view upstream_path(Context& ctx, std::string_view* prefix = nullptr);

}  // namespace portcullis::http
