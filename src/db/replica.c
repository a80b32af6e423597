/*
 * replica.c — routing reads to the read replica. Each worker thread keeps
 * what it last measured on its own replica connection: the replay lag, read
 * at most once a second (REPLICA_CHECK_MS) with one short statement, so a
 * request normally pays only db_ensure's non-blocking check of an idle
 * connection. The lag is 0 on a server that is not in recovery and on a
 * standby that has replayed all it received (an idle primary sends nothing,
 * so the last replayed transaction's age says nothing then); otherwise it is
 * the age of the last replayed transaction. An unknown lag (a standby that
 * has replayed no transaction yet and receives nothing) counts as lagging.
 * A standby cut off from its primary still reports what it received as
 * replayed: its lag is seen from the standby only, so it reads as 0.
 */
#include "effmon/replica.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define REPLICA_CHECK_MS 1000

DB_STMT(REPLICA_LAG) = {
	"replica_lag",
	"SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 "
	"WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
	"ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8",
	0};

static struct {
	double max_lag_s;
	atomic_long lag_ms; /* the last lag measured by any thread; -1: none */
	atomic_ulong served;
	atomic_ulong bypassed[REPLICA_NBYPASS];
} shared = {.max_lag_s = 30, .lag_ms = -1};

static _Thread_local struct {
	bool measured; /* state and lag hold for checked_ms */
	enum replica_state state;
	double lag_s;
	long long checked_ms;
} mine;

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void replica_init(const struct em_config *cfg)
{
	shared.max_lag_s = (double)cfg->read_max_lag_s;
}

static enum replica_state down(void)
{
	mine.measured = false;
	mine.state = REPLICA_DOWN;
	mine.lag_s = -1;
	atomic_store(&shared.lag_ms, -1);
	return REPLICA_DOWN;
}

static enum replica_state check(struct db_conn *c)
{
	long long now = now_ms();
	PGresult *res;

	/* Reconnects (within the backoff) when the connection was lost. */
	if (db_ensure(c) != EM_OK)
		return down();
	if (mine.measured && now - mine.checked_ms < REPLICA_CHECK_MS)
		return mine.state;
	if (db_exec(c, &REPLICA_LAG, NULL, &res) != EM_OK)
		return down();
	mine.lag_s = PQgetisnull(res, 0, 0) ? -1 : strtod(PQgetvalue(res, 0, 0), NULL);
	PQclear(res);
	if (mine.lag_s < 0)
		mine.lag_s = -1; /* not known (or a clock step backwards on the standby) */
	mine.state = mine.lag_s >= 0 && mine.lag_s <= shared.max_lag_s ? REPLICA_UP
								       : REPLICA_LAGGING;
	mine.measured = true;
	mine.checked_ms = now;
	atomic_store(&shared.lag_ms, mine.lag_s < 0 ? -1 : (long)(mine.lag_s * 1000));
	return mine.state;
}

struct db_conn *replica_for_read(void)
{
	struct db_conn *c = db_thread_read_conn();

	if (!c)
		return NULL;
	switch (check(c)) {
	case REPLICA_UP: return c;
	case REPLICA_LAGGING: replica_count_bypass(REPLICA_BYPASS_LAGGING); return NULL;
	default: replica_count_bypass(REPLICA_BYPASS_DOWN); return NULL;
	}
}

void replica_count_served(void)
{
	atomic_fetch_add(&shared.served, 1);
}

void replica_count_bypass(enum replica_bypass why)
{
	if (why == REPLICA_BYPASS_ERROR)
		mine.measured = false; /* measure again before the next read */
	atomic_fetch_add(&shared.bypassed[why], 1);
}

enum replica_state replica_probe(double *lag_s)
{
	struct db_conn *c = db_thread_read_conn();
	enum replica_state s = c ? check(c) : down();

	*lag_s = mine.lag_s;
	return s;
}

const char *replica_state_name(enum replica_state s)
{
	return s == REPLICA_UP ? "up" : s == REPLICA_LAGGING ? "lagging" : "down";
}

const char *replica_bypass_name(enum replica_bypass why)
{
	static const char *const NAMES[REPLICA_NBYPASS] = {
		[REPLICA_BYPASS_DOWN] = "down",
		[REPLICA_BYPASS_LAGGING] = "lagging",
		[REPLICA_BYPASS_ERROR] = "error",
	};
	return NAMES[why];
}

void replica_stats(struct replica_stats *out)
{
	long ms = atomic_load(&shared.lag_ms);

	out->configured = db_read_configured();
	out->lag_s = ms < 0 ? -1 : ms / 1000.0;
	out->served = atomic_load(&shared.served);
	for (int i = 0; i < REPLICA_NBYPASS; i++)
		out->bypassed[i] = atomic_load(&shared.bypassed[i]);
}
