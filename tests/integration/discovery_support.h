// Helpers shared by the discovery integration tests: Eureka documents, metric reads, a real etcd
// on loopback with a temporary data directory.
#pragma once
#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>

#include "harness.h"

namespace discovery_support {

// A registration body as Spring's eureka-client sends it.
inline std::string instance_json(const std::string& app, const std::string& id, int port, int lease_secs = 30,
                                 const std::string& status = "UP") {
  return R"({"instance": {"instanceId": ")" + id + R"(", "hostName": "127.0.0.1", "app": ")" + app +
         R"(", "ipAddr": "127.0.0.1", "status": ")" + status + R"(", "overriddenStatus": "UNKNOWN",
         "port": {"$": )" + std::to_string(port) + R"(, "@enabled": "true"}, "securePort": {"$": 443, "@enabled": "false"},
         "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
         "leaseInfo": {"renewalIntervalInSecs": 1, "durationInSecs": )" + std::to_string(lease_secs) + R"(},
         "metadata": {"@class": "java.util.Collections$EmptyMap"}, "vipAddress": ")" + app + R"("}})";
}

inline const std::vector<std::pair<std::string, std::string>> json_headers{{"Content-Type", "application/json"},
                                                                          {"Accept", "application/json"}};

// The value of one series in the gateway's /metrics, or -1 when absent.
inline double metric(int admin_port, const std::string& series) {
  std::string text = harness::get_body(admin_port, "/metrics");
  std::size_t pos = text.find("\n" + series + " ");
  if (pos == std::string::npos) return -1;
  return std::atof(text.c_str() + pos + series.size() + 2);
}

// Which backend answered GET target (X-Backend), "" on failure.
inline std::string backend_of(int port, const std::string& target = "/hello/x") {
  auto r = harness::request(port, "GET", target);
  return r && r->status == 200 ? r->header("X-Backend") : std::string();
}

// True when `n` requests in a row all reach backends in `names` and together see all of them.
inline bool serves_exactly(int port, const std::set<std::string>& names, int n = 12) {
  std::set<std::string> seen;
  for (int i = 0; i < n; ++i) {
    std::string b = backend_of(port);
    if (!names.count(b)) return false;
    seen.insert(b);
  }
  return seen == names;
}

// A loopback port nobody listens on right now (for daemons that cannot be given port 0).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A single-member etcd on loopback; restartable on the same ports and data directory.
class Etcd {
 public:
  Etcd() : client_(free_port()), peer_(free_port()) {}
  bool available() const { return server_.available(); }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(client_); }

  void start() {
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_);
    server_.start({"--name", "default", "--data-dir", server_.dir() + "/data", "--listen-client-urls", endpoint(),
                   "--advertise-client-urls", endpoint(), "--listen-peer-urls", peer, "--initial-advertise-peer-urls",
                   peer, "--initial-cluster", "default=" + peer},
                  [](const harness::Process& p) { return p.output().find("ready to serve client requests") != std::string::npos; });
  }
  void stop() { server_.stop(); }

  // etcdctl, v3 API; returns its stdout (and exit status through `ok`).
  std::string ctl(const std::string& args, bool* ok = nullptr) const {
    std::string out = server_.dir() + "/ctl.out";
    std::string cmd = "ETCDCTL_API=3 etcdctl --endpoints=" + endpoint() + " " + args + " > " + out + " 2>&1";
    int rc = std::system(cmd.c_str());
    if (ok) *ok = rc == 0;
    return harness::read_file(out);
  }
  bool put(const std::string& key, const std::string& value, const std::string& lease = "") const {
    bool ok = false;
    ctl("put " + std::string(lease.empty() ? "" : "--lease=" + lease + " ") + key + " '" + value + "'", &ok);
    return ok;
  }
  // Grants a lease and returns its id ("" on failure).
  std::string grant(int ttl) const {
    std::smatch m;
    std::string out = ctl("lease grant " + std::to_string(ttl));
    return std::regex_search(out, m, std::regex("lease ([0-9a-f]+) granted")) ? m[1].str() : std::string();
  }

 private:
  int client_, peer_;
  harness::ExternalServer server_{"etcd", {"/usr/bin/etcd", "/usr/local/bin/etcd"}};
};

}  // namespace discovery_support
