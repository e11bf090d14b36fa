// Integration-test harness implementation (POSIX processes and sockets).
#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace harness {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string temp_dir() {
  // Never destroyed: the atexit handler below runs after the destructors of statics made later than
  // its registration, so a std::string here would already be gone when it reads it.
  static const std::string* const dir = [] {
    char tmpl[] = "/tmp/portcullis-it-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    auto* d = new std::string(tmpl);
    std::atexit([] {
      if (!std::getenv("KEEP_TEST_FILES")) fs::remove_all(temp_dir());
    });
    return d;
  }();
  return *dir;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

Process::Process(const std::vector<std::string>& argv, const std::string& log_path,
                 const std::vector<std::string>& env)
    : log_path_(log_path) {
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    for (const auto& e : env) putenv(strdup(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

Process::~Process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string Process::output() const { return read_file(log_path_); }

std::size_t Process::wait_for_output(const std::string& needle, std::chrono::milliseconds timeout, std::size_t from) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string out = output();
    std::size_t pos = out.find(needle, from);
    if (pos != std::string::npos) return pos + needle.size();
    if (!running()) return std::string::npos;
    std::this_thread::sleep_for(10ms);  // polling a file the process writes: readiness, not timing
  }
  return std::string::npos;
}

void Process::signal(int signo) { ::kill(pid_, signo); }

bool Process::running() {
  if (exited_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

int Process::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(5ms);
  }
  return exit_code_;
}

long Process::rss_kib() const {
  std::string status = read_file("/proc/" + std::to_string(pid_) + "/status");
  std::smatch m;
  if (std::regex_search(status, m, std::regex("VmRSS:\\s+(\\d+) kB"))) return std::stol(m[1]);
  return -1;
}

Backend::Backend(const std::string& name) {
  static int counter = 0;
  std::string base = temp_dir() + "/backend-" + name + "-" + std::to_string(++counter);
  process_ = std::make_unique<Process>(
      std::vector<std::string>{BACKEND_BINARY, "--port", "0", "--name", name}, base + ".log");
  std::size_t end = process_->wait_for_output("listening 127.0.0.1:");
  if (end == std::string::npos) throw std::runtime_error("backend did not start: " + process_->output());
  port_ = std::stoi(process_->output().substr(end));
}

namespace {

// Finds `marker` (a log message) and returns the port of the "address" field on that line.
int port_after(const std::string& text, const std::string& marker) {
  std::size_t pos = text.find(marker);
  if (pos == std::string::npos) return 0;
  std::size_t field = text.find("\"address\":\"", pos);
  std::size_t quote = text.find('"', field + 11);
  std::string address = text.substr(field + 11, quote - field - 11);
  return std::stoi(address.substr(address.rfind(':') + 1));
}

}  // namespace

Gateway::Gateway(const std::string& yaml, const std::vector<std::string>& env) {
  static int counter = 0;
  std::string base = temp_dir() + "/gateway-" + std::to_string(++counter);
  config_path_ = base + ".yaml";
  write_file(config_path_, yaml);
  process_ = std::make_unique<Process>(std::vector<std::string>{PORTCULLIS_BINARY, "run", "-c", config_path_},
                                       base + ".log", env);
  if (process_->wait_for_output("\"msg\":\"started\"") == std::string::npos)
    throw std::runtime_error("gateway did not start: " + process_->output());
  std::string out = process_->output();
  admin_port_ = port_after(out, "\"msg\":\"admin listening\"");
  port_ = port_after(out, "\"msg\":\"listening\"");
  for (std::size_t at = out.find("\"msg\":\"listening\""); at != std::string::npos;
       at = out.find("\"msg\":\"listening\"", at + 1))
    ports_.push_back(port_after(out.substr(at), "\"msg\":\"listening\""));
}

void Gateway::rewrite_config(const std::string& yaml) { write_file(config_path_, yaml); }

FakeOrigin::FakeOrigin(std::string reply) : reply_(std::move(reply)) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd_, 16) != 0)
    throw std::runtime_error("fake origin cannot listen");
  socklen_t len = sizeof(addr);
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

FakeOrigin::~FakeOrigin() {
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  thread_.join();
}

std::string FakeOrigin::received() const {
  std::lock_guard lock(mutex_);
  return received_;
}

// One connection at a time: read a request head, send the canned reply, then close (the tests
// that need reuse use the real backend).
void FakeOrigin::serve() {
  while (true) {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    ++connections_;
    std::string data;
    char buf[4096];
    while (data.find("\r\n\r\n") == std::string::npos) {
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) break;
      ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      data.append(buf, static_cast<std::size_t>(n));
    }
    {
      std::lock_guard lock(mutex_);
      received_ += data;
    }
    ::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
    ::shutdown(c, SHUT_WR);
    while (::recv(c, buf, sizeof(buf), 0) > 0) {
    }
    ::close(c);
  }
}

ScriptedOrigin::ScriptedOrigin(std::vector<Reply> replies) : replies_(std::move(replies)) {
  if (replies_.empty()) throw std::runtime_error("ScriptedOrigin needs at least one reply");
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd_, 64) != 0)
    throw std::runtime_error("scripted origin cannot listen");
  socklen_t len = sizeof(addr);
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

ScriptedOrigin::~ScriptedOrigin() {
  stop_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(fd_);
  {
    std::lock_guard lock(mutex_);
    for (int c : client_fds_) ::shutdown(c, SHUT_RDWR);  // wakes the readers; they close their fds
  }
  for (auto& t : threads_) t.join();
}

std::vector<std::string> ScriptedOrigin::received() const {
  std::lock_guard lock(mutex_);
  return received_;
}

std::string ScriptedOrigin::received_all() const {
  std::string all;
  for (const auto& r : received()) all += r;
  return all;
}

bool ScriptedOrigin::wait_requests(int n, std::chrono::milliseconds timeout) const {
  return eventually([&] { return requests_.load() >= n; }, timeout);
}

void ScriptedOrigin::accept_loop() {
  while (!stop_) {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::lock_guard lock(mutex_);
    if (stop_) {
      ::close(c);
      return;
    }
    std::size_t index = received_.size();
    received_.emplace_back();
    client_fds_.push_back(c);
    ++connections_;
    threads_.emplace_back([this, c, index] { serve(c, index); });
  }
}

namespace {

// Length of the first complete request (head and body) in `data`, or 0 when it is not all there.
std::size_t complete_request(const std::string& data) {
  std::size_t head_end = data.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  head_end += 4;
  std::string head = data.substr(0, head_end);
  for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (head.find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos) {
    std::size_t pos = head_end;
    while (true) {  // walks the chunks; extensions and trailers are tolerated, not checked
      std::size_t eol = data.find("\r\n", pos);
      if (eol == std::string::npos) return 0;
      std::size_t size = std::strtoull(data.c_str() + pos, nullptr, 16);
      pos = eol + 2;
      if (size == 0) {
        std::size_t end = data.find("\r\n\r\n", pos - 2);
        return end == std::string::npos ? 0 : end + 4;
      }
      pos += size + 2;
      if (pos > data.size()) return 0;
    }
  }
  std::size_t cl = head.find("\r\ncontent-length:");
  std::size_t body = cl == std::string::npos ? 0 : std::strtoull(head.c_str() + cl + 17, nullptr, 10);
  return data.size() >= head_end + body ? head_end + body : 0;
}

}  // namespace

void ScriptedOrigin::serve(int c, std::size_t index) {
  std::string pending;
  char buf[16384];
  bool open = true;
  while (open && !stop_) {
    std::size_t n = complete_request(pending);
    if (n == 0) {
      ssize_t got = ::recv(c, buf, sizeof(buf), 0);
      if (got <= 0) break;
      pending.append(buf, static_cast<std::size_t>(got));
      std::lock_guard lock(mutex_);
      received_[index].append(buf, static_cast<std::size_t>(got));
      continue;
    }
    pending.erase(0, n);
    int number = requests_.fetch_add(1);
    const Reply& reply = replies_[std::min<std::size_t>(static_cast<std::size_t>(number), replies_.size() - 1)];
    std::size_t done = 0;
    while (done < reply.bytes.size()) {
      ssize_t sent = ::send(c, reply.bytes.data() + done, reply.bytes.size() - done, MSG_NOSIGNAL);
      if (sent <= 0) break;
      done += static_cast<std::size_t>(sent);
    }
    if (reply.close) open = false;
  }
  if (!open) {
    ::shutdown(c, SHUT_WR);
    while (!stop_ && ::recv(c, buf, sizeof(buf), 0) > 0) {
    }
  }
  std::lock_guard lock(mutex_);
  for (auto& fd : client_fds_)
    if (fd == c) fd = -1;
  ::close(c);
  ++closed_;
}

ExternalServer::ExternalServer(const std::string& name, const std::vector<std::string>& binaries) : name_(name) {
  for (const auto& b : binaries)
    if (::access(b.c_str(), X_OK) == 0) {
      binary_ = b;
      break;
    }
  static int counter = 0;
  dir_ = temp_dir() + "/" + name + "-" + std::to_string(++counter);
  std::filesystem::create_directories(dir_);
}

ExternalServer::~ExternalServer() {
  if (process_) stop();
}

void ExternalServer::start(const std::vector<std::string>& args, const std::function<bool(const Process&)>& ready,
                           std::chrono::milliseconds timeout) {
  if (!available()) throw std::runtime_error(name_ + " is not installed");
  std::vector<std::string> argv{binary_};
  argv.insert(argv.end(), args.begin(), args.end());
  process_ = std::make_unique<Process>(argv, dir_ + "-" + std::to_string(++starts_) + ".log");
  if (!eventually([&] { return ready(*process_); }, timeout)) {
    const std::string output = process_->output();
    stop();
    throw std::runtime_error(name_ + " did not start: " + output);
  }
}

void ExternalServer::stop() {
  if (!process_) return;
  process_->signal(SIGTERM);
  process_->wait_exit();
  process_.reset();
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(5ms);
  }
}

std::string Response::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  return "";
}

bool Response::has_header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return true;
  return false;
}

Client::Client(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    throw std::runtime_error("connect failed: " + std::string(strerror(errno)));
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

Client::~Client() {
  if (fd_ >= 0) close(fd_);
}

void Client::send(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;  // the peer closed: tests check the outcome through read_response
    done += static_cast<std::size_t>(n);
  }
}

bool Client::fill(std::chrono::steady_clock::time_point deadline) {
  if (eof_) return false;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char buf[65536];
  ssize_t n = recv(fd_, buf, sizeof(buf), 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  buffer_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::optional<Response> Client::read_response(bool head_request, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
    if (!fill(deadline)) return std::nullopt;
  Response r;
  std::string head = buffer_.substr(0, end + 2);
  buffer_.erase(0, end + 4);
  std::size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  // Anything but a well-formed status line (say, stray body bytes read as a head) is no response.
  if (status_line.size() < 12 || status_line.compare(0, 7, "HTTP/1.") != 0 || status_line[8] != ' ' ||
      !std::isdigit(static_cast<unsigned char>(status_line[9])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[10])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[11])))
    return std::nullopt;
  r.version = status_line.substr(0, 8);
  r.status = std::stoi(status_line.substr(9, 3));
  r.reason = status_line.size() > 13 ? status_line.substr(13) : "";
  std::size_t pos = line_end + 2;
  while (pos < head.size()) {
    std::size_t e = head.find("\r\n", pos);
    std::string line = head.substr(pos, e - pos);
    pos = e + 2;
    std::size_t colon = line.find(':');
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers.emplace_back(line.substr(0, colon), value);
  }
  if (head_request || r.status < 200 || r.status == 204 || r.status == 304) return r;
  if (r.has_header("content-length")) {
    std::size_t len = std::stoull(r.header("content-length"));
    while (buffer_.size() < len)
      if (!fill(deadline)) return std::nullopt;
    r.body = buffer_.substr(0, len);
    buffer_.erase(0, len);
  } else if (strcasecmp(r.header("transfer-encoding").c_str(), "chunked") == 0) {
    r.chunked = true;
    while (true) {
      std::size_t e;
      while ((e = buffer_.find("\r\n")) == std::string::npos)
        if (!fill(deadline)) return std::nullopt;
      std::size_t size = std::stoull(buffer_.substr(0, e), nullptr, 16);
      buffer_.erase(0, e + 2);
      while (buffer_.size() < size + 2)
        if (!fill(deadline)) return std::nullopt;
      r.body += buffer_.substr(0, size);
      buffer_.erase(0, size + 2);
      if (size == 0) break;
    }
  } else {
    while (fill(deadline)) {
    }
    if (!eof_) return std::nullopt;
    r.body = buffer_;
    buffer_.clear();
  }
  return r;
}

std::string Client::read_until_close(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (fill(deadline)) {
  }
  std::string all = std::move(buffer_);
  buffer_.clear();
  return all;
}

bool Client::closed_by_peer(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!eof_)
    if (!fill(deadline) && !eof_) return false;
  return true;
}

std::optional<Response> request(int port, const std::string& method, const std::string& target,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                const std::string& body) {
  Client c(port);
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty()) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  c.send(req);
  return c.read_response(method == "HEAD");
}

std::string config(const std::string& services, const std::string& routes, const std::string& extra, int workers) {
  std::string y = "server:\n  listen: \"127.0.0.1:0\"\n  workers: " + std::to_string(workers) + "\n" + extra +
                  "admin:\n  listen: \"127.0.0.1:0\"\n";
  if (!services.empty()) y += "services:\n" + services;
  if (!routes.empty()) y += "routes:\n" + routes;
  return y;
}

std::string get_body(int port, const std::string& target) {
  auto r = request(port, "GET", target);
  return r ? r->body : std::string();
}

std::string run_command(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  ::pclose(p);
  return out;
}

SilentListener::SilentListener() {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 128) != 0)
    throw std::runtime_error("silent listener cannot listen");
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
}

SilentListener::~SilentListener() { close(); }

void SilentListener::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace harness
