/*
 * audit.c — GET /api/v1/audit: the audit trail, newest first, for the admin
 * (everything) and regional operators (rows whose scope lies in their
 * region). Rows are written by each write's own statement; this file only
 * reads them, with a keyset on the id going down.
 */
#include <stdio.h>
#include <string.h>

#include "effmon/registry.h"

/* clang-format off */
#define AUDIT_JSON(a)                                                                   \
	"jsonb_build_object('id', " a ".id, 'occurred_at', " a ".occurred_at, "            \
	"'actor_user_id', " a ".actor_user_id, 'actor_role', " a ".actor_role, "           \
	"'entity', " a ".entity, 'entity_id', " a ".entity_id, 'action', " a ".action, "   \
	"'before', " a ".before, 'after', " a ".after, 'request_id', " a ".request_id)"
/* clang-format on */

/*
 * $1..$6 the caller, $7 limit+1, $8 the last id seen (rows below it
 * follow), $9 entity, $10 entity id, $11 actor. Served by the primary key, by
 * (entity, entity_id, id) and by (region_id, id), all walked backwards.
 */
/* clang-format off */
DB_STMT(AUDIT_LIST) = {
	"audit_list",
	"SELECT " AUDIT_JSON("a") ", a.id FROM audit_events a WHERE"
	SQL_LIST_SCOPE_REGION("a.region_id", "a.municipality_id", "a.organization_id")
	" AND ($8::bigint IS NULL OR a.id < $8::bigint)"
	" AND ($9::text IS NULL OR a.entity = $9)"
	" AND ($10::bigint IS NULL OR a.entity_id = $10::bigint)"
	" AND ($11::bigint IS NULL OR a.actor_user_id = $11::bigint)"
	" ORDER BY a.id DESC LIMIT $7::int",
	11};
/* clang-format on */

static const struct list_filter ID_FILTERS[] = {
	{"entity_id", FILTER_ID, NULL},
	{"actor_user_id", FILTER_ID, NULL},
};

enum em_err audit_list(struct em_req *req, const struct em_args *args, json_t *body,
		       struct em_reply *reply)
{
	struct list_page page;
	const char *ids[2];
	struct db_args a;
	const char *sort = req_query(req, "sort");
	const char *entity = req_query(req, "entity");
	PGresult *res;
	enum em_err rc;

	(void)args;
	(void)body;
	/* One order only: newest first. The cursor is the shared one, sort "id". */
	if (sort && strcmp(sort, "id") != 0) {
		reply_field_error(reply, "sort", "must be id (the audit is listed newest first)");
		return reply_fail(reply, EM_EINVAL, "invalid list parameters");
	}
	/* Its errors stay in reply->errors, reported with the filters' below. */
	list_page_parse(req, reply, &page);
	if (entity && (utf8_length(entity) < 1 || utf8_length(entity) > 100))
		reply_field_error(reply, "entity", "must be 1 to 100 characters");
	list_filters_parse(req, reply, ID_FILTERS, 2, ids);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid list parameters");
	caller_args(&a, req);
	db_arg_i64(&a, page.limit + 1);
	db_arg_id(&a, page.after_id);
	db_arg_text(&a, entity);
	db_arg_text(&a, ids[0]);
	db_arg_text(&a, ids[1]);
	if ((rc = db_exec_args_custom(req->db, &AUDIT_LIST, &a, &res)) != EM_OK)
		return rc;
	rc = list_reply(reply, res, &page, NULL);
	PQclear(res);
	return rc;
}
