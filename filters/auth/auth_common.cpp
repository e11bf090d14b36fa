// Shared helpers of the authentication filters (see auth_common.h).
#include "filters/auth/auth_common.h"

#include <cctype>
#include <fstream>
#include <memory>
#include <stdexcept>

#include <openssl/evp.h>

#include "http/parser.h"

namespace portcullis::filters::auth {
namespace {

constexpr char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The digest is fetched once per process; each thread keeps one context and reuses it.
struct DigestContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~DigestContext() { EVP_MD_CTX_free(ctx); }
};

const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

}  // namespace

Sha256 sha256(std::initializer_list<std::string_view> parts) {
  thread_local DigestContext dc;
  Sha256 out{};
  unsigned int size = 0;
  if (!dc.ctx || EVP_DigestInit_ex2(dc.ctx, sha256_md(), nullptr) != 1) throw std::runtime_error("SHA-256 unavailable");
  for (std::string_view p : parts) EVP_DigestUpdate(dc.ctx, p.data(), p.size());
  EVP_DigestFinal_ex(dc.ctx, out.data(), &size);
  return out;
}

std::optional<std::size_t> base64_decode(std::string_view in, std::uint8_t* out, std::size_t capacity) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::size_t n = 0;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const unsigned char c = static_cast<unsigned char>(in[i + j]);
      if (c == '=' && last && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      if (pad) return std::nullopt;  // a character after '='
      v[j] = base64_value(c);
      if (v[j] < 0) return std::nullopt;
    }
    const std::uint32_t word = (static_cast<std::uint32_t>(v[0]) << 18) | (static_cast<std::uint32_t>(v[1]) << 12) |
                               (static_cast<std::uint32_t>(v[2]) << 6) | static_cast<std::uint32_t>(v[3]);
    // Non-canonical encodings (bits set in the padding) are refused: one text, one value.
    if ((pad == 1 && (word & 0xff)) || (pad == 2 && (word & 0xffff))) return std::nullopt;
    const std::size_t bytes = 3 - static_cast<std::size_t>(pad);
    if (n + bytes > capacity) return std::nullopt;
    out[n++] = static_cast<std::uint8_t>(word >> 16);
    if (bytes > 1) out[n++] = static_cast<std::uint8_t>(word >> 8);
    if (bytes > 2) out[n++] = static_cast<std::uint8_t>(word);
  }
  return n;
}

std::string base64_encode(const std::uint8_t* data, std::size_t size) {
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (std::size_t i = 0; i < size; i += 3) {
    std::uint32_t word = static_cast<std::uint32_t>(data[i]) << 16;
    if (i + 1 < size) word |= static_cast<std::uint32_t>(data[i + 1]) << 8;
    if (i + 2 < size) word |= data[i + 2];
    out += base64_alphabet[(word >> 18) & 63];
    out += base64_alphabet[(word >> 12) & 63];
    out += i + 1 < size ? base64_alphabet[(word >> 6) & 63] : '=';
    out += i + 2 < size ? base64_alphabet[word & 63] : '=';
  }
  return out;
}

bool hex_decode(std::string_view in, std::uint8_t* out, std::size_t size) {
  if (in.size() != size * 2) return false;
  for (std::size_t i = 0; i < size; ++i) {
    const int hi = hex_value(static_cast<unsigned char>(in[2 * i]));
    const int lo = hex_value(static_cast<unsigned char>(in[2 * i + 1]));
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::string hex_encode(const std::uint8_t* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

bool is_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (!http::is_token_char(c)) return false;
  return true;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::vector<FileLine>> read_credential_lines(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read " + path;
    return std::nullopt;
  }
  std::vector<FileLine> lines;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string_view text = trim(line);
    if (text.empty() || text.front() == '#') continue;
    lines.push_back({number, std::string(text)});
  }
  if (in.bad()) {
    error = "cannot read " + path;
    return std::nullopt;
  }
  return lines;
}

void pass_consumer(Context& ctx, const std::string& header, std::string_view consumer) {
  ctx.consumer = consumer;
  if (header.empty()) return;
  ctx.request->fields.remove_any_spelling(header);
  ctx.request->fields.add(header, consumer);
}

Outcome refuse(Context& ctx, int status, const char* message, std::string_view challenge) {
  if (!challenge.empty()) ctx.added_response_headers.emplace_back("WWW-Authenticate", challenge);
  ctx.error = {ErrorKind::rejected, ErrorSource::downstream, status, message, false};
  return Outcome::fail;
}

std::string read_realm(FilterArgs& args, const char* fallback) {
  const auto realm = args.string("realm");
  if (!realm) return fallback;
  for (unsigned char c : *realm)
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      args.error("realm", "must not contain quotes, backslashes or control characters");
      return fallback;
    }
  return *realm;
}

std::string read_consumer_header(FilterArgs& args) {
  const auto name = args.string("consumer_header");
  if (!name) return "X-Consumer";
  if (!name->empty() && !is_header_name(*name)) args.error("consumer_header", "is not a valid header name (or \"\")");
  return *name;
}

}  // namespace portcullis::filters::auth
