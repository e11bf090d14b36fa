// security_headers: a post filter that sets the browser security fields on every response the
// route sends (proxied, local answers such as redirects and CORS preflights, and the error
// responses, since post filters run on those too) and removes fields that give the stack away.
// Strict-Transport-Security goes only on responses to requests that came over TLS (RFC 6797
// section 7.2: a host must not send it over plain HTTP). Every value is checked when the config
// loads and each field can be turned off with false, null or "".
//
//   filters:
//     - name: security_headers
//       args: { hsts: { max_age: 31536000, include_subdomains: true },
//               content_security_policy: "default-src 'self'", remove: [Server, X-Powered-By] }
#include "filters/edge/security_headers.h"

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include "filters/edge/edge_util.h"
#include "http/parser.h"

namespace portcullis::filters {
namespace {

constexpr int default_order = 1000;  // after the other post filters: the policy has the last word
constexpr std::int64_t one_year = 31536000;

struct Header {
  std::string name;
  std::string value;
};

class SecurityHeadersFilter final : public Filter {
 public:
  SecurityHeadersFilter(std::string hsts, std::vector<Header> headers, std::vector<std::string> remove, bool replace)
      : Filter("security_headers", FilterType::post, default_order), hsts_(std::move(hsts)),
        headers_(std::move(headers)), remove_(std::move(remove)), replace_(replace) {}

  Outcome run(Context& ctx) const override {
    http::Fields& fields = ctx.response_fields;
    for (const std::string& name : remove_) fields.remove(name);
    if (!hsts_.empty() && ctx.secure) put(fields, "Strict-Transport-Security", hsts_);
    for (const Header& h : headers_) put(fields, h.name, h.value);
    return Outcome::proceed;
  }

 private:
  // The filter's strings live as long as the snapshot that serves the request: no copies.
  void put(http::Fields& fields, std::string_view name, std::string_view value) const {
    if (replace_) fields.set(name, value);
    else if (!fields.contains(name)) fields.add(name, value);
  }

  std::string hsts_;  // empty: not sent
  std::vector<Header> headers_;
  std::vector<std::string> remove_;
  bool replace_;
};

// What an optional field's arg says: absent gives the default, false / null / "" turn it off,
// true asks for the default, a string is the value (checked to be printable ASCII, bounded).
std::optional<std::string> read_value(FilterArgs& args, const std::string& key, std::optional<std::string> fallback) {
  const bool present = args.present(key);
  const YAML::Node n = args.node(key);
  if (!present) return fallback;
  if (!n) return std::nullopt;  // null
  bool flag = false;
  if (n.IsScalar() && n.Tag() != "!" && YAML::convert<bool>::decode(n, flag)) {
    if (!flag) return std::nullopt;
    if (!fallback) args.error(key, "has no default: give the value, or false to send none");
    return fallback;
  }
  if (!n.IsScalar()) {
    args.error(key, "must be a string, or false to send none");
    return std::nullopt;
  }
  const std::string& text = n.Scalar();
  if (text.empty()) return std::nullopt;
  if (text.size() > edge::max_value_bytes)
    args.error(key, "is longer than " + std::to_string(edge::max_value_bytes) + " bytes");
  else if (!edge::is_header_text(text))
    args.error(key, "must be printable ASCII (no control characters, line breaks or non-ASCII bytes, no "
                    "leading or trailing space)");
  else return text;
  return std::nullopt;
}

// One of `allowed` (ignoring case), given back in its canonical spelling; each item of a comma list
// when `list` is set.
std::optional<std::string> one_of(FilterArgs& args, const std::string& key, const std::optional<std::string>& value,
                                  std::initializer_list<std::string_view> allowed, bool list) {
  if (!value) return std::nullopt;
  std::string out;
  bool ok = true;
  auto check = [&](std::string_view item) {
    auto it = std::find_if(allowed.begin(), allowed.end(), [&](std::string_view a) { return http::iequals(a, item); });
    if (it == allowed.end()) ok = false;
    else out += (out.empty() ? "" : ", ") + std::string(*it);
  };
  if (list) http::for_each_list_item(*value, check);
  else check(*value);
  if (ok && !out.empty()) return out;
  std::string names;
  for (std::string_view a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
  args.error(key, "must be " + std::string(list ? "a list of " : "one of ") + names);
  return std::nullopt;
}

std::string read_hsts(FilterArgs& args) {
  std::int64_t max_age = one_year;
  bool subdomains = false, preload = false;
  const bool present = args.present("hsts");
  const YAML::Node n = args.node("hsts");
  if (present && !n) return {};  // null
  if (n && n.IsScalar()) {
    bool on = false;
    if (n.Scalar().empty()) return {};
    if (!YAML::convert<bool>::decode(n, on)) {
      args.error("hsts", "must be a map (max_age, include_subdomains, preload), true or false");
      return {};
    }
    if (!on) return {};
  } else if (n) {
    FilterArgs h = args.map("hsts");
    if (auto age = edge::read_seconds(h, "max_age", 0, 1'000'000'000)) max_age = *age;
    subdomains = h.boolean("include_subdomains").value_or(false);
    preload = h.boolean("preload").value_or(false);
    if (preload && (!subdomains || max_age < one_year))
      h.error("preload", "needs include_subdomains: true and a max_age of at least one year (31536000)");
    h.finish();
  }
  std::string value = "max-age=" + std::to_string(max_age);
  if (subdomains) value += "; includeSubDomains";
  if (preload) value += "; preload";
  return value;
}

}  // namespace

std::unique_ptr<Filter> make_security_headers(FilterBuild& build) {
  FilterArgs& args = build.args;
  const std::string hsts = read_hsts(args);
  std::vector<Header> headers;
  auto add = [&](const char* name, const std::optional<std::string>& value) {
    if (value) headers.push_back({name, *value});
  };
  add("X-Content-Type-Options",
      one_of(args, "content_type_options", read_value(args, "content_type_options", "nosniff"), {"nosniff"}, false));
  add("X-Frame-Options",
      one_of(args, "frame_options", read_value(args, "frame_options", "DENY"), {"DENY", "SAMEORIGIN"}, false));
  add("Referrer-Policy",
      one_of(args, "referrer_policy", read_value(args, "referrer_policy", "strict-origin-when-cross-origin"),
             {"no-referrer", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin", "same-origin",
              "strict-origin", "strict-origin-when-cross-origin", "unsafe-url"},
             true));
  add("Content-Security-Policy", read_value(args, "content_security_policy", std::nullopt));
  add("Permissions-Policy", read_value(args, "permissions_policy", std::nullopt));
  add("Cross-Origin-Opener-Policy",
      one_of(args, "cross_origin_opener_policy", read_value(args, "cross_origin_opener_policy", std::nullopt),
             {"same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"}, false));
  std::vector<std::string> remove;
  for (const std::string& name : args.strings("remove").value_or(std::vector<std::string>{})) {
    if (!edge::is_token(name))
      args.error("remove", "\"" + (edge::is_visible_ascii(name) ? name : "?") + "\" is not a valid header name");
    else remove.push_back(name);
  }
  const bool replace = args.boolean("override").value_or(true);
  return std::make_unique<SecurityHeadersFilter>(hsts, std::move(headers), std::move(remove), replace);
}

}  // namespace portcullis::filters
