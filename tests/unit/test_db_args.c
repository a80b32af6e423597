/*
 * test_db_args.c — typed statement arguments (src/db/args.c): what each push
 * gives libpq, that numbers live in the struct's own buffers, and that a count
 * that does not match the statement's nparams is refused before any
 * connection is touched.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/db.h"

/* Not DB_STMT: these are no statements of the daemon's. */
static const struct db_stmt TWO = {"test_two", "SELECT $1::bigint, $2", 2, NULL};

START_TEST(pushes)
{
	struct db_args a;

	db_args_init(&a);
	db_arg_i64(&a, INT64_MIN);
	db_arg_i64(&a, 42);
	db_arg_id(&a, 0);
	db_arg_id(&a, 7);
	db_arg_text(&a, "сар");
	db_arg_text(&a, NULL);
	db_arg_null(&a);
	db_arg_bool(&a, true);
	db_arg_bool(&a, false);
	ck_assert_int_eq(a.n, 9);
	ck_assert(!a.overflow);
	ck_assert_str_eq(a.v[0], "-9223372036854775808");
	ck_assert_str_eq(a.v[1], "42");
	ck_assert_ptr_null(a.v[2]);
	ck_assert_str_eq(a.v[3], "7");
	ck_assert_str_eq(a.v[4], "сар");
	ck_assert_ptr_null(a.v[5]);
	ck_assert_ptr_null(a.v[6]);
	ck_assert_str_eq(a.v[7], "true");
	ck_assert_str_eq(a.v[8], "false");
	/* Each number has a buffer of its own inside the struct. */
	ck_assert(a.v[0] != a.v[1]);
	ck_assert(a.v[1] >= (const char *)&a && a.v[1] < (const char *)(&a + 1));
}
END_TEST

START_TEST(count_must_match)
{
	struct db_args a;
	PGresult *res = (PGresult *)&a; /* untouched on failure */

	db_args_init(&a);
	db_arg_i64(&a, 1);
	/* One argument for two parameters: refused before the (absent) connection is used. */
	ck_assert_int_eq(db_exec_args(NULL, &TWO, &a, &res), EM_EINTERNAL);
	ck_assert_int_eq(db_exec_args_custom(NULL, &TWO, &a, &res), EM_EINTERNAL);
	db_arg_text(&a, "x");
	db_arg_text(&a, "y");
	ck_assert_int_eq(db_exec_args(NULL, &TWO, &a, &res), EM_EINTERNAL);
	ck_assert_ptr_eq(res, (PGresult *)&a);
}
END_TEST

START_TEST(overflow_is_refused)
{
	struct db_args a;
	struct db_stmt many = {"test_many", "SELECT 1", DB_MAX_ARGS, NULL};
	PGresult *res = NULL;

	db_args_init(&a);
	for (int i = 0; i < DB_MAX_ARGS + 1; i++)
		db_arg_i64(&a, i);
	ck_assert(a.overflow);
	ck_assert_int_eq(a.n, DB_MAX_ARGS);
	ck_assert_int_eq(db_exec_args(NULL, &many, &a, &res), EM_EINTERNAL);
	ck_assert_ptr_null(res);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("db_args");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, pushes);
	tcase_add_test(tc, count_must_match);
	tcase_add_test(tc, overflow_is_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
