// Relaying a response body from an HTTP/2 origin stream to the client: DATA as it arrives, the
// origin's window reopened only as the client takes the bytes, then the trailers (gRPC's status
// among them) handed to the client's sink before the end.
#pragma once
#include <chrono>

#include <boost/asio/awaitable.hpp>

#include "http/relay.h"

namespace portcullis::http::h2 {

class OriginStream;

// After the response head was handed to `down`. On an origin failure sets ctx.error (the stream
// reset or timed out before its end).
boost::asio::awaitable<RelayResult> relay_origin_body(Context& ctx, Downstream& down, OriginStream& stream,
                                                      std::chrono::steady_clock::time_point route_deadline);

// The grpc-status in `fields`, into ctx.grpc_status (when it is a number).
void note_grpc_status(Context& ctx, const Fields& fields);

}  // namespace portcullis::http::h2
