/*
 * milestone_fields.c — the checks of a milestone body: the field table (the
 * body without its arrays), the executors and evidence lists, http(s) links,
 * and the number as the document writes it ("1", "2.1").
 */
#include <stdio.h>
#include <string.h>

#include "effmon/cycle.h"
#include "milestone.h"

#define EXECUTORS_MAX 20
#define EXECUTOR_MAX_CHARS 300
#define EVIDENCE_MAX 50
#define URL_MAX_CHARS 2000

static const char *const RECURRENCES[] = {"once", "annual", "continuous", NULL};

/* Arrays are checked by check_lists; the table sees the body without them. */
static const struct field MS_CREATE[] = {
	{"number", F_STRING, true, false, 1, 41, NULL},
	{"title", F_STRING, true, false, 1, 4000, NULL},
	{"due_text", F_STRING, false, true, 1, 500, NULL},
	{"due_on", F_DATE, false, true, 0, 0, NULL},
	{"recurrence", F_ENUM, false, false, 0, 0, RECURRENCES},
	{"expected_result", F_STRING, false, true, 0, 4000, NULL},
};
static const struct field MS_UPDATE[] = {
	{"number", F_STRING, false, false, 1, 41, NULL},
	{"title", F_STRING, false, false, 1, 4000, NULL},
	{"due_text", F_STRING, false, true, 1, 500, NULL},
	{"due_on", F_DATE, false, true, 0, 0, NULL},
	{"recurrence", F_ENUM, false, false, 0, 0, RECURRENCES},
	{"expected_result", F_STRING, false, true, 0, 4000, NULL},
	{"progress_report", F_STRING, false, true, 0, 20000, NULL},
};

/* "1", "2.1": digits in up to six dot-separated groups of at most six. */
static bool number_valid(const char *s)
{
	int groups = 0, digits = 0;

	for (const char *p = s;; p++) {
		if (*p >= '0' && *p <= '9') {
			if (++digits > 6)
				return false;
		} else if (*p == '.' || *p == '\0') {
			if (digits == 0 || ++groups > 6)
				return false;
			if (*p == '\0')
				return true;
			digits = 0;
		} else {
			return false;
		}
	}
}

/* An absolute http(s) URL with a host, no spaces or control characters. */
static bool url_valid(const char *u)
{
	const char *host;

	if (strncmp(u, "https://", 8) == 0)
		host = u + 8;
	else if (strncmp(u, "http://", 7) == 0)
		host = u + 7;
	else
		return false;
	if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
		return false;
	for (const unsigned char *p = (const unsigned char *)u; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* executors: up to 20 non-empty strings; evidence: up to 50 http(s) URLs. */
static void check_lists(const json_t *body, struct em_reply *reply)
{
	const json_t *ex = json_object_get(body, "executors");
	const json_t *ev = json_object_get(body, "evidence");
	char name[40];
	size_t i;
	json_t *v;

	if (ex && !json_is_array(ex)) {
		reply_field_error(reply, "executors", "must be an array of strings");
	} else if (ex) {
		if (json_array_size(ex) > EXECUTORS_MAX)
			reply_field_error(reply, "executors", "must hold at most %d executors",
					  EXECUTORS_MAX);
		json_array_foreach(ex, i, v) {
			snprintf(name, sizeof(name), "executors[%zu]", i);
			if (!json_is_string(v))
				reply_field_error(reply, name, "must be a string");
			else if (utf8_length(json_string_value(v)) < 1 ||
				 utf8_length(json_string_value(v)) > EXECUTOR_MAX_CHARS)
				reply_field_error(reply, name, "length must be 1 to %d characters",
						  EXECUTOR_MAX_CHARS);
			else if (json_has_nul(v))
				reply_field_error(reply, name, "must not contain NUL characters");
		}
	}
	if (ev && !json_is_array(ev)) {
		reply_field_error(reply, "evidence", "must be an array of http(s) URLs");
	} else if (ev) {
		if (json_array_size(ev) > EVIDENCE_MAX)
			reply_field_error(reply, "evidence", "must hold at most %d links",
					  EVIDENCE_MAX);
		json_array_foreach(ev, i, v) {
			snprintf(name, sizeof(name), "evidence[%zu]", i);
			if (!json_is_string(v))
				reply_field_error(reply, name, "must be a string");
			else if (utf8_length(json_string_value(v)) > URL_MAX_CHARS || json_has_nul(v) ||
				 !url_valid(json_string_value(v)))
				reply_field_error(reply, name,
						  "must be an http:// or https:// URL of at most %d "
						  "characters",
						  URL_MAX_CHARS);
		}
	}
}

/* The field table over the body without its arrays, then the arrays and the number. */
void ms_validate(const json_t *body, bool creating, struct em_reply *reply)
{
	json_t *plain = json_is_object(body) ? json_copy((json_t *)body) : NULL;
	const char *number = json_string_value(json_object_get(body, "number"));

	if (!plain) {
		validate_object(body, MS_CREATE, 0, reply);
		return;
	}
	json_object_del(plain, "executors");
	json_object_del(plain, "evidence");
	if (creating)
		validate_object(plain, MS_CREATE, sizeof(MS_CREATE) / sizeof(MS_CREATE[0]), reply);
	else
		validate_object(plain, MS_UPDATE, sizeof(MS_UPDATE) / sizeof(MS_UPDATE[0]), reply);
	json_decref(plain);
	check_lists(body, reply);
	if (number && utf8_length(number) <= 41 && !number_valid(number))
		reply_field_error(reply, "number",
				  "must be digits in dot-separated groups, like 1 or 2.1");
}
