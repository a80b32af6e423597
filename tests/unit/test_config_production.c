/*
 * test_config_production.c — src/config.c compiled as a production build
 * compiles it (without EFFMON_TEST_HOOKS), whatever this build's option:
 * EFFMON_NOW is neither read nor listed in --help. The test build's own
 * config.c is checked by test_config (EFFMON_NOW read and validated).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/config.h"

#if EFFMON_TEST_HOOKS
#error "this test must be compiled without EFFMON_TEST_HOOKS"
#endif

START_TEST(help_does_not_list_now)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	config_print_help(f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "EFFMON_LISTEN"));
	ck_assert_ptr_null(strstr(text, "EFFMON_NOW"));
	ck_assert_ptr_null(strstr(text, "--now"));
	free(text);
}
END_TEST

START_TEST(now_is_ignored)
{
	struct em_config cfg;
	char err[256] = "";
	int rest[4], nrest = 0;
	char *argv[] = {"effmond", "serve"};

	setenv("EFFMON_NOW", "not a date", 1);
	setenv("EFFMON_DATABASE_URL", "host=127.0.0.1", 1);
	ck_assert_int_eq(config_parse(&cfg, 2, argv, 1, rest, &nrest, err, sizeof(err)), EM_OK);
	ck_assert_str_eq(err, "");
	config_free(&cfg);

	char *flag[] = {"effmond", "serve", "--now", "2021-01-01"};
	/* not an option here: left to the command, which refuses what it does not know */
	ck_assert_int_eq(config_parse(&cfg, 4, flag, 1, rest, &nrest, err, sizeof(err)), EM_OK);
	ck_assert_int_eq(nrest, 3);
	ck_assert_int_eq(rest[1], 2);
	config_free(&cfg);
	unsetenv("EFFMON_NOW");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config_production");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, help_does_not_list_now);
	tcase_add_test(tc, now_is_ignored);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
