/*
 * test_csv.c — the CSV reader of bulk imports: quoting ("" and quoted line
 * breaks), BOM, ';' detection, CRLF and lone CR, empty lines, ragged rows,
 * an unterminated quote, text after a closing quote, invalid UTF-8, and
 * physical line numbers of records.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/csv.h"

#define MAXF 6

struct rec {
	enum csv_status st;
	size_t n;
	unsigned long line;
	char f[MAXF][64];
};

/* Reads every record of text (delim 0: detect) into out; returns the count. */
static size_t read_all(const char *text, size_t len, char delim, struct rec *out, size_t max)
{
	struct csv_reader r;
	struct csv_field f[MAXF];
	size_t k = 0;

	csv_init(&r, text, len, delim);
	while (k < max) {
		struct rec *x = &out[k];
		memset(x, 0, sizeof(*x));
		x->st = csv_next(&r, f, MAXF, &x->n, &x->line);
		if (x->st == CSV_END)
			break;
		for (size_t i = 0; i < x->n && i < MAXF; i++) {
			ck_assert_uint_lt(f[i].len, sizeof(x->f[i]));
			x->f[i][csv_unescape(&f[i], x->f[i])] = '\0';
		}
		k++;
		if (x->st == CSV_EQUOTE)
			break;
	}
	return k;
}

#define READ(text, delim, recs) read_all(text, sizeof(text) - 1, delim, recs, 16)

START_TEST(plain_lf)
{
	struct rec r[16];
	size_t n = READ("a,b,c\n1,2,3\n", 0, r);

	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(r[0].st, CSV_RECORD);
	ck_assert_uint_eq(r[0].n, 3);
	ck_assert_str_eq(r[0].f[0], "a");
	ck_assert_str_eq(r[1].f[2], "3");
	ck_assert_uint_eq(r[0].line, 1);
	ck_assert_uint_eq(r[1].line, 2);
}
END_TEST

START_TEST(no_final_newline_and_empty_fields)
{
	struct rec r[16];
	size_t n = READ("a,,c\n,,", 0, r);

	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(r[0].n, 3);
	ck_assert_str_eq(r[0].f[1], "");
	ck_assert_uint_eq(r[1].n, 3);
	ck_assert_str_eq(r[1].f[0], "");
	ck_assert_str_eq(r[1].f[2], "");
}
END_TEST

START_TEST(quotes)
{
	struct rec r[16];
	size_t n = READ("x,\"he said \"\"hi\"\"\",\"a,b\"\n\"\",\"\"\"\"\n", 0, r);

	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(r[0].st, CSV_RECORD);
	ck_assert_uint_eq(r[0].n, 3);
	ck_assert_str_eq(r[0].f[1], "he said \"hi\"");
	ck_assert_str_eq(r[0].f[2], "a,b");
	ck_assert_uint_eq(r[1].n, 2);
	ck_assert_str_eq(r[1].f[0], "");
	ck_assert_str_eq(r[1].f[1], "\"");
}
END_TEST

START_TEST(quoted_newlines_count_lines)
{
	struct rec r[16];
	size_t n = READ("h1,h2\n1,\"line one\r\nline two\nline three\"\n2,x\n", 0, r);

	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(r[1].f[1], "line one\r\nline two\nline three");
	ck_assert_uint_eq(r[1].line, 2);
	ck_assert_uint_eq(r[2].line, 5);
}
END_TEST

START_TEST(bom_semicolon_crlf)
{
	struct rec r[16];
	size_t n = READ(
		"\xEF\xBB\xBForganization_inn;indicator_code;value\r\n"
		"5200000001;E1;3,5\r\n\r\n",
		0, r);

	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(r[0].n, 3);
	ck_assert_str_eq(r[0].f[0], "organization_inn");
	ck_assert_str_eq(r[1].f[2], "3,5");
	ck_assert_uint_eq(r[1].line, 2);
}
END_TEST

START_TEST(detect_delimiter)
{
	ck_assert_int_eq(csv_detect_delimiter("a;b;c\n1,2", 9), ';');
	ck_assert_int_eq(csv_detect_delimiter("a,b;c\n", 6), ',');
	ck_assert_int_eq(csv_detect_delimiter("\"x;y;z\",b\n", 10), ',');
	ck_assert_int_eq(csv_detect_delimiter("", 0), ',');
	ck_assert_int_eq(csv_detect_delimiter("\xEF\xBB\xBF"
					      "a;b",
					      6),
			 ';');
}
END_TEST

START_TEST(lone_cr_and_blank_lines)
{
	struct rec r[16];
	size_t n = READ("a,b\r\n\n\n1,2\r3,4", 0, r);

	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(r[1].line, 4);
	ck_assert_str_eq(r[1].f[1], "2");
	ck_assert_uint_eq(r[2].line, 5);
	ck_assert_str_eq(r[2].f[0], "3");
}
END_TEST

START_TEST(ragged_rows)
{
	struct rec r[16];
	size_t n = READ("a,b,c\n1,2\n1,2,3,4,5,6,7,8\n", 0, r);

	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(r[1].n, 2);
	ck_assert_uint_eq(r[2].n, 8); /* counted beyond the fields stored */
	ck_assert_str_eq(r[2].f[5], "6");
}
END_TEST

START_TEST(unterminated_quote)
{
	struct rec r[16];
	size_t n = READ("a,b\n1,\"open\n2,3\n", 0, r);

	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(r[1].st, CSV_EQUOTE);
	ck_assert_uint_eq(r[1].line, 2);
	ck_assert_str_eq(csv_status_message(CSV_EQUOTE),
			 "a quoted field is not closed before the end of the file");
}
END_TEST

START_TEST(text_after_closing_quote)
{
	struct rec r[16];
	size_t n = READ("\"ab\"c,d\n1,2\n", 0, r);

	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(r[0].st, CSV_EAFTERQUOTE);
	ck_assert_int_eq(r[1].st, CSV_RECORD); /* reading goes on at the next line */
	ck_assert_uint_eq(r[1].line, 2);
	ck_assert_str_eq(r[1].f[1], "2");
}
END_TEST

START_TEST(bare_quote_in_unquoted_field_is_text)
{
	struct rec r[16];
	size_t n = READ("1,say \"x\" now\n", 0, r);

	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(r[0].st, CSV_RECORD);
	ck_assert_str_eq(r[0].f[1], "say \"x\" now");
}
END_TEST

START_TEST(invalid_utf8)
{
	struct csv_reader rd;
	struct csv_field f[MAXF];
	size_t n;
	unsigned long line;
	static const char text[] = "a,b\n1,\xC3\x28\n\xD0\x94\xD0\xB0,2\n";

	csv_init(&rd, text, sizeof(text) - 1, ',');
	ck_assert_int_eq(csv_next(&rd, f, MAXF, &n, &line), CSV_RECORD);
	ck_assert_int_eq(csv_next(&rd, f, MAXF, &n, &line), CSV_EUTF8);
	ck_assert_uint_eq(rd.bad_field, 1);
	ck_assert_uint_eq(line, 2);
	ck_assert_uint_eq(n, 2);
	/* The next record is read: "Да" is fine. */
	ck_assert_int_eq(csv_next(&rd, f, MAXF, &n, &line), CSV_RECORD);
	ck_assert_uint_eq(f[0].len, 4);
	ck_assert_int_eq(csv_next(&rd, f, MAXF, &n, &line), CSV_END);
}
END_TEST

START_TEST(utf8_validator)
{
	ck_assert(csv_utf8_valid("plain", 5));
	ck_assert(csv_utf8_valid("\xD0\x94\xE2\x82\xAC\xF0\x9F\x98\x80", 9));
	ck_assert(!csv_utf8_valid("\xC0\xAF", 2));         /* overlong */
	ck_assert(!csv_utf8_valid("\xE0\x80\xAF", 3));     /* overlong */
	ck_assert(!csv_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
	ck_assert(!csv_utf8_valid("\xF4\x90\x80\x80", 4)); /* past U+10FFFF */
	ck_assert(!csv_utf8_valid("\xD0", 1));             /* truncated */
	ck_assert(!csv_utf8_valid("a\0b", 3));             /* NUL */
	ck_assert(!csv_utf8_valid("\xFF", 1));
}
END_TEST

START_TEST(nul_byte_is_an_error)
{
	struct rec r[16];
	static const char text[] = "1,a\0b\n";
	size_t n = read_all(text, sizeof(text) - 1, 0, r, 16);

	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(r[0].st, CSV_EUTF8);
}
END_TEST

START_TEST(empty_and_bom_only)
{
	struct rec r[16];

	ck_assert_uint_eq(READ("", 0, r), 0);
	ck_assert_uint_eq(READ("\xEF\xBB\xBF", 0, r), 0);
	ck_assert_uint_eq(READ("\r\n\n", 0, r), 0);
}
END_TEST

START_TEST(explicit_delimiter)
{
	struct rec r[16];
	size_t n = READ("a;b,c\n", ',', r);

	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(r[0].n, 2);
	ck_assert_str_eq(r[0].f[0], "a;b");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("csv");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, plain_lf);
	tcase_add_test(tc, no_final_newline_and_empty_fields);
	tcase_add_test(tc, quotes);
	tcase_add_test(tc, quoted_newlines_count_lines);
	tcase_add_test(tc, bom_semicolon_crlf);
	tcase_add_test(tc, detect_delimiter);
	tcase_add_test(tc, lone_cr_and_blank_lines);
	tcase_add_test(tc, ragged_rows);
	tcase_add_test(tc, unterminated_quote);
	tcase_add_test(tc, text_after_closing_quote);
	tcase_add_test(tc, bare_quote_in_unquoted_field_is_text);
	tcase_add_test(tc, invalid_utf8);
	tcase_add_test(tc, utf8_validator);
	tcase_add_test(tc, nul_byte_is_an_error);
	tcase_add_test(tc, empty_and_bom_only);
	tcase_add_test(tc, explicit_delimiter);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
