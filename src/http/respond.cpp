// Serialising heads and writing responses produced at the gateway (static answers and errors).
#include <charconv>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "config/snapshot.h"
#include "core/worker.h"
#include "http/session.h"
#include "observability/access_log.h"
#include "http/upstream_target.h"
#include "util/http_date.h"

namespace portcullis {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  auto [end, _] = std::to_chars(buf, buf + sizeof(buf), n);
  out.append(buf, end);
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

// Fields a proxy must not forward (RFC 9110 7.6.1), plus those named in Connection.
bool is_hop_by_hop(std::string_view name) {
  using http::iequals;
  switch (name.size()) {
    case 2: return iequals(name, "te");
    case 7: return iequals(name, "trailer") || iequals(name, "upgrade");
    case 10: return iequals(name, "connection") || iequals(name, "keep-alive");
    case 16: return iequals(name, "proxy-connection");
    case 17: return iequals(name, "transfer-encoding");
    case 19: return iequals(name, "proxy-authenticate");
    default: return false;
  }
}

bool named_in_connection(const http::Fields& fields, std::string_view name) {
  bool named = false;
  for (const auto& f : fields.items()) {
    if (!http::iequals(f.name, "connection")) continue;
    http::for_each_list_item(f.value, [&](std::string_view opt) { named = named || http::iequals(opt, name); });
  }
  return named;
}

std::string_view error_name(int status) { return http::reason_phrase(status); }

}  // namespace

bool skip_forwarding(const http::Fields& fields, std::string_view name, bool has_connection) {
  return is_hop_by_hop(name) || (has_connection && named_in_connection(fields, name));
}

net::awaitable<bool> Session::write_client(std::string_view a, std::string_view b) {
  arm(worker_.snapshot()->config.server.idle_timeout, Phase::write);
  std::array<net::const_buffer, 2> buffers{net::buffer(a.data(), a.size()), net::buffer(b.data(), b.size())};
  auto [ec, n] = co_await net::async_write(stream_, buffers, use_tuple);
  co_return !ec;
}

void Session::append_response_head(Context& ctx, int status, std::string_view reason, const http::Fields& fields,
                                   std::int64_t content_length, bool chunked) {
  out_.clear();
  out_.reserve(1000);  // one small (thread-cached) allocation instead of a doubling series
  out_ += head_.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  append_number(out_, static_cast<std::uint64_t>(status));
  out_ += ' ';
  out_ += reason.empty() ? http::reason_phrase(status) : reason;
  out_ += "\r\n";
  const bool has_connection = fields.contains("connection");
  bool has_request_id = false;
  bool has_date = false;
  for (const auto& f : fields.items()) {
    if (skip_forwarding(fields, f.name, has_connection) || http::iequals(f.name, "content-length")) continue;
    has_request_id = has_request_id || http::iequals(f.name, "x-request-id");
    has_date = has_date || http::iequals(f.name, "date");
    append_field(out_, f.name, f.value);
  }
  if (!has_date) append_field(out_, "Date", http_date_now());
  const bool local = !ctx.route || !ctx.route->service || ctx.local_response;
  if (local && ctx.snapshot->config.server.server_header && !fields.contains("server"))
    append_field(out_, "Server", "portcullis");
  if (!has_request_id && !ctx.request_id.empty()) append_field(out_, "X-Request-Id", ctx.request_id);
  const auto& via = ctx.snapshot->config.server.via;
  if (!via.empty() && ctx.route && ctx.route->service) {
    out_ += "Via: 1.1 ";
    out_ += via;
    out_ += "\r\n";
  }
  if (content_length >= 0) {
    out_ += "Content-Length: ";
    append_number(out_, static_cast<std::uint64_t>(content_length));
    out_ += "\r\n";
  } else if (chunked) {
    out_ += "Transfer-Encoding: chunked\r\n";
  }
  if (close_after_) out_ += "Connection: close\r\n";
  else if (head_.version == 10) out_ += "Connection: keep-alive\r\n";
  out_ += "\r\n";
}

void Session::build_error(Context& ctx) {
  Error& e = ctx.error;
  int status = e.status;
  if (status == 0) {
    switch (e.kind) {
      case ErrorKind::bad_request: status = 400; break;
      case ErrorKind::not_found: status = 404; break;
      case ErrorKind::no_instances:
      case ErrorKind::unavailable: status = 503; break;
      case ErrorKind::connect_failed:
      case ErrorKind::upstream_reset:
      case ErrorKind::bad_upstream_response: status = 502; break;
      case ErrorKind::connect_timeout:
      case ErrorKind::upstream_timeout: status = 504; break;
      default: status = 500;
    }
  }
  std::string body = "{\"status\":";
  append_number(body, static_cast<std::uint64_t>(status));
  body += ",\"error\":\"";
  body += error_name(status);
  body += "\",\"message\":\"";
  observability::append_json_escaped(body, e.message);
  body += "\",\"request_id\":\"";
  observability::append_json_escaped(body, ctx.request_id);
  body += "\"}\n";
  LocalResponse& r = ctx.respond(status, std::move(body));
  r.headers.emplace_back("Content-Type", "application/json");
  if (status == 503) r.headers.emplace_back("Retry-After", ctx.snapshot->shedding.retry_after);
}

net::awaitable<bool> Session::write_local(Context& ctx, const LocalResponse& response) {
  const bool bodiless = head_.method == http::Method::head || response.status == 204 || response.status == 304 ||
                        response.status < 200;
  ctx.response_status = response.status;
  append_response_head(ctx, response.status, {}, ctx.response_fields,
                       response.status == 204 || response.status == 304 ? -1
                                                                        : static_cast<std::int64_t>(response.body.size()),
                       false);
  ctx.response_body_bytes = bodiless ? 0 : response.body.size();
  co_return co_await write_client(out_, bodiless ? std::string_view{} : std::string_view(response.body));
}

net::awaitable<void> Session::write_error_and_close(int status, const char* message) {
  // A request that could not be parsed: no context, no filters; a short JSON answer and close.
  std::string body = "{\"status\":";
  append_number(body, static_cast<std::uint64_t>(status));
  body += ",\"error\":\"";
  body += error_name(status);
  body += "\",\"message\":\"";
  observability::append_json_escaped(body, message);
  body += "\"}\n";
  out_.clear();
  out_ += "HTTP/1.1 ";
  append_number(out_, static_cast<std::uint64_t>(status));
  out_ += ' ';
  out_ += http::reason_phrase(status);
  out_ += "\r\nContent-Type: application/json\r\nContent-Length: ";
  append_number(out_, body.size());
  out_ += "\r\nConnection: close\r\n\r\n";
  co_await write_client(out_, body);
}

void Session::append_request_head(Context& ctx, const Instance& instance) {
  const Snapshot& snap = *ctx.snapshot;
  const Route& route = *ctx.route;
  out_.clear();
  out_.reserve(1000);
  out_ += head_.method_text;
  out_ += ' ';
  // The target goes upstream byte for byte, minus the route's literal prefix.
  std::string_view prefix;
  std::string_view path = http::upstream_path(ctx, &prefix);
  if (path.empty() || path.front() != '/') out_ += '/';
  out_ += path;
  if (!head_.query.empty()) {
    out_ += '?';
    out_ += head_.query;
  }
  out_ += " HTTP/1.1\r\nHost: ";
  out_ += instance.address;
  out_ += "\r\n";
  const bool trusted = any_contains(snap.trusted_proxies, peer_bytes_);
  const bool has_connection = head_.fields.contains("connection");
  const bool upgrade = head_.upgrade && route.config->allow_upgrade;
  std::string_view prior_via;
  const bool hop_limited = head_.method == http::Method::trace || head_.method == http::Method::options;
  for (const auto& f : head_.fields.items()) {
    std::string_view n = f.name;
    if (skip_forwarding(head_.fields, n, has_connection) || http::iequals(n, "host") ||
        http::iequals(n, "content-length") || http::iequals(n, "expect") || http::iequals(n, "http2-settings"))
      continue;
    if (http::iequals(n, "x-forwarded-for")) continue;  // rebuilt below
    if (hop_limited && http::iequals(n, "max-forwards")) {
      std::uint64_t hops = 0;
      auto [p, ec] = std::from_chars(f.value.data(), f.value.data() + f.value.size(), hops);
      if (ec == std::errc() && p == f.value.data() + f.value.size() && hops > 0) {
        out_ += "Max-Forwards: ";
        append_number(out_, hops - 1);
        out_ += "\r\n";
        continue;
      }
    }
    if (http::iequals(n, "via")) {
      prior_via = f.value;
      continue;
    }
    if (!trusted && (http::iequals(n, "forwarded") || http::iequals(n, "x-forwarded-proto") ||
                     http::iequals(n, "x-forwarded-host") || http::iequals(n, "x-forwarded-prefix") ||
                     http::iequals(n, "x-forwarded-port")))
      continue;
    if (trusted && (http::iequals(n, "x-forwarded-proto") || http::iequals(n, "x-forwarded-host"))) {
      append_field(out_, n, f.value);
      continue;
    }
    append_field(out_, n, f.value);
  }
  out_ += "X-Forwarded-For: ";
  if (trusted) {  // every X-Forwarded-For line of a trusted peer is one list (RFC 9110 5.3)
    for (const auto& f : head_.fields.items()) {
      if (!http::iequals(f.name, "x-forwarded-for") || f.value.empty()) continue;
      out_ += f.value;
      out_ += ", ";
    }
  }
  out_ += peer_;
  out_ += "\r\n";
  if (!trusted || !head_.fields.contains("x-forwarded-proto"))
    out_ += stream_.secure() ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n";
  if (!client_subject_.empty()) append_field(out_, snap.config.server.client_cert_header, client_subject_);
  if ((!trusted || !head_.fields.contains("x-forwarded-host")) && !head_.host.empty())
    append_field(out_, "X-Forwarded-Host", head_.host);
  if (!prefix.empty()) append_field(out_, "X-Forwarded-Prefix", prefix);
  if (!snap.config.server.via.empty()) {
    out_ += "Via: ";
    if (!prior_via.empty()) {
      out_ += prior_via;
      out_ += ", ";
    }
    out_ += head_.version == 10 ? "1.0 " : "1.1 ";
    out_ += snap.config.server.via;
    out_ += "\r\n";
  }
  if (upgrade) {
    out_ += "Connection: upgrade\r\n";
    append_field(out_, "Upgrade", head_.fields.get("upgrade"));
  }
  if (head_.chunked) {
    out_ += "Transfer-Encoding: chunked\r\n";
  } else if (head_.has_content_length) {
    out_ += "Content-Length: ";
    append_number(out_, head_.content_length);
    out_ += "\r\n";
  }
  out_ += "\r\n";
}

}  // namespace portcullis
