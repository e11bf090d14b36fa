# One-command entry points. `make test` and `make demo` install what they need first.
BUILD_DIR ?= build
RELEASE_DIR ?= build-release
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 30
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build release test test-asan test-tsan fuzz demo bench install clean

all: build

deps:
	./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j$(JOBS)

release: deps
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release -DPORTCULLIS_BUILD_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build $(RELEASE_DIR) -j$(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j1

# Sanitizer builds use -O1 and line tables only (-g1): reports keep file:line, and the build takes
# far less than a full -O2 -g one (CI builds the ASan one cold).
SANITIZE_FLAGS ?= -O1 -g1 -DNDEBUG

# The whole suite built with AddressSanitizer and UndefinedBehaviorSanitizer; the daemon the
# integration tests start is the instrumented one, and a report fails its test.
test-asan: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTCULLIS_SANITIZE=address \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$(SANITIZE_FLAGS)" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=$(SANITIZE_FLAGS)" $(CMAKE_FLAGS)
	cmake --build $(ASAN_DIR) -j$(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j1 $(CTEST_FLAGS)

# ThreadSanitizer over the integration tests (multi-worker daemons, reloads, watched scripts).
test-tsan: deps
	cmake -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTCULLIS_SANITIZE=thread \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$(SANITIZE_FLAGS)" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=$(SANITIZE_FLAGS)" $(CMAKE_FLAGS)
	cmake --build $(TSAN_DIR) -j$(JOBS)
	cd $(TSAN_DIR) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp \
	  ctest --output-on-failure -j1 -R '^integration:' $(CTEST_FLAGS)

# libFuzzer targets (tests/fuzz, clang-14), each run for FUZZ_SECONDS from the committed seeds.
fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTCULLIS_FUZZ=ON
	cmake --build $(FUZZ_DIR) -j$(JOBS)
	./scripts/run-fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

demo: release
	./scripts/demo.sh $(RELEASE_DIR)

bench: deps
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release -DPORTCULLIS_BUILD_TESTS=OFF
	cmake --build $(RELEASE_DIR) -j$(JOBS)
	./benchmarks/compare_peers.sh $(RELEASE_DIR)

install: release
	cmake --install $(RELEASE_DIR)

clean:
	rm -rf $(BUILD_DIR) $(RELEASE_DIR) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR)
