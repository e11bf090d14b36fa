// The canary manager, on the control thread: applies each config's canary blocks (keeping runtime
// changes while a block is unchanged), raises ramps, analyses canary against baseline and rolls
// back, and carries out the admin operations.
#pragma once
#include <memory>
#include <string_view>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "canary/canary.h"

namespace portcullis {
struct Snapshot;
struct Route;
}

namespace portcullis::canary {

// Ramps, analysis and the admin operations, on the control thread.
class Manager {
 public:
  Manager(boost::asio::io_context& control, observability::Registry& metrics);
  ~Manager();
  void reconcile(std::shared_ptr<const Snapshot> snap);
  void stop();

  // GET /admin/canary
  nlohmann::json describe() const;
  // POST /admin/canary/{route}?percent=N | ?action=pause|resume|promote|rollback. Returns the
  // status and a JSON body.
  std::pair<int, nlohmann::json> command(std::string_view route, std::string_view query);
  // POST /admin/routes/{route}/pin?service=S; unpin when `service` is empty.
  std::pair<int, nlohmann::json> pin(std::string_view route, std::string_view service);

 private:
  void tick();
  void analyse(const Route& route, RouteCanary& c, std::chrono::steady_clock::time_point now);
  const Route* find(std::string_view id) const;

  boost::asio::io_context& ioc_;
  observability::Registry& metrics_;
  std::shared_ptr<const Snapshot> snap_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
};

}  // namespace portcullis::canary
