/*
 * replica.h — when a read-only route's handler runs on the read replica
 * (EFFMON_DATABASE_READ_URL) and when the primary answers instead: the
 * replica is used while its connection is up and its replay lag, measured at
 * most once a second per connection, is within EFFMON_READ_MAX_LAG.
 */
#ifndef EFFMON_REPLICA_H
#define EFFMON_REPLICA_H

#include <stdbool.h>

#include "effmon/config.h"
#include "effmon/db.h"

enum replica_state { REPLICA_UP, REPLICA_DOWN, REPLICA_LAGGING };

/* Why a read that could go to the replica went to the primary. */
enum replica_bypass {
	REPLICA_BYPASS_DOWN,    /* not connected, refused, or the lag query failed */
	REPLICA_BYPASS_LAGGING, /* lag past the bound, or not known */
	REPLICA_BYPASS_ERROR,   /* a statement failed on the replica: retried on the primary */
	REPLICA_NBYPASS
};

void replica_init(const struct em_config *cfg);

/* This thread's replica connection when a read may use it now, else NULL
 * (counted as a bypass, by reason, when a replica is configured). */
struct db_conn *replica_for_read(void);

/* The outcome of a read replica_for_read handed the replica to. */
void replica_count_served(void);
void replica_count_bypass(enum replica_bypass why);

/* This thread's view of the replica, measured if the last measure is older
 * than a second (/readyz). *lag_s is negative when not known. */
enum replica_state replica_probe(double *lag_s);
const char *replica_state_name(enum replica_state s);

struct replica_stats {
	bool configured;
	double lag_s; /* the last lag measured by any thread; negative: none */
	unsigned long served;
	unsigned long bypassed[REPLICA_NBYPASS];
};
void replica_stats(struct replica_stats *out);
const char *replica_bypass_name(enum replica_bypass why);

#endif
