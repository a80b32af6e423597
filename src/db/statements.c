/*
 * statements.c — the registry of every statement declared with DB_STMT (the
 * linker section em_stmts) and its check: each is prepared and described on a
 * migrated database, so a statement that no longer matches the schema fails
 * `effmond check-statements` (and make test) instead of its first request.
 */
#include <string.h>

#include "effmon/db.h"

/* Provided by the linker for the section of DB_STMT's entries. */
extern const struct db_stmt *const __start_em_stmts[];
extern const struct db_stmt *const __stop_em_stmts[];

const struct db_stmt *const *db_statements(size_t *n)
{
	*n = (size_t)(__stop_em_stmts - __start_em_stmts);
	return __start_em_stmts;
}

/* The first line of a result's error message. */
static void error_line(PGresult *res, char *out, size_t len)
{
	snprintf(out, len, "%s", PQresultErrorMessage(res));
	out[strcspn(out, "\n")] = '\0';
}

/* As db.c prepares them: every declared parameter is text. */
#define TEXTOID 25
#define MAX_PARAMS 32

int db_check_statements(PGconn *pg, FILE *out, size_t *checked)
{
	Oid types[MAX_PARAMS];
	size_t n;
	const struct db_stmt *const *all = db_statements(&n);
	int bad = 0;
	char why[512];

	*checked = n;
	for (int i = 0; i < MAX_PARAMS; i++)
		types[i] = TEXTOID;
	for (size_t i = 0; i < n; i++) {
		const struct db_stmt *st = all[i];
		PGresult *res;

		if (st->nparams < 0 || st->nparams > MAX_PARAMS) {
			fprintf(out, "%s: declares %d parameters (0..%d)\n", st->name, st->nparams,
				MAX_PARAMS);
			bad++;
			continue;
		}
		if (st->setup) {
			PQclear(PQexec(pg, "BEGIN"));
			PQclear(PQexec(pg, st->setup->sql));
		}
		res = PQprepare(pg, st->name, st->sql, st->nparams, types);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			error_line(res, why, sizeof(why));
			fprintf(out, "%s: %s\n", st->name, why);
			PQclear(res);
			if (st->setup)
				PQclear(PQexec(pg, "ROLLBACK"));
			bad++;
			continue;
		}
		PQclear(res);
		res = PQdescribePrepared(pg, st->name);
		if (st->setup)
			PQclear(PQexec(pg, "ROLLBACK"));
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			error_line(res, why, sizeof(why));
			fprintf(out, "%s: cannot describe: %s\n", st->name, why);
			bad++;
		} else if (PQnparams(res) != st->nparams) {
			fprintf(out, "%s: uses %d parameters, declares %d\n", st->name,
				PQnparams(res), st->nparams);
			bad++;
		}
		PQclear(res);
	}
	PQclear(PQexec(pg, "DEALLOCATE ALL"));
	return bad;
}
