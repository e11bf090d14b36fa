// static_response: answer at the edge with a fixed status, headers and body; never touches an
// upstream. A route filter, so pre filters (auth, rate limits) still run before it.
#include "filters/static/static_response.h"

#include <yaml-cpp/yaml.h>

namespace portcullis::filters {

StaticResponseFilter::StaticResponseFilter(int status, std::vector<std::pair<std::string, std::string>> headers,
                                           std::string body)
    : Filter("static_response", FilterType::route, 0), status_(status), headers_(std::move(headers)),
      body_(std::move(body)) {}

Outcome StaticResponseFilter::run(Context& ctx) const {
  LocalResponse& r = ctx.respond(status_, body_);
  r.headers = headers_;
  return Outcome::respond;
}

std::unique_ptr<Filter> make_static_response(FilterBuild& build) {
  auto status = build.args.integer("status", 100, 599);
  auto body = build.args.string("body");
  std::vector<std::pair<std::string, std::string>> headers;
  YAML::Node h = build.args.node("headers");
  if (h && !h.IsMap()) build.args.error("headers", "must be a map of header name to value");
  if (h && h.IsMap())
    for (const auto& kv : h) headers.emplace_back(kv.first.Scalar(), kv.second.Scalar());
  return std::make_unique<StaticResponseFilter>(static_cast<int>(status.value_or(200)), std::move(headers),
                                                body.value_or(""));
}

}  // namespace portcullis::filters
