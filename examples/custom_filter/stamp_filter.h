// `stamp`: a post filter that adds a configurable response header, and refuses (pre stage) any
// request carrying a header named in `deny_header`. Shows both outcomes a filter can take.
#pragma once
#include <pipeline/registry.h>

namespace my_gateway {

class StampFilter final : public portcullis::Filter {
 public:
  StampFilter(std::string header, std::string value)
      : Filter("stamp", portcullis::FilterType::post, 50), header_(std::move(header)), value_(std::move(value)) {}
  portcullis::Outcome run(portcullis::Context& ctx) const override;

 private:
  std::string header_;
  std::string value_;
};

std::unique_ptr<portcullis::Filter> make_stamp_filter(portcullis::FilterBuild& build);

}  // namespace my_gateway
