/*
 * conditional.c — the one parser of entity-tag lists. If-None-Match on
 * reads (src/resource.c, the aggregates) and If-Match on writes
 * (require_if_match) both go through etag_list_match, so a list, "*", W/
 * and malformed values are treated alike everywhere.
 */
#include "effmon/conditional.h"

#include <string.h>

static bool ows(char c)
{
	return c == ' ' || c == '\t';
}

/* etagc = %x21 / %x23-7E / obs-text: anything visible but the double quote. */
static bool etagc(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80;
}

enum etag_next etag_list_next(const char **pos, struct etag_ref *out)
{
	const char *p = *pos;
	const char *q;

	while (ows(*p) || *p == ',')
		p++;
	if (*p == '\0') {
		*pos = p;
		return ETAG_END;
	}
	out->weak = false;
	if (p[0] == 'W' && p[1] == '/') {
		out->weak = true;
		p += 2;
	}
	if (*p != '"') {
		*pos = p;
		return ETAG_MALFORMED;
	}
	for (q = p + 1; *q && *q != '"'; q++)
		if (!etagc((unsigned char)*q)) {
			*pos = q;
			return ETAG_MALFORMED;
		}
	if (*q != '"') {
		*pos = q;
		return ETAG_MALFORMED;
	}
	out->opaque = p;
	out->len = (size_t)(q - p) + 1;
	for (q++; ows(*q); q++)
		;
	if (*q != ',' && *q != '\0') {
		*pos = q;
		return ETAG_MALFORMED;
	}
	*pos = *q == ',' ? q + 1 : q;
	return ETAG_TAG;
}

bool etag_list_is_any(const char *field)
{
	while (ows(*field))
		field++;
	if (*field++ != '*')
		return false;
	while (ows(*field))
		field++;
	return *field == '\0';
}

enum etag_match etag_list_match(const char *field, const char *tag, bool strong)
{
	struct etag_ref want, got;
	const char *p = tag;
	bool found = false;
	enum etag_next n;

	if (!field || !tag)
		return ETAG_NO_MATCH;
	if (etag_list_is_any(field))
		return ETAG_MATCHES;
	if (etag_list_next(&p, &want) != ETAG_TAG)
		return ETAG_NO_MATCH; /* our own tag is not one: nothing can match it */
	p = field;
	/* The whole list is read even after a match, so that a malformed value
	 * is told apart from a matching one the same way whatever its order. */
	while ((n = etag_list_next(&p, &got)) == ETAG_TAG) {
		if (strong && (got.weak || want.weak))
			continue;
		if (got.len == want.len && memcmp(got.opaque, want.opaque, got.len) == 0)
			found = true;
	}
	if (n == ETAG_MALFORMED)
		return ETAG_LIST_MALFORMED;
	return found ? ETAG_MATCHES : ETAG_NO_MATCH;
}
