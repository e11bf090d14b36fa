// jwt: a pre filter that lets a request on only with a valid bearer JSON Web Token (JWS compact
// form): a signature by a configured key with an accepted algorithm, exp/nbf within the leeway,
// and the issuer and audience asked for. Chosen claims go to the origin as request headers (any
// copy the client sent is always removed first) and `sub` becomes ctx.consumer for rate_limit.
//
//   filters:
//     - name: jwt
//       args:
//         jwks_url: http://idp.internal:8080/.well-known/jwks.json
//         issuers: [https://idp.example.com/]
//         audiences: [orders-api]
//         forward_claims: { sub: X-User-Id, scope: X-Scopes }
//
// Missing token: 401 with `WWW-Authenticate: Bearer realm="..."`; a bad one: 401 with
// error="invalid_token"; jwks_url keys not fetched yet: 503. The token itself is never echoed.
#include "filters/auth/jwt.h"

#include <algorithm>
#include <array>
#include <charconv>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include <yaml-cpp/yaml.h>

#include "discovery/http_client.h"
#include "filters/auth/jwt_token.h"
#include "http/parser.h"
#include "observability/metrics.h"
#include "util/units.h"

namespace portcullis::filters {
namespace {

using jwt::Alg;
using jwt::Key;
using jwt::KeySet;
using json = nlohmann::json;

constexpr int default_order = 10;  // before rate_limit (20), which may key on ctx.consumer

// Where a token came from: only a header token can be stripped.
enum class Source { none, header, cookie, query };

enum class Result { accepted, missing, invalid, unavailable };

struct Settings {
  std::string header = "authorization";  // lower case
  bool bearer_required = true;            // Authorization needs the Bearer scheme
  std::string cookie;
  std::string query_param;
  std::string realm = "portcullis";
  std::shared_ptr<const KeySet> keys = std::make_shared<KeySet>();
  std::string remote_url;
  jwt::RemoteKeys::Settings remote_settings;
  std::shared_ptr<jwt::RemoteKeys> remote;
  std::array<bool, jwt::alg_count> allowed{};
  std::int64_t leeway = 30;
  std::vector<std::string> issuers, audiences, required;
  std::vector<std::pair<std::string, std::string>> forward;  // claim, header name
  std::string consumer_claim = "sub";
  bool strip_token = false;
  std::size_t max_token_bytes = 8192;
};

struct Counters {
  observability::CounterId accepted, missing, invalid, unavailable;
};

bool iequal_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  return true;
}

// `name=value` pairs separated by `sep` (cookies: ';', query: '&'); the first value of `name`.
std::string_view find_pair(std::string_view text, std::string_view name, char sep, bool& found) {
  while (!text.empty()) {
    const std::size_t end = text.find(sep);
    std::string_view pair = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      found = true;
      return pair.substr(eq + 1);
    }
  }
  return {};
}

// Header values must not smuggle a line break (or any control byte) into the origin's request.
bool fits_header(std::string_view text) {
  for (unsigned char c : text)
    if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
  return true;
}

// A claim as header text: strings as they are, numbers and booleans as JSON writes them, arrays
// of those joined by spaces. false for objects, null and nested arrays (then nothing is set).
bool append_claim_text(const json& value, std::string& out, bool top = true) {
  if (value.is_string()) {
    out += value.get_ref<const std::string&>();
  } else if (value.is_number_integer() || value.is_number_unsigned()) {
    char buf[24];
    auto r = value.is_number_unsigned() ? std::to_chars(buf, buf + sizeof buf, value.get<std::uint64_t>())
                                        : std::to_chars(buf, buf + sizeof buf, value.get<std::int64_t>());
    out.append(buf, r.ptr);
  } else if (value.is_number_float() || value.is_boolean()) {
    out += value.dump();
  } else if (value.is_array() && top) {
    bool first = true;
    for (const auto& item : value) {
      if (!first) out += ' ';
      first = false;
      if (!append_claim_text(item, out, false)) return false;
    }
  } else {
    return false;
  }
  return true;
}

class JwtFilter final : public Filter {
 public:
  JwtFilter(Settings s, observability::Registry& metrics, Counters counters)
      : Filter("jwt", FilterType::pre, default_order), s_(std::move(s)), metrics_(&metrics), counters_(counters) {
    missing_challenge_ = "Bearer realm=\"" + s_.realm + "\"";
    invalid_challenge_ = missing_challenge_ + ", error=\"invalid_token\"";
    request_challenge_ = missing_challenge_ + ", error=\"invalid_request\"";
  }

  Outcome run(Context& ctx) const override {
    http::Fields& fields = ctx.request->fields;
    // Whatever happens next, the origin must never see a client's own copy of these headers.
    for (const auto& [claim, header] : s_.forward) fields.remove_any_spelling(header);

    Source source = Source::none;
    bool ambiguous = false;
    const std::string_view token = find_token(ctx, source, ambiguous);
    if (ambiguous) return refuse(ctx, Result::invalid, 400, request_challenge_, "more than one bearer token");
    if (source == Source::none) return refuse(ctx, Result::missing, 401, missing_challenge_, "bearer token required");
    if (token.size() > s_.max_token_bytes) return invalid(ctx, "token too large");
    return check(ctx, token, source);
  }

 private:
  std::string_view find_token(const Context& ctx, Source& source, bool& ambiguous) const {
    const http::Fields& fields = ctx.request->fields;
    if (const std::size_t n = fields.count(s_.header); n > 0) {
      ambiguous = n > 1;
      std::string_view value = fields.get(s_.header);
      if (iequal_prefix(value, "bearer ")) {
        value.remove_prefix(7);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      } else if (s_.bearer_required) {
        value = {};  // another scheme (Basic ...): not ours, the token is missing
      }
      if (!value.empty()) {
        source = Source::header;
        return value;
      }
    }
    bool found = false;
    if (!s_.cookie.empty()) {
      for (const http::Field& f : fields.items()) {
        if (!http::iequals(f.name, "cookie")) continue;
        const std::string_view value = find_pair(f.value, s_.cookie, ';', found);
        if (found) {
          source = Source::cookie;
          return value;
        }
      }
    }
    if (!s_.query_param.empty()) {
      const std::string_view value = find_pair(ctx.request->query, s_.query_param, '&', found);
      if (found) {
        source = Source::query;
        return value;
      }
    }
    return {};
  }

  Outcome check(Context& ctx, std::string_view text, Source source) const {
    // One per thread: after the first requests, decoding allocates nothing.
    thread_local jwt::Token token;
    if (const char* problem = jwt::decode_token(text, s_.allowed, token)) return invalid(ctx, problem);
    const char* reason = "";
    const Result verdict = verify(token.alg, token.has_kid, token.kid, token.signing_input, token.signature, reason);
    if (verdict == Result::unavailable) {
      s_.remote->refresh_soon();
      metrics_->shard(ctx.worker).inc(counters_.unavailable);
      ctx.error = {ErrorKind::unavailable, ErrorSource::internal, 503, "signing keys not loaded yet", true};
      return Outcome::fail;
    }
    if (verdict != Result::accepted) return invalid(ctx, reason);

    const json claims = json::parse(token.payload_text, nullptr, false);
    if (claims.is_discarded() || !claims.is_object()) return invalid(ctx, "malformed token");
    if ((reason = check_claims(claims))) return invalid(ctx, reason);
    if (!forward(ctx, claims)) return invalid(ctx, "claim not usable as a header value");
    if (s_.strip_token && source == Source::header) ctx.request->fields.remove(s_.header);
    metrics_->shard(ctx.worker).inc(counters_.accepted);
    return Outcome::proceed;
  }

  // Tries the keys that may have made this signature: only the token's kid when it names one,
  // and only keys of the algorithm's type.
  Result verify(Alg alg, bool has_kid, std::string_view kid, std::string_view input, std::string_view sig,
                const char*& reason) const {
    bool kid_known = false, tried = false;
    auto try_set = [&](const KeySet& set) {
      for (const Key& key : set.keys) {
        if (has_kid && key.kid != kid) continue;
        kid_known = true;
        if (!key.fits(alg)) continue;
        tried = true;
        if (jwt::verify_signature(key, alg, input, sig)) return true;
      }
      return false;
    };
    if (try_set(*s_.keys)) return Result::accepted;
    const KeySet* remote = s_.remote ? s_.remote->current().get() : nullptr;
    if (remote && try_set(*remote)) return Result::accepted;
    // The jwks_url keys have not arrived: the token may well be signed by one of them, unless its
    // kid named a static key.
    if (s_.remote && !remote && !(has_kid && kid_known)) return Result::unavailable;
    if (has_kid && !kid_known) {
      if (s_.remote) s_.remote->refresh_soon();  // perhaps a key published since the last fetch
      reason = "unknown key";
    } else {
      reason = tried ? "invalid signature" : "no key for this algorithm";
    }
    return Result::invalid;
  }

  // nullptr when the registered claims are acceptable, else why not.
  const char* check_claims(const json& claims) const {
    for (const std::string& name : s_.required)
      if (!claims.contains(name)) return "required claim missing";
    const std::int64_t now = jwt::now_seconds();
    if (auto exp = claims.find("exp"); exp != claims.end()) {
      if (!exp->is_number()) return "malformed token";
      if (static_cast<double>(now) >= exp->get<double>() + static_cast<double>(s_.leeway)) return "token expired";
    }
    if (auto nbf = claims.find("nbf"); nbf != claims.end()) {
      if (!nbf->is_number()) return "malformed token";
      if (static_cast<double>(now) + static_cast<double>(s_.leeway) < nbf->get<double>()) return "token not yet valid";
    }
    if (!s_.issuers.empty()) {
      auto iss = claims.find("iss");
      if (iss == claims.end() || !iss->is_string() ||
          std::find(s_.issuers.begin(), s_.issuers.end(), iss->get_ref<const std::string&>()) == s_.issuers.end())
        return "issuer not accepted";
    }
    if (!s_.audiences.empty() && !audience_ok(claims)) return "audience not accepted";
    return nullptr;
  }

  bool audience_ok(const json& claims) const {
    auto aud = claims.find("aud");
    if (aud == claims.end()) return false;
    auto accepted = [&](const json& v) {
      return v.is_string() && std::find(s_.audiences.begin(), s_.audiences.end(), v.get_ref<const std::string&>()) !=
                                  s_.audiences.end();
    };
    if (aud->is_array()) return std::any_of(aud->begin(), aud->end(), accepted);
    return accepted(*aud);
  }

  bool forward(Context& ctx, const json& claims) const {
    thread_local std::string text;
    for (const auto& [claim, header] : s_.forward) {
      auto value = claims.find(claim);
      text.clear();
      if (value == claims.end() || !append_claim_text(*value, text)) continue;
      if (!fits_header(text)) return false;
      ctx.request->fields.add(header, ctx.keep(text));
    }
    if (auto consumer = claims.find(s_.consumer_claim); consumer != claims.end()) {
      text.clear();
      if ((consumer->is_string() || consumer->is_number_integer() || consumer->is_number_unsigned()) &&
          append_claim_text(*consumer, text)) {
        if (!fits_header(text)) return false;  // it may become a Redis key or a log field
        ctx.consumer = ctx.keep(text);
      }
    }
    return true;
  }

  Outcome invalid(Context& ctx, const char* reason) const {
    return refuse(ctx, Result::invalid, 401, invalid_challenge_, reason);
  }

  Outcome refuse(Context& ctx, Result result, int status, const std::string& challenge, const char* reason) const {
    metrics_->shard(ctx.worker).inc(result == Result::missing ? counters_.missing : counters_.invalid);
    ctx.added_response_headers.emplace_back("WWW-Authenticate", challenge);
    ctx.error = {ErrorKind::rejected, ErrorSource::downstream, status, reason, false};
    return Outcome::fail;
  }

  Settings s_;
  std::string missing_challenge_, invalid_challenge_, request_challenge_;
  observability::Registry* metrics_;
  Counters counters_;
};

bool is_token_name(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (!http::is_token_char(c)) return false;
  return true;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// A duration arg, checked against a range; `fallback` when absent.
std::chrono::milliseconds read_duration(FilterArgs& args, const std::string& key, std::chrono::milliseconds fallback,
                                        std::chrono::milliseconds min, std::chrono::milliseconds max) {
  const auto parsed = args.duration(key, min, max);
  if (!parsed) return fallback;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*parsed);
}

void read_token_location(FilterArgs& args, Settings& s) {
  if (const auto header = args.string("header")) {
    if (!is_token_name(*header)) args.error("header", "must be a header name");
    s.header = lower(*header);
    s.bearer_required = s.header == "authorization";
  }
  if (const auto cookie = args.string("cookie")) {
    if (!is_token_name(*cookie)) args.error("cookie", "must be a cookie name");
    s.cookie = *cookie;
  }
  if (const auto param = args.string("query_param")) {
    if (param->empty() || param->find_first_of("&=#? ") != std::string::npos)
      args.error("query_param", "must be a query parameter name");
    s.query_param = *param;
  }
  if (const auto realm = args.string("realm")) {
    bool ok = !realm->empty();
    for (unsigned char c : *realm) ok = ok && c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
    if (!ok) args.error("realm", "must be printable ASCII without quotes or backslashes");
    s.realm = *realm;
  }
  if (const auto max = args.integer("max_token_bytes", 64, 1 << 20)) s.max_token_bytes = static_cast<std::size_t>(*max);
  s.strip_token = args.boolean("strip_token").value_or(false);
}

// Keys: a JWKS file, an inline HMAC secret and a jwks_url, in any combination (at least one).
void read_keys(FilterArgs& args, Settings& s) {
  auto keys = std::make_shared<KeySet>();
  if (const auto path = args.string("jwks_file")) {
    std::ifstream in(*path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string error;
    if (!in) {
      args.error("jwks_file", "cannot read " + *path);
    } else if (auto set = jwt::parse_jwks(text.str(), error)) {
      keys->keys = set->keys;
    } else {
      args.error("jwks_file", *path + ": " + error);
    }
  }
  // The secret's value is never part of a message: only its length is.
  if (auto secret = args.string("secret")) {
    if (secret->size() < jwt::min_secret_bytes)
      args.error("secret", "must be at least 32 bytes (HS256 needs 32, HS384 48, HS512 64); it has " +
                               std::to_string(secret->size()));
    else
      keys->keys.push_back(jwt::secret_key(std::move(*secret)));
  }
  jwt::RemoteKeys::Settings remote;
  remote.refresh = read_duration(args, "jwks_refresh", remote.refresh, std::chrono::seconds(1), std::chrono::hours(24 * 7));
  remote.min_refresh = read_duration(args, "jwks_min_refresh", remote.min_refresh, std::chrono::milliseconds(1),
                                     std::chrono::hours(24));
  remote.timeout = read_duration(args, "jwks_timeout", remote.timeout, std::chrono::milliseconds(10), std::chrono::minutes(1));
  if (const auto url = args.string("jwks_url")) {
    std::string error;
    if (!discovery::parse_url(*url, error)) args.error("jwks_url", error);
    else s.remote_url = *url;
  } else {
    for (const char* key : {"jwks_refresh", "jwks_min_refresh", "jwks_timeout"})
      if (args.node(key)) args.error(key, "only with jwks_url");
  }
  s.remote_settings = remote;
  if (keys->keys.empty() && s.remote_url.empty() && !args.node("jwks_file") && !args.node("secret"))
    args.error("jwks_file", "the jwt filter needs keys: jwks_file, secret or jwks_url");
  s.keys = std::move(keys);
}

// The accepted algorithms: the `algorithms` list, or by default every algorithm a configured key
// can verify (for jwks_url: the RSA and EC ones; its keys are not known yet).
void read_algorithms(FilterArgs& args, Settings& s) {
  std::array<bool, jwt::alg_count> fit{};
  for (std::size_t i = 0; i < jwt::alg_count; ++i) {
    for (const Key& key : s.keys->keys) fit[i] = fit[i] || key.fits(static_cast<Alg>(i));
    if (!s.remote_url.empty() && static_cast<Alg>(i) >= Alg::rs256) fit[i] = true;
  }
  const auto names = args.strings("algorithms");
  if (!names) {
    s.allowed = fit;
    return;
  }
  bool any = false;
  for (const std::string& name : *names) {
    const auto alg = jwt::alg_from(name);
    if (!alg) {
      args.error("algorithms", name == "none" || name == "NONE" ? std::string("\"none\" is never accepted")
                                                                 : "unknown algorithm " + name);
      continue;
    }
    s.allowed[static_cast<std::size_t>(*alg)] = true;
    any = any || fit[static_cast<std::size_t>(*alg)] || !s.remote_url.empty();
  }
  if (!any && !names->empty() && !s.keys->keys.empty())
    args.error("algorithms", "no configured key can verify any of these algorithms");
  if (names->empty()) args.error("algorithms", "must list at least one algorithm");
}

void read_claims(FilterArgs& args, Settings& s) {
  const auto leeway = read_duration(args, "leeway", std::chrono::seconds(30), std::chrono::milliseconds(0),
                                    std::chrono::hours(24));
  s.leeway = std::chrono::duration_cast<std::chrono::seconds>(leeway).count();
  s.issuers = args.strings("issuers").value_or(std::vector<std::string>{});
  s.audiences = args.strings("audiences").value_or(std::vector<std::string>{});
  s.required = args.strings("require").value_or(std::vector<std::string>{});
  if (const auto claim = args.string("consumer_claim")) s.consumer_claim = *claim;
  const YAML::Node forward = args.node("forward_claims");
  if (!forward) return;
  if (!forward.IsMap()) {
    args.error("forward_claims", "must map claim names to header names, e.g. { sub: X-User-Id }");
    return;
  }
  for (const auto& item : forward) {
    if (!item.first.IsScalar() || !item.second.IsScalar()) {
      args.error("forward_claims", "must map claim names to header names, e.g. { sub: X-User-Id }");
      continue;
    }
    const std::string header = item.second.Scalar();
    const std::string name = lower(header);
    if (!is_token_name(header) || name == "host" || name == "content-length" || name == "transfer-encoding" ||
        name == "connection" || name == s.header)
      args.error("forward_claims", "cannot forward a claim into header " + header);
    else
      s.forward.emplace_back(item.first.Scalar(), header);
  }
}

}  // namespace

std::unique_ptr<Filter> make_jwt(FilterBuild& build) {
  FilterArgs& args = build.args;
  Settings s;
  read_token_location(args, s);
  read_keys(args, s);
  read_algorithms(args, s);
  read_claims(args, s);
  // The fetch starts once the args are read; a reload finds the URL's keys already there.
  if (!s.remote_url.empty()) s.remote = jwt::RemoteKeys::acquire(s.remote_url, s.remote_settings, build.state);
  observability::Registry& metrics = build.metrics();
  auto decisions = [&](const char* result) {
    return metrics.counter("portcullis_jwt_decisions_total", "JWT checks, by result.",
                           {{"route", build.route_id}, {"result", result}});
  };
  Counters counters{decisions("accepted"), decisions("missing"), decisions("invalid"), decisions("unavailable")};
  return std::make_unique<JwtFilter>(std::move(s), metrics, counters);
}

}  // namespace portcullis::filters
