// Header add/remove filters (pre for requests, post for responses).
#include "filters/headers/header_filters.h"

#include "http/parser.h"

namespace portcullis::filters {
namespace {

constexpr int request_order = 100;
constexpr int response_order = 100;

http::Fields& side_fields(Context& ctx, HeaderSide side) {
  return side == HeaderSide::request ? ctx.request->fields : ctx.response_fields;
}

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (!http::is_token_char(c)) return false;
  return true;
}

bool valid_value(const std::string& value) {
  for (unsigned char c : value)
    if (c < 0x20 && c != '\t') return false;
  return true;
}

}  // namespace

AddHeaderFilter::AddHeaderFilter(std::string filter_name, HeaderSide side, std::string name, std::string value,
                                 bool replace)
    : Filter(std::move(filter_name), side == HeaderSide::request ? FilterType::pre : FilterType::post,
             side == HeaderSide::request ? request_order : response_order),
      side_(side), header_(std::move(name)), value_(std::move(value)), replace_(replace) {}

Outcome AddHeaderFilter::run(Context& ctx) const {
  http::Fields& fields = side_fields(ctx, side_);
  // The filter's own strings outlive the request (the snapshot holds the filter), so no copy.
  if (replace_) fields.set(header_, value_);
  else fields.add(header_, value_);
  return Outcome::proceed;
}

RemoveHeaderFilter::RemoveHeaderFilter(std::string filter_name, HeaderSide side, std::string name)
    : Filter(std::move(filter_name), side == HeaderSide::request ? FilterType::pre : FilterType::post,
             side == HeaderSide::request ? request_order : response_order),
      side_(side), header_(std::move(name)) {}

Outcome RemoveHeaderFilter::run(Context& ctx) const {
  side_fields(ctx, side_).remove(header_);
  return Outcome::proceed;
}

std::unique_ptr<Filter> make_add_header(FilterBuild& build, const char* filter_name, HeaderSide side) {
  auto name = build.args.string("name", true);
  auto value = build.args.string("value", true);
  auto replace = build.args.boolean("replace");
  if (name && !valid_name(*name)) build.args.error("name", "is not a valid header name");
  if (value && !valid_value(*value)) build.args.error("value", "contains control characters");
  if (!name || !value) return nullptr;
  return std::make_unique<AddHeaderFilter>(filter_name, side, *name, *value, replace.value_or(false));
}

std::unique_ptr<Filter> make_remove_header(FilterBuild& build, const char* filter_name, HeaderSide side) {
  auto name = build.args.string("name", true);
  if (name && !valid_name(*name)) build.args.error("name", "is not a valid header name");
  if (!name) return nullptr;
  return std::make_unique<RemoveHeaderFilter>(filter_name, side, *name);
}

}  // namespace portcullis::filters
