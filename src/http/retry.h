// Whether a failed attempt is tried again, and where: a pure function of the attempt's outcome and
// the service's retry settings (Ribbon's model: further tries on the same server, then on the next
// servers). The retry budget is the caller's, consulted only when this says a retry is wanted.
#pragma once
#include <vector>

#include "pipeline/context.h"

namespace portcullis::http {

// How an attempt ended, for retries, outlier detection and the breaker.
enum class Failure { none, connect, reset, timeout, status };
Failure classify(ErrorKind kind);

// The service's settings and what this request allows.
struct RetryPolicy {
  bool on_connect_failure = false;
  bool on_reset = false;
  bool on_timeout = false;
  bool on_5xx = false;
  const std::vector<int>* statuses = nullptr;  // further statuses retried
  bool method_retryable = false;               // the request's method is among the retried ones
  bool body_replayable = true;                 // the body can be sent again (none, held or buffered)
};

struct AttemptReport {
  Failure failure = Failure::none;
  int status = 0;                // the response status, when there was one
  bool error_retryable = false;  // the error itself allows a retry (nothing reached the origin)
  bool body_started = false;     // part of a streamed body went out
  bool time_left = true;         // the route's overall timeout has not passed
  bool client_connected = true;  // the client is still there to answer
};

struct RetryCounters {
  unsigned same_left = 0;  // further tries on the same instance
  unsigned next_left = 0;  // further instances
};

enum class RetryChoice { none, same_server, next_server };

// The choice, and the counter it spends (decremented in `counters`) when it is not none.
RetryChoice decide_retry(const RetryPolicy& policy, const AttemptReport& report, RetryCounters& counters);

// A pooled connection the origin closed just as it was reused: the request goes again, once, on a
// fresh connection, which is safe only when nothing of it could have been acted on.
bool replay_on_fresh_connection(bool reused, bool already_replayed, bool got_bytes, bool body_started,
                                bool timed_out, bool has_body, ErrorKind kind);

}  // namespace portcullis::http
