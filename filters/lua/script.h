// One version of a lua filter's script, checked: it compiles, runs within its budget and returns
// a filter table in Zuul's shape ({type, order, should_filter?, run}). Checking happens on the
// control thread in a throwaway VM; each worker then instantiates the same version in its own VM.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "filters/lua/vm.h"
#include "pipeline/filter.h"

namespace portcullis::lua {

struct Script {
  std::string path;
  std::string source;
  std::string hash;  // SHA-256 of the source, hex
  FilterType type = FilterType::pre;
  int order = 0;
  bool has_criterion = false;  // the table has should_filter
  std::chrono::system_clock::time_point loaded_at;
  Budget budget;  // the one its top level was checked with
};

// A script's functions in one VM (registry refs).
struct Instance {
  int run = -1;
  int should_filter = -1;  // -1 when the script has none
};

// Runs the script's chunk in `vm` and checks the table it returns; fills `out` with its type,
// order and functions (refs kept in `vm` when `keep` is set). False with `failure` set otherwise.
bool instantiate(Vm& vm, const Script& script, const Budget& budget, Script& out, Instance* keep, Failure& failure);

// Compiles and checks `source` in a throwaway VM. Null with `failure` set when it is refused.
std::shared_ptr<const Script> check_script(const std::string& path, std::string source, const Budget& budget,
                                           Failure& failure);

std::string sha256_hex(std::string_view data);

}  // namespace portcullis::lua
