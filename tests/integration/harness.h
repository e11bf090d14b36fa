// Integration-test harness: starts the real daemon and the real example backend on loopback
// (ephemeral ports, readiness read from their own output, never sleep-and-hope) and talks to them
// with a raw-socket HTTP client, so tests control every byte on the wire.
#pragma once
#include <chrono>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace harness {

std::string temp_dir();  // one per test process, removed at exit

class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log_path,
          const std::vector<std::string>& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Waits until the process's output contains `needle` (from `from` on); returns the offset just
  // past it, or npos on timeout / exit.
  std::size_t wait_for_output(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(20),
                              std::size_t from = 0);
  std::string output() const;
  void signal(int signo);
  int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(30));  // exit code, -1 on timeout
  bool running();
  int pid() const { return pid_; }
  long rss_kib() const;

 private:
  int pid_ = -1;
  std::string log_path_;
  int exit_code_ = -1;
  bool exited_ = false;
};

class Backend {
 public:
  explicit Backend(const std::string& name);
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  Process& process() { return *process_; }

 private:
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

class Gateway {
 public:
  // Starts `portcullis run` on a config file holding `yaml` exactly; use listen "127.0.0.1:0" and
  // admin listen "127.0.0.1:0": the ports are read from the daemon's "listening" log lines.
  explicit Gateway(const std::string& yaml, const std::vector<std::string>& env = {});
  int port() const { return port_; }
  // Every listener's port, in config order (port() is the first).
  const std::vector<int>& ports() const { return ports_; }
  int admin_port() const { return admin_port_; }
  const std::string& config_path() const { return config_path_; }
  Process& process() { return *process_; }
  void rewrite_config(const std::string& yaml);

 private:
  std::unique_ptr<Process> process_;
  std::string config_path_;
  int port_ = 0;
  std::vector<int> ports_;
  int admin_port_ = 0;
};

// A loopback origin that answers every request with canned bytes and records what it received,
// for upstream responses the example backend would never send.
class FakeOrigin {
 public:
  explicit FakeOrigin(std::string reply);
  ~FakeOrigin();
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  std::string received() const;

 private:
  void serve();
  int fd_ = -1;
  int port_ = 0;
  std::string reply_;
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::string received_;
  std::thread thread_;
};

// A loopback origin for upstream behaviour the example backend never shows. It accepts any number
// of connections, reads each request (head, then a Content-Length or chunked body) and answers
// the n-th request it sees (counted over all connections) with replies[n], the last one repeating.
// After a reply it keeps the connection open for the next request unless the reply says close.
// It records the bytes of each connection separately, so tests can tell reuse from a new
// connection and see exactly what reached the origin.
class ScriptedOrigin {
 public:
  struct Reply {
    std::string bytes;
    bool close = false;  // close (after sending) rather than wait for another request
  };
  explicit ScriptedOrigin(std::vector<Reply> replies);
  ~ScriptedOrigin();
  ScriptedOrigin(const ScriptedOrigin&) = delete;
  ScriptedOrigin& operator=(const ScriptedOrigin&) = delete;
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }
  int closed() const { return closed_.load(); }  // connections that have ended (either side closed)
  std::vector<std::string> received() const;  // bytes per connection, in accept order
  std::string received_all() const;
  // Waits until `n` complete requests arrived (a condition, not a delay).
  bool wait_requests(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  void accept_loop();
  void serve(int fd, std::size_t index);
  int fd_ = -1;
  int port_ = 0;
  std::vector<Reply> replies_;
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> closed_{0};
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> received_;
  std::vector<int> client_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// A loopback port that accepts connections (into the kernel's backlog) and never reads or
// answers: the slowest peer there is. After close() connections to it are refused.
class SilentListener {
 public:
  SilentListener();
  ~SilentListener();
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void close();

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A server program the tests run beside the gateway (redis-server, etcd): the first of `binaries`
// that is installed, its own directory under temp_dir(), a log per start, started until `ready`
// holds and stopped with SIGTERM; restartable with the same arguments (same ports, same data).
class ExternalServer {
 public:
  ExternalServer(const std::string& name, const std::vector<std::string>& binaries);
  ~ExternalServer();  // stops it if it runs
  ExternalServer(const ExternalServer&) = delete;
  ExternalServer& operator=(const ExternalServer&) = delete;

  bool available() const { return !binary_.empty(); }
  const std::string& binary() const { return binary_; }
  const std::string& dir() const { return dir_; }
  bool running() const { return process_ != nullptr; }

  // Runs the binary with `args`; polls `ready` (with the process, for its output) until it holds,
  // else stops it and throws with its output.
  void start(const std::vector<std::string>& args, const std::function<bool(const Process&)>& ready,
             std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void stop();

 private:
  std::string name_, binary_, dir_;
  int starts_ = 0;
  std::unique_ptr<Process> process_;
};

// Polls `condition` every few milliseconds until it holds or `timeout` passes; returns its last
// value. For states another process or thread reaches (a counter, a log line), never for timing.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

struct Response {
  int status = 0;
  std::string reason;
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool chunked = false;
  std::string header(const std::string& name) const;  // case-insensitive, first; "" when absent
  bool has_header(const std::string& name) const;
};

class Client {
 public:
  explicit Client(int port);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  void send(const std::string& bytes);
  // Reads one response (handles 1xx as separate responses). nullopt when the connection closed
  // before a complete head arrived or on timeout.
  std::optional<Response> read_response(bool head_request = false,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // True when the server closed the connection (EOF) within the timeout, after any buffered bytes.
  bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Everything the server sends until it closes the connection (or the timeout passes), including
  // bytes already buffered; for checking the exact bytes of a response.
  std::string read_until_close(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool eof() const { return eof_; }
  int fd() const { return fd_; }
  std::string& pending() { return buffer_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

// One request on a fresh connection.
std::optional<Response> request(int port, const std::string& method, const std::string& target,
                                const std::vector<std::pair<std::string, std::string>>& headers = {},
                                const std::string& body = {});
std::string get_body(int port, const std::string& target);  // GET on a fresh connection, body only

// A config with one listener and admin on ephemeral ports, `workers` workers, and the given
// services/routes/filters sections (YAML text, may be empty).
std::string config(const std::string& services, const std::string& routes, const std::string& extra = "",
                   int workers = 1);

std::string read_file(const std::string& path);
// Runs a shell command (the openssl and curl tools) and returns its stdout and stderr together.
std::string run_command(const std::string& command);
void write_file(const std::string& path, const std::string& text);

}  // namespace harness
