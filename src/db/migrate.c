/*
 * migrate.c — applies migrations/NNNN_name.sql (embedded at build time) in
 * order, each in its own transaction with its SHA-256 recorded, then the
 * function files of sql/ whose text changed. A session advisory lock makes
 * replicas that start together migrate once; an applied migration whose text
 * changed is an error, never silently skipped. A function file is applied
 * again whenever its text differs from the one recorded, unless a binary with
 * newer migrations recorded it (an older binary never takes functions back).
 */
#include "effmon/migrate.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/embedded.h"
#include "effmon/log.h"

/* Any constant: "effmon" in ASCII, as a decimal bigint. */
#define MIGRATE_LOCK_KEY "111490479517550"

static void checksum(const char *sql, size_t len, char hex[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)sql, len);
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

/* The rows of a bookkeeping query, or NULL with "cannot read <what>: <reason>" in err. */
static PGresult *rows_of(PGconn *pg, const char *sql, const char *what, char *err, size_t errlen)
{
	PGresult *res = PQexec(pg, sql);

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	snprintf(err, errlen, "cannot read %s: %s", what, PQresultErrorMessage(res));
	err[strcspn(err, "\n")] = '\0';
	PQclear(res);
	return NULL;
}

/* BEGIN, the file's text, the statement that records it (params), COMMIT; on failure the
 * reason in why and a rollback. */
static bool apply_tx(PGconn *pg, const char *sql, const char *record, int nparams,
		     const char *const *params, char *why, size_t whylen)
{
	PGresult *res;

	if (!command_ok(pg, "BEGIN", why, whylen))
		goto fail;
	if (!command_ok(pg, sql, why, whylen))
		goto fail;
	res = PQexecParams(pg, record, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(why, whylen, "%s", PQresultErrorMessage(res));
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	if (!command_ok(pg, "COMMIT", why, whylen))
		goto fail;
	return true;
fail:
	PQclear(PQexec(pg, "ROLLBACK"));
	why[strcspn(why, "\n")] = '\0';
	return false;
}

static enum em_err apply(PGconn *pg, const struct em_migration *m, const char *sum, char *err,
			 size_t errlen)
{
	char version[16], why[400];
	const char *params[3] = {version, m->name, sum};

	snprintf(version, sizeof(version), "%d", m->version);
	if (!apply_tx(pg, m->sql,
		      "INSERT INTO schema_migrations (version, name, checksum) "
		      "VALUES ($1::int, $2, $3)",
		      3, params, why, sizeof(why))) {
		snprintf(err, errlen, "migration %04d_%s failed: %s", m->version, m->name, why);
		return EM_EDB;
	}
	log_info("migration %04d_%s applied", m->version, m->name);
	return EM_OK;
}

/* The function files of sql/ whose recorded text differs from this binary's. */
static enum em_err apply_functions(PGconn *pg, char *err, size_t errlen)
{
	char latest[16], why[400];
	PGresult *res;

	if (!command_ok(pg,
			"CREATE TABLE IF NOT EXISTS schema_functions ("
			" name text PRIMARY KEY, checksum text NOT NULL,"
			" schema_version integer NOT NULL,"
			" applied_at timestamptz NOT NULL DEFAULT now())",
			why, sizeof(why))) {
		snprintf(err, errlen, "cannot create schema_functions: %s", why);
		return EM_EDB;
	}
	if (!(res = rows_of(pg, "SELECT name, checksum, schema_version FROM schema_functions",
			    "schema_functions", err, errlen)))
		return EM_EDB;
	snprintf(latest, sizeof(latest), "%d", migrate_latest());
	for (size_t i = 0; i < EM_NFUNCTIONS; i++) {
		const struct em_sqlfile *f = &EM_FUNCTIONS[i];
		const char *params[3] = {f->name, NULL, latest};
		char sum[65];
		int row = -1;

		checksum(f->sql, f->len, sum);
		params[1] = sum;
		for (int r = 0; r < PQntuples(res); r++)
			if (strcmp(PQgetvalue(res, r, 0), f->name) == 0)
				row = r;
		if (row >= 0 && strcmp(PQgetvalue(res, row, 1), sum) == 0)
			continue;
		if (row >= 0 && atoi(PQgetvalue(res, row, 2)) > migrate_latest()) {
			log_warning(
				"sql/%s was applied by a binary with migration %s, newer than "
				"this one: left as it is",
				f->name, PQgetvalue(res, row, 2));
			continue;
		}
		if (!apply_tx(pg, f->sql,
			      "INSERT INTO schema_functions (name, checksum, schema_version) "
			      "VALUES ($1, $2, $3::int) ON CONFLICT (name) DO UPDATE SET "
			      "checksum = EXCLUDED.checksum, schema_version = "
			      "EXCLUDED.schema_version, applied_at = now()",
			      3, params, why, sizeof(why))) {
			snprintf(err, errlen, "sql/%s failed: %s", f->name, why);
			PQclear(res);
			return EM_EDB;
		}
		log_info("sql/%s applied", f->name);
	}
	PQclear(res);
	return EM_OK;
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
	if (!(res = rows_of(pg, "SELECT version, checksum FROM schema_migrations ORDER BY version",
			    "schema_migrations", err, errlen))) {
		rc = EM_EDB;
		goto out;
	}
	for (size_t i = 0; i < EM_NMIGRATIONS && rc == EM_OK; i++) {
		const struct em_migration *m = &EM_MIGRATIONS[i];
		char sum[65];
		const char *applied = NULL;

		checksum(m->sql, m->len, sum);
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
	if (rc == EM_OK)
		rc = apply_functions(pg, err, errlen);
out:
	PQclear(res);
	command_ok(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", why, sizeof(why));
	return rc;
}

int migrate_latest(void)
{
	return EM_NMIGRATIONS ? EM_MIGRATIONS[EM_NMIGRATIONS - 1].version : 0;
}

/* $1 this binary's latest migration, $2 its function files' names, $3 their checksums ->
 * the latest applied migration, how many of ours are applied, how many of our function
 * files are current (same text, or recorded by a newer binary). */
DB_STMT(SCHEMA_VERSION) = {
	"migrate_schema_version",
	"SELECT coalesce(max(version), 0), count(*) FILTER (WHERE version <= $1::int), "
	" (SELECT count(*) FROM unnest($2::text[], $3::text[]) f (name, checksum) "
	"  JOIN schema_functions s ON s.name = f.name AND (s.checksum = f.checksum "
	"   OR s.schema_version > $1::int)) "
	"FROM schema_migrations",
	3,
};

/* '{a,b,...}' of the function files' names and of their checksums, made once. */
static char *function_names, *function_sums;
static pthread_once_t functions_once = PTHREAD_ONCE_INIT;

static void functions_init(void)
{
	size_t n = EM_NFUNCTIONS, cap = 3;

	for (size_t i = 0; i < n; i++)
		cap += strlen(EM_FUNCTIONS[i].name) + 1;
	function_names = malloc(cap);
	function_sums = malloc(3 + n * 65);
	if (!function_names || !function_sums)
		return;
	strcpy(function_names, "{");
	strcpy(function_sums, "{");
	for (size_t i = 0; i < n; i++) {
		char sum[65];
		checksum(EM_FUNCTIONS[i].sql, EM_FUNCTIONS[i].len, sum);
		if (i) {
			strcat(function_names, ",");
			strcat(function_sums, ",");
		}
		strcat(function_names, EM_FUNCTIONS[i].name);
		strcat(function_sums, sum);
	}
	strcat(function_names, "}");
	strcat(function_sums, "}");
}

enum em_err migrate_check(struct db_conn *c, int *applied, bool *functions)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	pthread_once(&functions_once, functions_init);
	if (!function_names || !function_sums)
		return EM_EINTERNAL;
	db_args_init(&a);
	db_arg_i64(&a, migrate_latest());
	db_arg_text(&a, function_names);
	db_arg_text(&a, function_sums);
	if ((rc = db_exec_args(c, &SCHEMA_VERSION, &a, &res)) != EM_OK)
		return rc;
	*applied = (int)db_int64(res, 0, 0);
	*functions = db_int64(res, 0, 2) == (int64_t)EM_NFUNCTIONS;
	rc = db_int64(res, 0, 1) == (int64_t)EM_NMIGRATIONS && *functions ? EM_OK : EM_EUNAVAILABLE;
	PQclear(res);
	return rc;
}
