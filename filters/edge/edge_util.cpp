// Helpers shared by the edge filters.
#include "filters/edge/edge_util.h"

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include "http/parser.h"
#include "util/units.h"

namespace portcullis::filters::edge {

bool is_header_text(std::string_view text) {
  if (text.empty() || text.front() == ' ' || text.back() == ' ') return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

bool is_visible_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c <= 0x7e; });
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
           return http::is_token_char(static_cast<unsigned char>(c));
         });
}

bool contains_ignoring_case(const std::vector<std::string>& list, std::string_view text) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& item) { return http::iequals(item, text); });
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::optional<std::int64_t> read_seconds(FilterArgs& args, const std::string& key, std::int64_t min, std::int64_t max) {
  const auto d = args.duration(key, std::chrono::seconds(min), std::chrono::seconds(max));
  if (!d) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::seconds>(*d).count();
}

bool is_redirect_status(long long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string_view host_without_port(std::string_view host) {
  if (host.empty() || !http::valid_host(host)) return {};
  std::string_view name = host;
  if (host.front() == '[') name = host.substr(0, host.find(']') + 1);
  else if (const std::size_t colon = host.rfind(':'); colon != std::string_view::npos) name = host.substr(0, colon);
  if (name.empty() || !is_visible_ascii(name)) return {};
  return name;
}

}  // namespace portcullis::filters::edge
