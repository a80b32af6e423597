/*
 * users.c — user accounts: read, created and changed by the admin and by
 * operators within their scope. Nobody grants a role or a scope wider than
 * their own; accounts are deactivated, never deleted; a password hash never
 * leaves this file (not in replies, not in audit rows, not in SQL bodies).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/auth.h"
#include "effmon/registry.h"

static const char *const ROLES[] = {
	"admin", "regional_operator", "municipal_operator", "head", "expert", "portal", NULL};

/* clang-format off */
#define USER_JSON(u)                                                                    \
	"jsonb_build_object('id', " u ".id, 'login', " u ".login, 'role', " u ".role, "   \
	"'region_id', " u ".region_id, 'municipality_id', " u ".municipality_id, "         \
	"'organization_id', " u ".organization_id, 'manager_id', " u ".manager_id, "       \
	"'active', " u ".active, 'created_at', " u ".created_at, 'updated_at', " u         \
	".updated_at, 'version', " u ".version)"
/* clang-format on */

/* A user's effective territory: its own scope column, or its scope's parents. */
/* clang-format off */
#define USER_FROM                                                                       \
	" FROM users u LEFT JOIN municipalities um ON um.id = u.municipality_id"           \
	" LEFT JOIN organizations uo ON uo.id = u.organization_id"
#define USER_REGION "coalesce(u.region_id, um.region_id, uo.region_id)"
#define USER_MUNI "coalesce(u.municipality_id, uo.municipality_id)"
/* clang-format on */
/*
 * Who sees a user. Not em_in_scope(): its fallback from the municipality to
 * the region would show a municipal operator the region's own accounts
 * (regional operators, experts, portals). A municipal operator sees the
 * accounts of its municipality — its peers and the heads of its
 * organizations; a regional operator every account of its region; admins
 * are the admin's alone (they have no region).
 */
/* clang-format off */
#define USER_SCOPE                                                                      \
	" ($1 = 'admin' OR ($1 = 'regional_operator' AND " USER_REGION " = $3::bigint)"    \
	" OR ($1 = 'municipal_operator' AND " USER_MUNI " = $4::bigint))"
/* clang-format on */

/* Columns: json, version, role. */
/* clang-format off */
DB_STMT(USER_GET) = {
	"users_get",
	"SELECT " USER_JSON("u") ", u.version, u.role" USER_FROM
	" WHERE u.id = $7::bigint AND" USER_SCOPE,
	7};
DB_STMT(USER_LIST) = {
	"users_list",
	"SELECT " USER_JSON("u") ", u.id, u.login" USER_FROM " WHERE" USER_SCOPE
	SQL_SEARCH("u.login")
	" AND ($12::text IS NULL OR u.role = $12)"
	" AND ($13::boolean IS NULL OR u.active = $13::boolean)"
	" AND ($14::bigint IS NULL OR " USER_REGION " = $14::bigint)"
	" AND ($15::bigint IS NULL OR " USER_MUNI " = $15::bigint)"
	" AND ($16::bigint IS NULL OR u.organization_id = $16::bigint)"
	SQL_LIST_KEYSET("u.login", "u.id") SQL_LIST_ORDER("u.login", "u.id"),
	16};
/* clang-format on */

/*
 * $7 body without the password, $8 actor (NULL for the effmond command, whose
 * audit rows say 'cli'), $9 request id, $10 password hash.
 * Always one row: the user (NULL when not created) and, per scope field,
 * whether it names an object inside the caller's scope. A head's manager
 * must be the current head of that organization.
 */
/* clang-format off */
DB_STMT(USER_CREATE_SQL) = {
	"users_create",
	"WITH t AS (SELECT b->>'login' AS login, b->>'role' AS role,"
	"  (b->>'region_id')::bigint AS region_id,"
	"  (b->>'municipality_id')::bigint AS municipality_id,"
	"  (b->>'organization_id')::bigint AS organization_id,"
	"  (b->>'manager_id')::bigint AS manager_id FROM (SELECT $7::jsonb AS b) x),"
	" ok AS (SELECT"
	"  (t.region_id IS NULL OR EXISTS (SELECT 1 FROM regions r WHERE r.id = t.region_id AND"
	SQL_SCOPE("r.id", "NULL::bigint", "NULL::bigint") ")) AS region_ok,"
	"  (t.municipality_id IS NULL OR EXISTS (SELECT 1 FROM municipalities m"
	"   WHERE m.id = t.municipality_id AND" SQL_SCOPE("m.region_id", "m.id", "NULL::bigint")
	")) AS municipality_ok,"
	"  (t.organization_id IS NULL OR EXISTS (SELECT 1 FROM organizations o"
	"   WHERE o.id = t.organization_id AND" SQL_SCOPE("o.region_id", "o.municipality_id", "o.id")
	")) AS organization_ok,"
	"  (t.manager_id IS NULL OR EXISTS (SELECT 1 FROM managers g WHERE g.id = t.manager_id"
	"   AND g.organization_id = t.organization_id AND"
	SQL_SCOPE("g.region_id", "g.municipality_id", "g.organization_id") ")) AS manager_ok"
	"  FROM t),"
	" ins AS (INSERT INTO users (login, password_hash, role, region_id, municipality_id,"
	"  organization_id, manager_id)"
	"  SELECT t.login, $10, t.role, t.region_id, t.municipality_id, t.organization_id,"
	"  t.manager_id FROM t, ok"
	"  WHERE ok.region_ok AND ok.municipality_ok AND ok.organization_ok AND ok.manager_ok"
	"  RETURNING *),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $8::bigint, CASE WHEN $8 IS NULL THEN 'cli' ELSE $1"
	"  END, 'user', ins.id, 'create', NULL, "
	USER_JSON("ins") ", $9, coalesce(ins.region_id, m.region_id, o.region_id),"
	"  coalesce(ins.municipality_id, o.municipality_id), ins.organization_id FROM ins"
	"  LEFT JOIN municipalities m ON m.id = ins.municipality_id"
	"  LEFT JOIN organizations o ON o.id = ins.organization_id) "
	"SELECT " USER_JSON("ins") ", ins.id, ins.version, ok.region_ok, ok.municipality_ok,"
	" ok.organization_ok, ok.manager_ok FROM ok LEFT JOIN ins ON true",
	10};
/* clang-format on */

/*
 * $7 id, $8 body ({"active": bool} or {}), $9 expected version, $10 actor,
 * $11 request id, $12 new password hash or NULL. The audit row records that
 * the password changed, never the hash.
 */
/* clang-format off */
DB_STMT(USER_UPDATE_SQL) = {
	"users_update",
	"WITH old AS (SELECT u.*, " USER_REGION " AS eff_region, " USER_MUNI " AS eff_muni"
	USER_FROM " WHERE u.id = $7::bigint AND" USER_SCOPE " FOR UPDATE OF u),"
	" upd AS (UPDATE users u SET active = coalesce(($8::jsonb->>'active')::boolean, u.active),"
	"  password_hash = coalesce($12, u.password_hash),"
	"  version = u.version + 1, updated_at = now() "
	"  FROM old WHERE u.id = old.id AND u.version = $9::int RETURNING u.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, 'user', upd.id, 'update', "
	USER_JSON("old") ", " USER_JSON("upd") " || CASE WHEN $12::text IS NULL THEN '{}'::jsonb"
	"  ELSE jsonb_build_object('password_changed', true) END,"
	"  $11, old.eff_region, old.eff_muni, upd.organization_id FROM upd JOIN old USING (id)) "
	"SELECT " USER_JSON("upd") ", upd.version FROM upd",
	12};
/* clang-format on */

static const struct list_filter USER_FILTERS[] = {
	{"role", FILTER_ENUM, ROLES},         {"active", FILTER_BOOL, NULL},
	{"region_id", FILTER_ID, NULL},       {"municipality_id", FILTER_ID, NULL},
	{"organization_id", FILTER_ID, NULL},
};

/* Reads only: creation and changes have their own handlers below. */
const struct em_resource USERS = RESOURCE_READ(USER, "user", "/api/v1/users");

/* --- Rules ------------------------------------------------------------------------- */

/* The roles a caller may grant: never one above its own. */
static bool may_grant(enum em_role caller, enum em_role role)
{
	switch (caller) {
	case EM_ROLE_ADMIN: return true;
	case EM_ROLE_REGIONAL: return role != EM_ROLE_ADMIN;
	case EM_ROLE_MUNICIPAL: return role == EM_ROLE_HEAD;
	default: return false;
	}
}

/* The one scope field a role requires (NULL: none, for admins). */
static const char *scope_field_of(enum em_role role)
{
	switch (role) {
	case EM_ROLE_ADMIN: return NULL;
	case EM_ROLE_MUNICIPAL: return "municipality_id";
	case EM_ROLE_HEAD: return "organization_id";
	default: return "region_id";
	}
}

static const char *const SCOPE_FIELDS[] = {"region_id", "municipality_id", "organization_id"};
/* The object each scope field names, for "no such ... in your scope". */
static const char *const SCOPE_NOUNS[] = {"region", "municipality", "organization"};

/* The characters of users_login_format; the field table checks the length. */
static bool login_ok(const char *s)
{
	for (size_t i = 0; s[i]; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._@-", s[i])))
			return false;
	return true;
}

static bool present(const json_t *body, const char *field)
{
	const json_t *v = json_object_get(body, field);
	return v && !json_is_null(v);
}

/* --- POST /users ------------------------------------------------------------------- */

static const struct field CREATE_FIELDS[] = {
	{"login", F_STRING, true, false, 3, 64, NULL},
	{"password", F_STRING, true, false, 8, 1024, NULL},
	{"role", F_ENUM, true, false, 0, 0, ROLES},
	{"region_id", F_ID, false, true, 0, 0, NULL},
	{"municipality_id", F_ID, false, true, 0, 0, NULL},
	{"organization_id", F_ID, false, true, 0, 0, NULL},
	{"manager_id", F_ID, false, true, 0, 0, NULL},
};

/* $7 body, $8 actor (NULL: the effmond command), $9 request id, $10 the hash in ctx. */
static enum em_err create_args(struct create_run *c, struct db_args *a)
{
	db_arg_text(a, c->body_text);
	db_arg_id(a, c->req->caller.user_id);
	db_arg_text(a, c->req->request_id);
	db_arg_text(a, c->ctx);
	return EM_OK;
}

/* No user created: name each scope field that is not in the caller's scope. */
static enum em_err create_refused(struct create_run *c, PGresult *res)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(PQgetvalue(res, 0, 3 + i), "t") != 0)
			reply_field_error(c->reply, SCOPE_FIELDS[i], "no such %s in your scope",
					  SCOPE_NOUNS[i]);
	/* The manager is checked against the organization: only if that one was found. */
	if (strcmp(PQgetvalue(res, 0, 6), "t") != 0 && strcmp(PQgetvalue(res, 0, 5), "t") == 0)
		reply_field_error(c->reply, "manager_id",
				  "no such manager heading this organization in your scope");
	return reply_fail(c->reply, EM_EINVAL, "the user's scope is not within yours");
}

/*
 * Idempotency-Key compares request bodies by a SHA-256 kept for a day; a
 * plain password in it would give whoever reads the table a fast way to test
 * guesses. The password is replaced there by its HMAC under the server's
 * secret.
 */
static json_t *fingerprint_new(const struct em_req *req, const json_t *body, const char *password)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char hex[2 * sizeof(mac) + 1];
	crypto_auth_hmacsha256_state st;
	json_t *fp = json_deep_copy(body);

	if (!fp)
		return NULL;
	/* The effmond command has no secret loaded, and no Idempotency-Key to
	 * compare with: any key serves there. */
	static const unsigned char NO_KEY[1];
	const unsigned char *key = req->cfg->secret ? req->cfg->secret : NO_KEY;
	crypto_auth_hmacsha256_init(&st, key, req->cfg->secret ? req->cfg->secret_len : 0);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)password, strlen(password));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	if (json_object_set_new(fp, "password", json_string(hex)) != 0) {
		json_decref(fp);
		return NULL;
	}
	return fp;
}

enum em_err users_create(struct em_req *req, const struct em_args *args, json_t *body,
			 struct em_reply *reply)
{
	struct create_run c = {.req = req,
			       .reply = reply,
			       .st = &USER_CREATE_SQL,
			       .path = USERS.path,
			       .push = create_args,
			       .refused = create_refused};
	const char *role_name, *login, *password, *want;
	char hash[128];
	json_t *stored = NULL;
	char *text = NULL;
	enum em_role role;
	enum em_err rc;

	(void)args;
	role_name = json_string_value(json_object_get(body, "role"));
	role = em_role_parse(role_name);
	if (role != EM_ROLE_NONE && !may_grant(req->caller.role, role))
		return reply_fail(reply, EM_EFORBIDDEN, "a %s may not create %s users",
				  em_role_name(req->caller.role), role_name);
	validate_object(body, CREATE_FIELDS, ARRAY_LEN(CREATE_FIELDS), reply);
	login = json_string_value(json_object_get(body, "login"));
	if (login && utf8_length(login) >= 3 && utf8_length(login) <= 64 && !login_ok(login))
		reply_field_error(reply, "login", "may contain only A-Z a-z 0-9 . _ @ -");
	if (role != EM_ROLE_NONE) {
		want = scope_field_of(role);
		for (int i = 0; i < 3; i++) {
			bool given = present(body, SCOPE_FIELDS[i]);
			bool wanted = want && strcmp(want, SCOPE_FIELDS[i]) == 0;
			if (wanted && !given)
				reply_field_error(reply, SCOPE_FIELDS[i],
						  "is required for the role %s", role_name);
			else if (!wanted && given)
				reply_field_error(reply, SCOPE_FIELDS[i],
						  "must not be set for the role %s (it takes %s)",
						  role_name, want ? want : "no scope");
		}
		if (role != EM_ROLE_HEAD && present(body, "manager_id"))
			reply_field_error(reply, "manager_id", "is only for head users");
	}
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the user is not valid");

	/* Hashing takes tens of milliseconds: never inside the transaction. */
	password = json_string_value(json_object_get(body, "password"));
	if ((rc = password_hash(password, hash)) != EM_OK)
		return rc;
	rc = EM_EINTERNAL;
	/* Idempotency-Key compares the fingerprint; the statement gets the body
	 * without the password. */
	if (!(c.body = fingerprint_new(req, body, password)) || !(stored = json_deep_copy(body)) ||
	    json_object_del(stored, "password") != 0 || !(text = json_dumps(stored, JSON_COMPACT)))
		goto out;
	c.body_text = text;
	c.ctx = hash;
	rc = create_run(&c);
out:
	sodium_memzero(hash, sizeof(hash));
	json_decref(c.body);
	json_decref(stored);
	free(text);
	return rc;
}

/* --- PATCH /users/{id} ------------------------------------------------------------- */

static const struct field UPDATE_FIELDS[] = {
	{"active", F_BOOL, false, false, 0, 0, NULL},
	{"password", F_STRING, false, false, 8, 1024, NULL},
};
/* Fixed at creation: a different role, scope or login is a different account. */
static const char *const FIXED_FIELDS[] = {
	"login", "role", "region_id", "municipality_id", "organization_id", "manager_id", NULL};

struct user_change {
	bool deactivating;
	const char *hash; /* NULL: the password stays */
};

/* Changing an account is granting it again; one's own password is always one's own. */
static enum em_err update_check(struct update_run *u)
{
	const struct user_change *ch = u->ctx;
	struct em_req *req = u->req;
	enum em_role role;
	PGresult *res;
	enum em_err rc;

	if ((rc = resource_find(req, u->reply, &USER_GET, u->id, "user", &res)) != EM_OK)
		return rc;
	role = em_role_parse(PQgetvalue(res, 0, 2));
	PQclear(res);
	if (u->id != req->caller.user_id && !may_grant(req->caller.role, role))
		return reply_fail(u->reply, EM_EFORBIDDEN, "a %s may not change %s users",
				  em_role_name(req->caller.role), em_role_name(role));
	if (u->id == req->caller.user_id && ch->deactivating)
		return reply_fail(u->reply, EM_ECONFLICT,
				  "you cannot deactivate yourself: ask another administrator");
	return EM_OK;
}

/* $12 the new password's hash, or NULL. */
static void update_args(struct update_run *u, struct db_args *a)
{
	db_arg_text(a, ((const struct user_change *)u->ctx)->hash);
}

enum em_err users_update(struct em_req *req, const struct em_args *args, json_t *body,
			 struct em_reply *reply)
{
	struct user_change ch = {false, NULL};
	struct update_run u = {.req = req,
			       .reply = reply,
			       .id = args->id[args->n - 1],
			       .st = &USER_UPDATE_SQL,
			       .get = &USER_GET,
			       .entity = "user",
			       .check = update_check,
			       .push = update_args,
			       .ctx = &ch};
	const json_t *active;
	const char *password;
	json_t *rest = NULL, *stored = NULL;
	char hash[128];
	char *text = NULL;
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &u.version)) != EM_OK)
		return rc;
	rc = EM_EINTERNAL;
	if (!(rest = json_deep_copy(body)))
		goto out;
	for (const char *const *f = FIXED_FIELDS; *f; f++)
		if (json_object_get(rest, *f)) {
			reply_field_error(reply, *f, "cannot be changed");
			json_object_del(rest, *f);
		}
	validate_object(rest, UPDATE_FIELDS, ARRAY_LEN(UPDATE_FIELDS), reply);
	if ((rc = change_check(reply, rest, "user")) != EM_OK)
		goto out;
	active = json_object_get(rest, "active");
	ch.deactivating = active && json_is_false(active);
	if ((password = json_string_value(json_object_get(rest, "password")))) {
		if ((rc = password_hash(password, hash)) != EM_OK)
			goto out;
		ch.hash = hash;
		rc = EM_EINTERNAL;
	}
	if (!(stored = json_pack("{}")) ||
	    (active && json_object_set(stored, "active", (json_t *)active) != 0) ||
	    !(text = json_dumps(stored, JSON_COMPACT)))
		goto out;
	u.body_text = text;
	rc = update_run(&u);
out:
	sodium_memzero(hash, sizeof(hash));
	json_decref(rest);
	json_decref(stored);
	free(text);
	return rc;
}

/* --- effmond create-user ----------------------------------------------------------- */

static const char *no_value(void *ctx, enum em_value_kind kind, const char *name)
{
	(void)ctx;
	(void)kind;
	(void)name;
	return NULL;
}

/* One line for the command's stderr: the detail and every field error. */
static void cli_error(const struct em_reply *reply, enum em_err rc, char *err, size_t errlen)
{
	size_t i, n;
	json_t *e;

	n = (size_t)snprintf(err, errlen, "%s",
			     reply->detail[0]        ? reply->detail
			     : rc == EM_EUNAVAILABLE ? "the database is unavailable"
						     : "cannot create the user");
	json_array_foreach(reply->errors, i, e) {
		const char *field = json_string_value(json_object_get(e, "field"));
		const char *message = json_string_value(json_object_get(e, "message"));
		if (n >= errlen)
			break;
		if (strstr(reply->detail, message)) /* the detail already says it */
			continue;
		n += (size_t)snprintf(err + n, errlen - n, "%s %s: %s", i ? ";" : ":", field,
				      message);
	}
}

enum em_err users_create_cli(const struct em_config *cfg, json_t *body, long long *id, char *err,
			     size_t errlen)
{
	struct em_req req = {
		.method = "POST",
		.path = "/api/v1/users",
		.request_id = "cli",
		.caller = {.role = EM_ROLE_ADMIN},
		.cfg = cfg,
		.lookup = no_value,
	};
	struct em_reply reply = {0};
	enum em_err rc;

	if (!(req.db = db_thread_conn()))
		return EM_EINTERNAL;
	rc = users_create(&req, NULL, body, &reply);
	if (rc == EM_OK) {
		/* The created user as POST /users answers it. */
		json_t *user = reply.text ? json_loadb(reply.text, reply.text_len, 0, NULL) : NULL;
		json_t *uid = json_object_get(user, "id");
		if (json_is_integer(uid))
			*id = (long long)json_integer_value(uid);
		else
			rc = EM_EINTERNAL;
		json_decref(user);
	}
	if (rc != EM_OK)
		cli_error(&reply, rc, err, errlen);
	reply_clear(&reply);
	return rc;
}
