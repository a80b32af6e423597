/*
 * resource.c — generic get, list, create and update over a resource
 * descriptor (include/effmon/resource.h), and the pieces resource-specific
 * handlers share: scope parameters, ETag and If-Match, keyset pagination, and
 * constraint names turned into field errors (Idempotency-Key: idempotency.c).
 */
#include "effmon/resource.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "effmon/conditional.h"
#include "effmon/log.h"
#include "effmon/router.h"
#include "effmon/sbuf.h"

void caller_args(struct db_args *a, const struct em_req *req)
{
	db_args_init(a);
	db_arg_text(a, em_role_name(req->caller.role));
	db_arg_id(a, req->caller.user_id);
	db_arg_id(a, req->caller.region_id);
	db_arg_id(a, req->caller.municipality_id);
	db_arg_id(a, req->caller.organization_id);
	db_arg_id(a, req->caller.manager_id);
}

static const struct em_resource *descriptor(const struct em_req *req)
{
	return req->route->data;
}

enum em_err resource_fetch(struct em_req *req, const struct db_stmt *get, int64_t id,
			   PGresult **out)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	caller_args(&a, req);
	db_arg_i64(&a, id);
	if ((rc = db_exec_args(req->db, get, &a, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return EM_ENOTFOUND;
	}
	*out = res;
	return EM_OK;
}

enum em_err resource_lock(struct em_req *req, struct em_reply *reply, const struct db_stmt *lock,
			  int64_t id, long version, const char *entity, PGresult **out)
{
	PGresult *res;
	enum em_err rc = resource_fetch(req, lock, id, &res);

	if (rc == EM_ENOTFOUND)
		return reply_fail(reply, rc, "no %s %lld", entity, (long long)id);
	if (rc != EM_OK)
		return rc;
	if (atol(PQgetvalue(res, 0, 0)) != version) {
		rc = reply_fail(reply, EM_EPRECOND, "the %s has changed: its ETag is now \"%s\"",
				entity, PQgetvalue(res, 0, 0));
		PQclear(res);
		return rc;
	}
	*out = res;
	return EM_OK;
}

void reply_row(struct em_req *req, struct em_reply *reply, unsigned status, const char *json,
	       const char *version)
{
	char etag[40];

	snprintf(etag, sizeof(etag), "\"%s\"", version);
	reply_header(reply, "ETag", etag);
	reply_header(reply, "Cache-Control", "private, no-cache");
	if (status == 200 && strcmp(req->method, "GET") == 0 &&
	    etag_list_match(req_header(req, "If-None-Match"), etag, false) == ETAG_MATCHES) {
		reply->status = 304;
		return;
	}
	reply->status = status;
	reply->text = strdup(json);
	reply->text_len = reply->text ? strlen(reply->text) : 0;
	reply->content_type = "application/json";
}

/* A version ETag of this API, "N" with N in 1..INT32_MAX; 0 if tag is not one. */
static long etag_version(const char *opaque, size_t len)
{
	char *end;
	long v;

	if (len < 3 || opaque[0] != '"' || opaque[1] < '1' || opaque[1] > '9')
		return 0;
	errno = 0;
	v = strtol(opaque + 1, &end, 10);
	/* Versions are int in the database: anything larger cannot match. */
	if (errno || v <= 0 || v > INT32_MAX || end != opaque + len - 1)
		return 0;
	return v;
}

/*
 * The current ETag of the object a write is about, read by running the GET
 * route of its path (the write's path up to its first {id}) as this caller:
 * the read is scope-checked like every GET, so an object the caller cannot
 * see has no ETag here, just as if it did not exist.
 */
static bool object_etag(struct em_req *req, char *out, size_t outlen)
{
	const char *brace = strchr(req->route->pattern, '{');
	const char *p = req->path;
	char path[256], allow[80];
	const struct em_route *get = NULL;
	struct em_args args;
	struct em_reply tmp;
	struct em_req sub;
	bool found = false;
	int segments = 0;
	size_t len;

	if (!brace)
		return false;
	for (const char *c = req->route->pattern; c <= brace; c++)
		segments += *c == '/';
	while (*p && segments > 0)
		if (*++p == '/' || *p == '\0')
			segments--;
	len = (size_t)(p - req->path);
	if (len >= sizeof(path))
		return false;
	memcpy(path, req->path, len);
	path[len] = '\0';
	if (router_match("GET", path, &get, &args, allow, sizeof(allow)) != ROUTER_FOUND ||
	    !get->handler ||
	    (get->roles != EM_ROLES_PUBLIC && !(get->roles & (unsigned)req->caller.role)))
		return false;
	sub = *req;
	sub.method = "GET";
	sub.path = path;
	sub.route = get;
	reply_init(&tmp);
	if (get->handler(&sub, &args, NULL, &tmp) == EM_OK) {
		const char *tag = reply_header_get(&tmp, "ETag");
		if (tag && strlen(tag) < outlen) {
			strcpy(out, tag);
			found = true;
		}
	}
	reply_clear(&tmp);
	return found;
}

enum em_err require_if_match(struct em_req *req, struct em_reply *reply, long *version)
{
	const char *im = req_header(req, "If-Match");
	const char *p = im;
	struct etag_ref first, next;
	char current[64];

	if (!im)
		return reply_fail(reply, EM_EPRECONDREQ,
				  "send If-Match with the ETag of the object you read");
	if (!etag_list_is_any(im)) {
		if (etag_list_match(im, "\"0\"", true) == ETAG_LIST_MALFORMED)
			return reply_fail(reply, EM_EPRECOND,
					  "If-Match %s is not an ETag or a list of ETags", im);
		if (etag_list_next(&p, &first) != ETAG_TAG)
			return reply_fail(reply, EM_EPRECOND,
					  "If-Match %s is not an ETag of this API", im);
		if (etag_list_next(&p, &next) == ETAG_END) {
			/* One tag, the usual case: the handler compares its version. */
			if (first.weak)
				return reply_fail(reply, EM_EPRECOND,
						  "If-Match compares strongly: the weak ETag %s "
						  "never matches",
						  im);
			if (!(*version = etag_version(first.opaque, first.len)))
				return reply_fail(reply, EM_EPRECOND,
						  "If-Match %s is not an ETag of this API", im);
			return EM_OK;
		}
	}
	/*
	 * "*" or a list: which version would match is known only from the
	 * current one. The handler then checks that version under its lock, so
	 * a change in between answers 412 like any other concurrent change.
	 * Version 0 matches nothing: the handler answers 404 for an object it
	 * cannot see and 412 for one whose ETag is not in the list.
	 */
	*version = 0;
	if (object_etag(req, current, sizeof(current)) &&
	    etag_list_match(im, current, true) == ETAG_MATCHES) {
		p = current;
		if (etag_list_next(&p, &first) == ETAG_TAG)
			*version = etag_version(first.opaque, first.len);
	}
	return EM_OK;
}

enum em_err map_constraint(const struct em_req *req, const struct constraint_map *map,
			   enum em_err err, struct em_reply *reply)
{
	const char *name = db_last_constraint(req->db);

	for (; map && map->constraint; map++)
		if (strcmp(map->constraint, name) == 0) {
			reply_field_error(reply, map->field, "%s", map->message);
			return reply_fail(reply, map->err, "%s: %s", map->field, map->message);
		}
	if (err == EM_ECONFLICT)
		return reply_fail(reply, err, "conflicts with an existing object (%s)", name);
	if (err == EM_EINVAL)
		return reply_fail(reply, err, "the database refused a value (%s)",
				  name[0] ? name : db_last_sqlstate(req->db));
	return err;
}

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
		reply_field_error(reply, "limit", "must be an integer from 1 to %d", LIST_MAX_LIMIT);
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

enum em_err list_page_parse(struct em_req *req, struct em_reply *reply, struct list_page *page)
{
	const char *cursor = req_query(req, "cursor");
	const char *sort = req_query(req, "sort");
	unsigned char raw[LIST_MAX_KEY + 64];
	const char *key;

	memset(page, 0, sizeof(*page));
	page->limit = list_limit_parse(req, reply, LIST_DEFAULT_LIMIT);
	page->sort = "id";
	if (sort) {
		if (strcmp(sort, "id") == 0 || strcmp(sort, "name") == 0)
			page->sort = strcmp(sort, "id") == 0 ? "id" : "name";
		else
			reply_field_error(reply, "sort", "must be one of: id, name");
	}
	if (cursor) {
		/* A cursor is base64url("sort\nid\nkey"). */
		if (!(key = list_cursor_decode(cursor, page->sort, &page->after_id, raw)))
			goto bad_cursor;
		snprintf(page->after_key, sizeof(page->after_key), "%s", key);
		page->has_key = strcmp(page->sort, "name") == 0;
	}
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid list parameters");
	return EM_OK;
bad_cursor:
	reply_field_error(reply, "cursor", "is not a cursor of this list and sort");
	return reply_fail(reply, EM_EINVAL, "invalid list parameters");
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
	if (b.failed) {
		free(b.p);
		return EM_EINTERNAL;
	}
	reply->status = 200;
	reply->text = b.p;
	reply->text_len = b.len;
	reply->content_type = "application/json";
	return EM_OK;
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

/* --- The generic handlers ---------------------------------------------------------- */

enum em_err resource_get(struct em_req *req, const struct em_args *args, json_t *body,
			 struct em_reply *reply)
{
	const struct em_resource *r = descriptor(req);
	PGresult *res;
	enum em_err rc;

	(void)body;
	rc = resource_fetch(req, r->get, args->id[args->n - 1], &res);
	if (rc == EM_ENOTFOUND)
		return reply_fail(reply, rc, "no %s %lld", r->entity,
				  (long long)args->id[args->n - 1]);
	if (rc != EM_OK)
		return rc;
	reply_row(req, reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	return EM_OK;
}

enum em_err resource_list(struct em_req *req, const struct em_args *args, json_t *body,
			  struct em_reply *reply)
{
	const struct em_resource *r = descriptor(req);
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

struct create_ctx {
	struct em_req *req;
	const struct em_resource *r;
	json_t *body;
	const char *body_text;
	struct em_reply *reply;
};

static enum em_err create_tx(struct db_conn *db, void *arg)
{
	struct create_ctx *c = arg;
	struct em_req *req = c->req;
	struct idem idem;
	char location[160];
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	(void)db;
	reply_clear(c->reply);
	if ((rc = idem_begin(req, c->body, &idem, c->reply)) != EM_OK || idem.replayed)
		return rc;
	caller_args(&a, req);
	db_arg_text(&a, c->body_text);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	if ((rc = db_exec_args(req->db, c->r->create, &a, &res)) != EM_OK)
		return map_constraint(req, c->r->constraints, rc, c->reply);
	if (PQntuples(res) == 0) {
		PQclear(res);
		reply_field_error(c->reply, c->r->scope_field, "no such object in your scope");
		return reply_fail(c->reply, EM_EINVAL, "%s: no such object in your scope",
				  c->r->scope_field);
	}
	snprintf(location, sizeof(location), "%s/%s", c->r->path, PQgetvalue(res, 0, 1));
	reply_row(req, c->reply, 201, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2));
	reply_header(c->reply, "Location", location);
	rc = idem_finish(req, &idem, c->reply);
	PQclear(res);
	return rc;
}

enum em_err resource_create(struct em_req *req, const struct em_args *args, json_t *body,
			    struct em_reply *reply)
{
	const struct em_resource *r = descriptor(req);
	struct create_ctx c = {req, r, body, NULL, reply};
	enum em_err rc;
	char *text;

	(void)args;
	validate_object(body, r->create_fields, r->ncreate, reply);
	if (r->check)
		r->check(body, true, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the %s is not valid", r->entity);
	if (!(text = json_dumps(body, JSON_COMPACT)))
		return EM_EINTERNAL;
	c.body_text = text;
	rc = db_tx(req->db, create_tx, &c);
	free(text);
	return rc;
}

struct update_ctx {
	struct em_req *req;
	const struct em_resource *r;
	int64_t id;
	const char *body_text;
	long version;
	struct em_reply *reply;
};

static enum em_err update_tx(struct db_conn *db, void *arg)
{
	struct update_ctx *c = arg;
	struct em_req *req = c->req;
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	(void)db;
	caller_args(&a, req);
	db_arg_i64(&a, c->id);
	db_arg_text(&a, c->body_text);
	db_arg_i64(&a, c->version);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	if ((rc = db_exec_args(req->db, c->r->update, &a, &res)) != EM_OK)
		return map_constraint(req, c->r->constraints, rc, c->reply);
	if (PQntuples(res) == 1) {
		reply_row(req, c->reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		PQclear(res);
		return EM_OK;
	}
	PQclear(res);
	rc = resource_fetch(req, c->r->get, c->id, &res);
	if (rc == EM_ENOTFOUND)
		return reply_fail(c->reply, rc, "no %s %lld", c->r->entity, (long long)c->id);
	if (rc != EM_OK)
		return rc;
	reply_fail(c->reply, EM_EPRECOND, "the %s has changed: its ETag is now \"%s\"",
		   c->r->entity, PQgetvalue(res, 0, 1));
	PQclear(res);
	return EM_EPRECOND;
}

enum em_err resource_update(struct em_req *req, const struct em_args *args, json_t *body,
			    struct em_reply *reply)
{
	const struct em_resource *r = descriptor(req);
	struct update_ctx c = {req, r, args->id[args->n - 1], NULL, 0, reply};
	enum em_err rc;
	char *text;

	if ((rc = require_if_match(req, reply, &c.version)) != EM_OK)
		return rc;
	validate_object(body, r->update_fields, r->nupdate, reply);
	if (r->check)
		r->check(body, false, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the change to the %s is not valid", r->entity);
	if (json_object_size(body) == 0)
		return reply_fail(reply, EM_EINVAL, "the body names no field to change");
	if (!(text = json_dumps(body, JSON_COMPACT)))
		return EM_EINTERNAL;
	c.body_text = text;
	rc = db_tx(req->db, update_tx, &c);
	free(text);
	return rc;
}

enum em_err document_reply(struct em_reply *reply, PGresult *res, const char *what, int64_t id)
{
	enum em_err rc;

	if (PQntuples(res) == 0)
		rc = reply_fail(reply, EM_ENOTFOUND, "no %s %lld", what, (long long)id);
	else
		rc = reply_json_copy(reply, 200, PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

enum em_err whole_list_reply(struct em_req *req, const struct db_stmt *st, int64_t id,
			     const char *what, struct em_reply *reply)
{
	struct sbuf b = {0};
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	caller_args(&a, req);
	db_arg_i64(&a, id);
	if ((rc = db_exec_args(req->db, st, &a, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return reply_fail(reply, EM_ENOTFOUND, "no %s %lld", what, (long long)id);
	}
	sb_str(&b, "{\"items\":");
	sb_str(&b, PQgetvalue(res, 0, 0));
	sb_str(&b, ",\"next\":null}");
	PQclear(res);
	return sb_reply(&b, reply, "application/json");
}
