// Authentication and address filters: api_key, basic_auth, hmac_auth (who the client is; they set
// ctx.consumer and tell the upstream in a header) and ip_filter (where the client is).
#pragma once
#include "pipeline/registry.h"

namespace portcullis::filters {

// Orders: ip_filter first (cheapest refusal), then authentication, then rate_limit (20), whose
// `key: api_key` counts per ctx.consumer.
constexpr int ip_filter_order = 1;
constexpr int auth_filter_order = 15;

std::unique_ptr<Filter> make_api_key(FilterBuild& build);
std::unique_ptr<Filter> make_basic_auth(FilterBuild& build);
std::unique_ptr<Filter> make_hmac_auth(FilterBuild& build);
std::unique_ptr<Filter> make_ip_filter(FilterBuild& build);

}  // namespace portcullis::filters
