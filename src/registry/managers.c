/*
 * managers.c — heads of organizations (руководители): personal data, the
 * appointment history (appointing closes the previous post; the database's
 * appointments_one_head index keeps one current head per organization) and
 * dismissal. A head sees only the manager of its own organization.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/registry.h"

static const char *const POSITIONS[] = {"director", "acting_director", NULL};
static const char *const STATUSES[] = {"active", "dismissed", NULL};

/* The person: full_name required to create (req), the rest optional. */
/* clang-format off */
#define MGR_PERSON(req)                                                                  \
	{"full_name", F_STRING, req, false, 1, 300, NULL},                                \
	{"position", F_ENUM, false, false, 0, 0, POSITIONS},                              \
	{"email", F_STRING, false, true, 3, 254, NULL},                                   \
	{"phone", F_STRING, false, true, 5, 21, NULL}
#define MGR_QUALIFICATION {"qualification_date", F_DATE, false, true, 0, 0, NULL}
/* clang-format on */
static const struct field MGR_CREATE[] = {
	MGR_PERSON(true),
	{"municipality_id", F_ID, true, false, 0, 0, NULL},
	MGR_QUALIFICATION,
};
static const struct field MGR_UPDATE[] = {MGR_PERSON(false), MGR_QUALIFICATION};

/* The CHECKs managers_email_format and reserve_email_format, in C:
 * local@domain with a dot inside the domain, no '@' twice, no white space. */
bool email_valid(const char *s)
{
	const char *at = strchr(s, '@');
	size_t dlen;

	if (!at || at == s || strchr(at + 1, '@'))
		return false;
	for (const char *p = s; *p; p++)
		if (*p == ' ' || (*p >= '\t' && *p <= '\r'))
			return false;
	dlen = strlen(at + 1);
	for (size_t i = 1; i + 1 < dlen; i++)
		if (at[1 + i] == '.')
			return true;
	return false;
}

/* The same rule as the CHECK managers_phone_format: +? then 5-20 of digits, space, ()-. */
static bool phone_valid(const char *s)
{
	size_t n;

	if (*s == '+')
		s++;
	n = strlen(s);
	if (n < 5 || n > 20)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || *s == ' ' || *s == '(' || *s == ')' || *s == '-'))
			return false;
	return true;
}

static void mgr_check(const json_t *body, bool creating, struct em_reply *reply)
{
	const char *email = json_string_value(json_object_get(body, "email"));
	const char *phone = json_string_value(json_object_get(body, "phone"));

	/* Lengths out of bounds are already reported by the field table. */
	(void)creating;
	if (email && utf8_length(email) >= 3 && utf8_length(email) <= 254 && !email_valid(email))
		reply_field_error(reply, "email", "is not an e-mail address (name@domain.tld)");
	if (phone && strlen(phone) >= 5 && strlen(phone) <= 21 && !phone_valid(phone))
		reply_field_error(reply, "phone",
				  "must be 5 to 20 digits, spaces, brackets or dashes, "
				  "optionally after a leading +");
}

/* clang-format off */
#define MGR_JSON(m)                                                                      \
	"jsonb_build_object('id', " m ".id, 'full_name', " m ".full_name, 'position', " m  \
	".position, 'email', " m ".email, 'phone', " m ".phone, 'municipality_id', " m     \
	".municipality_id, 'region_id', " m ".region_id, 'organization_id', " m            \
	".organization_id, 'qualification_date', " m ".qualification_date, 'status', " m   \
	".status, 'created_at', " m ".created_at, 'updated_at', " m ".updated_at, "        \
	"'version', " m ".version)"
/* clang-format on */

/* A head's scope is its organization: an unassigned manager (organization NULL)
 * must not fall through to the municipality test of em_in_scope, hence 0. */
/* clang-format off */
#define MGR_SCOPE(m) SQL_SCOPE(m ".region_id", m ".municipality_id", \
			       "coalesce(" m ".organization_id, 0)")

DB_STMT(MGR_GET) = {
	"managers_get",
	SQL_GET(MGR_JSON("m"), "managers m", "m", MGR_SCOPE("m")),
	7};
DB_STMT(MGR_LIST) = {
	"managers_list",
	SQL_LIST(MGR_JSON("m"), "managers m", "m", "m.full_name",
		 SQL_LIST_SCOPE("m.region_id", "m.municipality_id",
				"coalesce(m.organization_id, 0)"),
		 " AND ($12::bigint IS NULL OR m.region_id = $12::bigint)"
		 " AND ($13::bigint IS NULL OR m.municipality_id = $13::bigint)"
		 " AND ($14::bigint IS NULL OR m.organization_id = $14::bigint)"
		 " AND ($15::text IS NULL OR m.status = $15)"),
	15};
DB_STMT(MGR_CREATE_SQL) = {
	"managers_create",
	"WITH ins AS (INSERT INTO managers (full_name, position, email, phone, municipality_id, "
	" region_id, qualification_date) "
	" SELECT b->>'full_name', coalesce(b->>'position', 'director'), b->>'email', "
	"  b->>'phone', mu.id, mu.region_id, (b->>'qualification_date')::date "
	" FROM (SELECT $7::jsonb AS b) x JOIN municipalities mu "
	"  ON mu.id = (b->>'municipality_id')::bigint WHERE"
	SQL_SCOPE("mu.region_id", "mu.id", "NULL::bigint") " RETURNING *),"
	SQL_CREATE_AUDIT("manager", "region_id, municipality_id, organization_id", MGR_JSON("ins")),
	9};
DB_STMT(MGR_UPDATE_SQL) = {
	"managers_update",
	"WITH old AS (SELECT * FROM managers m WHERE m.id = $7::bigint AND" MGR_SCOPE("m")
	" FOR UPDATE),"
	SQL_UPDATE_SET("managers", "m", "full_name, position, email, phone, qualification_date",
		       "p.full_name, p.position, p.email, p.phone, p.qualification_date")
	/* The position is the current post's: a correction applies to both. */
	" post AS (UPDATE appointments a SET position = upd.position, updated_at = now(), "
	"  version = a.version + 1 FROM upd WHERE a.manager_id = upd.id AND a.ended_on IS NULL "
	"  AND a.position <> upd.position),"
	SQL_UPDATE_AUDIT("manager", "upd.region_id, upd.municipality_id, upd.organization_id",
			 MGR_JSON("upd")),
	11};
/* clang-format on */

static const struct list_filter MGR_FILTERS[] = {
	{"region_id", FILTER_ID, NULL},
	{"municipality_id", FILTER_ID, NULL},
	{"organization_id", FILTER_ID, NULL},
	{"status", FILTER_ENUM, STATUSES},
};

const struct em_resource MANAGERS = RESOURCE_CRUD(MGR, "manager", "/api/v1/managers", mgr_check,
						  "municipality_id");

/* --- Appointment history ------------------------------------------------------------ */

/* clang-format off */
#define APPT_JSON(a)                                                                     \
	"jsonb_build_object('id', " a ".id, 'manager_id', " a ".manager_id, "              \
	"'organization_id', " a ".organization_id, 'organization_short_name', o.short_name, " \
	"'position', " a ".position, 'started_on', " a ".started_on, 'ended_on', " a        \
	".ended_on, 'end_reason', " a ".end_reason)"
/* clang-format on */

/* One row per visible manager (none: 404), its history as one JSON array. */
/* clang-format off */
DB_STMT(APPT_LIST) = {
	"managers_appointments_list",
	"SELECT coalesce(jsonb_agg(" APPT_JSON("a") " ORDER BY a.started_on, a.id) "
	"  FILTER (WHERE a.id IS NOT NULL), '[]'::jsonb) "
	"FROM managers m LEFT JOIN appointments a ON a.manager_id = m.id "
	" LEFT JOIN organizations o ON o.id = a.organization_id "
	"WHERE m.id = $7::bigint AND" MGR_SCOPE("m") " GROUP BY m.id",
	7};
/* clang-format on */

enum em_err managers_appointments_list(struct em_req *req, const struct em_args *args, json_t *body,
				       struct em_reply *reply)
{
	(void)body;
	/* A manager has a handful of posts: the whole history is one page. */
	return whole_list_reply(req, &APPT_LIST, args->id[0], "manager", reply);
}

/*
 * The manager, locked for the change: version, status, position, the row as
 * JSON (the audit's before), and whether $8 falls before the start of the
 * current appointment. Parameters: scope, $7 id, $8 date.
 */
/* clang-format off */
DB_STMT(MGR_LOCK) = {
	"managers_lock",
	"SELECT m.version, m.status, m.position, to_jsonb(m), a.started_on > $8::date, "
	" a.started_on "
	"FROM managers m LEFT JOIN appointments a ON a.manager_id = m.id AND a.ended_on IS NULL "
	"WHERE m.id = $7::bigint AND" MGR_SCOPE("m") " FOR UPDATE OF m",
	8};
/* clang-format on */

/* The organization of an appointment: in scope? active? Parameters: scope, $7 id. */
/* clang-format off */
DB_STMT(ORG_FOR_APPT) = {
	"managers_appoint_org",
	"SELECT o.status FROM organizations o WHERE o.id = $7::bigint AND"
	SQL_SCOPE("o.region_id", "o.municipality_id", "o.id") " FOR SHARE",
	7};
/* clang-format on */

/* Closes the current post; a separate statement so that the insert after it
 * sees the closed row (reappointment to the same organization). $1 manager, $2 date. */
/* clang-format off */
DB_STMT(APPT_CLOSE) = {
	"managers_appointment_close",
	"UPDATE appointments SET ended_on = $2::date, end_reason = 'reassigned', "
	" updated_at = now(), version = version + 1 "
	"WHERE manager_id = $1::bigint AND ended_on IS NULL",
	2};
/* clang-format on */

/* $1 role, $7 manager, $8 organization, $9 position, $10 started_on, $11 before (jsonb),
 * $12 actor, $13 request id. */
/* clang-format off */
DB_STMT(APPT_INSERT) = {
	"managers_appoint",
	"WITH ins AS (INSERT INTO appointments (manager_id, organization_id, position, started_on) "
	" VALUES ($7::bigint, $8::bigint, $9, $10::date) RETURNING *),"
	" upd AS (UPDATE managers m SET organization_id = ins.organization_id, "
	"  municipality_id = o.municipality_id, position = ins.position, "
	"  version = m.version + 1, updated_at = now() "
	"  FROM ins JOIN organizations o ON o.id = ins.organization_id "
	"  WHERE m.id = ins.manager_id RETURNING m.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $12::bigint, $1, 'manager', upd.id, 'appoint', "
	" $11::jsonb, to_jsonb(upd) || jsonb_build_object('appointment', to_jsonb(ins)), $13, "
	" upd.region_id, upd.municipality_id, upd.organization_id FROM upd, ins) "
	"SELECT " MGR_JSON("upd") ", upd.version FROM upd",
	13};
/* clang-format on */

/* $1 role, $7 manager, $8 dismissed_on, $9 reason, $10 before, $11 actor, $12 request id. */
/* clang-format off */
DB_STMT(MGR_DISMISS) = {
	"managers_dismiss",
	"WITH cl AS (UPDATE appointments SET ended_on = $8::date, end_reason = $9, "
	"  updated_at = now(), version = version + 1 "
	"  WHERE manager_id = $7::bigint AND ended_on IS NULL RETURNING *),"
	" upd AS (UPDATE managers m SET status = 'dismissed', organization_id = NULL, "
	"  version = m.version + 1, updated_at = now() WHERE m.id = $7::bigint RETURNING m.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $11::bigint, $1, 'manager', upd.id, 'dismiss', "
	" $10::jsonb, to_jsonb(upd) || jsonb_build_object('dismissed_on', $8::date, 'reason', $9, "
	"  'appointment', (SELECT to_jsonb(cl) FROM cl)), $12, upd.region_id, "
	" upd.municipality_id, (SELECT cl.organization_id FROM cl) FROM upd) "
	"SELECT " MGR_JSON("upd") ", upd.version FROM upd",
	12};
/* clang-format on */

struct mgr_action;
/* Pushes an action's statement arguments; may fail, with its answer in reply. */
typedef enum em_err (*mgr_args_fn)(struct mgr_action *a, PGresult *lock, struct db_args *args);

/* What sets an appointment and a dismissal apart. */
struct mgr_verb {
	const char *what; /* "the <what> is not valid" */
	const struct field *fields;
	size_t nfields;
	const char *date_field; /* started_on or dismissed_on */
	const struct db_stmt *st;
	mgr_args_fn args;
	unsigned status; /* 201 with Location for an appointment */
};

struct mgr_action {
	const struct mgr_verb *verb;
	struct em_req *req;
	int64_t id;
	long version;
	json_t *body;
	struct em_reply *reply;
	const char *date; /* the body's date_field */
};

/*
 * Locks the manager and checks what every action needs: visible (404), the
 * If-Match version (412), still active (409), date not before the current
 * post's start (400, field date_field). On EM_OK *out is the lock row.
 */
static enum em_err mgr_lock(struct mgr_action *a, PGresult **out)
{
	const char *date_field = a->verb->date_field;
	struct db_args args;
	PGresult *res;
	enum em_err rc;

	caller_args(&args, a->req);
	db_arg_i64(&args, a->id);
	db_arg_text(&args, a->date);
	if ((rc = db_exec_args(a->req->db, &MGR_LOCK, &args, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0) {
		rc = reply_fail(a->reply, EM_ENOTFOUND, "no manager %lld", (long long)a->id);
	} else if (atol(PQgetvalue(res, 0, 0)) != a->version) {
		rc = reply_changed(a->reply, "manager", PQgetvalue(res, 0, 0));
	} else if (strcmp(PQgetvalue(res, 0, 1), "active") != 0) {
		rc = reply_fail(a->reply, EM_ECONFLICT,
				"the manager is dismissed: no appointment or dismissal after that");
	} else if (db_bool(res, 0, 4)) {
		reply_field_error(a->reply, date_field,
				  "must not be before the start of the current appointment (%s)",
				  PQgetvalue(res, 0, 5));
		rc = reply_fail(a->reply, EM_EINVAL, "%s: before the current appointment began",
				date_field);
	}
	if (rc != EM_OK) {
		PQclear(res);
		return rc;
	}
	*out = res;
	return EM_OK;
}

/* An appointment or a dismissal: Idempotency-Key, the lock, then the verb's statement. */
static enum em_err action_tx(struct db_conn *db, void *arg)
{
	struct mgr_action *a = arg;
	const struct mgr_verb *v = a->verb;
	struct em_req *req = a->req;
	struct idem idem;
	struct db_args args;
	char location[160];
	PGresult *lock = NULL, *res;
	enum em_err rc;

	(void)db;
	reply_clear(a->reply);
	if ((rc = idem_begin(req, a->body, &idem, a->reply)) != EM_OK || idem.replayed)
		return rc;
	if ((rc = mgr_lock(a, &lock)) != EM_OK)
		return rc;
	if ((rc = v->args(a, lock, &args)) != EM_OK)
		goto out;
	if ((rc = db_exec_args(req->db, v->st, &args, &res)) != EM_OK) {
		if (rc == EM_ECONFLICT &&
		    strcmp(db_last_constraint(req->db), "appointments_one_head") == 0)
			rc = reply_fail(a->reply, EM_ECONFLICT,
					"the organization already has a head: dismiss or reassign "
					"them first");
		goto out;
	}
	reply_row(req, a->reply, v->status, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	if (v->status == 201) {
		snprintf(location, sizeof(location), "/api/v1/managers/%lld/appointments",
			 (long long)a->id);
		reply_header(a->reply, "Location", location);
	}
	rc = idem_finish(req, &idem, a->reply);
out:
	PQclear(lock);
	return rc;
}

/* If-Match and the body of an action, then its transaction. */
static enum em_err action_run(const struct mgr_verb *v, struct em_req *req,
			      const struct em_args *args, json_t *body, struct em_reply *reply)
{
	struct mgr_action a = {
		.verb = v, .req = req, .id = args->id[0], .body = body, .reply = reply};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &a.version)) != EM_OK)
		return rc;
	if (!validate_object(body, v->fields, v->nfields, reply))
		return reply_fail(reply, EM_EINVAL, "the %s is not valid", v->what);
	a.date = json_string_value(json_object_get(body, v->date_field));
	return db_tx(req->db, action_tx, &a);
}

/* The organization must be in scope and active; the current post is closed first.
 * The position is the body's, or the manager's. */
static enum em_err appoint_args(struct mgr_action *a, PGresult *lock, struct db_args *args)
{
	int64_t org_id = (int64_t)json_integer_value(json_object_get(a->body, "organization_id"));
	const char *position = json_string_value(json_object_get(a->body, "position"));
	struct em_req *req = a->req;
	PGresult *res;
	enum em_err rc;

	caller_args(args, req);
	db_arg_i64(args, org_id);
	if ((rc = db_exec_args(req->db, &ORG_FOR_APPT, args, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "active") != 0) {
		const char *why = PQntuples(res) > 0 ? "the organization is archived"
						     : "no such organization in your scope";
		PQclear(res);
		reply_field_error(a->reply, "organization_id", "%s", why);
		return reply_fail(a->reply, EM_EINVAL, "organization_id: %s", why);
	}
	PQclear(res);

	db_args_init(args);
	db_arg_i64(args, a->id);
	db_arg_text(args, a->date);
	if ((rc = db_exec_args(req->db, &APPT_CLOSE, args, &res)) != EM_OK)
		return rc;
	PQclear(res);

	caller_args(args, req);
	db_arg_i64(args, a->id);
	db_arg_i64(args, org_id);
	db_arg_text(args, position ? position : PQgetvalue(lock, 0, 2));
	db_arg_text(args, a->date);
	db_arg_text(args, PQgetvalue(lock, 0, 3));
	db_arg_i64(args, req->caller.user_id);
	db_arg_text(args, req->request_id);
	return EM_OK;
}

static enum em_err dismiss_args(struct mgr_action *a, PGresult *lock, struct db_args *args)
{
	caller_args(args, a->req);
	db_arg_i64(args, a->id);
	db_arg_text(args, a->date);
	db_arg_text(args, json_string_value(json_object_get(a->body, "reason")));
	db_arg_text(args, PQgetvalue(lock, 0, 3));
	db_arg_i64(args, a->req->caller.user_id);
	db_arg_text(args, a->req->request_id);
	return EM_OK;
}

static const struct field APPOINT_FIELDS[] = {
	{"organization_id", F_ID, true, false, 0, 0, NULL},
	{"position", F_ENUM, false, false, 0, 0, POSITIONS},
	{"started_on", F_DATE, true, false, 0, 0, NULL},
};
static const struct field DISMISS_FIELDS[] = {
	{"dismissed_on", F_DATE, true, false, 0, 0, NULL},
	{"reason", F_STRING, true, false, 1, 500, NULL},
};

static const struct mgr_verb APPOINT = {
	"appointment", APPOINT_FIELDS, ARRAY_LEN(APPOINT_FIELDS),
	"started_on",  &APPT_INSERT,   appoint_args,
	201,
};
static const struct mgr_verb DISMISS = {
	"dismissal",
	DISMISS_FIELDS,
	ARRAY_LEN(DISMISS_FIELDS),
	"dismissed_on",
	&MGR_DISMISS,
	dismiss_args,
	200,
};

enum em_err managers_appoint(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply)
{
	return action_run(&APPOINT, req, args, body, reply);
}

enum em_err managers_dismiss(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply)
{
	return action_run(&DISMISS, req, args, body, reply);
}
