// Config description: the server section (listeners, TLS, limits, timeouts, trusted proxies) and
// admin. Each key is one entry in its section's list (see schema.h).
#include <limits>

#include "config/schema.h"
#include "util/cidr.h"

namespace portcullis::loader {
namespace {

constexpr auto kU64Max = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kMaxWindow = (std::uint64_t{1} << 31) - 1;

Json address_schema() { return {{"type", "string"}, {"pattern", "^(\\[[0-9A-Fa-f:.]+\\]|[^:\\[\\]]*):[0-9]{1,5}$"}}; }

std::string header_name_check(const std::string& name) {
  return name.empty() || !is_token(name) ? "must be a header name" : "";
}

// ---- TLS -------------------------------------------------------------------------------------

void read_certificate(Parser& p, const YAML::Node& node, const std::string& path, std::vector<tls::CertificateFiles>& out) {
  if (!p.expect_keys(node, path, {"cert", "key"})) return;
  tls::CertificateFiles pair;
  const bool cert = p.read_required_string(node, "cert", path, pair.cert);
  const bool key = p.read_required_string(node, "key", path, pair.key);
  if (cert && key) out.push_back(pair);
}

Json certificates_schema() {
  Json pair = {{"type", "object"}, {"additionalProperties", false}};
  pair["properties"] = {{"cert", {{"type", "string"}}}, {"key", {{"type", "string"}}}};
  pair["required"] = Json::array({"cert", "key"});
  return {{"type", "array"}, {"items", pair}};
}

}  // namespace

template <typename S>
Key<S> tls_version(std::string doc) {
  Key<S> key = text("min_version", &S::min_version, std::move(doc), [](const std::string& v) {
                 return v == "1.2" || v == "1.3" ? "" : "must be \"1.2\" or \"1.3\" (older versions are refused)";
               }).type("`\"1.2\"` \\| `\"1.3\"`");
  key.doc.schema = [] { return Json{{"enum", {"1.2", "1.3"}}}; };
  return key;
}
template Key<tls::ClientSettings> tls_version(std::string);

namespace {

// cert and key are read together (either one asks for the other), before the other keys.
void read_default_pair(Parser& p, const YAML::Node& node, const std::string& path, tls::ServerSettings& s) {
  if (!node.IsMap() || (!node["cert"].IsDefined() && !node["key"].IsDefined())) return;
  tls::CertificateFiles pair;
  const bool cert = p.read_required_string(node, "cert", path, pair.cert);
  const bool key = p.read_required_string(node, "key", path, pair.key);
  if (cert && key) s.certificates.push_back(pair);
}

const Section<tls::ServerSettings>& listener_tls_section() {
  using S = tls::ServerSettings;
  const Reader<S> read_with_pair = [](Parser&, const YAML::Node&, const std::string&, S&) {};
  static Section<S> section = [&] {
    Section<S> s("server.listen[].tls", {
      custom<S>("cert", "file path", "", "The default certificate (PEM, chain after the leaf).",
                [] { return Json{{"type", "string"}}; }, read_with_pair),
      custom<S>("key", "file path", "", "The default certificate's private key (PEM).",
                [] { return Json{{"type", "string"}}; }, read_with_pair),
      custom<S>("certificates", "list of `{cert, key}`", "`[]`", "More certificates, chosen by the client's SNI.",
                certificates_schema,
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                  if (!p.expect_list(v, at)) return;
                  for (std::size_t i = 0; i < v.size(); ++i) read_certificate(p, v[i], indexed(at, i), out.certificates);
                }),
      tls_version<S>("Oldest TLS version accepted."),
      text("ciphers", &S::ciphers, "TLS 1.2 cipher suites (OpenSSL cipher list).").type("OpenSSL cipher list"),
      text("ciphersuites", &S::ciphersuites, "TLS 1.3 suites.").type("OpenSSL TLS 1.3 suite list"),
      text("client_ca", &S::client_ca, "CA bundle (PEM) client certificates must chain to.").type("file path"),
      custom<S>("verify", "`required` \\| `optional` \\| `none`", "",
                "Client certificates: required, optional or none.",
                [] { return Json{{"enum", {"required", "optional", "none"}}}; },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                  std::string value;
                  if (!p.read_string(v, at, value)) return;
                  if (value == "required") out.verify = tls::Verify::required;
                  else if (value == "optional") out.verify = tls::Verify::optional;
                  else if (value == "none") out.verify = tls::Verify::none;
                  else p.error(v, at, "must be required, optional or none");
                }),
      boolean("session_tickets", &S::session_tickets, "Resume sessions with tickets."),
      custom<S>("session_timeout", "duration ≥ 1s", "`1h`", "How long a session may be resumed.",
                [] { return duration_schema(); },
                [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                  Duration d{};
                  if (p.read_duration(v, at, d, false))
                    out.session_timeout = std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(d));
                }),
    });
    s.nullable = false;
    s.before = [](Parser& p, const YAML::Node& node, const std::string& path, S& out) {
      read_default_pair(p, node, path, out);
    };
    s.after = [](Parser& p, const YAML::Node& node, const std::string& path, S& out) {
      if (out.certificates.empty() && !node["cert"].IsDefined() && !node["key"].IsDefined() &&
          !node["certificates"].IsDefined())
        p.error(node, join(path, "cert"), "a TLS listener needs cert and key (or certificates)");
      if (!out.client_ca.empty() && !node["verify"].IsDefined()) out.verify = tls::Verify::required;
      if (out.client_ca.empty() && out.verify != tls::Verify::none)
        p.error(node["verify"], join(path, "verify"), "client certificates need client_ca");
    };
    return s;
  }();
  return section;
}

// The listener's `tls`: its settings, then the context built from them (so a bad certificate is a
// config error placed at its setting).
void read_listener_tls(Parser& p, const YAML::Node& node, const std::string& path, ListenAddress& out) {
  const std::size_t errors_before = p.error_count();
  auto listener = std::make_shared<ListenerTls>();
  p.read_section(listener_tls_section(), node, path, listener->settings);
  if (p.error_count() != errors_before) return;
  std::vector<tls::BuildError> problems;
  listener->context = tls::ServerContext::build(listener->settings, problems);
  p.report_tls(node, path, problems);
  if (listener->context) out.tls = std::move(listener);
}

// ---- server ----------------------------------------------------------------------------------

const Section<ServerConfig>& limits_section() {
  using S = ServerConfig;
  static const Section<S> section("server.limits", {
    integer("max_connections", &S::max_connections, std::uint64_t{1}, kU64Max, "Open client connections in total."),
    size("max_request_header_bytes", &S::max_request_header_bytes, 1, "Size of the whole request head."),
    size("max_request_line_bytes", &S::max_request_line_bytes, 1, "Length of the request line."),
    integer("max_header_count", &S::max_header_count, std::uint64_t{1}, kU64Max, "Number of request header fields."),
    size("max_request_body_bytes", &S::max_request_body_bytes, 0, "Size of a request body; 0 refuses bodies."),
    size("max_response_header_bytes", &S::max_response_header_bytes, 1, "Size of an upstream response head."),
    size("max_chunk_extension_bytes", &S::max_chunk_extension_bytes, 0,
         "Size of the extensions on one chunk-size line; 0 refuses them."),
  });
  return section;
}

const Section<ServerConfig>& timeouts_section() {
  using S = ServerConfig;
  static const Section<S> section("server.timeouts", {
    duration("request_header", &S::request_header_timeout, kPositive, "Time to send a complete request head."),
    duration("idle", &S::idle_timeout, kPositive, "How long a keep-alive connection may idle between requests."),
    // A zero drain is meaningful: close in-flight connections at once on shutdown.
    duration("drain", &S::drain_timeout, kZeroAllowed, "On shutdown, how long in-flight requests may run."),
  });
  return section;
}

const Section<Http2Config>& http2_section() {
  using S = Http2Config;
  static Section<S> section = [] {
    Section<S> s("server.http2", {
      boolean("enabled", &S::enabled, "Accept HTTP/2: offered by ALPN on TLS listeners, by prior knowledge on plain ones."),
      integer("max_concurrent_streams", &S::max_concurrent_streams, std::uint64_t{1}, kMaxWindow,
              "Streams a client may have open at once on one connection."),
      size("initial_stream_window", &S::initial_stream_window, 1, "Request body bytes a stream may send ahead of the gateway reading them (at most 2 GiB - 1)."),
      size("initial_connection_window", &S::initial_connection_window, 65535,
           "The connection's window, reopened as bytes arrive (the streams' windows bound the buffering)."),
      size("max_frame_size", &S::max_frame_size, 16384, "Largest frame payload the gateway accepts (at most 16 MiB - 1)."),
      size("hpack_table_size", &S::hpack_table_size, 0, "Size of the header compression table a client may make the gateway keep."),
      duration("idle_timeout", &S::idle_timeout, kPositive, "How long a connection on which no request is being served stays open."),
      duration("goaway_timeout", &S::goaway_timeout, kZeroAllowed,
               "After the gateway sent GOAWAY (drain, or a client over its budgets), how long streams in flight may run."),
      integer("max_resets_per_second", &S::max_resets_per_second, std::uint64_t{1}, kU64Max,
              "RST_STREAM frames a client may send a second (a burst of twice as many); more ends the connection."),
      integer("max_control_frames_per_second", &S::max_control_frames_per_second, std::uint64_t{1}, kU64Max,
              "PING, SETTINGS, PRIORITY and empty DATA frames a client may send (a burst of twice as many)."),
    });
    // RFC 9113 6.5.2 bounds what SETTINGS can carry.
    s.after = [](Parser& p, const YAML::Node& node, const std::string& path, S& out) {
      auto at_most = [&](const char* key, std::uint64_t value, std::uint64_t max, const char* text) {
        if (value > max) p.error(node[key], join(path, key), std::string("must be at most ") + text);
      };
      at_most("max_frame_size", out.max_frame_size, 16777215, "16777215 (16 MiB - 1)");
      at_most("initial_stream_window", out.initial_stream_window, kMaxWindow, "2147483647 (2 GiB - 1)");
      at_most("initial_connection_window", out.initial_connection_window, kMaxWindow, "2147483647 (2 GiB - 1)");
    };
    return s;
  }();
  return section;
}

void read_listen(Parser& p, const YAML::Node& value, const std::string& at, ServerConfig& out) {
  // One address is common enough to deserve the short form.
  if (value.IsSequence()) return p.read_address_list(value, at, out.listen, AddressUse::listener);
  ListenAddress address;
  if (value.IsMap()) {
    p.read_section(listener_section(), value, at, address);
    out.listen = {address};
    return;
  }
  if (!value.IsScalar()) return p.error(value, at, "expected an address or a list of addresses");
  if (p.read_address(value, at, address, AddressUse::listener)) out.listen = {address};
}

Json listen_schema() {
  const Json one = {{"anyOf", {address_schema(), listener_section().schema()}}};
  return {{"anyOf", {one, {{"type", "array"}, {"minItems", 1}, {"items", one}}}}};
}

void read_trusted_proxies(Parser& p, const YAML::Node& node, const std::string& path, ServerConfig& out) {
  if (node.IsNull()) return;
  if (!p.expect_list(node, path)) return;
  std::vector<std::string> proxies;
  for (std::size_t i = 0; i < node.size(); ++i) {
    std::string cidr;
    if (!p.read_string(node[i], indexed(path, i), cidr)) continue;
    // The same parser the snapshot uses, so "valid here" and "usable there" cannot disagree.
    if (!Cidr::parse(cidr)) {
      p.error(node[i], indexed(path, i),
              "invalid CIDR " + in_quotes(cidr) + " (expected an IPv4 or IPv6 address with an optional /prefix)");
      continue;
    }
    proxies.push_back(std::move(cidr));
  }
  out.trusted_proxies = std::move(proxies);
}

}  // namespace

// A listener written as a map: { address: "0.0.0.0:8443", tls: {...} }.
const Section<ListenAddress>& listener_section() {
  using S = ListenAddress;
  static Section<S> section = [] {
    Section<S> s("server.listen[]", {
      custom<S>("address", "address", "", "Where to accept connections: an IP address and a port.",
                address_schema, [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                  p.read_address(v, at, out, AddressUse::listener);
                }).required(),
      section_key<S>("tls", listener_tls_section(), "none", "Terminate TLS on this listener.", read_listener_tls),
    });
    s.nullable = false;
    return s;
  }();
  return section;
}

const Section<ServerConfig>& server_section() {
  using S = ServerConfig;
  static Section<S> section = [] {
    Section<S> s("server", {
      custom<S>("listen", "address, listener map, or a list of them", "`0.0.0.0:8080`",
                "Where the gateway accepts connections.", listen_schema, read_listen),
      integer("workers", &S::workers, 0u, 1024u, "Worker threads, each with its own event loop; 0 = one per CPU."),
      group("limits", limits_section(), "Per-connection and per-request limits."),
      group("timeouts", timeouts_section(), "Timeouts for client connections."),
      nested("http2", &S::http2, http2_section(), "HTTP/2 from clients: settings and flood budgets."),
      custom<S>("trusted_proxies", "list of CIDRs", "`[]`", "Peers whose forwarding headers are believed.",
                [] { return Json{{"type", {"array", "null"}}, {"items", {{"type", "string"}}}}; }, read_trusted_proxies),
      // The pseudonym is a token in the Via grammar; a space would corrupt the header.
      text("via", &S::via, "Pseudonym in the Via header; \"\" sends none.", [](const std::string& via) {
        return via.empty() || is_token(via) ? "" : "must be a single token (letters, digits, !#$%&'*+-.^_`|~) or empty";
      }),
      boolean("server_header", &S::server_header, "Add Server: portcullis to the gateway's own responses."),
      text("client_cert_header", &S::client_cert_header, "Request header carrying a verified client certificate's subject.",
           header_name_check).type("header name"),
    });
    s.nest("listen", listener_section());
    return s;
  }();
  return section;
}

const Section<AdminConfig>& admin_section() {
  using S = AdminConfig;
  static const Section<S> section("admin", {
    boolean("enabled", &S::enabled, "false runs without the admin listener."),
    // Checked against server.listen by the root, which has both.
    custom<S>("listen", "address", "`127.0.0.1:9901`", "Where the admin endpoints are served.", address_schema,
              [](Parser& p, const YAML::Node& v, const std::string& at, S& out) {
                p.read_address(v, at, out.listen, AddressUse::listener);
              }),
  });
  return section;
}

// Places each problem found while building a TLS context at the setting it is about.
void Parser::report_tls(const YAML::Node& node, const std::string& path, const std::vector<tls::BuildError>& errors) {
  for (const auto& e : errors) {
    YAML::Node at = node;
    std::string at_path = path;
    std::string field = e.field;
    if (field.rfind("certificates[", 0) == 0) {
      const std::size_t close = field.find(']');
      const std::size_t index = std::stoul(field.substr(13, close - 13));
      const YAML::Node list = node["certificates"];
      // certificates[N] counts the top-level cert/key pair first when there is one.
      const std::size_t offset = node["cert"].IsDefined() ? 1 : 0;
      field = field.substr(close + 2);
      if (index >= offset && list.IsSequence() && index - offset < list.size()) {
        at = list[index - offset];
        at_path = indexed(join(path, "certificates"), index - offset);
      }
    }
    const YAML::Node value = field.empty() ? YAML::Node() : at[field];
    if (value.IsDefined()) error(value, join(at_path, field), e.message);
    else error(at, field.empty() ? at_path : join(at_path, field), e.message);
  }
}

}  // namespace portcullis::loader
