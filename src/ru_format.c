/*
 * ru_format.c — the Russian way of writing numbers, percentages and dates in
 * printable documents (the cycle report's HTML page): decimal comma, digits
 * grouped by a narrow no-break space, the minus sign, genitive month names.
 */
#include "effmon/ru_format.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const MONTHS[] = {
	"января", "февраля", "марта",    "апреля",  "мая",    "июня",
	"июля",   "августа", "сентября", "октября", "ноября", "декабря",
};

const char *ru_month_genitive(int month)
{
	return month >= 1 && month <= 12 ? MONTHS[month - 1] : NULL;
}

static bool fail(char *out, size_t n)
{
	if (n)
		out[0] = '\0';
	return false;
}

bool ru_number(double x, int decimals, char *out, size_t n)
{
	static const double POW10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
	char digits[32], buf[96];
	size_t len, intlen, o = 0;
	double scaled;
	long long r;

	if (decimals < 0 || decimals > 6 || !isfinite(x))
		return fail(out, n);
	scaled = x * POW10[decimals];
	if (fabs(scaled) >= 9007199254740992.0) /* 2^53: no exact integer any more */
		return fail(out, n);
	/* A few ulps outwards: 1.005 * 100 is 100.4999..., the decimal meant 100.5. */
	scaled += copysign(fabs(scaled) * 4 * DBL_EPSILON, scaled);
	r = llround(scaled);
	snprintf(digits, sizeof(digits), "%lld", r < 0 ? -r : r);
	len = strlen(digits);
	/* At least one digit before the comma: 0,05. */
	if ((int)len <= decimals) {
		char pad[32];
		snprintf(pad, sizeof(pad), "%0*lld", decimals + 1, r < 0 ? -r : r);
		memcpy(digits, pad, strlen(pad) + 1);
		len = strlen(digits);
	}
	intlen = len - (size_t)decimals;
	if (r < 0) {
		memcpy(buf + o, RU_MINUS, 3);
		o += 3;
	}
	for (size_t i = 0; i < intlen; i++) {
		if (i && intlen >= 4 && (intlen - i) % 3 == 0) {
			memcpy(buf + o, RU_THOUSANDS, 3);
			o += 3;
		}
		buf[o++] = digits[i];
	}
	if (decimals) {
		buf[o++] = ',';
		memcpy(buf + o, digits + intlen, (size_t)decimals);
		o += (size_t)decimals;
	}
	buf[o] = '\0';
	if (o + 1 > n)
		return fail(out, n);
	memcpy(out, buf, o + 1);
	return true;
}

bool ru_percent(double share, int decimals, char *out, size_t n)
{
	char num[80];

	if (!isfinite(share) || !ru_number(share * 100, decimals, num, sizeof(num)))
		return fail(out, n);
	if ((size_t)snprintf(out, n, "%s" RU_NBSP "%%", num) >= n)
		return fail(out, n);
	return true;
}

static bool digits_at(const char *s, size_t k, int *v)
{
	*v = 0;
	for (size_t i = 0; i < k; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

bool ru_date(const char *iso, bool with_time, char *out, size_t n)
{
	static const int DAYS[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d, hh, mm;
	bool leap, timed;
	int len;

	if (!iso || strlen(iso) < 10 || !digits_at(iso, 4, &y) || iso[4] != '-' ||
	    !digits_at(iso + 5, 2, &m) || iso[7] != '-' || !digits_at(iso + 8, 2, &d))
		return fail(out, n);
	if (iso[10] != '\0' && iso[10] != 'T' && iso[10] != ' ')
		return fail(out, n);
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > DAYS[m - 1] || (m == 2 && d == 29 && !leap))
		return fail(out, n);
	timed = iso[10] && strlen(iso) >= 16 && digits_at(iso + 11, 2, &hh) && iso[13] == ':' &&
		digits_at(iso + 14, 2, &mm) && hh < 24 && mm < 60;
	if (iso[10] && !timed)
		return fail(out, n);
	if (with_time && timed)
		len = snprintf(out, n, "%d %s %d" RU_NBSP "г., %02d:%02d", d, MONTHS[m - 1], y, hh,
			       mm);
	else
		len = snprintf(out, n, "%d %s %d" RU_NBSP "г.", d, MONTHS[m - 1], y);
	if (len < 0 || (size_t)len >= n)
		return fail(out, n);
	return true;
}
