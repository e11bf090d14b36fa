// Relaying a response body from the origin to the client: decoded from the origin's framing
// (length, chunked, or until close), handed to the client's sink in pieces as they arrive, with
// back-pressure (the next read from the origin waits until the client took the last pieces).
#pragma once
#include <chrono>

#include <boost/asio/awaitable.hpp>

#include "http/message.h"
#include "http/parser.h"
#include "pipeline/context.h"

namespace portcullis::http {

class Downstream;
struct UpstreamConnection;

struct RelayResult {
  bool ok = false;             // the whole body reached the client
  bool reusable = false;       // the origin connection may carry another request
  bool client_failed = false;  // the client went away
};

// After the response head was handed to `down`. On an origin failure sets ctx.error (502 for a
// malformed body, else the cut short, timed out or reset body).
boost::asio::awaitable<RelayResult> relay_body(Context& ctx, Downstream& down, UpstreamConnection& conn,
                                               const ResponseHead& head, const ResponseFraming& framing,
                                               std::chrono::steady_clock::time_point route_deadline);

}  // namespace portcullis::http
