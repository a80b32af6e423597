/*
 * decisions.c — management decisions (управленческие решения) with legal
 * force: bonus, referral to training, inclusion in the reserve, … with their
 * basis, act and effective date. Append-only: no change, no deletion (the
 * router answers 405, a trigger refuses it in the database); a correction is
 * POST /decisions/{id}/revoke, which records a 'revocation' decision and links it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/cycle.h"
#include "effmon/registry.h"

/* What a client may create; 'revocation' comes only from /revoke. */
/* clang-format off */
#define CREATED_TYPES                                                                        \
	"bonus", "training_referral", "reserve_inclusion", "commendation", "warning",          \
		"attestation_referral", "contract_extension", "contract_termination_proposal"
/* clang-format on */
static const char *const TYPES[] = {CREATED_TYPES, NULL};
static const char *const ALL_TYPES[] = {CREATED_TYPES, "revocation", NULL};

/* clang-format off */
#define DEC_SCOPE CYCLE_SCOPE("m.region_id", "m.municipality_id", "m.organization_id", "m.id")
#define DEC_FROM                                                                             \
	" FROM decisions d JOIN managers m ON m.id = d.manager_id"                              \
	" LEFT JOIN decisions r ON r.id = d.revoked_by_decision_id"                             \
	" LEFT JOIN users ru ON ru.id = d.revoked_by_user_id "
#define DEC_JSON                                                                             \
	"jsonb_build_object('id', d.id, 'manager_id', d.manager_id, 'manager_name', "           \
	"m.full_name, 'organization_id', m.organization_id, 'municipality_id', "                \
	"m.municipality_id, 'region_id', m.region_id, 'campaign_id', d.campaign_id, 'type', "   \
	"d.type, 'basis', d.basis, 'basis_attestation_id', d.basis_attestation_id, "            \
	"'basis_score', (SELECT jsonb_build_object('campaign_id', s.campaign_id, "              \
	" 'submission_id', s.id, 'total', sc.total_rounded, 'level', sc.level) "                \
	" FROM submissions s JOIN submission_scores sc ON sc.submission_id = s.id "             \
	" WHERE s.campaign_id = d.campaign_id AND s.manager_id = d.manager_id "                 \
	" AND s.status = 'approved' ORDER BY s.id DESC LIMIT 1), "                              \
	"'act_number', d.act_number, 'act_date', d.act_date, 'effective_on', d.effective_on, "  \
	"'amount', d.amount, 'issuer_role', d.issuer_role, 'created_by', d.created_by, "        \
	"'revokes_decision_id', d.revokes_decision_id, 'revoked', "                             \
	"d.revoked_by_decision_id IS NOT NULL, 'revocation', CASE WHEN "                        \
	"d.revoked_by_decision_id IS NOT NULL THEN jsonb_build_object('decision_id', r.id, "    \
	"'revoked_at', d.revoked_at, 'revoked_by_user_id', d.revoked_by_user_id, "              \
	"'revoked_by_login', ru.login, 'reason', r.basis, 'act_number', r.act_number, "         \
	"'act_date', r.act_date, 'effective_on', r.effective_on) END, 'created_at', "           \
	"d.created_at, 'version', d.version)"

DB_STMT(DEC_GET) = {
	"decision_get",
	"SELECT " DEC_JSON ", d.version" DEC_FROM "WHERE d.id = $7::bigint AND" DEC_SCOPE, 7};

DB_STMT(DEC_LIST) = {
	"decision_list",
	"SELECT " DEC_JSON ", d.id" DEC_FROM "WHERE" DEC_SCOPE
	" AND ($8::bigint IS NULL OR d.id > $8::bigint)"
	" AND ($9::bigint IS NULL OR d.manager_id = $9::bigint)"
	" AND ($10::bigint IS NULL OR d.campaign_id = $10::bigint)"
	" AND ($11::text IS NULL OR d.type = $11)"
	" AND ($12::boolean IS NULL OR (d.revoked_by_decision_id IS NOT NULL) = $12::boolean)"
	" AND ($13::bigint IS NULL OR m.municipality_id = $13::bigint)"
	" AND ($14::bigint IS NULL OR m.organization_id = $14::bigint)"
	" ORDER BY d.id LIMIT $7::int",
	14};
/* clang-format on */

static const struct list_filter DEC_FILTERS[] = {
	{"manager_id", FILTER_ID, NULL},      {"campaign_id", FILTER_ID, NULL},
	{"type", FILTER_ENUM, ALL_TYPES},     {"revoked", FILTER_BOOL, NULL},
	{"municipality_id", FILTER_ID, NULL}, {"organization_id", FILTER_ID, NULL},
};

/* GET /decisions and /decisions/{id}. */
CYCLE_READ_HANDLERS(decisions, "decision", DEC_GET, DEC_LIST, DEC_FILTERS)

/* --- Create ------------------------------------------------------------------------------ */

static const struct field DEC_CREATE[] = {
	{"manager_id", F_ID, true, false, 0, 0, NULL},
	{"campaign_id", F_ID, false, true, 0, 0, NULL},
	{"type", F_ENUM, true, false, 0, 0, TYPES},
	{"basis", F_STRING, true, false, 1, 4000, NULL},
	{"basis_attestation_id", F_ID, false, true, 0, 0, NULL},
	{"act_number", F_STRING, true, false, 1, 100, NULL},
	{"act_date", F_DATE, true, false, 0, 0, NULL},
	{"effective_on", F_DATE, true, false, 0, 0, NULL},
	{"amount", F_NUMBER, false, true, 0, 9999999999LL, NULL},
};

/* The links of a new decision: manager visible, campaign of the manager's region,
 * attestation of the same manager. $1..$6 caller, $7 body. */
/* clang-format off */
DB_STMT(DEC_CHECK) = {
	"decision_check",
	"SELECT m.id IS NOT NULL, "
	" $7::jsonb ->> 'campaign_id' IS NULL OR EXISTS (SELECT 1 FROM campaigns c WHERE c.id = "
	"  ($7::jsonb ->> 'campaign_id')::bigint AND c.region_id = m.region_id), "
	" $7::jsonb ->> 'basis_attestation_id' IS NULL OR EXISTS (SELECT 1 FROM attestations a "
	"  WHERE a.id = ($7::jsonb ->> 'basis_attestation_id')::bigint AND a.manager_id = m.id) "
	"FROM (SELECT 1) one LEFT JOIN managers m ON m.id = ($7::jsonb ->> 'manager_id')::bigint "
	" AND" DEC_SCOPE,
	7};
/* clang-format on */

/* $1..$6 caller, $7 body, $8 actor, $9 request id -> id. */
/* clang-format off */
DB_STMT(DEC_INSERT) = {
	"decision_create",
	"WITH b AS (SELECT $7::jsonb AS b),"
	" m AS (SELECT m.* FROM managers m, b WHERE m.id = (b ->> 'manager_id')::bigint AND"
	DEC_SCOPE "),"
	" ins AS (INSERT INTO decisions (manager_id, campaign_id, type, basis, "
	"  basis_attestation_id, act_number, act_date, effective_on, amount, issuer_role, "
	"  created_by) SELECT m.id, (b ->> 'campaign_id')::bigint, b ->> 'type', b ->> 'basis', "
	"  (b ->> 'basis_attestation_id')::bigint, b ->> 'act_number', (b ->> 'act_date')::date, "
	"  (b ->> 'effective_on')::date, (b ->> 'amount')::numeric, $1, $8::bigint FROM m, b "
	"  RETURNING *),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $8::bigint, $1, 'decision', ins.id, 'create', NULL, "
	"  to_jsonb(ins), $9, m.region_id, m.municipality_id, m.organization_id FROM ins, m) "
	"SELECT ins.id FROM ins",
	9};
/* clang-format on */

/* amount: required and positive with at most two decimals for a bonus, absent otherwise. */
static void check_amount(const json_t *body, struct em_reply *reply)
{
	const char *type = json_string_value(json_object_get(body, "type"));
	const json_t *amount = json_object_get(body, "amount");
	bool given = amount && !json_is_null(amount);

	if (!type)
		return;
	if (strcmp(type, "bonus") != 0) {
		if (given)
			reply_field_error(reply, "amount",
					  "is taken only for a bonus, not for a %s", type);
		return;
	}
	if (!given) {
		reply_field_error(reply, "amount", "is required for a bonus");
		return;
	}
	if (json_is_number(amount)) {
		double v = json_number_value(amount), cents = v * 100;
		double off = cents - (double)(long long)(cents + 0.5);
		if (v <= 0)
			reply_field_error(reply, "amount", "must be greater than 0");
		else if ((off < 0 ? -off : off) > 1e-6 * (cents > 1 ? cents : 1))
			reply_field_error(reply, "amount",
					  "must have at most two decimals (roubles "
					  "and kopecks)");
	}
}

/* The links of the new decision, then the insert. */
static enum em_err dec_write(const struct cycle_create *c, int64_t *id)
{
	struct em_req *req = c->req;
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	caller_args(&a, req);
	db_arg_text(&a, req->body);
	if ((rc = db_exec_args(req->db, &DEC_CHECK, &a, &res)) != EM_OK)
		return rc;
	if (!db_bool(res, 0, 0))
		reply_field_error(c->reply, "manager_id", "no such manager in your scope");
	else if (!db_bool(res, 0, 1))
		reply_field_error(c->reply, "campaign_id",
				  "no such campaign in the manager's region");
	if (db_bool(res, 0, 0) && !db_bool(res, 0, 2))
		reply_field_error(c->reply, "basis_attestation_id",
				  "no such attestation of this manager");
	PQclear(res);
	if (c->reply->errors)
		return reply_fail(c->reply, EM_EINVAL, "the decision is not valid");
	return cycle_insert_for_manager(req, &DEC_INSERT, req->body, c->reply, id);
}

enum em_err decisions_create(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply)
{
	struct cycle_create c = {req,       body, reply, &DEC_GET, "decision", "/api/v1/decisions",
				 dec_write, NULL};

	(void)args;
	validate_object(body, DEC_CREATE, sizeof(DEC_CREATE) / sizeof(DEC_CREATE[0]), reply);
	check_amount(body, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the decision is not valid");
	if (!req->body)
		return EM_EINTERNAL;
	return cycle_create(&c);
}

/* --- Revocation ----------------------------------------------------------------------------- */

/* Locks a visible decision: version, type, revoked by, revoked at, issuer role. */
/* clang-format off */
DB_STMT(DEC_LOCK) = {
	"decision_lock",
	"SELECT d.version, d.type, d.revoked_by_decision_id, d.revoked_at, d.issuer_role "
	"FROM decisions d JOIN managers m ON m.id = d.manager_id "
	"WHERE d.id = $7::bigint AND" DEC_SCOPE " FOR UPDATE OF d",
	7};
/* clang-format on */

/* $1 role, $7 id, $8 body, $9 actor, $10 request id -> the revocation's id. */
/* clang-format off */
DB_STMT(DEC_REVOKE) = {
	"decision_revoke",
	"WITH b AS (SELECT $8::jsonb AS b),"
	" old AS (SELECT d.*, m.region_id, m.municipality_id, m.organization_id FROM decisions d "
	"  JOIN managers m ON m.id = d.manager_id WHERE d.id = $7::bigint),"
	" ins AS (INSERT INTO decisions (manager_id, campaign_id, type, basis, act_number, "
	"  act_date, effective_on, issuer_role, created_by, revokes_decision_id) "
	"  SELECT old.manager_id, old.campaign_id, 'revocation', b ->> 'reason', "
	"  b ->> 'act_number', (b ->> 'act_date')::date, coalesce((b ->> 'effective_on')::date, "
	"  (b ->> 'act_date')::date), $1, $9::bigint, old.id FROM old, b RETURNING *),"
	" upd AS (UPDATE decisions d SET revoked_by_decision_id = ins.id, revoked_at = now(), "
	"  revoked_by_user_id = $9::bigint, version = d.version + 1, updated_at = now() "
	"  FROM ins WHERE d.id = $7::bigint RETURNING d.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $9::bigint, $1, 'decision', ins.id, 'create', NULL, "
	"  to_jsonb(ins), $10, old.region_id, old.municipality_id, old.organization_id "
	"  FROM ins, old UNION ALL SELECT $9::bigint, $1, 'decision', upd.id, 'revoke', "
	"  to_jsonb(old) - '{region_id,municipality_id,organization_id}'::text[], to_jsonb(upd), "
	"  $10, old.region_id, old.municipality_id, old.organization_id FROM upd, old) "
	"SELECT ins.id FROM ins",
	10};
/* clang-format on */

static const struct field REVOKE_FIELDS[] = {
	{"reason", F_STRING, true, false, 1, 4000, NULL},
	{"act_number", F_STRING, true, false, 1, 100, NULL},
	{"act_date", F_DATE, true, false, 0, 0, NULL},
	{"effective_on", F_DATE, false, true, 0, 0, NULL},
};

struct dec_revoke {
	int64_t id;
	long version;
};

/* Whether the locked decision (DEC_LOCK's row) may be revoked by the caller:
 * EM_OK, or the failure in reply. */
static enum em_err may_revoke(const struct em_req *req, const struct dec_revoke *v, PGresult *lock,
			      struct em_reply *reply)
{
	if (strcmp(PQgetvalue(lock, 0, 1), "revocation") == 0)
		return reply_fail(reply, EM_ECONFLICT,
				  "decision %lld is itself a revocation: it is "
				  "not revoked; record a new decision instead",
				  (long long)v->id);
	if (!PQgetisnull(lock, 0, 2))
		return reply_fail(reply, EM_ECONFLICT,
				  "decision %lld was already revoked by "
				  "decision %s at %s",
				  (long long)v->id, PQgetvalue(lock, 0, 2), PQgetvalue(lock, 0, 3));
	if (atol(PQgetvalue(lock, 0, 0)) != v->version)
		return reply_changed(reply, "decision", PQgetvalue(lock, 0, 0));
	if (req->caller.role == EM_ROLE_MUNICIPAL &&
	    strcmp(PQgetvalue(lock, 0, 4), "municipal_operator") != 0)
		return reply_fail(
			reply, EM_EFORBIDDEN,
			"decision %lld was made by a %s: a regional "
			"operator or an admin revokes it (a municipal operator revokes only "
			"municipal decisions)",
			(long long)v->id, PQgetvalue(lock, 0, 4));
	return EM_OK;
}

/* The lock and its checks, then the revocation: *id is the new revocation's. */
static enum em_err revoke_write(const struct cycle_create *c, int64_t *id)
{
	const struct dec_revoke *v = c->data;
	struct em_req *req = c->req;
	struct db_args a;
	PGresult *lock, *res;
	enum em_err rc;

	if ((rc = resource_find(req, c->reply, &DEC_LOCK, v->id, "decision", &lock)) != EM_OK)
		return rc;
	rc = may_revoke(req, v, lock, c->reply);
	PQclear(lock);
	if (rc != EM_OK)
		return rc;
	caller_args(&a, req);
	db_arg_i64(&a, v->id);
	db_arg_text(&a, req->body);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	if ((rc = db_exec_args(req->db, &DEC_REVOKE, &a, &res)) != EM_OK)
		return rc;
	*id = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return EM_OK;
}

enum em_err decisions_revoke(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply)
{
	struct dec_revoke v = {args->id[0], 0};
	struct cycle_create c = {
		req, body, reply, &DEC_GET, "decision", "/api/v1/decisions", revoke_write, &v};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &v.version)) != EM_OK)
		return rc;
	validate_object(body, REVOKE_FIELDS, sizeof(REVOKE_FIELDS) / sizeof(REVOKE_FIELDS[0]),
			reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the revocation is not valid");
	if (!req->body)
		return EM_EINTERNAL;
	return cycle_create(&c);
}
