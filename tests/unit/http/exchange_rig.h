// A worker for the data path's unit tests: a config compiled from YAML into a snapshot, the
// services' static instances published, a WorkerContext on a plain io_context, and in-memory
// origins in place of TCP. run() drives one exchange to its end on the test's thread.
#pragma once
#include <memory>
#include <string>

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include "config/errors.h"
#include "config/runtime_state.h"
#include "config/snapshot.h"
#include "core/worker_context.h"
#include "http/exchange.h"
#include "unit/http/memory_peers.h"

namespace http_support {

class Rig {
 public:
  explicit Rig(const std::string& yaml)
      : metrics_(registry()),
        worker_(ioc, 0, metrics_.shard(0), WorkerMetrics::make(metrics_, 0), source_),
        origins(ioc) {
    ConfigErrors errors("test.yaml");
    Config config = parse_config(YAML::Load(yaml), errors);
    INFO(errors.joined());
    REQUIRE(errors.empty());
    auto snapshot = compile_snapshot(std::move(config), errors, state(), ++generation_);
    INFO(errors.joined());
    REQUIRE(snapshot);
    for (const auto& [name, service] : snapshot->services)
      service->runtime->publish(service->static_instances, "static");
    source_.publish(snapshot);
    worker_.set_connector(&origins);
  }

  // Runs one request through a fresh exchange until it has ended and every origin script is done.
  http::Disposition run(TestDownstream& client) {
    http::Exchange exchange(worker_);
    http::Disposition out = http::Disposition::close;
    bool done = false;
    start(client, exchange, out, done);
    ioc.run();
    ioc.restart();
    REQUIRE(done);
    return out;
  }

  // Starts an exchange and runs only what is ready (a step of a test that then changes something).
  void start(TestDownstream& client, http::Exchange& exchange, http::Disposition& out, bool& done) {
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
          out = co_await exchange.run(client);
          client.watchdog().stop();
          done = true;
        },
        net::detached);
    settle();
  }
  void settle() {
    ioc.restart();
    while (ioc.poll() > 0) {
    }
  }

  WorkerContext& worker() { return worker_; }
  observability::Registry& metrics() { return metrics_; }

  net::io_context ioc;

 private:
  // One registry for every rig: services' runtime state is process-wide (kept across reloads by
  // service name) and keeps a reference to the registry it was first made with.
  static observability::Registry& registry() {
    static observability::Registry r(2);
    return r;
  }
  // Shared by every rig, as one gateway's state is shared by its reloads.
  static RuntimeState& state() {
    static RuntimeState s(registry());
    return s;
  }
  observability::Registry& metrics_;
  SnapshotSource source_;
  WorkerContext worker_;
  inline static std::uint64_t generation_ = 0;

 public:
  MemoryConnector origins;
};

// An origin that answers every request on its connection with `reply`, and hands each request it
// read to `seen` (when given).
inline MemoryConnector::Script answering(std::string reply, std::vector<std::string>* seen = nullptr) {
  return [reply, seen](std::shared_ptr<MemoryEnd> end) -> net::awaitable<void> {
    while (true) {
      std::string request = co_await read_request(*end);
      if (request.empty()) break;
      if (seen) seen->push_back(request);
      const bool sent = co_await end->send(reply);
      if (!sent) break;
    }
  };
}

}  // namespace http_support
