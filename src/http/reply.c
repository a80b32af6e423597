/*
 * reply.c — building replies, and the one table that maps an em_err to an
 * HTTP status and an RFC 9457 problem document. No other place chooses an
 * error status.
 */
#include "effmon/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	unsigned status;
	const char *slug;
	const char *title;
} ERRORS[EM_ERR_COUNT] = {
	[EM_OK] = {200, "ok", "OK"},
	[EM_EBADREQ] = {400, "bad-request", "Malformed request"},
	[EM_EINVAL] = {400, "validation-failed", "Validation failed"},
	[EM_EUNAUTH] = {401, "unauthorized", "Authentication required"},
	[EM_EFORBIDDEN] = {403, "forbidden", "Not allowed for this role"},
	[EM_ENOTFOUND] = {404, "not-found", "Not found"},
	[EM_EMETHOD] = {405, "method-not-allowed", "Method not allowed"},
	[EM_ECONFLICT] = {409, "conflict", "Conflict"},
	[EM_EPRECOND] = {412, "precondition-failed", "Version mismatch"},
	[EM_ETOOLARGE] = {413, "payload-too-large", "Request body too large"},
	[EM_EMEDIATYPE] = {415, "unsupported-media-type", "Unsupported media type"},
	[EM_EUNPROCESSABLE] = {422, "unprocessable", "Request cannot be applied"},
	[EM_EPRECONDREQ] = {428, "precondition-required", "If-Match required"},
	[EM_ERATELIMIT] = {429, "too-many-requests", "Too many requests"},
	[EM_ENOTACCEPTABLE] = {406, "not-acceptable", "Not acceptable"},
	[EM_EINTERNAL] = {500, "internal", "Internal error"},
	[EM_EDB] = {500, "internal", "Internal error"},
	[EM_EUNAVAILABLE] = {503, "unavailable", "Service unavailable"},
	[EM_ERETRY] = {503, "unavailable", "Service unavailable"},
};

unsigned err_status(enum em_err err)
{
	return (unsigned)err < EM_ERR_COUNT ? ERRORS[err].status : 500;
}

const char *em_err_name(enum em_err err)
{
	return (unsigned)err < EM_ERR_COUNT ? ERRORS[err].slug : "internal";
}

void reply_init(struct em_reply *r)
{
	memset(r, 0, sizeof(*r));
}

void reply_clear(struct em_reply *r)
{
	json_decref(r->json);
	json_decref(r->errors);
	free(r->text);
	reply_init(r);
}

void reply_json(struct em_reply *r, unsigned status, json_t *json)
{
	json_decref(r->json);
	r->json = json;
	r->status = status;
}

void reply_text(struct em_reply *r, unsigned status, const char *content_type, const char *text,
		size_t len)
{
	r->status = status;
	r->content_type = content_type;
	r->text_static = text;
	r->text_len = len;
}

enum em_err reply_json_owned(struct em_reply *r, unsigned status, char *text)
{
	free(r->text);
	r->text = text;
	r->text_len = text ? strlen(text) : 0;
	r->status = status;
	r->content_type = "application/json";
	return text ? EM_OK : EM_EINTERNAL;
}

enum em_err reply_json_copy(struct em_reply *r, unsigned status, const char *json)
{
	return reply_json_owned(r, status, json ? strdup(json) : NULL);
}

void reply_header(struct em_reply *r, const char *name, const char *value)
{
	if (r->nheaders >= EM_MAX_REPLY_HEADERS)
		return;
	snprintf(r->headers[r->nheaders].name, sizeof(r->headers[0].name), "%s", name);
	snprintf(r->headers[r->nheaders].value, sizeof(r->headers[0].value), "%s", value);
	r->nheaders++;
}

enum em_err reply_fail(struct em_reply *r, enum em_err err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	return err;
}

/* Cuts a UTF-8 string that snprintf may have cut inside a character back to
 * its last whole character (jansson refuses invalid UTF-8). */
static void utf8_trim_partial(char *s)
{
	size_t n = strlen(s), lead = n;
	size_t want;

	while (lead > 0 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead == 0)
		return;
	unsigned char c = (unsigned char)s[lead - 1];
	want = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	if (n - (lead - 1) < want)
		s[lead - 1] = '\0';
}

/* Field names and messages are cut to fit (a client's key can be long) on a
 * character boundary, so no error is ever lost to invalid UTF-8. */
enum em_err reply_field_error(struct em_reply *r, const char *field, const char *fmt, ...)
{
	char name[128], msg[256];
	json_t *e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(name, sizeof(name), "%s", field);
	utf8_trim_partial(name);
	utf8_trim_partial(msg);
	if (!r->errors)
		r->errors = json_array();
	e = json_pack("{s:s, s:s}", "field", name, "message", msg);
	if (!e) /* not UTF-8 even when whole: name the error without the text */
		e = json_pack("{s:s, s:s}", "field", "?", "message", "is not valid UTF-8");
	json_array_append_new(r->errors, e);
	return EM_EINVAL;
}

json_t *reply_problem(const struct em_reply *r, enum em_err err, const char *request_id)
{
	unsigned idx = (unsigned)err < EM_ERR_COUNT ? (unsigned)err : EM_EINTERNAL;
	char type[64];
	json_t *p;

	snprintf(type, sizeof(type), "/problems/%s", ERRORS[idx].slug);
	p = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", ERRORS[idx].title,
		      "status", (int)ERRORS[idx].status, "detail",
		      r->detail[0] ? r->detail : ERRORS[idx].title, "request_id", request_id);
	if (p && r->errors && json_array_size(r->errors) > 0)
		json_object_set(p, "errors", r->errors);
	return p;
}

const char *reply_header_get(const struct em_reply *r, const char *name)
{
	for (int i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}
