/*
 * fuzz.h — what every fuzz target shares: the libFuzzer entry point, and a
 * check that stays on whatever the build type (assert() may be compiled out).
 * The targets build twice: with clang and -fsanitize=fuzzer for `make fuzz`,
 * and with tests/fuzz/replay.c as main() for the corpus replays of `make test`.
 */
#ifndef EFFMON_FUZZ_H
#define EFFMON_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property that must hold for every input: abort, so that libFuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                     \
			abort();                                                            \
		}                                                                           \
	} while (0)

#endif
