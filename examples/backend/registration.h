// Eureka self-registration for the example backend (--register URL): registers with Eureka's JSON
// once the backend listens, renews its lease from its own thread (registering again when the
// registry answers 404, as Eureka clients do), and cancels on shutdown. Blocking POSIX sockets with
// poll() deadlines on a separate thread keep it independent of the serving loop and of the gateway
// library. Header-only so the example stays a single target.
//
//   portcullis-example-backend --port 8001 --name a --register http://127.0.0.1:9901/eureka --app hello
#pragma once
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

namespace registration {

struct Settings {
  std::string url;  // Eureka base, e.g. http://127.0.0.1:9901/eureka
  std::string app = "backend";
  std::string instance_id;  // "" = ip:app:port
  std::string zone;
  std::string ip;
  unsigned port = 0;
  unsigned heartbeat_s = 30;
  unsigned lease_s = 90;
};

// One request on a fresh connection; returns the status code, or -1 with `error` set.
inline int http_call(const std::string& url, const std::string& method, const std::string& path_suffix,
                     const std::string& body, std::string& error) {
  constexpr int timeout_ms = 3000;
  if (url.rfind("http://", 0) != 0) {
    error = "URL must start with http://";
    return -1;
  }
  std::string rest = url.substr(7);
  std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash), path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.pop_back();
  std::size_t colon = authority.rfind(':');
  std::string host = authority.substr(0, colon), port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    error = std::string("resolve: ") + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) {
    error = "cannot connect to " + authority;
    return -1;
  }
  std::string request = method + " " + path + path_suffix + " HTTP/1.1\r\nHost: " + authority +
                        "\r\nAccept: application/json\r\nConnection: close\r\n";
  if (!body.empty()) request += "Content-Type: application/json\r\n";
  if (!body.empty() || method == "POST" || method == "PUT")
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  std::string response;
  bool ok = true;
  for (std::size_t sent = 0; ok && sent < request.size();) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) ok = false;
    else sent += static_cast<std::size_t>(n);
  }
  // The server closes after the response (Connection: close); the status line is all we need.
  while (ok && response.find("\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    char buf[4096];
    if (poll(&p, 1, timeout_ms) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0) {
    error = "no HTTP response from " + authority;
    return -1;
  }
  return std::atoi(response.c_str() + 9);
}

inline std::string instance_json(const Settings& s, const std::string& id) {
  std::string port = std::to_string(s.port);
  std::string home = "http://" + s.ip + ":" + port + "/";
  std::string metadata = s.zone.empty() ? "{}" : "{\"zone\": \"" + s.zone + "\"}";
  // Values are tokens and numbers (the options are validated), so no JSON escaping is needed.
  return "{\"instance\": {\"instanceId\": \"" + id + "\", \"hostName\": \"" + s.ip + "\", \"app\": \"" + s.app +
         "\", \"ipAddr\": \"" + s.ip + "\", \"status\": \"UP\", \"overriddenStatus\": \"UNKNOWN\", \"port\": {\"$\": " +
         port + ", \"@enabled\": \"true\"}, \"securePort\": {\"$\": 443, \"@enabled\": \"false\"}, \"countryId\": 1, " +
         "\"dataCenterInfo\": {\"@class\": \"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo\", \"name\": " +
         "\"MyOwn\"}, \"leaseInfo\": {\"renewalIntervalInSecs\": " + std::to_string(s.heartbeat_s) +
         ", \"durationInSecs\": " + std::to_string(s.lease_s) + "}, \"metadata\": " + metadata +
         ", \"vipAddress\": \"" + s.app + "\", \"homePageUrl\": \"" + home + "\", \"statusPageUrl\": \"" + home +
         "status/200\", \"healthCheckUrl\": \"" + home + "status/200\"}}";
}

// Registers, renews and finally cancels on a thread of its own.
class Registrar {
 public:
  explicit Registrar(Settings s) : s_(std::move(s)) {
    id_ = s_.instance_id.empty() ? s_.ip + ":" + s_.app + ":" + std::to_string(s_.port) : s_.instance_id;
  }
  ~Registrar() { stop(); }

  void start() { thread_ = std::thread([this] { loop(); }); }

  // Ends the heartbeats and removes the instance from the registry (DELETE), once.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::string error;
    int status = http_call(s_.url, "DELETE", "/apps/" + s_.app + "/" + id_, "", error);
    if (status == 200) std::printf("deregistered %s/%s\n", s_.app.c_str(), id_.c_str());
    else std::fprintf(stderr, "deregistration failed: %s\n", status < 0 ? error.c_str() : std::to_string(status).c_str());
    std::fflush(stdout);
  }

 private:
  bool do_register() {
    std::string error;
    int status = http_call(s_.url, "POST", "/apps/" + s_.app, instance_json(s_, id_), error);
    if (status == 204 || status == 200) {
      std::printf("registered %s/%s\n", s_.app.c_str(), id_.c_str());
      std::fflush(stdout);
      return true;
    }
    std::fprintf(stderr, "registration failed: %s\n", status < 0 ? error.c_str() : std::to_string(status).c_str());
    return false;
  }

  void loop() {
    bool registered = do_register();
    while (true) {
      // Until the first registration succeeds, retry every second rather than every heartbeat.
      auto wait = registered ? std::chrono::seconds(s_.heartbeat_s) : std::chrono::seconds(1);
      {
        std::unique_lock lock(mutex_);
        if (wake_.wait_for(lock, wait, [this] { return stopping_; })) return;
      }
      if (!registered) {
        registered = do_register();
        continue;
      }
      std::string error;
      int status = http_call(s_.url, "PUT", "/apps/" + s_.app + "/" + id_ + "?status=UP", "", error);
      if (status == 404) registered = do_register();  // the registry forgot us (expiry, restart)
      else if (status != 200)
        std::fprintf(stderr, "heartbeat failed: %s\n", status < 0 ? error.c_str() : std::to_string(status).c_str());
    }
  }

  Settings s_;
  std::string id_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace registration
