/*
 * notify.c — change notifications: every primary connection LISTENs on the
 * channels the change triggers of migrations 0009 and 0010 notify, and what
 * libpq reads is counted into a process-wide generation per channel
 * (db_notify_generation) that the caches of derived answers and of user rows
 * check. The payload does not matter, only that something changed.
 */
#include <stdio.h>
#include <string.h>

#include "db_int.h"
#include "effmon/log.h"

static const char *const CHANNELS[DB_NCHANNELS] = {
	[DB_CHANNEL_AGGREGATES] = "effmon_aggregates",
	[DB_CHANNEL_USERS] = "effmon_users",
};

/* Per channel: bumped per batch of notifications read and per (re)connect;
 * notifications counts the batches alone (/metrics). */
static atomic_ulong notify_generation[DB_NCHANNELS] = {1, 1};
static atomic_ulong notifications[DB_NCHANNELS];

/* Counts the notifications libpq has read (one generation step per channel
 * and batch: the payload does not matter, only that something changed). */
void db_notify_drain(struct db_conn *c)
{
	PGnotify *n;
	bool any[DB_NCHANNELS] = {false};

	while ((n = PQnotifies(c->pg))) {
		for (int ch = 0; ch < DB_NCHANNELS; ch++)
			if (strcmp(n->relname, CHANNELS[ch]) == 0)
				any[ch] = true;
		PQfreemem(n);
	}
	for (int ch = 0; ch < DB_NCHANNELS; ch++) {
		if (!any[ch])
			continue;
		atomic_fetch_add(&notify_generation[ch], 1);
		atomic_fetch_add(&notifications[ch], 1);
	}
}

/* LISTEN on a new connection, then a generation step on every channel: what
 * changed while no connection of this process listened was not announced to
 * it. A failed LISTEN (a hot standby refuses it) leaves the connection
 * usable, without the caches (db_notify_current answers false on it). */
void db_notify_listen(struct db_conn *c)
{
	char sql[128];
	PGresult *res;

	snprintf(sql, sizeof(sql), "LISTEN %s; LISTEN %s", CHANNELS[DB_CHANNEL_AGGREGATES],
		 CHANNELS[DB_CHANNEL_USERS]);
	res = PQexec(c->pg, sql);
	c->listening = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!c->listening) {
		char msg[200];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
		msg[strcspn(msg, "\n")] = '\0';
		log_warning("LISTEN failed, answer and user caches off on this connection: %s",
			    msg);
	}
	PQclear(res);
	for (int ch = 0; ch < DB_NCHANNELS; ch++)
		atomic_fetch_add(&notify_generation[ch], 1);
}

unsigned long db_notify_generation(enum db_channel ch)
{
	return atomic_load(&notify_generation[ch]);
}

bool db_notify_current(struct db_conn *c)
{
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK || !c->listening)
		return false;
	if (db_conn_idle_closed(c)) {
		/* db_ensure would find it closed too: replace it on the next statement. */
		log_info("database connection closed by the server while idle; reconnecting");
		db_conn_mark_down(c, false);
		return false;
	}
	/* Anything a statement's result brought along after its last drain
	 * (another session's notifications are sent when a transaction ends,
	 * before ReadyForQuery). */
	db_notify_drain(c);
	return true;
}

void db_notify_counts(unsigned long out[DB_NCHANNELS])
{
	for (int ch = 0; ch < DB_NCHANNELS; ch++)
		out[ch] = atomic_load(&notifications[ch]);
}
