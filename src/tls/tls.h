// TLS contexts built from the config: a listener's server context (certificates chosen by SNI,
// TLS 1.2 and 1.3 only, session tickets under process-wide rotated keys, ALPN http/1.1, optional
// client certificates) and a service's client context (CA, SNI, verification, client certificate).
// Contexts are built when a config is loaded or reloaded, so a bad certificate is a config error;
// a connection keeps the context it started with, so a reload never cuts one.
//
// This header stays free of Asio and OpenSSL headers: the session code includes it widely.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct ssl_ctx_st;
struct ssl_st;

namespace portcullis::tls {

enum class Verify { none, optional, required };

struct CertificateFiles {
  std::string cert;  // PEM: the certificate, then its chain
  std::string key;   // PEM private key (never logged, never shown by the admin API)
};

struct ServerSettings {
  std::vector<CertificateFiles> certificates;  // the first is the default (no or unknown SNI)
  std::string min_version = "1.2";             // "1.2" | "1.3"
  std::string ciphers;                         // TLS 1.2 cipher list; empty = the modern default
  std::string ciphersuites;                    // TLS 1.3 suites; empty = OpenSSL's default
  std::string client_ca;                       // PEM bundle; empty = no client certificates
  Verify verify = Verify::none;
  bool session_tickets = true;
  std::chrono::seconds session_timeout{3600};  // how long a ticket or cached session may resume
};

struct ClientSettings {
  std::string ca;  // PEM bundle; empty = the system's trust store
  std::string sni;  // server name sent and verified; empty = the instance's host
  bool verify = true;
  CertificateFiles client;  // optional: mTLS to the origin
  std::string min_version = "1.2";
};

// One problem found while building a context: which setting (e.g. "certificates[1].key",
// "client_ca") and what is wrong, to be placed at that setting's line by the config loader.
struct BuildError {
  std::string field;
  std::string message;
};

struct CertificateInfo {
  std::vector<std::string> names;  // DNS names (SAN, else CN) the certificate is chosen for
  std::string subject;
  std::string issuer;
  std::string not_after;            // ISO 8601, UTC
  std::int64_t not_after_unix = 0;
  std::string file;                 // the certificate's path
};

class ServerContext {
 public:
  ~ServerContext();
  // Null when something is wrong; every problem is appended to `errors`.
  static std::shared_ptr<const ServerContext> build(const ServerSettings& settings, std::vector<BuildError>& errors);

  // A new TLS object for one accepted connection (owned by the caller's stream).
  ssl_st* new_connection() const;
  const std::vector<CertificateInfo>& certificates() const { return info_; }
  Verify verify() const { return verify_; }

 private:
  ServerContext() = default;
  struct Entry;
  static int on_server_name(ssl_st* ssl, int* alert, void* arg);
  ssl_ctx_st* select(const char* name) const;

  std::vector<Entry> entries_;  // one SSL_CTX per certificate; entries_[0] is the default
  std::vector<CertificateInfo> info_;
  Verify verify_ = Verify::none;
};

class ClientContext {
 public:
  ~ClientContext();
  static std::shared_ptr<const ClientContext> build(const ClientSettings& settings, std::vector<BuildError>& errors);
  // A new TLS object for a connection to `host` (the instance's host, used when no sni is set):
  // SNI and name verification are set on it. ALPN offers h2 alone with `h2`, else http/1.1.
  ssl_st* new_connection(const std::string& host, bool h2 = false) const;

 private:
  ClientContext() = default;
  ssl_ctx_st* ctx_ = nullptr;
  std::string sni_;
  bool verify_ = true;
};

// The verified client certificate's subject (RFC 2253), or "" when none was presented or it did
// not verify.
std::string peer_subject(ssl_st* ssl);
// Whether the handshake resumed a session.
bool resumed(ssl_st* ssl);
// ALPN: whether this server connection may choose h2 (before the handshake), and whether it did.
void offer_h2(ssl_st* ssl, bool offer);
bool negotiated_h2(ssl_st* ssl);
// Text for the last OpenSSL error on this thread (and clears the queue).
std::string last_error();

}  // namespace portcullis::tls
