/*
 * recommendation_history.c — GET /recommendations/{id}/history: every action on a
 * recommendation the caller may see (issued, acknowledged, reported, accepted,
 * returned for rework, withdrawn), in order, paged by id.
 */
#include <stdio.h>
#include <string.h>

#include "effmon/cycle.h"
#include "recommendation.h"

DB_STMT(RECO_VISIBLE_ONE) = {
	"recommendation_visible",
	"SELECT 1 FROM recommendations r WHERE r.id = $7::bigint AND" RECO_VISIBLE("r"), 7};

/* $1 recommendation, $2 after id, $3 limit + 1 -> json, id. */
DB_STMT(RECO_HISTORY) = {
	"recommendation_history_list",
	"SELECT jsonb_build_object('id', h.id, 'occurred_at', h.occurred_at, 'actor_user_id', "
	" h.actor_user_id, 'actor_role', h.actor_role, 'action', h.action, 'from', h.from_status, "
	" 'to', h.to_status, 'comment', h.comment, 'report', h.report), h.id "
	"FROM recommendation_history h WHERE h.recommendation_id = $1::bigint "
	" AND ($2::bigint IS NULL OR h.id > $2::bigint) ORDER BY h.id LIMIT $3::int",
	3};

enum em_err recommendations_history(struct em_req *req, const struct em_args *args, json_t *body,
				    struct em_reply *reply)
{
	struct list_page page;
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	(void)body;
	if ((rc = list_page_parse(req, reply, &page)) != EM_OK && rc != EM_EINVAL)
		return rc;
	if (strcmp(page.sort, "id") != 0)
		reply_field_error(reply, "sort", "history is ordered by id only");
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid list parameters");
	rc = cycle_fetch(req, &RECO_VISIBLE_ONE, args->id[0], &res);
	if (rc == EM_ENOTFOUND)
		return reply_fail(reply, rc, "no recommendation %lld", (long long)args->id[0]);
	if (rc != EM_OK)
		return rc;
	PQclear(res);
	db_args_init(&a);
	db_arg_i64(&a, args->id[0]);
	db_arg_id(&a, page.after_id);
	db_arg_i64(&a, page.limit + 1);
	if ((rc = db_exec_args(req->db, &RECO_HISTORY, &a, &res)) != EM_OK)
		return rc;
	rc = list_reply(reply, res, &page, NULL);
	PQclear(res);
	return rc;
}
