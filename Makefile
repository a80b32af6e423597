# A thin wrapper over meson: `make run` and `make test` set everything up on
# a fresh Debian 12 machine (root or sudo) and then serve or test.
BUILD ?= build

.PHONY: all deps build run test stop-db clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

run: build
	@scripts/run.sh

test: build
	meson test -C $(BUILD) --print-errorlogs

stop-db:
	@scripts/pg.sh stop

clean:
	rm -rf $(BUILD)
