// request_id: the gateway always gives each request a correlation id (X-Request-Id, generated when
// the client sent none, passed upstream and echoed to the client). This filter also passes it
// upstream under another header name, for services that expect e.g. X-Correlation-Id.
#include "filters/observability/request_id.h"

namespace portcullis::filters {

RequestIdFilter::RequestIdFilter(std::string header)
    : Filter("request_id", FilterType::pre, 10), header_(std::move(header)) {}

Outcome RequestIdFilter::run(Context& ctx) const {
  ctx.request->fields.set(header_, ctx.request_id);
  return Outcome::proceed;
}

std::unique_ptr<Filter> make_request_id(FilterBuild& build) {
  auto header = build.args.string("header");
  return std::make_unique<RequestIdFilter>(header.value_or("X-Correlation-Id"));
}

}  // namespace portcullis::filters
