// Config loader: the server section (listeners, TLS, limits, timeouts, trusted proxies) and admin.
#include <limits>

#include "config/parser.h"
#include "util/cidr.h"

namespace portcullis::loader {

// ---- server and admin ------------------------------------------------------------------------

void Parser::parse_server(const YAML::Node& node, ServerConfig& out) {
  const std::string path = "server";
  if (node.IsNull()) return;
  if (!expect_keys(
          node, path,
          {"listen", "workers", "limits", "timeouts", "trusted_proxies", "via", "server_header",
           "client_cert_header"}))
    return;
  with_key(node, "listen", path, [&](const YAML::Node& value, const std::string& at) {
    // One address is common enough to deserve the short form.
    if (value.IsSequence()) return read_address_list(value, at, out.listen, AddressUse::listener);
    if (value.IsMap()) {
      ListenAddress address;
      parse_listener(value, at, address);
      out.listen = {address};
      return;
    }
    if (!value.IsScalar()) return error(value, at, "expected an address or a list of addresses");
    ListenAddress address;
    if (read_address(value, at, address, AddressUse::listener)) out.listen = {address};
  });
  with_key(node, "workers", path, [&](const YAML::Node& value, const std::string& at) {
    read_integer(value, at, out.workers, 0u, 1024u);
  });
  with_key(node, "limits", path,
           [&](const YAML::Node& value, const std::string& at) { parse_limits(value, at, out); });
  with_key(node, "timeouts", path,
           [&](const YAML::Node& value, const std::string& at) { parse_timeouts(value, at, out); });
  with_key(node, "trusted_proxies", path, [&](const YAML::Node& value, const std::string& at) {
    parse_trusted_proxies(value, at, out);
  });
  with_key(node, "via", path, [&](const YAML::Node& value, const std::string& at) {
    std::string via;
    if (!read_string(value, at, via)) return;
    // The pseudonym is a token in the Via grammar; a space would corrupt the header.
    if (!via.empty() && !is_token(via))
      return error(value, at, "must be a single token (letters, digits, !#$%&'*+-.^_`|~) or empty");
    out.via = via;
  });
  with_key(node, "server_header", path, [&](const YAML::Node& value, const std::string& at) {
    read_bool(value, at, out.server_header);
  });
  with_key(node, "client_cert_header", path, [&](const YAML::Node& value, const std::string& at) {
    std::string name;
    if (!read_string(value, at, name)) return;
    if (name.empty() || !is_token(name)) return error(value, at, "must be a header name");
    out.client_cert_header = name;
  });
}

// ---- TLS -------------------------------------------------------------------------------------

// A listener written as a map: { address: "0.0.0.0:8443", tls: {...} }.
void Parser::parse_listener(const YAML::Node& node, const std::string& path, ListenAddress& out) {
  if (!expect_keys(node, path, {"address", "tls"})) return;
  if (!node["address"].IsDefined()) error(node, join(path, "address"), "missing required key");
  with_key(node, "address", path, [&](const YAML::Node& value, const std::string& at) {
    read_address(value, at, out, AddressUse::listener);
  });
  with_key(node, "tls", path, [&](const YAML::Node& value, const std::string& at) {
    parse_listener_tls(value, at, out);
  });
}

void Parser::read_tls_version(const YAML::Node& node, const std::string& path, std::string& out) {
  with_key(node, "min_version", path, [&](const YAML::Node& value, const std::string& at) {
    std::string v;
    if (!read_string(value, at, v)) return;
    if (v != "1.2" && v != "1.3") return error(value, at, "must be \"1.2\" or \"1.3\" (older versions are refused)");
    out = v;
  });
}

bool Parser::read_certificate(const YAML::Node& node, const std::string& path, tls::CertificateFiles& out) {
  if (!expect_keys(node, path, {"cert", "key"})) return false;
  const bool cert = read_required_string(node, "cert", path, out.cert);
  const bool key = read_required_string(node, "key", path, out.key);
  return cert && key;
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
      if (index < offset) {
        // the top-level pair
      } else if (list.IsSequence() && index - offset < list.size()) {
        at = list[index - offset];
        at_path = indexed(join(path, "certificates"), index - offset);
      }
    }
    const YAML::Node value = field.empty() ? YAML::Node() : at[field];
    if (value.IsDefined()) error(value, join(at_path, field), e.message);
    else error(at, field.empty() ? at_path : join(at_path, field), e.message);
  }
}

void Parser::parse_listener_tls(const YAML::Node& node, const std::string& path, ListenAddress& out) {
  if (!expect_keys(node, path,
                   {"cert", "key", "certificates", "min_version", "ciphers", "ciphersuites", "client_ca", "verify",
                    "session_tickets", "session_timeout"}))
    return;
  const std::size_t errors_before = errors_.list().size();
  auto listener = std::make_shared<ListenerTls>();
  tls::ServerSettings& s = listener->settings;
  if (node["cert"].IsDefined() || node["key"].IsDefined()) {
    tls::CertificateFiles pair;
    const bool cert = read_required_string(node, "cert", path, pair.cert);
    const bool key = read_required_string(node, "key", path, pair.key);
    if (cert && key) s.certificates.push_back(pair);
  }
  with_key(node, "certificates", path, [&](const YAML::Node& value, const std::string& at) {
    if (!expect_list(value, at)) return;
    for (std::size_t i = 0; i < value.size(); ++i) {
      tls::CertificateFiles pair;
      if (read_certificate(value[i], indexed(at, i), pair)) s.certificates.push_back(pair);
    }
  });
  if (s.certificates.empty() && errors_.list().size() == errors_before)
    error(node, join(path, "cert"), "a TLS listener needs cert and key (or certificates)");
  read_tls_version(node, path, s.min_version);
  with_key(node, "ciphers", path, [&](const YAML::Node& value, const std::string& at) { read_string(value, at, s.ciphers); });
  with_key(node, "ciphersuites", path,
           [&](const YAML::Node& value, const std::string& at) { read_string(value, at, s.ciphersuites); });
  with_key(node, "client_ca", path,
           [&](const YAML::Node& value, const std::string& at) { read_string(value, at, s.client_ca); });
  with_key(node, "verify", path, [&](const YAML::Node& value, const std::string& at) {
    std::string v;
    if (!read_string(value, at, v)) return;
    if (v == "required") s.verify = tls::Verify::required;
    else if (v == "optional") s.verify = tls::Verify::optional;
    else if (v == "none") s.verify = tls::Verify::none;
    else error(value, at, "must be required, optional or none");
  });
  if (!s.client_ca.empty() && !node["verify"].IsDefined()) s.verify = tls::Verify::required;
  if (s.client_ca.empty() && s.verify != tls::Verify::none)
    error(node["verify"], join(path, "verify"), "client certificates need client_ca");
  with_key(node, "session_tickets", path,
           [&](const YAML::Node& value, const std::string& at) { read_bool(value, at, s.session_tickets); });
  with_key(node, "session_timeout", path, [&](const YAML::Node& value, const std::string& at) {
    Duration d{};
    if (read_duration(value, at, d, false)) s.session_timeout = std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(d));
  });
  if (errors_.list().size() != errors_before) return;
  std::vector<tls::BuildError> problems;
  listener->context = tls::ServerContext::build(s, problems);
  report_tls(node, path, problems);
  if (listener->context) out.tls = std::move(listener);
}

void Parser::parse_upstream_tls(const YAML::Node& node, const std::string& path, ServiceConfig& out) {
  if (!expect_keys(node, path, {"ca", "sni", "verify", "cert", "key", "min_version"})) return;
  const std::size_t errors_before = errors_.list().size();
  tls::ClientSettings s;
  with_key(node, "ca", path, [&](const YAML::Node& value, const std::string& at) { read_string(value, at, s.ca); });
  with_key(node, "sni", path, [&](const YAML::Node& value, const std::string& at) { read_string(value, at, s.sni); });
  with_key(node, "verify", path, [&](const YAML::Node& value, const std::string& at) { read_bool(value, at, s.verify); });
  if (node["cert"].IsDefined() || node["key"].IsDefined()) {
    read_required_string(node, "cert", path, s.client.cert);
    read_required_string(node, "key", path, s.client.key);
  }
  read_tls_version(node, path, s.min_version);
  if (errors_.list().size() != errors_before) return;
  std::vector<tls::BuildError> problems;
  out.tls_context = tls::ClientContext::build(s, problems);
  report_tls(node, path, problems);
  out.tls = s;
}

void Parser::parse_limits(const YAML::Node& node, const std::string& path, ServerConfig& out) {
  struct Limit {
    std::string_view key;
    std::uint64_t ServerConfig::*member;
    std::uint64_t min;  // 0 only where "none allowed" is a meaningful setting
    bool is_size;       // counts take plain integers, byte limits also take "64KiB"
  };
  static constexpr std::array<Limit, 7> kLimits{{
      {"max_connections", &ServerConfig::max_connections, 1, false},
      {"max_request_header_bytes", &ServerConfig::max_request_header_bytes, 1, true},
      {"max_request_line_bytes", &ServerConfig::max_request_line_bytes, 1, true},
      {"max_header_count", &ServerConfig::max_header_count, 1, false},
      {"max_request_body_bytes", &ServerConfig::max_request_body_bytes, 0, true},
      {"max_response_header_bytes", &ServerConfig::max_response_header_bytes, 1, true},
      {"max_chunk_extension_bytes", &ServerConfig::max_chunk_extension_bytes, 0, true},
  }};
  if (node.IsNull()) return;
  Keys known;
  for (const Limit& limit : kLimits) known.push_back(limit.key);
  if (!expect_keys(node, path, known)) return;
  for (const Limit& limit : kLimits) {
    with_key(node, limit.key, path, [&](const YAML::Node& value, const std::string& at) {
      std::uint64_t& field = out.*limit.member;
      if (limit.is_size) return static_cast<void>(read_size(value, at, field, limit.min));
      read_integer(value, at, field, limit.min, std::numeric_limits<std::uint64_t>::max());
    });
  }
}

void Parser::parse_timeouts(const YAML::Node& node, const std::string& path, ServerConfig& out) {
  if (node.IsNull()) return;
  if (!expect_keys(node, path, {"request_header", "idle", "drain"})) return;
  with_key(node, "request_header", path, [&](const YAML::Node& value, const std::string& at) {
    read_duration(value, at, out.request_header_timeout, false);
  });
  with_key(node, "idle", path, [&](const YAML::Node& value, const std::string& at) {
    read_duration(value, at, out.idle_timeout, false);
  });
  // A zero drain is meaningful: close in-flight connections at once on shutdown.
  with_key(node, "drain", path, [&](const YAML::Node& value, const std::string& at) {
    read_duration(value, at, out.drain_timeout, true);
  });
}

void Parser::parse_trusted_proxies(const YAML::Node& node, const std::string& path,
                                   ServerConfig& out) {
  if (node.IsNull()) return;
  if (!expect_list(node, path)) return;
  std::vector<std::string> proxies;
  for (std::size_t i = 0; i < node.size(); ++i) {
    std::string cidr;
    if (!read_string(node[i], indexed(path, i), cidr)) continue;
    // The same parser the snapshot uses, so "valid here" and "usable there" cannot disagree.
    if (!Cidr::parse(cidr)) {
      error(node[i], indexed(path, i),
            "invalid CIDR " + in_quotes(cidr) +
                " (expected an IPv4 or IPv6 address with an optional /prefix)");
      continue;
    }
    proxies.push_back(std::move(cidr));
  }
  out.trusted_proxies = std::move(proxies);
}

void Parser::parse_admin(const YAML::Node& node, const ServerConfig& server, AdminConfig& out) {
  const std::string path = "admin";
  if (node.IsNull()) return;
  if (!expect_keys(node, path, {"listen", "enabled"})) return;
  with_key(node, "enabled", path, [&](const YAML::Node& value, const std::string& at) {
    read_bool(value, at, out.enabled);
  });
  with_key(node, "listen", path, [&](const YAML::Node& value, const std::string& at) {
    if (!read_address(value, at, out.listen, AddressUse::listener)) return;
    // Two listeners on one fixed port would fail at bind time with a less helpful message.
    const bool clash = std::any_of(server.listen.begin(), server.listen.end(), [&](const auto& l) {
      return l.port != 0 && l.port == out.listen.port && l.host == out.listen.host;
    });
    if (clash && out.enabled) error(value, at, "same address as server.listen");
  });
}

}  // namespace portcullis::loader
