// Shadow copies of requests (see mirror.h).
#include "http/mirror.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "config/snapshot.h"
#include "core/worker_context.h"
#include "http/buffer.h"
#include "http/parser.h"
#include "http/upstream_connect.h"
#include "util/clock.h"
#include "util/awaitable.h"

namespace portcullis::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// Sends the copy and reads up to the final response head.
net::awaitable<bool> shadow_exchange(tcp::socket& socket, tcp::endpoint endpoint, const std::string& bytes) {
  auto [cec] = co_await socket.async_connect(endpoint, use_tuple);
  if (cec) co_return false;
  auto [wec, wn] = co_await net::async_write(socket, net::buffer(bytes), use_tuple);
  if (wec) co_return false;
  Buffer buffer;
  while (true) {
    ResponseHead head;
    ResponseFraming framing;
    auto r = parse_response_head(buffer.readable(), 65536, head, framing);
    if (r.status == ParseStatus::complete && head.status >= 200) co_return true;
    if (r.status == ParseStatus::error) co_return false;
    if (r.status == ParseStatus::complete) buffer.consume(head.head_bytes);  // 1xx
    if (!buffer.prepare(4096, 70000)) co_return false;
    auto [rec, n] = co_await socket.async_read_some(net::buffer(buffer.write_ptr(), buffer.writable()), use_tuple);
    if (rec) co_return false;
    buffer.commit(n);
  }
}

// One shadow exchange, bounded by the mirror's timeout; then the slot is given back.
net::awaitable<void> mirror(tcp::endpoint endpoint, std::string bytes, Duration timeout,
                            std::shared_ptr<std::atomic<std::int64_t>> in_flight, observability::Shard* shard,
                            observability::CounterId answered, observability::CounterId failed) {
  using namespace net::experimental::awaitable_operators;
  auto executor = co_await net::this_coro::executor;
  tcp::socket socket(executor);
  net::steady_timer deadline(executor);
  deadline.expires_after(timeout);
  auto wait = [&]() -> net::awaitable<void> { co_await deadline.async_wait(use_tuple); };
  auto result = co_await (shadow_exchange(socket, endpoint, bytes) || wait());
  const bool ok = result.index() == 0 && std::get<0>(result);
  in_flight->fetch_sub(1, std::memory_order_relaxed);
  shard->inc(ok ? answered : failed);
}

}  // namespace

void start_mirror(WorkerContext& worker, const Context& ctx, std::string_view head, const std::string_view* body) {
  const Route::Mirror& m = *ctx.route->mirror;
  const MirrorConfig& cfg = *ctx.route->config->mirror;
  const http::RequestHead& request = *ctx.request;
  if (request.upgrade) return;  // a copy of an upgrade would hold a shadow connection open for nothing
  if (canary::split_point(false, 0, worker.mirror_sequence()) >= m.threshold) return;
  auto& shard = worker.shard();
  // A held body (read whole for a filter) is mirrored from memory only when it was sent with a length.
  const bool held = ctx.request_body != nullptr;
  if (request.has_body() && (!body || (held && request.chunked) || request.content_length > cfg.max_body_bytes)) {
    shard.inc(m.skipped_body);
    return;
  }
  if (m.service->config.tls_context) {  // shadow copies are sent over plain connections only
    shard.inc(m.failed);
    return;
  }
  if (m.in_flight->fetch_add(1, std::memory_order_relaxed) >= static_cast<std::int64_t>(cfg.max_in_flight)) {
    m.in_flight->fetch_sub(1, std::memory_order_relaxed);
    shard.inc(m.dropped_full);
    return;
  }
  discovery::Balancer& balancer = worker.balancer(m.service->id);
  balancer.refresh(*m.service->runtime);
  const std::int64_t now = steady_now_ns();
  auto pick = balancer.pick(m.service->policy, false, 50, 0, now);
  if (!pick.instance) {
    m.in_flight->fetch_sub(1, std::memory_order_relaxed);
    shard.inc(m.failed);
    return;
  }
  std::string bytes(head);
  if (request.has_body()) bytes.append(*body);
  net::co_spawn(worker.io(),
                mirror(tcp_endpoint(pick.instance->endpoint), std::move(bytes), cfg.timeout, m.in_flight, &shard, m.sent,
                       m.failed),
                net::detached);
}

}  // namespace portcullis::http
