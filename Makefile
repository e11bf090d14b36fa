# One-command entry points. `make test` and `make demo` install what they need first.
BUILD_DIR ?= build
RELEASE_DIR ?= build-release
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build release test demo bench install clean

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

demo: release
	./scripts/demo.sh $(RELEASE_DIR)

bench: deps
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release -DPORTCULLIS_BUILD_TESTS=OFF
	cmake --build $(RELEASE_DIR) -j$(JOBS)
	./benchmarks/compare_peers.sh $(RELEASE_DIR)

install: release
	cmake --install $(RELEASE_DIR)

clean:
	rm -rf $(BUILD_DIR) $(RELEASE_DIR)
