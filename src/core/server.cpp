// Server start-up, reload, signals and graceful drain. The control thread (admin listener,
// reloads, signals) has its own io_context, so it answers while the data path is saturated.
#include "core/server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "admin/admin_server.h"
#include "canary/manager.h"
#include "discovery/manager.h"
#include "config/errors.h"
#include "core/departed_sweep.h"
#include "core/file_watcher.h"
#include "core/worker.h"
#include "config/runtime_state.h"
#include "util/log.h"

namespace portcullis {

using namespace std::chrono_literals;
namespace net = boost::asio;

struct Server::Control {
  net::io_context ioc{1};
  net::signal_set signals{ioc, SIGTERM, SIGINT, SIGHUP};
  net::steady_timer drain_timer{ioc};
  net::steady_timer gauge_timer{ioc};
  std::unique_ptr<AdminServer> admin;
  std::unique_ptr<discovery::Discovery> discovery;
  std::unique_ptr<canary::Manager> canary;
  std::unique_ptr<FileWatcher> watcher;  // the running config's lua scripts
  std::unique_ptr<DepartedSweep> sweep;
  std::chrono::steady_clock::time_point drain_deadline;
};

unsigned effective_workers(const Config& config) {
  if (config.server.workers > 0) return config.server.workers;
  unsigned n = std::thread::hardware_concurrency();
  return n ? n : 1;
}

Server::Server(std::string config_path, std::shared_ptr<observability::Registry> metrics,
               std::shared_ptr<RuntimeState> state)
    : config_path_(std::move(config_path)), metrics_(std::move(metrics)), state_(std::move(state)),
      control_(std::make_unique<Control>()) {
  reloads_ok_ = metrics_->counter("portcullis_config_reloads_total", "Config reloads, by result.", {{"result", "success"}});
  reloads_failed_ = metrics_->counter("portcullis_config_reloads_total", "Config reloads, by result.", {{"result", "failure"}});
}

Server::~Server() = default;

void Server::publish(std::shared_ptr<const Snapshot> snap) { snapshots_.publish(std::move(snap)); }

ReloadResult Server::reload() {
  ConfigErrors errors(config_path_);
  const std::uint64_t next = generation() + 1;
  return apply(load_snapshot(config_path_, errors, *state_, next), errors, next, "config reloaded");
}

// The running config compiled again, re-reading what it refers to (lua scripts) but not the file.
ReloadResult Server::recompile() {
  ConfigErrors errors(config_path_);
  const std::uint64_t next = generation() + 1;
  return apply(compile_snapshot(snapshot()->config, errors, *state_, next), errors, next,
               "lua scripts changed: config recompiled");
}

ReloadResult Server::apply(std::shared_ptr<const Snapshot> snap, const ConfigErrors& errors, std::uint64_t next,
                           const char* done) {
  ReloadResult result;
  if (!snap) {
    for (const auto& e : errors.list()) result.errors.push_back(e.to_string());
    control_shard().inc(reloads_failed_);
    log::error("config reload rejected; the running config stays", {{"errors", errors.joined()}});
    return result;
  }
  const auto& old = snapshot()->config.server;
  if (effective_workers(snap->config) != workers_.size() || snap->config.server.listen.size() != old.listen.size())
    log::warn("server.workers and server.listen changes take effect at the next restart");
  // Providers first: a service new in this config has its instances before a request can reach it.
  if (control_->discovery) control_->discovery->reconcile(*snap);
  if (control_->canary) control_->canary->reconcile(snap);
  if (control_->watcher) control_->watcher->watch(snap->watched_files);
  publish(std::move(snap));
  control_shard().inc(reloads_ok_);
  result.ok = true;
  result.generation = next;
  log::info(done, {{"generation", std::to_string(next)}});
  return result;
}

void Server::update_gauges() {
  update_concurrency_gauges(*snapshot(), control_shard());
  control_->gauge_timer.expires_after(1s);
  control_->gauge_timer.async_wait([this](boost::system::error_code ec) {
    if (!ec && !draining_) update_gauges();
  });
}

void Server::begin_shutdown() {
  if (draining_.exchange(true)) return;
  const auto drain = snapshot()->config.server.drain_timeout;
  log::info("draining", {{"deadline_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(drain).count())}});
  for (auto& w : workers_) w->begin_drain();
  control_->drain_deadline = std::chrono::steady_clock::now() + drain;
  // Poll for the end of the drain; past the deadline the remaining work is stopped.
  // The pending timer wait holds the poll; the poll holds itself weakly, so it is freed once done.
  auto tick = std::make_shared<std::function<void()>>();
  *tick = [this, weak = std::weak_ptr<std::function<void()>>(tick)] {
    auto self = weak.lock();
    bool all_done = true;
    for (auto& w : workers_) all_done = all_done && w->stopped();
    if (all_done) {
      if (control_->discovery) control_->discovery->stop();
      if (control_->canary) control_->canary->stop();
      control_->gauge_timer.cancel();
      if (control_->watcher) control_->watcher->stop();
      if (control_->sweep) control_->sweep->stop();
      control_->ioc.stop();
      return;
    }
    if (std::chrono::steady_clock::now() >= control_->drain_deadline) {
      log::warn("drain deadline reached; closing remaining connections");
      for (auto& w : workers_) w->force_stop();
    }
    control_->drain_timer.expires_after(20ms);
    control_->drain_timer.async_wait([self](boost::system::error_code ec) {
      if (!ec) (*self)();
    });
  };
  (*tick)();
}

int Server::run(std::shared_ptr<const Snapshot> initial) {
  control_->discovery = std::make_unique<discovery::Discovery>(control_->ioc, *metrics_,
                                                               metrics_->shard(metrics_->shard_count() - 1));
  control_->discovery->reconcile(*initial);
  control_->canary = std::make_unique<canary::Manager>(control_->ioc, *metrics_);
  control_->canary->reconcile(initial);
  control_->watcher = std::make_unique<FileWatcher>(control_->ioc, [this] {
    if (!draining_) recompile();
  });
  control_->watcher->watch(initial->watched_files);
  publish(initial);
  const Config& config = initial->config;
  const unsigned n = effective_workers(config);
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(*this, i));
  try {
    for (const auto& address : config.server.listen) {
      ListenAddress bound = address;
      for (auto& w : workers_) bound.port = w->listen(bound);  // the first bind picks port 0's port
      listening.push_back(bound.text());
    }
    if (config.admin.enabled) {
      control_->admin = std::make_unique<AdminServer>(*this, control_->ioc);
      control_->admin->set_registry(control_->discovery->registry());
      control_->admin->set_canary(control_->canary.get());
      ListenAddress admin = config.admin.listen;
      admin.port = control_->admin->listen(admin);
      log::info("admin listening", {{"address", admin.text()}});
    }
  } catch (const std::exception& e) {
    log::error("cannot listen", {{"error", e.what()}});
    return 1;
  }
  for (const auto& address : listening) log::info("listening", {{"address", address}});
  log::info("started", {{"workers", std::to_string(n)}, {"version", PORTCULLIS_VERSION}});

  control_->signals.add(SIGUSR1);
  control_->signals.async_wait([this](boost::system::error_code ec, int signo) { on_signal(ec, signo); });
  for (auto& w : workers_) w->start();
  if (control_->admin) control_->admin->start();
  update_gauges();
  control_->sweep = std::make_unique<DepartedSweep>(control_->ioc, *this);
  control_->sweep->start();
  control_->ioc.run();
  for (auto& w : workers_) w->join();
  state_->flush_access_logs(n);
  log::info("stopped");
  return 0;
}

void Server::on_signal(boost::system::error_code ec, int signo) {
  if (ec) return;
  if (signo == SIGHUP) {
    log::info("SIGHUP: reloading config");
    reload();
  } else if (signo == SIGUSR1) {
    log::info("SIGUSR1: reopening log files");
    state_->reopen_access_logs();
  } else {
    begin_shutdown();
  }
  control_->signals.async_wait([this](boost::system::error_code e, int s) { on_signal(e, s); });
}

}  // namespace portcullis
