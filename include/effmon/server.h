/*
 * server.h — the HTTP server's lifecycle: start, stop accepting, drain the
 * requests in flight, stop.
 */
#ifndef EFFMON_SERVER_H
#define EFFMON_SERVER_H

#include "effmon/config.h"

struct em_server;

enum em_err server_start(const struct em_config *cfg, struct em_server **out, char *err,
			 size_t errlen);
/* Stops accepting connections; requests in flight go on. */
void server_quiesce(struct em_server *s);
/* Waits up to timeout_s for the requests in flight; true if none is left. */
bool server_drain(struct em_server *s, long timeout_s);
/* Closes every connection and frees s (NULL is fine). */
void server_stop(struct em_server *s);

#endif
