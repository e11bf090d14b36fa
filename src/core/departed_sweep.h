// The sweep of departed instances, on the control thread. An instance that left its service keeps
// its metric series, pooled connections and id for `discovery.forget_departed_after`, in case it
// comes back (a restart, a flapping health state). Past that, once no instance set holds it any
// more, every worker closes its idle connections to it and lets go of cached sets a newer one
// replaced; when all have, the service forgets it: its series leave /metrics (their slots and the
// id are reused by the next new instance). So a fleet whose instances come and go keeps as much
// state as it has instances alive, not as it ever had.
#pragma once
#include <chrono>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace portcullis {

class Server;

class DepartedSweep {
 public:
  DepartedSweep(boost::asio::io_context& control, Server& server);
  void start();
  void stop();

 private:
  void round();
  void schedule();

  boost::asio::io_context& control_;
  Server& server_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // completions that arrive after stop
};

}  // namespace portcullis
