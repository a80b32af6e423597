/*
 * indicators.c — a campaign's indicator catalog: validation of an indicator
 * (code, direction, type, bounds, polarity, source, data kind, weights per
 * kind), its list with filters, and create / update / delete, each allowed
 * only while the campaign is a draft (the catalog of an opened one is frozen).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"

static const char *const DIRECTION_CODES[] = {"network",
					      "management",
					      "student_results",
					      "reserve",
					      "objectivity",
					      "conditions",
					      "individualization",
					      "career_guidance",
					      "management_qualification",
					      "teacher_development",
					      NULL};
static const char *const VALUE_TYPES[] = {"number", "percent", "boolean", "integer", NULL};
static const char *const POLARITIES[] = {"up", "down", NULL};
static const char *const SOURCES[] = {"self", "municipal", "regional_import", NULL};
/* The CHECK indicators_data_kind_check (migration 0011). */
static const char *const DATA_KINDS[] = {
	"management", "contingent", "exam_results", "objectivity_marker",
	"vpr_raw",    "staff",      "other",        NULL};

/* Bounds of indicator values: far beyond any real indicator, inside double precision. */
#define BOUND_LIMIT 1000000000000LL

static const char *const IND_CUSTOM[] = {"weights", NULL};

/* The members of an indicator; code, name, direction and value_type are required
 * when req (a create), every member is optional in a change. */
/* clang-format off */
#define IND_FIELDS(req)                                                                  \
	{"code", F_STRING, req, false, 1, 32, NULL},                                     \
	{"name", F_STRING, req, false, 1, 500, NULL},                                    \
	{"direction", F_ENUM, req, false, 0, 0, DIRECTION_CODES},                        \
	{"unit", F_STRING, false, true, 1, 50, NULL},                                    \
	{"value_type", F_ENUM, req, false, 0, 0, VALUE_TYPES},                           \
	{"min_value", F_NUMBER, false, true, -BOUND_LIMIT, BOUND_LIMIT, NULL},           \
	{"max_value", F_NUMBER, false, true, -BOUND_LIMIT, BOUND_LIMIT, NULL},           \
	{"polarity", F_ENUM, false, false, 0, 0, POLARITIES},                            \
	{"source", F_ENUM, false, false, 0, 0, SOURCES},                                 \
	{"data_kind", F_ENUM, false, false, 0, 0, DATA_KINDS},                           \
	{"method", F_STRING, false, true, 1, 4000, NULL},                                \
	{"position", F_INT, false, false, 0, 1000000, NULL}
/* clang-format on */
static const struct field IND_CREATE[] = {IND_FIELDS(true)};
static const struct field IND_UPDATE[] = {IND_FIELDS(false)};

/* The CHECK indicators_code_format: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$. */
static bool code_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

/* weights: {kind: number 0..1000}, only the five kinds. */
static void check_weights(const json_t *body, struct em_reply *reply)
{
	const json_t *w = json_object_get(body, "weights");
	const char *key;
	json_t *v;
	char name[64];

	if (!w)
		return;
	if (!json_is_object(w)) {
		reply_field_error(reply, "weights",
				  "must be an object {kind: weight}, e.g. {\"school\": 2}");
		return;
	}
	json_object_foreach((json_t *)w, key, v) {
		bool known = false;
		snprintf(name, sizeof(name), "weights.%s", key);
		for (const char *const *k = EM_ORG_KINDS; *k && !known; k++)
			known = strcmp(*k, key) == 0;
		if (!known)
			reply_field_error(reply, name,
					  "is not a kind of organization (school, preschool, "
					  "additional, vocational, special)");
		else if (!json_is_number(v))
			reply_field_error(reply, name, "must be a number");
		else if (json_number_value(v) < 0 || json_number_value(v) > 1000)
			reply_field_error(reply, name, "must be between 0 and 1000");
	}
}

/* A bound of an indicator as the merged object has it: NULL when absent or null. */
static const json_t *bound(const json_t *o, const char *name)
{
	const json_t *v = json_object_get(o, name);
	return v && json_is_number(v) ? v : NULL;
}

/*
 * Cross-field rules on the indicator as it will be (the body of a create, or the stored
 * row with a PATCH's members over it): bounds required and min < max except for booleans,
 * which have none; percent bounds inside 0..100; integer bounds integral. Members that
 * failed their own check are not judged again.
 */
static void check_bounds(const json_t *ind, const json_t *body, struct em_reply *reply)
{
	const char *type = json_string_value(json_object_get(ind, "value_type"));
	const json_t *min = bound(ind, "min_value"), *max = bound(ind, "max_value");
	static const char *const NAMES[2] = {"min_value", "max_value"};
	const json_t *b[2] = {min, max};

	if (!type)
		return;
	if (strcmp(type, "boolean") == 0) {
		for (int i = 0; i < 2; i++)
			if (b[i])
				reply_field_error(reply, NAMES[i],
						  "must be absent or null for a boolean indicator");
		return;
	}
	for (int i = 0; i < 2; i++) {
		const json_t *given = json_object_get(body, NAMES[i]);
		if (given && !json_is_null(given) && !json_is_number(given))
			continue; /* reported by the field table */
		if (!b[i])
			reply_field_error(reply, NAMES[i], "is required for a %s indicator", type);
		else if (json_number_value(b[i]) < -(double)BOUND_LIMIT ||
			 json_number_value(b[i]) > (double)BOUND_LIMIT)
			continue;
		else if (strcmp(type, "percent") == 0 &&
			 (json_number_value(b[i]) < 0 || json_number_value(b[i]) > 100))
			reply_field_error(reply, NAMES[i], "must be within 0..100 for a percent");
		else if (strcmp(type, "integer") == 0 &&
			 json_number_value(b[i]) != (double)(long long)json_number_value(b[i]))
			reply_field_error(reply, NAMES[i],
					  "must be a whole number for an integer "
					  "indicator");
	}
	if (min && max && !(json_number_value(min) < json_number_value(max)))
		reply_field_error(reply, "max_value", "must be greater than min_value");
}

static void ind_check(const json_t *body, struct em_reply *reply)
{
	const char *code = json_string_value(json_object_get(body, "code"));

	if (code && utf8_length(code) >= 1 && utf8_length(code) <= 32 && !code_valid(code))
		reply_field_error(reply, "code",
				  "must start with a Latin letter or digit and hold only Latin "
				  "letters, digits, '_', '.' and '-'");
	check_weights(body, reply);
}

/* clang-format off */
#define IND_JSON(i)                                                                      \
	"jsonb_build_object('id', " i ".id, 'campaign_id', " i ".campaign_id, 'code', " i   \
	".code, 'name', " i ".name, 'direction', (SELECT d.code FROM directions d "          \
	"WHERE d.id = " i ".direction_id), 'direction_id', " i ".direction_id, 'unit', " i  \
	".unit, 'value_type', " i ".value_type, 'min_value', " i ".min_value, 'max_value', " \
	i ".max_value, 'polarity', " i ".polarity, 'source', " i ".source, 'data_kind', " i  \
	".data_kind, 'method', " i                                                           \
	".method, 'weights', " i ".weights, 'position', " i ".position, 'created_at', " i   \
	".created_at, 'updated_at', " i ".updated_at, 'version', " i ".version)"
/* clang-format on */

/* Indicators, like their campaigns, are region-level rows: CAMPAIGN_SCOPE serves both. */
/* clang-format off */
DB_STMT(IND_GET) = {
	"indicators_get", SQL_GET(IND_JSON("i"), "indicators i", "i", CAMPAIGN_SCOPE("i")), 7};
/* clang-format on */

/* In catalog order (position, id), or by name with sort=name. $12 campaign, then the
 * filters direction, source, value_type, kind (weight > 0). */
/* clang-format off */
DB_STMT(IND_LIST) = {
	"indicators_list",
	"SELECT " IND_JSON("i") ", i.id, CASE WHEN $10 = 'name' THEN i.name "
	" ELSE i.position::text END "
	"FROM indicators i WHERE i.campaign_id = $12::bigint AND" CAMPAIGN_SCOPE("i")
	SQL_SEARCH("i.name")
	" AND ($13::text IS NULL OR i.direction_id = (SELECT d.id FROM directions d "
	"  WHERE d.code = $13))"
	" AND ($14::text IS NULL OR i.source = $14)"
	" AND ($15::text IS NULL OR i.value_type = $15)"
	" AND ($16::text IS NULL OR coalesce((i.weights->>$16)::numeric, 0) > 0)"
	" AND ($8::bigint IS NULL OR ($10 = 'name' AND (i.name COLLATE \"ru-x-icu\", i.id) > "
	"  ($9 COLLATE \"ru-x-icu\", $8::bigint)) OR ($10 <> 'name' AND (i.position, i.id) > "
	"  ($9::int, $8::bigint)))"
	" ORDER BY CASE WHEN $10 = 'name' THEN i.name END COLLATE \"ru-x-icu\", "
	" CASE WHEN $10 <> 'name' THEN i.position END, i.id LIMIT $7::int",
	16};
/* clang-format on */

/* The campaign of a new indicator, locked against a concurrent opening. */
/* clang-format off */
DB_STMT(IND_CAMPAIGN) = {
	"indicators_campaign",
	SQL_CAMPAIGN_STATUS " FOR SHARE",
	7};
/* clang-format on */

/* $7 body, $8 campaign, $9 actor, $10 request id. Without a position the indicator goes last. */
/* clang-format off */
DB_STMT(IND_CREATE_SQL) = {
	"indicators_create",
	"WITH ins AS (INSERT INTO indicators (campaign_id, region_id, code, name, direction_id, "
	"  unit, value_type, min_value, max_value, polarity, source, data_kind, method, weights, "
	"  position) "
	" SELECT c.id, c.region_id, b->>'code', b->>'name', d.id, b->>'unit', b->>'value_type', "
	"  (b->>'min_value')::numeric, (b->>'max_value')::numeric, "
	"  coalesce(b->>'polarity', 'up'), coalesce(b->>'source', 'self'), "
	"  coalesce(b->>'data_kind', 'management'), b->>'method', "
	"  coalesce(b->'weights', '{}'::jsonb), coalesce((b->>'position')::int, "
	"   (SELECT coalesce(max(mx.position), 0) + 1 FROM indicators mx "
	"    WHERE mx.campaign_id = c.id)) "
	" FROM (SELECT $7::jsonb AS b) x JOIN campaigns c ON c.id = $8::bigint AND"
	CAMPAIGN_SCOPE("c") " JOIN directions d ON d.code = b->>'direction' RETURNING *),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $9::bigint, $1, 'indicator', id, 'create', NULL, "
	" to_jsonb(ins), $10, region_id, NULL, NULL FROM ins) "
	"SELECT " IND_JSON("ins") ", ins.id, ins.version FROM ins",
	10};
/* clang-format on */

/* Locks an indicator and shares its campaign: version, campaign status, the API JSON
 * (to merge a PATCH over), the row (the audit's before). Parameters: scope, $7 id. */
/* clang-format off */
DB_STMT(IND_LOCK) = {
	"indicators_lock",
	"SELECT i.version, c.status, " IND_JSON("i") ", to_jsonb(i) "
	"FROM indicators i JOIN campaigns c ON c.id = i.campaign_id "
	"WHERE i.id = $7::bigint AND" CAMPAIGN_SCOPE("i") " FOR UPDATE OF i FOR SHARE OF c",
	7};
/* clang-format on */

/* $7 id, $8 body, $9 before, $10 actor, $11 request id. A member present as null clears. */
/* clang-format off */
DB_STMT(IND_UPDATE_SQL) = {
	"indicators_update",
	"WITH upd AS (UPDATE indicators i SET "
	"  code = coalesce(b->>'code', i.code), name = coalesce(b->>'name', i.name), "
	"  direction_id = coalesce((SELECT d.id FROM directions d WHERE d.code = b->>'direction'), "
	"   i.direction_id), "
	"  unit = CASE WHEN b ? 'unit' THEN b->>'unit' ELSE i.unit END, "
	"  value_type = coalesce(b->>'value_type', i.value_type), "
	"  min_value = CASE WHEN b ? 'min_value' THEN (b->>'min_value')::numeric "
	"   ELSE i.min_value END, "
	"  max_value = CASE WHEN b ? 'max_value' THEN (b->>'max_value')::numeric "
	"   ELSE i.max_value END, "
	"  polarity = coalesce(b->>'polarity', i.polarity), "
	"  source = coalesce(b->>'source', i.source), "
	"  data_kind = coalesce(b->>'data_kind', i.data_kind), "
	"  method = CASE WHEN b ? 'method' THEN b->>'method' ELSE i.method END, "
	"  weights = coalesce(b->'weights', i.weights), "
	"  position = coalesce((b->>'position')::int, i.position), "
	"  version = i.version + 1, updated_at = now() "
	" FROM (SELECT $8::jsonb AS b) x WHERE i.id = $7::bigint AND" CAMPAIGN_SCOPE("i")
	" RETURNING i.*)," SQL_AUDITED_UPDATE("indicator", IND_JSON("upd")),
	11};
/* clang-format on */

/* $7 id, $8 actor, $9 request id. */
/* clang-format off */
DB_STMT(IND_DELETE_SQL) = {
	"indicators_delete",
	"WITH del AS (DELETE FROM indicators i WHERE i.id = $7::bigint AND" CAMPAIGN_SCOPE("i")
	" RETURNING i.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $8::bigint, $1, 'indicator', del.id, 'delete', "
	" to_jsonb(del), NULL, $9, del.region_id, NULL, NULL FROM del) "
	"SELECT del.id FROM del",
	9};
/* clang-format on */

static const struct list_filter IND_FILTERS[] = {
	{"direction", FILTER_ENUM, DIRECTION_CODES},
	{"source", FILTER_ENUM, SOURCES},
	{"value_type", FILTER_ENUM, VALUE_TYPES},
	{"kind", FILTER_ENUM, EM_ORG_KINDS},
};

/* Only get goes through the generic handler. */
const struct em_resource INDICATORS = {
	.entity = "indicator",
	.path = "/api/v1/indicators",
	.get = &IND_GET,
};

enum em_err campaign_indicators_list(struct em_req *req, const struct em_args *args, json_t *body,
				     struct em_reply *reply)
{
	struct list_page page;
	const char *filters[4];
	struct db_args a;
	const char *q;
	PGresult *res;
	enum em_err rc;

	(void)body;
	if ((rc = list_page_parse(req, reply, &page)) != EM_OK && rc != EM_EINVAL)
		return rc;
	q = list_search_parse(req, reply);
	/* In catalog order the cursor's key is the position. */
	if (page.after_id && strcmp(page.sort, "name") != 0) {
		char *end;
		long pos = strtol(page.after_key, &end, 10);
		if (end == page.after_key || *end || pos < 0 || pos > 1000000)
			reply_field_error(reply, "cursor", "is not a cursor of this list and sort");
	}
	list_filters_parse(req, reply, IND_FILTERS, ARRAY_LEN(IND_FILTERS), filters);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid list parameters");
	/* The campaign must be visible: an empty catalog is not a missing campaign. */
	if ((rc = resource_visible(req, reply, CAMPAIGNS.get, args->id[0], "campaign")) != EM_OK)
		return rc;
	/* In catalog order the cursor's key is the position, kept like a name's. */
	page.has_key = page.after_id != 0;
	list_args(&a, req, &page, q);
	db_arg_i64(&a, args->id[0]);
	for (size_t i = 0; i < ARRAY_LEN(filters); i++)
		db_arg_text(&a, filters[i]);
	if ((rc = db_exec_args_custom(req->db, &IND_LIST, &a, &res)) != EM_OK)
		return rc;
	rc = list_reply(reply, res, &page, NULL);
	PQclear(res);
	return rc;
}

static const char FROZEN[] = "the catalog of a campaign that is no longer draft is frozen";

/* The campaign (*c->ctx), locked against a concurrent opening, must be a draft; then
 * the create's $7 body, $8 campaign, $9 actor, $10 request id. */
static enum em_err ind_create_push(struct create_run *c, struct db_args *a)
{
	const int64_t *campaign = c->ctx;
	PGresult *res;
	enum em_err rc;

	if ((rc = resource_find(c->req, c->reply, &IND_CAMPAIGN, *campaign, "campaign", &res)) !=
	    EM_OK)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 0), "draft") != 0) {
		rc = reply_fail(c->reply, EM_ECONFLICT, "%s (the campaign is %s)", FROZEN,
				PQgetvalue(res, 0, 0));
		PQclear(res);
		return rc;
	}
	PQclear(res);
	db_arg_text(a, c->body_text);
	db_arg_i64(a, *campaign);
	db_arg_i64(a, c->req->caller.user_id);
	db_arg_text(a, c->req->request_id);
	return EM_OK;
}

/* The campaign was checked under lock: cannot happen. */
static enum em_err ind_create_refused(struct create_run *c, PGresult *res)
{
	(void)res;
	return reply_fail(c->reply, EM_ENOTFOUND, "no campaign %lld",
			  (long long)*(const int64_t *)c->ctx);
}

enum em_err campaign_indicators_create(struct em_req *req, const struct em_args *args, json_t *body,
				       struct em_reply *reply)
{
	int64_t campaign = args->id[0];
	struct create_run c = {.req = req,
			       .reply = reply,
			       .body = body,
			       .st = &IND_CREATE_SQL,
			       .path = INDICATORS.path,
			       .push = ind_create_push,
			       .refused = ind_create_refused,
			       .ctx = &campaign};
	json_t *full;
	const char *type;
	enum em_err rc;

	validate_object_except(body, IND_CREATE, ARRAY_LEN(IND_CREATE), IND_CUSTOM, reply);
	ind_check(body, reply);
	/* A percent without bounds is 0..100. */
	if (!(full = json_copy(body)))
		return EM_EINTERNAL;
	type = json_string_value(json_object_get(body, "value_type"));
	if (type && strcmp(type, "percent") == 0) {
		if (!json_object_get(body, "min_value"))
			json_object_set_new(full, "min_value", json_integer(0));
		if (!json_object_get(body, "max_value"))
			json_object_set_new(full, "max_value", json_integer(100));
	}
	check_bounds(full, body, reply);
	rc = mon_create_run(&c, full, "indicator");
	json_decref(full);
	return rc;
}

/* Locks the indicator: visible (404), at the If-Match version (412), of a draft (409). */
static enum em_err ind_lock(struct mon_write *w, PGresult **out)
{
	PGresult *res;
	enum em_err rc;

	if ((rc = resource_lock(w->req, w->reply, &IND_LOCK, w->id, w->version, "indicator",
				&res)) != EM_OK)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 1), "draft") != 0) {
		rc = reply_fail(w->reply, EM_ECONFLICT, "%s (the campaign is %s)", FROZEN,
				PQgetvalue(res, 0, 1));
		PQclear(res);
		return rc;
	}
	*out = res;
	return EM_OK;
}

static enum em_err ind_update_tx(struct db_conn *db, void *arg)
{
	struct mon_write *w = arg;
	PGresult *lock = NULL, *res;
	json_t *merged;
	enum em_err rc;

	(void)db;
	reply_clear(w->reply);
	if ((rc = ind_lock(w, &lock)) != EM_OK)
		return rc;
	/* The rules across members are judged on the indicator as it will be. */
	merged = json_loads(PQgetvalue(lock, 0, 2), 0, NULL);
	if (!merged || json_object_update(merged, w->body) != 0) {
		json_decref(merged);
		rc = EM_EINTERNAL;
		goto out;
	}
	check_bounds(merged, w->body, w->reply);
	json_decref(merged);
	if (w->reply->errors) {
		rc = reply_fail(w->reply, EM_EINVAL, "the change to the indicator is not valid");
		goto out;
	}
	if ((rc = mon_update_exec(w, &IND_UPDATE_SQL, PQgetvalue(lock, 0, 3), &res)) != EM_OK)
		goto out;
	reply_row(w->req, w->reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
out:
	PQclear(lock);
	return rc;
}

enum em_err indicators_update(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply)
{
	struct mon_write w;
	enum em_err rc;

	if ((rc = mon_write_open(&w, req, args, body, reply)) != EM_OK)
		return rc;
	validate_object_except(body, IND_UPDATE, ARRAY_LEN(IND_UPDATE), IND_CUSTOM, reply);
	ind_check(body, reply);
	return mon_change_run(&w, "indicator", ind_update_tx);
}

static enum em_err ind_delete_tx(struct db_conn *db, void *arg)
{
	struct mon_write *w = arg;
	struct em_req *req = w->req;
	struct db_args a;
	PGresult *lock = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(w->reply);
	if ((rc = ind_lock(w, &lock)) != EM_OK)
		return rc;
	caller_args(&a, req);
	db_arg_i64(&a, w->id);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	if ((rc = db_exec_args(req->db, &IND_DELETE_SQL, &a, &res)) == EM_OK) {
		PQclear(res);
		w->reply->status = 204;
	}
	PQclear(lock);
	return rc;
}

enum em_err indicators_delete(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply)
{
	struct mon_write w;
	enum em_err rc;

	if ((rc = mon_write_open(&w, req, args, body, reply)) != EM_OK)
		return rc;
	return db_tx(req->db, ind_delete_tx, &w);
}
