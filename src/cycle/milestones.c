/*
 * milestones.c — a roadmap's milestones: number, title, the due text as
 * written and the date and recurrence derived from it (due.c), executors,
 * expected result, status planned → in_progress → done or cancelled, the
 * progress report and evidence links; overdue derived in SQL from em_today().
 * Heads report progress on their organization's own. The participating heads
 * are in milestone_participants.c, the checks of a milestone body in
 * milestone_fields.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/cycle.h"
#include "effmon/registry.h"
#include "effmon/workflow.h"
#include "milestone.h"

#define MS_MAX_PER_ROADMAP 500
/* clang-format off */
#define MS_MAX_PER_ROADMAP_SQL "500"
/* clang-format on */

static const char *const STATUSES[] = {"planned", "in_progress", "done", "cancelled", NULL};
static const char *const LEVELS[] = {"regional", "municipal", "organization", NULL};

/* What a head may change on its organization's milestones. */
static const char *const PROGRESS_FIELDS[] = {"progress_report", "evidence", NULL};

/* clang-format off */
#define MS_JSON(m, r)                                                                       \
	"jsonb_build_object('id', " m ".id, 'roadmap_id', " m ".roadmap_id, 'level', " r       \
	".level, 'region_id', " r ".region_id, 'municipality_id', " r ".municipality_id, "     \
	"'organization_id', " r ".organization_id, 'number', " m ".number, 'title', " m       \
	".title, 'due_text', " m ".due_text, 'due_on', " m ".due_on, 'recurrence', " m        \
	".recurrence, 'executors', to_jsonb(" m ".executors), 'expected_result', " m          \
	".expected_result, 'status', " m ".status, 'overdue', em_milestone_overdue(" m        \
	".status, " m ".recurrence, " m ".due_on, " r ".period_to), 'progress_report', " m     \
	".progress_report, 'evidence', to_jsonb(" m ".evidence), 'participant_count', "       \
	"(SELECT count(*) FROM milestone_participants p WHERE p.milestone_id = " m ".id), "    \
	"'started_at', " m ".started_at, 'done_at', " m ".done_at, 'cancelled_at', " m        \
	".cancelled_at, 'created_at', " m ".created_at, 'updated_at', " m ".updated_at, "     \
	"'version', " m ".version)"
/* clang-format on */

/* clang-format off */
DB_STMT(MS_GET) = {
	"milestone_get",
	SQL_GET(MS_JSON("m", "r"), "milestones m JOIN roadmaps r ON r.id = m.roadmap_id", "m",
		MS_SCOPE("r")),
	7};
/* clang-format on */

/* Across the caller's scope; overdue is the derived flag. */
/* clang-format off */
DB_STMT(MS_LIST) = {
	"milestone_list",
	SQL_LIST(MS_JSON("m", "r"), "milestones m JOIN roadmaps r ON r.id = m.roadmap_id", "m",
		 "m.title",
		 SQL_LIST_SCOPE_REGION("r.region_id", "r.municipality_id", "r.organization_id"),
		 " AND ($12::bigint IS NULL OR m.roadmap_id = $12::bigint)"
		 " AND ($13::text IS NULL OR m.status = $13)"
		 " AND ($14::text IS NULL OR r.level = $14)"
		 " AND ($15::boolean IS NULL OR em_milestone_overdue(m.status, m.recurrence, "
		 "  m.due_on, r.period_to) = $15::boolean)"
		 " AND ($16::bigint IS NULL OR r.region_id = $16::bigint)"
		 " AND ($17::bigint IS NULL OR r.municipality_id = $17::bigint)"),
	17};
/* clang-format on */

/* One visible roadmap's milestones in the order of their numbers (none: 404). */
/* clang-format off */
DB_STMT(RM_MS_LIST) = {
	"roadmap_milestones",
	"SELECT coalesce(jsonb_agg(" MS_JSON("m", "r") " ORDER BY "
	"  em_milestone_number_key(m.number), m.id) FILTER (WHERE m.id IS NOT NULL), "
	"  '[]'::jsonb) FROM roadmaps r LEFT JOIN milestones m ON m.roadmap_id = r.id "
	"WHERE r.id = $7::bigint AND" MS_SCOPE("r") " GROUP BY r.id",
	7};
/* clang-format on */

/* $7 roadmap id (locked), $8 body, $9 due_on, $10 recurrence, $11 actor, $12 request id. */
/* clang-format off */
DB_STMT(MS_CREATE_SQL) = {
	"milestone_create",
	"WITH b AS (SELECT $8::jsonb AS b),"
	" ins AS (INSERT INTO milestones (roadmap_id, number, title, due_text, due_on, "
	"  recurrence, executors, expected_result, evidence) "
	"  SELECT $7::bigint, b->>'number', b->>'title', b->>'due_text', $9::date, $10, "
	"  ARRAY(SELECT jsonb_array_elements_text(coalesce(b->'executors', '[]'))), "
	"  b->>'expected_result', "
	"  ARRAY(SELECT jsonb_array_elements_text(coalesce(b->'evidence', '[]'))) FROM b "
	"  WHERE (SELECT count(*) FROM milestones WHERE roadmap_id = $7::bigint) < "
	"  " MS_MAX_PER_ROADMAP_SQL " RETURNING *),"
	" r AS (SELECT * FROM roadmaps WHERE id = $7::bigint),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $11::bigint, $1, 'milestone', ins.id, 'create', "
	"  NULL, to_jsonb(ins), $12, r.region_id, r.municipality_id, r.organization_id "
	"  FROM ins, r) "
	"SELECT " MS_JSON("ins", "r") ", ins.id, ins.version FROM ins, r",
	12};
/* clang-format on */

/* Locks a visible milestone: version, status, row JSON (the workflow's three), level,
 * organization, period, due_text, due_on, recurrence, roadmap id. */
/* clang-format off */
DB_STMT(MS_LOCK) = {
	"milestone_lock",
	"SELECT m.version, m.status, to_jsonb(m), r.level, r.organization_id, r.period_from, "
	"r.period_to, m.due_text, m.due_on, m.recurrence, m.roadmap_id "
	"FROM milestones m JOIN roadmaps r ON r.id = m.roadmap_id "
	"WHERE m.id = $7::bigint AND" MS_SCOPE("r") " FOR UPDATE OF m",
	7};
/* clang-format on */

/* $7 id, $8 body, $9 due_on, $10 recurrence, $11 before, $12 actor, $13 request id. */
/* clang-format off */
DB_STMT(MS_UPDATE_SQL) = {
	"milestone_update",
	"WITH b AS (SELECT $8::jsonb AS b),"
	" upd AS (UPDATE milestones m SET number = coalesce(b->>'number', m.number), "
	"  title = coalesce(b->>'title', m.title), "
	"  due_text = CASE WHEN b ? 'due_text' THEN b->>'due_text' ELSE m.due_text END, "
	"  due_on = $9::date, recurrence = $10, "
	"  executors = CASE WHEN b ? 'executors' THEN "
	"   ARRAY(SELECT jsonb_array_elements_text(b->'executors')) ELSE m.executors END, "
	"  expected_result = CASE WHEN b ? 'expected_result' THEN b->>'expected_result' "
	"   ELSE m.expected_result END, "
	"  progress_report = CASE WHEN b ? 'progress_report' THEN b->>'progress_report' "
	"   ELSE m.progress_report END, "
	"  evidence = CASE WHEN b ? 'evidence' THEN "
	"   ARRAY(SELECT jsonb_array_elements_text(b->'evidence')) ELSE m.evidence END, "
	"  version = m.version + 1, updated_at = now() FROM b WHERE m.id = $7::bigint "
	"  RETURNING m.*),"
	" r AS (SELECT r.* FROM roadmaps r JOIN upd ON upd.roadmap_id = r.id),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $12::bigint, $1, 'milestone', upd.id, 'update', "
	"  $11::jsonb, to_jsonb(upd), $13, r.region_id, r.municipality_id, r.organization_id "
	"  FROM upd, r) "
	"SELECT " MS_JSON("upd", "r") ", upd.version FROM upd, r",
	13};
/* clang-format on */

/* The workflow layout (workflow.h), $13 comment. */
/* clang-format off */
DB_STMT(MS_MOVE) = {
	"milestone_transition",
	"WITH upd AS (UPDATE milestones m SET status = $8, "
	"  started_at = CASE WHEN $8 = 'in_progress' THEN now() ELSE m.started_at END, "
	"  done_at = CASE WHEN $8 = 'done' THEN now() ELSE m.done_at END, "
	"  cancelled_at = CASE WHEN $8 = 'cancelled' THEN now() ELSE m.cancelled_at END, "
	"  version = m.version + 1, updated_at = now() WHERE m.id = $7::bigint RETURNING m.*),"
	" tr AS (INSERT INTO milestone_transitions (milestone_id, from_status, to_status, "
	"  comment, actor_user_id) SELECT upd.id, $9, upd.status, $13, $11::bigint FROM upd "
	"  RETURNING *),"
	" r AS (SELECT r.* FROM roadmaps r JOIN upd ON upd.roadmap_id = r.id),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $11::bigint, $1, 'milestone', upd.id, "
	"  'transition', $10::jsonb, to_jsonb(upd) || jsonb_build_object('transition', "
	"  to_jsonb(tr)), $12, r.region_id, r.municipality_id, r.organization_id "
	"  FROM upd, tr, r) "
	"SELECT " MS_JSON("upd", "r") ", upd.version FROM upd, r",
	13};
/* clang-format on */

static const struct list_filter MS_FILTERS[] = {
	{"roadmap_id", FILTER_ID, NULL}, {"status", FILTER_ENUM, STATUSES},
	{"level", FILTER_ENUM, LEVELS},  {"overdue", FILTER_BOOL, NULL},
	{"region_id", FILTER_ID, NULL},  {"municipality_id", FILTER_ID, NULL},
};

const struct em_resource MILESTONES = RESOURCE_READ(MS, "milestone", "/api/v1/milestones");

/* Fills due_on and recurrence the body leaves out from the due text (the
 * body's, or the kept one), and takes the body's where it gives them. */
static void resolve_due(const json_t *body, const char *kept_text, const char *kept_due_on,
			const char *kept_recurrence, const char *period_from, const char *period_to,
			char due_on[11], char recurrence[12])
{
	const json_t *t = json_object_get(body, "due_text");
	const json_t *d = json_object_get(body, "due_on");
	const json_t *rc = json_object_get(body, "recurrence");
	bool text_changed = t != NULL;
	struct em_due derived;

	due_derive(t ? json_string_value(t) : kept_text, period_from, period_to, &derived);
	if (d)
		snprintf(due_on, 11, "%s", json_is_string(d) ? json_string_value(d) : "");
	else if (text_changed || !kept_recurrence)
		snprintf(due_on, 11, "%s", derived.due_on);
	else
		snprintf(due_on, 11, "%s", kept_due_on ? kept_due_on : "");
	if (rc)
		snprintf(recurrence, 12, "%s", json_string_value(rc));
	else if (text_changed || !kept_recurrence)
		snprintf(recurrence, 12, "%s", derived.recurrence);
	else
		snprintf(recurrence, 12, "%s", kept_recurrence);
}

/* --- Roadmap's milestones: list and create ---------------------------------------------- */

enum em_err roadmap_milestones_list(struct em_req *req, const struct em_args *args, json_t *body,
				    struct em_reply *reply)
{
	(void)body;
	/* A roadmap holds at most MS_MAX_PER_ROADMAP milestones: one page, in number order. */
	return whole_list_reply(req, &RM_MS_LIST, args->id[0], "roadmap", reply);
}

/* The roadmap a milestone is created in, and what resolve_due makes of its due text. */
struct ms_create {
	int64_t roadmap_id;
	char due_on[11], recurrence[12];
};

/* Locks the roadmap (may the caller write it?), then $7 roadmap id, $8 body,
 * $9 due_on, $10 recurrence, $11 actor, $12 request id. */
static enum em_err create_args(struct create_run *c, struct db_args *a)
{
	struct ms_create *m = c->ctx;
	struct em_req *req = c->req;
	PGresult *lock;
	enum em_err rc;

	if ((rc = roadmap_lock(req, m->roadmap_id, &lock, c->reply)) != EM_OK)
		return rc;
	rc = roadmap_may_write(req, PQgetvalue(lock, 0, 1), db_int64(lock, 0, 2), false, c->reply);
	if (rc == EM_OK)
		resolve_due(c->body, NULL, NULL, NULL, PQgetvalue(lock, 0, 4),
			    PQgetvalue(lock, 0, 5), m->due_on, m->recurrence);
	PQclear(lock);
	if (rc != EM_OK)
		return rc;
	db_arg_i64(a, m->roadmap_id);
	db_arg_text(a, c->body_text);
	db_arg_text(a, m->due_on[0] ? m->due_on : NULL);
	db_arg_text(a, m->recurrence);
	db_arg_i64(a, req->caller.user_id);
	db_arg_text(a, req->request_id);
	return EM_OK;
}

static enum em_err create_refused(struct create_run *c, PGresult *res)
{
	(void)res;
	return reply_fail(c->reply, EM_ECONFLICT, "the roadmap already has %d milestones",
			  MS_MAX_PER_ROADMAP);
}

enum em_err roadmap_milestones_create(struct em_req *req, const struct em_args *args, json_t *body,
				      struct em_reply *reply)
{
	struct ms_create m = {.roadmap_id = args->id[0]};
	struct create_run c = {.req = req,
			       .reply = reply,
			       .body = body,
			       .st = &MS_CREATE_SQL,
			       .path = MILESTONES.path,
			       .push = create_args,
			       .refused = create_refused,
			       .ctx = &m};

	ms_validate(body, true, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the milestone is not valid");
	return create_run(&c);
}

/* --- Update ----------------------------------------------------------------------------- */

enum em_err milestone_lock(struct em_req *req, int64_t id, PGresult **out, struct em_reply *reply)
{
	return resource_find(req, reply, &MS_LOCK, id, "milestone", out);
}

/* Does the body change only what a head may (its progress)? */
static bool progress_only(const json_t *body)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)body, key, v) {
		bool ok = false;
		for (const char *const *f = PROGRESS_FIELDS; *f && !ok; f++)
			ok = strcmp(*f, key) == 0;
		if (!ok)
			return false;
	}
	return true;
}

struct ms_update {
	struct em_req *req;
	int64_t id;
	long version;
	json_t *body;
	const char *text;
	struct em_reply *reply;
};

static enum em_err update_tx(struct db_conn *db, void *arg)
{
	struct ms_update *u = arg;
	struct em_req *req = u->req;
	struct db_args a;
	char due_on[11], recurrence[12];
	PGresult *lock = NULL;
	bool progress = progress_only(u->body);
	enum em_err rc;

	(void)db;
	reply_clear(u->reply);
	if ((rc = milestone_lock(req, u->id, &lock, u->reply)) != EM_OK)
		return rc;
	if (req->caller.role == EM_ROLE_HEAD && !progress &&
	    strcmp(PQgetvalue(lock, 0, L_LEVEL), "organization") == 0 &&
	    db_int64(lock, 0, L_ORG) == req->caller.organization_id) {
		rc = reply_fail(
			u->reply, EM_EFORBIDDEN,
			"a head changes only progress_report and evidence; the plan "
			"(number, title, due, executors, expected result) is the operators'");
		goto out;
	}
	if ((rc = roadmap_may_write(req, PQgetvalue(lock, 0, L_LEVEL), db_int64(lock, 0, L_ORG),
				    req->caller.role == EM_ROLE_HEAD, u->reply)) != EM_OK)
		goto out;
	if (atol(PQgetvalue(lock, 0, L_VERSION)) != u->version) {
		rc = reply_changed(u->reply, "milestone", PQgetvalue(lock, 0, L_VERSION));
		goto out;
	}
	resolve_due(u->body, db_str(lock, 0, L_DUE_TEXT), db_str(lock, 0, L_DUE_ON),
		    PQgetvalue(lock, 0, L_RECURRENCE), PQgetvalue(lock, 0, L_FROM),
		    PQgetvalue(lock, 0, L_TO), due_on, recurrence);
	caller_args(&a, req);
	db_arg_i64(&a, u->id);
	db_arg_text(&a, u->text);
	db_arg_text(&a, due_on[0] ? due_on : NULL);
	db_arg_text(&a, recurrence);
	db_arg_text(&a, PQgetvalue(lock, 0, L_ROW));
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	rc = write_reply(req, u->reply, 200, &MS_UPDATE_SQL, &a);
out:
	PQclear(lock);
	return rc;
}

enum em_err milestones_update(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply)
{
	struct ms_update u = {req, args->id[0], 0, body, NULL, reply};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &u.version)) != EM_OK)
		return rc;
	ms_validate(body, false, reply);
	if ((rc = change_check(reply, body, "milestone")) != EM_OK)
		return rc;
	return body_tx(req, body, &u.text, update_tx, &u);
}

/* --- Transitions ------------------------------------------------------------------------ */

/* The next states of each state; done and cancelled are final. */
static const struct wf_move MOVES[] = {
	{"planned", "in_progress"},
	{"planned", "cancelled"},
	{"in_progress", "done"},
	{"in_progress", "cancelled"},
};

/* Who may write the milestone, before its version is compared: a head moves its
 * organization's milestones along; cancelling is the operators'. */
static enum em_err move_locked(struct wf_ctx *c)
{
	struct em_req *req = c->req;

	if (req->caller.role == EM_ROLE_HEAD && c->to && strcmp(c->to, "cancelled") == 0 &&
	    strcmp(PQgetvalue(c->lock, 0, L_LEVEL), "organization") == 0 &&
	    db_int64(c->lock, 0, L_ORG) == req->caller.organization_id)
		return reply_fail(c->reply, EM_EFORBIDDEN,
				  "a milestone is cancelled by an operator (admin, regional, or "
				  "municipal for its territory); a head reports progress");
	return roadmap_may_write(req, PQgetvalue(c->lock, 0, L_LEVEL), db_int64(c->lock, 0, L_ORG),
				 req->caller.role == EM_ROLE_HEAD, c->reply);
}

static const struct field MOVE_FIELDS[] = {
	{"to", F_ENUM, true, false, 0, 0, STATUSES},
	{"comment", F_STRING, false, true, 1, 2000, NULL},
};

static void move_check(const json_t *body, const char *to, struct em_reply *reply)
{
	if (to && strcmp(to, "cancelled") == 0 &&
	    !json_string_value(json_object_get(body, "comment")))
		reply_field_error(reply, "comment", "is required when to is cancelled: say why");
}

static const char *const MOVE_TEXTS[] = {"comment", NULL};

static const struct workflow MS_FLOW = {
	.entity = "milestone",
	.states = STATUSES,
	.moves = MOVES,
	.nmoves = ARRAY_LEN(MOVES),
	.fields = MOVE_FIELDS,
	.nfields = ARRAY_LEN(MOVE_FIELDS),
	.check = move_check,
	.texts = MOVE_TEXTS,
	.lock = &MS_LOCK,
	.locked = move_locked,
	.move = &MS_MOVE,
};

enum em_err milestones_transition(struct em_req *req, const struct em_args *args, json_t *body,
				  struct em_reply *reply)
{
	return workflow_transition(&MS_FLOW, req, args, body, reply);
}
