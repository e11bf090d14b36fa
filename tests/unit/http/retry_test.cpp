// The retry decision as a table: which failures are retried, where, and when never.
#include <catch2/catch.hpp>

#include "http/error_response.h"
#include "http/retry.h"

using namespace portcullis;
using namespace portcullis::http;

namespace {

RetryPolicy defaults() {
  RetryPolicy p;
  p.on_connect_failure = true;
  p.on_reset = true;
  p.on_timeout = false;
  p.on_5xx = false;
  static const std::vector<int> statuses{502, 503, 504};
  p.statuses = &statuses;
  p.method_retryable = true;
  p.body_replayable = true;
  return p;
}

AttemptReport failed(Failure f, int status = 0) {
  AttemptReport r;
  r.failure = f;
  r.status = status;
  r.error_retryable = true;
  return r;
}

}  // namespace

TEST_CASE("retry: which failures are retried, and on which server", "[retry]") {
  struct Case {
    const char* name;
    RetryPolicy policy;
    AttemptReport report;
    RetryCounters counters;
    RetryChoice expected;
  };
  RetryPolicy no_method = defaults();
  no_method.method_retryable = false;
  RetryPolicy streamed = defaults();
  streamed.body_replayable = false;
  RetryPolicy timeouts = defaults();
  timeouts.on_timeout = true;
  AttemptReport reset_unretryable = failed(Failure::reset);
  reset_unretryable.error_retryable = false;
  AttemptReport late = failed(Failure::reset);
  late.time_left = false;
  AttemptReport gone = failed(Failure::reset);
  gone.client_connected = false;
  AttemptReport started = failed(Failure::connect);
  started.body_started = true;

  const std::vector<Case> cases = {
      {"success is never retried", defaults(), AttemptReport{}, {1, 1}, RetryChoice::none},
      {"a refused connection goes to the next server first", defaults(), failed(Failure::connect), {1, 1},
       RetryChoice::next_server},
      {"a refused connection with no next server left tries the same", defaults(), failed(Failure::connect), {1, 0},
       RetryChoice::same_server},
      {"a reset tries the same server while it may", defaults(), failed(Failure::reset), {1, 1}, RetryChoice::same_server},
      {"a reset goes on to the next once same-server tries are spent", defaults(), failed(Failure::reset), {0, 1},
       RetryChoice::next_server},
      {"a reset after bytes reached the origin is not retried", defaults(), reset_unretryable, {1, 1}, RetryChoice::none},
      {"a listed status is retried", defaults(), failed(Failure::status, 503), {0, 1}, RetryChoice::next_server},
      {"an unlisted 5xx is not", defaults(), failed(Failure::status, 500), {0, 1}, RetryChoice::none},
      {"timeouts only when asked for", defaults(), failed(Failure::timeout), {0, 1}, RetryChoice::none},
      {"timeouts when asked for", timeouts, failed(Failure::timeout), {0, 1}, RetryChoice::next_server},
      {"no tries left", defaults(), failed(Failure::connect), {0, 0}, RetryChoice::none},
      {"a method that is not retried", no_method, failed(Failure::connect), {1, 1}, RetryChoice::none},
      {"a streamed body that cannot be sent again", streamed, failed(Failure::reset), {1, 1}, RetryChoice::none},
      {"a streamed body never sent (connect failed) may go again", streamed, failed(Failure::connect), {1, 1},
       RetryChoice::next_server},
      {"...but not once part of it went out", streamed, started, {1, 1}, RetryChoice::none},
      {"the route's time is up", defaults(), late, {1, 1}, RetryChoice::none},
      {"the client has gone", defaults(), gone, {1, 1}, RetryChoice::none},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    RetryCounters counters = c.counters;
    CHECK(decide_retry(c.policy, c.report, counters) == c.expected);
    // The choice spends what it uses, and nothing when it is none.
    const unsigned spent = (c.counters.same_left - counters.same_left) + (c.counters.next_left - counters.next_left);
    CHECK(spent == (c.expected == RetryChoice::none ? 0u : 1u));
  }
}

TEST_CASE("retry: a closed pooled connection is replayed once, only when nothing could have been acted on", "[retry]") {
  CHECK(replay_on_fresh_connection(true, false, false, false, false, false, ErrorKind::upstream_reset));
  CHECK_FALSE(replay_on_fresh_connection(false, false, false, false, false, false, ErrorKind::upstream_reset));  // fresh
  CHECK_FALSE(replay_on_fresh_connection(true, true, false, false, false, false, ErrorKind::upstream_reset));   // again
  CHECK_FALSE(replay_on_fresh_connection(true, false, true, false, false, false, ErrorKind::upstream_reset));   // answered
  CHECK_FALSE(replay_on_fresh_connection(true, false, false, true, false, false, ErrorKind::upstream_reset));   // body out
  CHECK_FALSE(replay_on_fresh_connection(true, false, false, false, true, false, ErrorKind::upstream_reset));   // timed out
  CHECK_FALSE(replay_on_fresh_connection(true, false, false, false, false, true, ErrorKind::upstream_reset));   // has a body
  CHECK_FALSE(replay_on_fresh_connection(true, false, false, false, false, false, ErrorKind::upstream_timeout));
}

TEST_CASE("errors: the status follows from the kind, in one place", "[retry]") {
  const std::vector<std::pair<ErrorKind, int>> table = {
      {ErrorKind::bad_request, 400},     {ErrorKind::not_found, 404},        {ErrorKind::body_too_large, 413},
      {ErrorKind::head_too_large, 431},  {ErrorKind::uri_too_long, 414},     {ErrorKind::expectation_failed, 417},
      {ErrorKind::not_implemented, 501}, {ErrorKind::version_not_supported, 505}, {ErrorKind::no_instances, 503},
      {ErrorKind::unavailable, 503},     {ErrorKind::connect_failed, 502},   {ErrorKind::upstream_reset, 502},
      {ErrorKind::bad_upstream_response, 502}, {ErrorKind::connect_timeout, 504}, {ErrorKind::upstream_timeout, 504},
      {ErrorKind::internal, 500},
  };
  for (const auto& [kind, status] : table) CHECK(status_of(kind) == status);
  CHECK(status_of(Error{ErrorKind::rejected, ErrorSource::downstream, 429, "limited"}) == 429);  // a filter's own
  CHECK(classify(ErrorKind::connect_timeout) == Failure::connect);
  CHECK(classify(ErrorKind::bad_upstream_response) == Failure::reset);
  CHECK(classify(ErrorKind::upstream_timeout) == Failure::timeout);
  CHECK(classify(ErrorKind::bad_request) == Failure::none);
  CHECK(error_body(502, "cut \"short\"", "id1") ==
        "{\"status\":502,\"error\":\"Bad Gateway\",\"message\":\"cut \\\"short\\\"\",\"request_id\":\"id1\"}\n");
  CHECK(error_body(400, "bad", "") == "{\"status\":400,\"error\":\"Bad Request\",\"message\":\"bad\"}\n");
}
