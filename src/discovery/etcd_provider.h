// Pieces of the etcd provider that are worth testing on their own: base64 (the JSON gateway's
// encoding of keys and values), prefix ranges, instance values and the watch stream splitter.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "discovery/instance.h"

namespace portcullis::discovery {

std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);  // nullopt when not base64
// The range_end that selects every key starting with `prefix`.
std::string etcd_prefix_end(std::string_view prefix);
// A key's value: {"host", "port", "zone", "weight", "status", "metadata"}; host must be an IP.
std::optional<DiscoveredInstance> decode_etcd_instance(std::string_view id, std::string_view value, std::string& error);

// Cuts a stream of concatenated JSON objects (newline-separated or not) into whole objects, however
// the transport splits the bytes.
class JsonStreamSplitter {
 public:
  void feed(std::string_view bytes, const std::function<void(std::string_view)>& on_object);

 public:
  static constexpr std::size_t max_message_bytes = 64 * 1024 * 1024;

 private:
  std::string current_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
};

}  // namespace portcullis::discovery
