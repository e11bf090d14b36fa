// Request and response header rules: add / remove a field. Shared by the four header filters.
#pragma once
#include <string>

#include "pipeline/registry.h"

namespace portcullis::filters {

enum class HeaderSide { request, response };

// Adds `name: value` (appends; `replace: true` replaces existing fields of that name).
class AddHeaderFilter final : public Filter {
 public:
  AddHeaderFilter(std::string filter_name, HeaderSide side, std::string name, std::string value, bool replace);
  Outcome run(Context& ctx) const override;

 private:
  HeaderSide side_;
  std::string header_;
  std::string value_;
  bool replace_;
};

class RemoveHeaderFilter final : public Filter {
 public:
  RemoveHeaderFilter(std::string filter_name, HeaderSide side, std::string name);
  Outcome run(Context& ctx) const override;

 private:
  HeaderSide side_;
  std::string header_;
};

std::unique_ptr<Filter> make_add_header(FilterBuild& build, const char* filter_name, HeaderSide side);
std::unique_ptr<Filter> make_remove_header(FilterBuild& build, const char* filter_name, HeaderSide side);

}  // namespace portcullis::filters
