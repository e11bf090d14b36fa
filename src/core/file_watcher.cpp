// inotify behind the FileWatcher (see file_watcher.h).
#include "core/file_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "util/log.h"

namespace portcullis {

namespace net = boost::asio;

namespace {

constexpr std::uint32_t kEvents = IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE;
constexpr auto kSettle = std::chrono::milliseconds(100);

struct DirWatch {
  bool every_script = false;    // a lua.dir: every *.lua entry counts
  bool every_entry = false;     // a watched file is a symlink (a ConfigMap's ..data swap): all count
  std::set<std::string> names;  // and these files
};

}  // namespace

struct FileWatcher::Impl : std::enable_shared_from_this<Impl> {
  Impl(net::io_context& ioc, std::function<void()> callback)
      : descriptor(ioc), settle(ioc), on_change(std::move(callback)) {}

  net::posix::stream_descriptor descriptor;
  net::steady_timer settle;
  std::function<void()> on_change;
  std::map<int, DirWatch> watches;
  std::array<char, 8192> buffer{};
  bool reading = false;

  void read() {
    reading = true;
    descriptor.async_read_some(net::buffer(buffer), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
      self->reading = false;
      if (ec) return;
      if (self->relevant(n)) self->changed();
      self->read();
    });
  }

  bool relevant(std::size_t n) const {
    bool any = false;
    for (std::size_t at = 0; at + sizeof(inotify_event) <= n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer.data() + at);
      at += sizeof(inotify_event) + event->len;
      if (event->mask & IN_Q_OVERFLOW) return true;  // events were lost: assume one was ours
      auto it = watches.find(event->wd);
      if (it == watches.end() || event->len == 0) continue;
      const std::string name(event->name);
      const DirWatch& w = it->second;
      any = any || w.every_entry || (w.every_script && name.ends_with(".lua")) || w.names.count(name) > 0;
    }
    return any;
  }

  // Waits until no change came for a moment: an editor's save is several events.
  void changed() {
    settle.expires_after(kSettle);
    settle.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->on_change();
    });
  }
};

FileWatcher::FileWatcher(net::io_context& ioc, std::function<void()> on_change)
    : impl_(std::make_shared<Impl>(ioc, std::move(on_change))) {
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    log::warn("inotify unavailable: changed lua scripts are picked up at the next reload only");
    return;
  }
  impl_->descriptor.assign(fd);
}

FileWatcher::~FileWatcher() { stop(); }

void FileWatcher::stop() {
  boost::system::error_code ignored;
  impl_->settle.cancel();
  impl_->descriptor.close(ignored);
}

void FileWatcher::watch(const std::vector<std::string>& paths) {
  if (!impl_->descriptor.is_open()) return;
  const int fd = impl_->descriptor.native_handle();
  std::map<std::string, DirWatch> dirs;
  for (const std::string& path : paths) {
    std::error_code ec;
    const std::filesystem::path p(path);
    if (std::filesystem::is_directory(p, ec)) {
      dirs[p.string()].every_script = true;
    } else {
      DirWatch& w = dirs[p.has_parent_path() ? p.parent_path().string() : "."];
      w.names.insert(p.filename().string());
      w.every_entry = w.every_entry || std::filesystem::is_symlink(p, ec);
    }
  }
  // A directory watched already keeps its descriptor (inotify gives the same one back), so events
  // queued while the config compiled are still read; only those no longer named are removed.
  std::map<int, DirWatch> next;
  for (const auto& [dir, w] : dirs) {
    const int wd = inotify_add_watch(fd, dir.c_str(), kEvents);
    if (wd < 0) continue;
    DirWatch& slot = next[wd];  // two spellings of one directory share a descriptor
    slot.every_script = slot.every_script || w.every_script;
    slot.every_entry = slot.every_entry || w.every_entry;
    slot.names.insert(w.names.begin(), w.names.end());
  }
  for (const auto& [wd, _] : impl_->watches)
    if (!next.count(wd)) inotify_rm_watch(fd, wd);
  impl_->watches = std::move(next);
  if (!impl_->reading && !impl_->watches.empty()) impl_->read();
}

}  // namespace portcullis
