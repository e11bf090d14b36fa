// Shadow traffic: a share of a route's requests copied to another service, their answers read up
// to the head and discarded. A copy runs detached on the worker, under the route's in-flight cap;
// nothing of it reaches the client or slows the request it copies.
#pragma once
#include <optional>
#include <string_view>

#include "pipeline/context.h"

namespace portcullis {
class WorkerContext;
}

namespace portcullis::http {

// Sends a copy of the request just sent to the primary: `head` as the primary got it (Host,
// X-Forwarded-*, X-Request-Id), and `body` when the whole body is in memory (null: none, or not
// available, and then a request with a body is not mirrored).
void start_mirror(WorkerContext& worker, const Context& ctx, std::string_view head, const std::string_view* body);

}  // namespace portcullis::http
