/*
 * db_int.h — what the parts of the connection pool share (private to
 * src/db/): db.c owns the pool and each connection's life (connect, notice
 * the server's farewell, back off), query.c runs statements and transactions
 * on a connection, notify.c LISTENs and counts the change notifications.
 */
#ifndef EFFMON_DB_INT_H
#define EFFMON_DB_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "effmon/db.h"

struct db_conn {
	PGconn *pg;
	/* The statements prepared on this session (grows: no cap, so no
	 * statement is ever prepared twice, which would fail with 42P05). */
	const struct db_stmt **prepared;
	size_t nprepared, prepared_cap;
	atomic_bool connected;
	atomic_bool failed; /* the last attempt or statement lost the connection */
	atomic_bool busy;
	bool read;        /* a connection to the read replica */
	bool listening;   /* LISTEN succeeded on this connection */
	bool idle_notice; /* a notice or error arrived while the connection was idle */
	PQnoticeReceiver prev_receiver;
	void *prev_receiver_arg;
	long backoff_ms;
	struct timespec next_attempt;
	char sqlstate[6];
	char constraint[64];
};

/* Closes the connection; the next attempt waits out the backoff when the
 * last attempt to connect failed, and is immediate when a working connection
 * was lost (db.c). */
void db_conn_mark_down(struct db_conn *c, bool connect_failed);
/* True when an idle connection has been closed by the server or sent what
 * it was never asked for (db.c). */
bool db_conn_idle_closed(struct db_conn *c);
/* Counts one database error for /metrics (db.c). */
void db_count_error(void);

/* Counts the notifications libpq has read on c (notify.c). */
void db_notify_drain(struct db_conn *c);
/* LISTENs on a new primary connection and moves every channel's generation (notify.c). */
void db_notify_listen(struct db_conn *c);
/* The batches of notifications read so far, per channel (notify.c). */
void db_notify_counts(unsigned long out[DB_NCHANNELS]);

#endif
