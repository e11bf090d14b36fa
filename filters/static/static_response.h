// static_response filter: a fixed answer produced at the gateway.
#pragma once
#include "pipeline/registry.h"

namespace portcullis::filters {

class StaticResponseFilter final : public Filter {
 public:
  StaticResponseFilter(int status, std::vector<std::pair<std::string, std::string>> headers, std::string body);
  Outcome run(Context& ctx) const override;

 private:
  int status_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
};

std::unique_ptr<Filter> make_static_response(FilterBuild& build);

}  // namespace portcullis::filters
