/*
 * test_due.c — a milestone's deadline read from the text as officials write
 * it (src/cycle/due.c): Russian month names in any case and grammatical case,
 * "до <day> <month>", bare years, "Ежегодно …", "В течение всего периода",
 * and the texts of both seed documents.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/cycle.h"

/* Sarov's roadmap 2.1 runs 2021-2022. */
#define FROM "2021-01-01"
#define TO "2022-12-31"

static void check_due(const char *text, const char *recurrence, const char *due_on)
{
	struct em_due d;

	due_derive(text, FROM, TO, &d);
	ck_assert_msg(strcmp(d.recurrence, recurrence) == 0, "%s: recurrence %s, expected %s",
		      text ? text : "(null)", d.recurrence, recurrence);
	ck_assert_msg(strcmp(d.due_on, due_on) == 0, "%s: due_on \"%s\", expected \"%s\"",
		      text ? text : "(null)", d.due_on, due_on);
}

START_TEST(month_and_year)
{
	check_due("Сентябрь 2021 г.", "once", "2021-09-30");
	check_due("Декабрь 2021", "once", "2021-12-31");
	check_due("ноябрь 2022 г.", "once", "2022-11-30");
	check_due("НОЯБРЬ 2022 Г.", "once", "2022-11-30");
	check_due("Февраль 2024 г.", "once", "2024-02-29");
	check_due("Февраль 2022 г.", "once", "2022-02-28");
	check_due("в сентябре 2021 года", "once", "2021-09-30");
	check_due("Май 2022г.", "once", "2022-05-31");
	check_due("май, 2022", "once", "2022-05-31");
}
END_TEST

START_TEST(day_month_year)
{
	check_due("до 1 октября 2021 г.", "once", "2021-10-01");
	check_due("До 15 Мая 2022 года", "once", "2022-05-15");
	check_due("до 31 июня 2022 г.", "once", "2022-06-30"); /* no 31 June: the month's end */
}
END_TEST

START_TEST(bare_year_and_ranges)
{
	check_due("2021 г.", "once", "2021-12-31");
	check_due("2022 г.", "once", "2022-12-31");
	check_due("2020 год", "once", "2020-12-31");
	check_due("2021-2022 гг.", "once", "2022-12-31");
	check_due("Сентябрь – октябрь 2021 г.", "once", "2021-10-31");
	check_due("Сентябрь 2021 г. – май 2022 г.", "once", "2022-05-31");
}
END_TEST

START_TEST(month_without_year_takes_the_period)
{
	check_due("Сентябрь", "once", "2021-09-30");
	struct em_due d;
	/* A period starting in October: the first September within it is next year's. */
	due_derive("сентябрь", "2021-10-01", "2023-06-30", &d);
	ck_assert_str_eq(d.due_on, "2022-09-30");
	due_derive("сентябрь", NULL, NULL, &d);
	ck_assert_str_eq(d.due_on, "");
	ck_assert_str_eq(d.recurrence, "once");
}
END_TEST

START_TEST(annual)
{
	check_due("Ежегодно в соответствии с планом-графиком курсовой подготовки НИРО", "annual",
		  "");
	check_due("ежегодно", "annual", "");
	check_due("ЕЖЕГОДНО, в декабре", "annual", "2021-12-31");
	check_due("Ежегодно, до 1 сентября 2021 г.", "annual", "2021-09-01");
}
END_TEST

START_TEST(continuous)
{
	check_due("В течение всего периода", "continuous", TO);
	check_due("в течение всего периода реализации", "continuous", TO);
	check_due("Постоянно", "continuous", TO);
	struct em_due d;
	due_derive("В течение всего периода", NULL, NULL, &d);
	ck_assert_str_eq(d.recurrence, "continuous");
	ck_assert_str_eq(d.due_on, "");
}
END_TEST

START_TEST(nothing_to_read)
{
	check_due(NULL, "once", "");
	check_due("", "once", "");
	check_due("по мере необходимости", "once", "");
	check_due("12345678901234567890", "once", "");
	check_due("1 марта", "once", "2021-03-01");
	check_due("3000 г.", "once", "");                          /* not a plausible year */
	check_due("\xff\xfe сентябрь 2021", "once", "2021-09-30"); /* stray bytes are separators */
}
END_TEST

/* Every due text of the Sarov roadmap 2.1, as the document writes it. */
START_TEST(sarov_document)
{
	check_due("Сентябрь 2021 г.", "once", "2021-09-30");
	check_due("Октябрь 2021 г.", "once", "2021-10-31");
	check_due("Ноябрь 2021 г.", "once", "2021-11-30");
	check_due("Декабрь 2021 г.", "once", "2021-12-31");
	check_due("Январь 2022 г.", "once", "2022-01-31");
	check_due("Февраль 2022 г.", "once", "2022-02-28");
	check_due("Август 2022 г.", "once", "2022-08-31");
	check_due("ноябрь 2022 г.", "once", "2022-11-30");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("due");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, month_and_year);
	tcase_add_test(tc, day_month_year);
	tcase_add_test(tc, bare_year_and_ranges);
	tcase_add_test(tc, month_without_year_takes_the_period);
	tcase_add_test(tc, annual);
	tcase_add_test(tc, continuous);
	tcase_add_test(tc, nothing_to_read);
	tcase_add_test(tc, sarov_document);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
