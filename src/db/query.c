/*
 * query.c — running SQL on a connection of the pool: statements prepared
 * lazily, once per session, every parameter as text; COPY in; transactions
 * retried on serialization failures and deadlocks; the one SQLSTATE mapping
 * to em_err; the result getters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_int.h"
#include "effmon/log.h"

#define TX_ATTEMPTS 5

enum em_err db_map_sqlstate(const char *s)
{
	if (!s || strlen(s) != 5)
		return EM_EDB;
	if (!strcmp(s, "23505"))
		return EM_ECONFLICT;
	if (!strcmp(s, "40001") || !strcmp(s, "40P01"))
		return EM_ERETRY;
	if (!strncmp(s, "23", 2) || !strncmp(s, "22", 2))
		return EM_EINVAL; /* 23503, 23502, 23514, 22P02, 22001, ... */
	if (!strcmp(s, "57014") || !strcmp(s, "55P03") || !strncmp(s, "53", 2) ||
	    !strncmp(s, "57P", 3) || !strncmp(s, "08", 2))
		return EM_EUNAVAILABLE;
	return EM_EDB;
}

/* Records and maps the failure of res (may be NULL); clears res. */
static enum em_err fail(struct db_conn *c, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
	enum em_err err;

	snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
	snprintf(c->constraint, sizeof(c->constraint), "%s", cons ? cons : "");
	db_count_error();
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
		log_warning("database connection lost during %s", what);
		db_conn_mark_down(c, false);
		err = EM_EUNAVAILABLE;
	} else {
		char msg[240];
		err = db_map_sqlstate(state);
		snprintf(msg, sizeof(msg), "%s",
			 res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg));
		msg[strcspn(msg, "\n")] = '\0';
		if (err == EM_EDB || err == EM_EUNAVAILABLE)
			log_warning("%s failed: SQLSTATE %s: %s", what, c->sqlstate, msg);
		else /* a client's error the database found: what it was, for whoever looks */
			log_debug("%s refused: SQLSTATE %s: %s", what, c->sqlstate, msg);
	}
	PQclear(res);
	return err;
}

#define MAX_PARAMS 32
#define TEXTOID 25

static enum em_err prepare(struct db_conn *c, const struct db_stmt *st)
{
	/* Every parameter is text: statements cast what they use, and may leave
	 * some of a shared layout unused. */
	static const Oid TYPES[MAX_PARAMS] = {
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	PGresult *res;

	for (size_t i = 0; i < c->nprepared; i++)
		if (c->prepared[i] == st)
			return EM_OK;
	if (st->nparams > MAX_PARAMS)
		return EM_EINTERNAL;
	if (c->nprepared == c->prepared_cap) {
		size_t cap = c->prepared_cap ? 2 * c->prepared_cap : 256;
		const struct db_stmt **grown = realloc(c->prepared, cap * sizeof(*grown));
		if (!grown)
			return EM_EINTERNAL;
		c->prepared = grown;
		c->prepared_cap = cap;
	}
	res = PQprepare(c->pg, st->name, st->sql, st->nparams, TYPES);
	db_notify_drain(c);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return fail(c, res, st->name);
	PQclear(res);
	c->prepared[c->nprepared++] = st;
	return EM_OK;
}

enum em_err db_exec(struct db_conn *c, const struct db_stmt *st, const char *const *params,
		    PGresult **out)
{
	enum em_err rc;
	PGresult *res;
	ExecStatusType status;

	if ((rc = db_ensure(c)) != EM_OK)
		return rc;
	if ((rc = prepare(c, st)) != EM_OK)
		return rc;
	res = PQexecPrepared(c->pg, st->name, st->nparams, params, NULL, NULL, 0);
	db_notify_drain(c);
	status = PQresultStatus(res);
	if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
		return fail(c, res, st->name);
	*out = res;
	return EM_OK;
}

enum em_err db_copy_begin(struct db_conn *c, const char *sql)
{
	enum em_err rc;
	PGresult *res;

	if ((rc = db_ensure(c)) != EM_OK)
		return rc;
	res = PQexec(c->pg, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		return fail(c, res, "COPY");
	PQclear(res);
	return EM_OK;
}

enum em_err db_copy_put(struct db_conn *c, const char *buf, size_t len)
{
	/* PQputCopyData takes an int length: feed big buffers in slices. */
	while (len > 0) {
		int n = len > (1u << 30) ? 1 << 30 : (int)len;
		if (PQputCopyData(c->pg, buf, n) != 1)
			return fail(c, NULL, "COPY data");
		buf += n;
		len -= (size_t)n;
	}
	return EM_OK;
}

enum em_err db_copy_end(struct db_conn *c, const char *abort_reason)
{
	enum em_err rc = EM_OK;
	PGresult *res;

	if (PQputCopyEnd(c->pg, abort_reason) != 1)
		return fail(c, NULL, "COPY end");
	/* Drain every result; the COPY's own comes first. */
	while ((res = PQgetResult(c->pg))) {
		db_notify_drain(c);
		if (rc == EM_OK && PQresultStatus(res) != PGRES_COMMAND_OK && !abort_reason) {
			rc = fail(c, res, "COPY");
			continue;
		}
		PQclear(res);
	}
	return rc;
}

static enum em_err simple(struct db_conn *c, const char *sql)
{
	PGresult *res = PQexec(c->pg, sql);
	/* COMMIT: this session's own notifications arrive before its ReadyForQuery,
	 * so the generation moves before the writer answers. */
	db_notify_drain(c);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return fail(c, res, sql);
	PQclear(res);
	return EM_OK;
}

enum em_err db_tx(struct db_conn *c, db_tx_fn fn, void *ctx)
{
	enum em_err rc = EM_EUNAVAILABLE;

	for (int attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
		if ((rc = db_ensure(c)) != EM_OK)
			return rc;
		if ((rc = simple(c, "BEGIN")) != EM_OK)
			return rc;
		rc = fn(c, ctx);
		if (rc == EM_OK) {
			rc = simple(c, "COMMIT");
		} else if (c->pg && PQstatus(c->pg) == CONNECTION_OK) {
			PGresult *res = PQexec(c->pg, "ROLLBACK");
			PQclear(res);
		}
		if (rc != EM_ERETRY)
			return rc;
		struct timespec pause = {0, (long)(1 + attempt * 3 + rand() % 5) * 1000000L};
		nanosleep(&pause, NULL);
	}
	return EM_EUNAVAILABLE;
}

const char *db_last_constraint(const struct db_conn *c)
{
	return c->constraint;
}

const char *db_last_sqlstate(const struct db_conn *c)
{
	return c->sqlstate;
}

int64_t db_int64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool db_bool(const PGresult *r, int row, int col)
{
	return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}
