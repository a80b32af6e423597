# A thin wrapper over meson: `make run` and `make test` set everything up on
# a fresh Debian 12 machine (root or sudo) and then serve or test.
BUILD ?= build
# The same sources built with AddressSanitizer and UBSan (any report fails).
SAN_BUILD ?= build-sanitize
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all deps build run test test-sanitize stop-db clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

run: build
	@scripts/run.sh

# Both suites run, whatever the first one's result; either failing fails.
test: build
	@meson test -C $(BUILD) --print-errorlogs; s=$$?; \
	$(MAKE) --no-print-directory test-sanitize; t=$$?; \
	[ $$s -eq 0 ] && [ $$t -eq 0 ]

$(SAN_BUILD)/build.ninja:
	meson setup $(SAN_BUILD) -Dbuildtype=debug -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fno-sanitize-recover=all

# Unit and integration tests against the sanitizer build.
test-sanitize: deps $(SAN_BUILD)/build.ninja
	meson compile -C $(SAN_BUILD)
	$(SAN_ENV) meson test -C $(SAN_BUILD) --suite unit --suite integration \
		--timeout-multiplier 3 --print-errorlogs

stop-db:
	@scripts/pg.sh stop

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
