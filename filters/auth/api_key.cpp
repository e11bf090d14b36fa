// api_key: a pre filter that admits requests carrying a known API key (in a header or a query
// parameter), names the consumer it belongs to, and keeps the key from the upstream. Only SHA-256
// digests of the keys are held: the presented key is hashed and its digest looked up.
//
//   filters:
//     - name: api_key
//       args: { keys: [{ name: mobile, key_sha256: 9f86d0...0a08 }], keys_file: /etc/portcullis/keys }
#include <algorithm>
#include <cstring>

#include <openssl/crypto.h>

#include <yaml-cpp/yaml.h>

#include "filters/auth/auth_common.h"
#include "filters/auth/auth_filters.h"

namespace portcullis::filters {
namespace {

using auth::Sha256;

constexpr std::size_t max_key_bytes = 1024;  // longer keys are unknown without hashing them

// Open addressing over the digests; SHA-256 output is uniform, so its first bytes are the hash.
class DigestTable {
 public:
  void reserve(std::size_t n) {
    std::size_t size = 16;
    while (size < n * 2) size *= 2;
    slots_.assign(size, Slot{});
    mask_ = size - 1;
  }
  // False when the digest is already there.
  bool insert(const Sha256& digest, std::size_t consumer) {
    for (std::size_t i = start(digest);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.used) {
        s = {digest, consumer, true};
        return true;
      }
      if (s.digest == digest) return false;
    }
  }
  const std::size_t* find(const Sha256& digest) const {
    for (std::size_t i = start(digest);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (CRYPTO_memcmp(s.digest.data(), digest.data(), digest.size()) == 0) return &s.consumer;
    }
  }

 private:
  struct Slot {
    Sha256 digest{};
    std::size_t consumer = 0;
    bool used = false;
  };
  std::size_t start(const Sha256& d) const {
    std::uint64_t h;
    std::memcpy(&h, d.data(), sizeof h);
    return static_cast<std::size_t>(h) & mask_;
  }
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
};

struct Settings {
  std::string header = "x-api-key";
  std::string query_param;  // "" = keys are only read from the header
  std::string realm = "api";
  std::string consumer_header = "X-Consumer";
  bool strip = true;
  std::vector<std::string> names;
  std::vector<std::pair<Sha256, std::size_t>> digests;  // digest -> index into names
};

// The value of `name` in a query string (first occurrence) and how many times it occurs.
std::string_view query_value(std::string_view query, std::string_view name, int& count) {
  std::string_view found;
  count = 0;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = part.find('=');
    if (part.substr(0, eq) != name) continue;
    if (count++ == 0) found = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
  }
  return found;
}

// %XX-decodes into `out`; false when malformed or longer than `capacity`. '+' stays '+'.
bool percent_decode(std::string_view in, char* out, std::size_t capacity, std::size_t& size) {
  size = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (size == capacity) return false;
    if (in[i] != '%') {
      out[size++] = in[i];
      continue;
    }
    std::uint8_t byte;
    if (i + 2 >= in.size()) return false;
    if (!auth::hex_decode(in.substr(i + 1, 2), &byte, 1)) return false;
    out[size++] = static_cast<char>(byte);
    i += 2;
  }
  return true;
}

class ApiKeyFilter final : public Filter {
 public:
  explicit ApiKeyFilter(Settings s)
      : Filter("api_key", FilterType::pre, auth_filter_order), header_(std::move(s.header)),
        query_param_(std::move(s.query_param)), challenge_("ApiKey realm=\"" + s.realm + "\""),
        consumer_header_(std::move(s.consumer_header)), strip_(s.strip), names_(std::move(s.names)) {
    table_.reserve(s.digests.size());
    for (const auto& [digest, consumer] : s.digests) table_.insert(digest, consumer);
  }

  Outcome run(Context& ctx) const override {
    http::Fields& fields = ctx.request->fields;
    std::string_view key;
    char decoded[max_key_bytes];
    const std::size_t in_header = fields.count(header_);
    if (in_header > 1) return auth::refuse(ctx, 401, "more than one API key", challenge_);
    if (in_header == 1) {
      key = auth::trim(fields.get(header_));
    } else if (!query_param_.empty()) {
      int count = 0;
      const std::string_view raw = query_value(ctx.request->query, query_param_, count);
      if (count > 1) return auth::refuse(ctx, 401, "more than one API key", challenge_);
      std::size_t size = 0;
      if (!raw.empty()) {
        if (!percent_decode(raw, decoded, sizeof decoded, size)) return auth::refuse(ctx, 403, "unknown API key");
        key = std::string_view(decoded, size);
      }
    }
    if (key.empty()) return auth::refuse(ctx, 401, "missing API key", challenge_);
    if (key.size() > max_key_bytes) return auth::refuse(ctx, 403, "unknown API key");
    const std::size_t* consumer = table_.find(auth::sha256({key}));
    if (!consumer) return auth::refuse(ctx, 403, "unknown API key");
    if (strip_) {
      fields.remove(header_);
      if (!query_param_.empty()) strip_query(ctx);
    }
    auth::pass_consumer(ctx, consumer_header_, names_[*consumer]);
    return Outcome::proceed;
  }

 private:
  void strip_query(Context& ctx) const {
    std::string_view query = ctx.request->query;
    int count = 0;
    query_value(query, query_param_, count);
    if (count == 0) return;
    // Rebuilt in the request's arena, without the key's part; at most the old length.
    char* out = const_cast<char*>(ctx.keep(query).data());
    std::size_t size = 0;
    while (!query.empty()) {
      const std::size_t amp = query.find('&');
      const std::string_view part = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
      if (part.substr(0, part.find('=')) == query_param_) continue;
      if (size) out[size++] = '&';
      std::memcpy(out + size, part.data(), part.size());
      size += part.size();
    }
    ctx.request->query = std::string_view(out, size);
  }

  std::string header_;
  std::string query_param_;
  std::string challenge_;
  std::string consumer_header_;
  bool strip_;
  std::vector<std::string> names_;  // ctx.consumer points here: the filter outlives its requests
  DigestTable table_;
};

// A consumer name goes into a request header and the logs: visible ASCII, no ':' (file syntax).
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (unsigned char c : name)
    if (c <= 0x20 || c >= 0x7f || c == ':') return false;
  return true;
}

void add_key(Settings& s, std::string name, const Sha256& digest) {
  s.names.push_back(std::move(name));
  s.digests.emplace_back(digest, s.names.size() - 1);
}

// `keys: [{name, key_sha256}]`, or `{name, key}` (hashed here; the plain key is not kept).
void read_inline_keys(FilterArgs& args, Settings& s) {
  const YAML::Node keys = args.node("keys");
  if (!keys) return;
  if (!keys.IsSequence()) {
    args.error("keys", "must be a list of {name, key_sha256}");
    return;
  }
  if (keys.size() == 0) args.error("keys", "is empty");
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const YAML::Node k = keys[i];
    const std::string at = "keys[" + std::to_string(i) + "]";
    if (!k.IsMap()) {
      args.error("keys", at + ": must be a map {name, key_sha256}");
      continue;
    }
    bool known = true;
    for (const auto& kv : k) {
      const std::string field = kv.first.Scalar();
      known = known && (field == "name" || field == "key_sha256" || field == "key");
    }
    if (!known) {
      args.error("keys", at + ": only name, key_sha256 and key are allowed");
      continue;
    }
    const YAML::Node name = k["name"], hex = k["key_sha256"], plain = k["key"];
    if (!name || !name.IsScalar() || !valid_name(name.Scalar())) {
      args.error("keys", at + ".name: must be 1-128 visible characters without ':'");
      continue;
    }
    if (bool(hex) == bool(plain)) {
      args.error("keys", at + ": needs exactly one of key_sha256 and key");
      continue;
    }
    Sha256 digest{};
    if (hex) {
      if (!hex.IsScalar() || !auth::hex_decode(hex.Scalar(), digest.data(), digest.size())) {
        args.error("keys", at + ".key_sha256: must be 64 hex digits (the SHA-256 of the key)");
        continue;
      }
    } else {
      if (!plain.IsScalar() || plain.Scalar().empty() || plain.Scalar().size() > max_key_bytes) {
        args.error("keys", at + ".key: must be a string of 1-1024 bytes");
        continue;
      }
      digest = auth::sha256({plain.Scalar()});
    }
    add_key(s, name.Scalar(), digest);
  }
}

// `keys_file`: one `name:sha256hex` per line, # comments.
void read_keys_file(FilterArgs& args, Settings& s) {
  const auto path = args.string("keys_file");
  if (!path) return;
  std::string error;
  const auto lines = auth::read_credential_lines(*path, error);
  if (!lines) {
    args.error("keys_file", error);
    return;
  }
  if (lines->empty()) args.error("keys_file", *path + " holds no keys");
  for (const auth::FileLine& line : *lines) {
    const std::size_t colon = line.text.rfind(':');
    const std::string where = *path + ":" + std::to_string(line.number) + ": ";
    Sha256 digest{};
    if (colon == std::string::npos) {
      args.error("keys_file", where + "expected name:sha256hex");
      continue;
    }
    const std::string name(auth::trim(std::string_view(line.text).substr(0, colon)));
    if (!valid_name(name)) {
      args.error("keys_file", where + "the name must be 1-128 visible characters without ':'");
      continue;
    }
    if (!auth::hex_decode(auth::trim(std::string_view(line.text).substr(colon + 1)), digest.data(), digest.size())) {
      args.error("keys_file", where + "expected 64 hex digits (the SHA-256 of the key) after the name");
      continue;
    }
    add_key(s, name, digest);
  }
}

}  // namespace

std::unique_ptr<Filter> make_api_key(FilterBuild& build) {
  FilterArgs& args = build.args;
  Settings s;
  if (const auto header = args.string("header")) {
    if (!auth::is_header_name(*header)) args.error("header", "is not a valid header name");
    s.header = auth::lower(*header);
  }
  if (const auto param = args.string("query_param")) {
    if (param->empty() || param->find_first_of("&=#% ") != std::string::npos)
      args.error("query_param", "must be a plain parameter name");
    s.query_param = *param;
  }
  s.realm = auth::read_realm(args, "api");
  s.consumer_header = auth::read_consumer_header(args);
  s.strip = args.boolean("strip").value_or(true);
  read_inline_keys(args, s);
  read_keys_file(args, s);
  if (!args.node("keys") && !args.node("keys_file")) args.error("keys", "keys or keys_file is required");
  // Two consumers with one key would make the consumer depend on load order.
  std::vector<std::pair<Sha256, std::size_t>> sorted = s.digests;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i].first == sorted[i - 1].first)
      args.error("keys", "consumers " + s.names[sorted[i - 1].second] + " and " + s.names[sorted[i].second] +
                             " have the same key");
  if (s.digests.empty()) return nullptr;
  return std::make_unique<ApiKeyFilter>(std::move(s));
}

}  // namespace portcullis::filters
