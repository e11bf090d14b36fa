#include "routing/request_key.h"

namespace portcullis::routing {

std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    std::size_t end = header.find(';');
    std::string_view pair = header.substr(0, end);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=')
      return pair.substr(name.size() + 1);
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

std::string_view request_key(HashOn on, const std::string& name, const http::RequestHead& head,
                             std::string_view client_address) {
  switch (on) {
    case HashOn::header: return head.fields.get(name);
    case HashOn::cookie: return cookie_value(head.fields.get("cookie"), name);
    case HashOn::ip: break;
  }
  return client_address;
}

}  // namespace portcullis::routing
