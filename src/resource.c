/*
 * resource.c — generic get, create and update over a resource descriptor
 * (include/effmon/resource.h), and the pieces resource-specific handlers
 * share: the caller's parameters, the lock and its If-Match, ETags, the
 * create and update runners (the lists: resource_list.c; Idempotency-Key:
 * idempotency.c; constraint names turned into field errors: constraints.c).
 */
#include "effmon/resource.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/conditional.h"
#include "effmon/log.h"
#include "effmon/router.h"

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

enum em_err resource_find(struct em_req *req, struct em_reply *reply, const struct db_stmt *get,
			  int64_t id, const char *entity, PGresult **out)
{
	enum em_err rc = resource_fetch(req, get, id, out);

	if (rc == EM_ENOTFOUND)
		return reply_fail(reply, rc, "no %s %lld", entity, (long long)id);
	return rc;
}

enum em_err resource_visible(struct em_req *req, struct em_reply *reply, const struct db_stmt *st,
			     int64_t id, const char *what)
{
	PGresult *res;
	enum em_err rc = resource_find(req, reply, st, id, what, &res);

	if (rc == EM_OK)
		PQclear(res);
	return rc;
}

enum em_err reply_changed(struct em_reply *reply, const char *entity, const char *version)
{
	return reply_fail(reply, EM_EPRECOND, "the %s has changed: its ETag is now \"%s\"", entity,
			  version);
}

enum em_err resource_lock(struct em_req *req, struct em_reply *reply, const struct db_stmt *lock,
			  int64_t id, long version, const char *entity, PGresult **out)
{
	PGresult *res;
	enum em_err rc = resource_find(req, reply, lock, id, entity, &res);

	if (rc != EM_OK)
		return rc;
	if (atol(PQgetvalue(res, 0, 0)) != version) {
		rc = reply_changed(reply, entity, PQgetvalue(res, 0, 0));
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

/* --- The generic handlers ---------------------------------------------------------- */

enum em_err resource_get(struct em_req *req, const struct em_args *args, json_t *body,
			 struct em_reply *reply)
{
	const struct em_resource *r = descriptor(req);
	PGresult *res;
	enum em_err rc;

	(void)body;
	rc = resource_find(req, reply, r->get, args->id[args->n - 1], r->entity, &res);
	if (rc != EM_OK)
		return rc;
	reply_row(req, reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	return EM_OK;
}

bool resource_valid(const struct em_resource *r, const json_t *body, bool creating,
		    struct em_reply *reply)
{
	validate_object(body, creating ? r->create_fields : r->update_fields,
			creating ? r->ncreate : r->nupdate, reply);
	if (r->check)
		r->check(body, creating, reply);
	return !reply->errors;
}

enum em_err change_check(struct em_reply *reply, const json_t *body, const char *entity)
{
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the change to the %s is not valid", entity);
	if (json_object_size(body) == 0)
		return reply_fail(reply, EM_EINVAL, "the body names no field to change");
	return EM_OK;
}

enum em_err write_reply(struct em_req *req, struct em_reply *reply, unsigned status,
			const struct db_stmt *st, const struct db_args *a)
{
	PGresult *res;
	enum em_err rc;

	if ((rc = db_exec_args(req->db, st, a, &res)) != EM_OK)
		return map_constraint(req, rc, reply);
	if (PQntuples(res) == 0) {
		PQclear(res);
		return EM_ENOTFOUND;
	}
	reply_row(req, reply, status, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	return EM_OK;
}

enum em_err body_tx(struct em_req *req, json_t *body, const char **text, db_tx_fn fn, void *ctx)
{
	char *own = NULL;
	enum em_err rc;

	if (!*text && !(*text = own = json_dumps(body, JSON_COMPACT)))
		return EM_EINTERNAL;
	rc = db_tx(req->db, fn, ctx);
	if (own)
		*text = NULL;
	free(own);
	return rc;
}

static enum em_err scope_refused(struct em_reply *reply, const char *field)
{
	reply_field_error(reply, field, "no such object in your scope");
	return reply_fail(reply, EM_EINVAL, "%s: no such object in your scope", field);
}

static enum em_err create_tx(struct db_conn *db, void *arg)
{
	struct create_run *c = arg;
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
	if (c->push && (rc = c->push(c, &a)) != EM_OK)
		return rc;
	if (!c->push) {
		db_arg_text(&a, c->body_text);
		db_arg_i64(&a, req->caller.user_id);
		db_arg_text(&a, req->request_id);
	}
	if ((rc = db_exec_args(req->db, c->st, &a, &res)) != EM_OK)
		return map_constraint(req, rc, c->reply);
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 1)) {
		rc = c->refused ? c->refused(c, res) : scope_refused(c->reply, c->scope_field);
		PQclear(res);
		return rc;
	}
	snprintf(location, sizeof(location), "%s/%s", c->path, PQgetvalue(res, 0, 1));
	reply_row(req, c->reply, 201, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2));
	reply_header(c->reply, "Location", location);
	rc = idem_finish(req, &idem, c->reply);
	PQclear(res);
	return rc;
}

enum em_err create_run(struct create_run *c)
{
	return body_tx(c->req, c->body, &c->body_text, create_tx, c);
}

enum em_err resource_create(struct em_req *req, const struct em_args *args, json_t *body,
			    struct em_reply *reply)
{
	const struct em_resource *r = descriptor(req);
	struct create_run c = {.req = req,
			       .reply = reply,
			       .body = body,
			       .st = r->create,
			       .path = r->path,
			       .scope_field = r->scope_field};

	(void)args;
	if (!resource_valid(r, body, true, reply))
		return reply_fail(reply, EM_EINVAL, "the %s is not valid", r->entity);
	return create_run(&c);
}

static enum em_err update_tx(struct db_conn *db, void *arg)
{
	struct update_run *u = arg;
	struct em_req *req = u->req;
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	(void)db;
	reply_clear(u->reply);
	if (u->check && (rc = u->check(u)) != EM_OK)
		return rc;
	caller_args(&a, req);
	db_arg_i64(&a, u->id);
	db_arg_text(&a, u->body_text);
	db_arg_i64(&a, u->version);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	if (u->push)
		u->push(u, &a);
	rc = write_reply(req, u->reply, 200, u->st, &a);
	if (rc != EM_ENOTFOUND)
		return rc;
	/* Nothing changed: the row is not visible, or not of the If-Match version. */
	if ((rc = resource_find(req, u->reply, u->get, u->id, u->entity, &res)) != EM_OK)
		return rc;
	rc = reply_changed(u->reply, u->entity, PQgetvalue(res, 0, 1));
	PQclear(res);
	return rc;
}

enum em_err update_run(struct update_run *u)
{
	return body_tx(u->req, u->body, &u->body_text, update_tx, u);
}

enum em_err resource_update(struct em_req *req, const struct em_args *args, json_t *body,
			    struct em_reply *reply)
{
	const struct em_resource *r = descriptor(req);
	struct update_run u = {.req = req,
			       .reply = reply,
			       .id = args->id[args->n - 1],
			       .body = body,
			       .st = r->update,
			       .get = r->get,
			       .entity = r->entity};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &u.version)) != EM_OK)
		return rc;
	resource_valid(r, body, false, reply);
	if ((rc = change_check(reply, body, r->entity)) != EM_OK)
		return rc;
	return update_run(&u);
}

enum em_err document_get(struct em_req *req, struct em_reply *reply, const struct db_stmt *st,
			 int64_t id, const char *what)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	caller_args(&a, req);
	db_arg_i64(&a, id);
	if ((rc = db_exec_args(req->db, st, &a, &res)) != EM_OK)
		return rc;
	return document_reply(reply, res, what, id);
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
