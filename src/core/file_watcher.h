// Watches the files a running config refers to (lua scripts) and directories (lua.dir) with
// inotify, on the control thread, and calls back once changes have settled. A file is watched
// through its directory, so an editor that writes a new file and renames it over the old one is
// seen as well as one that writes in place.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace portcullis {

class FileWatcher {
 public:
  FileWatcher(boost::asio::io_context& ioc, std::function<void()> on_change);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Replaces what is watched: each path is a file (its changes count) or a directory (changes
  // to any *.lua entry count). Paths that do not exist are skipped.
  void watch(const std::vector<std::string>& paths);
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace portcullis
