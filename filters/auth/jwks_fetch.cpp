// The process-wide JWKS fetcher: one background thread with its own io_context runs one fetch
// loop per jwks_url (started on first use, stopped cleanly at process exit), publishing each good
// key set through RemoteKeys' atomic pointer. A failed fetch keeps the last good set and retries
// with a backoff; a token with an unknown kid wakes the loop early (at most once per min_refresh).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <mutex>
#include <thread>

#include "config/runtime_state.h"
#include "discovery/http_client.h"
#include "filters/auth/jwks.h"
#include "util/log.h"

namespace portcullis::filters::jwt {

namespace net = boost::asio;
using namespace std::chrono_literals;

// What the fetch loop of one URL shares with its RemoteKeys. No Asio objects here, so it may be
// destroyed on any thread; the fields are touched on the fetch thread only, except `stopped`.
struct RemoteKeys::State {
  std::atomic<bool> stopped{false};
  net::steady_timer* waiting = nullptr;  // the loop's timer while it sleeps
  bool wake_pending = false;             // a wake came while a fetch was in flight
  std::shared_ptr<discovery::HttpCancel> cancel = std::make_shared<discovery::HttpCancel>();
};

namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void wake(RemoteKeys::State& state) {
  if (state.waiting) state.waiting->cancel();
  else state.wake_pending = true;
}

}  // namespace

class Fetcher {
 public:
  // Runs `fn` on the fetch thread; a no-op when the fetcher is not running (never started, or
  // stopped at process exit).
  template <class Fn>
  static void post(Fn&& fn) {
    std::lock_guard lock(mutex_);
    if (running_) net::post(running_->ioc_, std::forward<Fn>(fn));
  }

  // Starts the fetch loop of `keys`, and the fetcher itself on first use.
  static void start(const std::shared_ptr<RemoteKeys>& keys, std::shared_ptr<RemoteKeys::State> state) {
    std::lock_guard lock(mutex_);
    static Fetcher fetcher;  // destroyed at exit, which stops the thread
    if (running_) net::co_spawn(running_->ioc_, running_->loop(keys, std::move(state)), net::detached);
  }

  ~Fetcher() {
    {
      std::lock_guard lock(mutex_);
      running_ = nullptr;
    }
    // Stop every loop (cancel its sleep or its request), let the io_context run dry, then join.
    net::post(ioc_, [this] {
      stopping_ = true;
      for (auto& weak : live_)
        if (auto state = weak.lock()) {
          state->stopped = true;
          wake(*state);
          state->cancel->cancel();
        }
    });
    guard_.reset();
    thread_.join();
  }

 private:
  Fetcher() : guard_(net::make_work_guard(ioc_)), thread_([this] { ioc_.run(); }) { running_ = this; }

  net::awaitable<void> loop(std::weak_ptr<RemoteKeys> weak, std::shared_ptr<RemoteKeys::State> state) {
    std::erase_if(live_, [](const auto& w) { return w.expired(); });
    live_.push_back(state);
    net::steady_timer timer(ioc_);
    std::chrono::milliseconds backoff = 1s;
    while (!state->stopped && !stopping_) {
      discovery::HttpRequest req;
      {
        auto keys = weak.lock();
        if (!keys) break;
        req.url = keys->url_;
        req.timeout = std::chrono::milliseconds(keys->timeout_ms_.load());
        keys->last_fetch_start_ms_ = steady_ms();
      }
      req.headers = {{"Accept", "application/json"}};
      req.max_body = 1 << 20;
      req.cancel = state->cancel;
      state->wake_pending = false;
      discovery::HttpResult result = co_await discovery::http_request(ioc_, std::move(req));
      auto keys = weak.lock();
      if (!keys || state->stopped || stopping_) break;
      std::string error;
      std::shared_ptr<const KeySet> set;
      if (!result.ok()) error = result.error;
      else if (result.status != 200) error = "answered HTTP " + std::to_string(result.status);
      else set = parse_jwks(result.body, error);
      std::chrono::milliseconds wait(keys->refresh_ms_.load());
      if (set) {
        keys->keys_.store(std::move(set), std::memory_order_release);
        keys->generation_.fetch_add(1, std::memory_order_release);
        backoff = 1s;
        log::debug("jwks fetched", {{"url", keys->url_}});
      } else {
        // Keep the last good set; retry sooner than the refresh, backing off up to min_refresh.
        log::warn("jwks fetch failed; keeping the last good key set", {{"url", keys->url_}, {"error", error}});
        wait = std::min(wait, backoff);
        backoff = std::min(backoff * 2, std::max(1000ms, std::chrono::milliseconds(keys->min_refresh_ms_.load())));
      }
      keys->fetches_.fetch_add(1, std::memory_order_acq_rel);
      keys.reset();
      if (state->wake_pending) continue;
      timer.expires_after(wait);
      state->waiting = &timer;
      co_await timer.async_wait(net::as_tuple(net::use_awaitable));
      state->waiting = nullptr;
    }
  }

  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> guard_;
  std::vector<std::weak_ptr<RemoteKeys::State>> live_;  // fetch thread only
  bool stopping_ = false;                               // fetch thread only
  std::thread thread_;

  // Constant-initialized statics (no construction order to get wrong), so a RemoteKeys released
  // after the fetcher stopped at exit still finds running_ null and posts nothing.
  static constinit inline std::mutex mutex_{};
  static constinit inline Fetcher* running_ = nullptr;  // under mutex_
};

namespace {
std::atomic<std::uint64_t> next_id{1};
}

RemoteKeys::RemoteKeys(std::string url)
    : url_(std::move(url)), id_(next_id.fetch_add(1)), state_(std::make_shared<State>()) {}

const std::shared_ptr<const KeySet>& RemoteKeys::current() const {
  struct Entry {
    std::uint64_t id;
    std::uint64_t generation;
    std::shared_ptr<const KeySet> keys;
  };
  thread_local std::vector<Entry> cache;
  const std::uint64_t generation = generation_.load(std::memory_order_acquire);
  for (Entry& e : cache) {
    if (e.id != id_) continue;
    if (e.generation != generation) {
      e.keys = keys_.load(std::memory_order_acquire);
      e.generation = generation;
    }
    return e.keys;
  }
  // Entries of URLs no longer configured would pile up over many reloads: start afresh.
  if (cache.size() >= 16) cache.clear();
  cache.push_back({id_, generation, keys_.load(std::memory_order_acquire)});
  return cache.back().keys;
}

RemoteKeys::~RemoteKeys() {
  state_->stopped = true;
  Fetcher::post([state = state_] {
    wake(*state);
    state->cancel->cancel();
  });
}

std::shared_ptr<RemoteKeys> RemoteKeys::acquire(const std::string& url, const Settings& settings, RuntimeState& state) {
  bool fresh = false;
  std::shared_ptr<RemoteKeys> keys = state.filter_state<RemoteKeys>("jwks", url, [&] {
    fresh = true;
    return std::make_shared<RemoteKeys>(url);
  });
  keys->refresh_ms_ = settings.refresh.count();
  keys->min_refresh_ms_ = settings.min_refresh.count();
  keys->timeout_ms_ = settings.timeout.count();
  if (fresh) Fetcher::start(keys, keys->state_);
  return keys;
}

void RemoteKeys::refresh_soon() {
  const std::int64_t now = steady_ms();
  std::int64_t last = last_fetch_start_ms_.load(std::memory_order_relaxed);
  if (now - last < min_refresh_ms_.load(std::memory_order_relaxed)) return;
  if (!last_fetch_start_ms_.compare_exchange_strong(last, now)) return;  // another thread asked first
  Fetcher::post([state = state_] { wake(*state); });
}

}  // namespace portcullis::filters::jwt
