// basic_auth: a pre filter that checks HTTP Basic credentials against an htpasswd file (bcrypt,
// SHA-crypt or {SHA} hashes), names the user as the consumer and keeps the credentials from the
// upstream. bcrypt costs tens of milliseconds by design, so a credential that was verified once is
// remembered (as a salted digest, per thread) and not hashed with bcrypt again.
//
//   filters:
//     - name: basic_auth
//       args: { htpasswd: /etc/portcullis/htpasswd, realm: admin }
#include <crypt.h>

#include <cctype>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <functional>
#include <unordered_map>
#include <atomic>
#include <optional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "filters/auth/auth_common.h"
#include "filters/auth/auth_filters.h"
#include "http/message.h"

namespace portcullis::filters {
namespace {

using auth::Sha256;

constexpr std::size_t max_credentials = 4096;  // base64 characters; longer is refused unread
constexpr std::size_t max_decoded = max_credentials / 4 * 3;

enum class HashKind { crypt, sha1 };

struct Account {
  HashKind kind = HashKind::crypt;
  std::string hash;                     // crypt(3) string ($2y$..., $5$..., $6$...)
  std::array<std::uint8_t, 20> sha1{};  // {SHA}
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Accounts = std::unordered_map<std::string, Account, StringHash, std::equal_to<>>;

// Credentials verified on this thread, for every basic_auth filter: each filter salts its keys
// with its own random bytes, so filters (and the filters of an older config) never share an entry.
// 4-way sets, 1024 entries (32 KiB), allocated on a thread's first verification.
class VerifiedCache {
 public:
  bool contains(const Sha256& key) const {
    const std::size_t set = set_of(key);
    for (std::size_t w = 0; w < ways; ++w)
      if (CRYPTO_memcmp(entries_[set * ways + w].data(), key.data(), key.size()) == 0) return true;
    return false;
  }
  void add(const Sha256& key) {
    const std::size_t set = set_of(key);
    entries_[set * ways + next_[set]] = key;
    next_[set] = static_cast<std::uint8_t>((next_[set] + 1) % ways);
  }

 private:
  static constexpr std::size_t sets = 256, ways = 4;
  static std::size_t set_of(const Sha256& key) { return key[0]; }
  std::array<Sha256, sets * ways> entries_{};  // all-zero = empty; no SHA-256 output is expected to be
  std::array<std::uint8_t, sets> next_{};
};

VerifiedCache& verified_cache() {
  thread_local std::unique_ptr<VerifiedCache> cache = std::make_unique<VerifiedCache>();
  return *cache;
}

bool crypt_matches(const std::string& hash, const char* password) {
  // Zeroed once (make_unique value-initialises), as libxcrypt asks before the first call.
  thread_local std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(password, hash.c_str(), data.get(), sizeof(crypt_data));
  return out && std::strlen(out) == hash.size() && CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
}

// The threads that run crypt(3) for the data path: half the CPUs, at least one.
boost::asio::thread_pool& hash_pool() {
  static boost::asio::thread_pool pool(std::max(1u, std::thread::hardware_concurrency() / 2));
  return pool;
}
// Parameters by value: they live in the coroutine's frame while it runs on the pool.
boost::asio::awaitable<bool> hash_on_pool(std::string hash, std::string password) {
  co_return crypt_matches(hash, password.c_str());
}
constexpr int max_pending_hashes = 64;
std::atomic<int> pending_hashes{0};

bool sha1_matches(const std::array<std::uint8_t, 20>& expected, std::string_view password) {
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(password.data(), password.size(), digest.data(), &size, EVP_sha1(), nullptr) != 1 || size != 20)
    return false;
  return CRYPTO_memcmp(digest.data(), expected.data(), expected.size()) == 0;
}

class BasicAuthFilter final : public Filter {
 public:
  BasicAuthFilter(Accounts accounts, std::string realm, std::string consumer_header, bool strip, bool cache)
      : Filter("basic_auth", FilterType::pre, auth_filter_order), accounts_(std::move(accounts)),
        challenge_("Basic realm=\"" + realm + "\", charset=\"UTF-8\""), consumer_header_(std::move(consumer_header)),
        strip_(strip), cache_(cache) {
    if (RAND_bytes(salt_.data(), static_cast<int>(salt_.size())) != 1) throw std::runtime_error("no random bytes");
  }

  // The synchronous path (bcrypt on the calling thread); the pipeline uses run_async.
  Outcome run(Context& ctx) const override {
    Attempt a;
    if (auto decided = prepare(ctx, a)) return *decided;
    return finish(ctx, a, crypt_matches(a.account->second.hash, a.password.data()));
  }

  // bcrypt and SHA-crypt take milliseconds: on the data path they run on a small pool of their own
  // threads, never on a worker's event loop, and at most `max_pending_hashes` wait at once (more
  // are answered 503 at once: a flood of wrong passwords must not stall the gateway).
  bool is_async() const override { return true; }
  boost::asio::awaitable<Outcome> run_async(Context& ctx) const override {
    Attempt a;
    if (auto decided = prepare(ctx, a)) co_return *decided;
    if (pending_hashes.fetch_add(1, std::memory_order_relaxed) >= max_pending_hashes) {
      pending_hashes.fetch_sub(1, std::memory_order_relaxed);
      ctx.error = {ErrorKind::unavailable, ErrorSource::internal, 503, "too many password checks in progress", true};
      co_return Outcome::fail;
    }
    const bool matched = co_await boost::asio::co_spawn(
        hash_pool(), hash_on_pool(a.account->second.hash, std::string(a.password)), boost::asio::use_awaitable);
    pending_hashes.fetch_sub(1, std::memory_order_relaxed);
    co_return finish(ctx, a, matched);
  }

 private:
  struct Attempt {
    const Accounts::value_type* account = nullptr;
    std::string_view user, password;  // views into `decoded`; the password is NUL-terminated
    char decoded[max_decoded + 1];
    Sha256 key{};
  };

  // Everything but a crypt(3) hash: the outcome when that decides it (malformed, unknown user,
  // {SHA}, a credential verified before), or nullopt when the password must be hashed.
  std::optional<Outcome> prepare(Context& ctx, Attempt& a) const {
    http::Fields& fields = ctx.request->fields;
    if (fields.count("authorization") != 1) return deny(ctx, "missing or repeated Authorization header");
    const std::string_view value = auth::trim(fields.get("authorization"));
    const std::size_t space = value.find(' ');
    if (space == std::string_view::npos || !http::iequals(value.substr(0, space), "basic"))
      return deny(ctx, "expected Basic credentials");
    const std::string_view encoded = auth::trim(value.substr(space + 1));
    if (encoded.size() > max_credentials) return deny(ctx, "credentials too long");
    const auto size = auth::base64_decode(encoded, reinterpret_cast<std::uint8_t*>(a.decoded), max_decoded);
    if (!size) return deny(ctx, "malformed Basic credentials");
    a.decoded[*size] = '\0';  // for crypt(3)
    const std::string_view text(a.decoded, *size);
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) return deny(ctx, "malformed Basic credentials");
    a.user = text.substr(0, colon);
    a.password = text.substr(colon + 1);
    // crypt(3) stops at a NUL: "secret\0anything" must not pass as "secret".
    if (a.password.find('\0') != std::string_view::npos) return deny(ctx, "invalid username or password");
    const auto account = accounts_.find(a.user);
    if (account == accounts_.end()) return deny(ctx, "invalid username or password");
    a.account = &*account;
    if (account->second.kind == HashKind::sha1) return finish(ctx, a, sha1_matches(account->second.sha1, a.password));
    if (cache_) {
      a.key = auth::sha256({std::string_view(reinterpret_cast<const char*>(salt_.data()), salt_.size()), a.user, ":",
                            a.password});
      if (verified_cache().contains(a.key)) return finish(ctx, a, true);
    }
    return std::nullopt;
  }

  Outcome finish(Context& ctx, const Attempt& a, bool matched) const {
    if (!matched) return deny(ctx, "invalid username or password");
    if (cache_ && a.account->second.kind == HashKind::crypt) verified_cache().add(a.key);
    if (strip_) ctx.request->fields.remove("authorization");
    auth::pass_consumer(ctx, consumer_header_, a.account->first);
    return Outcome::proceed;
  }

  Outcome deny(Context& ctx, const char* message) const { return auth::refuse(ctx, 401, message, challenge_); }

  Accounts accounts_;  // ctx.consumer points at a key here: the filter outlives its requests
  std::string challenge_;
  std::string consumer_header_;
  bool strip_;
  bool cache_;
  std::array<std::uint8_t, 32> salt_{};
};

bool crypt_chars(std::string_view s) {
  for (unsigned char c : s)
    if (!(std::isalnum(c) || c == '.' || c == '/')) return false;
  return !s.empty();
}

bool is_bcrypt(std::string_view h) {
  // $2y$NN$ + 22 characters of salt + 31 of hash
  return h.size() == 60 && h[0] == '$' && h[1] == '2' && (h[2] == 'a' || h[2] == 'b' || h[2] == 'y') && h[3] == '$' &&
         std::isdigit(static_cast<unsigned char>(h[4])) && std::isdigit(static_cast<unsigned char>(h[5])) &&
         (h[4] - '0') * 10 + (h[5] - '0') >= 4 && (h[4] - '0') * 10 + (h[5] - '0') <= 31 && h[6] == '$' &&
         crypt_chars(h.substr(7));
}

bool is_sha_crypt(std::string_view h) {
  if (h.size() < 4 || h[0] != '$' || (h[1] != '5' && h[1] != '6') || h[2] != '$') return false;
  const std::size_t digest_chars = h[1] == '5' ? 43 : 86;
  std::string_view rest = h.substr(3);
  if (rest.starts_with("rounds=")) {
    const std::size_t end = rest.find('$');
    const std::string_view n = rest.substr(7, end == std::string_view::npos ? end : end - 7);
    if (end == std::string_view::npos || n.empty() || n.size() > 9) return false;
    for (unsigned char c : n)
      if (!std::isdigit(c)) return false;
    rest = rest.substr(end + 1);
  }
  const std::size_t end = rest.find('$');
  if (end == std::string_view::npos || end == 0 || end > 16) return false;
  for (unsigned char c : rest.substr(0, end))
    if (c <= 0x20 || c >= 0x7f || c == ':') return false;
  const std::string_view digest = rest.substr(end + 1);
  return digest.size() == digest_chars && crypt_chars(digest);
}

// Why a hash is refused (nullptr when it is accepted); never quotes the hash.
const char* hash_problem(std::string_view hash, Account& out) {
  if (hash.starts_with("{SHA}")) {
    const auto n = auth::base64_decode(hash.substr(5), out.sha1.data(), out.sha1.size());
    if (!n || *n != 20) return "{SHA} must be followed by the base64 of a 20-byte SHA-1 digest";
    out.kind = HashKind::sha1;
    return nullptr;
  }
  if (hash.starts_with("$apr1$") || hash.starts_with("$1$"))
    return "MD5 hashes ($apr1$, $1$) are not supported: rehash with htpasswd -B (bcrypt)";
  if (hash.starts_with("$2")) {
    if (!is_bcrypt(hash)) return "malformed bcrypt hash";
  } else if (hash.starts_with("$5$") || hash.starts_with("$6$")) {
    if (!is_sha_crypt(hash)) return "malformed SHA-crypt hash";
  } else {
    return "plaintext or unsupported hash: use bcrypt ($2y$), SHA-crypt ($5$, $6$) or {SHA}";
  }
  out.kind = HashKind::crypt;
  out.hash = std::string(hash);
  return nullptr;
}

}  // namespace

std::unique_ptr<Filter> make_basic_auth(FilterBuild& build) {
  FilterArgs& args = build.args;
  const auto path = args.string("htpasswd", true);
  std::string realm = auth::read_realm(args, "restricted");
  std::string consumer_header = auth::read_consumer_header(args);
  const bool strip = args.boolean("strip").value_or(true);
  const bool cache = args.boolean("cache").value_or(true);
  if (!path) return nullptr;
  std::string error;
  const auto lines = auth::read_credential_lines(*path, error);
  if (!lines) {
    args.error("htpasswd", error);
    return nullptr;
  }
  if (lines->empty()) args.error("htpasswd", *path + " holds no users");
  Accounts accounts;
  for (const auth::FileLine& line : *lines) {
    const std::string where = *path + ":" + std::to_string(line.number) + ": ";
    const std::size_t colon = line.text.find(':');
    if (colon == std::string::npos || colon == 0) {
      args.error("htpasswd", where + "expected user:hash");
      continue;
    }
    const std::string user = line.text.substr(0, colon);
    bool printable = true;
    for (unsigned char c : user) printable = printable && c >= 0x20 && c != 0x7f;
    if (!printable) {
      args.error("htpasswd", where + "the user name has control characters");
      continue;
    }
    Account account;
    if (const char* problem = hash_problem(std::string_view(line.text).substr(colon + 1), account)) {
      args.error("htpasswd", where + "user " + user + ": " + problem);
      continue;
    }
    if (!accounts.emplace(user, std::move(account)).second) args.error("htpasswd", where + "user " + user + " is repeated");
  }
  if (accounts.empty()) return nullptr;
  return std::make_unique<BasicAuthFilter>(std::move(accounts), std::move(realm), std::move(consumer_header), strip,
                                           cache);
}

}  // namespace portcullis::filters
