/*
 * dispatch.c — the request pipeline between reading a request and answering
 * it: every cross-cutting check (route, method, body size, the login rate of
 * the address, token, role, charset, Accept, the JSON body) runs here, in
 * that order, before the route's handler; then the handler, on the read
 * replica when its route may use one.
 */
#include <string.h>
#include <strings.h>

#include "effmon/auth.h"
#include "effmon/db.h"
#include "effmon/log.h"
#include "effmon/media.h"
#include "effmon/negotiate.h"
#include "effmon/replica.h"
#include "server_int.h"

static const char *lookup(void *conn, enum em_value_kind kind, const char *name)
{
	return MHD_lookup_connection_value(
		conn, kind == EM_HEADER ? MHD_HEADER_KIND : MHD_GET_ARGUMENT_KIND, name);
}

static bool is_json_type(const char *ct)
{
	size_t n = strlen("application/json");
	if (!ct || strncasecmp(ct, "application/json", n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Parses the body of a JSON route; NULL and an error in reply on failure. */
static enum em_err parse_body(struct MHD_Connection *conn, struct req_ctx *ctx,
			      struct em_reply *reply, json_t **out)
{
	json_error_t jerr;
	json_t *body;

	if (ctx->body.len == 0)
		return reply_fail(reply, EM_EBADREQ, "a JSON object body is required");
	if (!is_json_type(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_CONTENT_TYPE)))
		return reply_fail(reply, EM_EMEDIATYPE, "the body must be application/json");
	body = json_loadb(ctx->body.p, ctx->body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!body)
		return reply_fail(reply, EM_EBADREQ, "malformed JSON at line %d, column %d: %s",
				  jerr.line, jerr.column, jerr.text);
	if (!json_is_object(body)) {
		json_decref(body);
		return reply_fail(reply, EM_EBADREQ, "the body must be a JSON object");
	}
	*out = body;
	return EM_OK;
}

/* Runs the handler; a ROUTE_READ_REPLICA route's on the read replica when it
 * may be used (effmon/replica.h). The bearer check before has used the
 * primary's connection (the user cache trusts only a listening one). A
 * failure on the replica that would be a 5xx (connection lost, a statement
 * cancelled by recovery, a write refused) runs the handler once more on the
 * primary: these handlers only read, so running one twice changes nothing. */
static enum em_err run_handler(const struct em_route *route, struct em_req *req,
			       const struct em_args *args, json_t *body, struct em_reply *reply)
{
	struct db_conn *primary = req->db, *read;
	enum em_err rc;

	if (!(route->flags & ROUTE_READ_REPLICA) || !primary || !(read = replica_for_read()))
		return route->handler(req, args, body, reply);
	req->db = read;
	db_request_begin(read);
	rc = route->handler(req, args, body, reply);
	db_request_end(read);
	req->db = primary;
	if (rc != EM_EUNAVAILABLE && rc != EM_ERETRY && rc != EM_EDB && rc != EM_EINTERNAL) {
		replica_count_served();
		return rc;
	}
	log_msg(EM_LOG_INFO, req->request_id,
		"read replica failed (%s); answering from the primary", em_err_name(rc));
	replica_count_bypass(REPLICA_BYPASS_ERROR);
	reply_clear(reply);
	return route->handler(req, args, body, reply);
}

/* The answers known before the caller is: no route, a preflight, a wrong
 * method, a body over the cap, an address locked out of logins. True when one
 * of them is the answer (*rc set; a preflight is EM_OK with 204). */
static bool answered_by_route(struct em_server *s, struct MHD_Connection *conn,
			      const struct req_ctx *ctx, const char *method, struct em_reply *reply,
			      enum em_err *rc)
{
	if (ctx->match == ROUTER_NOT_FOUND) {
		*rc = reply_fail(reply, EM_ENOTFOUND, "no resource at this path");
		return true;
	}
	if (strcmp(method, "OPTIONS") == 0) {
		reply->status = 204;
		*rc = EM_OK;
		return true;
	}
	if (ctx->match == ROUTER_METHOD_NOT_ALLOWED) {
		*rc = reply_fail(reply, EM_EMETHOD, "%s is not allowed here; allowed: %s",
				 server_known_method(method), ctx->allow);
		return true;
	}
	if (ctx->too_large) {
		*rc = reply_fail(reply, EM_ETOOLARGE, "the body is larger than %zu bytes",
				 ctx->limit);
		return true;
	}
	if (ctx->route->handler == auth_token_handler &&
	    (reply->retry_after = server_login_wait(s, conn)) > 0) {
		*rc = reply_fail(
			reply, EM_ERATELIMIT,
			"too many failed logins from this address: try again in %ld seconds",
			reply->retry_after);
		return true;
	}
	return false;
}

/* The bearer token and the route's roles (a public route needs neither). */
static enum em_err check_caller(struct MHD_Connection *conn, struct req_ctx *ctx,
				struct em_req *req, struct em_reply *reply)
{
	const char *authorization, *why = NULL;
	enum em_err rc;

	if (ctx->route->roles == EM_ROLES_PUBLIC)
		return EM_OK;
	authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	rc = auth_authenticate(req, authorization, &why);
	if (rc == EM_EUNAUTH) {
		ctx->invalid_token = authorization != NULL;
		log_msg(EM_LOG_INFO, ctx->request_id, "token refused: %s", why);
		return reply_fail(reply, EM_EUNAUTH, "%s",
				  ctx->invalid_token ? "the bearer token is invalid"
						     : "a bearer token is required");
	}
	if (rc != EM_OK)
		return rc;
	ctx->user_id = req->caller.user_id;
	if (!(ctx->route->roles & (unsigned)req->caller.role))
		return reply_fail(reply, EM_EFORBIDDEN, "the role %s may not do this",
				  em_role_name(req->caller.role));
	return EM_OK;
}

/* What the request sends and accepts: a UTF-8 body, an Accept that a
 * JSON-only route can meet, and a JSON object where the route wants one. */
static enum em_err check_media(struct MHD_Connection *conn, struct req_ctx *ctx,
			       const struct em_req *req, const char *url, struct em_reply *reply,
			       json_t **body)
{
	char charset[40];

	if (ctx->body.len > 0 &&
	    !media_charset_is_utf8(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							       MHD_HTTP_HEADER_CONTENT_TYPE),
				   charset, sizeof(charset)))
		return reply_fail(reply, EM_EMEDIATYPE,
				  "bodies are UTF-8: the charset %s is not accepted", charset);
	/* A route that gives only JSON refuses an Accept that excludes it; the
	 * routes giving more negotiate in their handlers. */
	if (!(ctx->route->flags & ROUTE_NEGOTIATES) && strncmp(url, "/api/v1/", 8) == 0 &&
	    strcmp(url, "/api/v1/openapi.yaml") != 0) {
		static const enum em_format JSON_ONLY[] = {EM_FMT_JSON};
		if (negotiate_accept(req_header(req, "Accept"), JSON_ONLY, 1) < 0)
			return reply_fail(reply, EM_ENOTACCEPTABLE,
					  "this resource is available as application/json");
	}
	if (ctx->route->flags & ROUTE_JSON_BODY)
		return parse_body(conn, ctx, reply, body);
	return EM_OK;
}

/* The checks that need the route and the caller, then the handler. */
static enum em_err run_route(struct em_server *s, struct MHD_Connection *conn, struct req_ctx *ctx,
			     const char *url, struct em_req *req, struct em_reply *reply,
			     json_t **body)
{
	enum em_err rc;

	if (!(ctx->route->flags & ROUTE_NO_DB)) {
		req->db = db_thread_conn();
		if (!req->db)
			return EM_EINTERNAL;
		db_request_begin(req->db);
	}
	if ((rc = check_caller(conn, ctx, req, reply)) != EM_OK)
		return rc;
	if ((rc = check_media(conn, ctx, req, url, reply, body)) != EM_OK)
		return rc;
	rc = run_handler(ctx->route, req, &ctx->args, *body, reply);
	if (rc == EM_EUNAUTH && ctx->route->handler == auth_token_handler)
		server_login_failed(s, conn);
	return rc;
}

enum MHD_Result server_dispatch(struct em_server *s, struct MHD_Connection *conn,
				struct req_ctx *ctx, const char *method, const char *url)
{
	struct em_reply reply;
	struct em_req req = {0};
	json_t *body = NULL;
	enum em_err rc = EM_OK;
	enum MHD_Result ret;

	reply_init(&reply);
	req.method = strcmp(method, "HEAD") == 0 ? "GET" : method;
	req.path = url;
	req.route = ctx->route;
	req.request_id = ctx->request_id;
	req.cfg = s->cfg;
	req.lookup = lookup;
	req.lookup_ctx = conn;
	req.body = ctx->body.p;
	req.body_len = ctx->body.len;

	if (!answered_by_route(s, conn, ctx, method, &reply, &rc))
		rc = run_route(s, conn, ctx, url, &req, &reply, &body);
	if (rc == EM_EUNAVAILABLE || rc == EM_ERETRY) {
		if (!reply.detail[0])
			reply_fail(&reply, rc, "the database is unavailable; retry later");
		if (reply.retry_after <= 0)
			reply.retry_after = 1;
	}
	if (req.db)
		db_request_end(req.db);
	ret = server_send_reply(s, conn, ctx, method, &reply, rc);
	json_decref(body);
	reply_clear(&reply);
	return ret;
}
