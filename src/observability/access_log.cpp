// Access-log sinks and the JSON helpers the log lines use.
#include "observability/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>

namespace portcullis::observability {
namespace {

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
  const std::string key = path.empty() ? "-" : path;
  int fd = key == "-" ? STDOUT_FILENO : open_file(key);
  if (fd < 0) {
    error = "cannot open access log " + key;
    return nullptr;
  }
  return std::shared_ptr<LogSink>(new LogSink(key, fd));
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

namespace {

// Bytes that cannot appear as they are inside a JSON string of the log: quotes, backslashes,
// controls, and everything outside printable ASCII (which also keeps the log valid UTF-8 whatever
// a client sent).
constexpr std::array<bool, 256> make_escape_table() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<std::size_t>(c)] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
  return t;
}
constexpr auto needs_escape = make_escape_table();

}  // namespace

void append_json_escaped(StringWriter& out, std::string_view text) {
  static const char hex[] = "0123456789abcdef";
  char* p = out.room(text.size() * 6);  // the longest escape is \u00XX
  char* const start = p;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (!needs_escape[c]) {
      *p++ = ch;
      continue;
    }
    *p++ = '\\';
    switch (c) {
      case '"': *p++ = '"'; break;
      case '\\': *p++ = '\\'; break;
      case '\n': *p++ = 'n'; break;
      case '\r': *p++ = 'r'; break;
      case '\t': *p++ = 't'; break;
      default:
        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 15];
    }
  }
  out.advance(static_cast<std::size_t>(p - start));
}

void append_json_escaped(std::string& out, std::string_view text) {
  StringWriter w(out, text.size() + 16);
  append_json_escaped(w, text);
}

void append_timestamp(StringWriter& out) {
  thread_local std::time_t cached_second = 0;
  thread_local char cached[32];
  thread_local std::size_t cached_length = 0;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t second = static_cast<std::time_t>(ms / 1000);
  if (second != cached_second) {
    std::tm tm{};
    gmtime_r(&second, &tm);
    cached_length = std::strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
    cached_second = second;
  }
  const int frac = static_cast<int>(ms % 1000);
  const char tail[5] = {'.', static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                        static_cast<char>('0' + frac % 10), 'Z'};
  out.put({cached, cached_length});
  out.put({tail, sizeof(tail)});
}

void append_timestamp(std::string& out) {
  StringWriter w(out, 32);
  append_timestamp(w);
}

}  // namespace portcullis::observability
