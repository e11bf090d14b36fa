#include "canary/choice.h"

#include "config/snapshot.h"
#include "routing/request_key.h"

namespace portcullis::canary {

std::size_t choose_variant(const Route& route, const http::RequestHead& head, std::string_view client_address,
                           std::uint32_t& sequence) {
  // The pin is an index into the newest snapshot's variants; a request on an older snapshot
  // whose list is shorter ignores it rather than read past the end.
  const int pinned = route.canary->pinned();
  if (pinned >= 0 && static_cast<std::size_t>(pinned) < route.variants.size()) return static_cast<std::size_t>(pinned);
  if (!route.force_header.empty()) {
    std::string_view forced = head.fields.get(route.force_header);
    std::size_t chosen = route.variants.size();
    for (std::size_t i = 0; i < route.variants.size() && !forced.empty(); ++i)
      if (forced == route.variants[i].name || forced == route.variants[i].service->name) chosen = i;
    if (chosen < route.variants.size()) return chosen;
  }
  std::string_view key;
  if (route.sticky) key = routing::request_key(route.sticky_on, route.sticky_name, head, client_address);
  const std::uint32_t point = split_point(!key.empty(), hash_key(key), sequence);
  return route.canary_form ? (point < route.canary->threshold() ? 1 : 0)
                           : variant_for(point, route.upto.data(), route.upto.size());
}

}  // namespace portcullis::canary
