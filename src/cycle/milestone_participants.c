/*
 * milestone_participants.c — the heads taking part in a milestone: listed in
 * the caller's scope, added and removed by whoever may write the milestone's
 * roadmap, each change audited; the cycle report's effect step compares them
 * with the heads who did not take part.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/cycle.h"
#include "effmon/registry.h"
#include "milestone.h"

/* clang-format off */
#define PART_JSON(p, g, o)                                                                  \
	"jsonb_build_object('milestone_id', " p ".milestone_id, 'manager_id', " g ".id, "      \
	"'full_name', " g ".full_name, 'organization_id', " g ".organization_id, "            \
	"'organization_name', " o ".short_name, 'municipality_id', " g ".municipality_id, "   \
	"'region_id', " g ".region_id, 'added_by', " p ".added_by, 'added_at', " p             \
	".created_at)"
/* clang-format on */

/* One row per visible milestone (none: 404): its participants the caller may see. */
/* clang-format off */
DB_STMT(PART_LIST) = {
	"milestone_participants",
	"SELECT coalesce((SELECT jsonb_agg(" PART_JSON("p", "g", "o") " ORDER BY "
	"  g.full_name COLLATE \"ru-x-icu\", g.id) FROM milestone_participants p "
	"  JOIN managers g ON g.id = p.manager_id "
	"  LEFT JOIN organizations o ON o.id = g.organization_id "
	"  WHERE p.milestone_id = m.id AND"
	SQL_SCOPE("g.region_id", "g.municipality_id", "g.organization_id") "), '[]'::jsonb) "
	"FROM milestones m JOIN roadmaps r ON r.id = m.roadmap_id "
	"WHERE m.id = $7::bigint AND" MS_SCOPE("r"),
	7};
/* clang-format on */

/* $7 milestone (locked), $8 manager, $9 actor, $10 request id. The manager must be
 * visible to the caller, active and in the roadmap's territory. */
/* clang-format off */
DB_STMT(PART_ADD) = {
	"milestone_participant_add",
	"WITH r AS (SELECT r.* FROM roadmaps r JOIN milestones m ON m.roadmap_id = r.id "
	"  WHERE m.id = $7::bigint),"
	" g AS (SELECT g.* FROM managers g, r WHERE g.id = $8::bigint AND g.status = 'active' "
	"  AND" SQL_SCOPE("g.region_id", "g.municipality_id", "g.organization_id")
	"  AND g.region_id = r.region_id "
	"  AND (r.municipality_id IS NULL OR g.municipality_id = r.municipality_id) "
	"  AND (r.organization_id IS NULL OR g.organization_id = r.organization_id)),"
	" ins AS (INSERT INTO milestone_participants (milestone_id, manager_id, added_by) "
	"  SELECT $7::bigint, g.id, $9::bigint FROM g RETURNING *),"
	" bump AS (UPDATE milestones m SET version = m.version + 1, updated_at = now() "
	"  FROM ins WHERE m.id = ins.milestone_id RETURNING m.id),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $9::bigint, $1, 'milestone', ins.milestone_id, "
	"  'participant_add', NULL, to_jsonb(ins), $10, r.region_id, r.municipality_id, "
	"  r.organization_id FROM ins, r) "
	"SELECT " PART_JSON("ins", "g", "o") " FROM ins JOIN g ON g.id = ins.manager_id "
	"LEFT JOIN organizations o ON o.id = g.organization_id",
	10};
/* clang-format on */

/* $7 milestone (locked), $8 manager, $9 actor, $10 request id. */
/* clang-format off */
DB_STMT(PART_REMOVE) = {
	"milestone_participant_remove",
	"WITH del AS (DELETE FROM milestone_participants p WHERE p.milestone_id = $7::bigint "
	"  AND p.manager_id = $8::bigint RETURNING p.*),"
	" bump AS (UPDATE milestones m SET version = m.version + 1, updated_at = now() "
	"  FROM del WHERE m.id = del.milestone_id RETURNING m.id),"
	" r AS (SELECT r.* FROM roadmaps r JOIN milestones m ON m.roadmap_id = r.id "
	"  WHERE m.id = $7::bigint),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $9::bigint, $1, 'milestone', del.milestone_id, "
	"  'participant_remove', to_jsonb(del), NULL, $10, r.region_id, r.municipality_id, "
	"  r.organization_id FROM del, r) "
	"SELECT count(*) FROM del",
	10};
/* clang-format on */

enum em_err milestone_participants_list(struct em_req *req, const struct em_args *args,
					json_t *body, struct em_reply *reply)
{
	(void)body;
	return whole_list_reply(req, &PART_LIST, args->id[0], "milestone", reply);
}

struct part_op {
	struct em_req *req;
	int64_t milestone_id, manager_id;
	json_t *body; /* add: the request body, for Idempotency-Key */
	struct em_reply *reply;
};

/* Locks the milestone and checks the caller may change its participants. */
static enum em_err part_begin(struct part_op *p, PGresult **lock)
{
	enum em_err rc;

	if ((rc = milestone_lock(p->req, p->milestone_id, lock, p->reply)) != EM_OK)
		return rc;
	rc = roadmap_may_write(p->req, PQgetvalue(*lock, 0, L_LEVEL), db_int64(*lock, 0, L_ORG),
			       false, p->reply);
	if (rc != EM_OK) {
		PQclear(*lock);
		*lock = NULL;
	}
	return rc;
}

/* The arguments of PART_ADD and PART_REMOVE: scope, milestone, manager, actor, request id. */
static void part_args(const struct part_op *p, struct db_args *a)
{
	caller_args(a, p->req);
	db_arg_i64(a, p->milestone_id);
	db_arg_i64(a, p->manager_id);
	db_arg_i64(a, p->req->caller.user_id);
	db_arg_text(a, p->req->request_id);
}

static enum em_err add_tx(struct db_conn *db, void *arg)
{
	struct part_op *p = arg;
	struct idem idem;
	struct db_args a;
	char location[128];
	PGresult *lock = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(p->reply);
	if ((rc = idem_begin(p->req, p->body, &idem, p->reply)) != EM_OK || idem.replayed)
		return rc;
	if ((rc = part_begin(p, &lock)) != EM_OK)
		return rc;
	PQclear(lock);
	part_args(p, &a);
	if ((rc = db_exec_args(p->req->db, &PART_ADD, &a, &res)) != EM_OK) {
		if (rc == EM_ECONFLICT)
			return reply_fail(p->reply, EM_ECONFLICT,
					  "manager %lld already takes part in milestone %lld",
					  (long long)p->manager_id, (long long)p->milestone_id);
		return rc;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		reply_field_error(p->reply, "manager_id",
				  "no active manager in your scope and the roadmap's territory");
		return reply_fail(p->reply, EM_EINVAL,
				  "manager_id: no active manager in your scope and the roadmap's "
				  "territory");
	}
	snprintf(location, sizeof(location), "/api/v1/milestones/%lld/participants/%lld",
		 (long long)p->milestone_id, (long long)p->manager_id);
	p->reply->status = 201;
	p->reply->text = strdup(PQgetvalue(res, 0, 0));
	p->reply->text_len = p->reply->text ? strlen(p->reply->text) : 0;
	p->reply->content_type = "application/json";
	reply_header(p->reply, "Location", location);
	PQclear(res);
	if (!p->reply->text)
		return EM_EINTERNAL;
	return idem_finish(p->req, &idem, p->reply);
}

static const struct field PART_FIELDS[] = {
	{"manager_id", F_ID, true, false, 0, 0, NULL},
};

enum em_err milestone_participants_add(struct em_req *req, const struct em_args *args, json_t *body,
				       struct em_reply *reply)
{
	struct part_op p = {req, args->id[0], 0, body, reply};

	validate_object(body, PART_FIELDS, 1, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the participant is not valid");
	p.manager_id = (int64_t)json_integer_value(json_object_get(body, "manager_id"));
	return db_tx(req->db, add_tx, &p);
}

static enum em_err remove_tx(struct db_conn *db, void *arg)
{
	struct part_op *p = arg;
	struct db_args a;
	PGresult *lock = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(p->reply);
	if ((rc = part_begin(p, &lock)) != EM_OK)
		return rc;
	PQclear(lock);
	part_args(p, &a);
	if ((rc = db_exec_args(p->req->db, &PART_REMOVE, &a, &res)) != EM_OK)
		return rc;
	bool removed = atol(PQgetvalue(res, 0, 0)) > 0;
	PQclear(res);
	if (!removed)
		return reply_fail(p->reply, EM_ENOTFOUND,
				  "manager %lld does not take part in milestone %lld",
				  (long long)p->manager_id, (long long)p->milestone_id);
	p->reply->status = 204;
	return EM_OK;
}

enum em_err milestone_participants_remove(struct em_req *req, const struct em_args *args,
					  json_t *body, struct em_reply *reply)
{
	struct part_op p = {req, args->id[0], args->id[1], NULL, reply};

	(void)body;
	return db_tx(req->db, remove_tx, &p);
}
