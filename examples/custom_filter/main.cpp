// The user's gateway: register the extra filter by name, then hand over to portcullis' own CLI
// (run / validate / --version), so the binary behaves exactly like `portcullis`.
#include <core/cli.h>
#include <pipeline/registry.h>

#include "stamp_filter.h"

int main(int argc, char** argv) {
  portcullis::FilterRegistry::instance().add("stamp", my_gateway::make_stamp_filter);
  return portcullis::run_main(argc, argv);
}
