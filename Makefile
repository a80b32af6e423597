# A thin wrapper over meson: `make run` and `make test` set everything up on
# a fresh Debian 12 machine (root or sudo) and then serve or test.
BUILD ?= build
# What `make test` builds: the same sources with the test hooks (EFFMON_NOW,
# the database's "today") that production builds never have, and the same
# again with AddressSanitizer and UBSan (any report fails).
TEST_BUILD ?= build-test
SAN_BUILD ?= build-sanitize
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all deps build build-test build-release run test test-sanitize fuzz bench soak stop-db clean

all: build

deps:
	@scripts/deps.sh

# The build `make run` serves: no test hooks (a dir configured with them
# before is reconfigured once).
$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(BUILD)/.production: $(BUILD)/build.ninja
	meson configure $(BUILD) -Dtest_hooks=false
	@touch $@

build: deps $(BUILD)/.production
	meson compile -C $(BUILD)

run: build
	@scripts/run.sh

$(TEST_BUILD)/build.ninja:
	meson setup $(TEST_BUILD) -Dtest_hooks=true

# A test dir set up before the option existed gets it once.
%/.test-hooks: %/build.ninja
	meson configure $* -Dtest_hooks=true
	@touch $@

build-test: deps $(TEST_BUILD)/.test-hooks
	meson compile -C $(TEST_BUILD)

# Both suites run, whatever the first one's result; either failing fails.
test: build-test
	@meson test -C $(TEST_BUILD) --print-errorlogs; s=$$?; \
	$(MAKE) --no-print-directory test-sanitize; t=$$?; \
	$(MAKE) --no-print-directory build-release; r=$$?; \
	[ $$s -eq 0 ] && [ $$t -eq 0 ] && [ $$r -eq 0 ]

# The optimised build of the Docker image and of `make bench` (-O3 warns where -O2 does
# not): compiled by `make test`, not tested.
REL_BUILD ?= build-release
$(REL_BUILD)/build.ninja:
	meson setup $(REL_BUILD) -Dbuildtype=release -Db_ndebug=true -Dtest_hooks=false
build-release: deps $(REL_BUILD)/build.ninja
	meson compile -C $(REL_BUILD) effmond

$(SAN_BUILD)/build.ninja:
	meson setup $(SAN_BUILD) -Dtest_hooks=true -Dbuildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all

# Unit and integration tests against the sanitizer build.
test-sanitize: deps $(SAN_BUILD)/.test-hooks
	meson compile -C $(SAN_BUILD)
	$(SAN_ENV) meson test -C $(SAN_BUILD) --suite unit --suite integration --suite fuzz \
		--timeout-multiplier 3 --print-errorlogs

# libFuzzer (clang): each target of tests/fuzz runs FUZZ_SECONDS on a copy of its
# committed corpus; the inputs it finds stay in $(FUZZ_BUILD)/corpus/<target>/,
# a crashing input in $(FUZZ_BUILD)/crash-<target>-*. Any crash fails the run.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= validate router query token csv

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fno-sanitize-recover=all

fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory $(FUZZ_BUILD)/build.ninja
	meson compile -C $(FUZZ_BUILD)
	@failed=; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t && cp -n tests/fuzz/corpus/$$t/* $(FUZZ_BUILD)/corpus/$$t/; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(FUZZ_BUILD)/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crash-$$t- \
			$(FUZZ_BUILD)/corpus/$$t 2>$(FUZZ_BUILD)/fuzz-$$t.log || failed="$$failed $$t"; \
		grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)|ERROR|SUMMARY' \
			$(FUZZ_BUILD)/fuzz-$$t.log; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed (see $(FUZZ_BUILD)/fuzz-<target>.log)"; exit 1; fi

# Benchmarks (tests/bench/bench.sh): an optimised build-bench/, a private
# PostgreSQL under /tmp, the generated dataset at SCALE (0.01 = 1 %), each
# scenario with wrk for DURATION seconds; results go to stdout (the table of
# record is tests/bench/RESULTS.md).
SCALE ?= 0.01
DURATION ?= 10

bench:
	@scripts/deps.sh bench
	SCALE=$(SCALE) DURATION=$(DURATION) tests/bench/bench.sh

# Soak (tests/soak/soak.sh; not part of `make test`): an optimised build-soak/,
# a private PostgreSQL with the demo data, SOAK_REQUESTS mixed requests with wrk
# (at most SOAK_MAX_SECONDS); fails on RSS growth > 10 %, an unexpected status
# or a socket error.
SOAK_REQUESTS ?= 1000000
SOAK_MAX_SECONDS ?= 1800

soak:
	@scripts/deps.sh bench
	SOAK_REQUESTS=$(SOAK_REQUESTS) SOAK_MAX_SECONDS=$(SOAK_MAX_SECONDS) tests/soak/soak.sh

stop-db:
	@scripts/pg.sh stop

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(SAN_BUILD) $(FUZZ_BUILD) $(REL_BUILD)
