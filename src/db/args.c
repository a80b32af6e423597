/*
 * args.c — typed statement arguments (struct db_args of effmon/db.h): numbers
 * formatted into the struct's own buffers, the count checked against the
 * statement's declared parameters, and the list statements' execution with a
 * plan made for the values given.
 */
#include "effmon/db.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "effmon/log.h"

void db_args_init(struct db_args *a)
{
	a->n = 0;
	a->overflow = false;
}

static void push(struct db_args *a, const char *v)
{
	if (a->n >= DB_MAX_ARGS) {
		a->overflow = true;
		return;
	}
	a->v[a->n++] = v;
}

void db_arg_null(struct db_args *a)
{
	push(a, NULL);
}

void db_arg_text(struct db_args *a, const char *s)
{
	push(a, s);
}

void db_arg_i64(struct db_args *a, int64_t v)
{
	if (a->n >= DB_MAX_ARGS) {
		a->overflow = true;
		return;
	}
	snprintf(a->num[a->n], DB_NUM_LEN, "%" PRId64, v);
	push(a, a->num[a->n]);
}

void db_arg_id(struct db_args *a, int64_t id)
{
	if (id)
		db_arg_i64(a, id);
	else
		db_arg_null(a);
}

void db_arg_bool(struct db_args *a, bool v)
{
	push(a, v ? "true" : "false");
}

static bool count_ok(const struct db_stmt *st, const struct db_args *a)
{
	if (!a->overflow && a->n == st->nparams)
		return true;
	log_error("statement %s takes %d parameters, the caller gave %s%d", st->name, st->nparams,
		  a->overflow ? "more than " : "", a->n);
	return false;
}

enum em_err db_exec_args(struct db_conn *c, const struct db_stmt *st, const struct db_args *a,
			 PGresult **out)
{
	if (!count_ok(st, a))
		return EM_EINTERNAL;
	return db_exec(c, st, a->v, out);
}

/* Each returns the setting before; the session's, not a transaction's (see db.h). */
DB_STMT(PLAN_CUSTOM) = {"plan_cache_custom",
			"SELECT current_setting('plan_cache_mode'), "
			"set_config('plan_cache_mode', 'force_custom_plan', false)",
			0};
DB_STMT(PLAN_GENERIC) = {"plan_cache_generic",
			 "SELECT current_setting('plan_cache_mode'), "
			 "set_config('plan_cache_mode', 'force_generic_plan', false)",
			 0};
DB_STMT(PLAN_RESTORE) = {"plan_cache_restore", "SELECT set_config('plan_cache_mode', $1, false)",
			 1};

/* st with a, plan_cache_mode set by mode (PLAN_CUSTOM or PLAN_GENERIC) around it. */
static enum em_err exec_planned(struct db_conn *c, const struct db_stmt *mode,
				const struct db_stmt *st, const struct db_args *a, PGresult **out)
{
	char before[32];
	const char *restore[1] = {before};
	PGresult *res;
	enum em_err rc, rc2;

	if (!count_ok(st, a))
		return EM_EINTERNAL;
	if ((rc = db_exec(c, mode, NULL, &res)) != EM_OK)
		return rc;
	snprintf(before, sizeof(before), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	rc = db_exec(c, st, a->v, out);
	/* Outside a transaction this runs whatever became of st. After a failure
	 * inside one it fails too (25P02: logged, and db_last_sqlstate then names
	 * it), while the rollback restores the setting; st's own error is what is
	 * returned. No list runs inside a transaction today. */
	rc2 = db_exec(c, &PLAN_RESTORE, restore, &res);
	if (rc2 == EM_OK)
		PQclear(res);
	else if (rc == EM_OK) {
		PQclear(*out);
		return rc2;
	}
	return rc;
}

enum em_err db_exec_args_custom(struct db_conn *c, const struct db_stmt *st,
				const struct db_args *a, PGresult **out)
{
	return exec_planned(c, &PLAN_CUSTOM, st, a, out);
}

enum em_err db_exec_args_generic(struct db_conn *c, const struct db_stmt *st,
				 const struct db_args *a, PGresult **out)
{
	return exec_planned(c, &PLAN_GENERIC, st, a, out);
}
