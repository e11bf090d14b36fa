// Keys for the jwt filter: JWK sets (RFC 7517) read from a file, an inline HMAC secret, or fetched
// from a jwks_url and kept fresh by one background thread shared by the whole process.
//
// A key set is immutable once built; the remote one is swapped whole through an atomic
// shared_ptr, and a request reads it with one lock-free atomic load, never waiting for a fetch.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>

namespace portcullis {
class RuntimeState;
}

namespace portcullis::filters::jwt {

// Every JWS algorithm the filter knows. `none` is deliberately absent: it is never accepted.
enum class Alg : std::uint8_t { hs256, hs384, hs512, rs256, rs384, rs512, ps256, ps384, ps512, es256, es384 };
constexpr std::size_t alg_count = 11;
std::optional<Alg> alg_from(std::string_view name);
std::string_view name_of(Alg alg);

enum class KeyType : std::uint8_t { oct, rsa, ec_p256, ec_p384 };

// One verification key. The EVP_PKEY is only read after construction, which OpenSSL 3 allows from
// many threads at once.
struct Key {
  std::string kid;  // "" = none
  KeyType type = KeyType::oct;
  std::optional<Alg> alg;  // the JWK's "alg": when set, the key verifies that algorithm only
  std::shared_ptr<EVP_PKEY> pkey;  // rsa, ec
  std::string secret;              // oct
  std::size_t signature_bytes = 0;  // RSA: modulus bytes; EC: 2 x coordinate bytes; oct: unused

  // Whether this key may verify `alg`: the family must match the key type (no algorithm
  // confusion), an HMAC secret must be at least as long as the hash, and the JWK's own alg wins.
  bool fits(Alg a) const;
};

struct KeySet {
  std::vector<Key> keys;
};

// base64url without padding (RFC 7515 2). Appends to `out`; false on any other character, on a
// trailing '=' and on an impossible length.
bool base64url_decode(std::string_view in, std::string& out);

// Parses a JWK set. Keys of types the filter cannot use (OKP, use: enc) are skipped; a broken key
// of a known type is an error naming its index and kid, never its material. Returns null and sets
// `error` when nothing usable is left.
std::shared_ptr<const KeySet> parse_jwks(std::string_view json, std::string& error);

// An HMAC key from an inline secret.
Key secret_key(std::string secret);

// The smallest HMAC secret: RFC 7518 3.2 asks for at least the hash size, 32 bytes for HS256.
constexpr std::size_t min_secret_bytes = 32;

// A JWK set fetched from an http:// URL. One per URL in the process: a config reload, and the old
// and new snapshots during it, share the same keys and the same fetch schedule.
class RemoteKeys {
 public:
  struct Settings {
    std::chrono::milliseconds refresh{std::chrono::minutes(5)};
    std::chrono::milliseconds min_refresh{std::chrono::seconds(30)};
    std::chrono::milliseconds timeout{std::chrono::seconds(5)};
  };

  // The shared instance for `url` (already parse-checked), created and first fetched on first
  // use. Later calls update the schedule to the newest settings.
  // Kept in `state` (config/runtime_state.h), so a reload keeps the fetched keys.
  static std::shared_ptr<RemoteKeys> acquire(const std::string& url, const Settings& settings, RuntimeState& state);

  // The last good key set; null until a fetch has succeeded.
  std::shared_ptr<const KeySet> keys() const { return keys_.load(std::memory_order_acquire); }
  // The same for the request path: the calling thread's own reference to the current set, valid
  // until this thread's next call. One atomic load of the generation; the shared pointer itself
  // (whose atomic load takes a spin bit in libstdc++ and bumps a shared count) is only read again
  // after a new set was published.
  const std::shared_ptr<const KeySet>& current() const;
  // A token named a kid the set lacks: fetch again now, unless a fetch started less than
  // min_refresh ago. Cheap and lock-free; callable from any thread.
  void refresh_soon();

  // Counts fetches that completed (good or bad), for tests and readiness checks.
  std::uint64_t fetches() const { return fetches_.load(std::memory_order_acquire); }

  struct State;  // fetch-thread side (opaque)
  explicit RemoteKeys(std::string url);
  ~RemoteKeys();
  RemoteKeys(const RemoteKeys&) = delete;
  RemoteKeys& operator=(const RemoteKeys&) = delete;

 private:
  friend class Fetcher;
  std::string url_;
  const std::uint64_t id_;  // unique for the process's lifetime (an address could be reused)
  std::atomic<std::shared_ptr<const KeySet>> keys_;
  std::atomic<std::uint64_t> generation_{0};  // bumped after each store to keys_
  std::atomic<std::int64_t> refresh_ms_{300000};
  std::atomic<std::int64_t> min_refresh_ms_{30000};
  std::atomic<std::int64_t> timeout_ms_{5000};
  std::atomic<std::int64_t> last_fetch_start_ms_{0};  // steady clock
  std::atomic<std::uint64_t> fetches_{0};
  std::shared_ptr<State> state_;  // lives on the fetch thread while this object is alive
};

}  // namespace portcullis::filters::jwt
