/*
 * test_headers.c — the entity-tag list parser behind If-Match and
 * If-None-Match (quoted strings, commas inside quotes, W/, whitespace, "*",
 * malformed values) and the charset parameter of a Content-Type.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/conditional.h"
#include "effmon/media.h"

static int count_tags(const char *field, enum etag_next *last)
{
	struct etag_ref t;
	int n = 0;

	while ((*last = etag_list_next(&field, &t)) == ETAG_TAG)
		n++;
	return n;
}

START_TEST(list_parser_reads_tags)
{
	const char *p = " \"3\" ,W/\"a,b\",,\t\"\" ";
	struct etag_ref t;

	ck_assert_int_eq(etag_list_next(&p, &t), ETAG_TAG);
	ck_assert(!t.weak);
	ck_assert_int_eq((int)t.len, 3);
	ck_assert(strncmp(t.opaque, "\"3\"", t.len) == 0);
	ck_assert_int_eq(etag_list_next(&p, &t), ETAG_TAG);
	ck_assert(t.weak);
	ck_assert(strncmp(t.opaque, "\"a,b\"", t.len) == 0 && t.len == 5);
	ck_assert_int_eq(etag_list_next(&p, &t), ETAG_TAG);
	ck_assert(!t.weak && t.len == 2);
	ck_assert_int_eq(etag_list_next(&p, &t), ETAG_END);
	ck_assert_int_eq(etag_list_next(&p, &t), ETAG_END);
}
END_TEST

START_TEST(list_parser_refuses_malformed)
{
	static const char *const BAD[] = {
		"3",       "\"3",       "\"3\" \"4\"", "w/\"3\"",  "W/3",
		"W/",      "\"3\";",    "*, \"3\"",    "\"3\", *", "\"a\"b\"",
		"\"a b\"", "\"a\x01\"", "\"3\"x",      "W /\"3\"", "junk",
	};
	enum etag_next last;

	for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
		count_tags(BAD[i], &last);
		ck_assert_msg(last == ETAG_MALFORMED, "%s was read as a list", BAD[i]);
		ck_assert_int_eq(etag_list_match(BAD[i], "\"3\"", false), ETAG_LIST_MALFORMED);
		ck_assert_int_eq(etag_list_match(BAD[i], "\"3\"", true), ETAG_LIST_MALFORMED);
	}
	ck_assert_int_eq(count_tags("", &last), 0);
	ck_assert_int_eq(last, ETAG_END);
	ck_assert_int_eq(count_tags(" , ,", &last), 0);
	ck_assert_int_eq(last, ETAG_END);
	ck_assert_int_eq(count_tags("\"\xd0\x90\"", &last), 1); /* obs-text is allowed */
	ck_assert_int_eq(last, ETAG_END);
}
END_TEST

START_TEST(weak_comparison)
{
	ck_assert_int_eq(etag_list_match("\"3\"", "\"3\"", false), ETAG_MATCHES);
	ck_assert_int_eq(etag_list_match("W/\"3\"", "\"3\"", false), ETAG_MATCHES);
	ck_assert_int_eq(etag_list_match("\"3\"", "W/\"3\"", false), ETAG_MATCHES);
	ck_assert_int_eq(etag_list_match("\"1\", \"3\", \"4\"", "\"3\"", false), ETAG_MATCHES);
	ck_assert_int_eq(etag_list_match("\"1\",\"4\"", "\"3\"", false), ETAG_NO_MATCH);
	ck_assert_int_eq(etag_list_match("\"33\"", "\"3\"", false), ETAG_NO_MATCH);
	ck_assert_int_eq(etag_list_match("\"3,4\"", "\"3\"", false), ETAG_NO_MATCH);
	ck_assert_int_eq(etag_list_match("\"x\", \"3,4\"", "\"3,4\"", false), ETAG_MATCHES);
	ck_assert_int_eq(etag_list_match("*", "\"3\"", false), ETAG_MATCHES);
	ck_assert_int_eq(etag_list_match(" * ", "W/\"agg-1\"", false), ETAG_MATCHES);
	ck_assert_int_eq(etag_list_match("W/\"agg-1\"", "W/\"agg-1\"", false), ETAG_MATCHES);
	ck_assert_int_eq(etag_list_match(NULL, "\"3\"", false), ETAG_NO_MATCH);
	ck_assert_int_eq(etag_list_match("", "\"3\"", false), ETAG_NO_MATCH);
	/* a matching tag beside a malformed element is still malformed */
	ck_assert_int_eq(etag_list_match("\"3\", junk", "\"3\"", false), ETAG_LIST_MALFORMED);
}
END_TEST

START_TEST(strong_comparison)
{
	ck_assert_int_eq(etag_list_match("\"3\"", "\"3\"", true), ETAG_MATCHES);
	ck_assert_int_eq(etag_list_match("W/\"3\"", "\"3\"", true), ETAG_NO_MATCH);
	ck_assert_int_eq(etag_list_match("\"3\"", "W/\"3\"", true), ETAG_NO_MATCH);
	ck_assert_int_eq(etag_list_match("W/\"3\", \"3\"", "\"3\"", true), ETAG_MATCHES);
	ck_assert_int_eq(etag_list_match("\"2\", \"4\"", "\"3\"", true), ETAG_NO_MATCH);
	ck_assert_int_eq(etag_list_match("*", "\"3\"", true), ETAG_MATCHES);
	ck_assert(etag_list_is_any("*") && etag_list_is_any("\t* "));
	ck_assert(!etag_list_is_any("**") && !etag_list_is_any("\"*\"") && !etag_list_is_any(""));
}
END_TEST

START_TEST(long_and_hostile_values)
{
	size_t n = 1 << 16;
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, '"', n);
	s[n] = '\0';
	ck_assert_int_ne(etag_list_match(s, "\"3\"", false), ETAG_MATCHES);
	memset(s, ',', n);
	ck_assert_int_eq(etag_list_match(s, "\"3\"", true), ETAG_NO_MATCH);
	s[0] = '"';
	ck_assert_int_eq(etag_list_match(s, "\"3\"", true), ETAG_LIST_MALFORMED);
	free(s);
}
END_TEST

START_TEST(charset_parameter)
{
	char cs[16];

	ck_assert(media_charset_is_utf8("application/json", cs, sizeof(cs)));
	ck_assert(media_charset_is_utf8(NULL, cs, sizeof(cs)));
	ck_assert(media_charset_is_utf8("application/json; charset=utf-8", cs, sizeof(cs)));
	ck_assert(media_charset_is_utf8("application/json;charset=UTF-8", cs, sizeof(cs)));
	ck_assert(media_charset_is_utf8("application/json; CHARSET=\"Utf-8\"", cs, sizeof(cs)));
	ck_assert(media_charset_is_utf8("text/csv; header=present; charset=utf-8", cs, sizeof(cs)));
	ck_assert(!media_charset_is_utf8("application/json; charset=latin1", cs, sizeof(cs)));
	ck_assert_str_eq(cs, "latin1");
	ck_assert(!media_charset_is_utf8("text/csv; charset=\"windows-1251\"", cs, sizeof(cs)));
	ck_assert_str_eq(cs, "windows-1251");
	ck_assert(!media_charset_is_utf8("application/json; charset=", cs, sizeof(cs)));
	ck_assert(!media_charset_is_utf8("application/json; charset=utf-8x", cs, sizeof(cs)));
	ck_assert(!media_charset_is_utf8("application/json; charset=\"utf-8", cs, 4));
	ck_assert_str_eq(cs, "\"ut");
	/* a ";charset=" inside another parameter's quoted value is not a parameter */
	ck_assert(
		media_charset_is_utf8("application/json; x=\"a;charset=latin1\"", cs, sizeof(cs)));
	ck_assert(media_charset_is_utf8("application/json; charsets=latin1", cs, sizeof(cs)));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("headers");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, list_parser_reads_tags);
	tcase_add_test(tc, list_parser_refuses_malformed);
	tcase_add_test(tc, weak_comparison);
	tcase_add_test(tc, strong_comparison);
	tcase_add_test(tc, long_and_hostile_values);
	tcase_add_test(tc, charset_parameter);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
