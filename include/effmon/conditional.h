/*
 * conditional.h — entity-tags and the If-Match / If-None-Match field values
 * (RFC 9110 §8.8.3, §13.1.1, §13.1.2): "*" or a comma-separated list of
 * entity-tags, compared strongly (If-Match) or weakly (If-None-Match).
 */
#ifndef EFFMON_CONDITIONAL_H
#define EFFMON_CONDITIONAL_H

#include <stdbool.h>
#include <stddef.h>

/* One entity-tag inside a field value; opaque points into it, quotes included. */
struct etag_ref {
	bool weak;
	const char *opaque;
	size_t len;
};

enum etag_next { ETAG_END = 0, ETAG_TAG = 1, ETAG_MALFORMED = -1 };

/*
 * Reads the next entity-tag of a list at *pos and advances *pos past it and
 * its comma. Empty list elements (", ,") are skipped as RFC 9110 §5.6.1 asks.
 * ETAG_MALFORMED on anything that is not an entity-tag (a bare word, an
 * unclosed quote, a control character, "*" inside a list); *pos is then
 * left where the error is.
 */
enum etag_next etag_list_next(const char **pos, struct etag_ref *out);

/* The field value is "*" (with optional whitespace around it). */
bool etag_list_is_any(const char *field);

enum etag_match { ETAG_NO_MATCH = 0, ETAG_MATCHES = 1, ETAG_LIST_MALFORMED = -1 };

/*
 * Does the field value match tag (an entity-tag as sent in ETag, e.g. "\"3\""
 * or "W/\"agg-…\"")? "*" matches any tag: call it only for a representation
 * that exists. strong: the strong comparison of If-Match (a weak tag on
 * either side never matches); otherwise the weak comparison of If-None-Match.
 * A malformed field value matches nothing and says so.
 */
enum etag_match etag_list_match(const char *field, const char *tag, bool strong);

#endif
