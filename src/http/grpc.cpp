// gRPC helpers (see grpc.h).
#include "http/grpc.h"

#include <algorithm>

namespace portcullis::http {

bool is_grpc(const RequestHead& head) {
  const std::string_view type = head.fields.get("content-type");
  constexpr std::string_view grpc = "application/grpc";
  if (type.size() < grpc.size() || !iequals(type.substr(0, grpc.size()), grpc)) return false;
  return type.size() == grpc.size() || type[grpc.size()] == '+' || type[grpc.size()] == ';';
}

int grpc_status_of(int status, ErrorKind kind) {
  if (kind == ErrorKind::connect_timeout || kind == ErrorKind::upstream_timeout) return 4;  // DEADLINE_EXCEEDED
  switch (status) {
    case 401: return 16;  // UNAUTHENTICATED
    case 403: return 7;   // PERMISSION_DENIED
    case 404:
    case 501: return 12;  // UNIMPLEMENTED
    case 413:
    case 429: return 8;   // RESOURCE_EXHAUSTED
    case 502:
    case 503:
    case 504: return 14;  // UNAVAILABLE
    case 500:
    case 400:
    case 414:
    case 431: return 13;  // INTERNAL, as gRPC maps these statuses
    default: return 2;    // UNKNOWN
  }
}

void append_grpc_message(std::string& out, std::string_view message) {
  // Percent-encoded outside printable ASCII, and '%' itself (gRPC over HTTP/2, "Responses").
  static const char hex[] = "0123456789ABCDEF";
  for (const char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u <= 0x7e && c != '%') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
}

std::optional<std::chrono::nanoseconds> grpc_timeout(const RequestHead& head) {
  const std::string_view text = head.fields.get("grpc-timeout");
  if (text.size() < 2 || text.size() > 9) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  using namespace std::chrono;
  switch (text.back()) {
    case 'H': return duration_cast<nanoseconds>(hours(std::min<std::int64_t>(value, 2'000'000)));  // ns fit 2.5M h
    case 'M': return duration_cast<nanoseconds>(minutes(value));
    case 'S': return duration_cast<nanoseconds>(seconds(value));
    case 'm': return duration_cast<nanoseconds>(milliseconds(value));
    case 'u': return duration_cast<nanoseconds>(microseconds(value));
    case 'n': return nanoseconds(value);
    default: return std::nullopt;
  }
}

}  // namespace portcullis::http
