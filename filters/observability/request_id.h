// request_id filter: the correlation id under an extra header name.
#pragma once
#include "pipeline/registry.h"

namespace portcullis::filters {

class RequestIdFilter final : public Filter {
 public:
  explicit RequestIdFilter(std::string header);
  Outcome run(Context& ctx) const override;

 private:
  std::string header_;
};

std::unique_ptr<Filter> make_request_id(FilterBuild& build);

}  // namespace portcullis::filters
