// The retry decision (see retry.h).
#include "http/retry.h"

#include <algorithm>

namespace portcullis::http {

Failure classify(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::connect_failed:
    case ErrorKind::connect_timeout: return Failure::connect;
    case ErrorKind::upstream_reset:
    case ErrorKind::bad_upstream_response: return Failure::reset;
    case ErrorKind::upstream_timeout: return Failure::timeout;
    default: return Failure::none;
  }
}

RetryChoice decide_retry(const RetryPolicy& policy, const AttemptReport& report, RetryCounters& counters) {
  bool wanted = false;
  switch (report.failure) {
    case Failure::none: break;
    case Failure::connect: wanted = policy.on_connect_failure; break;
    case Failure::reset: wanted = policy.on_reset && report.error_retryable; break;
    case Failure::timeout: wanted = policy.on_timeout && report.time_left; break;
    case Failure::status:
      wanted = policy.on_5xx || (policy.statuses && std::find(policy.statuses->begin(), policy.statuses->end(),
                                                              report.status) != policy.statuses->end());
      break;
  }
  // A connection that could not be made carried nothing: even a streamed body is still unsent.
  const bool nothing_sent = report.failure == Failure::connect && !report.body_started;
  if (!wanted || !policy.method_retryable || !(policy.body_replayable || nothing_sent) ||
      counters.same_left + counters.next_left == 0 || !report.client_connected || !report.time_left)
    return RetryChoice::none;
  // A connection that cannot be made goes to the next server first (as Ribbon does).
  if ((report.failure == Failure::connect && counters.next_left > 0) || counters.same_left == 0) {
    --counters.next_left;
    return RetryChoice::next_server;
  }
  --counters.same_left;
  return RetryChoice::same_server;
}

bool replay_on_fresh_connection(bool reused, bool already_replayed, bool got_bytes, bool body_started,
                                bool timed_out, bool has_body, ErrorKind kind) {
  return reused && !already_replayed && !got_bytes && !body_started && !timed_out && !has_body &&
         kind == ErrorKind::upstream_reset;
}

}  // namespace portcullis::http
