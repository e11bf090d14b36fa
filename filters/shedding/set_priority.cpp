// set_priority: a pre filter that sets ctx.priority for the requests it matches (by a header, with
// or without a value, and by method), so that shedding turns them away earlier or later than the
// route's default: e.g. playback before prefetch, or an Android client's background sync last.
// It runs before the gateway and route concurrency limits are checked, which read the priority.
//
//   filters:
//     - name: set_priority
//       args: { priority: 10, header: "X-Request-Kind: prefetch", methods: [GET] }
#include "filters/shedding/set_priority.h"

#include <yaml-cpp/yaml.h>

#include "http/parser.h"

namespace portcullis::filters {
namespace {

class SetPriorityFilter final : public Filter {
 public:
  SetPriorityFilter(int priority, std::string header, std::string value, bool any_value, std::uint32_t methods)
      : Filter("set_priority", FilterType::pre, 5), priority_(priority), header_(std::move(header)),
        value_(std::move(value)), any_value_(any_value), methods_(methods) {}

  bool should_filter(const Context& ctx) const override {
    if (methods_ && !((methods_ >> static_cast<unsigned>(ctx.request->method)) & 1u)) return false;
    if (header_.empty()) return true;
    return any_value_ ? ctx.request->fields.contains(header_) : ctx.request->fields.get(header_) == value_;
  }

  Outcome run(Context& ctx) const override {
    ctx.priority = priority_;
    return Outcome::proceed;
  }

 private:
  int priority_;
  std::string header_;  // lower case; "" = any request
  std::string value_;
  bool any_value_;
  std::uint32_t methods_;  // bit per http::Method; 0 = any
};

}  // namespace

std::unique_ptr<Filter> make_set_priority(FilterBuild& build) {
  auto priority = build.args.integer("priority", 0, 99);
  if (!build.args.node("priority")) build.args.error("priority", "is required (0..99)");
  auto header = build.args.string("header");
  auto methods = build.args.strings("methods");
  std::string name, value;
  bool any_value = true;
  if (header) {
    const std::size_t colon = header->find(':');
    name = header->substr(0, colon);
    if (colon != std::string::npos) {
      any_value = false;
      value = header->substr(colon + 1);
      const std::size_t first = value.find_first_not_of(" \t");
      value = first == std::string::npos ? std::string() : value.substr(first, value.find_last_not_of(" \t") - first + 1);
    }
    bool token = !name.empty();
    for (unsigned char c : name) token = token && http::is_token_char(c);
    if (!token) build.args.error("header", "expected \"Name\" or \"Name: value\"");
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::uint32_t method_bits = 0;
  for (const std::string& m : methods.value_or(std::vector<std::string>{})) {
    const http::Method method = http::method_from(m);
    if (method == http::Method::other) build.args.error("methods", "unknown method " + m);
    else method_bits |= 1u << static_cast<unsigned>(method);
  }
  if (!priority) return nullptr;
  return std::make_unique<SetPriorityFilter>(static_cast<int>(*priority), std::move(name), std::move(value), any_value,
                                             method_bits);
}

}  // namespace portcullis::filters
