/*
 * negotiate.c — the media type of an answer: format= beats Accept; Accept is
 * a list of media ranges with optional q-values, the most specific range
 * that matches a type decides its q, and the route's order breaks ties.
 */
#include "effmon/negotiate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	const char *type; /* type/subtype */
} FORMATS[EM_FMT_COUNT] = {
	[EM_FMT_JSON] = {"json", "application/json"},
	[EM_FMT_CSV] = {"csv", "text/csv"},
	[EM_FMT_XLSX] = {"xlsx", EM_MEDIA_XLSX},
	[EM_FMT_HTML] = {"html", "text/html"},
};

const char *format_media_type(enum em_format f)
{
	return (unsigned)f < EM_FMT_COUNT ? FORMATS[f].type : "application/json";
}

const char *format_name(enum em_format f)
{
	return (unsigned)f < EM_FMT_COUNT ? FORMATS[f].name : "json";
}

/* The q of "q=0.8" (0..1000 thousandths); -1 when malformed. */
static int parse_q(const char *s, size_t n)
{
	int q = 0, digits = 0;
	size_t i = 0;

	if (n == 0 || n > 5)
		return -1;
	if (s[0] == '1') {
		for (i = 1; i < n; i++)
			if (s[i] != (i == 1 ? '.' : '0'))
				return -1;
		return 1000;
	}
	if (s[0] != '0')
		return -1;
	if (n == 1)
		return 0;
	if (s[1] != '.')
		return -1;
	for (i = 2; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		q = q * 10 + (s[i] - '0');
		digits++;
	}
	while (digits++ < 3)
		q *= 10;
	return q;
}

/* How specifically range [r, r+n) matches type: 3 exact, 2 type / *, 1 * / *, 0 not. */
static int range_match(const char *r, size_t n, const char *type)
{
	const char *slash = strchr(type, '/');
	size_t tlen = (size_t)(slash - type);

	if (n == 3 && memcmp(r, "*/*", 3) == 0)
		return 1;
	if (n == tlen + 2 && strncasecmp(r, type, tlen) == 0 && r[tlen] == '/' &&
	    r[tlen + 1] == '*')
		return 2;
	if (n == strlen(type) && strncasecmp(r, type, n) == 0)
		return 3;
	return 0;
}

static const char *skip_ows(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

int negotiate_accept(const char *accept, const enum em_format *offered, size_t n)
{
	int best_spec[EM_FMT_COUNT] = {0}, q_of[EM_FMT_COUNT] = {0};
	const char *p = accept, *any = accept;
	int best = -1, best_q = 0;

	if (n == 0 || n > EM_FMT_COUNT)
		return -1;
	while (any && (*any == ' ' || *any == '\t'))
		any++;
	if (!accept || !*any)
		return 0;
	while (*p) {
		const char *end = strchr(p, ','), *semi, *rs, *re;
		int q = 1000;

		if (!end)
			end = p + strlen(p);
		rs = skip_ows(p, end);
		for (semi = rs; semi < end && *semi != ';'; semi++)
			;
		re = semi;
		if (semi == end)
			semi = NULL;
		while (re > rs && (re[-1] == ' ' || re[-1] == '\t'))
			re--;
		/* Parameters: only q matters here; a malformed q drops the range. */
		for (const char *a = semi; a && a < end;) {
			const char *v = a + 1, *ve = v;
			while (ve < end && *ve != ';')
				ve++;
			a = ve < end ? ve : NULL;
			v = skip_ows(v, ve);
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (ve - v >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=')
				q = parse_q(v + 2, (size_t)(ve - v - 2));
		}
		if (q >= 0 && re > rs)
			for (size_t i = 0; i < n; i++) {
				int spec = range_match(rs, (size_t)(re - rs),
						       format_media_type(offered[i]));
				if (spec > best_spec[i]) {
					best_spec[i] = spec;
					q_of[i] = q;
				}
			}
		p = *end ? end + 1 : end;
	}
	for (size_t i = 0; i < n; i++)
		if (best_spec[i] && q_of[i] > best_q) {
			best_q = q_of[i];
			best = (int)i;
		}
	return best;
}

/* "application/json, text/csv" into buf. */
static void list_types(const enum em_format *offered, size_t n, char *buf, size_t len, bool names)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
					 names ? format_name(offered[i])
					       : format_media_type(offered[i]));
}

enum em_err negotiate(const struct em_req *req, struct em_reply *reply,
		      const enum em_format *offered, size_t n, enum em_format *out)
{
	const char *format = req_query(req, "format");
	char types[256];
	int i;

	if (format) {
		for (size_t k = 0; k < n; k++)
			if (strcmp(format, format_name(offered[k])) == 0) {
				*out = offered[k];
				return EM_OK;
			}
		list_types(offered, n, types, sizeof(types), true);
		reply_field_error(reply, "format", "must be one of %s", types);
		return reply_fail(reply, EM_EINVAL, "unknown format");
	}
	i = negotiate_accept(req_header(req, "Accept"), offered, n);
	if (i < 0) {
		list_types(offered, n, types, sizeof(types), false);
		return reply_fail(reply, EM_ENOTACCEPTABLE, "this resource is available as %s",
				  types);
	}
	*out = offered[i];
	return EM_OK;
}
