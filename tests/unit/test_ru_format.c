/*
 * test_ru_format.c — Russian numbers, percentages and dates (src/ru_format.c):
 * zero, negatives and the minus sign, rounding (halves away from zero, also
 * those binary doubles hold a hair low), digit groups, refusals, and every
 * month's genitive name.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/ru_format.h"

#define T RU_THOUSANDS
#define M RU_MINUS
#define S RU_NBSP

static void check_number(double x, int decimals, const char *want)
{
	char out[96];

	ck_assert_msg(ru_number(x, decimals, out, sizeof(out)), "%.17g/%d refused", x, decimals);
	ck_assert_msg(strcmp(out, want) == 0, "%.17g/%d: \"%s\", expected \"%s\"", x, decimals, out,
		      want);
}

static void check_date(const char *iso, bool with_time, const char *want)
{
	char out[96];

	ck_assert_msg(ru_date(iso, with_time, out, sizeof(out)), "%s refused", iso);
	ck_assert_msg(strcmp(out, want) == 0, "%s: \"%s\", expected \"%s\"", iso, out, want);
}

START_TEST(zero)
{
	check_number(0, 0, "0");
	check_number(0, 2, "0,00");
	check_number(-0.0, 1, "0,0");
	/* Rounds to zero: no minus sign. */
	check_number(-0.004, 2, "0,00");
	check_number(-0.4, 0, "0");
}
END_TEST

START_TEST(negatives)
{
	check_number(-2.5, 1, M "2,5");
	check_number(-1, 0, M "1");
	check_number(-1234.5, 2, M "1" T "234,50");
	check_number(-0.05, 2, M "0,05");
}
END_TEST

START_TEST(rounding)
{
	check_number(61.83, 2, "61,83");
	check_number(61.825, 2, "61,83");
	check_number(1.005, 2, "1,01");
	check_number(2.675, 2, "2,68");
	check_number(0.5, 0, "1");
	check_number(1.5, 0, "2");
	check_number(2.5, 0, "3");
	check_number(-2.5, 0, M "3");
	check_number(0.125, 2, "0,13");
	check_number(0.1249, 2, "0,12");
	check_number(9.995, 2, "10,00");
	check_number(999.5, 0, "1" T "000");
	check_number(14, 1, "14,0");
	check_number(0.05, 1, "0,1");
	check_number(0.001, 3, "0,001");
	check_number(3.14159265, 6, "3,141593");
}
END_TEST

START_TEST(thousands)
{
	check_number(999, 0, "999");
	check_number(1000, 0, "1" T "000");
	check_number(15000, 0, "15" T "000");
	check_number(123456, 0, "123" T "456");
	check_number(1234567.891, 2, "1" T "234" T "567,89");
	check_number(1250.5, 2, "1" T "250,50");
	check_number(1e12, 0, "1" T "000" T "000" T "000" T "000");
}
END_TEST

START_TEST(refusals)
{
	char out[8] = "x";

	ck_assert(!ru_number(NAN, 0, out, sizeof(out)));
	ck_assert_str_eq(out, "");
	ck_assert(!ru_number(INFINITY, 2, out, sizeof(out)));
	ck_assert(!ru_number(1e16, 0, out, sizeof(out)));
	ck_assert(!ru_number(1, 7, out, sizeof(out)));
	ck_assert(!ru_number(1, -1, out, sizeof(out)));
	/* "1 234 567" does not fit in 8 bytes: refused, not cut. */
	ck_assert(!ru_number(1234567, 0, out, sizeof(out)));
	ck_assert_str_eq(out, "");
	ck_assert(ru_number(1234, 0, out, sizeof(out)));
	ck_assert_str_eq(out, "1" T "234");
	ck_assert(!ru_percent(NAN, 1, out, sizeof(out)));
}
END_TEST

START_TEST(percent)
{
	char out[64];

	ck_assert(ru_percent(0.455, 1, out, sizeof(out)));
	ck_assert_str_eq(out, "45,5" S "%");
	ck_assert(ru_percent(0, 1, out, sizeof(out)));
	ck_assert_str_eq(out, "0,0" S "%");
	ck_assert(ru_percent(1, 0, out, sizeof(out)));
	ck_assert_str_eq(out, "100" S "%");
	ck_assert(ru_percent(0.3333, 1, out, sizeof(out)));
	ck_assert_str_eq(out, "33,3" S "%");
	ck_assert(ru_percent(0.6667, 1, out, sizeof(out)));
	ck_assert_str_eq(out, "66,7" S "%");
	ck_assert(ru_percent(-0.125, 1, out, sizeof(out)));
	ck_assert_str_eq(out, M "12,5" S "%");
	ck_assert(ru_percent(12.5, 0, out, sizeof(out)));
	ck_assert_str_eq(out, "1" T "250" S "%");
}
END_TEST

START_TEST(every_month)
{
	static const char *const WANT[] = {
		"января", "февраля", "марта",    "апреля",  "мая",    "июня",
		"июля",   "августа", "сентября", "октября", "ноября", "декабря",
	};
	char iso[16], want[64];

	for (int m = 1; m <= 12; m++) {
		ck_assert_str_eq(ru_month_genitive(m), WANT[m - 1]);
		snprintf(iso, sizeof(iso), "2026-%02d-15", m);
		snprintf(want, sizeof(want), "15 %s 2026" S "г.", WANT[m - 1]);
		check_date(iso, false, want);
	}
	ck_assert_ptr_null(ru_month_genitive(0));
	ck_assert_ptr_null(ru_month_genitive(13));
}
END_TEST

START_TEST(dates)
{
	char out[64] = "x";

	check_date("2026-12-07", false, "7 декабря 2026" S "г.");
	check_date("2026-12-07", true, "7 декабря 2026" S "г.");
	check_date("2024-02-29", false, "29 февраля 2024" S "г.");
	check_date("2000-02-29", false, "29 февраля 2000" S "г.");
	check_date("2026-01-01T00:00:00+03:00", false, "1 января 2026" S "г.");
	check_date("2026-12-07T09:05:31.123456+03:00", true, "7 декабря 2026" S "г., 09:05");
	check_date("2026-03-31 23:59:59", true, "31 марта 2026" S "г., 23:59");
	ck_assert(!ru_date("2026-02-29", false, out, sizeof(out)));
	ck_assert_str_eq(out, "");
	ck_assert(!ru_date("1900-02-29", false, out, sizeof(out)));
	ck_assert(!ru_date("2026-04-31", false, out, sizeof(out)));
	ck_assert(!ru_date("2026-13-01", false, out, sizeof(out)));
	ck_assert(!ru_date("2026-00-10", false, out, sizeof(out)));
	ck_assert(!ru_date("2026-12-00", false, out, sizeof(out)));
	ck_assert(!ru_date("2026-1-07", false, out, sizeof(out)));
	ck_assert(!ru_date("07.12.2026", false, out, sizeof(out)));
	ck_assert(!ru_date("2026-12-07x", false, out, sizeof(out)));
	ck_assert(!ru_date("2026-12-07T9", true, out, sizeof(out)));
	ck_assert(!ru_date("", false, out, sizeof(out)));
	ck_assert(!ru_date(NULL, false, out, sizeof(out)));
	/* Too small a buffer: refused, not cut. */
	ck_assert(!ru_date("2026-12-07", false, out, 10));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ru_format");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, zero);
	tcase_add_test(tc, negatives);
	tcase_add_test(tc, rounding);
	tcase_add_test(tc, thousands);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, percent);
	tcase_add_test(tc, every_month);
	tcase_add_test(tc, dates);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
