#include "discovery/balancer.h"

namespace portcullis::discovery {

bool parse_policy(std::string_view name, Policy& out) {
  if (name == "round_robin") out = Policy::round_robin;
  else if (name == "weighted_round_robin") out = Policy::weighted_round_robin;
  else if (name == "random") out = Policy::random;
  else if (name == "least_request") out = Policy::least_request;
  else if (name == "consistent_hash") out = Policy::consistent_hash;
  else return false;
  return true;
}

const std::vector<std::uint32_t>& Balancer::candidates(bool zone_aware, double zone_min_percent, std::int64_t now_ns) {
  const InstanceSet& set = *set_;
  if (!zone_aware || set.local.empty()) return set.up;
  if (zone_checked_ns_ < 0 || now_ns - zone_checked_ns_ > 100'000'000) {
    std::size_t available = 0;
    for (std::uint32_t i : set.local) available += set.instances[i].available(now_ns) ? 1 : 0;
    zone_ok_ = available > 0 && available * 100.0 >= zone_min_percent * static_cast<double>(set.local.size());
    zone_checked_ns_ = now_ns;
  }
  return zone_ok_ ? set.local : set.up;
}

const Instance* Balancer::scan(const std::vector<std::uint32_t>& list, std::uint32_t start, std::int64_t now_ns,
                               const Exclusion& exclude, bool ignore_health) const {
  const std::size_t n = list.size();
  const Instance* fallback = nullptr;  // an excluded one, when it is all there is (not strict)
  for (std::size_t k = 0; k < n; ++k) {
    const Instance& inst = set_->instances[list[(start + k) % n]];
    if (!ignore_health && !inst.available(now_ns)) continue;
    if (exclude.has(inst.id)) {
      if (!exclude.strict && !fallback) fallback = &inst;
      continue;
    }
    return &inst;
  }
  return fallback;
}

const Instance* Balancer::weighted(const std::vector<std::uint32_t>& list, std::int64_t now_ns, const Exclusion& exclude) {
  if (!schedule_built_ || schedule_list_ != &list) {
    schedule_ = {};
    std::uint32_t seq = 0;
    for (std::uint32_t i : list) schedule_.push({1.0 / set_->instances[i].weight, seq++, i});
    schedule_list_ = &list;
    schedule_built_ = true;
  }
  const Instance* fallback = nullptr;
  for (std::size_t k = 0; k < list.size(); ++k) {
    Entry e = schedule_.top();
    schedule_.pop();
    const Instance& inst = set_->instances[e.index];
    e.deadline += 1.0 / inst.weight;
    schedule_.push(e);
    if (!inst.available(now_ns)) continue;
    if (exclude.has(inst.id)) {
      if (!exclude.strict && !fallback) fallback = &inst;
      continue;
    }
    return &inst;
  }
  return fallback;
}

PickResult Balancer::pick(Policy policy, bool zone_aware, double zone_min_percent, std::uint64_t hash,
                          std::int64_t now_ns, const Exclusion& exclude) {
  const InstanceSet& set = *set_;
  if (set.up.empty()) return {};
  const std::vector<std::uint32_t>& list = candidates(zone_aware, zone_min_percent, now_ns);
  const std::size_t n = list.size();
  const Instance* chosen = nullptr;
  switch (policy) {
    case Policy::round_robin: {
      // One relaxed increment of the service's cursor: the order is the service's, not the worker's.
      const std::uint32_t at = shared_cursor_ ? shared_cursor_->fetch_add(1, std::memory_order_relaxed) : cursor_++;
      chosen = scan(list, at % n, now_ns, exclude, false);
      break;
    }
    case Policy::random:
      chosen = scan(list, static_cast<std::uint32_t>(next_random() % n), now_ns, exclude, false);
      break;
    case Policy::weighted_round_robin:
      chosen = set.weighted ? weighted(list, now_ns, exclude) : scan(list, cursor_++ % n, now_ns, exclude, false);
      break;
    case Policy::least_request: {
      // Power of two choices: two random candidates, the one with fewer requests in flight.
      const Instance& a = set.instances[list[next_random() % n]];
      const Instance& b = set.instances[list[next_random() % n]];
      const bool a_ok = a.available(now_ns) && !exclude.has(a.id);
      const bool b_ok = b.available(now_ns) && !exclude.has(b.id);
      if (a_ok && b_ok) {
        chosen = b.state->in_flight.load(std::memory_order_relaxed) < a.state->in_flight.load(std::memory_order_relaxed)
                     ? &b : &a;
      } else if (a_ok || b_ok) {
        chosen = a_ok ? &a : &b;
      } else {
        chosen = scan(list, cursor_++ % n, now_ns, exclude, false);
      }
      break;
    }
    case Policy::consistent_hash: {
      if (set.maglev.empty()) {
        chosen = scan(list, static_cast<std::uint32_t>(hash % n), now_ns, exclude, false);
        break;
      }
      // The key's slot, then the following slots: an unavailable instance's keys spread over
      // the others, and come back to it when it returns.
      const std::size_t m = set.maglev.size();
      const std::size_t slot = hash % m;
      for (std::size_t k = 0; k < 64 && !chosen; ++k) {
        const Instance& inst = set.instances[set.maglev[(slot + k) % m]];
        if (inst.available(now_ns) && !exclude.has(inst.id)) chosen = &inst;
      }
      if (!chosen) chosen = scan(set.up, static_cast<std::uint32_t>(hash % set.up.size()), now_ns, exclude, false);
      break;
    }
  }
  // An excluded instance comes back only when nothing else is available anywhere: a retry that
  // found only the instance it left in the local zone tries the other zones first.
  if (chosen && exclude.has(chosen->id) && &list != &set.up) {
    const Instance* other = scan(set.up, cursor_++ % set.up.size(), now_ns, exclude, false);
    if (other) chosen = other;
  }
  if (chosen) return {chosen, false};
  // Nothing in the preferred list: the whole service, then (panic) any UP instance.
  if (&list != &set.up) {
    if (const Instance* other = scan(set.up, cursor_++ % set.up.size(), now_ns, exclude, false)) return {other, false};
  }
  return {scan(set.up, cursor_++ % set.up.size(), now_ns, exclude, true), true};
}

}  // namespace portcullis::discovery
