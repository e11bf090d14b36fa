// The forwarding rules of a proxy (RFC 9110 7.6), as pure functions of their inputs: which fields
// pass, which the gateway adds (X-Forwarded-*, Via, X-Request-Id, Date), and the HTTP/1.1 heads
// they make. The data path calls them; tests/unit/http/forwarding_test.cpp checks them as tables.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"

namespace portcullis::http {

// Hop-by-hop fields (RFC 9110 7.6.1) and those the message's Connection field names.
bool is_hop_by_hop(std::string_view name);
bool skip_forwarding(const Fields& fields, std::string_view name, bool has_connection);

// What the upstream request head is made from.
struct ForwardedRequest {
  const RequestHead* head = nullptr;
  std::string_view path;            // the upstream path (prefix stripped, or rewritten by a filter)
  std::string_view stripped_prefix; // sent as X-Forwarded-Prefix; "" = none
  std::string_view authority;       // Host for the origin: the instance address
  std::string_view client_ip;       // appended to X-Forwarded-For
  bool client_trusted = false;      // a trusted proxy: its X-Forwarded-* and Forwarded are kept
  bool secure = false;              // the client connection is TLS: X-Forwarded-Proto https
  std::string_view client_cert_header;
  std::string_view client_cert_subject;  // "" = no verified client certificate
  std::string_view via;             // the gateway's pseudonym; "" = no Via
  bool upgrade = false;             // the route lets Upgrade through
};
// Appends the HTTP/1.1 request head for the origin to `out`.
void append_request_head(std::string& out, const ForwardedRequest& r);

// What the response head for the client is made from.
struct ForwardedResponse {
  int status = 200;
  std::string_view reason;          // "" = the standard phrase
  const Fields* fields = nullptr;   // the response fields after the post filters
  int client_version = 11;          // 10 or 11
  std::int64_t content_length = -1; // -1 = none sent
  bool chunked = false;             // Transfer-Encoding: chunked
  bool close = false;               // Connection: close (the connection ends after this response)
  bool server_header = false;       // Server: portcullis, unless the fields have one
  std::string_view request_id;      // X-Request-Id, unless the fields have one
  std::string_view via;             // "" = no Via
  bool via_http2 = false;           // the response came over HTTP/2 ("Via: 2 ...", RFC 9110 7.6.3)
};
void append_response_head(std::string& out, const ForwardedResponse& r);

// A client's X-Request-Id is kept when it is printable, unquoted and at most 128 bytes.
bool usable_request_id(std::string_view id);
// A fresh id: the worker's random prefix then the counter in hex; at most 48 bytes into `out`.
std::string_view format_request_id(std::string_view prefix, std::uint64_t counter, char (&out)[48]);

// The last chunk of a chunked body: "0\r\n", the trailer fields that may go on (none that frame
// or route the message: hop-by-hop ones, Content-Length, Host, pseudo-fields), then "\r\n".
std::string_view last_chunk(const Fields* trailers, std::string& storage);

// "1a2b\r\n" for a chunk of `n` bytes.
std::string_view chunk_header(std::size_t n, char (&buf)[24]);

}  // namespace portcullis::http
