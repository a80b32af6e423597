/*
 * recommendations.c — addressed recommendations (адресные рекомендации) of a
 * region or a municipality to a head or a municipality: draft → issued →
 * acknowledged → reported → accepted, or reported → issued for rework; overdue
 * derived from em_today(); the history of every action. Drafts are seen by the
 * issuing side only. The history is read in recommendation_history.c; drafts
 * generated from a campaign's weak direction scores are in recommendation_drafts.c
 * (from its early warnings: src/analysis/warning_drafts.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "effmon/cycle.h"
#include "effmon/registry.h"
#include "effmon/workflow.h"
#include "recommendation.h"

#define MAX_CODES 50

static const char *const STATUSES[] = {
	"draft", "issued", "acknowledged", "reported", "accepted", "withdrawn", NULL};

/* clang-format off */
DB_STMT(RECO_GET) = {
	"recommendation_get",
	"SELECT " RECO_JSON("r") ", r.version FROM recommendations r WHERE r.id = $7::bigint AND"
	RECO_VISIBLE("r"),
	7};

DB_STMT(RECO_LIST) = {
	"recommendation_list",
	"SELECT " RECO_JSON("r") ", r.id FROM recommendations r WHERE" RECO_VISIBLE("r")
	/* Redundant, for the index (as SQL_LIST_SCOPE of effmon/resource.h); not for heads,
	 * who see what is addressed to them wherever they worked then. */
	" AND ($1 IN ('admin', 'head') OR r.region_id = $3::bigint)"
	" AND ($8::bigint IS NULL OR r.id > $8::bigint)"
	" AND ($9::bigint IS NULL OR r.campaign_id = $9::bigint)"
	" AND ($10::text IS NULL OR r.status = $10)"
	" AND ($11::bigint IS NULL OR r.addressee_manager_id = $11::bigint)"
	" AND ($12::bigint IS NULL OR r.addressee_municipality_id = $12::bigint)"
	" AND ($13::bigint IS NULL OR r.municipality_id = $13::bigint)"
	" AND ($14::boolean IS NULL OR " RECO_OVERDUE("r") " = $14::boolean)"
	" ORDER BY r.id LIMIT $7::int",
	14};
/* clang-format on */

static const struct list_filter RECO_FILTERS[] = {
	{"campaign_id", FILTER_ID, NULL},          {"status", FILTER_ENUM, STATUSES},
	{"addressee_manager_id", FILTER_ID, NULL}, {"addressee_municipality_id", FILTER_ID, NULL},
	{"municipality_id", FILTER_ID, NULL},      {"overdue", FILTER_BOOL, NULL},
};

/* GET /recommendations and /recommendations/{id}. */
CYCLE_READ_HANDLERS(recommendations, "recommendation", RECO_GET, RECO_LIST, RECO_FILTERS)

/* --- Validation shared by create and change ------------------------------------------------- */

/* directions / indicators: arrays of distinct codes. */
static void check_codes(const json_t *body, const char *name, struct em_reply *reply)
{
	const json_t *arr = json_object_get(body, name), *v;
	char f[64];
	size_t i;

	if (!arr)
		return;
	if (!json_is_array(arr) || json_array_size(arr) > MAX_CODES) {
		reply_field_error(reply, name, "must be an array of at most %d codes", MAX_CODES);
		return;
	}
	json_array_foreach(arr, i, v) {
		snprintf(f, sizeof(f), "%s[%zu]", name, i);
		if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > 64 ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			reply_field_error(reply, f, "must be a code (1 to 64 characters)");
			continue;
		}
		for (size_t j = 0; j < i; j++)
			if (json_is_string(json_array_get(arr, j)) &&
			    strcmp(json_string_value(json_array_get(arr, j)),
				   json_string_value(v)) == 0) {
				reply_field_error(reply, f, "%s is already in %s[%zu]",
						  json_string_value(v), name, j);
				break;
			}
	}
}

/* Codes against the campaign's catalog: a direction must have an indicator in it.
 * $1 campaign, $2 body -> field, message. */
/* clang-format off */
DB_STMT(RECO_CODES) = {
	"recommendation_codes",
	"SELECT format('directions[%s]', x.ord - 1), format('no direction %s in the catalog of "
	" campaign %s', x.e #>> '{}', $1) "
	"FROM jsonb_array_elements(coalesce($2::jsonb -> 'directions', '[]')) WITH ORDINALITY x(e, ord) "
	"WHERE NOT EXISTS (SELECT 1 FROM indicators i JOIN directions d ON d.id = i.direction_id "
	" WHERE i.campaign_id = $1::bigint AND d.code = x.e #>> '{}') "
	"UNION ALL SELECT format('indicators[%s]', x.ord - 1), format('no indicator %s in the "
	" catalog of campaign %s', x.e #>> '{}', $1) "
	"FROM jsonb_array_elements(coalesce($2::jsonb -> 'indicators', '[]')) WITH ORDINALITY x(e, ord) "
	"WHERE NOT EXISTS (SELECT 1 FROM indicators i WHERE i.campaign_id = $1::bigint "
	" AND i.code = x.e #>> '{}')",
	2};
/* clang-format on */

static enum em_err check_catalog(struct em_req *req, int64_t campaign, const char *body,
				 struct em_reply *reply)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	db_args_init(&a);
	db_arg_i64(&a, campaign);
	db_arg_text(&a, body);
	if ((rc = db_exec_args(req->db, &RECO_CODES, &a, &res)) != EM_OK)
		return rc;
	for (int i = 0; i < PQntuples(res); i++)
		reply_field_error(reply, PQgetvalue(res, i, 0), "%s", PQgetvalue(res, i, 1));
	PQclear(res);
	return EM_OK;
}

/* --- Create --------------------------------------------------------------------------------- */

static const char *const NEW_STATUSES[] = {"issued", "draft", NULL};

static const struct field RECO_CREATE[] = {
	{"campaign_id", F_ID, true, false, 0, 0, NULL},
	{"addressee_manager_id", F_ID, false, true, 0, 0, NULL},
	{"addressee_municipality_id", F_ID, false, true, 0, 0, NULL},
	{"text", F_STRING, true, false, 1, 4000, NULL},
	{"due_on", F_DATE, true, false, 0, 0, NULL},
	{"status", F_ENUM, false, false, 0, 0, NEW_STATUSES},
};
static const struct field RECO_UPDATE[] = {
	{"text", F_STRING, false, false, 1, 4000, NULL},
	{"due_on", F_DATE, false, false, 0, 0, NULL},
};

/* The addressee and the campaign, in the caller's scope and of one region.
 * $1..$6 caller, $7 body -> field, message. */
/* clang-format off */
DB_STMT(RECO_RESOLVE) = {
	"recommendation_resolve",
	"WITH b AS (SELECT $7::jsonb AS b),"
	" t AS (SELECT m.region_id FROM managers m, b WHERE m.id = (b ->> "
	"  'addressee_manager_id')::bigint AND em_in_scope($1, $3::bigint, $4::bigint, $5::bigint, "
	"  m.region_id, m.municipality_id, m.organization_id) "
	"  UNION ALL SELECT mu.region_id FROM municipalities mu, b WHERE mu.id = (b ->> "
	"  'addressee_municipality_id')::bigint AND em_in_scope($1, $3::bigint, $4::bigint, "
	"  $5::bigint, mu.region_id, mu.id, NULL)),"
	" c AS (SELECT c.region_id FROM campaigns c, b WHERE c.id = (b ->> 'campaign_id')::bigint "
	"  AND em_in_scope($1, $3::bigint, $4::bigint, $5::bigint, c.region_id, NULL, NULL)) "
	"SELECT CASE WHEN b ->> 'addressee_manager_id' IS NOT NULL THEN 'addressee_manager_id' "
	" ELSE 'addressee_municipality_id' END, CASE WHEN b ->> 'addressee_manager_id' IS NOT NULL "
	" THEN 'no such manager in your scope' ELSE 'no such municipality in your scope' END "
	" FROM b WHERE NOT EXISTS (SELECT 1 FROM t) "
	"UNION ALL SELECT 'campaign_id', 'no such campaign in your scope' FROM b "
	" WHERE NOT EXISTS (SELECT 1 FROM c) "
	"UNION ALL SELECT 'campaign_id', 'the campaign is of another region than the addressee' "
	" FROM c, t WHERE c.region_id <> t.region_id",
	7};

#define RECO_ARRAY(name) "ARRAY(SELECT jsonb_array_elements_text(coalesce(b -> '" name "', '[]')))"
/* clang-format on */

/* $1 role, $7 caller municipality, $8 body, $9 actor, $10 request id -> id. */
/* clang-format off */
DB_STMT(RECO_INSERT) = {
	"recommendation_create",
	"WITH b AS (SELECT $8::jsonb AS b),"
	" t AS (SELECT m.region_id, m.municipality_id, m.organization_id, m.id AS mgr, "
	"  NULL::bigint AS muni FROM managers m, b WHERE m.id = (b ->> 'addressee_manager_id')::bigint "
	"  UNION ALL SELECT mu.region_id, mu.id, NULL, NULL, mu.id FROM municipalities mu, b "
	"  WHERE mu.id = (b ->> 'addressee_municipality_id')::bigint),"
	" ins AS (INSERT INTO recommendations (campaign_id, region_id, municipality_id, "
	"  organization_id, addressee_manager_id, addressee_municipality_id, issuer_level, "
	"  issuer_municipality_id, issued_by, directions, indicators, text, due_on, status, "
	"  issued_at) SELECT (b ->> 'campaign_id')::bigint, t.region_id, t.municipality_id, "
	"  t.organization_id, t.mgr, t.muni, CASE WHEN $1 = 'municipal_operator' THEN 'municipal' "
	"  ELSE 'regional' END, CASE WHEN $1 = 'municipal_operator' THEN $7::bigint END, "
	"  $9::bigint, " RECO_ARRAY("directions") ", " RECO_ARRAY("indicators") ", b ->> 'text', "
	"  (b ->> 'due_on')::date, coalesce(b ->> 'status', 'issued'), CASE WHEN coalesce(b ->> "
	"  'status', 'issued') = 'issued' THEN now() END FROM t, b RETURNING *),"
	" hist AS (INSERT INTO recommendation_history (recommendation_id, actor_user_id, "
	"  actor_role, action, to_status, request_id) SELECT ins.id, $9::bigint, $1, 'create', "
	"  ins.status, $10 FROM ins),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $9::bigint, $1, 'recommendation', ins.id, 'create', "
	"  NULL, to_jsonb(ins), $10, ins.region_id, ins.municipality_id, ins.organization_id "
	"  FROM ins) "
	"SELECT ins.id FROM ins",
	10};
/* clang-format on */

/* The addressee, the campaign and the codes, then the insert. */
static enum em_err reco_write(const struct cycle_create *c, int64_t *id)
{
	struct em_req *req = c->req;
	struct db_args a;
	PGresult *res;
	enum em_err rc;
	int64_t campaign;

	caller_args(&a, req);
	db_arg_text(&a, req->body);
	if ((rc = db_exec_args(req->db, &RECO_RESOLVE, &a, &res)) != EM_OK)
		return rc;
	bool campaign_ok = true;
	for (int i = 0; i < PQntuples(res); i++) {
		reply_field_error(c->reply, PQgetvalue(res, i, 0), "%s", PQgetvalue(res, i, 1));
		if (strcmp(PQgetvalue(res, i, 0), "campaign_id") == 0)
			campaign_ok = false;
	}
	PQclear(res);
	campaign = json_integer_value(json_object_get(c->body, "campaign_id"));
	if (campaign_ok && (rc = check_catalog(req, campaign, req->body, c->reply)) != EM_OK)
		return rc;
	if (c->reply->errors)
		return reply_fail(c->reply, EM_EINVAL, "the recommendation is not valid");
	caller_args(&a, req);
	db_arg_id(&a, req->caller.municipality_id);
	db_arg_text(&a, req->body);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	if ((rc = db_exec_args(req->db, &RECO_INSERT, &a, &res)) != EM_OK)
		return rc;
	rc = PQntuples(res) == 1 ? EM_OK : EM_EINTERNAL;
	if (rc == EM_OK)
		*id = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

/* The body against fields, its directions and indicators apart; errors into
 * reply, EM_EINTERNAL when out of memory. */
static enum em_err check_body(const json_t *body, const struct field *fields, size_t n,
			      struct em_reply *reply)
{
	json_t *rest = json_deep_copy(body);

	if (!rest)
		return EM_EINTERNAL;
	json_object_del(rest, "directions");
	json_object_del(rest, "indicators");
	validate_object(rest, fields, n, reply);
	json_decref(rest);
	check_codes(body, "directions", reply);
	check_codes(body, "indicators", reply);
	return EM_OK;
}

enum em_err recommendations_create(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply)
{
	struct cycle_create c = {
		req,        body, reply, &RECO_GET, "recommendation", "/api/v1/recommendations",
		reco_write, NULL};
	const json_t *mgr, *muni;
	enum em_err rc;

	(void)args;
	if ((rc = check_body(body, RECO_CREATE, sizeof(RECO_CREATE) / sizeof(RECO_CREATE[0]),
			     reply)) != EM_OK)
		return rc;
	mgr = json_object_get(body, "addressee_manager_id");
	muni = json_object_get(body, "addressee_municipality_id");
	if ((!mgr || json_is_null(mgr)) == (!muni || json_is_null(muni)))
		reply_field_error(reply, "addressee_manager_id",
				  "give exactly one of "
				  "addressee_manager_id and addressee_municipality_id");
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the recommendation is not valid");
	if (muni && !json_is_null(muni) && req->caller.role == EM_ROLE_MUNICIPAL)
		return reply_fail(reply, EM_EFORBIDDEN,
				  "a municipal operator addresses "
				  "recommendations to heads; a regional operator (or an admin) "
				  "addresses a municipality");
	if (!req->body)
		return EM_EINTERNAL;
	return cycle_create(&c);
}

/* --- Locking, and who is who -------------------------------------------------------------- */

/* A visible recommendation: version, status, row, issuer municipality, addressee manager,
 * addressee municipality, campaign. */
/* clang-format off */
DB_STMT(RECO_LOCK) = {
	"recommendation_lock",
	"SELECT r.version, r.status, to_jsonb(r), r.issuer_municipality_id, "
	" r.addressee_manager_id, r.addressee_municipality_id, r.campaign_id "
	"FROM recommendations r WHERE r.id = $7::bigint AND" RECO_VISIBLE("r") " FOR UPDATE",
	7};
/* clang-format on */
enum { K_VERSION, K_STATUS, K_ROW, K_ISSUER_MUNI, K_ADDR_MGR, K_ADDR_MUNI, K_CAMPAIGN };

/* The issuing side: admin, a regional operator of the region, or the municipal operator of
 * the municipality that issued it. */
static bool is_issuer(const struct em_req *req, PGresult *lock)
{
	switch (req->caller.role) {
	case EM_ROLE_ADMIN:
	case EM_ROLE_REGIONAL: return true;
	case EM_ROLE_MUNICIPAL:
		return !PQgetisnull(lock, 0, K_ISSUER_MUNI) &&
		       db_int64(lock, 0, K_ISSUER_MUNI) == req->caller.municipality_id;
	default: return false;
	}
}

/* The addressee: the head of the addressed manager, or the municipal operator of the
 * addressed municipality; an admin may act for either. */
static bool is_addressee(const struct em_req *req, PGresult *lock)
{
	switch (req->caller.role) {
	case EM_ROLE_ADMIN: return true;
	case EM_ROLE_HEAD:
		return !PQgetisnull(lock, 0, K_ADDR_MGR) && req->caller.manager_id &&
		       db_int64(lock, 0, K_ADDR_MGR) == req->caller.manager_id;
	case EM_ROLE_MUNICIPAL:
		return !PQgetisnull(lock, 0, K_ADDR_MUNI) &&
		       db_int64(lock, 0, K_ADDR_MUNI) == req->caller.municipality_id;
	default: return false;
	}
}

static const char ISSUER_WHO[] =
	"the issuing side: a regional operator of the region, the "
	"municipal operator of the issuing municipality, or an admin";
static const char ADDRESSEE_WHO[] =
	"the addressee: the head it is addressed to, or the "
	"municipal operator of the addressed municipality (or an admin)";

/* --- Change of a draft --------------------------------------------------------------------- */

/* The update layout (effmon/resource.h), $12 the row before -> json, version. */
/* clang-format off */
DB_STMT(RECO_UPDATE_SQL) = {
	"recommendation_update",
	"WITH b AS (SELECT $8::jsonb AS b),"
	" upd AS (UPDATE recommendations r SET text = coalesce(b ->> 'text', r.text), "
	"  due_on = coalesce((b ->> 'due_on')::date, r.due_on), "
	"  directions = CASE WHEN b ? 'directions' THEN " RECO_ARRAY("directions")
	"   ELSE r.directions END, "
	"  indicators = CASE WHEN b ? 'indicators' THEN " RECO_ARRAY("indicators")
	"   ELSE r.indicators END, "
	"  version = r.version + 1, updated_at = now() FROM b WHERE r.id = $7::bigint "
	"  AND r.version = $9::int RETURNING r.*),"
	" hist AS (INSERT INTO recommendation_history (recommendation_id, actor_user_id, "
	"  actor_role, action, from_status, to_status, request_id) SELECT upd.id, $10::bigint, $1, "
	"  'update', upd.status, upd.status, $11 FROM upd),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, 'recommendation', upd.id, 'update', "
	"  $12::jsonb, to_jsonb(upd), $11, upd.region_id, upd.municipality_id, upd.organization_id "
	"  FROM upd) "
	"SELECT " RECO_JSON("upd") ", upd.version FROM upd",
	12};
/* clang-format on */

/* Before the update: the lock (u->ctx, a PGresult *), the draft's status, the
 * issuing side and the codes against the campaign's catalog. */
static enum em_err update_check(struct update_run *u)
{
	PGresult **lock = u->ctx;
	struct em_req *req = u->req;
	enum em_err rc;

	PQclear(*lock); /* a retried transaction locks again */
	*lock = NULL;
	if ((rc = resource_lock(req, u->reply, &RECO_LOCK, u->id, u->version, "recommendation",
				lock)) != EM_OK)
		return rc;
	if (strcmp(PQgetvalue(*lock, 0, K_STATUS), "draft") != 0)
		return reply_fail(u->reply, EM_ECONFLICT,
				  "the recommendation is %s: only a draft "
				  "is changed (an issued recommendation stands as issued)",
				  PQgetvalue(*lock, 0, K_STATUS));
	if (!is_issuer(req, *lock))
		return reply_fail(u->reply, EM_EFORBIDDEN, "a %s may not change this draft: %s",
				  em_role_name(req->caller.role), ISSUER_WHO);
	if ((rc = check_catalog(req, db_int64(*lock, 0, K_CAMPAIGN), u->body_text, u->reply)) !=
	    EM_OK)
		return rc;
	if (u->reply->errors)
		return reply_fail(u->reply, EM_EINVAL,
				  "the change to the recommendation is not "
				  "valid");
	return EM_OK;
}

/* $12: the locked row before the change, for the audit row. */
static void update_push(struct update_run *u, struct db_args *a)
{
	PGresult **lock = u->ctx;

	db_arg_text(a, PQgetvalue(*lock, 0, K_ROW));
}

enum em_err recommendations_update(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply)
{
	PGresult *lock = NULL;
	struct update_run u = {.req = req,
			       .reply = reply,
			       .id = args->id[0],
			       .body = body,
			       .body_text = req->body,
			       .st = &RECO_UPDATE_SQL,
			       .get = &RECO_GET,
			       .entity = "recommendation",
			       .check = update_check,
			       .push = update_push,
			       .ctx = &lock};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &u.version)) != EM_OK)
		return rc;
	if ((rc = check_body(body, RECO_UPDATE, sizeof(RECO_UPDATE) / sizeof(RECO_UPDATE[0]),
			     reply)) != EM_OK)
		return rc;
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL,
				  "the change to the recommendation is not valid "
				  "(text, due_on, directions and indicators of a draft change)");
	if (json_object_size(body) == 0)
		return reply_fail(reply, EM_EINVAL, "the body names no field to change");
	if (!req->body)
		return EM_EINTERNAL;
	rc = update_run(&u);
	PQclear(lock);
	return rc;
}

/* --- Transitions ------------------------------------------------------------------------------ */

static bool by_issuer(const struct wf_ctx *c)
{
	return is_issuer(c->req, c->lock);
}

static bool by_addressee(const struct wf_ctx *c)
{
	return is_addressee(c->req, c->lock);
}

#define ISSUER by_issuer, ISSUER_WHO
#define ADDRESSEE by_addressee, ADDRESSEE_WHO
static const struct wf_move MOVES[] = {
	{"draft", "issued", 0, ISSUER},
	{"draft", "withdrawn", 0, ISSUER},
	{"issued", "acknowledged", 0, ADDRESSEE},
	{"acknowledged", "reported", 0, ADDRESSEE},
	{"reported", "accepted", 0, ISSUER},
	{"reported", "issued", 0, ISSUER, "comment",
	 "is required when sending a report back for rework: say what to correct"},
};
#undef ISSUER
#undef ADDRESSEE

/* The workflow layout (workflow.h), $13 comment, $14 report. -> id */
/* clang-format off */
DB_STMT(RECO_MOVE) = {
	"recommendation_transition",
	"WITH upd AS (UPDATE recommendations r SET status = $8, "
	"  report = CASE WHEN $8 = 'reported' THEN $14 ELSE r.report END, "
	"  rework_comment = CASE WHEN $9 = 'reported' AND $8 = 'issued' THEN $13 "
	"   ELSE r.rework_comment END, "
	"  issued_at = CASE WHEN $8 = 'issued' AND r.issued_at IS NULL THEN now() "
	"   ELSE r.issued_at END, "
	"  acknowledged_at = CASE WHEN $8 = 'acknowledged' THEN now() ELSE r.acknowledged_at END, "
	"  reported_at = CASE WHEN $8 = 'reported' THEN now() ELSE r.reported_at END, "
	"  accepted_at = CASE WHEN $8 = 'accepted' THEN now() ELSE r.accepted_at END, "
	"  version = r.version + 1, updated_at = now() WHERE r.id = $7::bigint RETURNING r.*),"
	" hist AS (INSERT INTO recommendation_history (recommendation_id, actor_user_id, "
	"  actor_role, action, from_status, to_status, comment, report, request_id) "
	"  SELECT upd.id, $11::bigint, $1, 'transition', $9, upd.status, $13, "
	"  CASE WHEN $8 = 'reported' THEN $14 END, $12 FROM upd RETURNING *),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $11::bigint, $1, 'recommendation', upd.id, "
	"  'transition', $10::jsonb, to_jsonb(upd) || jsonb_build_object('transition', "
	"  to_jsonb(hist)), $12, upd.region_id, upd.municipality_id, upd.organization_id "
	"  FROM upd, hist) "
	"SELECT upd.id FROM upd",
	14};
/* clang-format on */

/* The move answers the id: answer the recommendation as GET would. */
static enum em_err move_answer(struct wf_ctx *c, PGresult *moved)
{
	(void)moved;
	return cycle_reply_one(c->req, c->reply, &RECO_GET, c->id, 200, "recommendation");
}

static const char *const TARGETS[] = {"issued",   "acknowledged", "reported",
				      "accepted", "withdrawn",    NULL};
static const struct field MOVE_FIELDS[] = {
	{"to", F_ENUM, true, false, 0, 0, TARGETS},
	{"comment", F_STRING, false, true, 1, 2000, NULL},
	{"report", F_STRING, false, true, 1, 4000, NULL},
};

static void move_check(const json_t *body, const char *to, struct em_reply *reply)
{
	const char *report = json_string_value(json_object_get(body, "report"));

	if (to && strcmp(to, "reported") == 0 && !report)
		reply_field_error(reply, "report",
				  "is required when reporting: describe the "
				  "correction made");
	if (to && strcmp(to, "reported") != 0 && report)
		reply_field_error(reply, "report", "is taken only with to: reported");
}

static const char *const MOVE_TEXTS[] = {"comment", "report", NULL};

static const struct workflow RECO_FLOW = {
	.entity = "recommendation",
	.object = "this recommendation",
	.states = STATUSES,
	.moves = MOVES,
	.nmoves = sizeof(MOVES) / sizeof(MOVES[0]),
	.fields = MOVE_FIELDS,
	.nfields = sizeof(MOVE_FIELDS) / sizeof(MOVE_FIELDS[0]),
	.check = move_check,
	.texts = MOVE_TEXTS,
	.lock = &RECO_LOCK,
	.move = &RECO_MOVE,
	.answer = move_answer,
};

enum em_err recommendations_transition(struct em_req *req, const struct em_args *args, json_t *body,
				       struct em_reply *reply)
{
	return workflow_transition(&RECO_FLOW, req, args, body, reply);
}
