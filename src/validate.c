/*
 * validate.c — checks a JSON object against a field table. Each field is
 * checked for presence, type, bounds and choices; fields not in the table are
 * errors too, so a client learns of a typo instead of losing the value.
 */
#include "effmon/validate.h"

#include <stdio.h>
#include <string.h>

bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		unsigned c = *p;
		if (c >= 0x01 && c < 0x80) {
			p++;
			continue;
		}
		if (c == 0x00)
			return false;
		size_t need;
		unsigned lo = 0x80, hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0; /* overlong */
			else if (c == 0xED)
				hi = 0x9F; /* surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90; /* overlong */
			else if (c == 0xF4)
				hi = 0x8F; /* past U+10FFFF */
		} else {
			return false;
		}
		if ((size_t)(end - p) <= need)
			return false;
		if (p[1] < lo || p[1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++)
			if (p[k] < 0x80 || p[k] > 0xBF)
				return false;
		p += need + 1;
	}
	return true;
}

size_t utf8_length(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static bool is_date(const char *s)
{
	static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d;
	char tail;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
		return false;
	if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1 || d > days[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

static enum em_err check_field(const json_t *v, const struct field *f, struct em_reply *r)
{
	switch (f->type) {
	case F_STRING: {
		size_t n;
		if (!json_is_string(v))
			return reply_field_error(r, f->name, "must be a string");
		n = utf8_length(json_string_value(v));
		if ((long long)n < f->min || (long long)n > f->max)
			return reply_field_error(r, f->name,
						 "length must be %lld to %lld characters", f->min,
						 f->max);
		if (strlen(json_string_value(v)) != json_string_length(v))
			return reply_field_error(r, f->name, "must not contain NUL characters");
		return EM_OK;
	}
	case F_INT:
		if (!json_is_integer(v))
			return reply_field_error(r, f->name, "must be an integer");
		if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
			return reply_field_error(r, f->name, "must be between %lld and %lld",
						 f->min, f->max);
		return EM_OK;
	case F_ID:
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			return reply_field_error(r, f->name, "must be a positive integer id");
		return EM_OK;
	case F_NUMBER:
		if (!json_is_number(v))
			return reply_field_error(r, f->name, "must be a number");
		if (json_number_value(v) < (double)f->min || json_number_value(v) > (double)f->max)
			return reply_field_error(r, f->name, "must be between %lld and %lld",
						 f->min, f->max);
		return EM_OK;
	case F_BOOL:
		if (!json_is_boolean(v))
			return reply_field_error(r, f->name, "must be true or false");
		return EM_OK;
	case F_DATE:
		if (!json_is_string(v) || !is_date(json_string_value(v)))
			return reply_field_error(r, f->name, "must be a date YYYY-MM-DD");
		return EM_OK;
	case F_ENUM: {
		char list[256] = "";
		if (json_is_string(v))
			for (const char *const *c = f->choices; *c; c++)
				if (strcmp(*c, json_string_value(v)) == 0)
					return EM_OK;
		for (const char *const *c = f->choices; *c; c++) {
			size_t n = strlen(list);
			snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *c);
		}
		return reply_field_error(r, f->name, "must be one of: %s", list);
	}
	}
	return EM_OK;
}

bool validate_object(const json_t *body, const struct field *fields, size_t nfields,
		     struct em_reply *r)
{
	const char *key;
	const json_t *v;
	size_t before = r->errors ? json_array_size(r->errors) : 0;

	if (!json_is_object(body)) {
		reply_field_error(r, "", "the body must be a JSON object");
		return false;
	}
	json_object_foreach((json_t *)body, key, v) {
		bool known = false;
		for (size_t i = 0; i < nfields && !known; i++)
			known = strcmp(fields[i].name, key) == 0;
		if (!known)
			reply_field_error(r, key, "unknown field");
	}
	for (size_t i = 0; i < nfields; i++) {
		const struct field *f = &fields[i];
		v = json_object_get(body, f->name);
		if (!v) {
			if (f->required)
				reply_field_error(r, f->name, "is required");
		} else if (json_is_null(v)) {
			if (!f->nullable)
				reply_field_error(r, f->name, "must not be null");
		} else {
			check_field(v, f, r);
		}
	}
	return (r->errors ? json_array_size(r->errors) : 0) == before;
}

void validate_object_except(const json_t *body, const struct field *fields, size_t n,
			    const char *const *custom, struct em_reply *reply)
{
	json_t *plain = json_copy((json_t *)body);

	if (!plain) {
		reply_field_error(reply, "", "cannot read the body");
		return;
	}
	for (const char *const *c = custom; *c; c++)
		json_object_del(plain, *c);
	validate_object(plain, fields, n, reply);
	json_decref(plain);
}

static long days_from_civil(long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool rfc3339_parse(const char *s, double *epoch)
{
	static const int DAYS[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	double frac = 0;
	const char *p;

	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return false;
	if (y < 1900 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > DAYS[mo - 1] || h > 23 ||
	    mi > 59 || sec > 59)
		return false;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	p = s + 19;
	if (*p == '.') {
		double scale = 0.1;
		int n = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, n++, scale /= 10)
			frac += (*p - '0') * scale;
		if (n < 1 || n > 9)
			return false;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		sign = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, &oh) &&
		   p[3] == ':' && digits(p + 4, 2, &om) && oh <= 23 && om <= 59) {
		sign = *p == '+' ? 1 : -1;
	} else {
		return false;
	}
	*epoch = (double)days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400.0 + h * 3600 +
		 mi * 60 + sec + frac - sign * (oh * 3600 + om * 60);
	return true;
}

bool validate_timestamp(const json_t *body, const char *name, bool required, struct em_reply *reply,
			double *epoch)
{
	const json_t *v = json_object_get(body, name);

	if (!v) {
		if (required)
			reply_field_error(reply, name, "is required");
		return false;
	}
	if (!json_is_string(v) || !rfc3339_parse(json_string_value(v), epoch)) {
		reply_field_error(reply, name,
				  "must be an RFC 3339 timestamp with its offset, "
				  "e.g. 2026-03-01T00:00:00+03:00");
		return false;
	}
	return true;
}

bool json_has_nul(const json_t *s)
{
	return strlen(json_string_value(s)) != json_string_length(s);
}
