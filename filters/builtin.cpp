// The built-in filters, registered by name: one line per filter.
#include "filters/auth/jwt.h"
#include "filters/headers/header_filters.h"
#include "filters/path/path_filters.h"
#include "filters/static/static_response.h"
#include "filters/observability/request_id.h"
#include "filters/protection/rate_limit.h"
#include "filters/shedding/set_priority.h"

namespace portcullis {
namespace filters {
std::unique_ptr<Filter> make_access_log(FilterBuild& build);
}

void register_builtin_filters(FilterRegistry& r) {
  using namespace filters;
  r.add("static_response", [](FilterBuild& b) { return make_static_response(b); });
  r.add("add_request_header", [](FilterBuild& b) { return make_add_header(b, "add_request_header", HeaderSide::request); });
  r.add("add_response_header", [](FilterBuild& b) { return make_add_header(b, "add_response_header", HeaderSide::response); });
  r.add("remove_request_header", [](FilterBuild& b) { return make_remove_header(b, "remove_request_header", HeaderSide::request); });
  r.add("remove_response_header", [](FilterBuild& b) { return make_remove_header(b, "remove_response_header", HeaderSide::response); });
  r.add("set_path", [](FilterBuild& b) { return make_set_path(b); });
  r.add("rewrite_path", [](FilterBuild& b) { return make_rewrite_path(b); });
  r.add("request_id", [](FilterBuild& b) { return make_request_id(b); });
  r.add("access_log", [](FilterBuild& b) { return make_access_log(b); });
  r.add("set_priority", [](FilterBuild& b) { return make_set_priority(b); });
  r.add("rate_limit", [](FilterBuild& b) { return make_rate_limit(b); });
  r.add("jwt", [](FilterBuild& b) { return make_jwt(b); });
}

}  // namespace portcullis
