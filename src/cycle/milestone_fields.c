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

/* Arrays are checked by check_list; the table sees the body without them. */
/* number and title are required to create (req), the rest never. */
/* clang-format off */
#define MS_FIELDS(req)                                                                   \
	{"number", F_STRING, req, false, 1, 41, NULL},                                    \
	{"title", F_STRING, req, false, 1, 4000, NULL},                                   \
	{"due_text", F_STRING, false, true, 1, 500, NULL},                                \
	{"due_on", F_DATE, false, true, 0, 0, NULL},                                      \
	{"recurrence", F_ENUM, false, false, 0, 0, RECURRENCES},                          \
	{"expected_result", F_STRING, false, true, 0, 4000, NULL}
/* clang-format on */
static const struct field MS_CREATE[] = {MS_FIELDS(true)};
static const struct field MS_UPDATE[] = {
	MS_FIELDS(false),
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

static void executor_check(const json_t *v, const char *name, struct em_reply *reply)
{
	if (utf8_length(json_string_value(v)) < 1 ||
	    utf8_length(json_string_value(v)) > EXECUTOR_MAX_CHARS)
		reply_field_error(reply, name, "length must be 1 to %d characters",
				  EXECUTOR_MAX_CHARS);
	else if (json_has_nul(v))
		reply_field_error(reply, name, "must not contain NUL characters");
}

static void evidence_check(const json_t *v, const char *name, struct em_reply *reply)
{
	if (utf8_length(json_string_value(v)) > URL_MAX_CHARS || json_has_nul(v) ||
	    !url_valid(json_string_value(v)))
		reply_field_error(reply, name,
				  "must be an http:// or https:// URL of at most %d characters",
				  URL_MAX_CHARS);
}

typedef void (*item_check_fn)(const json_t *v, const char *name, struct em_reply *reply);

/* The array field of body, if given: at most max items ("must hold at most
 * <max> <noun>"), each a string that item_check accepts. */
static void check_list(const json_t *body, const char *field, const char *what, size_t max,
		       const char *noun, item_check_fn item_check, struct em_reply *reply)
{
	const json_t *list = json_object_get(body, field);
	char name[40];
	size_t i;
	json_t *v;

	if (list && !json_is_array(list)) {
		reply_field_error(reply, field, "must be %s", what);
		return;
	}
	if (json_array_size(list) > max)
		reply_field_error(reply, field, "must hold at most %zu %s", max, noun);
	json_array_foreach(list, i, v) {
		snprintf(name, sizeof(name), "%s[%zu]", field, i);
		if (!json_is_string(v))
			reply_field_error(reply, name, "must be a string");
		else
			item_check(v, name, reply);
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
		validate_object(plain, MS_CREATE, ARRAY_LEN(MS_CREATE), reply);
	else
		validate_object(plain, MS_UPDATE, ARRAY_LEN(MS_UPDATE), reply);
	json_decref(plain);
	check_list(body, "executors", "an array of strings", EXECUTORS_MAX, "executors",
		   executor_check, reply);
	check_list(body, "evidence", "an array of http(s) URLs", EVIDENCE_MAX, "links",
		   evidence_check, reply);
	if (number && utf8_length(number) <= 41 && !number_valid(number))
		reply_field_error(reply, "number",
				  "must be digits in dot-separated groups, like 1 or 2.1");
}
