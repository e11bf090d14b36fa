// Forwarding rules and the HTTP/1.1 heads they produce (see forwarding.h).
#include "http/forwarding.h"

#include <charconv>
#include <cstring>

#include "http/parser.h"
#include "util/http_date.h"
#include "util/writer.h"

namespace portcullis::http {
namespace {

void append_field(StringWriter& out, std::string_view name, std::string_view value) {
  char* p = out.room(name.size() + value.size() + 4);
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p++ = '\n';
  out.advance(name.size() + value.size() + 4);
}

bool named_in_connection(const Fields& fields, std::string_view name) {
  bool named = false;
  for (const auto& f : fields.items()) {
    if (!iequals(f.name, "connection")) continue;
    for_each_list_item(f.value, [&](std::string_view opt) { named = named || iequals(opt, name); });
  }
  return named;
}

bool is_forwarding_field(std::string_view n) {
  return iequals(n, "forwarded") || iequals(n, "x-forwarded-proto") || iequals(n, "x-forwarded-host") ||
         iequals(n, "x-forwarded-prefix") || iequals(n, "x-forwarded-port");
}

// Max-Forwards on TRACE and OPTIONS is decremented (RFC 9110 7.6.2); true when it was written.
bool append_max_forwards(StringWriter& out, std::string_view value) {
  std::uint64_t hops = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), hops);
  if (ec != std::errc() || p != value.data() + value.size() || hops == 0) return false;
  out.put("Max-Forwards: ");
  out.number(hops - 1);
  out.put("\r\n");
  return true;
}

// The client's fields that go on, minus those the gateway rebuilds; returns the prior Via.
std::string_view append_passed_fields(StringWriter& out, const ForwardedRequest& r) {
  const RequestHead& head = *r.head;
  const bool has_connection = head.fields.contains("connection");
  const bool hop_limited = head.method == Method::trace || head.method == Method::options;
  std::string_view prior_via;
  for (const auto& f : head.fields.items()) {
    std::string_view n = f.name;
    if (skip_forwarding(head.fields, n, has_connection) || iequals(n, "host") || iequals(n, "content-length") ||
        iequals(n, "expect") || iequals(n, "http2-settings") || iequals(n, "x-forwarded-for"))
      continue;
    if (hop_limited && iequals(n, "max-forwards") && append_max_forwards(out, f.value)) continue;
    if (iequals(n, "via")) {
      prior_via = f.value;
      continue;
    }
    if (!r.client_trusted && is_forwarding_field(n)) continue;
    append_field(out, n, f.value);
  }
  return prior_via;
}

void append_forwarded_for(StringWriter& out, const ForwardedRequest& r) {
  out.put("X-Forwarded-For: ");
  if (r.client_trusted) {  // every X-Forwarded-For line of a trusted peer is one list (RFC 9110 5.3)
    for (const auto& f : r.head->fields.items()) {
      if (!iequals(f.name, "x-forwarded-for") || f.value.empty()) continue;
      out.put(f.value);
      out.put(", ");
    }
  }
  out.put(r.client_ip);
  out.put("\r\n");
}

}  // namespace

bool is_hop_by_hop(std::string_view name) {
  switch (name.size()) {
    case 2: return iequals(name, "te");
    case 7: return iequals(name, "trailer") || iequals(name, "upgrade");
    case 10: return iequals(name, "connection") || iequals(name, "keep-alive");
    case 16: return iequals(name, "proxy-connection");
    case 17: return iequals(name, "transfer-encoding");
    case 18: return iequals(name, "proxy-authenticate");
    default: return false;
  }
}

bool skip_forwarding(const Fields& fields, std::string_view name, bool has_connection) {
  return is_hop_by_hop(name) || (has_connection && named_in_connection(fields, name));
}

void append_request_head(std::string& buffer, const ForwardedRequest& r) {
  StringWriter out(buffer, 256 + r.head->target.size() + r.head->fields.size() * 64);
  const RequestHead& head = *r.head;
  out.put(head.method_text);
  out.put(' ');
  if (r.path.empty() || r.path.front() != '/') out.put('/');
  out.put(r.path);
  if (!head.query.empty()) {
    out.put('?');
    out.put(head.query);
  }
  out.put(" HTTP/1.1\r\nHost: ");
  out.put(r.authority);
  out.put("\r\n");
  const std::string_view prior_via = append_passed_fields(out, r);
  append_forwarded_for(out, r);
  if (!r.client_trusted || !head.fields.contains("x-forwarded-proto"))
    out.put(r.secure ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
  if (!r.client_cert_subject.empty()) append_field(out, r.client_cert_header, r.client_cert_subject);
  if ((!r.client_trusted || !head.fields.contains("x-forwarded-host")) && !head.host.empty())
    append_field(out, "X-Forwarded-Host", head.host);
  if (!r.stripped_prefix.empty()) append_field(out, "X-Forwarded-Prefix", r.stripped_prefix);
  if (!r.via.empty()) {
    out.put("Via: ");
    if (!prior_via.empty()) {
      out.put(prior_via);
      out.put(", ");
    }
    out.put(head.version == 10 ? "1.0 " : head.version == 20 ? "2 " : "1.1 ");
    out.put(r.via);
    out.put("\r\n");
  }
  if (r.upgrade) {
    out.put("Connection: upgrade\r\n");
    append_field(out, "Upgrade", head.fields.get("upgrade"));
  }
  if (head.chunked) {
    out.put("Transfer-Encoding: chunked\r\n");
  } else if (head.has_content_length) {
    out.put("Content-Length: ");
    out.number(head.content_length);
    out.put("\r\n");
  }
  out.put("\r\n");
}

void append_response_head(std::string& buffer, const ForwardedResponse& r) {
  StringWriter out(buffer, 256 + r.fields->size() * 64);
  out.put(r.client_version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  out.number(static_cast<std::uint64_t>(r.status));
  out.put(' ');
  out.put(r.reason.empty() ? reason_phrase(r.status) : r.reason);
  out.put("\r\n");
  const Fields& fields = *r.fields;
  const bool has_connection = fields.contains("connection");
  bool has_request_id = false;
  bool has_date = false;
  for (const auto& f : fields.items()) {
    if (skip_forwarding(fields, f.name, has_connection) || iequals(f.name, "content-length")) continue;
    has_request_id = has_request_id || iequals(f.name, "x-request-id");
    has_date = has_date || iequals(f.name, "date");
    append_field(out, f.name, f.value);
  }
  if (!has_date) append_field(out, "Date", http_date_now());
  if (r.server_header && !fields.contains("server")) append_field(out, "Server", "portcullis");
  if (!has_request_id && !r.request_id.empty()) append_field(out, "X-Request-Id", r.request_id);
  if (!r.via.empty()) {
    out.put(r.via_http2 ? "Via: 2 " : "Via: 1.1 ");
    out.put(r.via);
    out.put("\r\n");
  }
  if (r.content_length >= 0) {
    out.put("Content-Length: ");
    out.number(static_cast<std::uint64_t>(r.content_length));
    out.put("\r\n");
  } else if (r.chunked) {
    out.put("Transfer-Encoding: chunked\r\n");
  }
  if (r.close) out.put("Connection: close\r\n");
  else if (r.client_version == 10) out.put("Connection: keep-alive\r\n");
  out.put("\r\n");
}

bool usable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

std::string_view format_request_id(std::string_view prefix, std::uint64_t counter, char (&out)[48]) {
  static const char hex[] = "0123456789abcdef";
  std::size_t n = prefix.copy(out, 24);
  for (int shift = 44; shift >= 0; shift -= 4) out[n++] = hex[(counter >> shift) & 15];
  return {out, n};
}

std::string_view last_chunk(const Fields* trailers, std::string& storage) {
  if (!trailers || trailers->items().empty()) return "0\r\n\r\n";
  storage = "0\r\n";
  for (const auto& f : trailers->items()) {
    if (f.name.empty() || f.name.front() == ':' || is_hop_by_hop(f.name) || iequals(f.name, "content-length") ||
        iequals(f.name, "host"))
      continue;
    storage.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  storage += "\r\n";
  return storage;
}

std::string_view chunk_header(std::size_t n, char (&buf)[24]) {
  static const char hex[] = "0123456789abcdef";
  char tmp[20];
  int len = 0;
  do {
    tmp[len++] = hex[n & 15];
    n >>= 4;
  } while (n);
  int i = 0;
  while (len) buf[i++] = tmp[--len];
  buf[i++] = '\r';
  buf[i++] = '\n';
  return {buf, static_cast<std::size_t>(i)};
}

}  // namespace portcullis::http
