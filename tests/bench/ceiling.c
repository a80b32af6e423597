/*
 * ceiling.c — the ceiling of GET /api/v1/organizations/{id} for `make bench`:
 * libmicrohttpd with effmond's threading (internal thread pool on epoll), one
 * libpq connection per pool thread, and per request only the bearer check of
 * src/auth/token.c (HS256 + claims), one prepared primary-key SELECT of the
 * organization's columns, and a jansson reply. Nothing else: no user row, no
 * scope, no audit, no metrics.
 * usage: EFFMON_JWT_SECRET=... bench-ceiling PORT THREADS CONNINFO
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "effmon/auth.h"
#include "effmon/config.h"

#define PREFIX "/api/v1/organizations/"

static const char *conninfo;
static _Thread_local PGconn *thread_conn;

static const char SELECT_ORG[] =
	"SELECT id, municipality_id, region_id, full_name, short_name, inn, kind, settlement, "
	"students, status, created_at, updated_at, version FROM organizations WHERE id = $1::bigint";

/* The pool thread's connection, opened and prepared on first use. */
static PGconn *conn_get(void)
{
	PGresult *r;

	if (thread_conn && PQstatus(thread_conn) == CONNECTION_OK)
		return thread_conn;
	if (thread_conn)
		PQfinish(thread_conn);
	thread_conn = PQconnectdb(conninfo);
	if (PQstatus(thread_conn) != CONNECTION_OK) {
		fprintf(stderr, "ceiling: %s", PQerrorMessage(thread_conn));
		PQfinish(thread_conn);
		return thread_conn = NULL;
	}
	r = PQprepare(thread_conn, "org", SELECT_ORG, 1, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "ceiling: %s", PQerrorMessage(thread_conn));
		PQclear(r);
		PQfinish(thread_conn);
		return thread_conn = NULL;
	}
	PQclear(r);
	return thread_conn;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *body)
{
	static char EMPTY[] = "{}";
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = body ? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE)
		 : MHD_create_response_from_buffer(2, EMPTY, MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A column as a JSON integer, or its text. */
static json_t *column(const PGresult *res, int col, int integer)
{
	if (PQgetisnull(res, 0, col))
		return json_null();
	if (integer)
		return json_integer(strtoll(PQgetvalue(res, 0, col), NULL, 10));
	return json_string(PQgetvalue(res, 0, col));
}

static char *organization(PGconn *db, const char *id, unsigned *status)
{
	static const char *const NAMES[] = {
		"id",     "municipality_id", "region_id", "full_name", "short_name", "inn",
		"kind",   "settlement",      "students",  "status",    "created_at", "updated_at",
		"version"};
	static const int INTEGER[] = {1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
	const char *params[1] = {id};
	PGresult *res = PQexecPrepared(db, "org", 1, params, NULL, NULL, 0);
	json_t *obj;
	char *out;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		*status = 503;
		return NULL;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		*status = 404;
		return NULL;
	}
	obj = json_object();
	for (int c = 0; c < 13; c++)
		json_object_set_new(obj, NAMES[c], column(res, c, INTEGER[c]));
	PQclear(res);
	out = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	*status = out ? 200 : 500;
	return out;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **state)
{
	static int first;
	struct auth_claims claims;
	const char *why, *id = url + sizeof(PREFIX) - 1;
	unsigned status = 404;
	char *body = NULL;
	PGconn *db;

	(void)cls;
	(void)version;
	(void)data;
	if (!*state) {
		*state = &first;
		return MHD_YES;
	}
	*size = 0;
	if (strcmp(method, "GET") != 0 || strncmp(url, PREFIX, sizeof(PREFIX) - 1) != 0 ||
	    id[0] < '1' || id[0] > '9' || strspn(id, "0123456789") != strlen(id) || strlen(id) > 18)
		return reply(conn, 404, NULL);
	if (auth_bearer_verify(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							   MHD_HTTP_HEADER_AUTHORIZATION),
			       (int64_t)time(NULL), &claims, &why) != EM_OK)
		return reply(conn, 401, NULL);
	if (!(db = conn_get()))
		return reply(conn, 503, NULL);
	body = organization(db, id, &status);
	return reply(conn, status, body);
}

int main(int argc, char **argv)
{
	struct em_config cfg;
	struct MHD_Daemon *d;
	struct sockaddr_in addr;
	const char *secret = getenv("EFFMON_JWT_SECRET");
	sigset_t set;
	int sig;

	if (argc != 4 || !secret)
		return fprintf(stderr, "usage: EFFMON_JWT_SECRET=... %s PORT THREADS CONNINFO\n",
			       argv[0]),
		       2;
	conninfo = argv[3];
	memset(&cfg, 0, sizeof(cfg));
	cfg.secret = (unsigned char *)strdup(secret);
	cfg.secret_len = strlen(secret);
	cfg.jwt_issuer = getenv("EFFMON_JWT_ISSUER") ? getenv("EFFMON_JWT_ISSUER") : "effmon";
	cfg.jwt_audience = getenv("EFFMON_JWT_AUDIENCE") ? getenv("EFFMON_JWT_AUDIENCE") : "effmon";
	if (!cfg.secret || auth_init(&cfg) != EM_OK)
		return fprintf(stderr, "ceiling: the secret must be at least 32 bytes\n"), 2;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(argv[1]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC,
			     (uint16_t)atoi(argv[1]), NULL, NULL, answer, NULL,
			     MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr,
			     MHD_OPTION_THREAD_POOL_SIZE, (unsigned)atoi(argv[2]),
			     MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			     (size_t)64 * 1024, MHD_OPTION_END);
	if (!d)
		return fprintf(stderr, "ceiling: cannot listen\n"), 1;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	auth_shutdown();
	free(cfg.secret);
	return 0;
}
