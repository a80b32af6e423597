/*
 * server_int.h — what the four parts of the HTTP server share (private to
 * src/http/): server.c runs libmicrohttpd and reads the request, dispatch.c
 * runs the cross-cutting checks and the handler, respond.c queues the answer
 * and writes the access line, client.c knows the client's address and its
 * failed logins.
 */
#ifndef EFFMON_SERVER_INT_H
#define EFFMON_SERVER_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "effmon/config.h"
#include "effmon/router.h"
#include "effmon/sbuf.h"

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
	struct sbuf body; /* the request body as it arrives */
	size_t limit;
	bool too_large;
	bool invalid_token; /* a 401 for a token that was sent */
	int64_t user_id;    /* the authenticated caller, for the access line */
};

/* The method as logged and counted: one of the known ones, else "OTHER". */
const char *server_known_method(const char *m);
/* Microseconds since t (CLOCK_MONOTONIC). */
long server_usec_since(const struct timespec *t);

/* Runs every check of the route, then its handler, and queues the answer (dispatch.c). */
enum MHD_Result server_dispatch(struct em_server *s, struct MHD_Connection *conn,
				struct req_ctx *ctx, const char *method, const char *url);

/* Queues the answer (rc != EM_OK: the problem of reply), counts it and logs
 * the access line (respond.c). */
enum MHD_Result server_send_reply(struct em_server *s, struct MHD_Connection *conn,
				  struct req_ctx *ctx, const char *method, struct em_reply *reply,
				  enum em_err rc);

/* The client's address as text (what a trusted proxy says, else the TCP
 * peer's), "-" when unknown (client.c). */
void server_client_address(struct em_server *s, struct MHD_Connection *conn, char *out,
			   size_t outlen);
/* Seconds until the client's address may try logins again, 0 if it may now. */
long server_login_wait(struct em_server *s, struct MHD_Connection *conn);
/* Counts a failed login of the client's address. */
void server_login_failed(struct em_server *s, struct MHD_Connection *conn);

#endif
