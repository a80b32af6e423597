/*
 * campaigns.c — monitoring campaigns of a region (goals, window, level
 * thresholds, draft → open → closed → published): created with a copy of an
 * earlier campaign's catalog (indicators.c edits it while the campaign is a
 * draft). Opening checks the catalog (the policy lint) and creates the draft
 * submission of every active organization of the region, set-wise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/lint.h"
#include "effmon/workflow.h"
#include "handler.h"

static const char *const STATUSES[] = {"draft", "open", "closed", "published", NULL};
#define GOALS_MAX 50
#define GOAL_MAX_CHARS 1000

/* --- Campaigns ----------------------------------------------------------------------- */

static const char *const CAMP_CUSTOM[] = {"goals", "thresholds", "opens_at", "closes_at", NULL};

static const struct field CAMP_CREATE[] = {
	{"region_id", F_ID, true, false, 0, 0, NULL},
	{"year", F_INT, true, false, 2000, 2100, NULL},
	{"title", F_STRING, true, false, 1, 200, NULL},
	{"catalog_from", F_ID, false, true, 0, 0, NULL},
};
static const struct field CAMP_UPDATE[] = {
	{"title", F_STRING, false, false, 1, 200, NULL},
};

/* goals: 0..50 non-empty strings of at most 1000 characters. */
static void check_goals(const json_t *body, struct em_reply *reply)
{
	const json_t *goals = json_object_get(body, "goals");
	size_t i;
	json_t *g;
	char name[32];

	if (!goals)
		return;
	if (!json_is_array(goals)) {
		reply_field_error(reply, "goals", "must be an array of strings");
		return;
	}
	if (json_array_size(goals) > GOALS_MAX)
		reply_field_error(reply, "goals", "must hold at most %d goals", GOALS_MAX);
	json_array_foreach(goals, i, g) {
		snprintf(name, sizeof(name), "goals[%zu]", i);
		if (!json_is_string(g))
			reply_field_error(reply, name, "must be a string");
		else if (utf8_length(json_string_value(g)) < 1 ||
			 utf8_length(json_string_value(g)) > GOAL_MAX_CHARS)
			reply_field_error(reply, name, "length must be 1 to %d characters",
					  GOAL_MAX_CHARS);
		else if (json_has_nul(g))
			reply_field_error(reply, name, "must not contain NUL characters");
	}
}

/* thresholds: {high, sufficient, low}, each a number in 0..100, low < sufficient < high. */
static void check_thresholds(const json_t *body, struct em_reply *reply)
{
	static const char *const KEYS[] = {"high", "sufficient", "low"};
	const json_t *t = json_object_get(body, "thresholds");
	double v[3];
	bool ok = true;
	const char *key;
	json_t *x;
	char name[64];

	if (!t)
		return;
	if (!json_is_object(t)) {
		reply_field_error(reply, "thresholds", "must be an object {high, sufficient, low}");
		return;
	}
	json_object_foreach((json_t *)t, key, x) {
		if (strcmp(key, "high") && strcmp(key, "sufficient") && strcmp(key, "low")) {
			snprintf(name, sizeof(name), "thresholds.%s", key);
			reply_field_error(reply, name, "unknown field");
			ok = false;
		}
	}
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "thresholds.%s", KEYS[i]);
		x = json_object_get(t, KEYS[i]);
		if (!x) {
			reply_field_error(reply, name, "is required");
			ok = false;
		} else if (!json_is_number(x)) {
			reply_field_error(reply, name, "must be a number");
			ok = false;
		} else if ((v[i] = json_number_value(x)) < 0 || v[i] > 100) {
			reply_field_error(reply, name, "must be between 0 and 100");
			ok = false;
		}
	}
	if (ok && !(v[2] < v[1] && v[1] < v[0]))
		reply_field_error(reply, "thresholds",
				  "must rise strictly: low < sufficient < high");
}

static void camp_check(const json_t *body, bool creating, struct em_reply *reply)
{
	double opens = 0, closes = 0;
	bool has_opens, has_closes;

	check_goals(body, reply);
	check_thresholds(body, reply);
	has_opens = validate_timestamp(body, "opens_at", creating, reply, &opens);
	has_closes = validate_timestamp(body, "closes_at", creating, reply, &closes);
	if (has_opens && has_closes && !(closes > opens))
		reply_field_error(reply, "closes_at", "must be later than opens_at");
}

/* clang-format off */
#define CAMP_PREVIOUS(c)                                                                 \
	"(SELECT p.id FROM campaigns p WHERE p.region_id = " c ".region_id AND p.year < " c \
	".year ORDER BY p.year DESC LIMIT 1)"
#define CAMP_JSON_N(c, count)                                                            \
	"jsonb_build_object('id', " c ".id, 'region_id', " c ".region_id, 'year', " c      \
	".year, 'title', " c ".title, 'goals', " c ".goals, 'opens_at', " c ".opens_at, "   \
	"'closes_at', " c ".closes_at, 'thresholds', jsonb_build_object('high', " c        \
	".threshold_high, 'sufficient', " c ".threshold_sufficient, 'low', " c              \
	".threshold_low), 'status', " c ".status, 'catalog_source_id', " c                  \
	".catalog_source_id, 'previous_campaign_id', " CAMP_PREVIOUS(c) ", 'opened_at', " c \
	".opened_at, 'closed_at', " c ".closed_at, 'published_at', " c ".published_at, "    \
	"'indicator_count', " count ", 'created_at', " c ".created_at, 'updated_at', " c    \
	".updated_at, 'version', " c ".version)"
#define CAMP_JSON(c)                                                                     \
	CAMP_JSON_N(c, "(SELECT count(*) FROM indicators ic WHERE ic.campaign_id = " c ".id)")

DB_STMT(CAMP_GET) = {
	"campaigns_get", SQL_GET(CAMP_JSON("c"), "campaigns c", "c", CAMPAIGN_SCOPE("c")), 7};
DB_STMT(CAMP_LIST) = {
	"campaigns_list",
	SQL_LIST(CAMP_JSON("c"), "campaigns c", "c", "c.title", CAMPAIGN_SCOPE("c"),
		 " AND ($12::bigint IS NULL OR c.region_id = $12::bigint)"
		 " AND ($13::text IS NULL OR c.status = $13)"
		 " AND ($14::bigint IS NULL OR c.year = $14::bigint)"),
	14};
/* clang-format on */

/*
 * Before a create: is the region in scope, and whose catalog is copied? catalog_from
 * absent: the region's latest campaign of an earlier year; null: none; an id: that
 * campaign, if it is the region's. Columns: region ok, source id, catalog_from named.
 */
/* clang-format off */
DB_STMT(CAMP_CREATE_CHECK) = {
	"campaigns_create_check",
	"SELECT r.id IS NOT NULL, CASE "
	" WHEN NOT (b ? 'catalog_from') THEN (SELECT p.id FROM campaigns p "
	"  WHERE p.region_id = r.id AND p.year < (b->>'year')::int ORDER BY p.year DESC LIMIT 1) "
	" WHEN b->'catalog_from' = 'null'::jsonb THEN NULL "
	" ELSE (SELECT p.id FROM campaigns p WHERE p.id = (b->>'catalog_from')::bigint "
	"  AND p.region_id = r.id) END, "
	" b ? 'catalog_from' AND b->'catalog_from' <> 'null'::jsonb "
	"FROM (SELECT $7::jsonb AS b) x LEFT JOIN regions r ON r.id = (b->>'region_id')::bigint "
	" AND" SQL_SCOPE("r.id", "NULL::bigint", "NULL::bigint"),
	7};
/* clang-format on */

/* The campaign, the copy of its source's catalog and the audit row, in one statement.
 * $10: the source campaign, or NULL. */
/* clang-format off */
DB_STMT(CAMP_CREATE_SQL) = {
	"campaigns_create",
	"WITH ins AS (INSERT INTO campaigns (region_id, year, title, goals, opens_at, closes_at, "
	"  threshold_high, threshold_sufficient, threshold_low, catalog_source_id) "
	" SELECT r.id, (b->>'year')::int, b->>'title', coalesce(b->'goals', '[]'::jsonb), "
	"  (b->>'opens_at')::timestamptz, (b->>'closes_at')::timestamptz, "
	"  coalesce((b->'thresholds'->>'high')::numeric, 80), "
	"  coalesce((b->'thresholds'->>'sufficient')::numeric, 60), "
	"  coalesce((b->'thresholds'->>'low')::numeric, 40), $10::bigint "
	" FROM (SELECT $7::jsonb AS b) x JOIN regions r ON r.id = (b->>'region_id')::bigint AND"
	SQL_SCOPE("r.id", "NULL::bigint", "NULL::bigint") " RETURNING *),"
	" cp AS (INSERT INTO indicators (campaign_id, region_id, code, name, direction_id, unit, "
	"  value_type, min_value, max_value, polarity, source, data_kind, method, weights, "
	"  position) "
	" SELECT ins.id, ins.region_id, i.code, i.name, i.direction_id, i.unit, i.value_type, "
	"  i.min_value, i.max_value, i.polarity, i.source, i.data_kind, i.method, i.weights, "
	"  i.position "
	" FROM ins JOIN indicators i ON i.campaign_id = ins.catalog_source_id "
	" ORDER BY i.position, i.id RETURNING id),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $8::bigint, $1, 'campaign', ins.id, 'create', NULL, "
	" to_jsonb(ins) || jsonb_build_object('indicators_copied', (SELECT count(*) FROM cp)), "
	" $9, ins.region_id, NULL, NULL FROM ins) "
	"SELECT " CAMP_JSON_N("ins", "(SELECT count(*) FROM cp)") ", ins.id, ins.version FROM ins",
	10};
/* clang-format on */

/* Locks a campaign: version, status, the row (the audit's before), whether its catalog
 * has an indicator and one that applies to some kind. Parameters: scope, $7 id. */
/* clang-format off */
DB_STMT(CAMP_LOCK) = {
	"campaigns_lock",
	"SELECT c.version, c.status, to_jsonb(c), "
	" EXISTS (SELECT 1 FROM indicators i WHERE i.campaign_id = c.id), "
	" EXISTS (SELECT 1 FROM indicators i, jsonb_each(i.weights) w "
	"  WHERE i.campaign_id = c.id AND (w.value)::numeric > 0) "
	"FROM campaigns c WHERE c.id = $7::bigint AND" CAMPAIGN_SCOPE("c") " FOR UPDATE",
	7};
/* clang-format on */

/* $7 id, $8 body, $9 before, $10 actor, $11 request id. Absent members keep their value. */
/* clang-format off */
DB_STMT(CAMP_UPDATE_SQL) = {
	"campaigns_update",
	"WITH upd AS (UPDATE campaigns c SET "
	"  title = coalesce(b->>'title', c.title), goals = coalesce(b->'goals', c.goals), "
	"  opens_at = coalesce((b->>'opens_at')::timestamptz, c.opens_at), "
	"  closes_at = coalesce((b->>'closes_at')::timestamptz, c.closes_at), "
	"  threshold_high = coalesce((b->'thresholds'->>'high')::numeric, c.threshold_high), "
	"  threshold_sufficient = coalesce((b->'thresholds'->>'sufficient')::numeric, "
	"   c.threshold_sufficient), "
	"  threshold_low = coalesce((b->'thresholds'->>'low')::numeric, c.threshold_low), "
	"  version = c.version + 1, updated_at = now() "
	" FROM (SELECT $8::jsonb AS b) x WHERE c.id = $7::bigint AND" CAMPAIGN_SCOPE("c")
	" RETURNING c.*)," SQL_AUDITED_UPDATE("campaign", CAMP_JSON("upd")),
	11};

DB_STMT(CAMP_RESCORE) = {
	"campaigns_rescore", "SELECT em_rescore_campaign($1::bigint)", 1};
/* clang-format on */

/*
 * Opening: a draft submission for every active organization of the region, with its
 * current head, and one 'create' history row each; set-wise. $1..$6 the caller,
 * $7 campaign, $8 request id. Answers the number created.
 */
/* clang-format off */
DB_STMT(CAMP_OPEN_SUBMISSIONS) = {
	"campaigns_open_submissions",
	"WITH subs AS (INSERT INTO submissions (campaign_id, organization_id, region_id, "
	"  municipality_id, kind, manager_id) "
	" SELECT c.id, o.id, o.region_id, o.municipality_id, o.kind, a.manager_id "
	" FROM campaigns c JOIN organizations o ON o.region_id = c.region_id "
	"  AND o.status = 'active' "
	" LEFT JOIN appointments a ON a.organization_id = o.id AND a.ended_on IS NULL "
	" WHERE c.id = $7::bigint ORDER BY o.id "
	" ON CONFLICT (campaign_id, organization_id) DO NOTHING RETURNING id),"
	" hist AS (INSERT INTO submission_history (submission_id, actor_user_id, actor_role, "
	"  action, to_status, request_id) "
	" SELECT id, $2::bigint, $1, 'create', 'draft', $8 FROM subs) "
	"SELECT count(*) FROM subs",
	8};
/* clang-format on */

/* The workflow layout (workflow.h), $13 comment, $14 submissions created (opening) or NULL. */
/* clang-format off */
DB_STMT(CAMP_MOVE) = {
	"campaigns_transition",
	"WITH upd AS (UPDATE campaigns c SET status = $8, "
	"  opened_at = CASE WHEN $8 = 'open' THEN now() ELSE c.opened_at END, "
	"  closed_at = CASE WHEN $8 = 'closed' THEN now() ELSE c.closed_at END, "
	"  published_at = CASE WHEN $8 = 'published' THEN now() ELSE c.published_at END, "
	"  version = c.version + 1, updated_at = now() "
	" WHERE c.id = $7::bigint AND" CAMPAIGN_SCOPE("c") " RETURNING c.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $11::bigint, $1, 'campaign', upd.id, 'transition', "
	" $10::jsonb, to_jsonb(upd) || jsonb_strip_nulls(jsonb_build_object('transition', "
	"  jsonb_build_object('from', $9, 'to', upd.status, 'comment', $13), "
	"  'submissions_created', $14::int)), $12, upd.region_id, NULL, NULL FROM upd) "
	"SELECT " CAMP_JSON("upd") ", upd.version FROM upd",
	14};
/* clang-format on */

static const struct list_filter CAMP_FILTERS[] = {
	{"region_id", FILTER_ID, NULL},
	{"status", FILTER_ENUM, STATUSES},
	{"year", FILTER_ID, NULL},
};

/* Only get and list go through the generic handlers; writes are below. */
const struct em_resource CAMPAIGNS = {
	.entity = "campaign",
	.path = "/api/v1/campaigns",
	.scope_field = "region_id",
	.get = &CAMP_GET,
	.list = &CAMP_LIST,
	LIST_FILTERS(CAMP_FILTERS),
};

/* Before the create: the region in scope and the catalog's source (CAMP_CREATE_CHECK,
 * kept in *c->ctx until the create has run); then the create's $7 body, $8 actor,
 * $9 request id and $10 the source campaign. */
static enum em_err camp_create_push(struct create_run *c, struct db_args *a)
{
	PGresult **chk = c->ctx;
	struct db_args ca;
	enum em_err rc;

	PQclear(*chk); /* a retried transaction checks again */
	*chk = NULL;
	caller_args(&ca, c->req);
	db_arg_text(&ca, c->body_text);
	if ((rc = db_exec_args(c->req->db, &CAMP_CREATE_CHECK, &ca, chk)) != EM_OK)
		return rc;
	if (!db_bool(*chk, 0, 0))
		reply_field_error(c->reply, "region_id", "no such region in your scope");
	else if (db_bool(*chk, 0, 2) && PQgetisnull(*chk, 0, 1))
		reply_field_error(c->reply, "catalog_from",
				  "no campaign of this region has this id");
	if (c->reply->errors)
		return reply_fail(c->reply, EM_EINVAL, "the campaign is not valid");
	db_arg_text(a, c->body_text);
	db_arg_i64(a, c->req->caller.user_id);
	db_arg_text(a, c->req->request_id);
	db_arg_text(a, db_str(*chk, 0, 1));
	return EM_OK;
}

enum em_err campaigns_create(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply)
{
	PGresult *chk = NULL;
	struct create_run c = {.req = req,
			       .reply = reply,
			       .body = body,
			       .st = &CAMP_CREATE_SQL,
			       .path = CAMPAIGNS.path,
			       .scope_field = CAMPAIGNS.scope_field,
			       .push = camp_create_push,
			       .ctx = &chk};
	enum em_err rc;

	(void)args;
	validate_object_except(body, CAMP_CREATE, ARRAY_LEN(CAMP_CREATE), CAMP_CUSTOM, reply);
	camp_check(body, true, reply);
	rc = mon_create_run(&c, body, "campaign");
	PQclear(chk);
	return rc;
}

static enum em_err camp_update_tx(struct db_conn *db, void *arg)
{
	struct mon_write *w = arg;
	struct em_req *req = w->req;
	struct db_args a;
	PGresult *lock = NULL, *res;
	const char *status;
	enum em_err rc;

	(void)db;
	reply_clear(w->reply);
	if ((rc = resource_lock(req, w->reply, &CAMP_LOCK, w->id, w->version, "campaign", &lock)) !=
	    EM_OK)
		return rc;
	status = PQgetvalue(lock, 0, 1);
	if (strcmp(status, "published") == 0) {
		rc = reply_fail(w->reply, EM_ECONFLICT, "a published campaign does not change");
		goto out;
	}
	if (strcmp(status, "closed") == 0 &&
	    (json_object_get(w->body, "opens_at") || json_object_get(w->body, "closes_at"))) {
		rc = reply_fail(w->reply, EM_ECONFLICT,
				"the window of a closed campaign does not change (draft and open "
				"only)");
		goto out;
	}
	if ((rc = mon_update_exec(w, &CAMP_UPDATE_SQL, PQgetvalue(lock, 0, 2), &res)) != EM_OK)
		goto out;
	/* New thresholds change the level of every submission already scored. */
	if (json_object_get(w->body, "thresholds") && strcmp(status, "draft") != 0) {
		PGresult *rs;
		db_args_init(&a);
		db_arg_i64(&a, w->id);
		if ((rc = db_exec_args(req->db, &CAMP_RESCORE, &a, &rs)) != EM_OK) {
			PQclear(res);
			goto out;
		}
		PQclear(rs);
	}
	reply_row(req, w->reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
out:
	PQclear(lock);
	return rc;
}

enum em_err campaigns_update(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply)
{
	struct mon_write w;
	enum em_err rc;

	if ((rc = mon_write_open(&w, req, args, body, reply)) != EM_OK)
		return rc;
	validate_object_except(body, CAMP_UPDATE, ARRAY_LEN(CAMP_UPDATE), CAMP_CUSTOM, reply);
	camp_check(body, false, reply);
	return mon_change_run(&w, "campaign", camp_update_tx);
}

/* The one move out of each status; published is final. */
static const struct wf_move CAMP_MOVES[] = {
	{"draft", "open"},
	{"open", "closed"},
	{"closed", "published"},
};

/* Opening: the catalog must be usable and pass the policy lint; then the draft
 * submissions are created and scored, and their count goes to the audit row. */
static enum em_err camp_open(struct wf_ctx *c, const struct wf_move *mv)
{
	struct em_req *req = c->req;
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	if (strcmp(mv->to, "open") != 0)
		return EM_OK;
	if (!db_bool(c->lock, 0, 3))
		return reply_fail(
			c->reply, EM_ECONFLICT,
			"the catalog is empty: add indicators before opening the campaign");
	if (!db_bool(c->lock, 0, 4))
		return reply_fail(c->reply, EM_ECONFLICT,
				  "no indicator of the catalog applies to any kind of organization "
				  "(every weight is 0): set weights before opening the campaign");
	if ((rc = campaign_lint_for_open(req, c->id, c->reply)) != EM_OK)
		return rc;
	caller_args(&a, req);
	db_arg_i64(&a, c->id);
	db_arg_text(&a, req->request_id);
	if ((rc = db_exec_args(req->db, &CAMP_OPEN_SUBMISSIONS, &a, &res)) != EM_OK)
		return rc;
	snprintf(c->extra_buf[0], sizeof(c->extra_buf[0]), "%s", PQgetvalue(res, 0, 0));
	c->extra[0] = c->extra_buf[0];
	PQclear(res);
	db_args_init(&a);
	db_arg_i64(&a, c->id);
	if ((rc = db_exec_args(req->db, &CAMP_RESCORE, &a, &res)) != EM_OK)
		return rc;
	PQclear(res);
	return EM_OK;
}

static const struct field MOVE_FIELDS[] = {
	{"to", F_ENUM, true, false, 0, 0, STATUSES},
	{"comment", F_STRING, false, true, 1, 1000, NULL},
};

static const char *const MOVE_TEXTS[] = {"comment", NULL};

static const struct workflow CAMP_FLOW = {
	.entity = "campaign",
	.states = STATUSES,
	.moves = CAMP_MOVES,
	.nmoves = ARRAY_LEN(CAMP_MOVES),
	.fields = MOVE_FIELDS,
	.nfields = ARRAY_LEN(MOVE_FIELDS),
	.texts = MOVE_TEXTS,
	.nextra = 1,
	.lock = &CAMP_LOCK,
	.before = camp_open,
	.move = &CAMP_MOVE,
};

enum em_err campaigns_transition(struct em_req *req, const struct em_args *args, json_t *body,
				 struct em_reply *reply)
{
	return workflow_transition(&CAMP_FLOW, req, args, body, reply);
}

/* --- Shared by the monitoring handlers (handler.h) ------------------------------------ */

enum em_err mon_create_run(struct create_run *c, const json_t *doc, const char *entity)
{
	enum em_err rc;
	char *text;

	if (c->reply->errors)
		return reply_fail(c->reply, EM_EINVAL, "the %s is not valid", entity);
	if (!(text = json_dumps(doc, MON_JSON_FLAGS)))
		return EM_EINTERNAL;
	c->body_text = text;
	rc = create_run(c);
	c->body_text = NULL;
	free(text);
	return rc;
}

enum em_err mon_write_open(struct mon_write *w, struct em_req *req, const struct em_args *args,
			   json_t *body, struct em_reply *reply)
{
	*w = (struct mon_write){.req = req, .id = args->id[0], .body = body, .reply = reply};
	return require_if_match(req, reply, &w->version);
}

enum em_err mon_change_run(struct mon_write *w, const char *entity, db_tx_fn tx)
{
	enum em_err rc;
	char *text;

	if ((rc = change_check(w->reply, w->body, entity)) != EM_OK)
		return rc;
	if (!(text = json_dumps(w->body, MON_JSON_FLAGS)))
		return EM_EINTERNAL;
	w->body_text = text;
	rc = db_tx(w->req->db, tx, w);
	w->body_text = NULL;
	free(text);
	return rc;
}

enum em_err mon_update_exec(struct mon_write *w, const struct db_stmt *st, const char *before,
			    PGresult **res)
{
	struct em_req *req = w->req;
	struct db_args a;
	enum em_err rc;

	caller_args(&a, req);
	db_arg_i64(&a, w->id);
	db_arg_text(&a, w->body_text);
	db_arg_text(&a, before);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	if ((rc = db_exec_args(req->db, st, &a, res)) != EM_OK)
		return map_constraint(req, rc, w->reply);
	return EM_OK;
}
