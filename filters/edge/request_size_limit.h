// request_size_limit filter: a lower request body limit for a route or the whole gateway.
#pragma once
#include "pipeline/registry.h"

namespace portcullis::filters {

std::unique_ptr<Filter> make_request_size_limit(FilterBuild& build);

}  // namespace portcullis::filters
