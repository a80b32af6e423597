/*
 * migrate.h — the migration runner and the schema check behind /readyz.
 */
#ifndef EFFMON_MIGRATE_H
#define EFFMON_MIGRATE_H

#include <libpq-fe.h>

#include "effmon/db.h"

/* Applies the embedded migrations not yet applied; err gets a one-line reason. */
enum em_err migrate_run(PGconn *pg, char *err, size_t errlen);

/* The newest embedded version. */
int migrate_latest(void);

/* EM_OK when every embedded migration is applied; *applied gets the newest applied. */
enum em_err migrate_check(struct db_conn *c, int *applied);

#endif
