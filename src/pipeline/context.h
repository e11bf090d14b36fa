// The per-request context every filter sees: the request, the matched route, the chosen instance,
// typed attributes filters share, timing marks, the response being built and the error, if any.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "http/message.h"

namespace portcullis {

struct Snapshot;
struct Route;
struct Instance;
struct Service;
struct Variant;

using Clock = std::chrono::steady_clock;

// One error type for the data path: what failed, on which side, and whether a retry may help.
// The status of the answer follows from the kind (http/error_response.cpp, the one place that
// builds error answers); only `rejected` carries a status of its own, the one a filter chose.
enum class ErrorKind {
  none,
  bad_request,            // 400: the client sent something refused
  not_found,              // 404: no route
  rejected,               // a filter refused the request with its own status
  body_too_large,         // 413
  head_too_large,         // 431
  uri_too_long,           // 414
  expectation_failed,     // 417
  not_implemented,        // 501: a transfer coding or method the gateway does not relay
  version_not_supported,  // 505
  no_instances,           // 503
  unavailable,            // 503: circuit open, bulkhead full, shed
  connect_failed,         // 502
  connect_timeout,        // 504
  upstream_timeout,       // 504
  upstream_reset,         // 502
  bad_upstream_response,  // 502
  internal,               // 500
};
enum class ErrorSource { downstream, upstream, internal };

struct Error {
  ErrorKind kind = ErrorKind::none;
  ErrorSource source = ErrorSource::internal;
  int status = 0;  // 0 = derived from kind; set only for `rejected`
  std::string message;
  bool retryable = false;
  explicit operator bool() const { return kind != ErrorKind::none; }
};

// A response produced at the gateway (static route, filter answer, error).
struct LocalResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class Context {
 public:
  Context() : arena_(arena_initial_, sizeof(arena_initial_)) {}
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Back to a fresh request's state, keeping the memory of the field lists and the arena, so a
  // context reused for request after request allocates nothing.
  void reset();

  // --- request ------------------------------------------------------------------------------
  http::RequestHead* request = nullptr;  // fields are views: change them with set/remove + keep()
  std::string_view canonical_path;       // what routing and filters match on (lives for the request)
  std::string_view client_address;       // peer IP as text
  const std::array<std::uint8_t, 16>* client_bytes = nullptr;  // the same, IPv4 mapped into IPv6
  std::string_view request_id;
  const Snapshot* snapshot = nullptr;
  const Route* route = nullptr;
  const Service* service = nullptr;  // the service proxied to: the route's, or a canary/split variant's
  const Variant* variant = nullptr;  // the canary/split variant chosen, when the route has several
  const Instance* instance = nullptr;
  std::shared_ptr<const void> instance_owner;  // keeps `instance` valid while discovery publishes
  std::string_view upstream_path;  // set by set_path / rewrite_path; empty = target after prefix strip
  std::uint32_t worker = 0;
  // The connection the request arrived on: true over TLS (https_redirect, X-Forwarded-Proto), and
  // the subject of the client certificate the listener verified (empty when none was presented).
  bool secure = false;
  std::string_view client_cert_subject;
  // The whole request body, once a filter that needs it (Filter::body_limit) made the pipeline
  // read it; null otherwise (the body is then streamed to the origin, never held).
  const std::string* request_body = nullptr;
  // The most request body bytes this request may send: server.max_request_body_bytes unless a
  // filter (request_size_limit) lowers it. 0 = the server's limit.
  std::uint64_t max_body_bytes = 0;
  // The limit in force: the lower of max_body_bytes (when set) and the server's.
  std::uint64_t body_limit(std::uint64_t server_max) const {
    return max_body_bytes ? std::min(max_body_bytes, server_max) : server_max;
  }
  // Who the request is from, once an authentication filter has said so (rate_limit's `api_key`
  // key); empty when no such filter ran.
  std::string_view consumer;
  // 0 (least important) .. 99 (most important): from the route's default, the priority header or a
  // filter. Load shedding turns lower priorities away first.
  int priority = 50;

  // --- response -----------------------------------------------------------------------------
  // Upstream response head fields (views into the upstream buffer or into the arena) that post
  // filters may edit, and the status sent to the client.
  http::Fields response_fields;
  int response_status = 0;
  std::optional<LocalResponse> local_response;  // set when the gateway answers itself
  // Headers a pre or route filter adds to whatever response is sent, proxied or local (before the
  // post filters run). Views must live for the request: use keep().
  std::vector<std::pair<std::string_view, std::string_view>> added_response_headers;
  Error error;

  // --- accounting -----------------------------------------------------------------------------
  Clock::time_point start;
  Clock::time_point upstream_start;
  Clock::time_point upstream_headers;
  Clock::time_point end;
  std::uint64_t request_body_bytes = 0;
  std::uint64_t response_body_bytes = 0;
  int attempts = 0;
  // The grpc-status an origin's trailers carried (-1 = none came): for the gRPC metrics.
  int grpc_status = -1;

  // Copies text into the request's arena and returns a view that lives as long as the request.
  std::string_view keep(std::string_view text) {
    auto* p = static_cast<char*>(arena_.allocate(text.size() ? text.size() : 1, 1));
    std::copy(text.begin(), text.end(), p);
    return {p, text.size()};
  }

  // Answer locally with `status` (pre/route filters use this and return Outcome::respond).
  LocalResponse& respond(int status, std::string body = {}) {
    local_response.emplace();
    local_response->status = status;
    local_response->body = std::move(body);
    return *local_response;
  }

  // Typed attribute slots for filters that share data: one value per type.
  template <class T>
  T& attribute() {
    for (auto& a : attributes_)
      if (a.type == &typeid(T)) return *static_cast<T*>(a.value.get());
    attributes_.push_back({&typeid(T), std::shared_ptr<void>(std::make_shared<T>())});
    return *static_cast<T*>(attributes_.back().value.get());
  }
  template <class T>
  const T* find_attribute() const {
    for (auto& a : attributes_)
      if (a.type == &typeid(T)) return static_cast<const T*>(a.value.get());
    return nullptr;
  }

 private:
  struct Attribute {
    const std::type_info* type;
    std::shared_ptr<void> value;
  };
  std::vector<Attribute> attributes_;
  alignas(16) char arena_initial_[512];
  std::pmr::monotonic_buffer_resource arena_;
};

}  // namespace portcullis
