/*
 * submissions.c — a campaign's submissions (one per organization): reads with
 * values and score, batch writes of values, the workflow draft → submitted →
 * verified → approved (or returned), and the history of every change. Each write
 * locks the row, checks its version, writes history and audit, and rescores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/monitoring.h"
#include "effmon/registry.h"
#include "effmon/sheet.h"

#define MAX_VALUES 500
#define MAX_TEXT 2000

static const char *const STATUSES[] = {"draft", "submitted", "verified", "approved", "returned",
				       NULL};

/* --- Reads -------------------------------------------------------------------------- */

#define SUB_SCOPE(s) SQL_SCOPE(s ".region_id", s ".municipality_id", s ".organization_id")
#define SUB_FROM                                                                          \
	" FROM submissions s JOIN organizations o ON o.id = s.organization_id"               \
	" LEFT JOIN submission_scores sc ON sc.submission_id = s.id "
#define SUB_JSON                                                                          \
	"jsonb_build_object('id', s.id, 'campaign_id', s.campaign_id, 'organization_id', "    \
	"s.organization_id, 'organization_name', o.short_name, 'region_id', s.region_id, "   \
	"'municipality_id', s.municipality_id, 'kind', s.kind, 'manager_id', s.manager_id, "  \
	"'status', s.status, 'return_comment', s.return_comment, 'first_submitted_at', "      \
	"s.first_submitted_at, 'submitted_at', s.submitted_at, 'verified_at', s.verified_at, " \
	"'approved_at', s.approved_at, 'returned_at', s.returned_at, 'score', CASE WHEN "     \
	"sc.submission_id IS NULL THEN NULL ELSE jsonb_build_object('total', "                \
	"sc.total_rounded, 'level', sc.level, 'completeness', round(sc.completeness, 4)) END, " \
	"'created_at', s.created_at, 'updated_at', s.updated_at, 'version', s.version)"
/* A value as the client wrote it: booleans are kept as 1/0 and answered as true/false. */
#define SUB_VALUE(v, type)                                                                 \
	"CASE WHEN " type " = 'boolean' THEN to_jsonb(" v " <> 0) ELSE to_jsonb(" v ") END"
#define SUB_VALUES                                                                         \
	"jsonb_build_object('values', coalesce((SELECT jsonb_agg(jsonb_build_object("        \
	"'indicator', i.code, 'indicator_id', i.id, 'value', " SUB_VALUE("v.value",          \
									"i.value_type") ", "   \
	"'comment', v.comment, 'evidence_url', v.evidence_url, 'updated_at', v.updated_at) " \
	"ORDER BY i.position, i.id) FROM submission_values v JOIN indicators i "             \
	"ON i.id = v.indicator_id WHERE v.submission_id = s.id), '[]'::jsonb))"

DB_STMT(SUB_GET) = {
	"submission_get",
	"SELECT " SUB_JSON " || " SUB_VALUES ", s.version" SUB_FROM
	"WHERE s.id = $5::bigint AND" SUB_SCOPE("s"),
	5};

DB_STMT(SUB_LIST) = {
	"submission_list",
	"SELECT " SUB_JSON ", s.id, o.short_name" SUB_FROM "WHERE"
	SQL_LIST_SCOPE("s.region_id", "s.municipality_id", "s.organization_id")
	SQL_SEARCH("o.short_name")
	" AND ($10::bigint IS NULL OR s.campaign_id = $10::bigint)"
	" AND ($11::bigint IS NULL OR s.organization_id = $11::bigint)"
	" AND ($12::bigint IS NULL OR s.municipality_id = $12::bigint)"
	" AND ($13::text IS NULL OR s.status = $13)"
	" AND ($14::bigint IS NULL OR s.manager_id = $14::bigint)"
	" AND ($15::bigint IS NULL OR s.region_id = $15::bigint)"
	SQL_LIST_KEYSET("o.short_name", "s.id") SQL_LIST_ORDER("o.short_name", "s.id"),
	15};

static const struct list_filter SUB_FILTERS[] = {
	{"campaign_id", FILTER_ID, NULL},     {"organization_id", FILTER_ID, NULL},
	{"municipality_id", FILTER_ID, NULL}, {"status", FILTER_ENUM, STATUSES},
	{"manager_id", FILTER_ID, NULL},      {"region_id", FILTER_ID, NULL},
};

const struct em_resource SUBMISSIONS = {
	.entity = "submission",
	.path = "/api/v1/submissions",
	.get = &SUB_GET,
	.list = &SUB_LIST,
	.filters = SUB_FILTERS,
	.nfilters = sizeof(SUB_FILTERS) / sizeof(SUB_FILTERS[0]),
};

/* --- History -------------------------------------------------------------------------- */

DB_STMT(SUB_VISIBLE) = {
	"submission_visible",
	"SELECT 1 FROM submissions s WHERE s.id = $5::bigint AND" SUB_SCOPE("s"), 5};

/* $5 submission, $6 after id, $7 limit + 1. */
DB_STMT(SUB_HISTORY) = {
	"submission_history_list",
	"SELECT jsonb_build_object('id', h.id, 'occurred_at', h.occurred_at, 'actor_user_id', "
	" h.actor_user_id, 'actor_role', h.actor_role, 'action', h.action, 'from', "
	" h.from_status, 'to', h.to_status, 'comment', h.comment, 'changes', h.changes), h.id, '' "
	"FROM submission_history h JOIN submissions s ON s.id = h.submission_id "
	"WHERE s.id = $5::bigint AND" SUB_SCOPE("s")
	" AND ($6::bigint IS NULL OR h.id > $6::bigint) ORDER BY h.id LIMIT $7::int",
	7};

enum em_err submissions_history(struct em_req *req, const struct em_args *args, json_t *body,
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
	caller_args(&a, req);
	db_arg_i64(&a, args->id[0]);
	if ((rc = db_exec_args(req->db, &SUB_VISIBLE, &a, &res)) != EM_OK)
		return rc;
	bool visible = PQntuples(res) == 1;
	PQclear(res);
	if (!visible)
		return reply_fail(reply, EM_ENOTFOUND, "no submission %lld", (long long)args->id[0]);
	db_arg_id(&a, page.after_id);
	db_arg_i64(&a, page.limit + 1);
	if ((rc = db_exec_args(req->db, &SUB_HISTORY, &a, &res)) != EM_OK)
		return rc;
	rc = list_reply(reply, res, &page, NULL);
	PQclear(res);
	return rc;
}

/* --- Shared by the writes ---------------------------------------------------------------- */

/* Locks a visible submission: version, status, row as JSON, campaign status, whether
 * now() is inside the campaign's window, kind, campaign id. Parameters: scope, $5 id. */
DB_STMT(SUB_LOCK) = {
	"submission_lock",
	"SELECT s.version, s.status, to_jsonb(s), c.status, "
	" (now() >= c.opens_at AND now() <= c.closes_at), s.kind, s.campaign_id, c.closes_at "
	"FROM submissions s JOIN campaigns c ON c.id = s.campaign_id "
	"WHERE s.id = $5::bigint AND" SUB_SCOPE("s") " FOR UPDATE OF s",
	5};
enum { L_VERSION, L_STATUS, L_ROW, L_CAMPAIGN_STATUS, L_IN_WINDOW, L_KIND, L_CAMPAIGN, L_CLOSES };

DB_STMT(SUB_RESCORE) = {
	"submission_rescore", "SELECT em_rescore(ARRAY[$1::bigint])", 1};

/* Locks the submission and checks If-Match; *lock is set on EM_OK. */
static enum em_err lock_submission(struct em_req *req, int64_t id, long version,
				   struct em_reply *reply, PGresult **lock)
{
	char bufs[3][24], idbuf[24];
	const char *params[5];
	PGresult *res;
	enum em_err rc;

	scope_params(req, bufs, params);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	params[4] = idbuf;
	if ((rc = db_exec(req->db, &SUB_LOCK, params, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return reply_fail(reply, EM_ENOTFOUND, "no submission %lld", (long long)id);
	}
	if (atol(PQgetvalue(res, 0, L_VERSION)) != version) {
		reply_fail(reply, EM_EPRECOND, "the submission has changed: its ETag is now \"%s\"",
			   PQgetvalue(res, 0, L_VERSION));
		PQclear(res);
		return EM_EPRECOND;
	}
	if (strcmp(PQgetvalue(res, 0, L_CAMPAIGN_STATUS), "published") == 0) {
		PQclear(res);
		return reply_fail(reply, EM_ECONFLICT,
				  "the campaign is published: its submissions no longer change");
	}
	*lock = res;
	return EM_OK;
}

/* Rescores the submission if it changed, and answers it as GET would, with its ETag. */
static enum em_err reply_current(struct em_req *req, int64_t id, bool rescore,
				 struct em_reply *reply)
{
	char idbuf[24];
	const char *params[1] = {idbuf};
	PGresult *res;
	enum em_err rc;

	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	if (rescore) {
		if ((rc = db_exec(req->db, &SUB_RESCORE, params, &res)) != EM_OK)
			return rc;
		PQclear(res);
	}
	if ((rc = resource_fetch(req, &SUB_GET, id, &res)) != EM_OK)
		return rc;
	reply_row(req, reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	return EM_OK;
}

static bool role_in(const struct em_req *req, unsigned roles)
{
	return (roles & (unsigned)req->caller.role) != 0;
}

/* --- Transitions ------------------------------------------------------------------------- */

/* Every legal move, who may make it, and the campaign it needs. */
static const struct move {
	const char *from, *to;
	unsigned roles;
	const char *who;
} MOVES[] = {
	{"draft", "submitted", EM_ROLE_HEAD | EM_ROLE_ADMIN,
	 "the head of the organization (or an admin) submits"},
	{"returned", "submitted", EM_ROLE_HEAD | EM_ROLE_ADMIN,
	 "the head of the organization (or an admin) submits"},
	{"submitted", "verified", EM_ROLE_MUNICIPAL | EM_ROLE_ADMIN,
	 "a municipal operator (or an admin) verifies"},
	{"submitted", "returned", EM_ROLE_MUNICIPAL | EM_ROLE_REGIONAL | EM_ROLE_ADMIN,
	 "a municipal or regional operator (or an admin) returns a submitted submission"},
	{"verified", "approved", EM_ROLE_REGIONAL | EM_ROLE_ADMIN,
	 "a regional operator (or an admin) approves"},
	{"verified", "returned", EM_ROLE_REGIONAL | EM_ROLE_ADMIN,
	 "a regional operator (or an admin) returns a verified submission"},
};
#define NMOVES (sizeof(MOVES) / sizeof(MOVES[0]))

/* The move from → to, or NULL with a 409 naming the moves allowed from `from`. */
static const struct move *find_move(const char *from, const char *to, struct em_reply *reply)
{
	char allowed[128] = "";

	for (size_t i = 0; i < NMOVES; i++) {
		if (strcmp(MOVES[i].from, from) != 0)
			continue;
		if (strcmp(MOVES[i].to, to) == 0)
			return &MOVES[i];
		size_t n = strlen(allowed);
		snprintf(allowed + n, sizeof(allowed) - n, "%s%s", n ? ", " : "", MOVES[i].to);
	}
	if (!allowed[0])
		reply_fail(reply, EM_ECONFLICT, "from %s: no transition is allowed (%s is final)",
			   from, from);
	else
		reply_fail(reply, EM_ECONFLICT, "from %s: allowed %s", from, allowed);
	return NULL;
}

/* Applicable self-assessed indicators without a value. $1 submission id. */
DB_STMT(SUB_MISSING) = {
	"submission_missing_self",
	"SELECT i.code FROM submissions s JOIN indicators i ON i.campaign_id = s.campaign_id "
	"WHERE s.id = $1::bigint AND i.source = 'self' "
	" AND coalesce((i.weights ->> s.kind)::numeric, 0) > 0 "
	" AND NOT EXISTS (SELECT 1 FROM submission_values v "
	"  WHERE v.submission_id = s.id AND v.indicator_id = i.id) "
	"ORDER BY i.position, i.id",
	1};

/* $1 role, $5 id, $6 to, $7 comment, $8 from, $9 row before, $10 actor, $11 request id. */
DB_STMT(SUB_MOVE) = {
	"submission_transition",
	"WITH upd AS (UPDATE submissions s SET status = $6, "
	"  return_comment = CASE WHEN $6 = 'returned' THEN $7 WHEN $6 = 'submitted' THEN NULL "
	"   ELSE s.return_comment END, "
	"  first_submitted_at = CASE WHEN $6 = 'submitted' THEN coalesce(s.first_submitted_at, "
	"   now()) ELSE s.first_submitted_at END, "
	"  submitted_at = CASE WHEN $6 = 'submitted' THEN now() ELSE s.submitted_at END, "
	"  verified_at = CASE WHEN $6 = 'verified' THEN now() ELSE s.verified_at END, "
	"  approved_at = CASE WHEN $6 = 'approved' THEN now() ELSE s.approved_at END, "
	"  returned_at = CASE WHEN $6 = 'returned' THEN now() ELSE s.returned_at END, "
	"  version = s.version + 1, updated_at = now() WHERE s.id = $5::bigint RETURNING s.*),"
	/* What the head had when it submitted (and when it first did), what was verified:
	 * kept for the outliers and the objectivity calibration. */
	" snap AS (UPDATE submission_values v SET "
	"  submitted_value = CASE WHEN $6 = 'submitted' THEN v.value ELSE v.submitted_value END, "
	"  self_value = CASE WHEN $6 = 'submitted' THEN coalesce(v.self_value, v.value) "
	"   ELSE v.self_value END, "
	"  verified_value = CASE WHEN $6 = 'verified' THEN v.value ELSE v.verified_value END "
	"  WHERE v.submission_id = $5::bigint AND $6 IN ('submitted', 'verified')),"
	" hist AS (INSERT INTO submission_history (submission_id, actor_user_id, actor_role, "
	"  action, from_status, to_status, comment, request_id) SELECT upd.id, $10::bigint, $1, "
	"  'transition', $8, upd.status, $7, $11 FROM upd RETURNING *),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, 'submission', upd.id, "
	" 'transition', $9::jsonb, to_jsonb(upd) || jsonb_build_object('transition', "
	"  to_jsonb(hist)), $11, upd.region_id, upd.municipality_id, upd.organization_id "
	" FROM upd, hist) "
	"SELECT upd.id FROM upd",
	11};

struct sub_move {
	struct em_req *req;
	int64_t id;
	long version;
	json_t *body;
	const char *to, *comment;
	struct em_reply *reply;
};

/* The campaign and completeness rules of a move, once the move and role are right. */
static enum em_err move_preconditions(struct sub_move *m, const struct move *mv, PGresult *lock)
{
	const char *campaign = PQgetvalue(lock, 0, L_CAMPAIGN_STATUS);
	char idbuf[24];
	const char *params[1] = {idbuf};
	PGresult *res;
	enum em_err rc;

	if (strcmp(mv->to, "submitted") != 0) {
		if (strcmp(campaign, "open") != 0 && strcmp(campaign, "closed") != 0)
			return reply_fail(m->reply, EM_ECONFLICT,
					  "the campaign is %s: submissions are verified and "
					  "approved while it is open or closed", campaign);
		return EM_OK;
	}
	if (strcmp(campaign, "open") != 0)
		return reply_fail(m->reply, EM_ECONFLICT,
				  "the campaign is %s: submissions are accepted while it is open",
				  campaign);
	/* A returned submission may come back after the window; a first one may not. */
	if (strcmp(mv->from, "draft") == 0 && strcmp(PQgetvalue(lock, 0, L_IN_WINDOW), "t") != 0)
		return reply_fail(m->reply, EM_ECONFLICT,
				  "the submission window is closed (it closes at %s, and opens at "
				  "the campaign's opens_at)", PQgetvalue(lock, 0, L_CLOSES));
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)m->id);
	if ((rc = db_exec(m->req->db, &SUB_MISSING, params, &res)) != EM_OK)
		return rc;
	int n = PQntuples(res);
	for (int i = 0; i < n; i++)
		reply_field_error(m->reply, "values",
				  "indicator %s has no value: every applicable self-assessed "
				  "indicator needs one before submitting", PQgetvalue(res, i, 0));
	if (n > 0) {
		char detail[256];
		snprintf(detail, sizeof(detail), "%d applicable self-assessed indicator%s without a "
			 "value, first %s", n, n == 1 ? "" : "s", PQgetvalue(res, 0, 0));
		PQclear(res);
		return reply_fail(m->reply, EM_EUNPROCESSABLE, "%s", detail);
	}
	PQclear(res);
	return EM_OK;
}

static enum em_err move_tx(struct db_conn *db, void *arg)
{
	struct sub_move *m = arg;
	struct em_req *req = m->req;
	struct idem idem;
	char bufs[3][24], idbuf[24], actor[24];
	const char *params[11];
	const struct move *mv;
	PGresult *lock = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(m->reply);
	if ((rc = idem_begin(req, m->body, &idem, m->reply)) != EM_OK || idem.replayed)
		return rc;
	if ((rc = lock_submission(req, m->id, m->version, m->reply, &lock)) != EM_OK)
		return rc;
	const char *from = PQgetvalue(lock, 0, L_STATUS);
	if (!(mv = find_move(from, m->to, m->reply))) {
		rc = EM_ECONFLICT;
		goto out;
	}
	if (!role_in(req, mv->roles)) {
		rc = reply_fail(m->reply, EM_EFORBIDDEN, "a %s may not move a submission from %s to "
				"%s: %s", em_role_name(req->caller.role), from, m->to, mv->who);
		goto out;
	}
	/* After the move and the role: returning an approved one is a 409, not a 400. */
	if (strcmp(mv->to, "returned") == 0 && !m->comment) {
		reply_field_error(m->reply, "comment", "is required when returning a submission: "
				  "say what to correct");
		rc = reply_fail(m->reply, EM_EINVAL, "the transition is not valid");
		goto out;
	}
	if ((rc = move_preconditions(m, mv, lock)) != EM_OK)
		goto out;
	scope_params(req, bufs, params);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)m->id);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[4] = idbuf;
	params[5] = m->to;
	params[6] = m->comment;
	params[7] = from;
	params[8] = PQgetvalue(lock, 0, L_ROW);
	params[9] = actor;
	params[10] = req->request_id;
	if ((rc = db_exec(req->db, &SUB_MOVE, params, &res)) != EM_OK)
		goto out;
	PQclear(res);
	if ((rc = reply_current(req, m->id, true, m->reply)) != EM_OK)
		goto out;
	rc = idem_finish(req, &idem, m->reply);
out:
	PQclear(lock);
	return rc;
}

static const struct field MOVE_FIELDS[] = {
	{"to", F_ENUM, true, false, 0, 0, STATUSES},
	{"comment", F_STRING, false, true, 1, MAX_TEXT, NULL},
};

enum em_err submissions_transition(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply)
{
	struct sub_move m = {.req = req, .id = args->id[0], .body = body, .reply = reply};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &m.version)) != EM_OK)
		return rc;
	validate_object(body, MOVE_FIELDS, sizeof(MOVE_FIELDS) / sizeof(MOVE_FIELDS[0]), reply);
	m.to = json_string_value(json_object_get(body, "to"));
	m.comment = json_string_value(json_object_get(body, "comment"));
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the transition is not valid");
	return db_tx(req->db, move_tx, &m);
}

/* --- Values ------------------------------------------------------------------------------ */

/* Each item against the catalog: $1 campaign, $2 body, $3 kind. One row per item, in order:
 * found, code, value type, source, applies, type of the JSON value, fractional, out of
 * range, min, max. */
DB_STMT(SUB_RESOLVE) = {
	"submission_values_resolve",
	"SELECT i.id IS NOT NULL, x.e ->> 'indicator', i.value_type, i.source, "
	" coalesce((i.weights ->> $3)::numeric, 0) > 0, jsonb_typeof(x.e -> 'value'), "
	" n.num <> trunc(n.num), n.num < i.min_value OR n.num > i.max_value, "
	" i.min_value, i.max_value "
	"FROM jsonb_array_elements($2::jsonb -> 'values') WITH ORDINALITY x(e, ord) "
	"LEFT JOIN indicators i ON i.campaign_id = $1::bigint AND i.code = x.e ->> 'indicator' "
	"CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(x.e -> 'value') = 'number' "
	" THEN (x.e -> 'value')::numeric END AS num) n "
	"ORDER BY x.ord",
	3};
enum { R_FOUND, R_CODE, R_TYPE, R_SOURCE, R_APPLIES, R_JSON, R_FRACTION, R_RANGE, R_MIN, R_MAX };

#define SUB_OLD_NEW(prefix)                                                               \
	"jsonb_build_object('value', " SUB_VALUE(prefix "value", "c.value_type") ", "        \
	"'comment', " prefix "comment, 'evidence_url', " prefix "evidence_url)"

/* Writes the items that change, in item order; history, audit and version only if any does.
 * $1 role, $2 id, $3 body, $4 campaign, $5 actor, $6 request id. -> changed count. */
DB_STMT(SUB_WRITE) = {
	"submission_values_write",
	"WITH items AS (SELECT x.ord, i.id AS indicator_id, i.code, i.value_type, "
	"  CASE jsonb_typeof(x.e -> 'value') WHEN 'null' THEN NULL "
	"   WHEN 'boolean' THEN CASE WHEN (x.e -> 'value')::boolean THEN 1 ELSE 0 END "
	"   ELSE (x.e -> 'value')::numeric END AS value, "
	"  x.e ->> 'comment' AS comment, x.e ->> 'evidence_url' AS evidence_url "
	"  FROM jsonb_array_elements($3::jsonb -> 'values') WITH ORDINALITY x(e, ord) "
	"  JOIN indicators i ON i.campaign_id = $4::bigint AND i.code = x.e ->> 'indicator'),"
	" changed AS MATERIALIZED (SELECT it.*, cur.indicator_id IS NOT NULL AS existed, "
	"  cur.value AS old_value, cur.comment AS old_comment, cur.evidence_url AS old_evidence_url "
	"  FROM items it LEFT JOIN submission_values cur ON cur.submission_id = $2::bigint "
	"   AND cur.indicator_id = it.indicator_id "
	"  WHERE CASE WHEN it.value IS NULL THEN cur.indicator_id IS NOT NULL "
	"   WHEN cur.indicator_id IS NULL THEN true "
	"   ELSE it.value <> cur.value OR it.comment IS DISTINCT FROM cur.comment "
	"    OR it.evidence_url IS DISTINCT FROM cur.evidence_url END),"
	" del AS (DELETE FROM submission_values v USING changed c WHERE v.submission_id = "
	"  $2::bigint AND v.indicator_id = c.indicator_id AND c.value IS NULL),"
	" ins AS (INSERT INTO submission_values AS v (submission_id, indicator_id, value, comment, "
	"  evidence_url, updated_by, updated_at) SELECT $2::bigint, c.indicator_id, c.value, "
	"  c.comment, c.evidence_url, $5::bigint, now() FROM changed c WHERE c.value IS NOT NULL "
	"  ON CONFLICT (submission_id, indicator_id) DO UPDATE SET value = EXCLUDED.value, "
	"  comment = EXCLUDED.comment, evidence_url = EXCLUDED.evidence_url, "
	"  updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at),"
	" chg AS (SELECT jsonb_agg(jsonb_build_object('indicator_id', c.indicator_id, 'code', "
	"   c.code, 'old', CASE WHEN c.existed THEN " SUB_OLD_NEW("c.old_") " END, "
	"   'new', CASE WHEN c.value IS NOT NULL THEN " SUB_OLD_NEW("c.") " END) "
	"   ORDER BY c.ord) AS changes, "
	"  jsonb_object_agg(c.code, CASE WHEN c.existed THEN " SUB_OLD_NEW("c.old_") " END) "
	"   AS before, "
	"  jsonb_object_agg(c.code, CASE WHEN c.value IS NOT NULL THEN " SUB_OLD_NEW("c.")
	" END) AS after "
	"  FROM changed c HAVING count(*) > 0),"
	" upd AS (UPDATE submissions s SET version = s.version + 1, updated_at = now() FROM chg "
	"  WHERE s.id = $2::bigint RETURNING s.*),"
	" hist AS (INSERT INTO submission_history (submission_id, actor_user_id, actor_role, "
	"  action, changes, request_id) SELECT upd.id, $5::bigint, $1, 'values', chg.changes, $6 "
	"  FROM upd, chg),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $5::bigint, $1, 'submission', upd.id, 'values', "
	"  jsonb_build_object('version', upd.version - 1, 'values', chg.before), "
	"  jsonb_build_object('version', upd.version, 'values', chg.after), $6, upd.region_id, "
	"  upd.municipality_id, upd.organization_id FROM upd, chg) "
	"SELECT count(*) FROM changed",
	6};

static const struct constraint_map VALUE_CONSTRAINTS[] = {
	{"submission_values_evidence_url_format", "values",
	 "an evidence_url is not an http(s) URL without spaces", EM_EINVAL},
	{"submission_values_comment_length", "values", "a comment must be 1 to 2000 characters",
	 EM_EINVAL},
	{NULL, NULL, NULL, EM_OK},
};

/* Who writes the values of each data source, and when (DESIGN §2). */
static const struct source_rule {
	const char *source;
	unsigned roles;
	const char *who;
	const char *statuses[4]; /* submission statuses the values may change in */
	bool closed_ok;          /* also while the campaign is closed */
} SOURCES[] = {
	{"self", EM_ROLE_HEAD | EM_ROLE_ADMIN, "the head of the organization (or an admin)",
	 {"draft", "returned", NULL}, false},
	{"municipal", EM_ROLE_MUNICIPAL | EM_ROLE_ADMIN, "a municipal operator (or an admin)",
	 {"draft", "submitted", "returned", NULL}, true},
	{"regional_import", EM_ROLE_REGIONAL | EM_ROLE_ADMIN, "a regional operator (or an admin)",
	 {"draft", "submitted", "verified", "returned"}, true},
};

static const struct source_rule *source_rule(const char *source)
{
	for (size_t i = 0; i < sizeof(SOURCES) / sizeof(SOURCES[0]); i++)
		if (strcmp(SOURCES[i].source, source) == 0)
			return &SOURCES[i];
	return NULL;
}

static bool status_in(const struct source_rule *r, const char *status)
{
	for (size_t i = 0; i < 4 && r->statuses[i]; i++)
		if (strcmp(r->statuses[i], status) == 0)
			return true;
	return false;
}

/* An http(s) URL without spaces, ASCII or Unicode (U+00A0, U+2000-U+200B, U+2028,
 * U+2029, U+202F, U+205F, U+3000, U+FEFF), nor control characters; IRIs are welcome. */
static bool url_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!((strncmp(s, "http://", 7) == 0 && s[7]) || (strncmp(s, "https://", 8) == 0 && s[8])))
		return false;
	while (*p) {
		unsigned cp = *p;
		int n = cp < 0x80 ? 0 : cp < 0xE0 ? 1 : cp < 0xF0 ? 2 : 3;
		cp = n == 0 ? cp : n == 1 ? cp & 0x1F : n == 2 ? cp & 0x0F : cp & 0x07;
		p++;
		for (int i = 0; i < n && *p; i++, p++) /* jansson checked the UTF-8 */
			cp = (cp << 6) | (*p & 0x3F);
		if (cp <= 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0xA0 ||
		    (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
		    cp == 0x205F || cp == 0x3000 || cp == 0xFEFF)
			return false;
	}
	return true;
}

/* The body's shape, item by item, before the database is asked anything. */
static void check_values_body(const json_t *body, struct em_reply *reply)
{
	const json_t *values = json_object_get(body, "values"), *item, *v;
	const char *key;
	char f[64];
	size_t i;

	json_object_foreach((json_t *)body, key, v)
		if (strcmp(key, "values") != 0)
			reply_field_error(reply, key, "unknown field");
	if (!values) {
		reply_field_error(reply, "values", "is required");
		return;
	}
	if (!json_is_array(values) || json_array_size(values) < 1 ||
	    json_array_size(values) > MAX_VALUES) {
		reply_field_error(reply, "values", "must be an array of 1 to %d items", MAX_VALUES);
		return;
	}
	json_array_foreach(values, i, item) {
		if (!json_is_object(item)) {
			snprintf(f, sizeof(f), "values[%zu]", i);
			reply_field_error(reply, f, "must be an object {indicator, value, comment, "
					  "evidence_url}");
			continue;
		}
		json_object_foreach((json_t *)item, key, v)
			if (strcmp(key, "indicator") && strcmp(key, "value") && strcmp(key, "comment") &&
			    strcmp(key, "evidence_url")) {
				snprintf(f, sizeof(f), "values[%zu].%s", i, key);
				reply_field_error(reply, f, "unknown field");
			}
		v = json_object_get(item, "indicator");
		snprintf(f, sizeof(f), "values[%zu].indicator", i);
		if (!v)
			reply_field_error(reply, f, "is required");
		else if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > 32 ||
			 strlen(json_string_value(v)) != json_string_length(v))
			reply_field_error(reply, f, "must be an indicator code (1 to 32 characters)");
		else
			for (size_t j = 0; j < i; j++) {
				const char *other = json_string_value(
					json_object_get(json_array_get(values, j), "indicator"));
				if (other && strcmp(other, json_string_value(v)) == 0) {
					reply_field_error(reply, f, "indicator %s is already in values[%zu]: "
							  "one item per indicator", other, j);
					break;
				}
			}
		v = json_object_get(item, "value");
		snprintf(f, sizeof(f), "values[%zu].value", i);
		if (!v)
			reply_field_error(reply, f, "is required (null removes the value)");
		else if (!json_is_number(v) && !json_is_boolean(v) && !json_is_null(v))
			reply_field_error(reply, f, "must be a number, a boolean or null");
		bool removing = v && json_is_null(v);
		v = json_object_get(item, "comment");
		snprintf(f, sizeof(f), "values[%zu].comment", i);
		if (v && !json_is_null(v)) {
			size_t n = json_is_string(v) ? utf8_length(json_string_value(v)) : 0;
			if (!json_is_string(v) || n < 1 || n > MAX_TEXT ||
			    strlen(json_string_value(v)) != json_string_length(v))
				reply_field_error(reply, f, "must be a string of 1 to %d characters or null",
						  MAX_TEXT);
			else if (removing)
				reply_field_error(reply, f, "must be null when value is null (removing a "
						  "value removes its comment)");
		}
		v = json_object_get(item, "evidence_url");
		snprintf(f, sizeof(f), "values[%zu].evidence_url", i);
		if (v && !json_is_null(v)) {
			const char *s = json_string_value(v);
			bool ok = s && strlen(s) == json_string_length(v) && utf8_length(s) <= MAX_TEXT &&
				  url_valid(s);
			if (!ok)
				reply_field_error(reply, f, "must be an http:// or https:// URL of at most "
						  "%d characters, without spaces, or null", MAX_TEXT);
			else if (removing)
				reply_field_error(reply, f, "must be null when value is null");
		}
	}
}

struct sub_values {
	struct em_req *req;
	int64_t id;
	long version;
	json_t *body;
	struct em_reply *reply;
};

/* Item by item against the catalog: existence, kind, type, bounds (all errors at once). */
static void check_items(PGresult *res, const char *kind, struct em_reply *reply)
{
	char f[64];

	for (int i = 0; i < PQntuples(res); i++) {
		const char *code = PQgetvalue(res, i, R_CODE);
		const char *type = PQgetvalue(res, i, R_TYPE);
		const char *json = PQgetvalue(res, i, R_JSON);

		snprintf(f, sizeof(f), "values[%d].indicator", i);
		if (!db_bool(res, i, R_FOUND)) {
			reply_field_error(reply, f, "no indicator %s in the campaign's catalog", code);
			continue;
		}
		if (!db_bool(res, i, R_APPLIES)) {
			reply_field_error(reply, f, "indicator %s does not apply to %s organizations "
					  "(its weight for them is 0)", code, kind);
			continue;
		}
		snprintf(f, sizeof(f), "values[%d].value", i);
		if (strcmp(json, "null") == 0)
			continue;
		if (strcmp(type, "boolean") == 0) {
			if (strcmp(json, "boolean") != 0)
				reply_field_error(reply, f, "must be true or false (or null): %s is a "
						  "boolean indicator", code);
		} else if (strcmp(json, "number") != 0) {
			reply_field_error(reply, f, "must be a JSON number (or null): %s is a %s "
					  "indicator", code, type);
		} else if (strcmp(type, "integer") == 0 && db_bool(res, i, R_FRACTION)) {
			reply_field_error(reply, f, "must be a whole number: %s is an integer indicator",
					  code);
		} else if (db_bool(res, i, R_RANGE)) {
			reply_field_error(reply, f, "must be between %s and %s for %s",
					  PQgetvalue(res, i, R_MIN), PQgetvalue(res, i, R_MAX), code);
		}
	}
}

/* Who may write each item's source, and whether the submission's state lets them. */
static enum em_err check_rights(struct em_req *req, PGresult *res, PGresult *lock,
				struct em_reply *reply)
{
	const char *status = PQgetvalue(lock, 0, L_STATUS);
	const char *campaign = PQgetvalue(lock, 0, L_CAMPAIGN_STATUS);

	for (int i = 0; i < PQntuples(res); i++) {
		const struct source_rule *r = source_rule(PQgetvalue(res, i, R_SOURCE));
		if (!r)
			return EM_EINTERNAL;
		if (!role_in(req, r->roles))
			return reply_fail(reply, EM_EFORBIDDEN, "a %s may not write indicator %s "
					  "(values[%d]): %s values are written by %s",
					  em_role_name(req->caller.role), PQgetvalue(res, i, R_CODE),
					  i, r->source, r->who);
	}
	for (int i = 0; i < PQntuples(res); i++) {
		const struct source_rule *r = source_rule(PQgetvalue(res, i, R_SOURCE));
		const char *code = PQgetvalue(res, i, R_CODE);
		if (!status_in(r, status))
			return reply_fail(reply, EM_ECONFLICT, "values of a%s %s submission are frozen "
					  "for indicator %s (source %s)",
					  status[0] == 'a' ? "n" : "", status, code, r->source);
		if (strcmp(campaign, "open") != 0 && !(r->closed_ok && strcmp(campaign, "closed") == 0))
			return reply_fail(reply, EM_ECONFLICT, "the campaign is %s: %s values "
					  "(indicator %s) are written while it is open%s", campaign,
					  r->source, code, r->closed_ok ? " or closed" : "");
	}
	return EM_OK;
}

static enum em_err values_tx(struct db_conn *db, void *arg)
{
	struct sub_values *c = arg;
	struct em_req *req = c->req;
	char idbuf[24], actor[24];
	const char *params[6];
	PGresult *lock = NULL, *res = NULL;
	enum em_err rc;

	(void)db;
	reply_clear(c->reply);
	if ((rc = lock_submission(req, c->id, c->version, c->reply, &lock)) != EM_OK)
		return rc;
	params[0] = PQgetvalue(lock, 0, L_CAMPAIGN);
	params[1] = req->body;
	params[2] = PQgetvalue(lock, 0, L_KIND);
	if ((rc = db_exec(req->db, &SUB_RESOLVE, params, &res)) != EM_OK) {
		/* A number the database cannot hold (1e-20000) is the client's error. */
		rc = map_constraint(req, VALUE_CONSTRAINTS, rc, c->reply);
		goto out;
	}
	check_items(res, PQgetvalue(lock, 0, L_KIND), c->reply);
	if (c->reply->errors) {
		rc = reply_fail(c->reply, EM_EINVAL, "the values are not valid: nothing was written");
		goto out;
	}
	if ((rc = check_rights(req, res, lock, c->reply)) != EM_OK)
		goto out;
	PQclear(res);
	res = NULL;
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)c->id);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[0] = em_role_name(req->caller.role);
	params[1] = idbuf;
	params[2] = req->body;
	params[3] = PQgetvalue(lock, 0, L_CAMPAIGN);
	params[4] = actor;
	params[5] = req->request_id;
	if ((rc = db_exec(req->db, &SUB_WRITE, params, &res)) != EM_OK) {
		rc = map_constraint(req, VALUE_CONSTRAINTS, rc, c->reply);
		goto out;
	}
	rc = reply_current(req, c->id, atol(PQgetvalue(res, 0, 0)) > 0, c->reply);
out:
	PQclear(res);
	PQclear(lock);
	return rc;
}

enum em_err submissions_put_values(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply)
{
	struct sub_values c = {.req = req, .id = args->id[0], .body = body, .reply = reply};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &c.version)) != EM_OK)
		return rc;
	check_values_body(body, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the values are not valid: nothing was written");
	if (!req->body)
		return EM_EINTERNAL;
	return db_tx(req->db, values_tx, &c);
}

/* --- The list as a spreadsheet --------------------------------------------------------- */

static void submissions_book(struct sheet_book *book, json_t *doc)
{
	struct sheet_table *t = sheet_add_table(book, book_add_sheet(book, "Анкеты"), NULL,
						json_object_get(doc, "items"));

	table_add_col(book, t, "id", "Анкета", SK_INT);
	table_add_col(book, t, "campaign_id", "Кампания", SK_INT);
	table_add_col(book, t, "organization_id", "Код ОО", SK_INT);
	table_add_col(book, t, "organization_name", "Образовательная организация", SK_TEXT);
	table_add_col(book, t, "region_id", "Код региона", SK_INT);
	table_add_col(book, t, "municipality_id", "Код муниципалитета", SK_INT);
	table_add_col(book, t, "kind", "Тип ОО", SK_TEXT);
	table_add_col(book, t, "manager_id", "Код руководителя", SK_INT);
	table_add_col(book, t, "status", "Статус", SK_TEXT);
	table_add_col(book, t, "return_comment", "Причина возврата", SK_TEXT);
	table_add_col(book, t, "first_submitted_at", "Впервые представлена", SK_TEXT);
	table_add_col(book, t, "submitted_at", "Представлена", SK_TEXT);
	table_add_col(book, t, "verified_at", "Проверена", SK_TEXT);
	table_add_col(book, t, "approved_at", "Утверждена", SK_TEXT);
	table_add_col(book, t, "returned_at", "Возвращена", SK_TEXT);
	table_add_col(book, t, "score.total", "Итоговый балл", SK_DEC2);
	table_add_col(book, t, "score.level", "Уровень", SK_TEXT);
	table_add_col(book, t, "score.completeness", "Полнота данных", SK_DEC4);
	table_add_col(book, t, "created_at", "Создана", SK_TEXT);
	table_add_col(book, t, "updated_at", "Изменена", SK_TEXT);
	table_add_col(book, t, "version", "Версия", SK_INT);
}

enum em_err submissions_list(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply)
{
	enum em_format fmt;
	struct csv_opts csv;
	enum em_err rc;

	if ((rc = book_params(req, reply, &fmt, &csv)) != EM_OK)
		return rc;
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid parameters");
	if ((rc = resource_list(req, args, body, reply)) != EM_OK || fmt == EM_FMT_JSON)
		return rc;
	if (!reply->text)
		return EM_EINTERNAL;
	return book_from_json(reply, fmt, &csv, "submissions", submissions_book);
}
