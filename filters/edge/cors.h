// cors filter: answers CORS preflights at the edge and marks responses to allowed origins.
#pragma once
#include "pipeline/registry.h"

namespace portcullis::filters {

std::unique_ptr<Filter> make_cors(FilterBuild& build);

}  // namespace portcullis::filters
