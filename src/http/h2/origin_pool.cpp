// A worker's HTTP/2 origin connections (see origin_pool.h).
#include "http/h2/origin_pool.h"

#include <algorithm>

#include "discovery/instance.h"
#include "http/h2/origin_session.h"
#include "http/h2/origin_stream.h"

namespace portcullis::http::h2 {

OriginPool::OriginPool() = default;
OriginPool::~OriginPool() { close_all(); }

std::shared_ptr<OriginSession> OriginPool::take(const Instance& instance, const void* tls) {
  if (instance.id >= by_instance_.size()) return nullptr;
  auto& sessions = by_instance_[instance.id];
  for (std::size_t i = 0; i < sessions.size();) {
    OriginSession& s = *sessions[i];
    if (!s.alive()) {  // ended: the origin closed it, or it failed
      sessions[i] = std::move(sessions.back());
      sessions.pop_back();
      continue;
    }
    if (s.tls() == tls && s.has_room()) return sessions[i];
    ++i;
  }
  return nullptr;
}

void OriginPool::add(std::shared_ptr<OriginSession> session) {
  const std::uint32_t id = session->instance_id();
  if (id >= by_instance_.size()) by_instance_.resize(id + 1);
  by_instance_[id].push_back(std::move(session));
}

void OriginPool::sweep(std::chrono::steady_clock::time_point now) {
  for (auto& sessions : by_instance_) {
    for (std::size_t i = 0; i < sessions.size();) {
      OriginSession& s = *sessions[i];
      // Retired connections leave once their last stream is done, idle ones after their timeout.
      const bool done = !s.alive() || (!s.connecting() && s.active() == 0 && (s.retired() || s.idle_past(now)));
      if (!done) {
        ++i;
        continue;
      }
      s.close();
      sessions[i] = std::move(sessions.back());
      sessions.pop_back();
    }
  }
}

void OriginPool::forget(std::uint32_t instance_id) {
  if (instance_id >= by_instance_.size()) return;
  for (auto& s : by_instance_[instance_id]) s->close();
  by_instance_[instance_id].clear();
}

void OriginPool::close_all() {
  for (std::uint32_t id = 0; id < by_instance_.size(); ++id) forget(id);
}

namespace {
constexpr std::size_t kSpareStreams = 64;  // per worker
}

std::shared_ptr<OriginStream> OriginPool::stream(boost::asio::io_context& ioc) {
  // The session or a pump may still hold a stream given back: only one the pool alone holds is reused.
  for (std::size_t i = returned_.size(); i-- > 0;) {
    if (returned_[i].use_count() != 1) continue;
    std::shared_ptr<OriginStream> s = std::move(returned_[i]);
    returned_[i] = std::move(returned_.back());
    returned_.pop_back();
    s->reset();
    return s;
  }
  return std::make_shared<OriginStream>(ioc);
}

void OriginPool::give_back(std::shared_ptr<OriginStream> stream) {
  if (returned_.size() < kSpareStreams) returned_.push_back(std::move(stream));
}

std::size_t OriginPool::size() const {
  std::size_t n = 0;
  for (const auto& sessions : by_instance_) n += sessions.size();
  return n;
}

}  // namespace portcullis::http::h2
