/*
 * server.c — the libmicrohttpd side: daemon options and limits, request ids,
 * the framing checks and the body cap, and reading the body. Responses are
 * queued on the final call of the access handler (dispatch.c); a request that
 * must not have its body read (framing error, announced size over the cap) is
 * answered on the first call, which closes the connection.
 */
#include "effmon/server.h"

#include <microhttpd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "effmon/log.h"
#include "server_int.h"

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

/* Answers at once, without reading the body (the connection closes after). */
static enum MHD_Result answer_early(struct em_server *s, struct MHD_Connection *conn,
				    struct req_ctx *ctx, const char *method, enum em_err err,
				    const char *detail)
{
	struct em_reply reply;
	enum MHD_Result ret;

	reply_init(&reply);
	reply_fail(&reply, err, "%s", detail);
	ret = server_send_reply(s, conn, ctx, method, &reply, err);
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
		if (ctx->body.len + n > ctx->limit) {
			ctx->too_large = true;
			free(ctx->body.p);
			ctx->body = (struct sbuf){0};
			return MHD_YES;
		}
		sb_add(&ctx->body, upload_data, n);
		return ctx->body.failed ? MHD_NO : MHD_YES;
	}
	return server_dispatch(s, conn, ctx, method, url);
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
	free(ctx->body.p);
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
		flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&cfg->listen_addr,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)cfg->http_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)cfg->connection_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)cfg->per_ip_connection_limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)64 * 1024, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_NOTIFY_COMPLETED,
		on_completed, s, MHD_OPTION_END);
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
		if (server_usec_since(&start) > timeout_s * 1000000L)
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
