// Process-wide gates: the gateway's and one per route id, created on first use and kept for the
// life of the process (a route removed and added back finds its counter).
#include "protection/gate.h"

#include <mutex>
#include <unordered_map>

namespace portcullis::protection {

Gate& global_gate() {
  static Gate gate;
  return gate;
}

std::shared_ptr<Gate> route_gate(const std::string& route_id) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::shared_ptr<Gate>> table;
  std::lock_guard lock(mutex);
  auto& slot = table[route_id];
  if (!slot) slot = std::make_shared<Gate>();
  return slot;
}

}  // namespace portcullis::protection
