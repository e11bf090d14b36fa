// The example backend's command line and start-up helpers. Included by backend.cpp only.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "text.h"

namespace backend {

using boost::asio::ip::tcp;
using boost::system::error_code;
constexpr std::uint64_t max_capacity = 1'000'000;

// ---------------------------------------------------------------------------------------------
// Command line and start-up

struct Options {
  std::string host = "127.0.0.1";
  int port = -1;
  std::string name = "backend";
  std::string ready_file;
  std::string register_url;
  std::string app = "backend";
  std::string instance_id;
  std::string zone;
  unsigned heartbeat_s = 30;
  unsigned lease_s = 90;
  std::uint64_t capacity = 0;  // 0: no limit
};

constexpr const char* usage =
    "usage: portcullis-example-backend --port N [--host 127.0.0.1] [--name NAME] [--ready-file PATH]\n"
    "         [--capacity N]   serve at most N requests at once, the others wait in arrival order\n"
    "         [--register EUREKA_URL [--app APP] [--instance-id ID] [--zone Z] [--heartbeat SECONDS]\n"
    "          [--lease-duration SECONDS]]\n";

inline bool is_token_or_colon(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c != ':' && !token_table[static_cast<unsigned char>(c)]) return false;
  return true;
}

// "30" or "30s", 1..3600.
inline bool parse_seconds(std::string_view s, unsigned& out) {
  if (s.ends_with('s')) s.remove_suffix(1);
  std::uint64_t n = 0;
  if (!parse_decimal(s, n) || n == 0 || n > 3600) return false;
  out = static_cast<unsigned>(n);
  return true;
}

// 1..1,000,000 slots.
inline bool parse_capacity(std::string_view s, std::uint64_t& out) {
  return parse_decimal(s, out) && out >= 1 && out <= max_capacity;
}

inline std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view key = argv[i], value;
    if (key == "-h" || key == "--help") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
    if (std::size_t eq = key.find('='); key.starts_with("--") && eq != npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "%.*s needs a value\n%s", static_cast<int>(key.size()), key.data(), usage);
      return std::nullopt;
    }
    std::uint64_t port = 0;
    if (key == "--port" && parse_decimal(value, port) && port <= 65535) o.port = static_cast<int>(port);
    else if (key == "--host" && !value.empty()) o.host = value;
    else if (key == "--name" && is_token(value)) o.name = value;  // it goes into a header
    else if (key == "--ready-file" && !value.empty()) o.ready_file = value;
    else if (key == "--capacity" && parse_capacity(value, o.capacity)) {
    }
    else if (key == "--register" && value.starts_with("http://")) o.register_url = value;
    else if (key == "--app" && is_token(value)) o.app = value;
    else if (key == "--instance-id" && is_token_or_colon(value)) o.instance_id = value;  // ids hold ':'

    else if (key == "--zone" && is_token(value)) o.zone = value;
    else if (key == "--heartbeat" && parse_seconds(value, o.heartbeat_s)) {
    } else if (key == "--lease-duration" && parse_seconds(value, o.lease_s)) {
    }
    else {
      std::fprintf(stderr, "bad argument %.*s\n%s", static_cast<int>(key.size()), key.data(), usage);
      return std::nullopt;
    }
  }
  if (o.port < 0) std::fputs(usage, stderr);
  return o.port < 0 ? std::nullopt : std::optional<Options>(o);
}

// An address literal as is, else a name looked up once (e.g. "localhost").
inline std::optional<tcp::endpoint> listen_endpoint(boost::asio::io_context& io, const Options& o) {
  std::string host = o.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  boost::asio::ip::address address = boost::asio::ip::make_address(host, ec);
  if (!ec) return tcp::endpoint(address, static_cast<unsigned short>(o.port));
  tcp::resolver resolver(io);
  auto results = resolver.resolve(host, std::to_string(o.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) return std::nullopt;
  return results.begin()->endpoint();
}

// Written to a temporary name and renamed, so a watcher never reads a half-written port.
inline bool write_ready_file(const std::string& path, unsigned short port) {
  std::string temp = path + ".tmp";
  std::FILE* f = std::fopen(temp.c_str(), "w");
  if (!f) return false;
  bool ok = std::fprintf(f, "%u\n", static_cast<unsigned>(port)) > 0;
  ok = std::fclose(f) == 0 && ok;
  return ok && std::rename(temp.c_str(), path.c_str()) == 0;
}

inline bool open_acceptor(tcp::acceptor& acceptor, const tcp::endpoint& endpoint, error_code& ec) {
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  return !ec;
}

}  // namespace backend
