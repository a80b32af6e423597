/*
 * migrate.h — the migration runner and the schema check behind /readyz.
 */
#ifndef EFFMON_MIGRATE_H
#define EFFMON_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "effmon/db.h"

/* Applies the embedded migrations not yet applied, then the function files of sql/ whose
 * text changed; err gets a one-line reason. */
enum em_err migrate_run(PGconn *pg, char *err, size_t errlen);

/* The newest embedded version. */
int migrate_latest(void);

/* EM_OK when every embedded migration is applied and every function file of sql/ is current
 * (or recorded by a binary with newer migrations); *applied gets the newest applied
 * migration, *functions whether the function files are current. */
enum em_err migrate_check(struct db_conn *c, int *applied, bool *functions);

#endif
