#include "config/yaml_node.h"

#include <yaml-cpp/yaml.h>

namespace portcullis {

YamlNode::YamlNode() = default;

YamlNode::YamlNode(const YAML::Node& node) : node_(std::make_shared<const YAML::Node>(node)) {}

const YAML::Node& YamlNode::operator*() const {
  static const YAML::Node null_node;  // what a default YAML::Node is
  return node_ ? *node_ : null_node;
}

}  // namespace portcullis
