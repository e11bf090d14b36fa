#include "discovery/instance.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace portcullis {

std::string_view to_string(InstanceStatus status) {
  switch (status) {
    case InstanceStatus::up: return "UP";
    case InstanceStatus::down: return "DOWN";
    case InstanceStatus::starting: return "STARTING";
    case InstanceStatus::out_of_service: return "OUT_OF_SERVICE";
    case InstanceStatus::unknown: break;
  }
  return "UNKNOWN";
}

InstanceStatus parse_instance_status(std::string_view text) {
  std::string upper(text);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  if (upper == "UP") return InstanceStatus::up;
  if (upper == "DOWN") return InstanceStatus::down;
  if (upper == "STARTING") return InstanceStatus::starting;
  if (upper == "OUT_OF_SERVICE") return InstanceStatus::out_of_service;
  return InstanceStatus::unknown;
}

bool parse_ip(std::string_view host, std::uint16_t port, Endpoint& out) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char buf[64];
  if (host.empty() || host.size() >= sizeof buf) return false;
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  out = {};
  out.port = port;
  if (inet_pton(AF_INET, buf, out.bytes.data()) == 1) return true;
  if (inet_pton(AF_INET6, buf, out.bytes.data()) == 1) {
    out.v6 = true;
    return true;
  }
  return false;
}

std::string format_address(const Endpoint& e) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(e.v6 ? AF_INET6 : AF_INET, e.bytes.data(), buf, sizeof buf);
  std::string host(buf);
  return (e.v6 ? "[" + host + "]" : host) + ":" + std::to_string(e.port);
}

}  // namespace portcullis
