/*
 * server.c — the libmicrohttpd side: daemon options and limits, the body
 * cap, request framing checks, CORS, request ids, and the dispatcher that
 * runs every cross-cutting check (route, method, token, role, body) before a
 * handler. Responses are queued on the final call of the access handler; a
 * request that must not have its body read (framing error, announced size
 * over the cap) is answered on the first call, which closes the connection.
 * Failed logins are also counted per client address: a spray of different
 * logins from one address gets 429 before more passwords are hashed.
 */
#include "effmon/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "effmon/auth.h"
#include "effmon/db.h"
#include "effmon/replica.h"
#include "effmon/log.h"
#include "effmon/media.h"
#include "effmon/metrics.h"
#include "effmon/negotiate.h"
#include "effmon/proxies.h"
#include "effmon/router.h"

#define MAX_ORIGINS 32
#define REQUEST_ID_MAX 64
#define ADDR_SLOTS 4096 /* client addresses with failed logins tracked at once */
#define ADDR_PROBE 8

/* Failed logins of one client address (IPv4 as v4-mapped IPv6) in a window. */
struct addr_slot {
	unsigned char addr[16];
	bool used;
	time_t since; /* start of the counting window, CLOCK_MONOTONIC seconds */
	long failures;
};

struct em_server {
	struct MHD_Daemon *mhd;
	const struct em_config *cfg;
	char *origins[MAX_ORIGINS];
	int norigins;
	atomic_long inflight;
	char id_prefix[9];
	atomic_ulong id_counter;
	pthread_mutex_t addr_lock;
	struct addr_slot *addrs; /* ADDR_SLOTS of them */
};

/* One request's state across the access handler's calls. */
struct req_ctx {
	struct timespec start;
	char request_id[REQUEST_ID_MAX + 1];
	enum router_result match;
	const struct em_route *route;
	struct em_args args;
	char allow[80];
	char *body;
	size_t len, cap, limit;
	bool too_large;
	bool invalid_token; /* a 401 for a token that was sent */
	int64_t user_id;    /* the authenticated caller, for the access line */
};

static const char *CORS_ALLOW_HEADERS =
	"Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id";
static const char *CORS_EXPOSE_HEADERS = "ETag, Location, Retry-After, X-Request-Id";

static const char *known_method(const char *m)
{
	static const char *const METHODS[] = {"GET", "HEAD", "POST", "PUT",
					      "PATCH", "DELETE", "OPTIONS"};
	for (size_t i = 0; i < sizeof(METHODS) / sizeof(METHODS[0]); i++)
		if (strcmp(m, METHODS[i]) == 0)
			return METHODS[i];
	return "OTHER";
}

static bool sane_request_id(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= REQUEST_ID_MAX ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

static long usec_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000000L + (now.tv_nsec - t->tv_nsec) / 1000;
}

static const char *lookup(void *conn, enum em_value_kind kind, const char *name)
{
	return MHD_lookup_connection_value(conn,
					   kind == EM_HEADER ? MHD_HEADER_KIND
							     : MHD_GET_ARGUMENT_KIND,
					   name);
}

/* Counts Content-Length headers and notes whether two disagree. */
struct framing {
	int content_lengths;
	bool lengths_differ;
	const char *first_length;
	bool chunked;
};

static enum MHD_Result framing_iter(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	struct framing *f = cls;
	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (f->content_lengths++ == 0)
			f->first_length = value;
		else if (strcmp(f->first_length, value ? value : "") != 0)
			f->lengths_differ = true;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0 && value &&
		   strcasestr(value, "chunked")) {
		f->chunked = true;
	}
	return MHD_YES;
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

static bool peer_key(struct MHD_Connection *conn, unsigned char key[16])
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	memset(key, 0, 16);
	if (!ci || !ci->client_addr)
		return false;
	if (ci->client_addr->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, 4);
		return true;
	}
	if (ci->client_addr->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, 16);
		return true;
	}
	return false;
}

/* The client's address: the TCP peer's, or what a trusted proxy says (proxies.c). */
static bool client_key(struct em_server *s, struct MHD_Connection *conn, unsigned char key[16])
{
	unsigned char peer[16];

	if (!peer_key(conn, peer))
		return false;
	proxies_client_conn(&s->cfg->proxies, conn, peer, key);
	return true;
}

/* The client's address as text (what client_key says), "-" when unknown. */
static void client_address(struct em_server *s, struct MHD_Connection *conn, char *out,
			   size_t outlen)
{
	static const unsigned char V4_MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	unsigned char key[16];
	bool v4;

	snprintf(out, outlen, "-");
	if (!client_key(s, conn, key))
		return;
	v4 = memcmp(key, V4_MAPPED, sizeof(V4_MAPPED)) == 0;
	if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? key + 12 : key, out, (socklen_t)outlen))
		snprintf(out, outlen, "-");
}

static enum MHD_Result send_reply(struct em_server *s, struct MHD_Connection *conn,
				  struct req_ctx *ctx, const char *method, struct em_reply *reply,
				  enum em_err rc)
{
	unsigned status;
	char *buf = NULL;
	size_t len = 0;
	enum MHD_ResponseMemoryMode mode = MHD_RESPMEM_PERSISTENT;
	const char *ctype = NULL;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	const char *origin;
	char num[24];

	if (rc != EM_OK) {
		json_t *p = reply_problem(reply, rc, ctx->request_id);
		status = err_status(rc);
		buf = p ? json_dumps(p, JSON_COMPACT) : NULL;
		json_decref(p);
		if (!buf) {
			static const char FALLBACK[] =
				"{\"type\":\"/problems/internal\",\"title\":\"Internal error\","
				"\"status\":500}";
			status = 500;
			buf = strdup(FALLBACK);
		}
		len = buf ? strlen(buf) : 0;
		mode = MHD_RESPMEM_MUST_FREE;
		ctype = "application/problem+json";
		if (rc >= EM_EINTERNAL && rc <= EM_EDB)
			log_msg(EM_LOG_ERROR, ctx->request_id, "%s %s failed: %s", method,
				ctx->route ? ctx->route->pattern : "-", reply->detail);
	} else {
		status = reply->status ? reply->status : 200;
		if (reply->json) {
			buf = json_dumps(reply->json, JSON_COMPACT);
			len = buf ? strlen(buf) : 0;
			mode = MHD_RESPMEM_MUST_FREE;
			ctype = "application/json";
		} else if (reply->text) {
			buf = reply->text;
			reply->text = NULL;
			len = reply->text_len;
			mode = MHD_RESPMEM_MUST_FREE;
			ctype = reply->content_type;
		} else if (reply->text_static) {
			buf = (char *)reply->text_static;
			len = reply->text_len;
			ctype = reply->content_type;
		}
	}

	resp = MHD_create_response_from_buffer(len, buf ? buf : (char *)"", buf ? mode
										: MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(buf);
		return MHD_NO;
	}
	if (ctype)
		add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	add_header(resp, "X-Request-Id", ctx->request_id);
	for (int i = 0; i < reply->nheaders; i++)
		add_header(resp, reply->headers[i].name, reply->headers[i].value);
	if ((status == 503 || status == 429) && reply->retry_after <= 0)
		reply->retry_after = 1;
	if (reply->retry_after > 0) {
		snprintf(num, sizeof(num), "%ld", reply->retry_after);
		add_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (status == 405 || (status == 204 && strcmp(method, "OPTIONS") == 0))
		add_header(resp, MHD_HTTP_HEADER_ALLOW, ctx->allow);
	if (status == 401)
		add_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			   ctx->invalid_token ? "Bearer realm=\"effmon\", error=\"invalid_token\""
					      : "Bearer realm=\"effmon\"");
	if (s->norigins > 0) {
		add_header(resp, "Vary", "Origin");
		if ((origin = allowed_origin(s, conn))) {
			add_header(resp, "Access-Control-Allow-Origin", origin);
			add_header(resp, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
			if (strcmp(method, "OPTIONS") == 0) {
				add_header(resp, "Access-Control-Allow-Methods", ctx->allow);
				add_header(resp, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
				add_header(resp, "Access-Control-Max-Age", "600");
			}
		}
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);

	struct log_access_fields a = {
		.method = known_method(method),
		.route = ctx->route ? ctx->route->pattern : "-",
		.request_id = ctx->request_id,
		.status = status,
		.usec = usec_since(&ctx->start),
		.user_id = ctx->user_id,
	};
	client_address(s, conn, a.client, sizeof(a.client));
	metrics_observe(ctx->route ? route_index(ctx->route) : NROUTES, status, a.usec);
	log_access(&a);
	return ret;
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

	if (ctx->len == 0)
		return reply_fail(reply, EM_EBADREQ, "a JSON object body is required");
	if (!is_json_type(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_CONTENT_TYPE)))
		return reply_fail(reply, EM_EMEDIATYPE, "the body must be application/json");
	body = json_loadb(ctx->body, ctx->len, JSON_REJECT_DUPLICATES, &jerr);
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

static time_t mono_seconds(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec;
}

/* The slot of key; with add, a free, expired or else the oldest slot of its
 * probe range is taken over. Called with addr_lock held. */
static struct addr_slot *addr_slot(struct em_server *s, const unsigned char key[16], time_t now,
				   bool add)
{
	uint32_t h = 2166136261u;
	struct addr_slot *victim = NULL;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	for (uint32_t i = 0; i < ADDR_PROBE; i++) {
		struct addr_slot *a = &s->addrs[(h + i) % ADDR_SLOTS];
		if (a->used && memcmp(a->addr, key, 16) == 0)
			return a;
		if (!victim || !a->used || (victim->used && a->since < victim->since))
			victim = a;
	}
	if (!add)
		return NULL;
	memcpy(victim->addr, key, 16);
	victim->used = true;
	victim->since = now;
	victim->failures = 0;
	return victim;
}

/* Seconds until the client's address may try logins again, 0 if it may now. */
static long login_address_locked(struct em_server *s, struct MHD_Connection *conn)
{
	unsigned char key[16];
	time_t now = mono_seconds();
	long wait = 0;
	struct addr_slot *a;

	if (s->cfg->login_ip_max_failures <= 0 || !client_key(s, conn, key))
		return 0;
	pthread_mutex_lock(&s->addr_lock);
	a = addr_slot(s, key, now, false);
	if (a && now - a->since < s->cfg->login_lock_seconds &&
	    a->failures >= s->cfg->login_ip_max_failures)
		wait = (long)(s->cfg->login_lock_seconds - (now - a->since));
	pthread_mutex_unlock(&s->addr_lock);
	return wait;
}

static void login_address_failed(struct em_server *s, struct MHD_Connection *conn)
{
	unsigned char key[16];
	time_t now = mono_seconds();
	struct addr_slot *a;

	if (s->cfg->login_ip_max_failures <= 0 || !client_key(s, conn, key))
		return;
	pthread_mutex_lock(&s->addr_lock);
	a = addr_slot(s, key, now, true);
	if (now - a->since >= s->cfg->login_lock_seconds) {
		a->since = now;
		a->failures = 0;
	}
	a->failures++;
	pthread_mutex_unlock(&s->addr_lock);
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
	log_msg(EM_LOG_INFO, req->request_id, "read replica failed (%s); answering from the primary",
		em_err_name(rc));
	replica_count_bypass(REPLICA_BYPASS_ERROR);
	reply_clear(reply);
	return route->handler(req, args, body, reply);
}

static enum MHD_Result dispatch(struct em_server *s, struct MHD_Connection *conn,
				struct req_ctx *ctx, const char *method, const char *url)
{
	struct em_reply reply;
	struct em_req req = {0};
	json_t *body = NULL;
	enum em_err rc = EM_OK;
	const char *why = NULL;
	char charset[40];
	enum MHD_Result ret;

	reply_init(&reply);
	req.method = strcmp(method, "HEAD") == 0 ? "GET" : method;
	req.path = url;
	req.route = ctx->route;
	req.request_id = ctx->request_id;
	req.cfg = s->cfg;
	req.lookup = lookup;
	req.lookup_ctx = conn;
	req.body = ctx->body;
	req.body_len = ctx->len;

	if (ctx->match == ROUTER_NOT_FOUND) {
		rc = reply_fail(&reply, EM_ENOTFOUND, "no resource at this path");
		goto out;
	}
	if (strcmp(method, "OPTIONS") == 0) {
		reply.status = 204;
		goto out;
	}
	if (ctx->match == ROUTER_METHOD_NOT_ALLOWED) {
		rc = reply_fail(&reply, EM_EMETHOD, "%s is not allowed here; allowed: %s",
				known_method(method), ctx->allow);
		goto out;
	}
	if (ctx->too_large) {
		rc = reply_fail(&reply, EM_ETOOLARGE, "the body is larger than %zu bytes",
				ctx->limit);
		goto out;
	}
	if (ctx->route->handler == auth_token_handler &&
	    (reply.retry_after = login_address_locked(s, conn)) > 0) {
		rc = reply_fail(&reply, EM_ERATELIMIT,
				"too many failed logins from this address: try again in %ld seconds",
				reply.retry_after);
		goto out;
	}
	if (!(ctx->route->flags & ROUTE_NO_DB)) {
		req.db = db_thread_conn();
		if (!req.db) {
			rc = EM_EINTERNAL;
			goto out;
		}
		db_request_begin(req.db);
	}
	if (ctx->route->roles != EM_ROLES_PUBLIC) {
		const char *authorization = MHD_lookup_connection_value(
			conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
		rc = auth_authenticate(&req, authorization, &why);
		if (rc == EM_EUNAUTH) {
			ctx->invalid_token = authorization != NULL;
			log_msg(EM_LOG_INFO, ctx->request_id, "token refused: %s", why);
			rc = reply_fail(&reply, EM_EUNAUTH, "%s",
					ctx->invalid_token ? "the bearer token is invalid"
							   : "a bearer token is required");
			goto out;
		}
		if (rc != EM_OK)
			goto out;
		ctx->user_id = req.caller.user_id;
		if (!(ctx->route->roles & (unsigned)req.caller.role)) {
			rc = reply_fail(&reply, EM_EFORBIDDEN, "the role %s may not do this",
					em_role_name(req.caller.role));
			goto out;
		}
	}
	if (ctx->len > 0 && !media_charset_is_utf8(MHD_lookup_connection_value(
					conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
				charset, sizeof(charset))) {
		rc = reply_fail(&reply, EM_EMEDIATYPE,
				"bodies are UTF-8: the charset %s is not accepted", charset);
		goto out;
	}
	/* A route that gives only JSON refuses an Accept that excludes it; the
	 * routes giving more negotiate in their handlers. */
	if (!(ctx->route->flags & ROUTE_NEGOTIATES) && strncmp(url, "/api/v1/", 8) == 0 &&
	    strcmp(url, "/api/v1/openapi.yaml") != 0) {
		static const enum em_format JSON_ONLY[] = {EM_FMT_JSON};
		if (negotiate_accept(req_header(&req, "Accept"), JSON_ONLY, 1) < 0) {
			rc = reply_fail(&reply, EM_ENOTACCEPTABLE,
					"this resource is available as application/json");
			goto out;
		}
	}
	if (ctx->route->flags & ROUTE_JSON_BODY) {
		if ((rc = parse_body(conn, ctx, &reply, &body)) != EM_OK)
			goto out;
	}
	rc = run_handler(ctx->route, &req, &ctx->args, body, &reply);
	if (rc == EM_EUNAUTH && ctx->route->handler == auth_token_handler)
		login_address_failed(s, conn);
out:
	if (rc == EM_EUNAVAILABLE || rc == EM_ERETRY) {
		if (!reply.detail[0])
			reply_fail(&reply, rc, "the database is unavailable; retry later");
		if (reply.retry_after <= 0)
			reply.retry_after = 1;
	}
	if (req.db)
		db_request_end(req.db);
	ret = send_reply(s, conn, ctx, method, &reply, rc);
	json_decref(body);
	reply_clear(&reply);
	return ret;
}

/* Answers at once, without reading the body (the connection closes after). */
static enum MHD_Result answer_early(struct em_server *s, struct MHD_Connection *conn,
				    struct req_ctx *ctx, const char *method, enum em_err err,
				    const char *detail)
{
	struct em_reply reply;
	enum MHD_Result ret;

	reply_init(&reply);
	reply_fail(&reply, err, "%s", detail);
	ret = send_reply(s, conn, ctx, method, &reply, err);
	reply_clear(&reply);
	return ret;
}

static enum MHD_Result on_first_call(struct em_server *s, struct MHD_Connection *conn,
				     struct req_ctx *ctx, const char *method, const char *url)
{
	const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	struct framing f = {0};
	char detail[128];

	clock_gettime(CLOCK_MONOTONIC, &ctx->start);
	if (rid && sane_request_id(rid))
		snprintf(ctx->request_id, sizeof(ctx->request_id), "%s", rid);
	else
		snprintf(ctx->request_id, sizeof(ctx->request_id), "%s-%08lx", s->id_prefix,
			 atomic_fetch_add(&s->id_counter, 1) & 0xffffffffUL);
	ctx->match = router_match(method, url, &ctx->route, &ctx->args, ctx->allow,
				  sizeof(ctx->allow));
	ctx->limit = (size_t)(ctx->route && (ctx->route->flags & ROUTE_LARGE_BODY)
				      ? s->cfg->max_import_body
				      : s->cfg->max_body);

	MHD_get_connection_values(conn, MHD_HEADER_KIND, framing_iter, &f);
	if (f.lengths_differ)
		return answer_early(s, conn, ctx, method, EM_EBADREQ,
				    "conflicting Content-Length headers");
	if (f.chunked && f.content_lengths > 0)
		return answer_early(s, conn, ctx, method, EM_EBADREQ,
				    "Content-Length together with chunked Transfer-Encoding");
	if (f.first_length) {
		char *end;
		unsigned long long n = strtoull(f.first_length, &end, 10);
		if (end == f.first_length || *end || f.first_length[0] == '-')
			return answer_early(s, conn, ctx, method, EM_EBADREQ,
					    "malformed Content-Length");
		if (n > ctx->limit) {
			snprintf(detail, sizeof(detail), "the body is larger than %zu bytes",
				 ctx->limit);
			return answer_early(s, conn, ctx, method, EM_ETOOLARGE, detail);
		}
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct em_server *s = cls;
	struct req_ctx *ctx = *con_cls;

	(void)version;
	if (!ctx) {
		if (!(ctx = calloc(1, sizeof(*ctx))))
			return MHD_NO;
		*con_cls = ctx;
		atomic_fetch_add(&s->inflight, 1);
		return on_first_call(s, conn, ctx, method, url);
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (ctx->too_large)
			return MHD_YES;
		if (ctx->len + n > ctx->limit) {
			ctx->too_large = true;
			free(ctx->body);
			ctx->body = NULL;
			ctx->len = ctx->cap = 0;
			return MHD_YES;
		}
		if (ctx->len + n + 1 > ctx->cap) {
			size_t cap = ctx->cap ? ctx->cap : 4096;
			while (cap < ctx->len + n + 1)
				cap *= 2;
			char *nb = realloc(ctx->body, cap);
			if (!nb)
				return MHD_NO;
			ctx->body = nb;
			ctx->cap = cap;
		}
		memcpy(ctx->body + ctx->len, upload_data, n);
		ctx->len += n;
		ctx->body[ctx->len] = '\0';
		return MHD_YES;
	}
	return dispatch(s, conn, ctx, method, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct em_server *s = cls;
	struct req_ctx *ctx = *con_cls;

	(void)conn;
	(void)toe;
	if (!ctx)
		return;
	free(ctx->body);
	free(ctx);
	*con_cls = NULL;
	atomic_fetch_sub(&s->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_msg(EM_LOG_WARNING, NULL, "http: %s", msg);
}

static void parse_origins(struct em_server *s, const char *list)
{
	char *copy = strdup(list ? list : ""), *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok && s->norigins < MAX_ORIGINS;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		size_t n = strlen(tok);
		while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '/'))
			tok[--n] = '\0';
		if (n > 0)
			s->origins[s->norigins++] = strdup(tok);
	}
	free(copy);
}

enum em_err server_start(const struct em_config *cfg, struct em_server **out, char *err,
			 size_t errlen)
{
	struct em_server *s = calloc(1, sizeof(*s));
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG;
	unsigned char rnd[4];

	if (!s)
		return EM_EINTERNAL;
	if (!(s->addrs = calloc(ADDR_SLOTS, sizeof(*s->addrs)))) {
		free(s);
		return EM_EINTERNAL;
	}
	pthread_mutex_init(&s->addr_lock, NULL);
	s->cfg = cfg;
	parse_origins(s, cfg->cors_origins);
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(s->id_prefix, sizeof(s->id_prefix), rnd, sizeof(rnd));
	if (cfg->listen_addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;

	s->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&cfg->listen_addr,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->http_timeout_s,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->connection_limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->per_ip_connection_limit,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
		MHD_OPTION_STRICT_FOR_CLIENT, 1,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_END);
	if (!s->mhd) {
		snprintf(err, errlen, "cannot listen on %s (in use, or not a local address)",
			 cfg->listen);
		server_stop(s);
		return EM_EUNAVAILABLE;
	}
	*out = s;
	return EM_OK;
}

void server_quiesce(struct em_server *s)
{
	MHD_socket fd = MHD_quiesce_daemon(s->mhd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

bool server_drain(struct em_server *s, long timeout_s)
{
	struct timespec start, tick = {0, 20 * 1000000L};
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (atomic_load(&s->inflight) > 0) {
		if (usec_since(&start) > timeout_s * 1000000L)
			return false;
		nanosleep(&tick, NULL);
	}
	return true;
}

void server_stop(struct em_server *s)
{
	if (!s)
		return;
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	for (int i = 0; i < s->norigins; i++)
		free(s->origins[i]);
	pthread_mutex_destroy(&s->addr_lock);
	free(s->addrs);
	free(s);
}
