// `dns` discovery: the A and AAAA records of discovery.name, each with discovery.port, resolved
// every `refresh`. Asio's resolver runs getaddrinfo on its own thread, so the control thread never
// blocks on DNS. A failed lookup, or one with no addresses, keeps the last known instances: an
// empty answer from a flaky resolver must not take a whole service out.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <set>

#include "discovery/provider.h"
#include "discovery/service_runtime.h"
#include "util/log.h"

namespace portcullis::discovery {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

class DnsResolver : public std::enable_shared_from_this<DnsResolver> {
 public:
  explicit DnsResolver(ProviderContext ctx) : ctx_(std::move(ctx)), resolver_(ctx_.ioc), timer_(ctx_.ioc) {
    source_ = "dns " + ctx_.service.discovery.name;
  }

  void start() {
    if (ctx_.service.discovery.name.empty() || ctx_.service.discovery.port == 0) {
      ctx_.runtime->refresh_failed(source_, "dns discovery needs discovery.name and discovery.port");
      return;
    }
    net::co_spawn(ctx_.ioc, [self = shared_from_this()] { return self->run(); }, net::detached);
  }

  void stop() {
    stopped_ = true;
    resolver_.cancel();
    timer_.cancel();
  }

 private:
  net::awaitable<void> run() {
    const auto& d = ctx_.service.discovery;
    while (!stopped_) {
      // numeric_service: the port is a number; no AI_ADDRCONFIG, so loopback names resolve even on
      // a host whose only addresses are loopback.
      auto [ec, results] = co_await resolver_.async_resolve(d.name, std::to_string(d.port),
                                                            tcp::resolver::numeric_service, use_tuple);
      if (stopped_) break;
      if (ec) {
        ctx_.runtime->refresh_failed(source_, "cannot resolve " + d.name + ": " + ec.message());
      } else {
        std::set<std::string> seen;
        std::vector<DiscoveredInstance> list;
        for (const auto& entry : results) {
          std::string host = entry.endpoint().address().to_string();
          if (!seen.insert(host).second) continue;
          DiscoveredInstance i;
          i.host = host;
          i.port = d.port;
          list.push_back(std::move(i));
        }
        if (list.empty()) ctx_.runtime->refresh_failed(source_, d.name + " has no A or AAAA records");
        else ctx_.runtime->publish(list, source_);
      }
      timer_.expires_after(d.refresh);
      co_await timer_.async_wait(use_tuple);
    }
  }

  ProviderContext ctx_;
  tcp::resolver resolver_;
  net::steady_timer timer_;
  std::string source_;
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<Provider> make_dns_provider(ProviderContext ctx) { return std::make_unique<SharedWorkProvider<DnsResolver>>(std::move(ctx)); }

}  // namespace portcullis::discovery
