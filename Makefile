# Thin front door over CMake. `make demo` and `make test` are all a new user needs.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
# Seconds each libFuzzer target runs in `make fuzz` (four targets: about four minutes in
# CI; a longer run: make fuzz FUZZ_SECONDS=3600).
FUZZ_SECONDS ?= 60
# The ThreadSanitizer run: the unit, realtime and fault tests labelled tsan
# (tests/CMakeLists.txt says which and why).
TSAN_LABELS ?= tsan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

PREFIX     ?= /usr/local

.PHONY: all deps build install build-asan build-tsan build-fuzz demo test test-asan test-tsan fuzz bench clean format arm64

all: build

deps:
	@./scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBB_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)

build-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBB_TSAN=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(TSAN_BUILD) -j$(JOBS)

build-fuzz:
	@./scripts/deps.sh fuzz
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBB_FUZZ=ON \
		-DBB_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)

demo: build
	$(BUILD)/bin/batcherbird demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS)

test-tsan: build-tsan
	cd $(TSAN_BUILD) && ctest --output-on-failure -j$(JOBS) -L '$(TSAN_LABELS)'

# The libFuzzer targets, one after another, each for FUZZ_SECONDS.
fuzz: build-fuzz
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz

# The capture node cross-built for arm64 (Raspberry Pi) into build-arm64/, its unit tests
# run under qemu (scripts/ci-arm64.sh).
arm64:
	./scripts/ci-arm64.sh

# the three programs into $(PREFIX)/bin (root, or sudo, for /usr/local)
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

bench: build
	cmake --build $(BUILD) --target benchmarks -j$(JOBS)
	./bench/run-all.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) build-arm64 build-arm64-deps
