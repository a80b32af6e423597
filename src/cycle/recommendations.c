/*
 * recommendations.c — addressed recommendations (адресные рекомендации) of a
 * region or a municipality to a head or a municipality: draft → issued →
 * acknowledged → reported → accepted, or reported → issued for rework; drafts
 * generated from weak direction scores of a campaign (from its early warnings:
 * src/analysis/warning_drafts.c, by the same route); overdue derived from
 * em_today(); the history of every action. Drafts are seen by the issuing side only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "effmon/cycle.h"
#include "effmon/registry.h"
#include "effmon/warnings.h"

#define MAX_CODES 50

static const char *const STATUSES[] = {"draft",    "issued",   "acknowledged", "reported",
				       "accepted", "withdrawn", NULL};

/* Open recommendations past their due date; drafts are not yet due. */
#define RECO_OVERDUE(r)                                                                       \
	"(" r ".due_on < em_today() AND " r ".status IN ('issued', 'acknowledged', 'reported'))"
/* The issuing side: the region (and admin), or the municipality that issued it. */
#define RECO_ISSUER(r)                                                                        \
	"($1 IN ('admin', 'regional_operator') OR ($1 = 'municipal_operator' AND " r             \
	".issuer_municipality_id = $3::bigint))"
#define RECO_VISIBLE(r)                                                                       \
	CYCLE_SCOPE(r ".region_id", r ".municipality_id", r ".organization_id",                  \
		    r ".addressee_manager_id")                                                    \
	" AND (" r ".status NOT IN ('draft', 'withdrawn') OR " RECO_ISSUER(r) ")"
#define RECO_JSON(r)                                                                          \
	"jsonb_build_object('id', " r ".id, 'campaign_id', " r ".campaign_id, 'region_id', " r  \
	".region_id, 'municipality_id', " r ".municipality_id, 'organization_id', " r           \
	".organization_id, 'addressee_manager_id', " r ".addressee_manager_id, "                \
	"'addressee_municipality_id', " r ".addressee_municipality_id, 'issuer_level', " r      \
	".issuer_level, 'issuer_municipality_id', " r ".issuer_municipality_id, 'issued_by', " r \
	".issued_by, 'directions', to_jsonb(" r ".directions), 'indicators', to_jsonb(" r       \
	".indicators), 'text', " r ".text, 'due_on', " r ".due_on, 'status', " r ".status, "    \
	"'overdue', " RECO_OVERDUE(r) ", 'report', " r ".report, 'rework_comment', " r          \
	".rework_comment, 'generated', " r ".generated, 'warning', " r ".warning, "              \
	"'issued_at', " r ".issued_at, "                                                          \
	"'acknowledged_at', " r ".acknowledged_at, 'reported_at', " r ".reported_at, "          \
	"'accepted_at', " r ".accepted_at, 'created_at', " r ".created_at, 'updated_at', " r    \
	".updated_at, 'version', " r ".version)"

DB_STMT(RECO_GET) = {
	"recommendation_get",
	"SELECT " RECO_JSON("r") ", r.version FROM recommendations r WHERE r.id = $6::bigint AND"
	RECO_VISIBLE("r"),
	6};

DB_STMT(RECO_LIST) = {
	"recommendation_list",
	"SELECT " RECO_JSON("r") ", r.id FROM recommendations r WHERE" RECO_VISIBLE("r")
	/* Redundant, for the index (as SQL_LIST_SCOPE of effmon/resource.h); not for heads,
	 * who see what is addressed to them wherever they worked then. */
	" AND ($1 IN ('admin', 'head') OR r.region_id = $2::bigint)"
	" AND ($7::bigint IS NULL OR r.id > $7::bigint)"
	" AND ($8::bigint IS NULL OR r.campaign_id = $8::bigint)"
	" AND ($9::text IS NULL OR r.status = $9)"
	" AND ($10::bigint IS NULL OR r.addressee_manager_id = $10::bigint)"
	" AND ($11::bigint IS NULL OR r.addressee_municipality_id = $11::bigint)"
	" AND ($12::bigint IS NULL OR r.municipality_id = $12::bigint)"
	" AND ($13::boolean IS NULL OR " RECO_OVERDUE("r") " = $13::boolean)"
	" ORDER BY r.id LIMIT $6::int",
	13};

static const struct list_filter RECO_FILTERS[] = {
	{"campaign_id", FILTER_ID, NULL},
	{"status", FILTER_ENUM, STATUSES},
	{"addressee_manager_id", FILTER_ID, NULL},
	{"addressee_municipality_id", FILTER_ID, NULL},
	{"municipality_id", FILTER_ID, NULL},
	{"overdue", FILTER_BOOL, NULL},
};

enum em_err recommendations_list(struct em_req *req, const struct em_args *args, json_t *body,
				 struct em_reply *reply)
{
	(void)args;
	(void)body;
	return cycle_list(req, reply, &RECO_LIST, RECO_FILTERS,
			  sizeof(RECO_FILTERS) / sizeof(RECO_FILTERS[0]));
}

enum em_err recommendations_get(struct em_req *req, const struct em_args *args, json_t *body,
				struct em_reply *reply)
{
	(void)body;
	return cycle_reply_one(req, reply, &RECO_GET, args->id[0], 200, "recommendation");
}

/* --- History ------------------------------------------------------------------------------ */

DB_STMT(RECO_VISIBLE_ONE) = {
	"recommendation_visible",
	"SELECT 1 FROM recommendations r WHERE r.id = $6::bigint AND" RECO_VISIBLE("r"), 6};

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
			    strcmp(json_string_value(json_array_get(arr, j)), json_string_value(v)) == 0) {
				reply_field_error(reply, f, "%s is already in %s[%zu]",
						  json_string_value(v), name, j);
				break;
			}
	}
}

/* Codes against the campaign's catalog: a direction must have an indicator in it.
 * $1 campaign, $2 body -> field, message. */
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

static enum em_err check_catalog(struct em_req *req, const char *campaign, const char *body,
				 struct em_reply *reply)
{
	const char *params[2] = {campaign, body};
	PGresult *res;
	enum em_err rc;

	if ((rc = db_exec(req->db, &RECO_CODES, params, &res)) != EM_OK)
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
 * $1..$4 caller scope, $5 body -> field, message. */
DB_STMT(RECO_RESOLVE) = {
	"recommendation_resolve",
	"WITH b AS (SELECT $5::jsonb AS b),"
	" t AS (SELECT m.region_id FROM managers m, b WHERE m.id = (b ->> "
	"  'addressee_manager_id')::bigint AND em_in_scope($1, $2::bigint, $3::bigint, $4::bigint, "
	"  m.region_id, m.municipality_id, m.organization_id) "
	"  UNION ALL SELECT mu.region_id FROM municipalities mu, b WHERE mu.id = (b ->> "
	"  'addressee_municipality_id')::bigint AND em_in_scope($1, $2::bigint, $3::bigint, "
	"  $4::bigint, mu.region_id, mu.id, NULL)),"
	" c AS (SELECT c.region_id FROM campaigns c, b WHERE c.id = (b ->> 'campaign_id')::bigint "
	"  AND em_in_scope($1, $2::bigint, $3::bigint, $4::bigint, c.region_id, NULL, NULL)) "
	"SELECT CASE WHEN b ->> 'addressee_manager_id' IS NOT NULL THEN 'addressee_manager_id' "
	" ELSE 'addressee_municipality_id' END, CASE WHEN b ->> 'addressee_manager_id' IS NOT NULL "
	" THEN 'no such manager in your scope' ELSE 'no such municipality in your scope' END "
	" FROM b WHERE NOT EXISTS (SELECT 1 FROM t) "
	"UNION ALL SELECT 'campaign_id', 'no such campaign in your scope' FROM b "
	" WHERE NOT EXISTS (SELECT 1 FROM c) "
	"UNION ALL SELECT 'campaign_id', 'the campaign is of another region than the addressee' "
	" FROM c, t WHERE c.region_id <> t.region_id",
	5};

#define RECO_ARRAY(name) "ARRAY(SELECT jsonb_array_elements_text(coalesce(b -> '" name "', '[]')))"

/* $1 role, $2 caller municipality, $3 body, $4 actor, $5 request id -> id. */
DB_STMT(RECO_INSERT) = {
	"recommendation_create",
	"WITH b AS (SELECT $3::jsonb AS b),"
	" t AS (SELECT m.region_id, m.municipality_id, m.organization_id, m.id AS mgr, "
	"  NULL::bigint AS muni FROM managers m, b WHERE m.id = (b ->> 'addressee_manager_id')::bigint "
	"  UNION ALL SELECT mu.region_id, mu.id, NULL, NULL, mu.id FROM municipalities mu, b "
	"  WHERE mu.id = (b ->> 'addressee_municipality_id')::bigint),"
	" ins AS (INSERT INTO recommendations (campaign_id, region_id, municipality_id, "
	"  organization_id, addressee_manager_id, addressee_municipality_id, issuer_level, "
	"  issuer_municipality_id, issued_by, directions, indicators, text, due_on, status, "
	"  issued_at) SELECT (b ->> 'campaign_id')::bigint, t.region_id, t.municipality_id, "
	"  t.organization_id, t.mgr, t.muni, CASE WHEN $1 = 'municipal_operator' THEN 'municipal' "
	"  ELSE 'regional' END, CASE WHEN $1 = 'municipal_operator' THEN $2::bigint END, "
	"  $4::bigint, " RECO_ARRAY("directions") ", " RECO_ARRAY("indicators") ", b ->> 'text', "
	"  (b ->> 'due_on')::date, coalesce(b ->> 'status', 'issued'), CASE WHEN coalesce(b ->> "
	"  'status', 'issued') = 'issued' THEN now() END FROM t, b RETURNING *),"
	" hist AS (INSERT INTO recommendation_history (recommendation_id, actor_user_id, "
	"  actor_role, action, to_status, request_id) SELECT ins.id, $4::bigint, $1, 'create', "
	"  ins.status, $5 FROM ins),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $4::bigint, $1, 'recommendation', ins.id, 'create', "
	"  NULL, to_jsonb(ins), $5, ins.region_id, ins.municipality_id, ins.organization_id "
	"  FROM ins) "
	"SELECT ins.id FROM ins",
	5};

struct reco_create {
	struct em_req *req;
	json_t *body;
	struct em_reply *reply;
};

static enum em_err create_tx(struct db_conn *db, void *arg)
{
	struct reco_create *c = arg;
	struct em_req *req = c->req;
	struct idem idem;
	char bufs[4][24], actor[24], location[96], campaign[24];
	const char *params[5];
	PGresult *res;
	enum em_err rc;
	int64_t id;

	(void)db;
	reply_clear(c->reply);
	if ((rc = idem_begin(req, c->body, &idem, c->reply)) != EM_OK || idem.replayed)
		return rc;
	cycle_params(req, bufs, params);
	params[4] = req->body;
	if ((rc = db_exec(req->db, &RECO_RESOLVE, params, &res)) != EM_OK)
		return rc;
	bool campaign_ok = true;
	for (int i = 0; i < PQntuples(res); i++) {
		reply_field_error(c->reply, PQgetvalue(res, i, 0), "%s", PQgetvalue(res, i, 1));
		if (strcmp(PQgetvalue(res, i, 0), "campaign_id") == 0)
			campaign_ok = false;
	}
	PQclear(res);
	snprintf(campaign, sizeof(campaign), "%lld",
		 (long long)json_integer_value(json_object_get(c->body, "campaign_id")));
	if (campaign_ok && (rc = check_catalog(req, campaign, req->body, c->reply)) != EM_OK)
		return rc;
	if (c->reply->errors)
		return reply_fail(c->reply, EM_EINVAL, "the recommendation is not valid");
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[0] = em_role_name(req->caller.role);
	params[1] = params[2]; /* the caller's municipality */
	params[2] = req->body;
	params[3] = actor;
	params[4] = req->request_id;
	if ((rc = db_exec(req->db, &RECO_INSERT, params, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return EM_EINTERNAL;
	}
	id = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	if ((rc = cycle_reply_one(req, c->reply, &RECO_GET, id, 201, "recommendation")) != EM_OK)
		return rc;
	snprintf(location, sizeof(location), "/api/v1/recommendations/%lld", (long long)id);
	reply_header(c->reply, "Location", location);
	return idem_finish(req, &idem, c->reply);
}

enum em_err recommendations_create(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply)
{
	struct reco_create c = {req, body, reply};
	json_t *rest = json_deep_copy(body);
	const json_t *mgr, *muni;

	(void)args;
	if (!rest)
		return EM_EINTERNAL;
	json_object_del(rest, "directions");
	json_object_del(rest, "indicators");
	validate_object(rest, RECO_CREATE, sizeof(RECO_CREATE) / sizeof(RECO_CREATE[0]), reply);
	json_decref(rest);
	check_codes(body, "directions", reply);
	check_codes(body, "indicators", reply);
	mgr = json_object_get(body, "addressee_manager_id");
	muni = json_object_get(body, "addressee_municipality_id");
	if ((!mgr || json_is_null(mgr)) == (!muni || json_is_null(muni)))
		reply_field_error(reply, "addressee_manager_id", "give exactly one of "
				  "addressee_manager_id and addressee_municipality_id");
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the recommendation is not valid");
	if (muni && !json_is_null(muni) && req->caller.role == EM_ROLE_MUNICIPAL)
		return reply_fail(reply, EM_EFORBIDDEN, "a municipal operator addresses "
				  "recommendations to heads; a regional operator (or an admin) "
				  "addresses a municipality");
	if (!req->body)
		return EM_EINTERNAL;
	return db_tx(req->db, create_tx, &c);
}

/* --- Locking, and who is who -------------------------------------------------------------- */

/* A visible recommendation: version, status, row, issuer municipality, addressee manager,
 * addressee municipality, campaign. */
DB_STMT(RECO_LOCK) = {
	"recommendation_lock",
	"SELECT r.version, r.status, to_jsonb(r), r.issuer_municipality_id, "
	" r.addressee_manager_id, r.addressee_municipality_id, r.campaign_id "
	"FROM recommendations r WHERE r.id = $6::bigint AND" RECO_VISIBLE("r") " FOR UPDATE",
	6};
enum { K_VERSION, K_STATUS, K_ROW, K_ISSUER_MUNI, K_ADDR_MGR, K_ADDR_MUNI, K_CAMPAIGN };

/* Locks and checks If-Match; *lock is set on EM_OK. */
static enum em_err lock_reco(struct em_req *req, int64_t id, long version,
			     struct em_reply *reply, PGresult **lock)
{
	PGresult *res;
	enum em_err rc = cycle_fetch(req, &RECO_LOCK, id, &res);

	if (rc == EM_ENOTFOUND)
		return reply_fail(reply, rc, "no recommendation %lld", (long long)id);
	if (rc != EM_OK)
		return rc;
	if (atol(PQgetvalue(res, 0, K_VERSION)) != version) {
		reply_fail(reply, EM_EPRECOND, "the recommendation has changed: its ETag is now "
			   "\"%s\"", PQgetvalue(res, 0, K_VERSION));
		PQclear(res);
		return EM_EPRECOND;
	}
	*lock = res;
	return EM_OK;
}

/* The issuing side: admin, a regional operator of the region, or the municipal operator of
 * the municipality that issued it. */
static bool is_issuer(const struct em_req *req, PGresult *lock)
{
	switch (req->caller.role) {
	case EM_ROLE_ADMIN:
	case EM_ROLE_REGIONAL:
		return true;
	case EM_ROLE_MUNICIPAL:
		return !PQgetisnull(lock, 0, K_ISSUER_MUNI) &&
		       db_int64(lock, 0, K_ISSUER_MUNI) == req->caller.municipality_id;
	default:
		return false;
	}
}

/* The addressee: the head of the addressed manager, or the municipal operator of the
 * addressed municipality; an admin may act for either. */
static bool is_addressee(const struct em_req *req, PGresult *lock)
{
	switch (req->caller.role) {
	case EM_ROLE_ADMIN:
		return true;
	case EM_ROLE_HEAD:
		return !PQgetisnull(lock, 0, K_ADDR_MGR) && req->caller.manager_id &&
		       db_int64(lock, 0, K_ADDR_MGR) == req->caller.manager_id;
	case EM_ROLE_MUNICIPAL:
		return !PQgetisnull(lock, 0, K_ADDR_MUNI) &&
		       db_int64(lock, 0, K_ADDR_MUNI) == req->caller.municipality_id;
	default:
		return false;
	}
}

static const char ISSUER_WHO[] = "the issuing side: a regional operator of the region, the "
				 "municipal operator of the issuing municipality, or an admin";
static const char ADDRESSEE_WHO[] = "the addressee: the head it is addressed to, or the "
				    "municipal operator of the addressed municipality (or an admin)";

/* --- Change of a draft --------------------------------------------------------------------- */

/* $1 role, $2 id, $3 body, $4 actor, $5 request id, $6 row before -> id. */
DB_STMT(RECO_UPDATE_SQL) = {
	"recommendation_update",
	"WITH b AS (SELECT $3::jsonb AS b),"
	" upd AS (UPDATE recommendations r SET text = coalesce(b ->> 'text', r.text), "
	"  due_on = coalesce((b ->> 'due_on')::date, r.due_on), "
	"  directions = CASE WHEN b ? 'directions' THEN " RECO_ARRAY("directions")
	"   ELSE r.directions END, "
	"  indicators = CASE WHEN b ? 'indicators' THEN " RECO_ARRAY("indicators")
	"   ELSE r.indicators END, "
	"  version = r.version + 1, updated_at = now() FROM b WHERE r.id = $2::bigint RETURNING r.*),"
	" hist AS (INSERT INTO recommendation_history (recommendation_id, actor_user_id, "
	"  actor_role, action, from_status, to_status, request_id) SELECT upd.id, $4::bigint, $1, "
	"  'update', upd.status, upd.status, $5 FROM upd),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $4::bigint, $1, 'recommendation', upd.id, 'update', "
	"  $6::jsonb, to_jsonb(upd), $5, upd.region_id, upd.municipality_id, upd.organization_id "
	"  FROM upd) "
	"SELECT upd.id FROM upd",
	6};

struct reco_update {
	struct em_req *req;
	int64_t id;
	long version;
	struct em_reply *reply;
};

static enum em_err update_tx(struct db_conn *db, void *arg)
{
	struct reco_update *u = arg;
	struct em_req *req = u->req;
	char idbuf[24], actor[24];
	const char *params[6];
	PGresult *lock = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(u->reply);
	if ((rc = lock_reco(req, u->id, u->version, u->reply, &lock)) != EM_OK)
		return rc;
	if (strcmp(PQgetvalue(lock, 0, K_STATUS), "draft") != 0) {
		rc = reply_fail(u->reply, EM_ECONFLICT, "the recommendation is %s: only a draft is "
				"changed (an issued recommendation stands as issued)",
				PQgetvalue(lock, 0, K_STATUS));
		goto out;
	}
	if (!is_issuer(req, lock)) {
		rc = reply_fail(u->reply, EM_EFORBIDDEN, "a %s may not change this draft: %s",
				em_role_name(req->caller.role), ISSUER_WHO);
		goto out;
	}
	if ((rc = check_catalog(req, PQgetvalue(lock, 0, K_CAMPAIGN), req->body, u->reply)) !=
	    EM_OK)
		goto out;
	if (u->reply->errors) {
		rc = reply_fail(u->reply, EM_EINVAL, "the change to the recommendation is not valid");
		goto out;
	}
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)u->id);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[0] = em_role_name(req->caller.role);
	params[1] = idbuf;
	params[2] = req->body;
	params[3] = actor;
	params[4] = req->request_id;
	params[5] = PQgetvalue(lock, 0, K_ROW);
	if ((rc = db_exec(req->db, &RECO_UPDATE_SQL, params, &res)) != EM_OK)
		goto out;
	PQclear(res);
	rc = cycle_reply_one(req, u->reply, &RECO_GET, u->id, 200, "recommendation");
out:
	PQclear(lock);
	return rc;
}

enum em_err recommendations_update(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply)
{
	struct reco_update u = {req, args->id[0], 0, reply};
	json_t *rest;
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &u.version)) != EM_OK)
		return rc;
	if (!(rest = json_deep_copy(body)))
		return EM_EINTERNAL;
	json_object_del(rest, "directions");
	json_object_del(rest, "indicators");
	validate_object(rest, RECO_UPDATE, sizeof(RECO_UPDATE) / sizeof(RECO_UPDATE[0]), reply);
	json_decref(rest);
	check_codes(body, "directions", reply);
	check_codes(body, "indicators", reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the change to the recommendation is not valid "
				  "(text, due_on, directions and indicators of a draft change)");
	if (json_object_size(body) == 0)
		return reply_fail(reply, EM_EINVAL, "the body names no field to change");
	if (!req->body)
		return EM_EINTERNAL;
	return db_tx(req->db, update_tx, &u);
}

/* --- Transitions ------------------------------------------------------------------------------ */

enum side { ISSUER, ADDRESSEE };

static const struct move {
	const char *from, *to;
	enum side side;
} MOVES[] = {
	{"draft", "issued", ISSUER},
	{"draft", "withdrawn", ISSUER},
	{"issued", "acknowledged", ADDRESSEE},
	{"acknowledged", "reported", ADDRESSEE},
	{"reported", "accepted", ISSUER},
	{"reported", "issued", ISSUER},
};
#define NMOVES (sizeof(MOVES) / sizeof(MOVES[0]))

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

/* $1 role, $2 id, $3 to, $4 from, $5 report, $6 comment, $7 actor, $8 request id, $9 before. */
DB_STMT(RECO_MOVE) = {
	"recommendation_transition",
	"WITH upd AS (UPDATE recommendations r SET status = $3, "
	"  report = CASE WHEN $3 = 'reported' THEN $5 ELSE r.report END, "
	"  rework_comment = CASE WHEN $4 = 'reported' AND $3 = 'issued' THEN $6 "
	"   ELSE r.rework_comment END, "
	"  issued_at = CASE WHEN $3 = 'issued' AND r.issued_at IS NULL THEN now() "
	"   ELSE r.issued_at END, "
	"  acknowledged_at = CASE WHEN $3 = 'acknowledged' THEN now() ELSE r.acknowledged_at END, "
	"  reported_at = CASE WHEN $3 = 'reported' THEN now() ELSE r.reported_at END, "
	"  accepted_at = CASE WHEN $3 = 'accepted' THEN now() ELSE r.accepted_at END, "
	"  version = r.version + 1, updated_at = now() WHERE r.id = $2::bigint RETURNING r.*),"
	" hist AS (INSERT INTO recommendation_history (recommendation_id, actor_user_id, "
	"  actor_role, action, from_status, to_status, comment, report, request_id) "
	"  SELECT upd.id, $7::bigint, $1, 'transition', $4, upd.status, $6, "
	"  CASE WHEN $3 = 'reported' THEN $5 END, $8 FROM upd RETURNING *),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $7::bigint, $1, 'recommendation', upd.id, "
	"  'transition', $9::jsonb, to_jsonb(upd) || jsonb_build_object('transition', "
	"  to_jsonb(hist)), $8, upd.region_id, upd.municipality_id, upd.organization_id "
	"  FROM upd, hist) "
	"SELECT upd.id FROM upd",
	9};

struct reco_move {
	struct em_req *req;
	int64_t id;
	long version;
	json_t *body;
	const char *to, *comment, *report;
	struct em_reply *reply;
};

static enum em_err move_tx(struct db_conn *db, void *arg)
{
	struct reco_move *m = arg;
	struct em_req *req = m->req;
	struct idem idem;
	char idbuf[24], actor[24];
	const char *params[9];
	const struct move *mv;
	PGresult *lock = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(m->reply);
	if ((rc = idem_begin(req, m->body, &idem, m->reply)) != EM_OK || idem.replayed)
		return rc;
	if ((rc = lock_reco(req, m->id, m->version, m->reply, &lock)) != EM_OK)
		return rc;
	const char *from = PQgetvalue(lock, 0, K_STATUS);
	if (!(mv = find_move(from, m->to, m->reply))) {
		rc = EM_ECONFLICT;
		goto out;
	}
	if (!(mv->side == ISSUER ? is_issuer(req, lock) : is_addressee(req, lock))) {
		rc = reply_fail(m->reply, EM_EFORBIDDEN, "a %s may not move this recommendation "
				"from %s to %s: %s", em_role_name(req->caller.role), from, m->to,
				mv->side == ISSUER ? ISSUER_WHO : ADDRESSEE_WHO);
		goto out;
	}
	if (strcmp(from, "reported") == 0 && strcmp(m->to, "issued") == 0 && !m->comment) {
		reply_field_error(m->reply, "comment", "is required when sending a report back for "
				  "rework: say what to correct");
		rc = reply_fail(m->reply, EM_EINVAL, "the transition is not valid");
		goto out;
	}
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)m->id);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[0] = em_role_name(req->caller.role);
	params[1] = idbuf;
	params[2] = m->to;
	params[3] = from;
	params[4] = m->report;
	params[5] = m->comment;
	params[6] = actor;
	params[7] = req->request_id;
	params[8] = PQgetvalue(lock, 0, K_ROW);
	if ((rc = db_exec(req->db, &RECO_MOVE, params, &res)) != EM_OK)
		goto out;
	PQclear(res);
	if ((rc = cycle_reply_one(req, m->reply, &RECO_GET, m->id, 200, "recommendation")) != EM_OK)
		goto out;
	rc = idem_finish(req, &idem, m->reply);
out:
	PQclear(lock);
	return rc;
}

static const char *const TARGETS[] = {"issued", "acknowledged", "reported", "accepted",
				      "withdrawn", NULL};
static const struct field MOVE_FIELDS[] = {
	{"to", F_ENUM, true, false, 0, 0, TARGETS},
	{"comment", F_STRING, false, true, 1, 2000, NULL},
	{"report", F_STRING, false, true, 1, 4000, NULL},
};

enum em_err recommendations_transition(struct em_req *req, const struct em_args *args,
				       json_t *body, struct em_reply *reply)
{
	struct reco_move m = {.req = req, .id = args->id[0], .body = body, .reply = reply};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &m.version)) != EM_OK)
		return rc;
	validate_object(body, MOVE_FIELDS, sizeof(MOVE_FIELDS) / sizeof(MOVE_FIELDS[0]), reply);
	m.to = json_string_value(json_object_get(body, "to"));
	m.comment = json_string_value(json_object_get(body, "comment"));
	m.report = json_string_value(json_object_get(body, "report"));
	if (m.to && strcmp(m.to, "reported") == 0 && !m.report)
		reply_field_error(reply, "report", "is required when reporting: describe the "
				  "correction made");
	if (m.to && strcmp(m.to, "reported") != 0 && m.report)
		reply_field_error(reply, "report", "is taken only with to: reported");
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the transition is not valid");
	return db_tx(req->db, move_tx, &m);
}

/* --- Drafts from weak direction scores --------------------------------------------------------- */

/* A campaign the caller may generate drafts for, locked against a concurrent run.
 * $1..$4 caller scope, $5 campaign. */
DB_STMT(DRAFT_CAMPAIGN) = {
	"recommendation_drafts_campaign",
	"SELECT c.id, pg_advisory_xact_lock(hashtextextended('recommendation-drafts:' || c.id, 0)) "
	"FROM campaigns c WHERE c.id = $5::bigint AND em_in_scope($1, $2::bigint, $3::bigint, "
	"$4::bigint, c.region_id, NULL, NULL)",
	5};

/*
 * One draft per (head of an approved submission, direction) whose direction score,
 * as presented (2 decimals), is below the threshold, naming the direction's up to three
 * weakest applicable indicators. A (campaign, manager, direction) that already has a
 * recommendation other than a withdrawn draft is skipped. Dismissed heads get none.
 * $1 role, $2 campaign, $3 body, $4 actor, $5 request id -> created, skipped, ids, threshold.
 */
DB_STMT(DRAFT_GENERATE) = {
	"recommendation_drafts_generate",
	"WITH c AS (SELECT * FROM campaigns WHERE id = $2::bigint),"
	" th AS (SELECT coalesce(($3::jsonb ->> 'threshold')::numeric, c.threshold_low) AS t, "
	"  coalesce(($3::jsonb ->> 'due_on')::date, em_today() + 90) AS due, c.title FROM c),"
	" weak AS (SELECT s.id AS submission_id, s.manager_id, s.organization_id, "
	"  s.municipality_id, s.region_id, s.kind, d.id AS direction_id, d.code, d.name, "
	"  round(ds.score, 2) AS score, EXISTS (SELECT 1 FROM recommendations r WHERE "
	"  r.campaign_id = s.campaign_id AND r.addressee_manager_id = s.manager_id AND "
	"  d.code = ANY (r.directions) AND r.status <> 'withdrawn') AS taken "
	"  FROM th, submissions s JOIN managers m ON m.id = s.manager_id AND m.status = 'active' "
	"  JOIN direction_scores ds ON ds.submission_id = s.id "
	"  JOIN directions d ON d.id = ds.direction_id "
	"  WHERE s.campaign_id = $2::bigint AND s.status = 'approved' AND round(ds.score, 2) < th.t),"
	" worst AS (SELECT w.submission_id, w.direction_id, i.code, i.name, "
	"  round(100 * em_indicator_score(v.value, i.value_type, i.polarity, i.min_value, "
	"  i.max_value), 2) AS score, row_number() OVER (PARTITION BY w.submission_id, "
	"  w.direction_id ORDER BY em_indicator_score(v.value, i.value_type, i.polarity, "
	"  i.min_value, i.max_value), i.position, i.id) AS n "
	"  FROM weak w JOIN indicators i ON i.campaign_id = $2::bigint AND i.direction_id = "
	"  w.direction_id AND coalesce((i.weights ->> w.kind)::numeric, 0) > 0 "
	"  LEFT JOIN submission_values v ON v.submission_id = w.submission_id AND "
	"  v.indicator_id = i.id WHERE NOT w.taken),"
	" drafts AS (SELECT w.*, (SELECT array_agg(x.code ORDER BY x.n) FROM worst x WHERE "
	"  x.submission_id = w.submission_id AND x.direction_id = w.direction_id AND x.n <= 3) "
	"  AS codes, (SELECT string_agg(format('%s «%s» (%s из 100)', x.code, x.name, x.score), "
	"  '; ' ORDER BY x.n) FROM worst x WHERE x.submission_id = w.submission_id AND "
	"  x.direction_id = w.direction_id AND x.n <= 3) AS weakest FROM weak w WHERE NOT w.taken),"
	" ins AS (INSERT INTO recommendations (campaign_id, region_id, municipality_id, "
	"  organization_id, addressee_manager_id, issuer_level, issued_by, directions, indicators, "
	"  text, due_on, status, generated) SELECT $2::bigint, d.region_id, d.municipality_id, "
	"  d.organization_id, d.manager_id, 'regional', $4::bigint, ARRAY[d.code], "
	"  coalesce(d.codes, '{}'), format('Кампания «%s», направление «%s»: балл %s ниже порога "
	"  %s. Наиболее слабые показатели: %s. Проанализируйте причины и примите меры по их "
	"  улучшению; о выполнении сообщите в отчёте.', th.title, d.name, d.score, th.t, "
	"  coalesce(d.weakest, '—')), th.due, 'draft', true FROM drafts d, th "
	"  ORDER BY d.manager_id, d.direction_id RETURNING *),"
	" hist AS (INSERT INTO recommendation_history (recommendation_id, actor_user_id, "
	"  actor_role, action, to_status, request_id) SELECT ins.id, $4::bigint, $1, 'generate', "
	"  'draft', $5 FROM ins),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $4::bigint, $1, 'recommendation', ins.id, "
	"  'generate', NULL, to_jsonb(ins), $5, ins.region_id, ins.municipality_id, "
	"  ins.organization_id FROM ins) "
	"SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM weak WHERE taken), "
	" (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM ins), (SELECT t FROM th)",
	5};

/* The answer: the counts and the new drafts. $1 ids, $2 created, $3 skipped, $4 threshold. */
DB_STMT(DRAFT_ITEMS) = {
	"recommendation_drafts_items",
	"SELECT jsonb_build_object('created', $2::int, 'skipped', $3::int, 'threshold', "
	" $4::numeric, 'items', coalesce(jsonb_agg(" RECO_JSON("r") " ORDER BY r.id), '[]'::jsonb)) "
	"FROM recommendations r WHERE r.id = ANY ($1::bigint[])",
	4};

/* $1 ids (bigint[]) -> the recommendations as a JSON array, by id. */
DB_STMT(RECO_ARRAY_OF) = {
	"recommendation_array_of",
	"SELECT coalesce(jsonb_agg(" RECO_JSON("r") " ORDER BY r.id), '[]'::jsonb) "
	"FROM recommendations r WHERE r.id = ANY ($1::bigint[])",
	1};

enum em_err recommendations_json_array(struct em_req *req, const char *ids, char **out)
{
	PGresult *res;
	enum em_err rc;

	if ((rc = db_exec(req->db, &RECO_ARRAY_OF, &ids, &res)) != EM_OK)
		return rc;
	*out = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return *out ? EM_OK : EM_EINTERNAL;
}

/* "from": "warnings" is answered by warning_drafts() (src/analysis/warning_drafts.c). */
static const char *const DRAFT_SOURCES[] = {"weak_directions", "warnings", NULL};

static const struct field DRAFT_FIELDS[] = {
	{"from", F_ENUM, false, false, 0, 0, DRAFT_SOURCES},
	{"threshold", F_NUMBER, false, true, 0, 100, NULL},
	{"due_on", F_DATE, false, true, 0, 0, NULL},
};

struct reco_drafts {
	struct em_req *req;
	int64_t campaign;
	json_t *body;
	const char *text;
	struct em_reply *reply;
};

static enum em_err drafts_tx(struct db_conn *db, void *arg)
{
	struct reco_drafts *d = arg;
	struct em_req *req = d->req;
	struct idem idem;
	char bufs[3][24], idbuf[24], actor[24];
	const char *params[5];
	PGresult *gen, *res;
	enum em_err rc;

	(void)db;
	reply_clear(d->reply);
	if ((rc = idem_begin(req, d->body, &idem, d->reply)) != EM_OK || idem.replayed)
		return rc;
	scope_params(req, bufs, params);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)d->campaign);
	params[4] = idbuf;
	if ((rc = db_exec(req->db, &DRAFT_CAMPAIGN, params, &res)) != EM_OK)
		return rc;
	bool found = PQntuples(res) == 1;
	PQclear(res);
	if (!found)
		return reply_fail(d->reply, EM_ENOTFOUND, "no campaign %lld", (long long)d->campaign);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[0] = em_role_name(req->caller.role);
	params[1] = idbuf;
	params[2] = d->text;
	params[3] = actor;
	params[4] = req->request_id;
	if ((rc = db_exec(req->db, &DRAFT_GENERATE, params, &gen)) != EM_OK)
		return rc;
	params[0] = PQgetvalue(gen, 0, 2);
	params[1] = PQgetvalue(gen, 0, 0);
	params[2] = PQgetvalue(gen, 0, 1);
	params[3] = PQgetvalue(gen, 0, 3);
	rc = db_exec(req->db, &DRAFT_ITEMS, params, &res);
	PQclear(gen);
	if (rc != EM_OK)
		return rc;
	d->reply->status = 200;
	d->reply->text = strdup(PQgetvalue(res, 0, 0));
	d->reply->text_len = d->reply->text ? strlen(d->reply->text) : 0;
	d->reply->content_type = "application/json";
	PQclear(res);
	if (!d->reply->text)
		return EM_EINTERNAL;
	return idem_finish(req, &idem, d->reply);
}

enum em_err recommendations_drafts(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply)
{
	struct reco_drafts d = {req, args->id[0], body, "{}", reply};
	const char *ct = req_header(req, "Content-Type");
	json_error_t jerr;
	enum em_err rc;

	/* The body is optional: no body asks for the defaults. */
	if (req->body_len > 0) {
		if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
		    (ct[16] && ct[16] != ';' && ct[16] != ' '))
			return reply_fail(reply, EM_EMEDIATYPE, "the body must be application/json");
		if (!(d.body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)))
			return reply_fail(reply, EM_EBADREQ, "malformed JSON at line %d, column %d: "
					  "%s", jerr.line, jerr.column, jerr.text);
		d.text = req->body;
	} else if (!(d.body = json_object())) {
		return EM_EINTERNAL;
	}
	if (!json_is_object(d.body)) {
		json_decref(d.body);
		return reply_fail(reply, EM_EBADREQ, "the body must be a JSON object");
	}
	const json_t *from = json_object_get(d.body, "from");
	if (json_is_string(from) && strcmp(json_string_value(from), "warnings") == 0) {
		rc = warning_drafts(req, args->id[0], d.body, d.text, reply);
		json_decref(d.body);
		return rc;
	}
	validate_object(d.body, DRAFT_FIELDS, sizeof(DRAFT_FIELDS) / sizeof(DRAFT_FIELDS[0]),
			reply);
	if (reply->errors)
		rc = reply_fail(reply, EM_EINVAL, "the request for drafts is not valid");
	else
		rc = db_tx(req->db, drafts_tx, &d);
	json_decref(d.body);
	return rc;
}
