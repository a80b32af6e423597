/*
 * attestations.c — attestation of heads (аттестация руководителей): the
 * commission's protocol, a score for every competency of the catalog, the
 * monitoring total the commission had before it, the decision and its term;
 * a manager's attestations and the one valid today. Also the helpers the
 * cycle's handlers share (one-object reads, id-ordered lists, creates).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/cycle.h"
#include "effmon/registry.h"
#include "effmon/router.h"

#define MAX_SCORES 200

/* --- Shared by the cycle's handlers --------------------------------------------------- */

enum em_err cycle_reply_one(struct em_req *req, struct em_reply *reply, const struct db_stmt *get,
			    int64_t id, unsigned status, const char *entity)
{
	PGresult *res;
	enum em_err rc;

	if ((rc = resource_find(req, reply, get, id, entity, &res)) != EM_OK)
		return rc;
	reply_row(req, reply, status, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	return EM_OK;
}

enum em_err cycle_list(struct em_req *req, struct em_reply *reply, const struct db_stmt *list,
		       const struct list_filter *filters, size_t nfilters)
{
	struct list_page page;
	const char *values[LIST_MAX_FILTERS];
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	if ((rc = list_page_parse(req, reply, &page)) != EM_OK && rc != EM_EINVAL)
		return rc;
	if (strcmp(page.sort, "id") != 0)
		reply_field_error(reply, "sort", "this list is ordered by id only");
	if (req_query(req, "q"))
		reply_field_error(reply, "q", "this list has no text search");
	list_filters_parse(req, reply, filters, nfilters, values);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid list parameters");
	caller_args(&a, req);
	db_arg_i64(&a, page.limit + 1);
	db_arg_id(&a, page.after_id);
	for (size_t i = 0; i < nfilters && i < LIST_MAX_FILTERS; i++)
		db_arg_text(&a, values[i]);
	if ((rc = db_exec_args_custom(req->db, list, &a, &res)) != EM_OK)
		return rc;
	rc = list_reply(reply, res, &page, NULL);
	PQclear(res);
	return rc;
}

static enum em_err create_tx(struct db_conn *db, void *arg)
{
	struct cycle_create *c = arg;
	struct idem idem;
	char location[96];
	enum em_err rc;
	int64_t id;

	(void)db;
	reply_clear(c->reply);
	if ((rc = idem_begin(c->req, c->body, &idem, c->reply)) != EM_OK || idem.replayed)
		return rc;
	if ((rc = c->write(c, &id)) != EM_OK)
		return rc;
	if ((rc = cycle_reply_one(c->req, c->reply, c->get, id, 201, c->entity)) != EM_OK)
		return rc;
	snprintf(location, sizeof(location), "%s/%lld", c->path, (long long)id);
	reply_header(c->reply, "Location", location);
	return idem_finish(c->req, &idem, c->reply);
}

enum em_err cycle_create(struct cycle_create *c)
{
	return db_tx(c->req->db, create_tx, c);
}

enum em_err cycle_insert_for_manager(struct em_req *req, const struct db_stmt *insert,
				     const char *body, struct em_reply *reply, int64_t *id)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	caller_args(&a, req);
	db_arg_text(&a, body);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	if ((rc = db_exec_args(req->db, insert, &a, &res)) != EM_OK)
		return map_constraint(req, rc, reply);
	if (PQntuples(res) == 0) {
		PQclear(res);
		reply_field_error(reply, "manager_id", "no such manager in your scope");
		return reply_fail(reply, EM_EINVAL, "manager_id: no such manager in your scope");
	}
	*id = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return EM_OK;
}

/* --- Reads ------------------------------------------------------------------------------ */

static const char *const DECISIONS[] = {"fits_position", "fits_position_conditionally",
					"does_not_fit_position", NULL};

/* clang-format off */
#define ATT_SCOPE SQL_SCOPE_MGR("m")
#define SQL_SCOPE_MGR(m) CYCLE_SCOPE(m ".region_id", m ".municipality_id", m ".organization_id", m ".id")
#define ATT_VALID(a) "(" a ".attested_on <= em_today() AND " a ".valid_until >= em_today())"
/* clang-format on */
/* The attestations of table t as a, with their manager m and scores sc. */
/* clang-format off */
#define ATT_FROM_OF(t)                                                                     \
	" FROM " t " a JOIN managers m ON m.id = a.manager_id"                               \
	" CROSS JOIN LATERAL (SELECT coalesce(jsonb_agg(jsonb_build_object('competency', "   \
	"  c.code, 'competency_id', c.id, 'name', c.name, 'score', s.score, 'max_score', "   \
	"  s.max_score) ORDER BY c.id), '[]'::jsonb) AS items, sum(s.score) AS total, "      \
	"  sum(s.max_score) AS max FROM attestation_scores s JOIN competencies c "          \
	"  ON c.id = s.competency_id WHERE s.attestation_id = a.id) sc "
#define ATT_FROM ATT_FROM_OF("attestations")
#define ATT_JSON                                                                           \
	"jsonb_build_object('id', a.id, 'manager_id', a.manager_id, 'manager_name', "         \
	"m.full_name, 'organization_id', m.organization_id, 'municipality_id', "              \
	"m.municipality_id, 'region_id', m.region_id, 'attested_on', a.attested_on, "        \
	"'commission', a.commission, 'protocol_number', a.protocol_number, 'scores', "        \
	"sc.items, 'score_total', coalesce(sc.total, 0), 'score_max', coalesce(sc.max, 0), "  \
	"'monitoring_total', a.monitoring_total, 'monitoring_campaign_id', "                  \
	"a.monitoring_campaign_id, 'decision', a.decision, 'valid_until', a.valid_until, "    \
	"'valid', " ATT_VALID("a") ", 'created_by', a.created_by, 'created_at', "             \
	"a.created_at, 'updated_at', a.updated_at, 'version', a.version)"

DB_STMT(ATT_GET) = {
	"attestation_get",
	"SELECT " ATT_JSON ", a.version" ATT_FROM "WHERE a.id = $7::bigint AND" ATT_SCOPE, 7};

DB_STMT(ATT_LIST) = {
	"attestation_list",
	"SELECT " ATT_JSON ", a.id" ATT_FROM "WHERE" ATT_SCOPE
	" AND ($8::bigint IS NULL OR a.id > $8::bigint)"
	" AND ($9::bigint IS NULL OR a.manager_id = $9::bigint)"
	" AND ($10::text IS NULL OR a.decision = $10)"
	" AND ($11::boolean IS NULL OR " ATT_VALID("a") " = $11::boolean)"
	" AND ($12::bigint IS NULL OR m.municipality_id = $12::bigint)"
	" AND ($13::bigint IS NULL OR m.organization_id = $13::bigint)"
	" ORDER BY a.id LIMIT $7::int",
	13};
/* clang-format on */

static const struct list_filter ATT_FILTERS[] = {
	{"manager_id", FILTER_ID, NULL},      {"decision", FILTER_ENUM, DECISIONS},
	{"valid", FILTER_BOOL, NULL},         {"municipality_id", FILTER_ID, NULL},
	{"organization_id", FILTER_ID, NULL},
};

/* A visible manager's attestations, newest first, and the one valid today (the
 * latest of those valid). $7 manager id; no row: the manager is not visible. */
/* clang-format off */
DB_STMT(ATT_OF_MANAGER) = {
	"attestation_of_manager",
	"SELECT jsonb_build_object('items', coalesce((SELECT jsonb_agg(" ATT_JSON
	"  ORDER BY a.attested_on DESC, a.id DESC)" ATT_FROM "WHERE a.manager_id = m0.id), "
	"  '[]'::jsonb), 'current', (SELECT " ATT_JSON ATT_FROM "WHERE a.manager_id = m0.id "
	"  AND " ATT_VALID("a") " ORDER BY a.attested_on DESC, a.id DESC LIMIT 1)) "
	"FROM managers m0 WHERE m0.id = $7::bigint AND" SQL_SCOPE_MGR("m0"),
	7};
/* clang-format on */

/* GET /attestations and /attestations/{id}. */
CYCLE_READ_HANDLERS(attestations, "attestation", ATT_GET, ATT_LIST, ATT_FILTERS)

enum em_err attestations_of_manager(struct em_req *req, const struct em_args *args, json_t *body,
				    struct em_reply *reply)
{
	(void)body;
	return document_get(req, reply, &ATT_OF_MANAGER, args->id[0], "manager");
}

/* --- Create ------------------------------------------------------------------------------- */

static const struct field ATT_CREATE[] = {
	{"manager_id", F_ID, true, false, 0, 0, NULL},
	{"attested_on", F_DATE, true, false, 0, 0, NULL},
	{"commission", F_STRING, true, false, 1, 500, NULL},
	{"protocol_number", F_STRING, true, false, 1, 100, NULL},
	{"decision", F_ENUM, true, false, 0, 0, DECISIONS},
	{"valid_until", F_DATE, true, false, 0, 0, NULL},
};
static const struct field ATT_UPDATE[] = {
	{"commission", F_STRING, false, false, 1, 500, NULL},
	{"protocol_number", F_STRING, false, false, 1, 100, NULL},
	{"valid_until", F_DATE, false, false, 0, 0, NULL},
};

/* Each score against the catalog, then the catalog's competencies missing from the
 * body, then whether the date is in the future. $1 body.
 * -> kind (item | missing | future), index, code, found, max, over max. */
/* clang-format off */
DB_STMT(ATT_CHECK) = {
	"attestation_check",
	"SELECT 'item', x.ord - 1, x.e ->> 'competency', c.id IS NOT NULL, c.max_score, "
	" (x.e ->> 'score')::bigint > c.max_score "
	"FROM jsonb_array_elements($1::jsonb -> 'scores') WITH ORDINALITY x(e, ord) "
	"LEFT JOIN competencies c ON c.code = x.e ->> 'competency' "
	"UNION ALL SELECT 'missing', NULL, c.code, true, c.max_score, false FROM competencies c "
	"WHERE c.code NOT IN (SELECT e ->> 'competency' FROM jsonb_array_elements($1::jsonb -> "
	" 'scores') e) "
	"UNION ALL SELECT 'future', NULL, em_today()::text, ($1::jsonb ->> 'attested_on')::date > "
	" em_today(), NULL, false",
	1};
/* clang-format on */

/* $1..$6 caller, $7 body, $8 actor, $9 request id -> id (none: manager not visible). */
/* clang-format off */
DB_STMT(ATT_INSERT) = {
	"attestation_create",
	"WITH b AS (SELECT $7::jsonb AS b),"
	" m AS (SELECT m.* FROM managers m, b WHERE m.id = (b ->> 'manager_id')::bigint AND"
	SQL_SCOPE_MGR("m") "),"
	/* The latest approved monitoring result: the newest campaign, then approval. */
	" mon AS (SELECT s.campaign_id, sc.total_rounded FROM m JOIN submissions s "
	"  ON s.manager_id = m.id AND s.status = 'approved' JOIN campaigns c ON c.id = "
	"  s.campaign_id JOIN submission_scores sc ON sc.submission_id = s.id "
	"  ORDER BY c.year DESC, s.approved_at DESC NULLS LAST, s.id DESC LIMIT 1),"
	" ins AS (INSERT INTO attestations (manager_id, attested_on, commission, protocol_number, "
	"  decision, valid_until, monitoring_total, monitoring_campaign_id, created_by) "
	"  SELECT m.id, (b ->> 'attested_on')::date, b ->> 'commission', b ->> 'protocol_number', "
	"  b ->> 'decision', (b ->> 'valid_until')::date, (SELECT total_rounded FROM mon), "
	"  (SELECT campaign_id FROM mon), $8::bigint FROM m, b RETURNING *),"
	" sc AS (INSERT INTO attestation_scores (attestation_id, competency_id, score, max_score) "
	"  SELECT ins.id, c.id, (x.e ->> 'score')::int, c.max_score FROM ins, b "
	"  CROSS JOIN LATERAL jsonb_array_elements(b.b -> 'scores') x(e) "
	"  JOIN competencies c ON c.code = x.e ->> 'competency' RETURNING *),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $8::bigint, $1, 'attestation', ins.id, 'create', "
	"  NULL, to_jsonb(ins) || jsonb_build_object('scores', (SELECT jsonb_agg(jsonb_build_object("
	"  'competency_id', sc.competency_id, 'score', sc.score, 'max_score', sc.max_score) "
	"  ORDER BY sc.competency_id) FROM sc)), $9, m.region_id, m.municipality_id, "
	"  m.organization_id FROM ins, m) "
	"SELECT ins.id FROM ins",
	9};
/* clang-format on */

/* The scores array's shape, item by item, before the catalog is asked. */
static void check_scores(const json_t *scores, struct em_reply *reply)
{
	const json_t *item, *v;
	const char *key;
	char f[64];
	size_t i;

	if (!scores) {
		reply_field_error(reply, "scores", "is required: a score for every competency");
		return;
	}
	if (!json_is_array(scores) || json_array_size(scores) > MAX_SCORES) {
		reply_field_error(reply, "scores",
				  "must be an array of at most %d items "
				  "{competency, score}",
				  MAX_SCORES);
		return;
	}
	json_array_foreach(scores, i, item) {
		if (!json_is_object(item)) {
			snprintf(f, sizeof(f), "scores[%zu]", i);
			reply_field_error(reply, f, "must be an object {competency, score}");
			continue;
		}
		json_object_foreach((json_t *)item, key, v)
			if (strcmp(key, "competency") && strcmp(key, "score")) {
				snprintf(f, sizeof(f), "scores[%zu].%s", i, key);
				reply_field_error(reply, f, "unknown field");
			}
		v = json_object_get(item, "competency");
		snprintf(f, sizeof(f), "scores[%zu].competency", i);
		if (!v) {
			reply_field_error(reply, f, "is required");
		} else if (!json_is_string(v) || json_string_length(v) < 1 ||
			   json_string_length(v) > 64 ||
			   strlen(json_string_value(v)) != json_string_length(v)) {
			reply_field_error(reply, f,
					  "must be a competency code (1 to 64 characters)");
		} else {
			for (size_t j = 0; j < i; j++) {
				const char *other = json_string_value(
					json_object_get(json_array_get(scores, j), "competency"));
				if (other && strcmp(other, json_string_value(v)) == 0) {
					reply_field_error(reply, f,
							  "competency %s is already in "
							  "scores[%zu]: one score per competency",
							  other, j);
					break;
				}
			}
		}
		v = json_object_get(item, "score");
		snprintf(f, sizeof(f), "scores[%zu].score", i);
		if (!v)
			reply_field_error(reply, f, "is required");
		else if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			 json_integer_value(v) > 1000)
			reply_field_error(reply, f,
					  "must be a whole number from 0 to the "
					  "competency's max_score");
	}
}

/* The catalog's verdict on the scores and the date (all errors at once). */
static void check_catalog(PGresult *res, struct em_reply *reply)
{
	char f[64];

	for (int i = 0; i < PQntuples(res); i++) {
		const char *kind = PQgetvalue(res, i, 0);
		const char *code = PQgetvalue(res, i, 2);
		if (strcmp(kind, "future") == 0) {
			if (db_bool(res, i, 3))
				reply_field_error(
					reply, "attested_on",
					"must not be after today (%s): "
					"an attestation records a meeting that took place",
					code);
		} else if (strcmp(kind, "missing") == 0) {
			reply_field_error(reply, "scores",
					  "competency %s (max_score %s) has no score: "
					  "every competency of the catalog needs one",
					  code, PQgetvalue(res, i, 4));
		} else if (!db_bool(res, i, 3)) {
			snprintf(f, sizeof(f), "scores[%s].competency", PQgetvalue(res, i, 1));
			reply_field_error(reply, f, "no competency %s in the catalog", code);
		} else if (db_bool(res, i, 5)) {
			snprintf(f, sizeof(f), "scores[%s].score", PQgetvalue(res, i, 1));
			reply_field_error(reply, f, "must be at most %s, the max_score of %s",
					  PQgetvalue(res, i, 4), code);
		}
	}
}

/* The catalog's check of the scores, then the insert; c->data is the body's text. */
static enum em_err att_write(const struct cycle_create *c, int64_t *id)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	db_args_init(&a);
	db_arg_text(&a, c->data);
	if ((rc = db_exec_args(c->req->db, &ATT_CHECK, &a, &res)) != EM_OK)
		return rc;
	check_catalog(res, c->reply);
	PQclear(res);
	if (c->reply->errors)
		return reply_fail(c->reply, EM_EINVAL, "the attestation is not valid");
	return cycle_insert_for_manager(c->req, &ATT_INSERT, c->data, c->reply, id);
}

enum em_err attestations_create(struct em_req *req, const struct em_args *args, json_t *body,
				struct em_reply *reply)
{
	struct cycle_create c = {
		req, body, reply, &ATT_GET, "attestation", "/api/v1/attestations", att_write, NULL};
	json_t *rest = json_deep_copy(body);
	const char *on, *until;
	enum em_err rc;
	char *text;

	(void)args;
	if (!rest)
		return EM_EINTERNAL;
	json_object_del(rest, "scores");
	validate_object(rest, ATT_CREATE, sizeof(ATT_CREATE) / sizeof(ATT_CREATE[0]), reply);
	json_decref(rest);
	check_scores(json_object_get(body, "scores"), reply);
	on = json_string_value(json_object_get(body, "attested_on"));
	until = json_string_value(json_object_get(body, "valid_until"));
	if (on && until && strlen(on) == 10 && strlen(until) == 10 && strcmp(until, on) <= 0)
		reply_field_error(reply, "valid_until", "must be after attested_on");
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the attestation is not valid");
	if (!(text = json_dumps(body, JSON_COMPACT)))
		return EM_EINTERNAL;
	c.data = text;
	rc = cycle_create(&c);
	free(text);
	return rc;
}

/* --- Corrections ---------------------------------------------------------------------------- */

/* $1..$6 caller, $7 id, $8 body, $9 version, $10 actor, $11 request id -> json, version. */
/* clang-format off */
DB_STMT(ATT_UPDATE_SQL) = {
	"attestation_update",
	"WITH old AS (SELECT a.*, m.region_id, m.municipality_id, m.organization_id "
	"  FROM attestations a JOIN managers m ON m.id = a.manager_id "
	"  WHERE a.id = $7::bigint AND" ATT_SCOPE " FOR UPDATE OF a),"
	" upd AS (UPDATE attestations a SET commission = coalesce($8::jsonb ->> 'commission', "
	"  a.commission), protocol_number = coalesce($8::jsonb ->> 'protocol_number', "
	"  a.protocol_number), valid_until = coalesce(($8::jsonb ->> 'valid_until')::date, "
	"  a.valid_until), version = a.version + 1, updated_at = now() "
	"  FROM old WHERE a.id = old.id AND a.version = $9::int RETURNING a.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, 'attestation', upd.id, 'update', "
	"  to_jsonb(old) - '{region_id,municipality_id,organization_id}'::text[], to_jsonb(upd), "
	"  $11, old.region_id, old.municipality_id, old.organization_id FROM upd JOIN old USING (id)) "
	"SELECT " ATT_JSON ", a.version" ATT_FROM_OF("upd"),
	11};
/* clang-format on */

enum em_err attestations_update(struct em_req *req, const struct em_args *args, json_t *body,
				struct em_reply *reply)
{
	struct update_run u = {.req = req,
			       .reply = reply,
			       .id = args->id[0],
			       .body = body,
			       .body_text = req->body,
			       .st = &ATT_UPDATE_SQL,
			       .get = &ATT_GET,
			       .entity = "attestation"};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &u.version)) != EM_OK)
		return rc;
	validate_object(body, ATT_UPDATE, sizeof(ATT_UPDATE) / sizeof(ATT_UPDATE[0]), reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL,
				  "only commission, protocol_number and "
				  "valid_until of an attestation may be corrected");
	if (json_object_size(body) == 0)
		return reply_fail(reply, EM_EINVAL, "the body names no field to change");
	if (!req->body)
		return EM_EINTERNAL;
	return update_run(&u);
}
