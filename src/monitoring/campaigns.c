/*
 * campaigns.c — monitoring campaigns of a region (goals, window, level
 * thresholds, draft → open → closed → published) and their indicator
 * catalogs, one per campaign: copied from an earlier campaign at creation,
 * edited only while the campaign is a draft. Opening creates the draft
 * submission of every active organization of the region, set-wise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/lint.h"
#include "effmon/monitoring.h"
#include "effmon/registry.h"

static const char *const STATUSES[] = {"draft", "open", "closed", "published", NULL};
static const char *const DIRECTION_CODES[] = {"network", "management", "student_results", "reserve",
					 "objectivity", "conditions", "individualization",
					 "career_guidance", "management_qualification",
					 "teacher_development", NULL};
static const char *const VALUE_TYPES[] = {"number", "percent", "boolean", "integer", NULL};
static const char *const POLARITIES[] = {"up", "down", NULL};
static const char *const SOURCES[] = {"self", "municipal", "regional_import", NULL};
/* The CHECK indicators_data_kind_check (migration 0011). */
static const char *const DATA_KINDS[] = {"management", "contingent", "exam_results",
					 "objectivity_marker", "vpr_raw", "staff", "other", NULL};

#define GOALS_MAX 50
#define GOAL_MAX_CHARS 1000
/* Bounds of indicator values: far beyond any real indicator, inside double precision. */
#define BOUND_LIMIT 1000000000000LL
/* Numbers go to SQL as text: 15 significant digits give back the decimal the client wrote. */
#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* --- Shared checks ------------------------------------------------------------------ */

static long days_from_civil(long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* RFC 3339 date-time with its offset, YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM); on
 * success *epoch is the instant in seconds since 1970 UTC. */
static bool rfc3339(const char *s, double *epoch)
{
	static const int DAYS[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	double frac = 0;
	const char *p;

	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return false;
	if (y < 1900 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > DAYS[mo - 1] || h > 23 ||
	    mi > 59 || sec > 59)
		return false;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	p = s + 19;
	if (*p == '.') {
		double scale = 0.1;
		int n = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, n++, scale /= 10)
			frac += (*p - '0') * scale;
		if (n < 1 || n > 9)
			return false;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		sign = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, &oh) &&
		   p[3] == ':' && digits(p + 4, 2, &om) && oh <= 23 && om <= 59) {
		sign = *p == '+' ? 1 : -1;
	} else {
		return false;
	}
	*epoch = (double)days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400.0 + h * 3600 +
		 mi * 60 + sec + frac - sign * (oh * 3600 + om * 60);
	return true;
}

/* Checks a timestamp member; true and *epoch when it is present and valid. */
static bool check_timestamp(const json_t *body, const char *name, bool required,
			    struct em_reply *reply, double *epoch)
{
	const json_t *v = json_object_get(body, name);

	if (!v) {
		if (required)
			reply_field_error(reply, name, "is required");
		return false;
	}
	if (!json_is_string(v) || !rfc3339(json_string_value(v), epoch)) {
		reply_field_error(reply, name,
				  "must be an RFC 3339 timestamp with its offset, "
				  "e.g. 2026-03-01T00:00:00+03:00");
		return false;
	}
	return true;
}

/* validate_object over the fields of the table, with the members in custom left to
 * the caller (the field table knows no arrays or objects). */
static void validate_plain(const json_t *body, const struct field *fields, size_t n,
			   const char *const *custom, struct em_reply *reply)
{
	json_t *plain = json_copy((json_t *)body);

	if (!plain) {
		reply_field_error(reply, "", "cannot read the body");
		return;
	}
	for (const char *const *c = custom; *c; c++)
		json_object_del(plain, *c);
	validate_object(plain, fields, n, reply);
	json_decref(plain);
}

static bool has_nul(const json_t *s)
{
	return strlen(json_string_value(s)) != json_string_length(s);
}

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
		else if (has_nul(g))
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
	has_opens = check_timestamp(body, "opens_at", creating, reply, &opens);
	has_closes = check_timestamp(body, "closes_at", creating, reply, &closes);
	if (has_opens && has_closes && !(closes > opens))
		reply_field_error(reply, "closes_at", "must be later than opens_at");
}

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
/* Every role sees the campaigns of its region. */
#define CAMP_SCOPE(c) SQL_SCOPE(c ".region_id", "NULL::bigint", "NULL::bigint")

DB_STMT(CAMP_GET) = {
	"campaigns_get",
	"SELECT " CAMP_JSON("c") ", c.version FROM campaigns c WHERE c.id = $5::bigint AND"
	CAMP_SCOPE("c"),
	5};
DB_STMT(CAMP_LIST) = {
	"campaigns_list",
	"SELECT " CAMP_JSON("c") ", c.id, c.title FROM campaigns c WHERE" CAMP_SCOPE("c")
	SQL_SEARCH("c.title")
	" AND ($10::bigint IS NULL OR c.region_id = $10::bigint)"
	" AND ($11::text IS NULL OR c.status = $11)"
	" AND ($12::bigint IS NULL OR c.year = $12::bigint)"
	SQL_LIST_KEYSET("c.title", "c.id") SQL_LIST_ORDER("c.title", "c.id"),
	12};

/*
 * Before a create: is the region in scope, and whose catalog is copied? catalog_from
 * absent: the region's latest campaign of an earlier year; null: none; an id: that
 * campaign, if it is the region's. Columns: region ok, source id, catalog_from named.
 */
DB_STMT(CAMP_CREATE_CHECK) = {
	"campaigns_create_check",
	"SELECT r.id IS NOT NULL, CASE "
	" WHEN NOT (b ? 'catalog_from') THEN (SELECT p.id FROM campaigns p "
	"  WHERE p.region_id = r.id AND p.year < (b->>'year')::int ORDER BY p.year DESC LIMIT 1) "
	" WHEN b->'catalog_from' = 'null'::jsonb THEN NULL "
	" ELSE (SELECT p.id FROM campaigns p WHERE p.id = (b->>'catalog_from')::bigint "
	"  AND p.region_id = r.id) END, "
	" b ? 'catalog_from' AND b->'catalog_from' <> 'null'::jsonb "
	"FROM (SELECT $5::jsonb AS b) x LEFT JOIN regions r ON r.id = (b->>'region_id')::bigint "
	" AND" SQL_SCOPE("r.id", "NULL::bigint", "NULL::bigint"),
	5};

/* The campaign, the copy of its source's catalog and the audit row, in one statement.
 * $8: the source campaign, or NULL. */
DB_STMT(CAMP_CREATE_SQL) = {
	"campaigns_create",
	"WITH ins AS (INSERT INTO campaigns (region_id, year, title, goals, opens_at, closes_at, "
	"  threshold_high, threshold_sufficient, threshold_low, catalog_source_id) "
	" SELECT r.id, (b->>'year')::int, b->>'title', coalesce(b->'goals', '[]'::jsonb), "
	"  (b->>'opens_at')::timestamptz, (b->>'closes_at')::timestamptz, "
	"  coalesce((b->'thresholds'->>'high')::numeric, 80), "
	"  coalesce((b->'thresholds'->>'sufficient')::numeric, 60), "
	"  coalesce((b->'thresholds'->>'low')::numeric, 40), $8::bigint "
	" FROM (SELECT $5::jsonb AS b) x JOIN regions r ON r.id = (b->>'region_id')::bigint AND"
	SQL_SCOPE("r.id", "NULL::bigint", "NULL::bigint") " RETURNING *),"
	" cp AS (INSERT INTO indicators (campaign_id, region_id, code, name, direction_id, unit, "
	"  value_type, min_value, max_value, polarity, source, data_kind, method, weights, "
	"  position) "
	" SELECT ins.id, ins.region_id, i.code, i.name, i.direction_id, i.unit, i.value_type, "
	"  i.min_value, i.max_value, i.polarity, i.source, i.data_kind, i.method, i.weights, "
	"  i.position "
	" FROM ins JOIN indicators i ON i.campaign_id = ins.catalog_source_id "
	" ORDER BY i.position, i.id RETURNING id),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $6::bigint, $1, 'campaign', ins.id, 'create', NULL, "
	" to_jsonb(ins) || jsonb_build_object('indicators_copied', (SELECT count(*) FROM cp)), "
	" $7, ins.region_id, NULL, NULL FROM ins) "
	"SELECT " CAMP_JSON_N("ins", "(SELECT count(*) FROM cp)") ", ins.id, ins.version FROM ins",
	8};

/* Locks a campaign: version, status, the row (the audit's before), whether its catalog
 * has an indicator and one that applies to some kind. Parameters: scope, $5 id. */
DB_STMT(CAMP_LOCK) = {
	"campaigns_lock",
	"SELECT c.version, c.status, to_jsonb(c), "
	" EXISTS (SELECT 1 FROM indicators i WHERE i.campaign_id = c.id), "
	" EXISTS (SELECT 1 FROM indicators i, jsonb_each(i.weights) w "
	"  WHERE i.campaign_id = c.id AND (w.value)::numeric > 0) "
	"FROM campaigns c WHERE c.id = $5::bigint AND" CAMP_SCOPE("c") " FOR UPDATE",
	5};

/* $5 id, $6 body, $7 before, $8 actor, $9 request id. Absent members keep their value. */
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
	" FROM (SELECT $6::jsonb AS b) x WHERE c.id = $5::bigint AND" CAMP_SCOPE("c")
	" RETURNING c.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $8::bigint, $1, 'campaign', upd.id, 'update', "
	" $7::jsonb, to_jsonb(upd), $9, upd.region_id, NULL, NULL FROM upd) "
	"SELECT " CAMP_JSON("upd") ", upd.version FROM upd",
	9};

DB_STMT(CAMP_RESCORE) = {
	"campaigns_rescore", "SELECT em_rescore_campaign($1::bigint)", 1};

/*
 * Opening: a draft submission for every active organization of the region, with its
 * current head, and one 'create' history row each; set-wise. $1 campaign, $2 actor,
 * $3 role, $4 request id. Answers the number created.
 */
DB_STMT(CAMP_OPEN_SUBMISSIONS) = {
	"campaigns_open_submissions",
	"WITH subs AS (INSERT INTO submissions (campaign_id, organization_id, region_id, "
	"  municipality_id, kind, manager_id) "
	" SELECT c.id, o.id, o.region_id, o.municipality_id, o.kind, a.manager_id "
	" FROM campaigns c JOIN organizations o ON o.region_id = c.region_id "
	"  AND o.status = 'active' "
	" LEFT JOIN appointments a ON a.organization_id = o.id AND a.ended_on IS NULL "
	" WHERE c.id = $1::bigint ORDER BY o.id "
	" ON CONFLICT (campaign_id, organization_id) DO NOTHING RETURNING id),"
	" hist AS (INSERT INTO submission_history (submission_id, actor_user_id, actor_role, "
	"  action, to_status, request_id) "
	" SELECT id, $2::bigint, $3, 'create', 'draft', $4 FROM subs) "
	"SELECT count(*) FROM subs",
	4};

/* $5 id, $6 to, $7 from, $8 before, $9 comment, $10 actor, $11 request id,
 * $12 submissions created (opening) or NULL. */
DB_STMT(CAMP_MOVE) = {
	"campaigns_transition",
	"WITH upd AS (UPDATE campaigns c SET status = $6, "
	"  opened_at = CASE WHEN $6 = 'open' THEN now() ELSE c.opened_at END, "
	"  closed_at = CASE WHEN $6 = 'closed' THEN now() ELSE c.closed_at END, "
	"  published_at = CASE WHEN $6 = 'published' THEN now() ELSE c.published_at END, "
	"  version = c.version + 1, updated_at = now() "
	" WHERE c.id = $5::bigint AND" CAMP_SCOPE("c") " RETURNING c.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, 'campaign', upd.id, 'transition', "
	" $8::jsonb, to_jsonb(upd) || jsonb_strip_nulls(jsonb_build_object('transition', "
	"  jsonb_build_object('from', $7, 'to', upd.status, 'comment', $9), "
	"  'submissions_created', $12::int)), $11, upd.region_id, NULL, NULL FROM upd) "
	"SELECT " CAMP_JSON("upd") ", upd.version FROM upd",
	12};

static const struct constraint_map CAMP_CONSTRAINTS[] = {
	{"campaigns_region_year_key", "year", "the region has a campaign for this year already",
	 EM_ECONFLICT},
	{"campaigns_window", "closes_at", "must be later than opens_at", EM_EINVAL},
	{"campaigns_thresholds", "thresholds", "must rise strictly: 0 <= low < sufficient < "
	 "high <= 100", EM_EINVAL},
	{"campaigns_title_length", "title", "length must be 1 to 200 characters", EM_EINVAL},
	{"campaigns_year_range", "year", "must be between 2000 and 2100", EM_EINVAL},
	{NULL, NULL, NULL, EM_OK},
};

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
	.filters = CAMP_FILTERS,
	.nfilters = sizeof(CAMP_FILTERS) / sizeof(CAMP_FILTERS[0]),
	.constraints = CAMP_CONSTRAINTS,
};

struct camp_write {
	struct em_req *req;
	int64_t id;
	long version;
	json_t *body;
	const char *body_text;
	const char *to, *comment; /* transitions */
	struct em_reply *reply;
};

static enum em_err camp_create_tx(struct db_conn *db, void *arg)
{
	struct camp_write *w = arg;
	struct em_req *req = w->req;
	struct idem idem;
	char bufs[3][24], actor[24], location[160];
	const char *params[8];
	PGresult *chk = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(w->reply);
	if ((rc = idem_begin(req, w->body, &idem, w->reply)) != EM_OK || idem.replayed)
		return rc;
	scope_params(req, bufs, params);
	params[4] = w->body_text;
	if ((rc = db_exec(req->db, &CAMP_CREATE_CHECK, params, &chk)) != EM_OK)
		return rc;
	if (!db_bool(chk, 0, 0))
		reply_field_error(w->reply, "region_id", "no such region in your scope");
	else if (db_bool(chk, 0, 2) && PQgetisnull(chk, 0, 1))
		reply_field_error(w->reply, "catalog_from", "no campaign of this region has this id");
	if (w->reply->errors) {
		rc = reply_fail(w->reply, EM_EINVAL, "the campaign is not valid");
		goto out;
	}
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[5] = actor;
	params[6] = req->request_id;
	params[7] = db_str(chk, 0, 1);
	if ((rc = db_exec(req->db, &CAMP_CREATE_SQL, params, &res)) != EM_OK) {
		rc = map_constraint(req, CAMP_CONSTRAINTS, rc, w->reply);
		goto out;
	}
	snprintf(location, sizeof(location), "%s/%s", CAMPAIGNS.path, PQgetvalue(res, 0, 1));
	reply_row(req, w->reply, 201, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2));
	reply_header(w->reply, "Location", location);
	rc = idem_finish(req, &idem, w->reply);
	PQclear(res);
out:
	PQclear(chk);
	return rc;
}

enum em_err campaigns_create(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply)
{
	struct camp_write w = {.req = req, .body = body, .reply = reply};
	enum em_err rc;
	char *text;

	(void)args;
	validate_plain(body, CAMP_CREATE, sizeof(CAMP_CREATE) / sizeof(CAMP_CREATE[0]),
		       CAMP_CUSTOM, reply);
	camp_check(body, true, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the campaign is not valid");
	if (!(text = json_dumps(body, JSON_FLAGS)))
		return EM_EINTERNAL;
	w.body_text = text;
	rc = db_tx(req->db, camp_create_tx, &w);
	free(text);
	return rc;
}

/* Locks the campaign and checks it is visible (404) at the If-Match version (412). */
static enum em_err camp_lock(struct camp_write *w, PGresult **out)
{
	char bufs[3][24], idbuf[24];
	const char *params[5];
	PGresult *res;
	enum em_err rc;

	scope_params(w->req, bufs, params);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)w->id);
	params[4] = idbuf;
	if ((rc = db_exec(w->req->db, &CAMP_LOCK, params, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0)
		rc = reply_fail(w->reply, EM_ENOTFOUND, "no campaign %lld", (long long)w->id);
	else if (atol(PQgetvalue(res, 0, 0)) != w->version)
		rc = reply_fail(w->reply, EM_EPRECOND, "the campaign has changed: its ETag is now \"%s\"",
				PQgetvalue(res, 0, 0));
	if (rc != EM_OK) {
		PQclear(res);
		return rc;
	}
	*out = res;
	return EM_OK;
}

static enum em_err camp_update_tx(struct db_conn *db, void *arg)
{
	struct camp_write *w = arg;
	struct em_req *req = w->req;
	char bufs[3][24], idbuf[24], actor[24];
	const char *params[9];
	PGresult *lock = NULL, *res;
	const char *status;
	enum em_err rc;

	(void)db;
	reply_clear(w->reply);
	if ((rc = camp_lock(w, &lock)) != EM_OK)
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
	scope_params(req, bufs, params);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)w->id);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[4] = idbuf;
	params[5] = w->body_text;
	params[6] = PQgetvalue(lock, 0, 2);
	params[7] = actor;
	params[8] = req->request_id;
	if ((rc = db_exec(req->db, &CAMP_UPDATE_SQL, params, &res)) != EM_OK) {
		rc = map_constraint(req, CAMP_CONSTRAINTS, rc, w->reply);
		goto out;
	}
	/* New thresholds change the level of every submission already scored. */
	if (json_object_get(w->body, "thresholds") && strcmp(status, "draft") != 0) {
		PGresult *rs;
		const char *one[1] = {idbuf};
		if ((rc = db_exec(req->db, &CAMP_RESCORE, one, &rs)) != EM_OK) {
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
	struct camp_write w = {.req = req, .id = args->id[0], .body = body, .reply = reply};
	enum em_err rc;
	char *text;

	if ((rc = require_if_match(req, reply, &w.version)) != EM_OK)
		return rc;
	validate_plain(body, CAMP_UPDATE, sizeof(CAMP_UPDATE) / sizeof(CAMP_UPDATE[0]),
		       CAMP_CUSTOM, reply);
	camp_check(body, false, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the change to the campaign is not valid");
	if (json_object_size(body) == 0)
		return reply_fail(reply, EM_EINVAL, "the body names no field to change");
	if (!(text = json_dumps(body, JSON_FLAGS)))
		return EM_EINTERNAL;
	w.body_text = text;
	rc = db_tx(req->db, camp_update_tx, &w);
	free(text);
	return rc;
}

/* The one move out of each status; published is final. */
static const struct {
	const char *from, *to;
} CAMP_NEXT[] = {
	{"draft", "open"},
	{"open", "closed"},
	{"closed", "published"},
	{"published", NULL},
};

static bool camp_move_allowed(const char *from, const char *to, struct em_reply *reply)
{
	for (size_t i = 0; i < sizeof(CAMP_NEXT) / sizeof(CAMP_NEXT[0]); i++) {
		if (strcmp(CAMP_NEXT[i].from, from) != 0)
			continue;
		if (!CAMP_NEXT[i].to) {
			reply_fail(reply, EM_ECONFLICT,
				   "from %s: no transition is allowed (%s is final)", from, from);
			return false;
		}
		if (strcmp(CAMP_NEXT[i].to, to) == 0)
			return true;
		reply_fail(reply, EM_ECONFLICT, "from %s: allowed %s", from, CAMP_NEXT[i].to);
		return false;
	}
	reply_fail(reply, EM_ECONFLICT, "from %s: no transition is known", from);
	return false;
}

static enum em_err camp_move_tx(struct db_conn *db, void *arg)
{
	struct camp_write *w = arg;
	struct em_req *req = w->req;
	struct idem idem;
	char bufs[3][24], idbuf[24], actor[24], created[24];
	const char *params[12];
	PGresult *lock = NULL, *res;
	enum em_err rc;
	bool opening = strcmp(w->to, "open") == 0;

	(void)db;
	reply_clear(w->reply);
	if ((rc = idem_begin(req, w->body, &idem, w->reply)) != EM_OK || idem.replayed)
		return rc;
	if ((rc = camp_lock(w, &lock)) != EM_OK)
		return rc;
	if (!camp_move_allowed(PQgetvalue(lock, 0, 1), w->to, w->reply)) {
		rc = EM_ECONFLICT;
		goto out;
	}
	if (opening && !db_bool(lock, 0, 3)) {
		rc = reply_fail(w->reply, EM_ECONFLICT,
				"the catalog is empty: add indicators before opening the campaign");
		goto out;
	}
	if (opening && !db_bool(lock, 0, 4)) {
		rc = reply_fail(w->reply, EM_ECONFLICT,
				"no indicator of the catalog applies to any kind of organization "
				"(every weight is 0): set weights before opening the campaign");
		goto out;
	}
	if (opening && (rc = campaign_lint_for_open(req, w->id, w->reply)) != EM_OK)
		goto out;
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)w->id);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	if (opening) {
		const char *op[4] = {idbuf, actor, em_role_name(req->caller.role), req->request_id};
		if ((rc = db_exec(req->db, &CAMP_OPEN_SUBMISSIONS, op, &res)) != EM_OK)
			goto out;
		snprintf(created, sizeof(created), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		if ((rc = db_exec(req->db, &CAMP_RESCORE, op, &res)) != EM_OK)
			goto out;
		PQclear(res);
	}
	scope_params(req, bufs, params);
	params[4] = idbuf;
	params[5] = w->to;
	params[6] = PQgetvalue(lock, 0, 1);
	params[7] = PQgetvalue(lock, 0, 2);
	params[8] = w->comment;
	params[9] = actor;
	params[10] = req->request_id;
	params[11] = opening ? created : NULL;
	if ((rc = db_exec(req->db, &CAMP_MOVE, params, &res)) != EM_OK)
		goto out;
	reply_row(req, w->reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	rc = idem_finish(req, &idem, w->reply);
	PQclear(res);
out:
	PQclear(lock);
	return rc;
}

static const struct field MOVE_FIELDS[] = {
	{"to", F_ENUM, true, false, 0, 0, STATUSES},
	{"comment", F_STRING, false, true, 1, 1000, NULL},
};

enum em_err campaigns_transition(struct em_req *req, const struct em_args *args, json_t *body,
				 struct em_reply *reply)
{
	struct camp_write w = {.req = req, .id = args->id[0], .body = body, .reply = reply};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &w.version)) != EM_OK)
		return rc;
	validate_object(body, MOVE_FIELDS, sizeof(MOVE_FIELDS) / sizeof(MOVE_FIELDS[0]), reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the transition is not valid");
	w.to = json_string_value(json_object_get(body, "to"));
	w.comment = json_string_value(json_object_get(body, "comment"));
	return db_tx(req->db, camp_move_tx, &w);
}

/* --- Indicators ---------------------------------------------------------------------- */

static const char *const IND_CUSTOM[] = {"weights", NULL};

static const struct field IND_CREATE[] = {
	{"code", F_STRING, true, false, 1, 32, NULL},
	{"name", F_STRING, true, false, 1, 500, NULL},
	{"direction", F_ENUM, true, false, 0, 0, DIRECTION_CODES},
	{"unit", F_STRING, false, true, 1, 50, NULL},
	{"value_type", F_ENUM, true, false, 0, 0, VALUE_TYPES},
	{"min_value", F_NUMBER, false, true, -BOUND_LIMIT, BOUND_LIMIT, NULL},
	{"max_value", F_NUMBER, false, true, -BOUND_LIMIT, BOUND_LIMIT, NULL},
	{"polarity", F_ENUM, false, false, 0, 0, POLARITIES},
	{"source", F_ENUM, false, false, 0, 0, SOURCES},
	{"data_kind", F_ENUM, false, false, 0, 0, DATA_KINDS},
	{"method", F_STRING, false, true, 1, 4000, NULL},
	{"position", F_INT, false, false, 0, 1000000, NULL},
};
static const struct field IND_UPDATE[] = {
	{"code", F_STRING, false, false, 1, 32, NULL},
	{"name", F_STRING, false, false, 1, 500, NULL},
	{"direction", F_ENUM, false, false, 0, 0, DIRECTION_CODES},
	{"unit", F_STRING, false, true, 1, 50, NULL},
	{"value_type", F_ENUM, false, false, 0, 0, VALUE_TYPES},
	{"min_value", F_NUMBER, false, true, -BOUND_LIMIT, BOUND_LIMIT, NULL},
	{"max_value", F_NUMBER, false, true, -BOUND_LIMIT, BOUND_LIMIT, NULL},
	{"polarity", F_ENUM, false, false, 0, 0, POLARITIES},
	{"source", F_ENUM, false, false, 0, 0, SOURCES},
	{"data_kind", F_ENUM, false, false, 0, 0, DATA_KINDS},
	{"method", F_STRING, false, true, 1, 4000, NULL},
	{"position", F_INT, false, false, 0, 1000000, NULL},
};

/* The CHECK indicators_code_format: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$. */
static bool code_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
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
			reply_field_error(reply, NAMES[i], "must be a whole number for an integer "
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

#define IND_JSON(i)                                                                      \
	"jsonb_build_object('id', " i ".id, 'campaign_id', " i ".campaign_id, 'code', " i   \
	".code, 'name', " i ".name, 'direction', (SELECT d.code FROM directions d "          \
	"WHERE d.id = " i ".direction_id), 'direction_id', " i ".direction_id, 'unit', " i  \
	".unit, 'value_type', " i ".value_type, 'min_value', " i ".min_value, 'max_value', " \
	i ".max_value, 'polarity', " i ".polarity, 'source', " i ".source, 'data_kind', " i  \
	".data_kind, 'method', " i                                                           \
	".method, 'weights', " i ".weights, 'position', " i ".position, 'created_at', " i   \
	".created_at, 'updated_at', " i ".updated_at, 'version', " i ".version)"
#define IND_SCOPE(i) SQL_SCOPE(i ".region_id", "NULL::bigint", "NULL::bigint")

DB_STMT(IND_GET) = {
	"indicators_get",
	"SELECT " IND_JSON("i") ", i.version FROM indicators i WHERE i.id = $5::bigint AND"
	IND_SCOPE("i"),
	5};

/* In catalog order (position, id), or by name with sort=name. $10 campaign, then the
 * filters direction, source, value_type, kind (weight > 0). */
DB_STMT(IND_LIST) = {
	"indicators_list",
	"SELECT " IND_JSON("i") ", i.id, CASE WHEN $8 = 'name' THEN i.name "
	" ELSE i.position::text END "
	"FROM indicators i WHERE i.campaign_id = $10::bigint AND" IND_SCOPE("i")
	SQL_SEARCH("i.name")
	" AND ($11::text IS NULL OR i.direction_id = (SELECT d.id FROM directions d "
	"  WHERE d.code = $11))"
	" AND ($12::text IS NULL OR i.source = $12)"
	" AND ($13::text IS NULL OR i.value_type = $13)"
	" AND ($14::text IS NULL OR coalesce((i.weights->>$14)::numeric, 0) > 0)"
	" AND ($6::bigint IS NULL OR ($8 = 'name' AND (i.name COLLATE \"ru-x-icu\", i.id) > "
	"  ($7 COLLATE \"ru-x-icu\", $6::bigint)) OR ($8 <> 'name' AND (i.position, i.id) > "
	"  ($7::int, $6::bigint)))"
	" ORDER BY CASE WHEN $8 = 'name' THEN i.name END COLLATE \"ru-x-icu\", "
	" CASE WHEN $8 <> 'name' THEN i.position END, i.id LIMIT $5::int",
	14};

/* The campaign of a new indicator, locked against a concurrent opening. */
DB_STMT(IND_CAMPAIGN) = {
	"indicators_campaign",
	"SELECT c.status FROM campaigns c WHERE c.id = $5::bigint AND" CAMP_SCOPE("c")
	" FOR SHARE",
	5};

/* $5 body, $6 campaign, $7 actor, $8 request id. Without a position the indicator goes last. */
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
	" FROM (SELECT $5::jsonb AS b) x JOIN campaigns c ON c.id = $6::bigint AND"
	CAMP_SCOPE("c") " JOIN directions d ON d.code = b->>'direction' RETURNING *),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $7::bigint, $1, 'indicator', id, 'create', NULL, "
	" to_jsonb(ins), $8, region_id, NULL, NULL FROM ins) "
	"SELECT " IND_JSON("ins") ", ins.id, ins.version FROM ins",
	8};

/* Locks an indicator and shares its campaign: version, campaign status, the API JSON
 * (to merge a PATCH over), the row (the audit's before). Parameters: scope, $5 id. */
DB_STMT(IND_LOCK) = {
	"indicators_lock",
	"SELECT i.version, c.status, " IND_JSON("i") ", to_jsonb(i) "
	"FROM indicators i JOIN campaigns c ON c.id = i.campaign_id "
	"WHERE i.id = $5::bigint AND" IND_SCOPE("i") " FOR UPDATE OF i FOR SHARE OF c",
	5};

/* $5 id, $6 body, $7 before, $8 actor, $9 request id. A member present as null clears. */
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
	" FROM (SELECT $6::jsonb AS b) x WHERE i.id = $5::bigint AND" IND_SCOPE("i")
	" RETURNING i.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $8::bigint, $1, 'indicator', upd.id, 'update', "
	" $7::jsonb, to_jsonb(upd), $9, upd.region_id, NULL, NULL FROM upd) "
	"SELECT " IND_JSON("upd") ", upd.version FROM upd",
	9};

/* $5 id, $6 actor, $7 request id. */
DB_STMT(IND_DELETE_SQL) = {
	"indicators_delete",
	"WITH del AS (DELETE FROM indicators i WHERE i.id = $5::bigint AND" IND_SCOPE("i")
	" RETURNING i.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $6::bigint, $1, 'indicator', del.id, 'delete', "
	" to_jsonb(del), NULL, $7, del.region_id, NULL, NULL FROM del) "
	"SELECT del.id FROM del",
	7};

static const struct constraint_map IND_CONSTRAINTS[] = {
	{"indicators_campaign_code_key", "code", "the catalog has an indicator with this code",
	 EM_ECONFLICT},
	{"indicators_code_format", "code", "is not a valid indicator code", EM_EINVAL},
	{"indicators_bounds", "max_value", "bounds must be given with min_value < max_value, "
	 "and not for booleans", EM_EINVAL},
	{"indicators_percent_bounds", "min_value", "percent bounds must be within 0..100",
	 EM_EINVAL},
	{"indicators_integer_bounds", "min_value", "integer bounds must be whole numbers",
	 EM_EINVAL},
	{"indicators_weights_valid", "weights", "is not a valid weights object", EM_EINVAL},
	{NULL, NULL, NULL, EM_OK},
};

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
	.constraints = IND_CONSTRAINTS,
};

enum em_err campaign_indicators_list(struct em_req *req, const struct em_args *args,
				     json_t *body, struct em_reply *reply)
{
	struct list_page page;
	char bufs[3][24], limit[24], after[24], camp[24];
	const char *params[14];
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
	list_filters_parse(req, reply, IND_FILTERS, sizeof(IND_FILTERS) / sizeof(IND_FILTERS[0]),
			   params + 10);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid list parameters");
	/* The campaign must be visible: an empty catalog is not a missing campaign. */
	if ((rc = resource_fetch(req, &CAMP_GET, args->id[0], &res)) == EM_ENOTFOUND)
		return reply_fail(reply, rc, "no campaign %lld", (long long)args->id[0]);
	if (rc != EM_OK)
		return rc;
	PQclear(res);
	scope_params(req, bufs, params);
	snprintf(limit, sizeof(limit), "%ld", page.limit + 1);
	snprintf(after, sizeof(after), "%lld", (long long)page.after_id);
	snprintf(camp, sizeof(camp), "%lld", (long long)args->id[0]);
	params[4] = limit;
	params[5] = page.after_id ? after : NULL;
	params[6] = page.after_id ? page.after_key : NULL;
	params[7] = page.sort;
	params[8] = q;
	params[9] = camp;
	if ((rc = db_exec(req->db, &IND_LIST, params, &res)) != EM_OK)
		return rc;
	rc = list_reply(reply, res, &page, NULL);
	PQclear(res);
	return rc;
}

struct ind_write {
	struct em_req *req;
	int64_t id; /* the campaign (create) or the indicator */
	long version;
	json_t *body;
	const char *body_text;
	struct em_reply *reply;
};

static const char FROZEN[] = "the catalog of a campaign that is no longer draft is frozen";

static enum em_err ind_create_tx(struct db_conn *db, void *arg)
{
	struct ind_write *w = arg;
	struct em_req *req = w->req;
	struct idem idem;
	char bufs[3][24], camp[24], actor[24], location[160];
	const char *params[8];
	PGresult *res;
	enum em_err rc;

	(void)db;
	reply_clear(w->reply);
	if ((rc = idem_begin(req, w->body, &idem, w->reply)) != EM_OK || idem.replayed)
		return rc;
	scope_params(req, bufs, params);
	snprintf(camp, sizeof(camp), "%lld", (long long)w->id);
	params[4] = camp;
	if ((rc = db_exec(req->db, &IND_CAMPAIGN, params, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "draft") != 0) {
		rc = PQntuples(res) == 0
			     ? reply_fail(w->reply, EM_ENOTFOUND, "no campaign %lld",
					  (long long)w->id)
			     : reply_fail(w->reply, EM_ECONFLICT, "%s (the campaign is %s)", FROZEN,
					  PQgetvalue(res, 0, 0));
		PQclear(res);
		return rc;
	}
	PQclear(res);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[4] = w->body_text;
	params[5] = camp;
	params[6] = actor;
	params[7] = req->request_id;
	if ((rc = db_exec(req->db, &IND_CREATE_SQL, params, &res)) != EM_OK)
		return map_constraint(req, IND_CONSTRAINTS, rc, w->reply);
	if (PQntuples(res) == 0) { /* the campaign was checked under lock: cannot happen */
		PQclear(res);
		return reply_fail(w->reply, EM_ENOTFOUND, "no campaign %lld", (long long)w->id);
	}
	snprintf(location, sizeof(location), "%s/%s", INDICATORS.path, PQgetvalue(res, 0, 1));
	reply_row(req, w->reply, 201, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2));
	reply_header(w->reply, "Location", location);
	rc = idem_finish(req, &idem, w->reply);
	PQclear(res);
	return rc;
}

enum em_err campaign_indicators_create(struct em_req *req, const struct em_args *args,
				       json_t *body, struct em_reply *reply)
{
	struct ind_write w = {.req = req, .id = args->id[0], .body = body, .reply = reply};
	json_t *full;
	const char *type;
	enum em_err rc;
	char *text;

	validate_plain(body, IND_CREATE, sizeof(IND_CREATE) / sizeof(IND_CREATE[0]), IND_CUSTOM,
		       reply);
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
	if (reply->errors) {
		json_decref(full);
		return reply_fail(reply, EM_EINVAL, "the indicator is not valid");
	}
	text = json_dumps(full, JSON_FLAGS);
	json_decref(full);
	if (!text)
		return EM_EINTERNAL;
	w.body_text = text;
	rc = db_tx(req->db, ind_create_tx, &w);
	free(text);
	return rc;
}

/* Locks the indicator: visible (404), at the If-Match version (412), of a draft (409). */
static enum em_err ind_lock(struct ind_write *w, PGresult **out)
{
	char bufs[3][24], idbuf[24];
	const char *params[5];
	PGresult *res;
	enum em_err rc;

	scope_params(w->req, bufs, params);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)w->id);
	params[4] = idbuf;
	if ((rc = db_exec(w->req->db, &IND_LOCK, params, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0)
		rc = reply_fail(w->reply, EM_ENOTFOUND, "no indicator %lld", (long long)w->id);
	else if (atol(PQgetvalue(res, 0, 0)) != w->version)
		rc = reply_fail(w->reply, EM_EPRECOND,
				"the indicator has changed: its ETag is now \"%s\"",
				PQgetvalue(res, 0, 0));
	else if (strcmp(PQgetvalue(res, 0, 1), "draft") != 0)
		rc = reply_fail(w->reply, EM_ECONFLICT, "%s (the campaign is %s)", FROZEN,
				PQgetvalue(res, 0, 1));
	if (rc != EM_OK) {
		PQclear(res);
		return rc;
	}
	*out = res;
	return EM_OK;
}

static enum em_err ind_update_tx(struct db_conn *db, void *arg)
{
	struct ind_write *w = arg;
	struct em_req *req = w->req;
	char bufs[3][24], idbuf[24], actor[24];
	const char *params[9];
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
	scope_params(req, bufs, params);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)w->id);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[4] = idbuf;
	params[5] = w->body_text;
	params[6] = PQgetvalue(lock, 0, 3);
	params[7] = actor;
	params[8] = req->request_id;
	if ((rc = db_exec(req->db, &IND_UPDATE_SQL, params, &res)) != EM_OK) {
		rc = map_constraint(req, IND_CONSTRAINTS, rc, w->reply);
		goto out;
	}
	reply_row(req, w->reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
out:
	PQclear(lock);
	return rc;
}

enum em_err indicators_update(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply)
{
	struct ind_write w = {.req = req, .id = args->id[0], .body = body, .reply = reply};
	enum em_err rc;
	char *text;

	if ((rc = require_if_match(req, reply, &w.version)) != EM_OK)
		return rc;
	validate_plain(body, IND_UPDATE, sizeof(IND_UPDATE) / sizeof(IND_UPDATE[0]), IND_CUSTOM,
		       reply);
	ind_check(body, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the change to the indicator is not valid");
	if (json_object_size(body) == 0)
		return reply_fail(reply, EM_EINVAL, "the body names no field to change");
	if (!(text = json_dumps(body, JSON_FLAGS)))
		return EM_EINTERNAL;
	w.body_text = text;
	rc = db_tx(req->db, ind_update_tx, &w);
	free(text);
	return rc;
}

static enum em_err ind_delete_tx(struct db_conn *db, void *arg)
{
	struct ind_write *w = arg;
	struct em_req *req = w->req;
	char bufs[3][24], idbuf[24], actor[24];
	const char *params[7];
	PGresult *lock = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(w->reply);
	if ((rc = ind_lock(w, &lock)) != EM_OK)
		return rc;
	scope_params(req, bufs, params);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)w->id);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[4] = idbuf;
	params[5] = actor;
	params[6] = req->request_id;
	if ((rc = db_exec(req->db, &IND_DELETE_SQL, params, &res)) == EM_OK) {
		PQclear(res);
		w->reply->status = 204;
	}
	PQclear(lock);
	return rc;
}

enum em_err indicators_delete(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply)
{
	struct ind_write w = {.req = req, .id = args->id[0], .body = body, .reply = reply};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &w.version)) != EM_OK)
		return rc;
	return db_tx(req->db, ind_delete_tx, &w);
}
