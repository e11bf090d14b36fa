// redirect and https_redirect filters: answer at the edge with a redirect.
#pragma once
#include "pipeline/registry.h"

namespace portcullis::filters {

std::unique_ptr<Filter> make_redirect(FilterBuild& build);
std::unique_ptr<Filter> make_https_redirect(FilterBuild& build);

}  // namespace portcullis::filters
