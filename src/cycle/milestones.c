/*
 * milestones.c — a roadmap's milestones: number, title, the due text as
 * written and the date and recurrence derived from it (due.c), executors,
 * expected result, status planned → in_progress → done or cancelled, the
 * progress report and evidence links, participating heads; overdue derived
 * in SQL from em_today(). Heads report progress on their organization's own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/cycle.h"
#include "effmon/registry.h"

#define MS_MAX_PER_ROADMAP 500
#define MS_MAX_PER_ROADMAP_SQL "500"
#define EXECUTORS_MAX 20
#define EXECUTOR_MAX_CHARS 300
#define EVIDENCE_MAX 50
#define URL_MAX_CHARS 2000

static const char *const STATUSES[] = {"planned", "in_progress", "done", "cancelled", NULL};
static const char *const RECURRENCES[] = {"once", "annual", "continuous", NULL};
static const char *const LEVELS[] = {"regional", "municipal", "organization", NULL};

/* The next states of each state; done and cancelled are final. */
static const struct {
	const char *from;
	const char *to[2];
} NEXT[] = {
	{"planned", {"in_progress", "cancelled"}},
	{"in_progress", {"done", "cancelled"}},
	{"done", {NULL, NULL}},
	{"cancelled", {NULL, NULL}},
};

/* Arrays are checked by check_lists; the table sees the body without them. */
static const struct field MS_CREATE[] = {
	{"number", F_STRING, true, false, 1, 41, NULL},
	{"title", F_STRING, true, false, 1, 4000, NULL},
	{"due_text", F_STRING, false, true, 1, 500, NULL},
	{"due_on", F_DATE, false, true, 0, 0, NULL},
	{"recurrence", F_ENUM, false, false, 0, 0, RECURRENCES},
	{"expected_result", F_STRING, false, true, 0, 4000, NULL},
};
static const struct field MS_UPDATE[] = {
	{"number", F_STRING, false, false, 1, 41, NULL},
	{"title", F_STRING, false, false, 1, 4000, NULL},
	{"due_text", F_STRING, false, true, 1, 500, NULL},
	{"due_on", F_DATE, false, true, 0, 0, NULL},
	{"recurrence", F_ENUM, false, false, 0, 0, RECURRENCES},
	{"expected_result", F_STRING, false, true, 0, 4000, NULL},
	{"progress_report", F_STRING, false, true, 0, 20000, NULL},
};
/* What a head may change on its organization's milestones. */
static const char *const PROGRESS_FIELDS[] = {"progress_report", "evidence", NULL};

/* "1", "2.1": digits in up to six dot-separated groups of at most six. */
static bool number_valid(const char *s)
{
	int groups = 0, digits = 0;

	for (const char *p = s;; p++) {
		if (*p >= '0' && *p <= '9') {
			if (++digits > 6)
				return false;
		} else if (*p == '.' || *p == '\0') {
			if (digits == 0 || ++groups > 6)
				return false;
			if (*p == '\0')
				return true;
			digits = 0;
		} else {
			return false;
		}
	}
}

/* An absolute http(s) URL with a host, no spaces or control characters. */
static bool url_valid(const char *u)
{
	const char *host;

	if (strncmp(u, "https://", 8) == 0)
		host = u + 8;
	else if (strncmp(u, "http://", 7) == 0)
		host = u + 7;
	else
		return false;
	if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
		return false;
	for (const unsigned char *p = (const unsigned char *)u; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* executors: up to 20 non-empty strings; evidence: up to 50 http(s) URLs. */
static void check_lists(const json_t *body, struct em_reply *reply)
{
	const json_t *ex = json_object_get(body, "executors");
	const json_t *ev = json_object_get(body, "evidence");
	char name[40];
	size_t i;
	json_t *v;

	if (ex && !json_is_array(ex)) {
		reply_field_error(reply, "executors", "must be an array of strings");
	} else if (ex) {
		if (json_array_size(ex) > EXECUTORS_MAX)
			reply_field_error(reply, "executors", "must hold at most %d executors",
					  EXECUTORS_MAX);
		json_array_foreach(ex, i, v) {
			snprintf(name, sizeof(name), "executors[%zu]", i);
			if (!json_is_string(v))
				reply_field_error(reply, name, "must be a string");
			else if (utf8_length(json_string_value(v)) < 1 ||
				 utf8_length(json_string_value(v)) > EXECUTOR_MAX_CHARS)
				reply_field_error(reply, name, "length must be 1 to %d characters",
						  EXECUTOR_MAX_CHARS);
			else if (json_has_nul(v))
				reply_field_error(reply, name, "must not contain NUL characters");
		}
	}
	if (ev && !json_is_array(ev)) {
		reply_field_error(reply, "evidence", "must be an array of http(s) URLs");
	} else if (ev) {
		if (json_array_size(ev) > EVIDENCE_MAX)
			reply_field_error(reply, "evidence", "must hold at most %d links",
					  EVIDENCE_MAX);
		json_array_foreach(ev, i, v) {
			snprintf(name, sizeof(name), "evidence[%zu]", i);
			if (!json_is_string(v))
				reply_field_error(reply, name, "must be a string");
			else if (utf8_length(json_string_value(v)) > URL_MAX_CHARS || json_has_nul(v) ||
				 !url_valid(json_string_value(v)))
				reply_field_error(reply, name,
						  "must be an http:// or https:// URL of at most %d "
						  "characters",
						  URL_MAX_CHARS);
		}
	}
}

/* The field table over the body without its arrays, then the arrays and the number. */
static void ms_validate(const json_t *body, bool creating, struct em_reply *reply)
{
	json_t *plain = json_is_object(body) ? json_copy((json_t *)body) : NULL;
	const char *number = json_string_value(json_object_get(body, "number"));

	if (!plain) {
		validate_object(body, MS_CREATE, 0, reply);
		return;
	}
	json_object_del(plain, "executors");
	json_object_del(plain, "evidence");
	if (creating)
		validate_object(plain, MS_CREATE, sizeof(MS_CREATE) / sizeof(MS_CREATE[0]), reply);
	else
		validate_object(plain, MS_UPDATE, sizeof(MS_UPDATE) / sizeof(MS_UPDATE[0]), reply);
	json_decref(plain);
	check_lists(body, reply);
	if (number && utf8_length(number) <= 41 && !number_valid(number))
		reply_field_error(reply, "number",
				  "must be digits in dot-separated groups, like 1 or 2.1");
}

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

#define MS_SCOPE(r) SQL_SCOPE(r ".region_id", r ".municipality_id", r ".organization_id")

DB_STMT(MS_GET) = {
	"milestone_get",
	"SELECT " MS_JSON("m", "r") ", m.version FROM milestones m JOIN roadmaps r "
	"ON r.id = m.roadmap_id WHERE m.id = $5::bigint AND" MS_SCOPE("r"),
	5};

/* Across the caller's scope; overdue is the derived flag. */
DB_STMT(MS_LIST) = {
	"milestone_list",
	"SELECT " MS_JSON("m", "r") ", m.id, m.title FROM milestones m JOIN roadmaps r "
	"ON r.id = m.roadmap_id WHERE"
	SQL_LIST_SCOPE_REGION("r.region_id", "r.municipality_id", "r.organization_id")
	SQL_SEARCH("m.title")
	" AND ($10::bigint IS NULL OR m.roadmap_id = $10::bigint)"
	" AND ($11::text IS NULL OR m.status = $11)"
	" AND ($12::text IS NULL OR r.level = $12)"
	" AND ($13::boolean IS NULL OR em_milestone_overdue(m.status, m.recurrence, m.due_on, "
	"  r.period_to) = $13::boolean)"
	" AND ($14::bigint IS NULL OR r.region_id = $14::bigint)"
	" AND ($15::bigint IS NULL OR r.municipality_id = $15::bigint)"
	SQL_LIST_KEYSET("m.title", "m.id") SQL_LIST_ORDER("m.title", "m.id"),
	15};

/* One visible roadmap's milestones in the order of their numbers (none: 404). */
DB_STMT(RM_MS_LIST) = {
	"roadmap_milestones",
	"SELECT coalesce(jsonb_agg(" MS_JSON("m", "r") " ORDER BY "
	"  em_milestone_number_key(m.number), m.id) FILTER (WHERE m.id IS NOT NULL), "
	"  '[]'::jsonb) FROM roadmaps r LEFT JOIN milestones m ON m.roadmap_id = r.id "
	"WHERE r.id = $5::bigint AND" MS_SCOPE("r") " GROUP BY r.id",
	5};

/* $5 roadmap id (locked), $6 body, $7 due_on, $8 recurrence, $9 actor, $10 request id. */
DB_STMT(MS_CREATE_SQL) = {
	"milestone_create",
	"WITH b AS (SELECT $6::jsonb AS b),"
	" ins AS (INSERT INTO milestones (roadmap_id, number, title, due_text, due_on, "
	"  recurrence, executors, expected_result, evidence) "
	"  SELECT $5::bigint, b->>'number', b->>'title', b->>'due_text', $7::date, $8, "
	"  ARRAY(SELECT jsonb_array_elements_text(coalesce(b->'executors', '[]'))), "
	"  b->>'expected_result', "
	"  ARRAY(SELECT jsonb_array_elements_text(coalesce(b->'evidence', '[]'))) FROM b "
	"  WHERE (SELECT count(*) FROM milestones WHERE roadmap_id = $5::bigint) < "
	"  " MS_MAX_PER_ROADMAP_SQL " RETURNING *),"
	" r AS (SELECT * FROM roadmaps WHERE id = $5::bigint),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $9::bigint, $1, 'milestone', ins.id, 'create', "
	"  NULL, to_jsonb(ins), $10, r.region_id, r.municipality_id, r.organization_id "
	"  FROM ins, r) "
	"SELECT " MS_JSON("ins", "r") ", ins.id, ins.version FROM ins, r",
	10};

/* Locks a visible milestone: version, level, organization, row JSON, period, status,
 * due_text, due_on, recurrence, roadmap id. */
DB_STMT(MS_LOCK) = {
	"milestone_lock",
	"SELECT m.version, r.level, r.organization_id, to_jsonb(m), r.period_from, "
	"r.period_to, m.status, m.due_text, m.due_on, m.recurrence, m.roadmap_id "
	"FROM milestones m JOIN roadmaps r ON r.id = m.roadmap_id "
	"WHERE m.id = $5::bigint AND" MS_SCOPE("r") " FOR UPDATE OF m",
	5};
enum { L_VERSION, L_LEVEL, L_ORG, L_ROW, L_FROM, L_TO, L_STATUS, L_DUE_TEXT, L_DUE_ON,
       L_RECURRENCE, L_ROADMAP };

/* $5 id, $6 body, $7 due_on, $8 recurrence, $9 before, $10 actor, $11 request id. */
DB_STMT(MS_UPDATE_SQL) = {
	"milestone_update",
	"WITH b AS (SELECT $6::jsonb AS b),"
	" upd AS (UPDATE milestones m SET number = coalesce(b->>'number', m.number), "
	"  title = coalesce(b->>'title', m.title), "
	"  due_text = CASE WHEN b ? 'due_text' THEN b->>'due_text' ELSE m.due_text END, "
	"  due_on = $7::date, recurrence = $8, "
	"  executors = CASE WHEN b ? 'executors' THEN "
	"   ARRAY(SELECT jsonb_array_elements_text(b->'executors')) ELSE m.executors END, "
	"  expected_result = CASE WHEN b ? 'expected_result' THEN b->>'expected_result' "
	"   ELSE m.expected_result END, "
	"  progress_report = CASE WHEN b ? 'progress_report' THEN b->>'progress_report' "
	"   ELSE m.progress_report END, "
	"  evidence = CASE WHEN b ? 'evidence' THEN "
	"   ARRAY(SELECT jsonb_array_elements_text(b->'evidence')) ELSE m.evidence END, "
	"  version = m.version + 1, updated_at = now() FROM b WHERE m.id = $5::bigint "
	"  RETURNING m.*),"
	" r AS (SELECT r.* FROM roadmaps r JOIN upd ON upd.roadmap_id = r.id),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, 'milestone', upd.id, 'update', "
	"  $9::jsonb, to_jsonb(upd), $11, r.region_id, r.municipality_id, r.organization_id "
	"  FROM upd, r) "
	"SELECT " MS_JSON("upd", "r") ", upd.version FROM upd, r",
	11};

/* $5 id, $6 to, $7 comment, $8 from, $9 before, $10 actor, $11 request id. */
DB_STMT(MS_MOVE) = {
	"milestone_transition",
	"WITH upd AS (UPDATE milestones m SET status = $6, "
	"  started_at = CASE WHEN $6 = 'in_progress' THEN now() ELSE m.started_at END, "
	"  done_at = CASE WHEN $6 = 'done' THEN now() ELSE m.done_at END, "
	"  cancelled_at = CASE WHEN $6 = 'cancelled' THEN now() ELSE m.cancelled_at END, "
	"  version = m.version + 1, updated_at = now() WHERE m.id = $5::bigint RETURNING m.*),"
	" tr AS (INSERT INTO milestone_transitions (milestone_id, from_status, to_status, "
	"  comment, actor_user_id) SELECT upd.id, $8, upd.status, $7, $10::bigint FROM upd "
	"  RETURNING *),"
	" r AS (SELECT r.* FROM roadmaps r JOIN upd ON upd.roadmap_id = r.id),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, 'milestone', upd.id, "
	"  'transition', $9::jsonb, to_jsonb(upd) || jsonb_build_object('transition', "
	"  to_jsonb(tr)), $11, r.region_id, r.municipality_id, r.organization_id "
	"  FROM upd, tr, r) "
	"SELECT " MS_JSON("upd", "r") ", upd.version FROM upd, r",
	11};

static const struct constraint_map MS_CONSTRAINTS[] = {
	{"milestones_number_key", "number", "this roadmap already has a milestone with this number",
	 EM_ECONFLICT},
	{"milestones_number_format", "number",
	 "must be digits in dot-separated groups, like 1 or 2.1", EM_EINVAL},
	{"milestones_title_length", "title", "length must be 1 to 4000 characters", EM_EINVAL},
	{NULL, NULL, NULL, EM_OK},
};

static const struct list_filter MS_FILTERS[] = {
	{"roadmap_id", FILTER_ID, NULL},
	{"status", FILTER_ENUM, STATUSES},
	{"level", FILTER_ENUM, LEVELS},
	{"overdue", FILTER_BOOL, NULL},
	{"region_id", FILTER_ID, NULL},
	{"municipality_id", FILTER_ID, NULL},
};

const struct em_resource MILESTONES = {
	.entity = "milestone",
	.path = "/api/v1/milestones",
	.get = &MS_GET,
	.list = &MS_LIST,
	.filters = MS_FILTERS,
	.nfilters = sizeof(MS_FILTERS) / sizeof(MS_FILTERS[0]),
	.constraints = MS_CONSTRAINTS,
};

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

enum em_err roadmap_milestones_list(struct em_req *req, const struct em_args *args,
				    json_t *body, struct em_reply *reply)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;
	size_t len;
	char *text;

	(void)body;
	caller_args(&a, req);
	db_arg_i64(&a, args->id[0]);
	if ((rc = db_exec_args(req->db, &RM_MS_LIST, &a, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return reply_fail(reply, EM_ENOTFOUND, "no roadmap %lld", (long long)args->id[0]);
	}
	/* A roadmap holds at most MS_MAX_PER_ROADMAP milestones: one page, in number order. */
	len = strlen(PQgetvalue(res, 0, 0)) + 64;
	if (!(text = malloc(len))) {
		PQclear(res);
		return EM_EINTERNAL;
	}
	snprintf(text, len, "{\"items\":%s,\"next\":null}", PQgetvalue(res, 0, 0));
	PQclear(res);
	reply->status = 200;
	reply->text = text;
	reply->text_len = strlen(text);
	reply->content_type = "application/json";
	return EM_OK;
}

struct ms_create {
	struct em_req *req;
	int64_t roadmap_id;
	json_t *body;
	const char *text;
	struct em_reply *reply;
};

static enum em_err create_tx(struct db_conn *db, void *arg)
{
	struct ms_create *c = arg;
	struct em_req *req = c->req;
	struct idem idem;
	char bufs[3][24], idbuf[24], actor[24], location[96], due_on[11], recurrence[12];
	const char *params[10];
	PGresult *lock = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(c->reply);
	if ((rc = idem_begin(req, c->body, &idem, c->reply)) != EM_OK || idem.replayed)
		return rc;
	if ((rc = roadmap_lock(req, c->roadmap_id, &lock, c->reply)) != EM_OK)
		return rc;
	if ((rc = roadmap_may_write(req, PQgetvalue(lock, 0, 1), db_int64(lock, 0, 2), false,
				    c->reply)) != EM_OK)
		goto out;
	resolve_due(c->body, NULL, NULL, NULL, PQgetvalue(lock, 0, 4), PQgetvalue(lock, 0, 5),
		    due_on, recurrence);
	scope_params(req, bufs, params);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)c->roadmap_id);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[4] = idbuf;
	params[5] = c->text;
	params[6] = due_on[0] ? due_on : NULL;
	params[7] = recurrence;
	params[8] = actor;
	params[9] = req->request_id;
	if ((rc = db_exec(req->db, &MS_CREATE_SQL, params, &res)) != EM_OK) {
		rc = map_constraint(req, MS_CONSTRAINTS, rc, c->reply);
		goto out;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		rc = reply_fail(c->reply, EM_ECONFLICT, "the roadmap already has %d milestones",
				MS_MAX_PER_ROADMAP);
		goto out;
	}
	snprintf(location, sizeof(location), "/api/v1/milestones/%s", PQgetvalue(res, 0, 1));
	reply_row(req, c->reply, 201, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2));
	reply_header(c->reply, "Location", location);
	rc = idem_finish(req, &idem, c->reply);
	PQclear(res);
out:
	PQclear(lock);
	return rc;
}

enum em_err roadmap_milestones_create(struct em_req *req, const struct em_args *args,
				      json_t *body, struct em_reply *reply)
{
	struct ms_create c = {req, args->id[0], body, NULL, reply};
	enum em_err rc;
	char *text;

	ms_validate(body, true, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the milestone is not valid");
	if (!(text = json_dumps(body, JSON_COMPACT)))
		return EM_EINTERNAL;
	c.text = text;
	rc = db_tx(req->db, create_tx, &c);
	free(text);
	return rc;
}

/* --- Update ----------------------------------------------------------------------------- */

static enum em_err milestone_lock(struct em_req *req, int64_t id, PGresult **out,
				  struct em_reply *reply)
{
	char bufs[3][24], idbuf[24];
	const char *params[5];
	PGresult *res;
	enum em_err rc;

	scope_params(req, bufs, params);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	params[4] = idbuf;
	if ((rc = db_exec(req->db, &MS_LOCK, params, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return reply_fail(reply, EM_ENOTFOUND, "no milestone %lld", (long long)id);
	}
	*out = res;
	return EM_OK;
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
	char bufs[3][24], idbuf[24], actor[24], due_on[11], recurrence[12];
	const char *params[11];
	PGresult *lock = NULL, *res;
	bool progress = progress_only(u->body);
	enum em_err rc;

	(void)db;
	reply_clear(u->reply);
	if ((rc = milestone_lock(req, u->id, &lock, u->reply)) != EM_OK)
		return rc;
	if (req->caller.role == EM_ROLE_HEAD && !progress &&
	    strcmp(PQgetvalue(lock, 0, L_LEVEL), "organization") == 0 &&
	    db_int64(lock, 0, L_ORG) == req->caller.organization_id) {
		rc = reply_fail(u->reply, EM_EFORBIDDEN,
				"a head changes only progress_report and evidence; the plan "
				"(number, title, due, executors, expected result) is the operators'");
		goto out;
	}
	if ((rc = roadmap_may_write(req, PQgetvalue(lock, 0, L_LEVEL), db_int64(lock, 0, L_ORG),
				    req->caller.role == EM_ROLE_HEAD, u->reply)) != EM_OK)
		goto out;
	if (atol(PQgetvalue(lock, 0, L_VERSION)) != u->version) {
		rc = reply_fail(u->reply, EM_EPRECOND,
				"the milestone has changed: its ETag is now \"%s\"",
				PQgetvalue(lock, 0, L_VERSION));
		goto out;
	}
	resolve_due(u->body, db_str(lock, 0, L_DUE_TEXT), db_str(lock, 0, L_DUE_ON),
		    PQgetvalue(lock, 0, L_RECURRENCE), PQgetvalue(lock, 0, L_FROM),
		    PQgetvalue(lock, 0, L_TO), due_on, recurrence);
	scope_params(req, bufs, params);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)u->id);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[4] = idbuf;
	params[5] = u->text;
	params[6] = due_on[0] ? due_on : NULL;
	params[7] = recurrence;
	params[8] = PQgetvalue(lock, 0, L_ROW);
	params[9] = actor;
	params[10] = req->request_id;
	if ((rc = db_exec(req->db, &MS_UPDATE_SQL, params, &res)) != EM_OK) {
		rc = map_constraint(req, MS_CONSTRAINTS, rc, u->reply);
		goto out;
	}
	reply_row(req, u->reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
out:
	PQclear(lock);
	return rc;
}

enum em_err milestones_update(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply)
{
	struct ms_update u = {req, args->id[0], 0, body, NULL, reply};
	enum em_err rc;
	char *text;

	if ((rc = require_if_match(req, reply, &u.version)) != EM_OK)
		return rc;
	ms_validate(body, false, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the change to the milestone is not valid");
	if (json_object_size(body) == 0)
		return reply_fail(reply, EM_EINVAL, "the body names no field to change");
	if (!(text = json_dumps(body, JSON_COMPACT)))
		return EM_EINTERNAL;
	u.text = text;
	rc = db_tx(req->db, update_tx, &u);
	free(text);
	return rc;
}

/* --- Transitions ------------------------------------------------------------------------ */

/* Is from → to allowed? If not, the reply names the moves that are. */
static bool move_allowed(const char *from, const char *to, struct em_reply *reply)
{
	for (size_t i = 0; i < sizeof(NEXT) / sizeof(NEXT[0]); i++) {
		if (strcmp(NEXT[i].from, from) != 0)
			continue;
		if (!NEXT[i].to[0]) {
			reply_fail(reply, EM_ECONFLICT,
				   "from %s: no transition is allowed (%s is final)", from, from);
			return false;
		}
		if (strcmp(NEXT[i].to[0], to) == 0 || strcmp(NEXT[i].to[1], to) == 0)
			return true;
		reply_fail(reply, EM_ECONFLICT, "from %s: allowed %s, %s", from, NEXT[i].to[0],
			   NEXT[i].to[1]);
		return false;
	}
	reply_fail(reply, EM_ECONFLICT, "from %s: no transition is known", from);
	return false;
}

struct ms_move {
	struct em_req *req;
	int64_t id;
	long version;
	json_t *body;
	const char *to, *comment;
	struct em_reply *reply;
};

static enum em_err move_tx(struct db_conn *db, void *arg)
{
	struct ms_move *m = arg;
	struct em_req *req = m->req;
	struct idem idem;
	char bufs[3][24], idbuf[24], actor[24];
	const char *params[11];
	PGresult *lock = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(m->reply);
	if ((rc = idem_begin(req, m->body, &idem, m->reply)) != EM_OK || idem.replayed)
		return rc;
	if ((rc = milestone_lock(req, m->id, &lock, m->reply)) != EM_OK)
		return rc;
	/* A head moves its organization's milestones along; cancelling is the operators'. */
	if (req->caller.role == EM_ROLE_HEAD && strcmp(m->to, "cancelled") == 0 &&
	    strcmp(PQgetvalue(lock, 0, L_LEVEL), "organization") == 0 &&
	    db_int64(lock, 0, L_ORG) == req->caller.organization_id) {
		rc = reply_fail(m->reply, EM_EFORBIDDEN,
				"a milestone is cancelled by an operator (admin, regional, or "
				"municipal for its territory); a head reports progress");
		goto out;
	}
	if ((rc = roadmap_may_write(req, PQgetvalue(lock, 0, L_LEVEL), db_int64(lock, 0, L_ORG),
				    req->caller.role == EM_ROLE_HEAD, m->reply)) != EM_OK)
		goto out;
	if (atol(PQgetvalue(lock, 0, L_VERSION)) != m->version) {
		rc = reply_fail(m->reply, EM_EPRECOND,
				"the milestone has changed: its ETag is now \"%s\"",
				PQgetvalue(lock, 0, L_VERSION));
		goto out;
	}
	if (!move_allowed(PQgetvalue(lock, 0, L_STATUS), m->to, m->reply)) {
		rc = EM_ECONFLICT;
		goto out;
	}
	scope_params(req, bufs, params);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)m->id);
	snprintf(actor, sizeof(actor), "%lld", (long long)req->caller.user_id);
	params[4] = idbuf;
	params[5] = m->to;
	params[6] = m->comment;
	params[7] = PQgetvalue(lock, 0, L_STATUS);
	params[8] = PQgetvalue(lock, 0, L_ROW);
	params[9] = actor;
	params[10] = req->request_id;
	if ((rc = db_exec(req->db, &MS_MOVE, params, &res)) != EM_OK)
		goto out;
	reply_row(req, m->reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	rc = idem_finish(req, &idem, m->reply);
	PQclear(res);
out:
	PQclear(lock);
	return rc;
}

static const struct field MOVE_FIELDS[] = {
	{"to", F_ENUM, true, false, 0, 0, STATUSES},
	{"comment", F_STRING, false, true, 1, 2000, NULL},
};

enum em_err milestones_transition(struct em_req *req, const struct em_args *args, json_t *body,
				  struct em_reply *reply)
{
	struct ms_move m = {.req = req, .id = args->id[0], .body = body, .reply = reply};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &m.version)) != EM_OK)
		return rc;
	validate_object(body, MOVE_FIELDS, 2, reply);
	m.to = json_string_value(json_object_get(body, "to"));
	m.comment = json_string_value(json_object_get(body, "comment"));
	if (m.to && strcmp(m.to, "cancelled") == 0 && !m.comment)
		reply_field_error(reply, "comment", "is required when to is cancelled: say why");
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the transition is not valid");
	return db_tx(req->db, move_tx, &m);
}

/* --- Participants ----------------------------------------------------------------------- */

#define PART_JSON(p, g, o)                                                                  \
	"jsonb_build_object('milestone_id', " p ".milestone_id, 'manager_id', " g ".id, "      \
	"'full_name', " g ".full_name, 'organization_id', " g ".organization_id, "            \
	"'organization_name', " o ".short_name, 'municipality_id', " g ".municipality_id, "   \
	"'region_id', " g ".region_id, 'added_by', " p ".added_by, 'added_at', " p             \
	".created_at)"

/* One row per visible milestone (none: 404): its participants the caller may see. */
DB_STMT(PART_LIST) = {
	"milestone_participants",
	"SELECT coalesce((SELECT jsonb_agg(" PART_JSON("p", "g", "o") " ORDER BY "
	"  g.full_name COLLATE \"ru-x-icu\", g.id) FROM milestone_participants p "
	"  JOIN managers g ON g.id = p.manager_id "
	"  LEFT JOIN organizations o ON o.id = g.organization_id "
	"  WHERE p.milestone_id = m.id AND"
	SQL_SCOPE("g.region_id", "g.municipality_id", "g.organization_id") "), '[]'::jsonb) "
	"FROM milestones m JOIN roadmaps r ON r.id = m.roadmap_id "
	"WHERE m.id = $5::bigint AND" MS_SCOPE("r"),
	5};

/* $5 milestone (locked), $6 manager, $7 actor, $8 request id. The manager must be
 * visible to the caller, active and in the roadmap's territory. */
DB_STMT(PART_ADD) = {
	"milestone_participant_add",
	"WITH r AS (SELECT r.* FROM roadmaps r JOIN milestones m ON m.roadmap_id = r.id "
	"  WHERE m.id = $5::bigint),"
	" g AS (SELECT g.* FROM managers g, r WHERE g.id = $6::bigint AND g.status = 'active' "
	"  AND" SQL_SCOPE("g.region_id", "g.municipality_id", "g.organization_id")
	"  AND g.region_id = r.region_id "
	"  AND (r.municipality_id IS NULL OR g.municipality_id = r.municipality_id) "
	"  AND (r.organization_id IS NULL OR g.organization_id = r.organization_id)),"
	" ins AS (INSERT INTO milestone_participants (milestone_id, manager_id, added_by) "
	"  SELECT $5::bigint, g.id, $7::bigint FROM g RETURNING *),"
	" bump AS (UPDATE milestones m SET version = m.version + 1, updated_at = now() "
	"  FROM ins WHERE m.id = ins.milestone_id RETURNING m.id),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $7::bigint, $1, 'milestone', ins.milestone_id, "
	"  'participant_add', NULL, to_jsonb(ins), $8, r.region_id, r.municipality_id, "
	"  r.organization_id FROM ins, r) "
	"SELECT " PART_JSON("ins", "g", "o") " FROM ins JOIN g ON g.id = ins.manager_id "
	"LEFT JOIN organizations o ON o.id = g.organization_id",
	8};

/* $5 milestone (locked), $6 manager, $7 actor, $8 request id. */
DB_STMT(PART_REMOVE) = {
	"milestone_participant_remove",
	"WITH del AS (DELETE FROM milestone_participants p WHERE p.milestone_id = $5::bigint "
	"  AND p.manager_id = $6::bigint RETURNING p.*),"
	" bump AS (UPDATE milestones m SET version = m.version + 1, updated_at = now() "
	"  FROM del WHERE m.id = del.milestone_id RETURNING m.id),"
	" r AS (SELECT r.* FROM roadmaps r JOIN milestones m ON m.roadmap_id = r.id "
	"  WHERE m.id = $5::bigint),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $7::bigint, $1, 'milestone', del.milestone_id, "
	"  'participant_remove', to_jsonb(del), NULL, $8, r.region_id, r.municipality_id, "
	"  r.organization_id FROM del, r) "
	"SELECT count(*) FROM del",
	8};

enum em_err milestone_participants_list(struct em_req *req, const struct em_args *args,
					json_t *body, struct em_reply *reply)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;
	size_t len;
	char *text;

	(void)body;
	caller_args(&a, req);
	db_arg_i64(&a, args->id[0]);
	if ((rc = db_exec_args(req->db, &PART_LIST, &a, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return reply_fail(reply, EM_ENOTFOUND, "no milestone %lld", (long long)args->id[0]);
	}
	len = strlen(PQgetvalue(res, 0, 0)) + 64;
	if (!(text = malloc(len))) {
		PQclear(res);
		return EM_EINTERNAL;
	}
	snprintf(text, len, "{\"items\":%s,\"next\":null}", PQgetvalue(res, 0, 0));
	PQclear(res);
	reply->status = 200;
	reply->text = text;
	reply->text_len = strlen(text);
	reply->content_type = "application/json";
	return EM_OK;
}

struct part_op {
	struct em_req *req;
	int64_t milestone_id, manager_id;
	json_t *body; /* add: the request body, for Idempotency-Key */
	struct em_reply *reply;
};

/* Locks the milestone and checks the caller may change its participants. */
static enum em_err part_begin(struct part_op *p, PGresult **lock)
{
	enum em_err rc;

	if ((rc = milestone_lock(p->req, p->milestone_id, lock, p->reply)) != EM_OK)
		return rc;
	rc = roadmap_may_write(p->req, PQgetvalue(*lock, 0, L_LEVEL), db_int64(*lock, 0, L_ORG),
			       false, p->reply);
	if (rc != EM_OK) {
		PQclear(*lock);
		*lock = NULL;
	}
	return rc;
}

static void part_params(struct part_op *p, char bufs[3][24], char ids[3][24],
			const char *params[8])
{
	scope_params(p->req, bufs, params);
	snprintf(ids[0], 24, "%lld", (long long)p->milestone_id);
	snprintf(ids[1], 24, "%lld", (long long)p->manager_id);
	snprintf(ids[2], 24, "%lld", (long long)p->req->caller.user_id);
	params[4] = ids[0];
	params[5] = ids[1];
	params[6] = ids[2];
	params[7] = p->req->request_id;
}

static enum em_err add_tx(struct db_conn *db, void *arg)
{
	struct part_op *p = arg;
	struct idem idem;
	char bufs[3][24], ids[3][24], location[128];
	const char *params[8];
	PGresult *lock = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(p->reply);
	if ((rc = idem_begin(p->req, p->body, &idem, p->reply)) != EM_OK || idem.replayed)
		return rc;
	if ((rc = part_begin(p, &lock)) != EM_OK)
		return rc;
	PQclear(lock);
	part_params(p, bufs, ids, params);
	if ((rc = db_exec(p->req->db, &PART_ADD, params, &res)) != EM_OK) {
		if (rc == EM_ECONFLICT)
			return reply_fail(p->reply, EM_ECONFLICT,
					  "manager %lld already takes part in milestone %lld",
					  (long long)p->manager_id, (long long)p->milestone_id);
		return rc;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		reply_field_error(p->reply, "manager_id",
				  "no active manager in your scope and the roadmap's territory");
		return reply_fail(p->reply, EM_EINVAL,
				  "manager_id: no active manager in your scope and the roadmap's "
				  "territory");
	}
	snprintf(location, sizeof(location), "/api/v1/milestones/%lld/participants/%lld",
		 (long long)p->milestone_id, (long long)p->manager_id);
	p->reply->status = 201;
	p->reply->text = strdup(PQgetvalue(res, 0, 0));
	p->reply->text_len = p->reply->text ? strlen(p->reply->text) : 0;
	p->reply->content_type = "application/json";
	reply_header(p->reply, "Location", location);
	PQclear(res);
	if (!p->reply->text)
		return EM_EINTERNAL;
	return idem_finish(p->req, &idem, p->reply);
}

static const struct field PART_FIELDS[] = {
	{"manager_id", F_ID, true, false, 0, 0, NULL},
};

enum em_err milestone_participants_add(struct em_req *req, const struct em_args *args,
				       json_t *body, struct em_reply *reply)
{
	struct part_op p = {req, args->id[0], 0, body, reply};

	validate_object(body, PART_FIELDS, 1, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the participant is not valid");
	p.manager_id = (int64_t)json_integer_value(json_object_get(body, "manager_id"));
	return db_tx(req->db, add_tx, &p);
}

static enum em_err remove_tx(struct db_conn *db, void *arg)
{
	struct part_op *p = arg;
	char bufs[3][24], ids[3][24];
	const char *params[8];
	PGresult *lock = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(p->reply);
	if ((rc = part_begin(p, &lock)) != EM_OK)
		return rc;
	PQclear(lock);
	part_params(p, bufs, ids, params);
	if ((rc = db_exec(p->req->db, &PART_REMOVE, params, &res)) != EM_OK)
		return rc;
	bool removed = atol(PQgetvalue(res, 0, 0)) > 0;
	PQclear(res);
	if (!removed)
		return reply_fail(p->reply, EM_ENOTFOUND,
				  "manager %lld does not take part in milestone %lld",
				  (long long)p->manager_id, (long long)p->milestone_id);
	p->reply->status = 204;
	return EM_OK;
}

enum em_err milestone_participants_remove(struct em_req *req, const struct em_args *args,
					  json_t *body, struct em_reply *reply)
{
	struct part_op p = {req, args->id[0], args->id[1], NULL, reply};

	(void)body;
	return db_tx(req->db, remove_tx, &p);
}
