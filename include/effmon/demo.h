/*
 * demo.h — `effmond load-demo`: a fictional region with its municipalities,
 * organizations, heads and personnel reserve, an indicator catalog with a
 * published and an open campaign, the seeded roadmaps, and one user per role.
 */
#ifndef EFFMON_DEMO_H
#define EFFMON_DEMO_H

#include <libpq-fe.h>
#include <stdio.h>

#include "effmon/effmon.h"

/* The demo region: its code finds it again, so a second load does nothing. */
#define DEMO_REGION_CODE "98"
#define DEMO_REGION_NAME "Демонстрационная область"

/*
 * Loads the demo data in one transaction, unless the demo region is there
 * already, and writes to out what it did: the counts, and the logins it
 * created with their passwords (shown only there). Refuses an unmigrated
 * schema. On failure nothing is written anywhere and err gets a one-line
 * reason.
 */
enum em_err demo_load(PGconn *pg, FILE *out, char *err, size_t errlen);

#endif
