// Spaces, tabs and CR around a header value or parameter, as the auth filters read them.
#pragma once
#include <string_view>

namespace portcullis::filters::auth {

inline std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace portcullis::filters::auth
