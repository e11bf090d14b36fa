// hmac_auth: a pre filter that admits requests signed with a secret shared with the client
// (HMAC-SHA256 or HMAC-SHA512 over the method, the target, chosen headers, the date and the body's
// SHA-256), names the client's key id as the consumer, and refuses stale or altered requests.
//
//   Authorization: HMAC-SHA256 keyId="client-1",headers="date x-content-sha256",signature="BASE64"
//
//   filters:
//     - name: hmac_auth
//       args: { secrets_file: /etc/portcullis/hmac-secrets, clock_skew: 300s, enforce_headers: [host] }
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <unordered_map>

#include <yaml-cpp/yaml.h>

#include "filters/auth/auth_common.h"
#include "filters/auth/auth_filters.h"
#include "filters/auth/hmac_signature.h"
#include "http/message.h"
#include "util/units.h"

namespace portcullis::filters {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t min_secret_bytes = 16;

using hmac::Algorithm;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Secrets = std::unordered_map<std::string, std::string, StringHash, std::equal_to<>>;

struct Settings {
  Secrets secrets;
  std::vector<std::string> enforce_headers;  // lower case
  std::chrono::seconds clock_skew = 300s;
  std::size_t max_body = 1 << 20;
  bool allow_sha256 = true, allow_sha512 = true;
  bool strip = true;
  std::string consumer_header = "X-Consumer";
  std::string challenge;  // WWW-Authenticate
};

// One HMAC context per thread, re-keyed per request.
class Mac {
 public:
  Mac() : mac_(EVP_MAC_fetch(nullptr, "HMAC", nullptr)), ctx_(mac_ ? EVP_MAC_CTX_new(mac_) : nullptr) {}
  ~Mac() {
    EVP_MAC_CTX_free(ctx_);
    EVP_MAC_free(mac_);
  }
  bool init(Algorithm a, std::string_view key) {
    char* digest = const_cast<char*>(a == Algorithm::sha256 ? "SHA256" : "SHA512");
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    return ctx_ && EVP_MAC_init(ctx_, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) == 1;
  }
  void update(std::string_view text) { EVP_MAC_update(ctx_, reinterpret_cast<const unsigned char*>(text.data()), text.size()); }
  std::size_t final(std::uint8_t* out, std::size_t capacity) {
    std::size_t size = 0;
    return EVP_MAC_final(ctx_, out, &size, capacity) == 1 ? size : 0;
  }

 private:
  EVP_MAC* mac_;
  EVP_MAC_CTX* ctx_;
};

class HmacAuthFilter final : public Filter {
 public:
  explicit HmacAuthFilter(Settings s)
      : Filter("hmac_auth", FilterType::pre, auth_filter_order), s_(std::move(s)) {}

  // The body is read only for a request whose head already passes: a known key id, a fresh date
  // and a valid signature (which covers the digest header); the digest is checked after.
  std::size_t body_limit(const Context& ctx) const override {
    hmac::Signature sig;
    SignedNames names;
    const Secrets::value_type* credential = nullptr;
    return check_head(ctx, sig, names, credential) ? 0 : s_.max_body;
  }

  Outcome run(Context& ctx) const override {
    hmac::Signature sig;
    SignedNames names;
    const Secrets::value_type* credential = nullptr;
    const char* problem = check_head(ctx, sig, names, credential);
    if (!problem) problem = check_body(ctx);
    if (problem) return deny(ctx, problem);
    if (s_.strip) ctx.request->fields.remove("authorization");
    auth::pass_consumer(ctx, s_.consumer_header, credential->first);
    return Outcome::proceed;
  }

 private:
  // The header names in `headers="..."`, in order.
  struct SignedNames : hmac::SignedNames {
    bool x_date = false;  // X-Date is signed: it is the request's date
  };

  // Each check returns nullptr when it passes, otherwise the refusal's message (never a secret).
  const char* read_authorization(const http::Fields& fields, hmac::Signature& sig) const {
    if (fields.count("authorization") != 1) return "missing or repeated Authorization header";
    return hmac::parse_authorization(fields.get("authorization"), s_.allow_sha256, s_.allow_sha512, sig);
  }

  // Each name once and lower case, each header present once in the request, the required ones listed.
  const char* read_signed_names(const http::Fields& fields, std::string_view list, SignedNames& out) const {
    if (const char* problem = hmac::split_signed_names(list, out)) return problem;
    bool date = false, digest = false;
    for (std::size_t i = 0; i < out.count; ++i) {
      const std::string_view name = out.names[i];
      if (fields.count(name) != 1) return "a signed header is missing or repeated";
      date = date || name == "date";
      out.x_date = out.x_date || name == "x-date";
      digest = digest || name == "x-content-sha256";
    }
    if (!date && !out.x_date) return "the date or x-date header must be signed";
    if (!digest) return "the x-content-sha256 header must be signed";
    const auto listed_end = out.names.begin() + static_cast<std::ptrdiff_t>(out.count);
    for (const std::string& required : s_.enforce_headers)
      if (std::find(out.names.begin(), listed_end, required) == listed_end) return "a required header is not signed";
    return nullptr;
  }

  // Everything but the body: the Authorization header, the key id, the signed names, the date and
  // the signature (which covers the x-content-sha256 value, checked against the body later).
  const char* check_head(const Context& ctx, hmac::Signature& sig, SignedNames& names,
                         const Secrets::value_type*& credential) const {
    const http::Fields& fields = ctx.request->fields;
    if (const char* problem = read_authorization(fields, sig)) return problem;
    const auto found = s_.secrets.find(sig.key_id);
    if (found == s_.secrets.end()) return "unknown key id";
    credential = &*found;
    if (const char* problem = read_signed_names(fields, sig.headers, names)) return problem;
    const auto date = hmac::parse_imf_fixdate(auth::trim(fields.get(names.x_date ? "x-date" : "date")));
    if (!date) return "malformed date";
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (*date < now - s_.clock_skew.count() || *date > now + s_.clock_skew.count())
      return "the request date is outside the allowed clock skew";
    return check_signature(ctx, sig, names, found->second);
  }

  const char* check_body(const Context& ctx) const {
    std::uint8_t claimed[32];
    if (!auth::hex_decode(auth::trim(ctx.request->fields.get("x-content-sha256")), claimed, sizeof claimed))
      return "malformed x-content-sha256";
    // No body read (none sent, or a unit test): the digest of the empty body.
    const auth::Sha256 actual = auth::sha256({ctx.request_body ? std::string_view(*ctx.request_body) : std::string_view{}});
    if (CRYPTO_memcmp(actual.data(), claimed, sizeof claimed) != 0) return "the body does not match x-content-sha256";
    return nullptr;
  }

  // HMAC over "METHOD\nTARGET\nname: value\n...": fed to the MAC piece by piece, never assembled.
  const char* check_signature(const Context& ctx, const hmac::Signature& sig, const SignedNames& names,
                              const std::string& secret) const {
    const std::size_t expected_size = sig.algorithm == Algorithm::sha256 ? 32 : 64;
    std::uint8_t presented[64];
    const auto presented_size = auth::base64_decode(sig.signature, presented, sizeof presented);
    if (!presented_size || *presented_size != expected_size) return "malformed or truncated signature";
    thread_local Mac mac;
    if (!mac.init(sig.algorithm, secret)) return "signature check unavailable";
    const http::RequestHead& request = *ctx.request;
    mac.update(request.method_text);
    mac.update("\n");
    if (!request.absolute_form) {
      mac.update(request.target);
    } else {
      mac.update(request.path);
      if (!request.query.empty()) {
        mac.update("?");
        mac.update(request.query);
      }
    }
    for (std::size_t i = 0; i < names.count; ++i) {
      mac.update("\n");
      mac.update(names.names[i]);
      mac.update(": ");
      mac.update(auth::trim(request.fields.get(names.names[i])));
    }
    std::uint8_t computed[EVP_MAX_MD_SIZE];
    if (mac.final(computed, sizeof computed) != expected_size || CRYPTO_memcmp(computed, presented, expected_size) != 0)
      return "signature mismatch";
    return nullptr;
  }

  Outcome deny(Context& ctx, const char* message) const {
    return auth::refuse(ctx, 401, message, s_.challenge);
  }

  Settings s_;  // ctx.consumer points at a key of s_.secrets: the filter outlives its requests
};

bool valid_key_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id)
    if (c <= 0x20 || c >= 0x7f || c == ':' || c == '"' || c == ',') return false;
  return true;
}

// Checks a key id and a secret; the message names the key id, never the secret.
const char* credential_problem(std::string_view id, std::string_view secret) {
  if (!valid_key_id(id)) return "the key id must be 1-128 visible characters without ':', '\"' or ','";
  if (secret.size() < min_secret_bytes) return "the secret is shorter than 16 bytes";
  return nullptr;
}

void add_secret(FilterArgs& args, const char* key, Settings& s, const std::string& where, std::string id,
                std::string secret) {
  if (const char* problem = credential_problem(id, secret)) {
    args.error(key, where + problem);
    return;
  }
  if (s.secrets.count(id)) {
    args.error(key, where + "key id " + id + " is repeated");
    return;
  }
  s.secrets.emplace(std::move(id), std::move(secret));
}

void read_credentials(FilterArgs& args, Settings& s) {
  const YAML::Node list = args.node("credentials");
  if (!list) return;
  if (!list.IsSequence() || list.size() == 0) {
    args.error("credentials", "must be a non-empty list of {key_id, secret}");
    return;
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node c = list[i];
    const std::string at = "credentials[" + std::to_string(i) + "]: ";
    bool ok = c.IsMap() && c.size() == 2 && c["key_id"] && c["key_id"].IsScalar() && c["secret"] && c["secret"].IsScalar();
    if (!ok) {
      args.error("credentials", at + "must be a map {key_id, secret}");
      continue;
    }
    add_secret(args, "credentials", s, at, c["key_id"].Scalar(), c["secret"].Scalar());
  }
}

void read_secrets_file(FilterArgs& args, Settings& s) {
  const auto path = args.string("secrets_file");
  if (!path) return;
  std::string error;
  const auto lines = auth::read_credential_lines(*path, error);
  if (!lines) {
    args.error("secrets_file", error);
    return;
  }
  if (lines->empty()) args.error("secrets_file", *path + " holds no secrets");
  for (const auth::FileLine& line : *lines) {
    const std::string where = *path + ":" + std::to_string(line.number) + ": ";
    const std::size_t colon = line.text.find(':');
    if (colon == std::string::npos) {
      args.error("secrets_file", where + "expected key_id:secret");
      continue;
    }
    add_secret(args, "secrets_file", s, where, line.text.substr(0, colon), line.text.substr(colon + 1));
  }
}

}  // namespace

std::unique_ptr<Filter> make_hmac_auth(FilterBuild& build) {
  FilterArgs& args = build.args;
  Settings s;
  read_credentials(args, s);
  read_secrets_file(args, s);
  if (!args.node("credentials") && !args.node("secrets_file"))
    args.error("credentials", "credentials or secrets_file is required");
  if (const auto skew = args.duration("clock_skew", 1s, 24h))
    s.clock_skew = std::chrono::duration_cast<std::chrono::seconds>(*skew);
  if (const auto size = args.size("max_body", 1, 1ull << 30)) s.max_body = static_cast<std::size_t>(*size);
  if (const auto algorithms = args.strings("algorithms")) {
    s.allow_sha256 = s.allow_sha512 = false;
    for (const std::string& a : *algorithms) {
      if (a == "hmac-sha256") s.allow_sha256 = true;
      else if (a == "hmac-sha512") s.allow_sha512 = true;
      else args.error("algorithms", "unknown algorithm " + a + " (hmac-sha256, hmac-sha512)");
    }
    if (algorithms->empty()) args.error("algorithms", "must not be empty");
  }
  for (const std::string& h : args.strings("enforce_headers").value_or(std::vector<std::string>{})) {
    if (!auth::is_header_name(h)) args.error("enforce_headers", h + " is not a valid header name");
    else s.enforce_headers.push_back(auth::lower(h));
  }
  s.strip = args.boolean("strip").value_or(true);
  s.consumer_header = auth::read_consumer_header(args);
  const std::string realm = auth::read_realm(args, "api");
  if (s.allow_sha256) s.challenge = "HMAC-SHA256 realm=\"" + realm + "\"";
  if (s.allow_sha512) s.challenge += (s.challenge.empty() ? "" : ", ") + std::string("HMAC-SHA512 realm=\"") + realm + "\"";
  if (s.secrets.empty()) return nullptr;
  return std::make_unique<HmacAuthFilter>(std::move(s));
}

}  // namespace portcullis::filters
