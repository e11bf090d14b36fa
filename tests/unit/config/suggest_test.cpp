// "Did you mean" suggestions: the edit distance they rest on, and when a suggestion is offered.
#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include "config/runtime_state.h"
#include "config/config.h"
#include "config/errors.h"
#include "config/snapshot.h"
#include "config/suggest.h"
#include "observability/metrics.h"

using portcullis::closest;
using portcullis::did_you_mean;
using portcullis::edit_distance;

TEST_CASE("edit distance counts inserts, deletes, substitutions and adjacent swaps", "[config]") {
  CHECK(edit_distance("workers", "workers") == 0);
  CHECK(edit_distance("workerz", "workers") == 1);      // substitution
  CHECK(edit_distance("round_robbin", "round_robin") == 1);  // insertion
  CHECK(edit_distance("listn", "listen") == 1);          // deletion
  CHECK(edit_distance("ordre", "order") == 1);           // adjacent swap
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("Workers", "workers") == 0);       // case does not count
}

TEST_CASE("a suggestion is offered only for a likely typo", "[config]") {
  const std::vector<std::string_view> keys = {"listen", "workers", "limits", "timeouts"};
  CHECK(did_you_mean("workerz", keys) == "; did you mean workers?");
  CHECK(did_you_mean("timeout", keys) == "; did you mean timeouts?");
  CHECK(did_you_mean("colour", keys).empty());  // nothing close
  CHECK(did_you_mean("xyz", keys).empty());
  CHECK(closest("workers", keys).empty());      // the word itself is not a suggestion
  // Short words allow one edit only.
  CHECK(closest("lb", {"lbs", "ab"}) == "lbs");
  CHECK(closest("abc", {"xyz"}).empty());
  // Ties go to the first candidate.
  CHECK(closest("cat", {"bat", "hat"}) == "bat");
}

TEST_CASE("a misspelt filter name or filter arg gets the closest known one", "[config]") {
  portcullis::ConfigErrors errors("test.yaml");
  portcullis::Config config = portcullis::parse_config(YAML::Load(R"(
filters:
  - { name: rate_limitt, args: { rate: 10/s } }
  - { name: rate_limit, args: { rate: 10/s, bursst: 5 } }
  - { name: entirely_unheard_of }
)"),
                                                       errors);
  REQUIRE(errors.list().empty());
  portcullis::observability::Registry metrics(1);
  portcullis::RuntimeState state(metrics);
  CHECK(portcullis::compile_snapshot(std::move(config), errors, state, 1) == nullptr);
  const std::string text = errors.joined();
  CHECK(text.find("test.yaml:3:13: filters[0].name: unknown filter 'rate_limitt'; did you mean rate_limit?") !=
        std::string::npos);
  CHECK(text.find("filters[1].args.bursst: unknown key; did you mean burst?") != std::string::npos);
  CHECK(text.find("filters[2].name: unknown filter 'entirely_unheard_of'") != std::string::npos);
  CHECK(text.find("'entirely_unheard_of';") == std::string::npos);  // nothing close: no suggestion
}
