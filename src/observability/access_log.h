// Access-log sinks: one JSON line per request, appended to a per-worker buffer (no lock, no write
// call per request) and written out by size or by the worker's flush timer. Reopened on SIGUSR1 for
// log rotation by dup2-ing the new file over the old descriptor, so no worker has to coordinate.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "util/writer.h"

namespace portcullis::observability {

class LogSink {
 public:
  static constexpr std::size_t max_workers = 256;
  static constexpr std::size_t flush_bytes = 32 * 1024;

  // "-" = stdout. A new sink on each call: RuntimeState::access_log shares them by path across
  // filters and reloads, flushes them for each worker and reopens them on SIGUSR1.
  static std::shared_ptr<LogSink> open(const std::string& path, std::string& error);
  void reopen();

  ~LogSink();
  std::string& buffer(unsigned worker) { return buffers_[worker].text; }
  void maybe_flush(unsigned worker) {
    if (buffers_[worker].text.size() >= flush_bytes) flush(worker);
  }
  void flush(unsigned worker);
  const std::string& path() const { return path_; }

 private:
  LogSink(std::string path, int fd) : path_(std::move(path)), fd_(fd), buffers_(max_workers) {}

  struct alignas(64) WorkerBuffer {
    std::string text;
  };
  std::string path_;
  int fd_;
  std::vector<WorkerBuffer> buffers_;
};

// Appends `text` to `out` escaped for a JSON string (without quotes).
void append_json_escaped(std::string& out, std::string_view text);
void append_json_escaped(StringWriter& out, std::string_view text);

// Appends the current UTC time as RFC 3339 with milliseconds; the second-resolution part is cached
// per thread so a busy worker formats it once a second.
void append_timestamp(std::string& out);
void append_timestamp(StringWriter& out);

}  // namespace portcullis::observability
