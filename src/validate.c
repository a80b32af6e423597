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
			return reply_field_error(r, f->name, "length must be %lld to %lld characters",
						 f->min, f->max);
		if (strlen(json_string_value(v)) != json_string_length(v))
			return reply_field_error(r, f->name, "must not contain NUL characters");
		return EM_OK;
	}
	case F_INT:
		if (!json_is_integer(v))
			return reply_field_error(r, f->name, "must be an integer");
		if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
			return reply_field_error(r, f->name, "must be between %lld and %lld", f->min,
						 f->max);
		return EM_OK;
	case F_ID:
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			return reply_field_error(r, f->name, "must be a positive integer id");
		return EM_OK;
	case F_NUMBER:
		if (!json_is_number(v))
			return reply_field_error(r, f->name, "must be a number");
		if (json_number_value(v) < (double)f->min || json_number_value(v) > (double)f->max)
			return reply_field_error(r, f->name, "must be between %lld and %lld", f->min,
						 f->max);
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
