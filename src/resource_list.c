/*
 * resource_list.c — the lists of every resource: limit, sort, cursor, q and
 * filters parsed with their field errors, a list statement's arguments, the
 * page answered with its next cursor, the generic list handler, and the lists
 * that are always one page.
 */
#include "effmon/resource.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/router.h"
#include "effmon/sbuf.h"
#include "effmon/validate.h"

/* --- Pagination ------------------------------------------------------------------- */

long list_limit_parse(struct em_req *req, struct em_reply *reply, long dflt)
{
	const char *s = req_query(req, "limit");
	char *end;
	long n;

	if (!s)
		return dflt;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < 1 || n > LIST_MAX_LIMIT) {
		reply_field_error(reply, "limit", "must be an integer from 1 to %d",
				  LIST_MAX_LIMIT);
		return dflt;
	}
	return n;
}

const char *list_cursor_decode(const char *cursor, const char *sort, int64_t *after_id,
			       unsigned char raw[LIST_MAX_KEY + 64])
{
	char *text, *nl1, *nl2;
	size_t n;

	if (sodium_base642bin(raw, LIST_MAX_KEY + 63, cursor, strlen(cursor), NULL, &n, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return NULL;
	raw[n] = '\0';
	text = (char *)raw;
	if (strlen(text) != n || !(nl1 = strchr(text, '\n')) || !(nl2 = strchr(nl1 + 1, '\n')))
		return NULL;
	*nl1 = *nl2 = '\0';
	if (strcmp(text, sort) != 0 || !router_parse_id(nl1 + 1, strlen(nl1 + 1), after_id))
		return NULL;
	if (strlen(nl2 + 1) > LIST_MAX_KEY || !utf8_valid(nl2 + 1, strlen(nl2 + 1)))
		return NULL;
	return nl2 + 1;
}

const char *list_page_read(struct em_req *req, struct em_reply *reply, const char *const *sorts,
			   const char *sort_why, struct list_page *page)
{
	const char *cursor = req_query(req, "cursor");
	const char *sort = req_query(req, "sort");
	unsigned char raw[LIST_MAX_KEY + 64];
	const char *key;

	memset(page, 0, sizeof(*page));
	page->limit = list_limit_parse(req, reply, LIST_DEFAULT_LIMIT);
	page->sort = sorts[0];
	if (sort) {
		const char *const *s = sorts;
		for (; *s && strcmp(*s, sort) != 0; s++)
			;
		if (*s)
			page->sort = *s;
		else
			reply_field_error(reply, "sort", "%s", sort_why);
	}
	if (!cursor)
		return NULL;
	if (!(key = list_cursor_decode(cursor, page->sort, &page->after_id, raw))) {
		reply_field_error(reply, "cursor", "is not a cursor of this list and sort");
		return NULL;
	}
	snprintf(page->after_key, sizeof(page->after_key), "%s", key);
	return page->after_key;
}

enum em_err list_page_parse(struct em_req *req, struct em_reply *reply, struct list_page *page)
{
	static const char *const SORTS[] = {"id", "name", NULL};

	/* A cursor is base64url("sort\nid\nkey"); only sort=name reads its key. */
	if (list_page_read(req, reply, SORTS, "must be one of: id, name", page))
		page->has_key = strcmp(page->sort, "name") == 0;
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid list parameters");
	return EM_OK;
}

enum em_err list_reply(struct em_reply *reply, PGresult *res, const struct list_page *page,
		       const char *extra)
{
	int rows = PQntuples(res);
	int shown = rows > page->limit ? (int)page->limit : rows;
	struct sbuf b = {0};
	char tail[(LIST_MAX_KEY + 64) * 4 / 3 + 64];

	sb_str(&b, "{\"items\":[");
	for (int i = 0; i < shown; i++) {
		if (i)
			sb_str(&b, ",");
		sb_str(&b, PQgetvalue(res, i, 0));
	}
	sb_str(&b, "],\"next\":");
	if (rows > page->limit) {
		char plain[LIST_MAX_KEY + 64], enc[(LIST_MAX_KEY + 64) * 4 / 3 + 4];
		int n = snprintf(plain, sizeof(plain), "%s\n%s\n%s", page->sort,
				 PQgetvalue(res, shown - 1, 1),
				 PQnfields(res) > 2 ? PQgetvalue(res, shown - 1, 2) : "");
		if (n < 0 || (size_t)n >= sizeof(plain))
			n = (int)sizeof(plain) - 1;
		sodium_bin2base64(enc, sizeof(enc), (const unsigned char *)plain, (size_t)n,
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		snprintf(tail, sizeof(tail), "\"%s\",\"limit\":%ld", enc, page->limit);
	} else {
		snprintf(tail, sizeof(tail), "null,\"limit\":%ld", page->limit);
	}
	sb_str(&b, tail);
	if (extra) {
		sb_str(&b, ",");
		sb_str(&b, extra);
	}
	sb_str(&b, "}");
	return sb_reply(&b, reply, "application/json");
}

const char *list_search_parse(struct em_req *req, struct em_reply *reply)
{
	const char *q = req_query(req, "q");

	if (q && !utf8_valid(q, strlen(q)))
		reply_field_error(reply, "q", "is not valid UTF-8");
	else if (q && (utf8_length(q) < 1 || utf8_length(q) > 100))
		reply_field_error(reply, "q", "must be 1 to 100 characters");
	return q;
}

void list_filters_parse(struct em_req *req, struct em_reply *reply,
			const struct list_filter *filters, size_t n, const char **out)
{
	for (size_t i = 0; i < n && i < LIST_MAX_FILTERS; i++) {
		const struct list_filter *f = &filters[i];
		const char *v = req_query(req, f->name);
		int64_t id;
		out[i] = v;
		if (!v)
			continue;
		if (f->type == FILTER_ID && !router_parse_id(v, strlen(v), &id)) {
			reply_field_error(reply, f->name, "must be a positive integer id");
		} else if (f->type == FILTER_BOOL && strcmp(v, "true") && strcmp(v, "false")) {
			reply_field_error(reply, f->name, "must be true or false");
		} else if (f->type == FILTER_TEXT && !utf8_valid(v, strlen(v))) {
			reply_field_error(reply, f->name, "is not valid UTF-8");
		} else if (f->type == FILTER_TEXT && (utf8_length(v) < 1 || utf8_length(v) > 200)) {
			reply_field_error(reply, f->name, "must be 1 to 200 characters");
		} else if (f->type == FILTER_ENUM) {
			bool ok = false;
			for (const char *const *c = f->choices; *c && !ok; c++)
				ok = strcmp(*c, v) == 0;
			if (!ok)
				reply_field_error(reply, f->name, "is not an allowed value");
		}
	}
}

void list_args(struct db_args *a, const struct em_req *req, const struct list_page *page,
	       const char *q)
{
	caller_args(a, req);
	db_arg_i64(a, page->limit + 1);
	db_arg_id(a, page->after_id);
	db_arg_text(a, page->has_key ? page->after_key : NULL);
	db_arg_text(a, page->sort);
	db_arg_text(a, q);
}

enum em_err resource_list(struct em_req *req, const struct em_args *args, json_t *body,
			  struct em_reply *reply)
{
	const struct em_resource *r = req->route->data;
	struct list_page page;
	const char *filters[LIST_MAX_FILTERS];
	struct db_args a;
	const char *q;
	PGresult *res;
	enum em_err rc;

	(void)args;
	(void)body;
	/* Collect every parameter error before answering. */
	if ((rc = list_page_parse(req, reply, &page)) != EM_OK && rc != EM_EINVAL)
		return rc;
	q = list_search_parse(req, reply);
	list_filters_parse(req, reply, r->filters, r->nfilters, filters);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid list parameters");
	list_args(&a, req, &page, q);
	for (size_t i = 0; i < r->nfilters && i < LIST_MAX_FILTERS; i++)
		db_arg_text(&a, filters[i]);
	if ((rc = db_exec_args_custom(req->db, r->list, &a, &res)) != EM_OK)
		return rc;
	rc = list_reply(reply, res, &page, NULL);
	PQclear(res);
	return rc;
}

enum em_err id_list_reply(struct em_req *req, struct em_reply *reply, const struct db_stmt *visible,
			  const struct db_stmt *st, int64_t id, const char *what,
			  const char *sort_why)
{
	struct list_page page;
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	if ((rc = list_page_parse(req, reply, &page)) != EM_OK && rc != EM_EINVAL)
		return rc;
	if (strcmp(page.sort, "id") != 0)
		reply_field_error(reply, "sort", "%s", sort_why);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid list parameters");
	if ((rc = resource_visible(req, reply, visible, id, what)) != EM_OK)
		return rc;
	caller_args(&a, req);
	db_arg_i64(&a, id);
	db_arg_id(&a, page.after_id);
	db_arg_i64(&a, page.limit + 1);
	if ((rc = db_exec_args(req->db, st, &a, &res)) != EM_OK)
		return rc;
	rc = list_reply(reply, res, &page, NULL);
	PQclear(res);
	return rc;
}

enum em_err whole_list_reply(struct em_req *req, const struct db_stmt *st, int64_t id,
			     const char *what, struct em_reply *reply)
{
	struct sbuf b = {0};
	PGresult *res;
	enum em_err rc;

	if ((rc = resource_find(req, reply, st, id, what, &res)) != EM_OK)
		return rc;
	sb_str(&b, "{\"items\":");
	sb_str(&b, PQgetvalue(res, 0, 0));
	sb_str(&b, ",\"next\":null}");
	PQclear(res);
	return sb_reply(&b, reply, "application/json");
}
