// Building OpenSSL contexts from the config, SNI selection, ALPN, and session-ticket keys shared by
// every listener and kept across reloads (so a reload does not cost clients a full handshake).
#include "tls/tls.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>

#include <arpa/inet.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace portcullis::tls {
namespace {

// TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3 suites are all of that already.
constexpr const char* default_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool readable(const std::string& path, std::string& why) {
  std::ifstream in(path);
  if (in) return true;
  why = "cannot read " + path + ": " + std::strerror(errno);
  return false;
}

int version_of(const std::string& v) { return v == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION; }

// --- session ticket keys ------------------------------------------------------------------------
// One ring for the process: a new key every hour encrypts new tickets; the previous one still
// decrypts (and asks for a fresh ticket), so a key lives two hours and a ticket resumes for its
// session_timeout or until its key retires, whichever comes first. The ring is touched only during
// handshakes.
struct TicketKey {
  unsigned char name[16];
  unsigned char aes[32];
  unsigned char hmac[32];
  std::chrono::steady_clock::time_point created;
};

class TicketKeys {
 public:
  static TicketKeys& instance() {
    static TicketKeys keys;
    return keys;
  }
  // Copies the key to encrypt with (rotating first when it is old).
  bool current(TicketKey& out) {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (count_ == 0 || now - keys_[0].created >= rotation) {
      TicketKey fresh;
      if (RAND_bytes(fresh.name, sizeof(fresh.name)) != 1 || RAND_bytes(fresh.aes, sizeof(fresh.aes)) != 1 ||
          RAND_bytes(fresh.hmac, sizeof(fresh.hmac)) != 1)
        return false;
      fresh.created = now;
      keys_[1] = keys_[0];
      keys_[0] = fresh;
      count_ = std::min<std::size_t>(count_ + 1, 2);
    }
    out = keys_[0];
    return true;
  }
  // Finds the key a ticket names: 1 = the newest, 2 = an older one (renew the ticket), 0 = none.
  int find(const unsigned char* name, TicketKey& out) {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < count_; ++i) {
      if (CRYPTO_memcmp(keys_[i].name, name, sizeof(keys_[i].name)) == 0) {
        out = keys_[i];
        return i == 0 ? 1 : 2;
      }
    }
    return 0;
  }

 private:
  std::mutex mutex_;
  TicketKey keys_[2]{};
  std::size_t count_ = 0;
  static constexpr std::chrono::hours rotation{1};
};

bool set_mac_key(EVP_MAC_CTX* mac, unsigned char* key, std::size_t size) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, size),
                         OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(mac, params) == 1;
}

int on_ticket_key(SSL* ssl, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                  int encrypt) {
  TicketKey key;
  if (encrypt) {
    if (!TicketKeys::instance().current(key)) return -1;
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) return -1;
    std::memcpy(key_name, key.name, sizeof(key.name));
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv) != 1) return -1;
    return set_mac_key(mac, key.hmac, sizeof(key.hmac)) ? 1 : -1;
  }
  const int found = TicketKeys::instance().find(key_name, key);
  if (found == 0) return 0;  // unknown or expired key: a full handshake
  if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv) != 1) return -1;
  if (!set_mac_key(mac, key.hmac, sizeof(key.hmac))) return -1;
  // TLS 1.3 clients should use a ticket once (RFC 8446, C.4), and OpenSSL sends a resumed TLS 1.3
  // connection no new ticket unless asked to renew: without renewal a client that resumes gets a
  // full handshake every other time. TLS 1.2 keeps its ticket until the key ages.
  return SSL_version(ssl) >= TLS1_3_VERSION ? 2 : found;
}

// Per connection: whether h2 may be chosen (server.http2.enabled when it was accepted).
int h2_offer_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// The client's ALPN list has `protocol` (each entry is a length byte, then the name).
const unsigned char* alpn_find(const unsigned char* in, unsigned int in_len, std::string_view protocol) {
  for (unsigned int i = 0; i < in_len;) {
    const unsigned int len = in[i];
    if (i + 1 + len > in_len) break;
    if (len == protocol.size() && std::memcmp(in + i + 1, protocol.data(), len) == 0) return in + i + 1;
    i += 1 + len;
  }
  return nullptr;
}

int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_len, const unsigned char* in, unsigned int in_len,
            void*) {
  // h2 first when the client offers it, then http/1.1; a client that offers neither goes on
  // without ALPN (and speaks HTTP/1.1).
  if (SSL_get_ex_data(ssl, h2_offer_index()) != nullptr) {
    if (const unsigned char* h2 = alpn_find(in, in_len, "h2")) {
      *out = h2;
      *out_len = 2;
      return SSL_TLSEXT_ERR_OK;
    }
  }
  if (const unsigned char* http11 = alpn_find(in, in_len, "http/1.1")) {
    *out = http11;
    *out_len = 8;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string name_text(X509_NAME* name) {
  if (!name) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return {};
  // RFC 2253 escapes control characters and separators, so the text is safe in a header.
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(std::max(0L, size)));
  BIO_free(bio);
  return text;
}

CertificateInfo describe(X509* cert, const std::string& file) {
  CertificateInfo info;
  info.file = file;
  info.subject = name_text(X509_get_subject_name(cert));
  info.issuer = name_text(X509_get_issuer_name(cert));
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_DNS) continue;
      const auto* s = n->d.dNSName;
      info.names.push_back(lower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                             static_cast<std::size_t>(ASN1_STRING_length(s)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (info.names.empty()) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) > 0)
      info.names.push_back(lower(cn));
  }
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) {
    info.not_after_unix = static_cast<std::int64_t>(timegm(&tm));
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    info.not_after = text;
  }
  return info;
}

// Loads a certificate chain and its key into `ctx`; false (with `errors` filled) when either is
// unreadable, malformed or the two do not belong together.
bool load_pair(SSL_CTX* ctx, const CertificateFiles& files, const std::string& prefix, std::vector<BuildError>& errors) {
  std::string why;
  bool ok = true;
  if (!readable(files.cert, why)) {
    errors.push_back({prefix + "cert", why});
    ok = false;
  } else if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) {
    errors.push_back({prefix + "cert", "not a PEM certificate chain: " + files.cert + " (" + last_error() + ")"});
    ok = false;
  }
  if (!readable(files.key, why)) {
    errors.push_back({prefix + "key", why});
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL's text names the failing step, never the key material.
    errors.push_back({prefix + "key", "not a PEM private key: " + files.key + " (" + last_error() + ")"});
    return false;
  }
  if (ok && SSL_CTX_check_private_key(ctx) != 1) {
    errors.push_back({prefix + "key", "the key does not match the certificate " + files.cert});
    ERR_clear_error();
    return false;
  }
  return ok;
}

}  // namespace

std::string last_error() {
  std::string text;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? "unknown error" : text;
}

// --- server -------------------------------------------------------------------------------------

struct ServerContext::Entry {
  SSL_CTX* ctx = nullptr;
  std::vector<std::string> names;
};

ServerContext::~ServerContext() {
  for (auto& e : entries_) SSL_CTX_free(e.ctx);
}

std::shared_ptr<const ServerContext> ServerContext::build(const ServerSettings& s, std::vector<BuildError>& errors) {
  const std::size_t errors_before = errors.size();
  std::shared_ptr<ServerContext> out(new ServerContext());
  out->verify_ = s.verify;
  if (s.certificates.empty()) errors.push_back({"cert", "a TLS listener needs at least one certificate"});
  // Sessions resume only on a listener with the same client-certificate policy: a session made
  // without a certificate, or verified against another CA, must not skip verification here. The
  // context id is a digest of the policy and the CA bundle's contents.
  unsigned char sid_context[SHA256_DIGEST_LENGTH];
  {
    std::string policy = "portcullis;verify=" + std::to_string(static_cast<int>(s.verify)) + ";ca=";
    if (!s.client_ca.empty()) {
      std::ifstream in(s.client_ca, std::ios::binary);
      policy.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    SHA256(reinterpret_cast<const unsigned char*>(policy.data()), policy.size(), sid_context);
  }
  for (std::size_t i = 0; i < s.certificates.size(); ++i) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
      errors.push_back({"cert", "cannot create a TLS context: " + last_error()});
      break;
    }
    out->entries_.push_back({ctx, {}});
    const std::string prefix = s.certificates.size() == 1 && i == 0 ? "" : "certificates[" + std::to_string(i) + "].";
    SSL_CTX_set_min_proto_version(ctx, version_of(s.min_version));
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 (s.session_tickets ? 0 : SSL_OP_NO_TICKET));
    // Idle keep-alive connections hold no read/write buffers.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, s.ciphers.empty() ? default_ciphers : s.ciphers.c_str()) != 1 && i == 0)
      errors.push_back({"ciphers", "no usable cipher in " + s.ciphers});
    if (!s.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, s.ciphersuites.c_str()) != 1 && i == 0)
      errors.push_back({"ciphersuites", "no usable TLS 1.3 suite in " + s.ciphersuites});
    ERR_clear_error();
    SSL_CTX_set_session_id_context(ctx, sid_context, sizeof(sid_context));
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_timeout(ctx, static_cast<long>(s.session_timeout.count()));
    if (s.session_tickets) SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, nullptr);
    if (!s.client_ca.empty()) {
      std::string why;
      if (!readable(s.client_ca, why)) {
        if (i == 0) errors.push_back({"client_ca", why});
      } else if (SSL_CTX_load_verify_locations(ctx, s.client_ca.c_str(), nullptr) != 1) {
        if (i == 0) errors.push_back({"client_ca", "not a PEM CA bundle: " + s.client_ca + " (" + last_error() + ")"});
      } else {
        // The CA names are sent in the CertificateRequest so clients pick the right certificate.
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.client_ca.c_str())) SSL_CTX_set_client_CA_list(ctx, names);
        const int mode = s.verify == Verify::required ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                         : s.verify == Verify::optional ? SSL_VERIFY_PEER
                                                        : SSL_VERIFY_NONE;
        SSL_CTX_set_verify(ctx, mode, nullptr);
      }
      ERR_clear_error();
    }
    if (!load_pair(ctx, s.certificates[i], prefix, errors)) continue;
    X509* leaf = SSL_CTX_get0_certificate(ctx);
    CertificateInfo info = describe(leaf, s.certificates[i].cert);
    out->entries_.back().names = info.names;
    out->info_.push_back(std::move(info));
  }
  if (errors.size() != errors_before) return nullptr;
  if (out->entries_.size() > 1) {
    for (auto& e : out->entries_) {
      SSL_CTX_set_tlsext_servername_callback(e.ctx, &ServerContext::on_server_name);
      SSL_CTX_set_tlsext_servername_arg(e.ctx, out.get());
    }
  }
  return out;
}

ssl_st* ServerContext::new_connection() const { return SSL_new(entries_[0].ctx); }

SSL_CTX* ServerContext::select(const char* name) const {
  if (!name) return nullptr;
  const std::string wanted = lower(name);
  const std::size_t dot = wanted.find('.');
  for (const auto& e : entries_)
    for (const auto& n : e.names)
      if (n == wanted) return e.ctx;
  // A wildcard covers exactly one leftmost label.
  if (dot != std::string::npos && dot > 0) {
    const std::string_view parent = std::string_view(wanted).substr(dot);
    for (const auto& e : entries_)
      for (const auto& n : e.names)
        if (n.size() > 2 && n[0] == '*' && n[1] == '.' && std::string_view(n).substr(1) == parent) return e.ctx;
  }
  return nullptr;
}

int ServerContext::on_server_name(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  if (SSL_CTX* ctx = self->select(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))) {
    if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  }
  // An unknown name gets the default certificate, as nginx and HAProxy do.
  return SSL_TLSEXT_ERR_OK;
}

// --- client -------------------------------------------------------------------------------------

ClientContext::~ClientContext() { SSL_CTX_free(ctx_); }

std::shared_ptr<const ClientContext> ClientContext::build(const ClientSettings& s, std::vector<BuildError>& errors) {
  const std::size_t errors_before = errors.size();
  std::shared_ptr<ClientContext> out(new ClientContext());
  out->sni_ = s.sni;
  out->verify_ = s.verify;
  out->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!out->ctx_) {
    errors.push_back({"", "cannot create a TLS context: " + last_error()});
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(out->ctx_, version_of(s.min_version));
  SSL_CTX_set_max_proto_version(out->ctx_, TLS1_3_VERSION);
  SSL_CTX_set_mode(out->ctx_, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_cipher_list(out->ctx_, default_ciphers);
  if (s.verify) {
    std::string why;
    if (s.ca.empty()) {
      SSL_CTX_set_default_verify_paths(out->ctx_);
    } else if (!readable(s.ca, why)) {
      errors.push_back({"ca", why});
    } else if (SSL_CTX_load_verify_locations(out->ctx_, s.ca.c_str(), nullptr) != 1) {
      errors.push_back({"ca", "not a PEM CA bundle: " + s.ca + " (" + last_error() + ")"});
    }
    SSL_CTX_set_verify(out->ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!s.client.cert.empty() || !s.client.key.empty()) load_pair(out->ctx_, s.client, "", errors);
  ERR_clear_error();
  if (errors.size() != errors_before) return nullptr;
  return out;
}

ssl_st* ClientContext::new_connection(const std::string& host, bool h2) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return nullptr;
  const std::string& name = sni_.empty() ? host : sni_;
  unsigned char ip[16];
  const bool is_ip = inet_pton(AF_INET, name.c_str(), ip) == 1 || inet_pton(AF_INET6, name.c_str(), ip) == 1;
  if (!is_ip && !name.empty()) SSL_set_tlsext_host_name(ssl, name.c_str());
  if (verify_) {
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, name.c_str());
    }
  }
  static constexpr unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  static constexpr unsigned char h2_only[] = {2, 'h', '2'};
  if (h2) SSL_set_alpn_protos(ssl, h2_only, sizeof(h2_only));
  else SSL_set_alpn_protos(ssl, http11, sizeof(http11));
  return ssl;
}

// --- connection facts ---------------------------------------------------------------------------

std::string peer_subject(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  return name_text(X509_get_subject_name(cert));
}

bool resumed(SSL* ssl) { return SSL_session_reused(ssl) == 1; }

void offer_h2(SSL* ssl, bool offer) {
  static int yes = 1;
  SSL_set_ex_data(ssl, h2_offer_index(), offer ? &yes : nullptr);
}

bool negotiated_h2(SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return len == 2 && data[0] == 'h' && data[1] == '2';
}

}  // namespace portcullis::tls
