/*
 * validate.h — declarative validation of JSON request bodies: a table of
 * fields per resource; unknown fields are rejected and every error is
 * reported at once, each naming its field.
 */
#ifndef EFFMON_VALIDATE_H
#define EFFMON_VALIDATE_H

#include <jansson.h>

#include "effmon/http.h"

enum field_type {
	F_STRING, /* min/max: length in characters */
	F_INT,    /* min/max: value */
	F_NUMBER, /* min/max: value */
	F_BOOL,
	F_ENUM, /* choices: NULL-terminated list */
	F_DATE, /* YYYY-MM-DD, a real calendar date */
	F_ID,   /* positive 64-bit integer */
};

struct field {
	const char *name;
	enum field_type type;
	bool required;
	bool nullable;
	long long min, max;
	const char *const *choices;
};

/* True when body is valid; otherwise the errors are in reply->errors. */
bool validate_object(const json_t *body, const struct field *fields, size_t nfields,
		     struct em_reply *reply);

/* validate_object over the fields of the table, with the members named in custom (a
 * NULL-terminated list) left to the caller: the field table knows no arrays or objects. */
void validate_object_except(const json_t *body, const struct field *fields, size_t n,
			    const char *const *custom, struct em_reply *reply);

/* RFC 3339 date-time with its offset, YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM); on
 * success *epoch is the instant in seconds since 1970 UTC. */
bool rfc3339_parse(const char *s, double *epoch);

/* Checks a timestamp member; true and *epoch when it is present and valid, else a field
 * error when it is required or malformed. */
bool validate_timestamp(const json_t *body, const char *name, bool required, struct em_reply *reply,
			double *epoch);

/* Does a JSON string hold a NUL (which jansson allows and text columns do not)? */
bool json_has_nul(const json_t *s);

/* Is s[0..n) well-formed UTF-8 without NUL, overlongs or surrogates? */
bool utf8_valid(const char *s, size_t n);

/* Counts UTF-8 characters (body text is valid UTF-8: jansson checked it). */
size_t utf8_length(const char *s);

#endif
