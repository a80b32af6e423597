/*
 * auth.c — who is calling: the bearer check against the user row (cached
 * per worker thread until a change of users, or of the scope they imply, is
 * announced on effmon_users: a deactivated user's tokens stop working with
 * the next request, without a query per request), login with per-login
 * throttling, and GET /auth/me.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "effmon/auth.h"
#include "effmon/db.h"
#include "effmon/log.h"
#include "effmon/validate.h"

#define USER_CACHE_SLOTS 256
/* A backstop only: a change is announced, and a connection that cannot
 * LISTEN caches nothing. */
#define USER_CACHE_TTL_S 30

static const char *const ROLE_NAMES[] = {
	"admin", "regional_operator", "municipal_operator", "head", "expert", "portal"};

const char *em_role_name(enum em_role role)
{
	for (int i = 0; i < 6; i++)
		if (role == (enum em_role)(1 << i))
			return ROLE_NAMES[i];
	return "none";
}

enum em_role em_role_parse(const char *name)
{
	for (int i = 0; name && i < 6; i++)
		if (strcmp(name, ROLE_NAMES[i]) == 0)
			return (enum em_role)(1 << i);
	return EM_ROLE_NONE;
}

/* The user's own scope columns, then the scope it implies (a municipal
 * operator's region, a head's municipality and region). */
#define USER_SELECT                                                            \
	"SELECT u.id, u.login, u.role, coalesce(u.region_id, 0), "             \
	"coalesce(u.municipality_id, 0), coalesce(u.organization_id, 0), "     \
	"coalesce(u.manager_id, 0), u.active, "                                \
	"coalesce(u.region_id, m.region_id, o.region_id, 0), "                 \
	"coalesce(u.municipality_id, o.municipality_id, 0), u.password_hash "  \
	"FROM users u LEFT JOIN municipalities m ON m.id = u.municipality_id " \
	"LEFT JOIN organizations o ON o.id = u.organization_id "

DB_STMT(USER_BY_ID) = {"users_by_id", USER_SELECT "WHERE u.id = $1::bigint", 1};
DB_STMT(USER_BY_LOGIN) = {"users_by_login", USER_SELECT "WHERE lower(u.login) = lower($1)", 1};
/* Creates or locks the login's throttle row for the rest of the transaction, so
 * that concurrent attempts on one login are counted one after another; returns
 * the seconds left of a lock, or NULL. The seconds are counted from the clock once
 * the row is ours, not from this transaction's start: a lock set by the attempt
 * we waited for began after that, and would read as more than its length. */
DB_STMT(THROTTLE_LOCK) = {
	"login_throttle_lock",
	"INSERT INTO login_throttle AS t (login, failures, window_start) "
	"VALUES (lower($1), 0, now()) ON CONFLICT (login) DO UPDATE SET login = t.login "
	"RETURNING CASE WHEN t.locked_until > clock_timestamp() "
	" THEN ceil(extract(epoch FROM t.locked_until - clock_timestamp()))::int END",
	1};
/* $2 failures allowed within $3 seconds; the one that reaches $2 locks for $3 s. */
DB_STMT(THROTTLE_FAIL) = {
	"login_throttle_fail",
	"INSERT INTO login_throttle AS t (login, failures, window_start, locked_until) "
	"VALUES (lower($1), 1, now(), CASE WHEN $2::int <= 1 THEN now() + make_interval(secs => "
	"$3::int) END) "
	"ON CONFLICT (login) DO UPDATE SET "
	" failures = CASE WHEN t.window_start < now() - make_interval(secs => $3::int) "
	"  THEN 1 ELSE t.failures + 1 END,"
	" window_start = CASE WHEN t.window_start < now() - make_interval(secs => $3::int) "
	"  THEN now() ELSE t.window_start END,"
	" locked_until = CASE WHEN (CASE WHEN t.window_start < now() - make_interval(secs => "
	"$3::int) THEN 1 ELSE t.failures + 1 END) >= $2::int "
	"  THEN now() + make_interval(secs => $3::int) END",
	3};
DB_STMT(THROTTLE_CLEAR) = {"login_throttle_clear",
			   "DELETE FROM login_throttle WHERE login = lower($1)", 1};

static void user_from_row(const PGresult *r, struct auth_user *u)
{
	u->id = db_int64(r, 0, 0);
	snprintf(u->login, sizeof(u->login), "%s", PQgetvalue(r, 0, 1));
	u->role = em_role_parse(PQgetvalue(r, 0, 2));
	u->region_id = db_int64(r, 0, 3);
	u->municipality_id = db_int64(r, 0, 4);
	u->organization_id = db_int64(r, 0, 5);
	u->manager_id = db_int64(r, 0, 6);
	u->active = db_bool(r, 0, 7);
	u->scope_region_id = db_int64(r, 0, 8);
	u->scope_municipality_id = db_int64(r, 0, 9);
}

enum em_err users_by_id(struct db_conn *db, int64_t id, struct auth_user *out)
{
	struct db_args a;
	PGresult *r;
	enum em_err rc;

	db_args_init(&a);
	db_arg_i64(&a, id);
	if ((rc = db_exec_args(db, &USER_BY_ID, &a, &r)) != EM_OK)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return EM_ENOTFOUND;
	}
	user_from_row(r, out);
	PQclear(r);
	return EM_OK;
}

static json_t *id_or_null(int64_t v)
{
	return v ? json_integer(v) : json_null();
}

json_t *users_to_json(const struct auth_user *u)
{
	return json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:b}", "id", (json_int_t)u->id,
			 "login", u->login, "role", em_role_name(u->role), "region_id",
			 id_or_null(u->region_id), "municipality_id",
			 id_or_null(u->municipality_id), "organization_id",
			 id_or_null(u->organization_id), "manager_id", id_or_null(u->manager_id),
			 "active", u->active);
}

/* Per-thread cache of user rows, direct-mapped by id. A slot is good while
 * the users channel's generation is the one it was fetched under: every
 * thread reads its own connection's notifications first, and the generation
 * is process-wide, so once any thread has seen a change none serves the old
 * row. */
struct user_slot {
	struct auth_user user;
	int64_t fetched_at;
	unsigned long generation;
};
static _Thread_local struct user_slot user_cache[USER_CACHE_SLOTS];

static enum em_err cached_user(struct db_conn *db, int64_t id, int64_t now, struct auth_user *out)
{
	struct user_slot *slot = &user_cache[(uint64_t)id % USER_CACHE_SLOTS];
	bool announced = db_notify_current(db);
	unsigned long generation = db_notify_generation(DB_CHANNEL_USERS);
	enum em_err rc;

	if (announced && slot->user.id == id && slot->generation == generation &&
	    now - slot->fetched_at < USER_CACHE_TTL_S) {
		*out = slot->user;
		return EM_OK;
	}
	if ((rc = users_by_id(db, id, out)) != EM_OK)
		return rc;
	slot->user = *out;
	slot->fetched_at = now;
	/* The generation read before the fetch: a change announced while it ran
	 * makes the next request fetch again. Without LISTEN nothing is kept. */
	slot->generation = announced ? generation : 0;
	if (!announced)
		slot->user.id = 0;
	return EM_OK;
}

enum em_err auth_authenticate(struct em_req *req, const char *authorization, const char **why)
{
	struct auth_claims claims;
	struct auth_user user;
	int64_t now = (int64_t)time(NULL);
	enum em_err rc;

	if ((rc = auth_bearer_verify(authorization, now, &claims, why)) != EM_OK)
		return rc;
	rc = cached_user(req->db, claims.user_id, now, &user);
	if (rc == EM_ENOTFOUND) {
		*why = "no such user";
		return EM_EUNAUTH;
	}
	if (rc != EM_OK)
		return rc;
	if (!user.active) {
		*why = "user deactivated";
		return EM_EUNAUTH;
	}
	if (user.role != claims.role || user.region_id != claims.region_id ||
	    user.municipality_id != claims.municipality_id ||
	    user.organization_id != claims.organization_id) {
		*why = "role or scope claims do not match the user";
		return EM_EUNAUTH;
	}
	req->caller.user_id = user.id;
	req->caller.role = user.role;
	req->caller.region_id = user.scope_region_id;
	req->caller.municipality_id = user.scope_municipality_id;
	req->caller.organization_id = user.organization_id;
	req->caller.manager_id = user.manager_id;
	return EM_OK;
}

static const struct field TOKEN_FIELDS[] = {
	{"login", F_STRING, true, false, 1, 64, NULL},
	{"password", F_STRING, true, false, 1, 1024, NULL},
};

struct login {
	struct em_req *req;
	const char *login, *password;
	struct auth_user user;
	bool ok;
	long retry_after;
};

/* One transaction: lock the login's throttle row, check the password, count a
 * failure or clear the count. A failure commits its count and answers 401. */
static enum em_err login_tx(struct db_conn *db, void *arg)
{
	struct login *l = arg;
	struct db_args a;
	PGresult *r;
	enum em_err rc;

	l->ok = false;
	l->retry_after = 0;
	db_args_init(&a);
	db_arg_text(&a, l->login);
	if ((rc = db_exec_args(db, &THROTTLE_LOCK, &a, &r)) != EM_OK)
		return rc;
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
		l->retry_after = db_int64(r, 0, 0) > 0 ? db_int64(r, 0, 0) : 1;
		PQclear(r);
		return EM_OK;
	}
	PQclear(r);

	if ((rc = db_exec_args(db, &USER_BY_LOGIN, &a, &r)) != EM_OK)
		return rc;
	if (PQntuples(r) == 1) {
		user_from_row(r, &l->user);
		l->ok = password_verify(PQgetvalue(r, 0, 10), l->password) && l->user.active;
	} else {
		password_burn(l->password);
	}
	PQclear(r);

	if (!l->ok) {
		db_arg_i64(&a, l->req->cfg->login_max_failures);
		db_arg_i64(&a, l->req->cfg->login_lock_seconds);
	}
	if ((rc = db_exec_args(db, l->ok ? &THROTTLE_CLEAR : &THROTTLE_FAIL, &a, &r)) != EM_OK)
		return rc;
	PQclear(r);
	return EM_OK;
}

enum em_err auth_token_handler(struct em_req *req, const struct em_args *args, json_t *body,
			       struct em_reply *reply)
{
	struct login l = {.req = req};
	char *token = NULL;
	enum em_err rc;

	(void)args;
	if (!validate_object(body, TOKEN_FIELDS, 2, reply))
		return reply_fail(reply, EM_EINVAL, "login and password are required strings");
	l.login = json_string_value(json_object_get(body, "login"));
	l.password = json_string_value(json_object_get(body, "password"));
	if ((rc = db_tx(req->db, login_tx, &l)) != EM_OK)
		return rc;
	if (l.retry_after > 0) {
		reply->retry_after = l.retry_after;
		return reply_fail(reply, EM_ERATELIMIT,
				  "too many failed logins: try again in %ld seconds",
				  l.retry_after);
	}
	if (!l.ok) {
		log_msg(EM_LOG_INFO, req->request_id, "login failed");
		return reply_fail(reply, EM_EUNAUTH, "invalid login or password");
	}
	if ((rc = token_issue(&l.user, req->cfg->token_ttl, &token)) != EM_OK)
		return rc;
	reply_json(reply, 200,
		   json_pack("{s:s, s:s, s:i}", "access_token", token, "token_type", "Bearer",
			     "expires_in", (int)req->cfg->token_ttl));
	reply_header(reply, "Cache-Control", "no-store");
	free(token);
	return EM_OK;
}

enum em_err auth_me_handler(struct em_req *req, const struct em_args *args, json_t *body,
			    struct em_reply *reply)
{
	struct auth_user user;
	enum em_err rc;

	(void)args;
	(void)body;
	rc = users_by_id(req->db, req->caller.user_id, &user);
	if (rc == EM_ENOTFOUND)
		return reply_fail(reply, EM_EUNAUTH, "the user no longer exists");
	if (rc != EM_OK)
		return rc;
	reply_json(reply, 200, users_to_json(&user));
	return EM_OK;
}
