// The built-in filters, registered by name: one line per filter.
#include "filters/auth/auth_filters.h"
#include "filters/edge/cors.h"
#include "filters/edge/redirect.h"
#include "filters/edge/request_size_limit.h"
#include "filters/edge/security_headers.h"
#include "filters/auth/jwt.h"
#include "filters/headers/header_filters.h"
#include "filters/lua/lua_filter.h"
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
  r.add("ip_filter", [](FilterBuild& b) { return make_ip_filter(b); });
  r.add("api_key", [](FilterBuild& b) { return make_api_key(b); });
  r.add("basic_auth", [](FilterBuild& b) { return make_basic_auth(b); });
  r.add("hmac_auth", [](FilterBuild& b) { return make_hmac_auth(b); });
  r.add("cors", [](FilterBuild& b) { return make_cors(b); });
  r.add("request_size_limit", [](FilterBuild& b) { return make_request_size_limit(b); });
  r.add("redirect", [](FilterBuild& b) { return make_redirect(b); });
  r.add("https_redirect", [](FilterBuild& b) { return make_https_redirect(b); });
  r.add("security_headers", [](FilterBuild& b) { return make_security_headers(b); });
  r.add("jwt", [](FilterBuild& b) { return make_jwt(b); });
  r.add("lua", [](FilterBuild& b) { return make_lua(b); });
}

}  // namespace portcullis
