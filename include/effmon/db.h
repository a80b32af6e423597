/*
 * db.h — one PostgreSQL connection per worker thread, prepared statements
 * declared next to the code that uses them, a transaction helper that
 * retries serialization failures, and SQLSTATE mapped to em_err in one place.
 */
#ifndef EFFMON_DB_H
#define EFFMON_DB_H

#include <libpq-fe.h>
#include <stdio.h>

#include "effmon/config.h"
#include "effmon/effmon.h"

/* A statement; modules declare them with DB_STMT, prepared lazily per connection. */
struct db_stmt {
	const char *name;
	const char *sql;
	int nparams;
	/* For the check only: a statement without parameters that the caller always runs
	 * first in the same transaction (it creates a temporary table this one reads). */
	const struct db_stmt *setup;
};

/*
 * DB_STMT(NAME) = {"name", "SQL", nparams}; declares a file-scope statement and
 * registers its address in the linker section em_stmts, so that
 * db_check_statements (`effmond check-statements`, run by the tests) prepares
 * every statement of the binary against a migrated database.
 */
#define DB_STMT(var)                                               \
	static const struct db_stmt var;                           \
	static const struct db_stmt *const var##_registered        \
		__attribute__((used, section("em_stmts"))) = &var; \
	static const struct db_stmt var

/* Every registered statement, in link order; *n gets how many. */
const struct db_stmt *const *db_statements(size_t *n);

/* Prepares every registered statement on pg (a fresh session on a migrated database) and
 * describes it; writes a line to out for each one that does not prepare (a syntax error, a
 * missing column, a name used twice) or takes more parameters than it declares. Returns the
 * number of such statements; *checked gets how many were tried. */
int db_check_statements(PGconn *pg, FILE *out, size_t *checked);

struct db_conn;

/* Process-wide set-up before workers start; copies what it needs from cfg. */
enum em_err db_init(const struct em_config *cfg);
void db_shutdown(void);

/* This thread's connection; created on first use. Never NULL after db_init. */
struct db_conn *db_thread_conn(void);

/* This thread's connection to the read replica (EFFMON_DATABASE_READ_URL),
 * created on first use; NULL when no replica is configured. It never LISTENs:
 * db_notify_current is false on it. Routing decisions: effmon/replica.h. */
struct db_conn *db_thread_read_conn(void);
bool db_read_configured(void);
bool db_is_read(const struct db_conn *c);

/* Marks the connection busy for metrics; call around a request's DB use. */
void db_request_begin(struct db_conn *c);
void db_request_end(struct db_conn *c);

/*
 * Runs a prepared statement with params[0..nparams-1]: what db_exec_args
 * runs, and called directly only for statements without parameters (NULL).
 * On EM_OK *out is a result the caller PQclear()s.
 * On failure *out is untouched and the error is mapped (connection lost ->
 * EM_EUNAVAILABLE, 40001/40P01 -> EM_ERETRY, 23505 -> EM_ECONFLICT, ...).
 */
enum em_err db_exec(struct db_conn *c, const struct db_stmt *st, const char *const *params,
		    PGresult **out);

/*
 * Typed arguments of a statement: numbers are formatted into the struct's own
 * buffers, texts are borrowed (they must live until the statement has run),
 * NULL is a pushed NULL. Push them in the statement's $n order; db_exec_args
 * checks the count against the statement's nparams (EM_EINTERNAL and a log
 * line on a mismatch, so a statement and its caller cannot drift apart
 * silently). More than DB_MAX_ARGS pushes mark the set as overflowed, which
 * db_exec_args refuses the same way.
 *
 * The caller leads every statement run for a request: $1 role, $2 user, $3
 * region, $4 municipality, $5 organization (the caller's effective scope, as
 * SQL_SCOPE of effmon/resource.h reads them), $6 manager (a head's own, which
 * the cycle's statements read), pushed by caller_args() of effmon/resource.h;
 * a statement's own parameters follow from $7. The statements that only carry
 * on a request's work after one of those has checked the scope (a rescore, a
 * submission's missing values, the cycle report's sections, the drafts' items)
 * and the daemon's own (sign-in, Idempotency-Key, migrations, replica lag)
 * need no caller: they start at $1 with what they need (a history's page
 * takes the caller only because id_list_reply, which runs every list in id
 * order, pushes it).
 */
#define DB_MAX_ARGS 32
#define DB_NUM_LEN 24

struct db_args {
	const char *v[DB_MAX_ARGS];
	char num[DB_MAX_ARGS][DB_NUM_LEN];
	int n;
	bool overflow;
};

void db_args_init(struct db_args *a);
void db_arg_null(struct db_args *a);
/* Borrowed; NULL pushes NULL. */
void db_arg_text(struct db_args *a, const char *s);
void db_arg_i64(struct db_args *a, int64_t v);
/* An id: 0 (none) pushes NULL. */
void db_arg_id(struct db_args *a, int64_t id);
void db_arg_bool(struct db_args *a, bool v);

/* db_exec with typed arguments; the count must equal st->nparams. */
enum em_err db_exec_args(struct db_conn *c, const struct db_stmt *st, const struct db_args *a,
			 PGresult **out);

/*
 * The same, planned for these very values (plan_cache_mode = force_custom_plan
 * around this one execution, restored after it). For list statements whose
 * optional filters read "$n IS NULL OR col = $n": PostgreSQL's generic plan,
 * which it may switch to after five executions, cannot turn such a filter or a
 * "CASE WHEN $sort = 'name'" order into an index condition, while a plan made
 * for the values folds them to "col = 42" and "ORDER BY key, id" and walks the
 * index. Costs two short round trips more. Meant for statements run outside a
 * transaction (every list); inside one it works too, and after a failure
 * there the rollback restores the setting, but the restore attempted before
 * it fails as well and db_last_sqlstate names that failure (25P02).
 */
enum em_err db_exec_args_custom(struct db_conn *c, const struct db_stmt *st,
				const struct db_args *a, PGresult **out);

/*
 * The same with the plan made once for any values (force_generic_plan): for
 * a statement whose every condition is an index condition in a generic plan
 * too, and whose planning costs as much as its run, so that the choice does
 * not rest on PostgreSQL's estimate of the two after five executions.
 */
enum em_err db_exec_args_generic(struct db_conn *c, const struct db_stmt *st,
				 const struct db_args *a, PGresult **out);

/*
 * COPY ... FROM STDIN on this connection, inside the caller's transaction
 * (bulk imports): begin, put the data in pieces, end. db_copy_end with a
 * reason aborts the COPY instead; either way the connection is usable after.
 */
enum em_err db_copy_begin(struct db_conn *c, const char *sql);
enum em_err db_copy_put(struct db_conn *c, const char *buf, size_t len);
enum em_err db_copy_end(struct db_conn *c, const char *abort_reason);

/* Runs fn inside BEGIN ... COMMIT, retrying the whole of it on EM_ERETRY. */
typedef enum em_err (*db_tx_fn)(struct db_conn *c, void *ctx);
enum em_err db_tx(struct db_conn *c, db_tx_fn fn, void *ctx);

/* The constraint and SQLSTATE of the last failed statement ("" if none). */
const char *db_last_constraint(const struct db_conn *c);
const char *db_last_sqlstate(const struct db_conn *c);

/* Ensures the connection is up; EM_EUNAVAILABLE if it is not. */
enum em_err db_ensure(struct db_conn *c);

/*
 * Change notifications. Triggers NOTIFY one channel per kind of cached
 * answer: effmon_aggregates (migration 0009: a table aggregates are derived
 * from changed) and effmon_users (migration 0010: a user row, or the scope it
 * implies, changed). Every connection LISTENs on both; each batch of
 * notifications read on a channel, and every (re)connect, moves that
 * channel's process-wide generation forward. A session gets its own
 * notifications with its COMMIT, so a write moves the generation before its
 * answer is sent.
 */
enum db_channel { DB_CHANNEL_AGGREGATES, DB_CHANNEL_USERS, DB_NCHANNELS };
unsigned long db_notify_generation(enum db_channel ch);

/*
 * Reads what has arrived on this (idle) connection without a round trip and
 * counts its notifications. True when the connection is up and listening, so
 * that db_notify_generation() now covers every change committed before this
 * call that was announced to it; false otherwise (connection down or closed
 * by the server — it is then replaced on the next statement — or no LISTEN).
 */
bool db_notify_current(struct db_conn *c);

/* Maps a SQLSTATE to an error. */
enum em_err db_map_sqlstate(const char *sqlstate);

/* Pool figures for /metrics. */
struct db_conn_counts {
	long in_use, idle, broken;
};
struct db_pool_stats {
	struct db_conn_counts primary, read;
	bool read_configured;
	long errors;
	unsigned long notifications[DB_NCHANNELS]; /* batches read, per channel */
};
void db_pool_stats(struct db_pool_stats *out);

/* A standalone connection (migrate, CLI commands). */
enum em_err db_connect_once(const struct em_config *cfg, PGconn **out, char *err, size_t errlen);

/* Helpers for result rows. NULL-aware. */
static inline const char *db_str(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}
int64_t db_int64(const PGresult *r, int row, int col); /* 0 for NULL */
bool db_bool(const PGresult *r, int row, int col);

#endif
