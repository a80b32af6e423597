/*
 * handler.h — what the monitoring handlers share (private to src/monitoring/,
 * defined in campaigns.c): the scope of a campaign's rows and the steps of the
 * writes of campaigns, indicators and a submission's values.
 */
#ifndef EFFMON_MONITORING_HANDLER_H
#define EFFMON_MONITORING_HANDLER_H

#include <stdbool.h>
#include <stdint.h>

#include "effmon/monitoring.h"
#include "effmon/registry.h"

/* Every role sees the campaigns of its region, and their indicators. */
/* clang-format off */
#define CAMPAIGN_SCOPE(c) SQL_SCOPE(c ".region_id", "NULL::bigint", "NULL::bigint")
/* clang-format on */
/* The campaign's status, if visible: $1..$6 the caller, $7 the campaign. */
/* clang-format off */
#define SQL_CAMPAIGN_STATUS                                                              \
	"SELECT c.status FROM campaigns c WHERE c.id = $7::bigint AND" CAMPAIGN_SCOPE("c")
/* clang-format on */

/* The end of an update statement of a region-level row (mon_update_exec's layout):
 * its audit row, then the row's json and version. */
/* clang-format off */
#define SQL_AUDITED_UPDATE(entity, json)                                                 \
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, '" entity "', upd.id, 'update', " \
	" $9::jsonb, to_jsonb(upd), $11, upd.region_id, NULL, NULL FROM upd) "              \
	"SELECT " json ", upd.version FROM upd"
/* clang-format on */

/* The JSON text of a body for SQL: 15 significant digits give back the decimal the
 * client wrote. */
#define MON_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* After a create's checks: 400 "the <entity> is not valid" when they found errors;
 * else create_run (effmon/resource.h) with doc's text as the body. */
enum em_err mon_create_run(struct create_run *c, const json_t *doc, const char *entity);

/* A change or a delete in progress: what its transaction sees. */
struct mon_write {
	struct em_req *req;
	int64_t id;
	long version; /* from If-Match */
	json_t *body;
	const char *body_text;
	struct em_reply *reply;
};

/* A change or delete of the row args names: w for it, with the If-Match version
 * (428 or 412 when it has none). */
enum em_err mon_write_open(struct mon_write *w, struct em_req *req, const struct em_args *args,
			   json_t *body, struct em_reply *reply);

/* After a change's checks: change_check (effmon/resource.h), then tx in one
 * transaction with the body's text as w->body_text. */
enum em_err mon_change_run(struct mon_write *w, const char *entity, db_tx_fn tx);

/* Runs an update statement: $1..$6 the caller, $7 id, $8 body, $9 the row before,
 * $10 actor, $11 request id; a constraint it breaks is answered by map_constraint. */
enum em_err mon_update_exec(struct mon_write *w, const struct db_stmt *st, const char *before,
			    PGresult **res);

#endif
