// The one mapping from error kinds to answers.
#include "http/error_response.h"

#include <charconv>

#include "config/snapshot.h"
#include "http/grpc.h"
#include "observability/access_log.h"

namespace portcullis::http {

int status_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::none: return 200;
    case ErrorKind::bad_request: return 400;
    case ErrorKind::not_found: return 404;
    case ErrorKind::rejected: return 403;  // a filter that forgot its status refuses
    case ErrorKind::body_too_large: return 413;
    case ErrorKind::head_too_large: return 431;
    case ErrorKind::uri_too_long: return 414;
    case ErrorKind::expectation_failed: return 417;
    case ErrorKind::not_implemented: return 501;
    case ErrorKind::version_not_supported: return 505;
    case ErrorKind::no_instances:
    case ErrorKind::unavailable: return 503;
    case ErrorKind::connect_failed:
    case ErrorKind::upstream_reset:
    case ErrorKind::bad_upstream_response: return 502;
    case ErrorKind::connect_timeout:
    case ErrorKind::upstream_timeout: return 504;
    case ErrorKind::internal: return 500;
  }
  return 500;
}

int status_of(const Error& error) { return error.status != 0 ? error.status : status_of(error.kind); }

std::string error_body(int status, std::string_view message, std::string_view request_id) {
  char number[8];
  auto [end, _] = std::to_chars(number, number + sizeof(number), status);
  std::string body = "{\"status\":";
  body.append(number, end);
  body += ",\"error\":\"";
  body += reason_phrase(status);
  body += "\",\"message\":\"";
  observability::append_json_escaped(body, message);
  if (!request_id.empty()) {
    body += "\",\"request_id\":\"";
    observability::append_json_escaped(body, request_id);
  }
  body += "\"}\n";
  return body;
}

namespace {

// A gRPC client gets its error as a gRPC status: a trailers-only response (HTTP 200, no body,
// grpc-status and grpc-message in the one header block), which it can act on; a JSON body it
// cannot read.
void respond_grpc(Context& ctx, int status) {
  LocalResponse& r = ctx.respond(200);
  r.headers.emplace_back("Content-Type", "application/grpc");
  r.headers.emplace_back("grpc-status", std::to_string(grpc_status_of(status, ctx.error.kind)));
  std::string message;
  append_grpc_message(message, ctx.error.message);
  r.headers.emplace_back("grpc-message", std::move(message));
}

}  // namespace

void respond_with_error(Context& ctx) {
  const int status = status_of(ctx.error);
  if (ctx.request && is_grpc(*ctx.request)) return respond_grpc(ctx, status);
  LocalResponse& r = ctx.respond(status, error_body(status, ctx.error.message, ctx.request_id));
  r.headers.emplace_back("Content-Type", "application/json");
  if (status == 503) r.headers.emplace_back("Retry-After", ctx.snapshot->shedding.retry_after);
}

}  // namespace portcullis::http
