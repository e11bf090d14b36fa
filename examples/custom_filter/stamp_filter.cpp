#include "stamp_filter.h"

namespace my_gateway {

portcullis::Outcome StampFilter::run(portcullis::Context& ctx) const {
  // The filter's strings live as long as the config snapshot, so views to them are safe.
  ctx.response_fields.add(header_, value_);
  return portcullis::Outcome::proceed;
}

std::unique_ptr<portcullis::Filter> make_stamp_filter(portcullis::FilterBuild& build) {
  auto header = build.args.string("header");
  auto value = build.args.string("value", /*required=*/true);
  if (!value) return nullptr;  // the error (with file:line:column) is already recorded
  return std::make_unique<StampFilter>(header.value_or("X-Stamp"), *value);
}

}  // namespace my_gateway
