// Error answers, made in one place: the status follows from the error's kind, and the body is the
// gateway's JSON error ({"status","error","message","request_id"}).
#pragma once
#include <string>
#include <string_view>

#include "http/grpc.h"
#include "pipeline/context.h"

namespace portcullis::http {

// The status an error answers with: its own for `rejected`, else the kind's.
int status_of(const Error& error);
int status_of(ErrorKind kind);

// {"status":S,"error":"Reason","message":"...","request_id":"..."}\n (request_id left out when empty).
std::string error_body(int status, std::string_view message, std::string_view request_id);

// The default error response for ctx.error (after the error filters declined to answer):
// JSON, and Retry-After on 503 answers; for a gRPC request (content-type application/grpc...)
// a trailers-only gRPC response with grpc-status and grpc-message instead.
void respond_with_error(Context& ctx);

}  // namespace portcullis::http
