// Load shedding at admission: the gateway's, the route's and the service's concurrency limits.
// Each is a counter and a comparison, never a queue: a request over its priority's share of a
// limit is refused at once with 503 (counted by reason and priority band), and a request let in
// holds a ticket that gives its slot back however the request ends.
#pragma once
#include <cstdint>
#include <string>

#include "pipeline/context.h"
#include "protection/gate.h"

namespace portcullis {
struct Service;
enum class ShedReason : std::uint8_t;
namespace observability {
class Shard;
}
}

namespace portcullis::http {

// Refuses the request: ctx.error = unavailable (503), counted by reason and priority.
void shed(Context& ctx, observability::Shard& shard, ShedReason reason, std::string message);

// The gateway-wide limit, then the route's (after the pre filters, which may set the priority).
bool admit_gateway_and_route(Context& ctx, observability::Shard& shard, protection::GateTicket& global,
                             protection::GateTicket& route);

// The service's limit: the lower of its bulkhead and its adaptive limit. `in_flight` receives the
// service's requests in flight at admission, for the adaptive limiter's sample.
bool admit_service(Context& ctx, const Service& service, observability::Shard& shard, protection::GateTicket& ticket,
                   std::int64_t& in_flight);

}  // namespace portcullis::http
