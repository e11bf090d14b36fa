// The route stage's call to a service: admission to the service (bulkhead, adaptive limit), the
// circuit breaker, then attempts until one brings a response head to relay. Each attempt is an
// UpstreamAttempt; after each, http/retry.h decides from its outcome whether another is made and
// where, under the service's retry budget. The breaker and the adaptive limiter hear of the
// request once, when its outcome is known (the final head or the final failure).
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "http/message.h"
#include "http/parser.h"
#include "http/retry.h"
#include "pipeline/context.h"
#include "protection/gate.h"

namespace portcullis {
class WorkerContext;
struct Instance;
struct Service;
namespace protection {
class AdaptiveLimiter;
}
}

namespace portcullis::http {

class Downstream;
class UpstreamAttempt;
struct UpstreamConnection;
namespace h2 {
class OriginStream;
}

// The response head an upstream call brought, on the connection to relay its body from.
struct UpstreamResponse {
  std::shared_ptr<UpstreamConnection> conn;   // HTTP/1.1 services
  std::shared_ptr<h2::OriginStream> origin;   // HTTP/2 services: the stream to relay from
  ResponseHead head;
  ResponseFraming framing;
};

class UpstreamCall {
 public:
  using Clock = std::chrono::steady_clock;
  UpstreamCall(WorkerContext& worker, Downstream& down, Context& ctx, std::string& head_buffer);
  ~UpstreamCall();
  UpstreamCall(const UpstreamCall&) = delete;
  UpstreamCall& operator=(const UpstreamCall&) = delete;

  // True with `out` filled; false when ctx.error, or ctx.local_response (the breaker's fallback),
  // says what to answer.
  boost::asio::awaitable<bool> run(UpstreamResponse& out);
  // The response was relayed (`reusable`: its connection may carry another request) or given up.
  void finish(UpstreamResponse& response, bool reusable);
  // The route's overall deadline, retries included (max = none).
  Clock::time_point deadline() const { return deadline_; }
  // Waits for a request body still being pumped to an HTTP/2 origin beside the response (it is
  // cut short if still running): before the exchange ends.
  boost::asio::awaitable<void> join_body();
  bool body_pumping() const { return pumped_ != nullptr; }

 private:
  enum class Tried { answered, failed, replay };
  bool begin();
  // Chooses the instance for the next attempt (into next_). A next-server pick avoids every
  // instance this request has tried and, finding none, fails without touching the error.
  bool pick(bool next_server);
  boost::asio::awaitable<Tried> try_instance(UpstreamAttempt& attempt, UpstreamResponse& out);
  AttemptReport report(bool ok, const UpstreamAttempt& attempt, const ResponseHead& head);
  bool retry(bool ok, const AttemptReport& report, UpstreamAttempt& attempt);
  bool breaker_allows(std::int64_t now_ns);
  // The breaker and the adaptive limiter hear of the request's outcome, once.
  void settle(bool failed, bool dropped);
  void begin_attempt(const Instance& instance);
  void end_attempt();
  void mirror_once(bool body_replayable);

  WorkerContext& worker_;
  Downstream& down_;
  Context& ctx_;
  std::string& head_buffer_;
  protection::GateTicket ticket_;      // the service's concurrency slot
  std::int64_t admitted_in_flight_ = 0;
  const Service* service_ = nullptr;
  // Outcome reporting: a request that ends any other way (cancelled, an exception) counts as a
  // failure, so a half-open probe never leaves the circuit waiting.
  bool settled_ = true;
  bool probe_ = false;
  protection::AdaptiveLimiter* adaptive_ = nullptr;
  std::int64_t start_ns_ = 0;
  const Instance* active_ = nullptr;  // the instance of the attempt under way (in flight, pool gauge)
  bool mirrored_ = false;
  // The attempts: what the retries decide from.
  std::uint64_t hash_ = 0;
  RetryCounters counters_;
  RetryPolicy policy_;
  bool body_replayable_ = true;
  const Instance* instance_ = nullptr;
  const Instance* next_ = nullptr;  // chosen by pick(), tried next
  std::shared_ptr<const void> next_owner_;  // keeps next_'s set alive until it becomes current
  std::array<std::uint32_t, 12> tried_{};  // ids of the instances tried (retries are at most 10)
  std::size_t tried_count_ = 0;
  bool pick_next_ = true;
  bool replayed_ = false;
  static constexpr int kMaxRefusedReplays = 3;
  int refused_replays_ = 0;  // HTTP/2: sent again after the origin refused the stream
  Clock::time_point start_{};
  Clock::time_point deadline_ = Clock::time_point::max();
  std::shared_ptr<h2::OriginStream> pumped_;  // the stream whose request body a pump feeds
};

}  // namespace portcullis::http
