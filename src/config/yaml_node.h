// A YAML node kept where yaml-cpp's headers should not reach (config.h, the filter registry, and
// so every header the data path includes): filter args waiting for their filter's factory, and the
// entries whose marks place errors found when a snapshot compiles. yaml-cpp nodes are handles into
// a shared document, so holding a copy keeps that document alive.
#pragma once
#include <memory>

namespace YAML { class Node; }

namespace portcullis {

class YamlNode {
 public:
  YamlNode();                        // a null node, as a default YAML::Node is
  YamlNode(const YAML::Node& node);  // NOLINT: implicit, as the loader assigns nodes
  // The node. Code that reads it includes <yaml-cpp/yaml.h> itself.
  const YAML::Node& operator*() const;
  const YAML::Node* operator->() const { return &**this; }

 private:
  std::shared_ptr<const YAML::Node> node_;
};

}  // namespace portcullis
