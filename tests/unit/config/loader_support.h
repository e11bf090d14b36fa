// Shared by the config loader's tests: parse a document, list its errors, require exactly some.
#pragma once
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/errors.h"

using namespace std::chrono_literals;
using portcullis::Config;
using portcullis::ConfigErrors;
using portcullis::ListenAddress;

namespace loader_support {


struct Parsed {
  Config config;
  ConfigErrors errors{"test.yaml"};
};

inline Parsed parse(const std::string& yaml) {
  Parsed out;
  out.config = portcullis::parse_config(YAML::Load(yaml), out.errors);
  return out;
}

inline std::vector<std::string> error_lines(const ConfigErrors& errors) {
  std::vector<std::string> lines;
  for (const auto& error : errors.list()) lines.push_back(error.to_string());
  return lines;
}

// The document must produce exactly these errors, in this order.
inline void require_errors(const std::string& yaml, const std::vector<std::string>& expected) {
  INFO(yaml);
  const Parsed parsed = parse(yaml);
  CHECK(error_lines(parsed.errors) == expected);
}

inline void require_no_errors(const std::string& yaml) {
  INFO(yaml);
  const Parsed parsed = parse(yaml);
  CHECK(parsed.errors.joined() == "");
}

// A file under the temp directory, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("portcullis_loader_test_" + std::to_string(getpid()) + "_" + std::to_string(++counter) + ".yaml"))
                .string();
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline const char* const kFullExample = R"(server:
  listen: "127.0.0.1:8080"
  workers: 0
  limits: { max_connections: 100000, max_request_header_bytes: 65536, max_request_body_bytes: 10485760 }
  timeouts: { request_header: 10s, idle: 60s, drain: 30s }
  trusted_proxies: ["127.0.0.1/32", "::1/128"]
  via: portcullis
  server_header: false
admin:
  listen: "127.0.0.1:9901"
  enabled: true
services:
  hello:
    discovery: static
    instances: ["127.0.0.1:8000", "127.0.0.1:8989"]
    lb: round_robin
    connect_timeout: 3s
    read_timeout: 60s
    max_idle_connections: 64
routes:
  - id: hello
    path: /hello/**
    service: hello
    methods: [GET, POST]
    host: api.example.com
    headers: { Client: Android }
    strip_prefix: true
    allow_upgrade: false
    filters:
      - { name: add_request_header, args: { name: X-Gateway, value: portcullis }, order: 10 }
  - id: ping
    path: /ping
    static: { status: 200, body: "pong\n", headers: { Content-Type: text/plain } }
filters:
  - { name: access_log }
)";

using Headers = std::vector<std::pair<std::string, std::string>>;

}  // namespace loader_support

using namespace loader_support;
