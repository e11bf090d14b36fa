// cors: a pre filter for cross-origin requests from browsers (the Fetch standard's CORS protocol).
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here, 204 with
// the Access-Control-Allow-* fields or 403, and never reaches the origin. Other requests go on; one
// from an allowed origin gets Access-Control-Allow-Origin and friends on its response, one from
// any other origin gets none, and the browser keeps the response from the page.
//
//   filters:
//     - name: cors
//       args: { allowed_origins: ["https://app.example.com", "https://*.example.com"],
//               allowed_methods: [GET, POST, PUT], allowed_headers: [Content-Type, Authorization],
//               allow_credentials: true, max_age: 10m }
#include "filters/edge/cors.h"

#include <algorithm>

#include "filters/edge/edge_util.h"
#include "http/parser.h"

namespace portcullis::filters {
namespace {

using edge::contains_ignoring_case;

constexpr int default_order = 1;  // before authentication: a preflight carries no credentials
constexpr std::size_t max_origin_bytes = 1024;
constexpr std::size_t max_request_headers_bytes = 4096;

// "https://*.example.com": the star stands for exactly one DNS label (letters, digits, inner '-').
// Split at build time into the text before and after the star, so a match is two comparisons and
// a scan of the middle: no regular expression per request.
struct OriginPattern {
  std::string before;  // "https://" (and any labels left of the star, with their dot)
  std::string after;   // ".example.com" and an optional ":port"

  bool matches(std::string_view origin) const {
    if (origin.size() <= before.size() + after.size()) return false;
    if (!http::iequals(origin.substr(0, before.size()), before)) return false;
    if (!http::iequals(origin.substr(origin.size() - after.size()), after)) return false;
    const std::string_view label = origin.substr(before.size(), origin.size() - before.size() - after.size());
    if (label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
    return true;
  }
};

struct Settings {
  bool any_origin = false;  // "*"
  std::vector<std::string> origins;  // lower case, exact
  std::vector<OriginPattern> patterns;
  bool any_method = false;
  std::vector<std::string> methods{"GET", "HEAD", "POST"};
  std::string methods_text = "GET, HEAD, POST";
  bool any_header = false;
  std::vector<std::string> headers;
  std::string headers_text;
  std::string exposed_text;
  bool credentials = false;
  std::string max_age_text;  // empty: no Access-Control-Max-Age
};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

bool origin_text_ok(std::string_view origin) {
  return origin.size() <= max_origin_bytes && edge::is_visible_ascii(origin);
}

class CorsFilter final : public Filter {
 public:
  explicit CorsFilter(Settings s) : Filter("cors", FilterType::pre, default_order), s_(std::move(s)) {}

  Outcome run(Context& ctx) const override {
    const http::Fields& fields = ctx.request->fields;
    // With per-origin answers, a shared cache must key on Origin, also for requests without one
    // or from other origins: otherwise it could hand one origin's answer to another.
    if (!s_.any_origin) ctx.added_response_headers.emplace_back("Vary", "Origin");
    const http::Field* origin = fields.find("origin");
    if (!origin) return Outcome::proceed;
    const bool allowed = origin_allowed(origin->value);
    const http::Field* method = fields.find("access-control-request-method");
    if (ctx.request->method == http::Method::options && method)
      return preflight(ctx, origin->value, allowed, method->value);
    if (allowed) allow_origin(ctx, origin->value);
    return Outcome::proceed;
  }

 private:
  bool origin_allowed(std::string_view origin) const {
    if (!origin_text_ok(origin)) return false;
    if (s_.any_origin) return true;
    for (const auto& o : s_.origins)
      if (http::iequals(o, origin)) return true;
    for (const auto& p : s_.patterns)
      if (p.matches(origin)) return true;
    return false;
  }

  void allow_origin(Context& ctx, std::string_view origin) const {
    auto& out = ctx.added_response_headers;
    out.emplace_back("Access-Control-Allow-Origin", s_.any_origin ? std::string_view("*") : ctx.keep(origin));
    if (s_.credentials) out.emplace_back("Access-Control-Allow-Credentials", "true");
    if (!s_.exposed_text.empty()) out.emplace_back("Access-Control-Expose-Headers", s_.exposed_text);
  }

  Outcome preflight(Context& ctx, std::string_view origin, bool allowed, std::string_view method) const {
    if (!allowed) return refuse(ctx, "CORS preflight refused: origin not allowed");
    const bool listed = std::find(s_.methods.begin(), s_.methods.end(), method) != s_.methods.end();
    if (!edge::is_token(method) || !(s_.any_method || listed))
      return refuse(ctx, "CORS preflight refused: method not allowed");
    // Access-Control-Request-Headers may appear more than once; every name in every one must be allowed.
    std::string_view requested;
    std::size_t lists = 0, names = 0;
    bool headers_ok = true;
    for (const auto& f : ctx.request->fields.items()) {
      if (!http::iequals(f.name, "access-control-request-headers")) continue;
      requested = f.value;
      ++lists;
      headers_ok = headers_ok && f.value.size() <= max_request_headers_bytes;
      http::for_each_list_item(f.value, [&](std::string_view name) {
        ++names;
        headers_ok = headers_ok && edge::is_token(name) && (s_.any_header || contains_ignoring_case(s_.headers, name));
      });
    }
    if (!headers_ok) return refuse(ctx, "CORS preflight refused: header not allowed");
    allow_origin(ctx, origin);
    auto& out = ctx.added_response_headers;
    out.emplace_back("Access-Control-Allow-Methods",
                     s_.any_method ? ctx.keep(method) : std::string_view(s_.methods_text));
    // Under "*" the names asked for are echoed (they were checked to be tokens): a literal "*" would
    // not cover them when credentials are allowed.
    if (names > 0 && !s_.any_header) out.emplace_back("Access-Control-Allow-Headers", s_.headers_text);
    else if (names > 0)
      out.emplace_back("Access-Control-Allow-Headers", lists == 1 ? ctx.keep(requested) : joined_request_headers(ctx));
    if (!s_.max_age_text.empty()) out.emplace_back("Access-Control-Max-Age", s_.max_age_text);
    ctx.respond(204);
    return Outcome::respond;
  }

  static std::string_view joined_request_headers(Context& ctx) {
    thread_local std::string joined;
    joined.clear();
    for (const auto& f : ctx.request->fields.items())
      if (http::iequals(f.name, "access-control-request-headers"))
        http::for_each_list_item(f.value, [&](std::string_view name) {
          if (!joined.empty()) joined += ", ";
          joined += name;
        });
    return ctx.keep(joined);
  }

  static Outcome refuse(Context& ctx, const char* why) {
    ctx.error = {ErrorKind::rejected, ErrorSource::downstream, 403, why, false};
    return Outcome::fail;
  }

  Settings s_;
};

// "scheme://host[:port]" without path, lower-cased; nullopt with `why` set when malformed.
std::optional<std::string> parse_origin(const std::string& text, std::string& why) {
  const std::size_t sep = text.find("://");
  if (sep == std::string::npos || sep == 0) {
    why = "expected scheme://host[:port]";
    return std::nullopt;
  }
  const std::string scheme = edge::lower(text.substr(0, sep));
  for (char c : scheme)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')) {
      why = "has an invalid scheme";
      return std::nullopt;
    }
  const std::string authority = text.substr(sep + 3);
  if (authority.find('/') != std::string::npos) {
    why = "is an origin: no path, not even a trailing '/'";
    return std::nullopt;
  }
  return scheme + "://" + edge::lower(authority);
}

void read_origins(FilterBuild& build, Settings& s) {
  auto list = build.args.strings("allowed_origins");
  if (!list || list->empty()) {
    build.args.error("allowed_origins",
                     "is required: a list of origins, patterns like https://*.example.com, or \"*\"");
    return;
  }
  for (const std::string& item : *list) {
    const std::string shown = "origin \"" + (origin_text_ok(item) ? item : std::string("(non-ASCII text)")) + "\" ";
    if (item == "*") {
      s.any_origin = true;
      if (list->size() > 1) build.args.error("allowed_origins", "\"*\" must be the only entry");
      continue;
    }
    if (!origin_text_ok(item)) {
      build.args.error("allowed_origins", shown + "must be printable ASCII without spaces (write IDNs in punycode)");
      continue;
    }
    if (item == "null") {
      build.args.error("allowed_origins", "\"null\" is refused: sandboxed frames and file: pages all send it");
      continue;
    }
    std::string why;
    auto origin = parse_origin(item, why);
    if (!origin) {
      build.args.error("allowed_origins", shown + why);
      continue;
    }
    const std::size_t star = origin->find('*');
    if (star == std::string::npos) {
      if (!http::valid_host(origin->substr(origin->find("://") + 3)) || origin->ends_with("://"))
        build.args.error("allowed_origins", shown + "has an invalid host");
      else s.origins.push_back(*origin);
      continue;
    }
    OriginPattern p{origin->substr(0, star), origin->substr(star + 1)};
    const std::string host_after = p.after.substr(0, p.after.find(':'));
    const bool whole_label = (p.before.ends_with("://") || p.before.ends_with(".")) && p.after.starts_with(".");
    const bool narrow = std::count(host_after.begin(), host_after.end(), '.') >= 2;  // not "*.com"
    const std::string probe = p.before + "x" + p.after;
    if (p.after.find('*') != std::string::npos || !whole_label || !narrow ||
        !http::valid_host(probe.substr(probe.find("://") + 3)))
      build.args.error("allowed_origins", shown + "must use '*' once, for one whole label left of at least two others "
                                                  "(https://*.example.com)");
    else s.patterns.push_back(std::move(p));
  }
}

bool read_list(FilterBuild& build, const char* key, std::vector<std::string>& out, bool& any) {
  auto list = build.args.strings(key);
  if (!list) return false;
  out.clear();
  for (const std::string& item : *list) {
    if (item == "*" && list->size() == 1) any = true;
    else if (item == "*") build.args.error(key, "\"*\" must be the only entry");
    else if (!edge::is_token(item))
      build.args.error(key, "\"" + (origin_text_ok(item) ? item : std::string("?")) + "\" is not a valid name");
    else out.push_back(item);
  }
  return true;
}

}  // namespace

std::unique_ptr<Filter> make_cors(FilterBuild& build) {
  Settings s;
  read_origins(build, s);
  if (read_list(build, "allowed_methods", s.methods, s.any_method)) s.methods_text = join(s.methods);
  read_list(build, "allowed_headers", s.headers, s.any_header);
  s.headers_text = join(s.headers);
  std::vector<std::string> exposed;
  bool any_exposed = false;
  read_list(build, "exposed_headers", exposed, any_exposed);
  s.exposed_text = any_exposed ? "*" : join(exposed);
  s.credentials = build.args.boolean("allow_credentials").value_or(false);
  if (auto age = edge::read_seconds(build.args, "max_age", 0, 86400)) s.max_age_text = std::to_string(*age);
  if (s.credentials && s.any_origin)
    build.args.error("allowed_origins", "\"*\" cannot be used with allow_credentials: list the origins");
  if (s.credentials && any_exposed)
    build.args.error("exposed_headers", "\"*\" is no wildcard with allow_credentials: list the headers");
  if (s.any_origin || (!s.origins.empty() || !s.patterns.empty()))
    return std::make_unique<CorsFilter>(std::move(s));
  return nullptr;
}

}  // namespace portcullis::filters
