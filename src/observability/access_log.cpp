// Access-log sinks and the JSON helpers the log lines use.
#include "observability/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>

namespace portcullis::observability {
namespace {

std::mutex sinks_mutex;
std::map<std::string, std::weak_ptr<LogSink>>& sinks() {
  static std::map<std::string, std::weak_ptr<LogSink>> all;
  return all;
}

int open_file(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return;  // a log that cannot be written must not stop traffic
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::shared_ptr<LogSink> LogSink::open(const std::string& path, std::string& error) {
  std::lock_guard lock(sinks_mutex);
  const std::string key = path.empty() ? "-" : path;
  if (auto existing = sinks()[key].lock()) return existing;
  int fd = key == "-" ? STDOUT_FILENO : open_file(key);
  if (fd < 0) {
    error = "cannot open access log " + key;
    return nullptr;
  }
  std::shared_ptr<LogSink> sink(new LogSink(key, fd));
  sinks()[key] = sink;
  return sink;
}

LogSink::~LogSink() {
  for (std::size_t w = 0; w < buffers_.size(); ++w) flush(static_cast<unsigned>(w));
  if (fd_ != STDOUT_FILENO) ::close(fd_);
}

void LogSink::flush(unsigned worker) {
  std::string& text = buffers_[worker].text;
  if (text.empty()) return;
  write_all(fd_, text);
  text.clear();
}

void LogSink::reopen() {
  if (fd_ == STDOUT_FILENO) return;
  int fresh = open_file(path_);
  if (fresh < 0) return;
  ::dup2(fresh, fd_);  // atomic swap of the file behind fd_: writers never see a closed descriptor
  ::close(fresh);
}

void LogSink::flush_all(unsigned worker) {
  std::vector<std::shared_ptr<LogSink>> live;
  {
    std::lock_guard lock(sinks_mutex);
    for (auto& [_, weak] : sinks())
      if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->flush(worker);
}

void LogSink::reopen_all() {
  std::lock_guard lock(sinks_mutex);
  for (auto& [_, weak] : sinks())
    if (auto s = weak.lock()) s->reopen();
}

void append_json_escaped(std::string& out, std::string_view text) {
  static const char hex[] = "0123456789abcdef";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {  // also keeps the log valid UTF-8 whatever the client sent
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

void append_timestamp(std::string& out) {
  thread_local std::time_t cached_second = 0;
  thread_local char cached[32];
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t second = static_cast<std::time_t>(ms / 1000);
  if (second != cached_second) {
    std::tm tm{};
    gmtime_r(&second, &tm);
    std::strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
    cached_second = second;
  }
  char frac[8];
  std::snprintf(frac, sizeof(frac), ".%03dZ", static_cast<int>(ms % 1000));
  out += cached;
  out += frac;
}

}  // namespace portcullis::observability
