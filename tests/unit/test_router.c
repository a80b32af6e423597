/*
 * test_router.c — the route table and the matcher: strict ids, 404 vs 405,
 * the Allow list, HEAD as GET, and a walk over every row of the table.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/router.h"

START_TEST(ids_are_strict)
{
	int64_t v;
	ck_assert(router_parse_id("1", 1, &v) && v == 1);
	ck_assert(router_parse_id("9223372036854775807", 19, &v) && v == INT64_MAX);
	ck_assert(!router_parse_id("9223372036854775808", 19, &v));
	ck_assert(!router_parse_id("0", 1, &v));
	ck_assert(!router_parse_id("007", 3, &v));
	ck_assert(!router_parse_id("-1", 2, &v));
	ck_assert(!router_parse_id("+1", 2, &v));
	ck_assert(!router_parse_id("1e3", 3, &v));
	ck_assert(!router_parse_id("", 0, &v));
	ck_assert(!router_parse_id("12345678901234567890", 20, &v));
	ck_assert(!router_parse_id(" 1", 2, &v));
}
END_TEST

START_TEST(match_found_notfound_method)
{
	const struct em_route *r;
	struct em_args a;
	char allow[80];

	ck_assert_int_eq(router_match("GET", "/api/v1/auth/me", &r, &a, allow, sizeof(allow)),
			 ROUTER_FOUND);
	ck_assert_str_eq(r->pattern, "/api/v1/auth/me");
	ck_assert_int_eq(router_match("HEAD", "/healthz", &r, &a, allow, sizeof(allow)),
			 ROUTER_FOUND);
	ck_assert_str_eq(r->method, "GET");
	ck_assert_int_eq(router_match("DELETE", "/api/v1/auth/me", &r, &a, allow, sizeof(allow)),
			 ROUTER_METHOD_NOT_ALLOWED);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(allow, "GET, HEAD, OPTIONS");
	ck_assert_int_eq(router_match("GET", "/api/v1/auth/token", &r, &a, allow, sizeof(allow)),
			 ROUTER_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(allow, "POST, OPTIONS");
	ck_assert_int_eq(router_match("GET", "/api/v1/auth/me/", &r, &a, allow, sizeof(allow)),
			 ROUTER_NOT_FOUND);
	ck_assert_int_eq(router_match("GET", "/api/v1//auth/me", &r, &a, allow, sizeof(allow)),
			 ROUTER_NOT_FOUND);
	ck_assert_int_eq(router_match("GET", "", &r, &a, allow, sizeof(allow)), ROUTER_NOT_FOUND);
	ck_assert_int_eq(router_match("GET", "/", &r, &a, allow, sizeof(allow)), ROUTER_NOT_FOUND);
	ck_assert_int_eq(router_match("GET", "/api/v1/auth/mex", &r, &a, allow, sizeof(allow)),
			 ROUTER_NOT_FOUND);
}
END_TEST

/* Every row: a known method, an absolute pattern with well-formed segments, a handler,
 * roles within the known set, and no two rows with the same method and pattern. */
START_TEST(table_is_well_formed)
{
	static const char *const METHODS[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
	ck_assert_uint_gt(NROUTES, 0);
	for (size_t i = 0; i < NROUTES; i++) {
		const struct em_route *r = &ROUTES[i];
		bool known = false;
		for (size_t m = 0; m < 5; m++)
			known |= strcmp(r->method, METHODS[m]) == 0;
		ck_assert_msg(known, "route %zu: method %s", i, r->method);
		ck_assert_msg(r->pattern[0] == '/', "route %zu: pattern %s", i, r->pattern);
		ck_assert_msg(!strstr(r->pattern, "//"), "route %zu: empty segment", i);
		ck_assert(r->handler != NULL);
		ck_assert_msg((r->roles & ~(unsigned)EM_ROLES_ALL) == 0, "route %zu: roles", i);
		for (size_t j = i + 1; j < NROUTES; j++)
			ck_assert_msg(strcmp(r->method, ROUTES[j].method) != 0 ||
					      strcmp(r->pattern, ROUTES[j].pattern) != 0,
				      "duplicate route %s %s", r->method, r->pattern);
		/* The row must be reachable: a concrete path matches it. */
		char path[256] = "";
		const char *p = r->pattern;
		while (*p) {
			if (*p == '{') {
				strcat(path, "42");
				p = strchr(p, '}') + 1;
			} else {
				strncat(path, p, 1);
				p++;
			}
		}
		const struct em_route *found;
		struct em_args a;
		char allow[80];
		ck_assert_int_eq(router_match(r->method, path, &found, &a, allow, sizeof(allow)),
				 ROUTER_FOUND);
		ck_assert_ptr_eq(found, r);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, ids_are_strict);
	tcase_add_test(tc, match_found_notfound_method);
	tcase_add_test(tc, table_is_well_formed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
