# Thin wrapper over CMake.  `make` builds build/lmdiff, `make test` runs every
# test (release build, then the same tests under ASan+UBSan), `make run` runs
# the main job.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
STAMP      := $(BUILD)/.deps-ok

.PHONY: all deps test test-release test-asan test-web run bench fuzz fuzz-run clean format install

all: $(BUILD)/lmdiff

$(STAMP): scripts/install-deps.sh
	@bash scripts/install-deps.sh
	@mkdir -p $(BUILD) && touch $@

deps:
	bash scripts/install-deps.sh

$(BUILD)/lmdiff: $(STAMP) FORCE
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

FORCE:

test: test-release test-asan test-web

test-release: $(BUILD)/lmdiff
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: $(STAMP)
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLMD_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j$(JOBS)

# The web app: type-check, rebuild the bundle into a temporary folder and
# check that the committed web/dist is that build, then the browser tests
# against the mock server (those against the real server run in ctest).
test-web:
	@if [ -d web/node_modules ]; then bash scripts/test-web.sh; \
	else echo "test-web: web/node_modules missing (cd web && npm ci); skipped"; fi

# Installs under $(PREFIX) (default /usr/local), staged under $(DESTDIR) when set.
PREFIX ?= /usr/local
install: $(BUILD)/lmdiff
	cmake --install $(BUILD) --prefix $(PREFIX)

run: $(BUILD)/lmdiff
	bash scripts/run-demo.sh $(BUILD)/lmdiff

bench: $(BUILD)/lmdiff
	bash bench/run.sh $(BUILD)

# the libFuzzer targets (clang); fuzz-run runs each for 5 s from its seed corpus
FUZZ_TARGETS := $(basename $(notdir $(wildcard fuzz/fuzz_*.c)))
fuzz: $(STAMP)
	CC=clang cmake -S . -B build-fuzz -DLMD_FUZZ=ON -DLMD_WERROR=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build-fuzz -j$(JOBS) --target $(FUZZ_TARGETS)

fuzz-run: fuzz
	cd build-fuzz && ctest --output-on-failure -R '^fuzz_run_'

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
