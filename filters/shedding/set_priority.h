// set_priority filter: gives matching requests a load-shedding priority (0..99).
#pragma once
#include "pipeline/registry.h"

namespace portcullis::filters {

std::unique_ptr<Filter> make_set_priority(FilterBuild& build);

}  // namespace portcullis::filters
