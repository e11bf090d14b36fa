// security_headers filter: the browser security response fields, set in one place.
#pragma once
#include "pipeline/registry.h"

namespace portcullis::filters {

std::unique_ptr<Filter> make_security_headers(FilterBuild& build);

}  // namespace portcullis::filters
