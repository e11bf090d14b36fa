// The command line as a library function, so a user's own gateway binary (with extra filters
// registered first) gets exactly the same CLI: see examples/custom_filter.
#pragma once

namespace portcullis {
int run_main(int argc, char** argv);
}
