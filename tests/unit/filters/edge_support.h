// Shared by the edge filter tests: what a filter put into ctx.added_response_headers.
#pragma once
#include <string>
#include <string_view>

#include "pipeline/context.h"

namespace edge_support {

inline std::size_t added_count(const portcullis::Context& ctx, std::string_view name) {
  std::size_t n = 0;
  for (const auto& [k, v] : ctx.added_response_headers) n += portcullis::http::iequals(k, name) ? 1 : 0;
  return n;
}

// The value of the one field named `name`; "<absent>" when there is none.
inline std::string added(const portcullis::Context& ctx, std::string_view name) {
  for (const auto& [k, v] : ctx.added_response_headers)
    if (portcullis::http::iequals(k, name)) return std::string(v);
  return "<absent>";
}

inline bool has_error(const std::string& joined, const std::string& text) {
  return joined.find(text) != std::string::npos;
}

}  // namespace edge_support
