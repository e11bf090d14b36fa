// ip_filter: a pre filter that admits or refuses requests by the client's address (IPv4 and IPv6
// CIDR lists; deny wins; a non-empty allow list admits only its ranges). Behind proxies listed in
// `trusted_proxies` the client is the right-most X-Forwarded-For entry that is not one of them.
//
//   filters:
//     - name: ip_filter
//       args: { allow: [10.0.0.0/8, "2001:db8::/32"], deny: [10.6.6.0/24], trusted_proxies: [10.1.0.0/16] }
#include <arpa/inet.h>

#include <cstring>

#include <yaml-cpp/yaml.h>

#include "filters/auth/auth_common.h"
#include "filters/auth/auth_filters.h"
#include "http/message.h"
#include "util/cidr.h"

namespace portcullis::filters {
namespace {

using Address = std::array<std::uint8_t, 16>;

// inet_pton needs a NUL: the text is copied to the stack, never to the heap.
std::optional<Address> parse_address(std::string_view text) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  Address out{};
  in_addr v4{};
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(&out[12], &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buf, &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

class IpFilter final : public Filter {
 public:
  IpFilter(std::vector<Cidr> allow, std::vector<Cidr> deny, std::vector<Cidr> trusted, int status)
      : Filter("ip_filter", FilterType::pre, ip_filter_order), allow_(std::move(allow)), deny_(std::move(deny)),
        trusted_(std::move(trusted)), status_(status) {}

  Outcome run(Context& ctx) const override {
    const std::optional<Address> client = client_of(ctx);
    // An unknown address is in no range: refused by an allow list, not by a deny list.
    if (!client) return allow_.empty() ? Outcome::proceed : auth::refuse(ctx, status_, "client address not allowed");
    if (any_contains(deny_, *client) || (!allow_.empty() && !any_contains(allow_, *client)))
      return auth::refuse(ctx, status_, "client address not allowed");
    return Outcome::proceed;
  }

  // The socket peer, or when the peer is a trusted proxy, the right-most X-Forwarded-For address
  // that is not trusted (the left-most when all are). Any malformed entry: the socket peer.
  std::optional<Address> client_of(const Context& ctx) const {
    if (!ctx.client_bytes) return std::nullopt;
    const Address& peer = *ctx.client_bytes;
    if (trusted_.empty() || !any_contains(trusted_, peer)) return peer;
    std::optional<Address> found;
    const auto& items = ctx.request->fields.items();
    for (auto it = items.rbegin(); it != items.rend(); ++it) {
      if (!http::iequals(it->name, "x-forwarded-for")) continue;
      std::string_view list = it->value;
      while (true) {
        const std::size_t comma = list.rfind(',');
        const std::string_view entry = auth::trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
        const auto address = parse_address(entry);
        if (!address) return peer;
        if (!any_contains(trusted_, *address)) return *address;
        found = *address;
        if (comma == std::string_view::npos) break;
        list = list.substr(0, comma);
      }
    }
    return found ? *found : peer;
  }

 private:
  std::vector<Cidr> allow_, deny_, trusted_;
  int status_;
};

std::vector<Cidr> read_cidrs(FilterArgs& args, const char* key) {
  std::vector<Cidr> out;
  for (const std::string& text : args.strings(key).value_or(std::vector<std::string>{})) {
    if (auto cidr = Cidr::parse(auth::trim(text))) out.push_back(*cidr);
    else args.error(key, "invalid CIDR " + text);
  }
  return out;
}

}  // namespace

std::unique_ptr<Filter> make_ip_filter(FilterBuild& build) {
  FilterArgs& args = build.args;
  std::vector<Cidr> allow = read_cidrs(args, "allow");
  std::vector<Cidr> deny = read_cidrs(args, "deny");
  std::vector<Cidr> trusted = read_cidrs(args, "trusted_proxies");
  const int status = static_cast<int>(args.integer("status", 400, 599).value_or(403));
  if (!args.node("allow") && !args.node("deny")) args.error("allow", "allow or deny is required");
  return std::make_unique<IpFilter>(std::move(allow), std::move(deny), std::move(trusted), status);
}

}  // namespace portcullis::filters
