/*
 * submission_values.c — PUT /submissions/{id}/values: a batch of values checked
 * item by item against the catalog (type, bounds, the indicator's source and who
 * may write it in which status), written with their history and audit row in
 * the submission's transaction, and the submission rescored and answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/monitoring.h"
#include "handler.h"
#include "submission.h"

/* --- Values ------------------------------------------------------------------------------ */

/* Each item against the catalog: $1 campaign, $2 body, $3 kind. One row per item, in order:
 * found, code, value type, source, applies, type of the JSON value, fractional, out of
 * range, min, max. */
/* clang-format off */
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
/* clang-format on */
enum { R_FOUND, R_CODE, R_TYPE, R_SOURCE, R_APPLIES, R_JSON, R_FRACTION, R_RANGE, R_MIN, R_MAX };

/* clang-format off */
#define SUB_OLD_NEW(prefix)                                                               \
	"jsonb_build_object('value', " SUB_VALUE(prefix "value", "c.value_type") ", "        \
	"'comment', " prefix "comment, 'evidence_url', " prefix "evidence_url)"
/* clang-format on */

/* Writes the items that change, in item order; history, audit and version only if any does.
 * $1 role, $7 id, $8 body, $9 campaign, $10 actor, $11 request id. -> changed count. */
/* clang-format off */
DB_STMT(SUB_WRITE) = {
	"submission_values_write",
	"WITH items AS (SELECT x.ord, i.id AS indicator_id, i.code, i.value_type, "
	"  CASE jsonb_typeof(x.e -> 'value') WHEN 'null' THEN NULL "
	"   WHEN 'boolean' THEN CASE WHEN (x.e -> 'value')::boolean THEN 1 ELSE 0 END "
	"   ELSE (x.e -> 'value')::numeric END AS value, "
	"  x.e ->> 'comment' AS comment, x.e ->> 'evidence_url' AS evidence_url "
	"  FROM jsonb_array_elements($8::jsonb -> 'values') WITH ORDINALITY x(e, ord) "
	"  JOIN indicators i ON i.campaign_id = $9::bigint AND i.code = x.e ->> 'indicator'),"
	" changed AS MATERIALIZED (SELECT it.*, cur.indicator_id IS NOT NULL AS existed, "
	"  cur.value AS old_value, cur.comment AS old_comment, cur.evidence_url AS old_evidence_url "
	"  FROM items it LEFT JOIN submission_values cur ON cur.submission_id = $7::bigint "
	"   AND cur.indicator_id = it.indicator_id "
	"  WHERE CASE WHEN it.value IS NULL THEN cur.indicator_id IS NOT NULL "
	"   WHEN cur.indicator_id IS NULL THEN true "
	"   ELSE it.value <> cur.value OR it.comment IS DISTINCT FROM cur.comment "
	"    OR it.evidence_url IS DISTINCT FROM cur.evidence_url END),"
	" del AS (DELETE FROM submission_values v USING changed c WHERE v.submission_id = "
	"  $7::bigint AND v.indicator_id = c.indicator_id AND c.value IS NULL),"
	" ins AS (INSERT INTO submission_values AS v (submission_id, indicator_id, value, comment, "
	"  evidence_url, updated_by, updated_at) SELECT $7::bigint, c.indicator_id, c.value, "
	"  c.comment, c.evidence_url, $10::bigint, now() FROM changed c WHERE c.value IS NOT NULL "
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
	"  WHERE s.id = $7::bigint RETURNING s.*),"
	" hist AS (INSERT INTO submission_history (submission_id, actor_user_id, actor_role, "
	"  action, changes, request_id) SELECT upd.id, $10::bigint, $1, 'values', chg.changes, $11 "
	"  FROM upd, chg),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, 'submission', upd.id, 'values', "
	"  jsonb_build_object('version', upd.version - 1, 'values', chg.before), "
	"  jsonb_build_object('version', upd.version, 'values', chg.after), $11, upd.region_id, "
	"  upd.municipality_id, upd.organization_id FROM upd, chg) "
	"SELECT count(*) FROM changed",
	11};
/* clang-format on */

/* Who writes the values of each data source, and when (DESIGN §2). */
static const struct source_rule {
	const char *source;
	unsigned roles;
	const char *who;
	const char *statuses[4]; /* submission statuses the values may change in */
	bool closed_ok;          /* also while the campaign is closed */
} SOURCES[] = {
	{"self",
	 EM_ROLE_HEAD | EM_ROLE_ADMIN,
	 "the head of the organization (or an admin)",
	 {"draft", "returned", NULL},
	 false},
	{"municipal",
	 EM_ROLE_MUNICIPAL | EM_ROLE_ADMIN,
	 "a municipal operator (or an admin)",
	 {"draft", "submitted", "returned", NULL},
	 true},
	{"regional_import",
	 EM_ROLE_REGIONAL | EM_ROLE_ADMIN,
	 "a regional operator (or an admin)",
	 {"draft", "submitted", "verified", "returned"},
	 true},
};

static const struct source_rule *source_rule(const char *source)
{
	for (size_t i = 0; i < ARRAY_LEN(SOURCES); i++)
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
		    (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 || cp == 0x2029 ||
		    cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF)
			return false;
	}
	return true;
}

/* values[i].indicator: a code, once in the list. */
static void check_item_indicator(const json_t *values, size_t i, struct em_reply *reply)
{
	const json_t *v = json_object_get(json_array_get(values, i), "indicator");
	char f[64];

	snprintf(f, sizeof(f), "values[%zu].indicator", i);
	if (!v) {
		reply_field_error(reply, f, "is required");
		return;
	}
	if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > 32 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		reply_field_error(reply, f, "must be an indicator code (1 to 32 characters)");
		return;
	}
	for (size_t j = 0; j < i; j++) {
		const char *other = json_string_value(
			json_object_get(json_array_get(values, j), "indicator"));
		if (other && strcmp(other, json_string_value(v)) == 0) {
			reply_field_error(reply, f,
					  "indicator %s is already in values[%zu]: "
					  "one item per indicator",
					  other, j);
			return;
		}
	}
}

/* values[i].comment and .evidence_url: optional texts, null when the value is removed. */
static void check_item_texts(const json_t *item, size_t i, bool removing, struct em_reply *reply)
{
	const json_t *v = json_object_get(item, "comment");
	char f[64];

	snprintf(f, sizeof(f), "values[%zu].comment", i);
	if (v && !json_is_null(v)) {
		size_t n = json_is_string(v) ? utf8_length(json_string_value(v)) : 0;
		if (!json_is_string(v) || n < 1 || n > MAX_TEXT ||
		    strlen(json_string_value(v)) != json_string_length(v))
			reply_field_error(reply, f,
					  "must be a string of 1 to %d characters or null",
					  MAX_TEXT);
		else if (removing)
			reply_field_error(reply, f,
					  "must be null when value is null (removing a "
					  "value removes its comment)");
	}
	v = json_object_get(item, "evidence_url");
	snprintf(f, sizeof(f), "values[%zu].evidence_url", i);
	if (v && !json_is_null(v)) {
		const char *s = json_string_value(v);
		bool ok = s && strlen(s) == json_string_length(v) && utf8_length(s) <= MAX_TEXT &&
			  url_valid(s);
		if (!ok)
			reply_field_error(reply, f,
					  "must be an http:// or https:// URL of at most "
					  "%d characters, without spaces, or null",
					  MAX_TEXT);
		else if (removing)
			reply_field_error(reply, f, "must be null when value is null");
	}
}

/* values[i]: an object of the known members, each of its type. */
static void check_item(const json_t *values, size_t i, struct em_reply *reply)
{
	const json_t *item = json_array_get(values, i), *v;
	const char *key;
	char f[64];

	if (!json_is_object(item)) {
		snprintf(f, sizeof(f), "values[%zu]", i);
		reply_field_error(reply, f,
				  "must be an object {indicator, value, comment, "
				  "evidence_url}");
		return;
	}
	json_object_foreach((json_t *)item, key, v)
		if (strcmp(key, "indicator") && strcmp(key, "value") && strcmp(key, "comment") &&
		    strcmp(key, "evidence_url")) {
			snprintf(f, sizeof(f), "values[%zu].%s", i, key);
			reply_field_error(reply, f, "unknown field");
		}
	check_item_indicator(values, i, reply);
	v = json_object_get(item, "value");
	snprintf(f, sizeof(f), "values[%zu].value", i);
	if (!v)
		reply_field_error(reply, f, "is required (null removes the value)");
	else if (!json_is_number(v) && !json_is_boolean(v) && !json_is_null(v))
		reply_field_error(reply, f, "must be a number, a boolean or null");
	check_item_texts(item, i, v && json_is_null(v), reply);
}

/* The body's shape, item by item, before the database is asked anything. */
static void check_values_body(const json_t *body, struct em_reply *reply)
{
	const json_t *values = json_object_get(body, "values"), *v;
	const char *key;

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
	for (size_t i = 0; i < json_array_size(values); i++)
		check_item(values, i, reply);
}

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
			reply_field_error(reply, f, "no indicator %s in the campaign's catalog",
					  code);
			continue;
		}
		if (!db_bool(res, i, R_APPLIES)) {
			reply_field_error(reply, f,
					  "indicator %s does not apply to %s organizations "
					  "(its weight for them is 0)",
					  code, kind);
			continue;
		}
		snprintf(f, sizeof(f), "values[%d].value", i);
		if (strcmp(json, "null") == 0)
			continue;
		if (strcmp(type, "boolean") == 0) {
			if (strcmp(json, "boolean") != 0)
				reply_field_error(reply, f,
						  "must be true or false (or null): %s is a "
						  "boolean indicator",
						  code);
		} else if (strcmp(json, "number") != 0) {
			reply_field_error(reply, f,
					  "must be a JSON number (or null): %s is a %s "
					  "indicator",
					  code, type);
		} else if (strcmp(type, "integer") == 0 && db_bool(res, i, R_FRACTION)) {
			reply_field_error(reply, f,
					  "must be a whole number: %s is an integer indicator",
					  code);
		} else if (db_bool(res, i, R_RANGE)) {
			reply_field_error(reply, f, "must be between %s and %s for %s",
					  PQgetvalue(res, i, R_MIN), PQgetvalue(res, i, R_MAX),
					  code);
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
		if (!submission_role_in(req, r->roles))
			return reply_fail(reply, EM_EFORBIDDEN,
					  "a %s may not write indicator %s "
					  "(values[%d]): %s values are written by %s",
					  em_role_name(req->caller.role),
					  PQgetvalue(res, i, R_CODE), i, r->source, r->who);
	}
	for (int i = 0; i < PQntuples(res); i++) {
		const struct source_rule *r = source_rule(PQgetvalue(res, i, R_SOURCE));
		const char *code = PQgetvalue(res, i, R_CODE);
		if (!status_in(r, status))
			return reply_fail(reply, EM_ECONFLICT,
					  "values of a%s %s submission are frozen "
					  "for indicator %s (source %s)",
					  status[0] == 'a' ? "n" : "", status, code, r->source);
		if (strcmp(campaign, "open") != 0 &&
		    !(r->closed_ok && strcmp(campaign, "closed") == 0))
			return reply_fail(reply, EM_ECONFLICT,
					  "the campaign is %s: %s values "
					  "(indicator %s) are written while it is open%s",
					  campaign, r->source, code,
					  r->closed_ok ? " or closed" : "");
	}
	return EM_OK;
}

static enum em_err values_tx(struct db_conn *db, void *arg)
{
	struct mon_write *c = arg;
	struct em_req *req = c->req;
	struct db_args a;
	PGresult *lock = NULL, *res = NULL;
	enum em_err rc;

	(void)db;
	reply_clear(c->reply);
	if ((rc = submission_lock(req, c->id, c->version, c->reply, &lock)) != EM_OK)
		return rc;
	db_args_init(&a);
	db_arg_text(&a, PQgetvalue(lock, 0, L_CAMPAIGN));
	db_arg_text(&a, req->body);
	db_arg_text(&a, PQgetvalue(lock, 0, L_KIND));
	if ((rc = db_exec_args(req->db, &SUB_RESOLVE, &a, &res)) != EM_OK) {
		/* A number the database cannot hold (1e-20000) is the client's error. */
		rc = map_constraint(req, rc, c->reply);
		goto out;
	}
	check_items(res, PQgetvalue(lock, 0, L_KIND), c->reply);
	if (c->reply->errors) {
		rc = reply_fail(c->reply, EM_EINVAL,
				"the values are not valid: nothing was written");
		goto out;
	}
	if ((rc = check_rights(req, res, lock, c->reply)) != EM_OK)
		goto out;
	PQclear(res);
	res = NULL;
	caller_args(&a, req);
	db_arg_i64(&a, c->id);
	db_arg_text(&a, req->body);
	db_arg_text(&a, PQgetvalue(lock, 0, L_CAMPAIGN));
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	if ((rc = db_exec_args(req->db, &SUB_WRITE, &a, &res)) != EM_OK) {
		rc = map_constraint(req, rc, c->reply);
		goto out;
	}
	rc = submission_reply_current(req, c->id, atol(PQgetvalue(res, 0, 0)) > 0, c->reply);
out:
	PQclear(res);
	PQclear(lock);
	return rc;
}

enum em_err submissions_put_values(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply)
{
	struct mon_write c;
	enum em_err rc;

	if ((rc = mon_write_open(&c, req, args, body, reply)) != EM_OK)
		return rc;
	check_values_body(body, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL,
				  "the values are not valid: nothing was written");
	if (!req->body)
		return EM_EINTERNAL;
	return db_tx(req->db, values_tx, &c);
}
