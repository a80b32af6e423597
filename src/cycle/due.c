/*
 * due.c — a milestone's deadline as officials write it, read into a date and
 * a recurrence: "Сентябрь 2021 г." → 2021-09-30, "до 1 октября 2021 г." →
 * 2021-10-01, "2022 г." → 2022-12-31, "Ежегодно …" → annual, "В течение
 * всего периода" → continuous until the roadmap's end. Pure: no database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/cycle.h"

/* Month names in the cases a deadline uses: nominative (Сентябрь 2021),
 * genitive (до 1 сентября), prepositional (в сентябре). */
static const char *const MONTHS[12][3] = {
	{"январь", "января", "январе"},
	{"февраль", "февраля", "феврале"},
	{"март", "марта", "марте"},
	{"апрель", "апреля", "апреле"},
	{"май", "мая", "мае"},
	{"июнь", "июня", "июне"},
	{"июль", "июля", "июле"},
	{"август", "августа", "августе"},
	{"сентябрь", "сентября", "сентябре"},
	{"октябрь", "октября", "октябре"},
	{"ноябрь", "ноября", "ноябре"},
	{"декабрь", "декабря", "декабре"},
};

#define MAX_WORDS 64
#define WORD_MAX 48

struct word {
	char s[WORD_MAX]; /* lower case UTF-8 */
	bool digits;
	long n;
};

static bool is_leap(long y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int month_days(long y, int m)
{
	static const int D[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : D[m - 1];
}

/* Appends the lower case of one Cyrillic or ASCII letter; false for anything else. */
static bool lower_letter(const unsigned char *p, size_t *len, char *out, size_t *olen)
{
	unsigned cp;

	if (p[0] < 0x80) {
		if (!((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')))
			return false;
		*len = 1;
		cp = p[0] | 0x20;
	} else if ((p[0] == 0xD0 || p[0] == 0xD1) && (p[1] & 0xC0) == 0x80) {
		*len = 2;
		cp = ((unsigned)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
		if (cp >= 0x410 && cp <= 0x42F) /* А-Я */
			cp += 0x20;
		else if (cp == 0x401) /* Ё */
			cp = 0x451;
		if (!((cp >= 0x430 && cp <= 0x44F) || cp == 0x451))
			return false;
		if (cp == 0x451) /* ё is е in dates */
			cp = 0x435;
	} else {
		return false;
	}
	if (cp < 0x80) {
		out[(*olen)++] = (char)cp;
	} else {
		out[(*olen)++] = (char)(0xC0 | (cp >> 6));
		out[(*olen)++] = (char)(0x80 | (cp & 0x3F));
	}
	return true;
}

/* Splits text into words of letters (lower-cased) and runs of digits. */
static int split_words(const char *text, struct word *w, int max)
{
	const unsigned char *p = (const unsigned char *)text;
	int n = 0;

	while (*p && n < max) {
		size_t len = 0, olen = 0;
		char buf[WORD_MAX];

		if (*p >= '0' && *p <= '9') {
			const unsigned char *start = p;
			size_t dl;
			while (*p >= '0' && *p <= '9')
				p++;
			dl = (size_t)(p - start);
			if (dl > 9) /* no day and no year */
				continue;
			memcpy(w[n].s, start, dl);
			w[n].s[dl] = '\0';
			w[n].digits = true;
			w[n].n = strtol(w[n].s, NULL, 10);
			n++;
			continue;
		}
		if (lower_letter(p, &len, buf, &olen)) {
			char scratch[4];
			size_t sl;
			p += len;
			while (*p && olen + 2 < WORD_MAX && lower_letter(p, &len, buf, &olen))
				p += len;
			/* A word longer than any we look for: skip its tail. */
			while (*p && (sl = 0, lower_letter(p, &len, scratch, &sl)))
				p += len;
			buf[olen] = '\0';
			memcpy(w[n].s, buf, olen + 1);
			w[n].digits = false;
			w[n].n = 0;
			n++;
			continue;
		}
		/* Any other byte separates words; skip a whole UTF-8 sequence. */
		p++;
		while ((*p & 0xC0) == 0x80)
			p++;
	}
	return n;
}

static int month_of(const char *s)
{
	for (int m = 0; m < 12; m++)
		for (int k = 0; k < 3; k++)
			if (strcmp(s, MONTHS[m][k]) == 0)
				return m + 1;
	return 0;
}

static bool is_year(const struct word *w)
{
	return w->digits && strlen(w->s) == 4 && w->n >= 1900 && w->n <= 2100;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The year of "YYYY-MM-DD", or 0. */
static long year_of(const char *date)
{
	if (!date || strlen(date) < 10)
		return 0;
	return strtol(date, NULL, 10);
}

/* Is a (y, m, d) before the date "YYYY-MM-DD"? */
static bool before(long y, int m, int d, const char *date)
{
	char s[40];
	snprintf(s, sizeof(s), "%04ld-%02d-%02d", y, m, d);
	return date && strcmp(s, date) < 0;
}

void due_derive(const char *text, const char *period_from, const char *period_to,
		struct em_due *out)
{
	struct word w[MAX_WORDS];
	int n = text ? split_words(text, w, MAX_WORDS) : 0;
	bool annual = false, continuous = false;
	long best_y = 0;
	int best_m = 0, best_d = 0;

	memset(out, 0, sizeof(*out));
	snprintf(out->recurrence, sizeof(out->recurrence), "once");
	for (int i = 0; i < n; i++) {
		if (has_prefix(w[i].s, "ежегодн"))
			annual = true;
		if (strcmp(w[i].s, "постоянно") == 0)
			continuous = true;
		/* "в течение всего периода", "весь период" */
		if (has_prefix(w[i].s, "период") && i > 0 &&
		    (strcmp(w[i - 1].s, "всего") == 0 || strcmp(w[i - 1].s, "весь") == 0))
			continuous = true;
	}
	for (int i = 0; i < n; i++) {
		long y = 0;
		int m = 0, d = 0;

		if (!w[i].digits && (m = month_of(w[i].s)) != 0) {
			/* A day before the month: "до 1 октября". */
			if (i > 0 && w[i - 1].digits && w[i - 1].n >= 1 && w[i - 1].n <= 31 &&
			    strlen(w[i - 1].s) <= 2)
				d = (int)w[i - 1].n;
			/* Its year: the next one written, else the last one before it. */
			for (int j = i + 1; j < n && !y; j++)
				if (is_year(&w[j]))
					y = w[j].n;
			for (int j = i - 1; j >= 0 && !y; j--)
				if (is_year(&w[j]))
					y = w[j].n;
			/* None: the first such month within the roadmap's period. */
			if (!y && (y = year_of(period_from)) != 0 &&
			    before(y, m, month_days(y, m), period_from))
				y++;
			if (!y)
				continue;
			if (d == 0 || d > month_days(y, m))
				d = month_days(y, m);
		} else if (is_year(&w[i])) {
			/* A year no month names: the whole year ("2022 г."). */
			bool of_month = false;
			for (int j = 0; j < n && !of_month; j++)
				of_month = !w[j].digits && month_of(w[j].s) != 0;
			if (of_month)
				continue;
			y = w[i].n;
			m = 12;
			d = 31;
		} else {
			continue;
		}
		/* The deadline is the latest date written ("сентябрь – октябрь 2021"). */
		if (y > best_y || (y == best_y && (m > best_m || (m == best_m && d > best_d)))) {
			best_y = y;
			best_m = m;
			best_d = d;
		}
	}
	if (continuous) {
		snprintf(out->recurrence, sizeof(out->recurrence), "continuous");
		if (period_to && strlen(period_to) == 10)
			snprintf(out->due_on, sizeof(out->due_on), "%s", period_to);
		return;
	}
	if (annual)
		snprintf(out->recurrence, sizeof(out->recurrence), "annual");
	if (best_y) {
		char date[40]; /* best_y is 1900..2100, best_m 1..12, best_d 1..31 */
		snprintf(date, sizeof(date), "%04ld-%02d-%02d", best_y, best_m, best_d);
		snprintf(out->due_on, sizeof(out->due_on), "%.10s", date);
	}
}
