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

/* The layout of id_list_reply: $7 recommendation, $8 after id, $9 limit + 1. */
DB_STMT(RECO_HISTORY) = {
	"recommendation_history_list",
	"SELECT jsonb_build_object('id', h.id, 'occurred_at', h.occurred_at, 'actor_user_id', "
	" h.actor_user_id, 'actor_role', h.actor_role, 'action', h.action, 'from', h.from_status, "
	" 'to', h.to_status, 'comment', h.comment, 'report', h.report), h.id, '' "
	"FROM recommendation_history h WHERE h.recommendation_id = $7::bigint "
	" AND ($8::bigint IS NULL OR h.id > $8::bigint) ORDER BY h.id LIMIT $9::int",
	9};

enum em_err recommendations_history(struct em_req *req, const struct em_args *args, json_t *body,
				    struct em_reply *reply)
{
	(void)body;
	return id_list_reply(req, reply, &RECO_VISIBLE_ONE, &RECO_HISTORY, args->id[0],
			     "recommendation", "history is ordered by id only");
}
