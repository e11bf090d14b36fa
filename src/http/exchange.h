// One request's whole lifecycle, whatever protocol carried it, as one coroutine that reads like
// the chart in docs/architecture.md:
//
//   begin -> canonical path, route match -> priority -> PRE filters -> admission -> ROUTE filters
//     -> route stage (static answer, or the upstream call with its retries)
//     -> POST filters (once, on whichever answer it is) -> response -> completion (metrics, log)
//   any failure -> ERROR filters -> the default JSON error
//
// It talks to its client only through http::Downstream, and says what the connection should do
// next (keep, close) instead of setting flags the connection reads. Exchanges are reused: a
// worker keeps finished ones and reset() makes one ready for the next request without freeing
// its buffers.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "http/downstream.h"
#include "http/upstream_call.h"
#include "pipeline/context.h"
#include "protection/gate.h"

namespace portcullis {
class WorkerContext;
class Filter;
struct Route;
struct Snapshot;
enum class ShedReason : std::uint8_t;
}

namespace portcullis::http {

class Exchange {
 public:
  explicit Exchange(WorkerContext& worker) : worker_(&worker) {}
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  net::awaitable<Disposition> run(Downstream& downstream);
  void reset(WorkerContext& worker);
  Context& context() { return ctx_; }

 private:
  void begin();
  void match_route();
  void take_priority();
  net::awaitable<bool> before_route_stage();
  enum class FilterRun { passed, stopped, needs_await };
  FilterRun run_filters_now(const std::vector<const Filter*>& list, std::size_t& next);
  net::awaitable<bool> run_filters(const std::vector<const Filter*>& list, std::size_t next);
  net::awaitable<bool> hold_body(std::size_t limit);
  bool answer_locally();
  void shed(ShedReason reason, std::string message);
  void fail(ErrorKind kind, std::string message);
  void choose_variant();
  net::awaitable<bool> call_upstream();
  net::awaitable<void> tunnel();
  void answer_error();
  void prepare_response();
  // How sending an answer went: done, or the origin failed before anything reached the client
  // (the error is answered instead).
  enum class Sent { done, failed_unsent };
  net::awaitable<Sent> send_proxied();
  net::awaitable<void> send_local();
  ResponseStart start_of(int status, std::string_view reason, std::int64_t length, bool bodiless, bool local) const;
  void finish();
  void count_grpc(const Route& route);

  WorkerContext* worker_;
  Downstream* down_ = nullptr;
  Context ctx_;
  std::shared_ptr<const Snapshot> snapshot_;  // kept until the request ends
  std::string canonical_;                     // the canonical path (capacity kept across requests)
  std::string held_body_;                     // the whole body, when a filter needed it
  std::string upstream_head_;                 // the request head as sent to the origin
  protection::GateTicket global_ticket_, route_ticket_;
  std::optional<UpstreamCall> call_;  // the route stage's call to the service, when there is one
  UpstreamResponse response_;         // the origin's response head, while it is relayed
  bool proxied_ = false;              // the answer is the origin's (else ctx.local_response)
  bool close_ = false;                // the connection ends after this exchange
};

}  // namespace portcullis::http
