/*
 * test_validate.c — the declarative body validator: every error reported
 * at once, each naming its field; unknown fields; types, bounds, enums,
 * dates, null handling.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/validate.h"

static const char *const KINDS[] = {"school", "preschool", NULL};
static const struct field FIELDS[] = {
	{"name", F_STRING, true, false, 1, 5, NULL},
	{"students", F_INT, false, false, 0, 100000, NULL},
	{"kind", F_ENUM, true, false, 0, 0, KINDS},
	{"opened", F_DATE, false, true, 0, 0, NULL},
	{"share", F_NUMBER, false, false, 0, 100, NULL},
	{"active", F_BOOL, false, false, 0, 0, NULL},
	{"parent_id", F_ID, false, true, 0, 0, NULL},
};
#define NF (sizeof(FIELDS) / sizeof(FIELDS[0]))

static bool has_error(const struct em_reply *r, const char *field, const char *needle)
{
	size_t i;
	json_t *e;
	json_array_foreach(r->errors, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0 &&
		    strstr(json_string_value(json_object_get(e, "message")), needle))
			return true;
	}
	return false;
}

static bool check(const char *text, struct em_reply *r)
{
	json_t *j = json_loads(text, 0, NULL);
	bool ok;
	ck_assert_ptr_nonnull(j);
	reply_init(r);
	ok = validate_object(j, FIELDS, NF, r);
	json_decref(j);
	return ok;
}

START_TEST(valid_body)
{
	struct em_reply r;
	ck_assert(check(
		"{\"name\":\"Саров\",\"kind\":\"school\",\"students\":5,"
		"\"opened\":\"2024-02-29\",\"share\":99.5,\"active\":true,\"parent_id\":null}",
		&r));
	ck_assert_ptr_null(r.errors);
	reply_clear(&r);
}
END_TEST

START_TEST(all_errors_at_once)
{
	struct em_reply r;
	ck_assert(
		!check("{\"kind\":\"college\",\"students\":-1,\"opened\":\"2023-02-29\","
		       "\"share\":\"50\",\"active\":1,\"parent_id\":0,\"extra\":1}",
		       &r));
	ck_assert(has_error(&r, "name", "required"));
	ck_assert(has_error(&r, "kind", "one of: school, preschool"));
	ck_assert(has_error(&r, "students", "between 0 and 100000"));
	ck_assert(has_error(&r, "opened", "date"));
	ck_assert(has_error(&r, "share", "number"));
	ck_assert(has_error(&r, "active", "true or false"));
	ck_assert(has_error(&r, "parent_id", "positive integer"));
	ck_assert(has_error(&r, "extra", "unknown field"));
	ck_assert_uint_eq(json_array_size(r.errors), 8);
	reply_clear(&r);
}
END_TEST

START_TEST(lengths_count_characters)
{
	struct em_reply r;
	/* Five Cyrillic letters are ten bytes, and within max 5 characters. */
	ck_assert(check("{\"name\":\"Саров\",\"kind\":\"school\"}", &r));
	reply_clear(&r);
	ck_assert(!check("{\"name\":\"Саровк\",\"kind\":\"school\"}", &r));
	ck_assert(has_error(&r, "name", "length"));
	reply_clear(&r);
	ck_assert(!check("{\"name\":\"\",\"kind\":\"school\"}", &r));
	reply_clear(&r);
	ck_assert(!check("{\"name\":null,\"kind\":\"school\"}", &r));
	ck_assert(has_error(&r, "name", "null"));
	reply_clear(&r);
}
END_TEST

START_TEST(not_an_object)
{
	struct em_reply r;
	json_t *j = json_array();
	reply_init(&r);
	ck_assert(!validate_object(j, FIELDS, NF, &r));
	ck_assert_uint_eq(json_array_size(r.errors), 1);
	json_decref(j);
	reply_clear(&r);
}
END_TEST

START_TEST(problem_document)
{
	struct em_reply r;
	json_t *p;
	reply_init(&r);
	reply_field_error(&r, "login", "is required");
	reply_fail(&r, EM_EINVAL, "bad %s", "input");
	p = reply_problem(&r, EM_EINVAL, "rid-1");
	ck_assert_int_eq(json_integer_value(json_object_get(p, "status")), 400);
	ck_assert_str_eq(json_string_value(json_object_get(p, "type")),
			 "/problems/validation-failed");
	ck_assert_str_eq(json_string_value(json_object_get(p, "detail")), "bad input");
	ck_assert_str_eq(json_string_value(json_object_get(p, "request_id")), "rid-1");
	ck_assert_uint_eq(json_array_size(json_object_get(p, "errors")), 1);
	json_decref(p);
	ck_assert_uint_eq(err_status(EM_EUNAVAILABLE), 503);
	ck_assert_uint_eq(err_status(EM_EPRECONDREQ), 428);
	ck_assert_uint_eq(err_status(EM_ETOOLARGE), 413);
	ck_assert_uint_eq(err_status(EM_EMEDIATYPE), 415);
	reply_clear(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("validate");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, valid_body);
	tcase_add_test(tc, all_errors_at_once);
	tcase_add_test(tc, lengths_count_characters);
	tcase_add_test(tc, not_an_object);
	tcase_add_test(tc, problem_document);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
