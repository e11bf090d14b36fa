// Eureka's REST API (/eureka/apps/...) over the embedded registry, served on the admin listener.
// Kept apart from the admin server so the mapping can be tested without sockets.
#pragma once
#include <optional>
#include <string_view>

#include "admin/admin_server.h"

namespace portcullis::discovery {

class EmbeddedRegistry;

struct EurekaRequest {
  std::string_view method;
  std::string_view target;  // path and query, as received
  std::string_view body;
  std::string_view accept;        // Accept header ("" = absent)
  std::string_view content_type;  // Content-Type header ("" = absent)
};

// The answer for a /eureka/... request (also /eureka/v2/...), or nullopt for any other path.
std::optional<AdminResponse> handle_eureka(EmbeddedRegistry& registry, const EurekaRequest& request);

}  // namespace portcullis::discovery
