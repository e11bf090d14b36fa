// Command line: run / validate / schema / --version / --help, with 12-factor environment overrides.
#include "core/cli.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "config/errors.h"
#include "config/runtime_state.h"
#include "config/schema_export.h"
#include "config/snapshot.h"
#include "core/server.h"
#include "util/log.h"

namespace portcullis {
namespace {

constexpr const char* usage =
    "usage: portcullis [run] -c FILE        start the gateway\n"
    "       portcullis validate -c FILE     check a config file: exit 0, or print every error and exit 1\n"
    "       portcullis schema [--keys]      print the config file's JSON Schema (draft 2020-12), or its keys\n"
    "       portcullis --version | --help\n"
    "environment: PORTCULLIS_LOG_LEVEL=debug|info|warn|error, PORT=N (overrides the first listen port)\n";

void apply_environment(Config& config) {
  if (const char* port = std::getenv("PORT"); port && *port && !config.server.listen.empty()) {
    int p = std::atoi(port);
    if (p >= 0 && p <= 65535) config.server.listen.front().port = static_cast<std::uint16_t>(p);
  }
}

std::shared_ptr<const Snapshot> load(const std::string& path, RuntimeState& state, bool quiet) {
  ConfigErrors errors(path);
  auto config = load_config_file(path, errors);
  std::shared_ptr<const Snapshot> snap;
  if (config) {
    apply_environment(*config);
    snap = compile_snapshot(std::move(*config), errors, state, 1);
  }
  if (!snap && !quiet) {
    for (const auto& e : errors.list()) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  }
  return snap;
}

}  // namespace

int run_main(int argc, char** argv) {
  std::string command = "run";
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--version" || arg == "-v") {
      std::printf("portcullis %s\n", PORTCULLIS_VERSION);
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", usage);
      return 0;
    }
    if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "run" || arg == "validate" || arg == "schema") {
      command = arg;
    } else if (arg == "--keys" && command == "schema") {
      command = "schema-keys";
    } else {
      std::fprintf(stderr, "unknown argument: %s\n%s", arg.c_str(), usage);
      return 2;
    }
  }
  // The schema describes every file, so it needs none.
  if (command == "schema" || command == "schema-keys") {
    std::fputs((command == "schema" ? configuration_schema() : configuration_keys()).c_str(), stdout);
    return 0;
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "a config file is required (-c FILE)\n%s", usage);
    return 2;
  }
  if (const char* level = std::getenv("PORTCULLIS_LOG_LEVEL"); level && *level) {
    log::Level l;
    if (!log::parse_level(level, l)) {
      std::fprintf(stderr, "PORTCULLIS_LOG_LEVEL: unknown level '%s'\n", level);
      return 2;
    }
    log::set_level(l);
  }
  if (command == "validate") {
    observability::Registry metrics(1);
    RuntimeState state(metrics);
    if (!load(config_path, state, false)) return 1;
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }
  // Workers are known only after parsing; the registry needs one shard per worker plus control.
  ConfigErrors errors(config_path);
  auto probe = load_config_file(config_path, errors);
  if (!probe) {
    for (const auto& e : errors.list()) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
  auto metrics = std::make_shared<observability::Registry>(effective_workers(*probe) + 1);
  auto state = std::make_shared<RuntimeState>(*metrics);
  auto snap = load(config_path, *state, false);
  if (!snap) return 1;
  Server server(config_path, metrics, state);
  return server.run(snap);
}

}  // namespace portcullis
