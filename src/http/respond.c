/*
 * respond.c — the way out of a request: the body of the answer (the reply's
 * JSON, text or problem+json), its headers (request id, Retry-After, Allow,
 * WWW-Authenticate, CORS), queueing it with libmicrohttpd, and the request's
 * metrics and access line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/log.h"
#include "effmon/metrics.h"
#include "server_int.h"

static const char *CORS_ALLOW_HEADERS =
	"Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id";
static const char *CORS_EXPOSE_HEADERS = "ETag, Location, Retry-After, X-Request-Id";

/* The bytes of an answer and how libmicrohttpd is to treat them. */
struct out_body {
	unsigned status;
	char *buf;
	size_t len;
	enum MHD_ResponseMemoryMode mode;
	const char *ctype;
};

const char *server_known_method(const char *m)
{
	static const char *const METHODS[] = {"GET",   "HEAD",   "POST",   "PUT",
					      "PATCH", "DELETE", "OPTIONS"};
	for (size_t i = 0; i < sizeof(METHODS) / sizeof(METHODS[0]); i++)
		if (strcmp(m, METHODS[i]) == 0)
			return METHODS[i];
	return "OTHER";
}

long server_usec_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000000L + (now.tv_nsec - t->tv_nsec) / 1000;
}

static const char *allowed_origin(const struct em_server *s, struct MHD_Connection *conn)
{
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	for (int i = 0; origin && i < s->norigins; i++)
		if (strcmp(origin, s->origins[i]) == 0)
			return s->origins[i];
	return NULL;
}

static void add_header(struct MHD_Response *r, const char *name, const char *value)
{
	if (MHD_add_response_header(r, name, value) != MHD_YES)
		log_warning("cannot add response header %s", name);
}

/* The problem+json of a failed request (a fixed 500 when it cannot be built). */
static void problem_body(struct req_ctx *ctx, const char *method, struct em_reply *reply,
			 enum em_err rc, struct out_body *o)
{
	json_t *p = reply_problem(reply, rc, ctx->request_id);

	o->status = err_status(rc);
	o->buf = p ? json_dumps(p, JSON_COMPACT) : NULL;
	json_decref(p);
	if (!o->buf) {
		static const char FALLBACK[] =
			"{\"type\":\"/problems/internal\",\"title\":\"Internal error\","
			"\"status\":500}";
		o->status = 500;
		o->buf = strdup(FALLBACK);
	}
	o->len = o->buf ? strlen(o->buf) : 0;
	o->mode = MHD_RESPMEM_MUST_FREE;
	o->ctype = "application/problem+json";
	if (rc >= EM_EINTERNAL && rc <= EM_EDB)
		log_msg(EM_LOG_ERROR, ctx->request_id, "%s %s failed: %s", method,
			ctx->route ? ctx->route->pattern : "-", reply->detail);
}

/* The body of a successful request: its JSON, its text (taken over), or its static text. */
static void success_body(struct em_reply *reply, struct out_body *o)
{
	o->status = reply->status ? reply->status : 200;
	if (reply->json) {
		o->buf = json_dumps(reply->json, JSON_COMPACT);
		o->len = o->buf ? strlen(o->buf) : 0;
		o->mode = MHD_RESPMEM_MUST_FREE;
		o->ctype = "application/json";
	} else if (reply->text) {
		o->buf = reply->text;
		reply->text = NULL;
		o->len = reply->text_len;
		o->mode = MHD_RESPMEM_MUST_FREE;
		o->ctype = reply->content_type;
	} else if (reply->text_static) {
		o->buf = (char *)reply->text_static;
		o->len = reply->text_len;
		o->ctype = reply->content_type;
	}
}

/* CORS: only for a configured origin; a preflight (OPTIONS) also gets the
 * methods and headers it may use. */
static void add_cors_headers(struct em_server *s, struct MHD_Connection *conn,
			     const struct req_ctx *ctx, const char *method,
			     struct MHD_Response *resp)
{
	const char *origin;

	if (s->norigins == 0)
		return;
	add_header(resp, "Vary", "Origin");
	if (!(origin = allowed_origin(s, conn)))
		return;
	add_header(resp, "Access-Control-Allow-Origin", origin);
	add_header(resp, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
	if (strcmp(method, "OPTIONS") == 0) {
		add_header(resp, "Access-Control-Allow-Methods", ctx->allow);
		add_header(resp, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
		add_header(resp, "Access-Control-Max-Age", "600");
	}
}

static void add_headers(struct em_server *s, struct MHD_Connection *conn, const struct req_ctx *ctx,
			const char *method, struct em_reply *reply, const struct out_body *o,
			struct MHD_Response *resp)
{
	char num[24];

	if (o->ctype)
		add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, o->ctype);
	add_header(resp, "X-Request-Id", ctx->request_id);
	for (int i = 0; i < reply->nheaders; i++)
		add_header(resp, reply->headers[i].name, reply->headers[i].value);
	if ((o->status == 503 || o->status == 429) && reply->retry_after <= 0)
		reply->retry_after = 1;
	if (reply->retry_after > 0) {
		snprintf(num, sizeof(num), "%ld", reply->retry_after);
		add_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (o->status == 405 || (o->status == 204 && strcmp(method, "OPTIONS") == 0))
		add_header(resp, MHD_HTTP_HEADER_ALLOW, ctx->allow);
	if (o->status == 401)
		add_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			   ctx->invalid_token ? "Bearer realm=\"effmon\", error=\"invalid_token\""
					      : "Bearer realm=\"effmon\"");
	add_cors_headers(s, conn, ctx, method, resp);
}

/* The request's metrics and its one access line. */
static void log_request(struct em_server *s, struct MHD_Connection *conn, const struct req_ctx *ctx,
			const char *method, unsigned status)
{
	struct log_access_fields a = {
		.method = server_known_method(method),
		.route = ctx->route ? ctx->route->pattern : "-",
		.request_id = ctx->request_id,
		.status = status,
		.usec = server_usec_since(&ctx->start),
		.user_id = ctx->user_id,
	};
	server_client_address(s, conn, a.client, sizeof(a.client));
	metrics_observe(ctx->route ? route_index(ctx->route) : NROUTES, status, a.usec);
	log_access(&a);
}

enum MHD_Result server_send_reply(struct em_server *s, struct MHD_Connection *conn,
				  struct req_ctx *ctx, const char *method, struct em_reply *reply,
				  enum em_err rc)
{
	struct out_body o = {.mode = MHD_RESPMEM_PERSISTENT};
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (rc != EM_OK)
		problem_body(ctx, method, reply, rc, &o);
	else
		success_body(reply, &o);

	resp = MHD_create_response_from_buffer(o.len, o.buf ? o.buf : (char *)"",
					       o.buf ? o.mode : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (o.mode == MHD_RESPMEM_MUST_FREE)
			free(o.buf);
		return MHD_NO;
	}
	add_headers(s, conn, ctx, method, reply, &o, resp);
	ret = MHD_queue_response(conn, o.status, resp);
	MHD_destroy_response(resp);
	log_request(s, conn, ctx, method, o.status);
	return ret;
}
