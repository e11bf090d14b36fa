// redirect and https_redirect: answer at the edge with a 3xx and a Location, an empty body.
//
// redirect's Location is a template compiled into parts when the config loads. The request's
// pieces go in raw (as the client sent them, percent-encoding kept) and are checked first: the Host
// comes from the client, so a value outside the Host grammar, or any byte outside printable ASCII in
// the path or query, gets 400 instead of a redirect. No CR or LF can reach the Location field.
//
//   filters:
//     - name: redirect
//       args: { status: 308, location: "https://new.example.com{request_uri}" }
//     - name: https_redirect
//       args: { port: 8443 }
#include "filters/edge/redirect.h"

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include "filters/edge/edge_util.h"
#include "http/parser.h"

namespace portcullis::filters {
namespace {

constexpr int redirect_order = 10;
constexpr int https_redirect_order = 0;  // first: nothing else need run for a request sent back

enum class Piece : std::uint8_t { literal, scheme, host, hostname, path, query, query_with_mark, request_uri };

struct Part {
  Piece piece;
  std::string text;  // Piece::literal
};

// The request's pieces, checked. ok=false when the request cannot be redirected safely.
struct Pieces {
  std::string_view host, hostname, path, query;
  bool ok = true;
};

Pieces pieces_of(const Context& ctx, bool need_host) {
  const http::RequestHead& head = *ctx.request;
  Pieces p;
  p.path = head.path.empty() || head.path.front() != '/' ? std::string_view("/") : head.path;  // "OPTIONS *"
  p.query = head.query;
  p.ok = edge::is_visible_ascii(p.path) && edge::is_visible_ascii(p.query);
  // "//evil.example" or "/\evil.example" at the start of a Location names another host: leading
  // slashes collapse to one, and a backslash among them is refused.
  std::size_t lead = 0;
  while (lead < p.path.size() && (p.path[lead] == '/' || p.path[lead] == '\\')) ++lead;
  if (lead > 1) {
    if (p.path.substr(0, lead).find('\\') != std::string_view::npos) p.ok = false;
    else p.path.remove_prefix(lead - 1);
  }
  if (need_host) {
    p.hostname = edge::host_without_port(head.host);
    p.host = p.hostname.empty() ? std::string_view{} : head.host;  // host_without_port checked all of it
    p.ok = p.ok && !p.hostname.empty();
  }
  return p;
}

// The Location text lives in the request's arena; the thread's scratch string avoids a heap
// allocation per redirect.
std::string& scratch() {
  thread_local std::string text;
  text.clear();
  return text;
}

Outcome answer(Context& ctx, int status, std::string_view location) {
  ctx.added_response_headers.emplace_back("Location", ctx.keep(location));
  ctx.respond(status);
  return Outcome::respond;
}

Outcome refuse(Context& ctx) {
  ctx.error = {ErrorKind::bad_request, ErrorSource::downstream, 400, "cannot redirect: invalid Host, path or query",
               false};
  return Outcome::fail;
}

class RedirectFilter final : public Filter {
 public:
  RedirectFilter(FilterType type, int status, std::vector<Part> parts)
      : Filter("redirect", type, redirect_order), status_(status), parts_(std::move(parts)) {
    for (const Part& p : parts_) needs_host_ = needs_host_ || p.piece == Piece::host || p.piece == Piece::hostname;
  }

  Outcome run(Context& ctx) const override {
    const Pieces p = pieces_of(ctx, needs_host_);
    if (!p.ok) return refuse(ctx);
    std::string& out = scratch();
    for (const Part& part : parts_) {
      switch (part.piece) {
        case Piece::literal: out += part.text; break;
        case Piece::scheme: out += ctx.secure ? "https" : "http"; break;
        case Piece::host: out += p.host; break;
        case Piece::hostname: out += p.hostname; break;
        case Piece::path: out += p.path; break;
        case Piece::query: out += p.query; break;
        case Piece::query_with_mark:
          if (!p.query.empty()) (out += '?') += p.query;
          break;
        case Piece::request_uri:
          out += p.path;
          if (!p.query.empty()) (out += '?') += p.query;
          break;
      }
    }
    return answer(ctx, status_, out);
  }

 private:
  int status_;
  std::vector<Part> parts_;
  bool needs_host_ = false;
};

class HttpsRedirectFilter final : public Filter {
 public:
  HttpsRedirectFilter(int status, int preserve_status, int port)
      : Filter("https_redirect", FilterType::pre, https_redirect_order), status_(status),
        preserve_status_(preserve_status), port_suffix_(port == 443 ? "" : ":" + std::to_string(port)) {}

  bool should_filter(const Context& ctx) const override { return !ctx.secure; }

  Outcome run(Context& ctx) const override {
    const Pieces p = pieces_of(ctx, true);
    if (!p.ok) return refuse(ctx);
    std::string& out = scratch();
    ((out += "https://") += p.hostname) += port_suffix_;
    out += p.path;
    if (!p.query.empty()) (out += '?') += p.query;
    const http::Method m = ctx.request->method;
    return answer(ctx, m == http::Method::get || m == http::Method::head ? status_ : preserve_status_, out);
  }

 private:
  int status_;
  int preserve_status_;
  std::string port_suffix_;
};

// "https://{host}{request_uri}" -> literal "https://", host, request_uri.
std::optional<std::vector<Part>> compile(const std::string& text, std::string& why) {
  static const std::pair<std::string_view, Piece> names[] = {
      {"scheme", Piece::scheme}, {"host", Piece::host},   {"hostname", Piece::hostname},
      {"path", Piece::path},     {"query", Piece::query}, {"?query", Piece::query_with_mark},
      {"request_uri", Piece::request_uri}};
  std::vector<Part> parts;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t open = text.find_first_of("{}", i);
    std::string literal = text.substr(i, open == std::string::npos ? std::string::npos : open - i);
    if (!edge::is_visible_ascii(literal)) {
      why = "must be printable ASCII without spaces (percent-encode the rest)";
      return std::nullopt;
    }
    if (!literal.empty()) parts.push_back({Piece::literal, std::move(literal)});
    if (open == std::string::npos) break;
    const std::size_t close = text.find('}', open);
    if (text[open] == '}' || close == std::string::npos) {
      why = "has an unmatched brace";
      return std::nullopt;
    }
    const std::string_view name(text.data() + open + 1, close - open - 1);
    const auto* found =
        std::find_if(std::begin(names), std::end(names), [&](const auto& n) { return n.first == name; });
    if (found == std::end(names)) {
      why = "has an unknown placeholder (expected {scheme}, {host}, {hostname}, {path}, {query}, {?query} or "
            "{request_uri})";
      return std::nullopt;
    }
    parts.push_back({found->second, {}});
    i = close + 1;
  }
  if (!parts.empty()) return parts;
  why = "is empty";
  return std::nullopt;
}

std::optional<int> read_status(FilterArgs& args, const char* key, int fallback) {
  const auto status = args.integer(key, 0, 999);
  if (args.node(key) && (!status || !edge::is_redirect_status(*status))) {
    if (status) args.error(key, "must be 301, 302, 303, 307 or 308");
    return std::nullopt;
  }
  return status ? static_cast<int>(*status) : fallback;
}

}  // namespace

std::unique_ptr<Filter> make_redirect(FilterBuild& build) {
  const auto status = read_status(build.args, "status", 302);
  const auto location = build.args.string("location", true);
  const auto stage = build.args.string("stage");
  std::optional<std::vector<Part>> parts;
  if (location) {
    std::string why;
    parts = compile(*location, why);
    if (!parts) build.args.error("location", why);
  }
  if (stage && *stage != "pre" && *stage != "route") build.args.error("stage", "must be pre or route");
  if (!status || !parts || (stage && *stage != "pre" && *stage != "route")) return nullptr;
  const FilterType type = stage && *stage == "route" ? FilterType::route : FilterType::pre;
  return std::make_unique<RedirectFilter>(type, *status, std::move(*parts));
}

std::unique_ptr<Filter> make_https_redirect(FilterBuild& build) {
  const auto status = read_status(build.args, "status", 301);
  const auto preserve = read_status(build.args, "preserve_method_status", 308);
  const auto port = build.args.integer("port", 1, 65535);
  if (!status || !preserve || (build.args.node("port") && !port)) return nullptr;
  return std::make_unique<HttpsRedirectFilter>(*status, *preserve, static_cast<int>(port.value_or(443)));
}

}  // namespace portcullis::filters
