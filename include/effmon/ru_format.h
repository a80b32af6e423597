/*
 * ru_format.h — numbers, shares and dates written the Russian way, for the
 * printable documents (src/ru_format.c): "7 декабря 2026 г.", "61,83",
 * "15 000", "−2,5", "45,5 %".
 */
#ifndef EFFMON_RU_FORMAT_H
#define EFFMON_RU_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

/* U+202F narrow no-break space: between groups of three digits. */
#define RU_THOUSANDS "\xE2\x80\xAF"
/* U+00A0 no-break space: before "%" and "г.". */
#define RU_NBSP "\xC2\xA0"
/* U+2212 minus sign. */
#define RU_MINUS "\xE2\x88\x92"

/* The genitive month name ("января" .. "декабря") of month 1..12; NULL otherwise. */
const char *ru_month_genitive(int month);

/*
 * x rounded half away from zero to decimals (0..6) places, a decimal comma,
 * the integer part grouped by three from 1 000 on, a minus sign (U+2212) when
 * the rounded value is below zero. false (out "") when x is not finite, too
 * large to round exactly (|x| * 10^decimals >= 2^53) or out is too small.
 * Halves written in decimal (1,005 to two places) round up although their
 * binary double lies a hair below.
 */
bool ru_number(double x, int decimals, char *out, size_t n);

/* A share (0.455) as a percentage: "45,5 %" (decimals places, a no-break space). */
bool ru_percent(double share, int decimals, char *out, size_t n);

/*
 * "2026-12-07", or a timestamp starting so ("2026-12-07T09:05:00.1+03:00"),
 * as "7 декабря 2026 г."; with_time adds ", 09:05" when the text has a time
 * (as written, in its own offset). false (out "") when it is not a real date.
 */
bool ru_date(const char *iso, bool with_time, char *out, size_t n);

#endif
