/*
 * roadmaps.c — roadmaps («дорожные карты») of improvement measures: one per
 * owner of its level (a region, a municipality, an organization), a title and
 * a period. Reads follow em_in_scope(); writes are the operators' of the
 * owner's territory: a municipal operator reads its region's roadmaps but
 * writes only its municipality's and its organizations'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/cycle.h"
#include "effmon/registry.h"

static const char *const LEVELS[] = {"regional", "municipal", "organization", NULL};

/* The plan: required to create (req; the description never), optional in a change. */
/* clang-format off */
#define RM_PLAN(req)                                                                     \
	{"title", F_STRING, req, false, 1, 1000, NULL},                                   \
	{"description", F_STRING, false, true, 0, 10000, NULL},                           \
	{"period_from", F_DATE, req, false, 0, 0, NULL},                                  \
	{"period_to", F_DATE, req, false, 0, 0, NULL}
/* clang-format on */
static const struct field RM_CREATE[] = {
	{"level", F_ENUM, true, false, 0, 0, LEVELS},
	{"region_id", F_ID, false, false, 0, 0, NULL},
	{"municipality_id", F_ID, false, false, 0, 0, NULL},
	{"organization_id", F_ID, false, false, 0, 0, NULL},
	RM_PLAN(true),
};
static const struct field RM_UPDATE[] = {RM_PLAN(false)};

/* The owner field of each level; the others are not taken. */
static const char *owner_field(const char *level)
{
	if (!level)
		return NULL;
	if (strcmp(level, "regional") == 0)
		return "region_id";
	if (strcmp(level, "municipal") == 0)
		return "municipality_id";
	return "organization_id";
}

static void rm_check(const json_t *body, bool creating, struct em_reply *reply)
{
	const char *from = json_string_value(json_object_get(body, "period_from"));
	const char *to = json_string_value(json_object_get(body, "period_to"));
	const char *level = json_string_value(json_object_get(body, "level"));
	static const char *const OWNERS[] = {"region_id", "municipality_id", "organization_id"};

	/* Dates are YYYY-MM-DD (validated): text order is date order. */
	if (from && to && strlen(from) == 10 && strlen(to) == 10 && strcmp(from, to) > 0)
		reply_field_error(reply, "period_to", "must not be before period_from");
	if (!creating || !level || !owner_field(level) ||
	    (strcmp(level, "regional") && strcmp(level, "municipal") &&
	     strcmp(level, "organization")))
		return;
	for (size_t i = 0; i < 3; i++) {
		bool given = json_object_get(body, OWNERS[i]) != NULL;
		bool owner = strcmp(OWNERS[i], owner_field(level)) == 0;
		if (owner && !given)
			reply_field_error(reply, OWNERS[i],
					  "is required: the owner of a %s roadmap", level);
		else if (!owner && given)
			reply_field_error(reply, OWNERS[i],
					  "is not taken for a %s roadmap: its owner is %s", level,
					  owner_field(level));
	}
}

/* clang-format off */
#define RM_JSON(r)                                                                          \
	"jsonb_build_object('id', " r ".id, 'level', " r ".level, 'region_id', " r             \
	".region_id, 'municipality_id', " r ".municipality_id, 'organization_id', " r         \
	".organization_id, 'title', " r ".title, 'description', " r ".description, "           \
	"'period_from', " r ".period_from, 'period_to', " r ".period_to, 'milestones', "      \
	"(SELECT jsonb_build_object('total', count(*), 'planned', count(*) FILTER (WHERE "    \
	"m.status = 'planned'), 'in_progress', count(*) FILTER (WHERE m.status = "            \
	"'in_progress'), 'done', count(*) FILTER (WHERE m.status = 'done'), 'cancelled', "    \
	"count(*) FILTER (WHERE m.status = 'cancelled'), 'overdue', count(*) FILTER (WHERE "  \
	"em_milestone_overdue(m.status, m.recurrence, m.due_on, " r ".period_to))) "          \
	"FROM milestones m WHERE m.roadmap_id = " r ".id), "                                   \
	"'created_at', " r ".created_at, 'updated_at', " r ".updated_at, 'version', " r      \
	".version)"

#define RM_SCOPE(r) SQL_SCOPE(r ".region_id", r ".municipality_id", r ".organization_id")

DB_STMT(RM_GET) = {
	"roadmap_get",
	SQL_GET(RM_JSON("r"), "roadmaps r", "r", RM_SCOPE("r")),
	7};
DB_STMT(RM_LIST) = {
	"roadmap_list",
	SQL_LIST(RM_JSON("r"), "roadmaps r", "r", "r.title", RM_SCOPE("r"),
		 " AND ($12::text IS NULL OR r.level = $12)"
		 " AND ($13::bigint IS NULL OR r.region_id = $13::bigint)"
		 " AND ($14::bigint IS NULL OR r.municipality_id = $14::bigint)"
		 " AND ($15::bigint IS NULL OR r.organization_id = $15::bigint)"),
	15};
/* clang-format on */

/* The owner of the level, found in the caller's scope: no row if it is not. */
/* clang-format off */
DB_STMT(RM_CREATE_SQL) = {
	"roadmap_create",
	"WITH b AS (SELECT $7::jsonb AS b),"
	" own AS (SELECT g.id AS region_id, NULL::bigint AS municipality_id, "
	"  NULL::bigint AS organization_id FROM b JOIN regions g "
	"  ON b->>'level' = 'regional' AND g.id = (b->>'region_id')::bigint "
	" UNION ALL SELECT mu.region_id, mu.id, NULL::bigint FROM b JOIN municipalities mu "
	"  ON b->>'level' = 'municipal' AND mu.id = (b->>'municipality_id')::bigint "
	" UNION ALL SELECT o.region_id, o.municipality_id, o.id FROM b JOIN organizations o "
	"  ON b->>'level' = 'organization' AND o.id = (b->>'organization_id')::bigint),"
	" ins AS (INSERT INTO roadmaps (level, region_id, municipality_id, organization_id, "
	"  title, description, period_from, period_to) "
	"  SELECT b->>'level', own.region_id, own.municipality_id, own.organization_id, "
	"  b->>'title', b->>'description', (b->>'period_from')::date, (b->>'period_to')::date "
	"  FROM b, own WHERE" SQL_SCOPE("own.region_id", "own.municipality_id",
					 "own.organization_id") " RETURNING *),"
	SQL_CREATE_AUDIT("roadmap", "region_id, municipality_id, organization_id", RM_JSON("ins")),
	9};
/* clang-format on */

/* Locks a visible roadmap: version, level, organization, the row as JSON. */
/* clang-format off */
DB_STMT(RM_LOCK) = {
	"roadmap_lock",
	"SELECT r.version, r.level, r.organization_id, to_jsonb(r), r.period_from, r.period_to "
	"FROM roadmaps r WHERE r.id = $7::bigint AND" RM_SCOPE("r") " FOR UPDATE",
	7};
/* clang-format on */

/* $7 id, $8 body, $9 before (locked), $10 actor, $11 request id. Continuous
 * milestones that ended with the roadmap keep ending with it. */
/* clang-format off */
DB_STMT(RM_UPDATE_SQL) = {
	"roadmap_update",
	"WITH upd AS (UPDATE roadmaps r SET title = coalesce($8::jsonb->>'title', r.title), "
	"  description = CASE WHEN $8::jsonb ? 'description' THEN $8::jsonb->>'description' "
	"   ELSE r.description END, "
	"  period_from = coalesce(($8::jsonb->>'period_from')::date, r.period_from), "
	"  period_to = coalesce(($8::jsonb->>'period_to')::date, r.period_to), "
	"  version = r.version + 1, updated_at = now() WHERE r.id = $7::bigint RETURNING r.*),"
	" cont AS (UPDATE milestones m SET due_on = upd.period_to, version = m.version + 1, "
	"  updated_at = now() FROM upd WHERE m.roadmap_id = upd.id AND m.recurrence = "
	"  'continuous' AND m.due_on = ($9::jsonb->>'period_to')::date AND m.due_on <> "
	"  upd.period_to RETURNING m.id),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, 'roadmap', upd.id, 'update', "
	"  $9::jsonb, to_jsonb(upd) || jsonb_build_object('continuous_milestones_moved', "
	"  (SELECT count(*) FROM cont)), $11, upd.region_id, upd.municipality_id, "
	"  upd.organization_id FROM upd) "
	"SELECT " RM_JSON("upd") ", upd.version FROM upd",
	11};
/* clang-format on */

static const struct list_filter RM_FILTERS[] = {
	{"level", FILTER_ENUM, LEVELS},
	{"region_id", FILTER_ID, NULL},
	{"municipality_id", FILTER_ID, NULL},
	{"organization_id", FILTER_ID, NULL},
};

const struct em_resource ROADMAPS = RESOURCE_CRUD(RM, "roadmap", "/api/v1/roadmaps", rm_check,
						  NULL);

enum em_err roadmap_may_write(const struct em_req *req, const char *level, int64_t organization_id,
			      bool progress, struct em_reply *reply)
{
	switch (req->caller.role) {
	case EM_ROLE_ADMIN:
	case EM_ROLE_REGIONAL: return EM_OK; /* the statement found it in the caller's region */
	case EM_ROLE_MUNICIPAL:
		if (strcmp(level, "regional") != 0)
			return EM_OK;
		return reply_fail(reply, EM_EFORBIDDEN,
				  "a regional roadmap is written by regional operators (or an "
				  "admin); municipal operators write their municipality's and "
				  "organizations' roadmaps");
	case EM_ROLE_HEAD:
		if (progress && strcmp(level, "organization") == 0 &&
		    organization_id == req->caller.organization_id)
			return EM_OK;
		return reply_fail(
			reply, EM_EFORBIDDEN,
			progress ? "a head reports progress only on its own organization's "
				   "roadmap; this %s roadmap is written by its operators"
				 : "the plan of a %s roadmap is written by operators (admin, "
				   "regional, or municipal for its territory); a head reports "
				   "progress",
			level);
	default:
		return reply_fail(
			reply, EM_EFORBIDDEN,
			"roadmaps are written by admins and regional or municipal operators");
	}
}

enum em_err roadmap_lock(struct em_req *req, int64_t id, PGresult **out, struct em_reply *reply)
{
	return resource_find(req, reply, &RM_LOCK, id, "roadmap", out);
}

/* --- Create ------------------------------------------------------------------------- */

enum em_err roadmaps_create(struct em_req *req, const struct em_args *args, json_t *body,
			    struct em_reply *reply)
{
	const char *level = json_string_value(json_object_get(body, "level"));
	/* A create that finds no owner names the level's owner field. */
	struct create_run c = {.req = req,
			       .reply = reply,
			       .body = body,
			       .st = &RM_CREATE_SQL,
			       .path = ROADMAPS.path,
			       .scope_field = owner_field(level)};
	enum em_err rc;

	(void)args;
	if (!resource_valid(&ROADMAPS, body, true, reply))
		return reply_fail(reply, EM_EINVAL, "the roadmap is not valid");
	if ((rc = roadmap_may_write(req, level, 0, false, reply)) != EM_OK)
		return rc;
	return create_run(&c);
}

/* --- Update ------------------------------------------------------------------------- */

struct rm_update {
	struct em_req *req;
	int64_t id;
	long version;
	const char *text;
	json_t *body;
	struct em_reply *reply;
};

/* One date of the period changed: check it against the other, kept one. */
static enum em_err period_check(const json_t *body, PGresult *lock, struct em_reply *reply)
{
	const char *from = json_string_value(json_object_get(body, "period_from"));
	const char *to = json_string_value(json_object_get(body, "period_to"));

	if (strcmp(from ? from : PQgetvalue(lock, 0, 4), to ? to : PQgetvalue(lock, 0, 5)) <= 0)
		return EM_OK;
	reply_field_error(reply, "period_to", "must not be before period_from");
	return reply_fail(reply, EM_EINVAL, "the change to the roadmap is not valid");
}

static enum em_err update_tx(struct db_conn *db, void *arg)
{
	struct rm_update *u = arg;
	struct em_req *req = u->req;
	struct db_args a;
	PGresult *lock = NULL;
	enum em_err rc;

	(void)db;
	reply_clear(u->reply);
	if ((rc = roadmap_lock(req, u->id, &lock, u->reply)) != EM_OK)
		return rc;
	if ((rc = roadmap_may_write(req, PQgetvalue(lock, 0, 1), db_int64(lock, 0, 2), false,
				    u->reply)) != EM_OK)
		goto out;
	if (atol(PQgetvalue(lock, 0, 0)) != u->version) {
		rc = reply_changed(u->reply, "roadmap", PQgetvalue(lock, 0, 0));
		goto out;
	}
	if ((rc = period_check(u->body, lock, u->reply)) != EM_OK)
		goto out;
	caller_args(&a, req);
	db_arg_i64(&a, u->id);
	db_arg_text(&a, u->text);
	db_arg_text(&a, PQgetvalue(lock, 0, 3));
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	rc = write_reply(req, u->reply, 200, &RM_UPDATE_SQL, &a);
out:
	PQclear(lock);
	return rc;
}

enum em_err roadmaps_update(struct em_req *req, const struct em_args *args, json_t *body,
			    struct em_reply *reply)
{
	struct rm_update u = {req, args->id[0], 0, NULL, body, reply};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &u.version)) != EM_OK)
		return rc;
	resource_valid(&ROADMAPS, body, false, reply);
	if ((rc = change_check(reply, body, "roadmap")) != EM_OK)
		return rc;
	return body_tx(req, body, &u.text, update_tx, &u);
}
