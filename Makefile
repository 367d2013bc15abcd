# tanpu's two commands are `make demo` and `make test` (README.md); the rest serve them.
# Every target works as root with no terminal (CI runs `bash .ci/run`, which runs `make test`).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
# Targets run one after another (deps before build, build before demo); parallelism is inside each
# build (ninja) and in ctest.
.NOTPARALLEL:
.DEFAULT_GOAL := help

# The machines are 2 cores: more jobs only add memory pressure (Boost.Beast is heavy to compile).
JOBS ?= 2
BUILD_DIR ?= build
SAN_DIR ?= build-san
CTEST_TIMEOUT_S ?= 900
CMAKE ?= cmake
CLANG_FORMAT ?= clang-format

# Sanitizer settings for the tests; override from the environment.
export ASAN_OPTIONS ?= detect_leaks=1:check_initialization_order=1:strict_init_order=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

# Configures $(1) with Ninja and the extra CMake flags $(2). ccache is looked up when the recipe runs,
# not when make starts, so a `make test` that has just installed it uses it at once.
define configure
	launcher=$$(command -v ccache || true); \
	$(CMAKE) -S . -B $(1) -G Ninja -DCMAKE_CXX_COMPILER_LAUNCHER="$$launcher" $(2)
endef

# The C++ sources that format and lint look at: tracked, or new and not ignored.
cxx_sources = git ls-files -co --exclude-standard -- 'src/*.h' 'src/*.cpp' 'tests/*.h' 'tests/*.cpp'

.PHONY: help deps build build-san test demo format lint clean

help:
	@echo "make demo       install dependencies, build, and run tanpu on 127.0.0.1:8080 (scripts/demo)"
	@echo "make test       install dependencies, build both trees, run every test on SQLite and"
	@echo "                PostgreSQL under ASan+UBSan, and check formatting"
	@echo "make deps       install the Debian packages (scripts/install-deps)"
	@echo "make build      release build of build/tanpu (no tests)"
	@echo "make build-san  debug build with sanitizers and tests in build-san/"
	@echo "make format     clang-format -i every source under src/ and tests/"
	@echo "make lint       check-format and clang-tidy over src/ (slow: minutes)"
	@echo "make clean      remove build/ and build-san/ (var/, the demo database, stays)"

deps:
	bash scripts/install-deps

# RelWithDebInfo without tests, so the plain build is quick: it leaves $(BUILD_DIR)/tanpu.
build:
	$(call configure,$(BUILD_DIR),-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANPU_SANITIZE=OFF -DTANPU_TESTS=OFF)
	$(CMAKE) --build $(BUILD_DIR) --target tanpu --parallel $(JOBS)

# Tests are discovered when ctest runs (PRE_TEST), not after the build: the engines a test runs on
# depend on TANPU_DATABASE_URL, which only scripts/with-postgres sets. Discovered after the build,
# every .../postgres instance would be missing from ctest, silently.
build-san:
	$(call configure,$(SAN_DIR),-DCMAKE_BUILD_TYPE=Debug -DTANPU_SANITIZE=ON -DTANPU_TESTS=ON \
	  -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST)
	$(CMAKE) --build $(SAN_DIR) --parallel $(JOBS)

# Runs both checks whatever the first one says, then fails if either failed. The tests run on SQLite
# and, through scripts/with-postgres, on a throwaway PostgreSQL that they are required to reach.
# ctest caches the tests it discovered until a test executable changes; the cache is dropped first
# so that discovery sees this run's TANPU_DATABASE_URL (see build-san).
test: deps build build-san
	@status=0; \
	echo "== check-format"; \
	bash scripts/check-format || status=1; \
	echo "== ctest ($(SAN_DIR), SQLite and PostgreSQL)"; \
	for list in $(SAN_DIR)/*_include.cmake; do \
	  if grep -q gtest_discover_tests_impl "$$list" 2>/dev/null; then \
	    rm -f "$${list%_include.cmake}_tests.cmake"; \
	  fi; \
	done; \
	if [[ ! -f scripts/with-postgres ]]; then \
	  echo "make test: scripts/with-postgres is missing" >&2; status=1; \
	else \
	  bash scripts/with-postgres env TANPU_REQUIRE_POSTGRES=1 \
	    ctest --test-dir $(SAN_DIR) --output-on-failure -j$(JOBS) --timeout $(CTEST_TIMEOUT_S) \
	          --no-tests=error || status=1; \
	fi; \
	if [[ $$status -ne 0 ]]; then echo "make test: FAILED (see above)" >&2; else echo "make test: OK"; fi; \
	exit $$status

demo: deps build
	bash scripts/demo

format:
	$(cxx_sources) | xargs -r $(CLANG_FORMAT) -i

# clang-tidy needs version 16 or later for std::expected (see .clang-tidy); install-deps --with-lint
# installs one. Override with `make lint TIDY=clang-tidy-NN`. Only configures $(BUILD_DIR): the
# compile database is all clang-tidy needs.
lint:
	@status=0; \
	bash scripts/check-format || status=1; \
	bash scripts/install-deps --with-lint; \
	$(call configure,$(BUILD_DIR),-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANPU_SANITIZE=OFF -DTANPU_TESTS=OFF) >/dev/null; \
	tidy="$(TIDY)"; \
	if [[ -z "$$tidy" ]]; then \
	  for v in 19 18 17 16; do \
	    if command -v clang-tidy-$$v >/dev/null; then tidy=clang-tidy-$$v; break; fi; \
	  done; \
	fi; \
	if [[ -z "$$tidy" ]]; then echo "make lint: no clang-tidy 16 or later found" >&2; exit 1; fi; \
	echo "== $$tidy over src/ with $(BUILD_DIR)/compile_commands.json (slow: several minutes)"; \
	runner=run-$$tidy; \
	if command -v "$$runner" >/dev/null; then \
	  "$$runner" -quiet -j $(JOBS) -p $(BUILD_DIR) -clang-tidy-binary "$$(command -v $$tidy)" \
	    '^$(CURDIR)/src/.*\.cpp$$' || status=1; \
	else \
	  git ls-files -co --exclude-standard -- 'src/*.cpp' \
	    | xargs -r -n 1 -P $(JOBS) "$$tidy" --quiet -p $(BUILD_DIR) || status=1; \
	fi; \
	exit $$status

clean:
	rm -rf $(BUILD_DIR) $(SAN_DIR)
