// portcullis: the command line. `run` starts the daemon, `validate` checks a config file with
// exactly the code a reload runs.
#include "core/cli.h"

int main(int argc, char** argv) { return portcullis::run_main(argc, argv); }
