/*
 * test_negotiate.c — choosing a media type from Accept (src/http/negotiate.c):
 * q-values, wildcards, the most specific range deciding, ties to the route's
 * order, q=0 and malformed ranges; and the CSV number text of src/sheet.c.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/negotiate.h"
#include "effmon/sheet.h"

static const enum em_format THREE[] = {EM_FMT_JSON, EM_FMT_CSV, EM_FMT_XLSX};
static const enum em_format REPORT[] = {EM_FMT_JSON, EM_FMT_CSV, EM_FMT_XLSX, EM_FMT_HTML};
static const enum em_format JSON_ONLY[] = {EM_FMT_JSON};

#define PICK(accept, offered) \
	negotiate_accept(accept, offered, sizeof(offered) / sizeof(offered[0]))

START_TEST(defaults)
{
	ck_assert_int_eq(PICK(NULL, THREE), 0);
	ck_assert_int_eq(PICK("", THREE), 0);
	ck_assert_int_eq(PICK("  ", THREE), 0);
	ck_assert_int_eq(PICK("*/*", THREE), 0);
	ck_assert_int_eq(PICK("*/*", REPORT), 0);
}
END_TEST

START_TEST(exact_and_order)
{
	ck_assert_int_eq(PICK("text/csv", THREE), 1);
	ck_assert_int_eq(PICK(EM_MEDIA_XLSX, THREE), 2);
	ck_assert_int_eq(PICK("TEXT/CSV", THREE), 1);
	/* Equal q: the route's order decides, not the header's. */
	ck_assert_int_eq(PICK("text/csv, application/json", THREE), 0);
	ck_assert_int_eq(PICK("text/html, text/csv", REPORT), 1);
}
END_TEST

START_TEST(qvalues)
{
	ck_assert_int_eq(PICK("text/csv;q=0.9, application/json", THREE), 0);
	ck_assert_int_eq(PICK("text/csv, application/json;q=0.5", THREE), 1);
	ck_assert_int_eq(PICK("application/json;q=0.1, text/csv ; q=0.2", THREE), 1);
	ck_assert_int_eq(PICK("text/csv;charset=utf-8;q=0.3, application/json;q=0.2", THREE), 1);
	ck_assert_int_eq(PICK("text/csv;q=1.000", THREE), 1);
	ck_assert_int_eq(PICK("text/html;q=0.8, " EM_MEDIA_XLSX ";q=0.9", REPORT), 2);
}
END_TEST

START_TEST(wildcards)
{
	ck_assert_int_eq(PICK("text/*", THREE), 1);
	ck_assert_int_eq(PICK("application/*", THREE), 0);
	ck_assert_int_eq(PICK("application/*;q=0.5, text/*", THREE), 1);
	/* The most specific range sets a type's q. */
	ck_assert_int_eq(PICK("*/*;q=0.9, application/json;q=0.1", THREE), 1);
	ck_assert_int_eq(PICK("text/*;q=0.2, text/csv;q=0.9, */*;q=0.5", THREE), 1);
	ck_assert_int_eq(
		PICK("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", THREE), 0);
	ck_assert_int_eq(
		PICK("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", REPORT), 3);
}
END_TEST

START_TEST(not_acceptable)
{
	ck_assert_int_eq(PICK("text/csv", JSON_ONLY), -1);
	ck_assert_int_eq(PICK("image/png", THREE), -1);
	ck_assert_int_eq(PICK("application/json;q=0", JSON_ONLY), -1);
	ck_assert_int_eq(PICK("*/*;q=0", THREE), -1);
	ck_assert_int_eq(PICK("*/*, application/json;q=0", THREE), 1);
	ck_assert_int_eq(PICK("text/*", JSON_ONLY), -1);
	/* A malformed q drops its range. */
	ck_assert_int_eq(PICK("application/json;q=2", JSON_ONLY), -1);
	ck_assert_int_eq(PICK("application/json;q=abc", JSON_ONLY), -1);
	ck_assert_int_eq(PICK("application/json;q=0.5555", JSON_ONLY), -1);
	ck_assert_int_eq(PICK("application/json;q=abc, */*;q=0.1", JSON_ONLY), 0);
	ck_assert_int_eq(PICK(",,;", THREE), -1);
	ck_assert_int_eq(PICK("application/jsonx", JSON_ONLY), -1);
}
END_TEST

START_TEST(numbers)
{
	char buf[64];

	sheet_format_number(54.55, '.', buf, sizeof(buf));
	ck_assert_str_eq(buf, "54.55");
	sheet_format_number(54.55, ',', buf, sizeof(buf));
	ck_assert_str_eq(buf, "54,55");
	sheet_format_number(0.1 + 0.2, '.', buf, sizeof(buf));
	ck_assert_double_eq(strtod(buf, NULL), 0.1 + 0.2);
	sheet_format_number(-3, ',', buf, sizeof(buf));
	ck_assert_str_eq(buf, "-3");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("negotiate");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, exact_and_order);
	tcase_add_test(tc, qvalues);
	tcase_add_test(tc, wildcards);
	tcase_add_test(tc, not_acceptable);
	tcase_add_test(tc, numbers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
