/*
 * migrate.c — applies migrations/NNNN_name.sql (embedded at build time) in
 * order, each in its own transaction with its SHA-256 recorded. A session
 * advisory lock makes replicas that start together migrate once; an applied
 * migration whose text changed is an error, never silently skipped.
 */
#include "effmon/migrate.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/embedded.h"
#include "effmon/log.h"

/* Any constant: "effmon" in ASCII, as a decimal bigint. */
#define MIGRATE_LOCK_KEY "111490479517550"

static void checksum(const struct em_migration *m, char hex[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)m->sql, m->len);
	sodium_bin2hex(hex, 65, h, sizeof(h));
}

static bool command_ok(PGconn *pg, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(res));
		err[strcspn(err, "\n")] = '\0';
	}
	PQclear(res);
	return ok;
}

static enum em_err apply(PGconn *pg, const struct em_migration *m, const char *sum, char *err,
			 size_t errlen)
{
	char version[16], why[400];
	const char *params[3] = {version, m->name, sum};
	PGresult *res;

	snprintf(version, sizeof(version), "%d", m->version);
	if (!command_ok(pg, "BEGIN", why, sizeof(why)))
		goto fail;
	if (!command_ok(pg, m->sql, why, sizeof(why)))
		goto fail;
	res = PQexecParams(pg,
			   "INSERT INTO schema_migrations (version, name, checksum) "
			   "VALUES ($1::int, $2, $3)",
			   3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(why, sizeof(why), "%s", PQresultErrorMessage(res));
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	if (!command_ok(pg, "COMMIT", why, sizeof(why)))
		goto fail;
	log_info("migration %04d_%s applied", m->version, m->name);
	return EM_OK;
fail:
	PQclear(PQexec(pg, "ROLLBACK"));
	why[strcspn(why, "\n")] = '\0';
	snprintf(err, errlen, "migration %04d_%s failed: %s", m->version, m->name, why);
	return EM_EDB;
}

enum em_err migrate_run(PGconn *pg, char *err, size_t errlen)
{
	enum em_err rc = EM_OK;
	PGresult *res = NULL;
	char why[400];

	if (!command_ok(pg, "SET client_min_messages TO warning", why, sizeof(why)) ||
	    !command_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", why, sizeof(why))) {
		snprintf(err, errlen, "cannot take the migration lock: %s", why);
		return EM_EDB;
	}
	if (!command_ok(pg,
			"CREATE TABLE IF NOT EXISTS schema_migrations ("
			" version integer PRIMARY KEY, name text NOT NULL,"
			" checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
			why, sizeof(why))) {
		snprintf(err, errlen, "cannot create schema_migrations: %s", why);
		rc = EM_EDB;
		goto out;
	}
	res = PQexec(pg, "SELECT version, checksum FROM schema_migrations ORDER BY version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "cannot read schema_migrations: %s",
			 PQresultErrorMessage(res));
		err[strcspn(err, "\n")] = '\0';
		rc = EM_EDB;
		goto out;
	}
	for (size_t i = 0; i < EM_NMIGRATIONS && rc == EM_OK; i++) {
		const struct em_migration *m = &EM_MIGRATIONS[i];
		char sum[65];
		const char *applied = NULL;

		checksum(m, sum);
		for (int r = 0; r < PQntuples(res); r++)
			if (atoi(PQgetvalue(res, r, 0)) == m->version)
				applied = PQgetvalue(res, r, 1);
		if (applied && strcmp(applied, sum) != 0) {
			snprintf(err, errlen,
				 "migration %04d_%s was changed after it was applied "
				 "(checksum %.12s... in the database, %.12s... now): "
				 "write a new migration instead",
				 m->version, m->name, applied, sum);
			rc = EM_ECONFLICT;
		} else if (!applied) {
			rc = apply(pg, m, sum, err, errlen);
		}
	}
	for (int r = 0; r < PQntuples(res) && rc == EM_OK; r++)
		if ((size_t)atoi(PQgetvalue(res, r, 0)) > EM_NMIGRATIONS)
			log_warning("the database has migration %s, newer than this binary",
				    PQgetvalue(res, r, 0));
out:
	PQclear(res);
	command_ok(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", why, sizeof(why));
	return rc;
}

int migrate_latest(void)
{
	return EM_NMIGRATIONS ? EM_MIGRATIONS[EM_NMIGRATIONS - 1].version : 0;
}

static const struct db_stmt SCHEMA_VERSION = {
	"migrate_schema_version",
	"SELECT coalesce(max(version), 0), count(*) FILTER (WHERE version <= $1::int) "
	"FROM schema_migrations",
	1,
};

enum em_err migrate_check(struct db_conn *c, int *applied)
{
	char latest[16];
	const char *params[1] = {latest};
	PGresult *res;
	enum em_err rc;

	snprintf(latest, sizeof(latest), "%d", migrate_latest());
	if ((rc = db_exec(c, &SCHEMA_VERSION, params, &res)) != EM_OK)
		return rc;
	*applied = (int)db_int64(res, 0, 0);
	rc = db_int64(res, 0, 1) == (int64_t)EM_NMIGRATIONS ? EM_OK : EM_EUNAVAILABLE;
	PQclear(res);
	return rc;
}
