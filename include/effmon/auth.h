/*
 * auth.h — bearer tokens (issue and verify), argon2id passwords, and the
 * check that a token's claims still match its user.
 */
#ifndef EFFMON_AUTH_H
#define EFFMON_AUTH_H

#include "effmon/config.h"
#include "effmon/http.h"

#define AUTH_LEEWAY_S 30
#define AUTH_MAX_TOKEN 8192

/* The claims of a verified token. */
struct auth_claims {
	int64_t user_id;
	enum em_role role;
	int64_t region_id, municipality_id, organization_id; /* 0: absent */
	int64_t exp;
};

/* A user as the database holds it. */
struct auth_user {
	int64_t id;
	char login[72];
	enum em_role role;
	int64_t region_id, municipality_id, organization_id, manager_id;
	bool active;
	/* The scope the role implies: a municipal operator's region, a head's
	 * municipality and region. */
	int64_t scope_region_id, scope_municipality_id;
};

/* Keeps the keys and expected claims; call once at start (serve). */
enum em_err auth_init(const struct em_config *cfg);
void auth_shutdown(void);

/* Signs an HS256 token for user; *out is malloc'ed and the caller frees it. */
enum em_err token_issue(const struct auth_user *user, long ttl, char **out);

/*
 * Verifies a compact JWT at time now: pinned algorithm, signature, types and
 * values of exp/nbf/iat/iss/aud, sub and role. why gets a short reason for
 * the log (never echoed with the token).
 */
enum em_err token_verify(const char *token, int64_t now, struct auth_claims *out, const char **why);

/* An Authorization header "Bearer <token>" (scheme case-insensitive) verified
 * up to its claims: everything auth_authenticate does before the user lookup. */
enum em_err auth_bearer_verify(const char *authorization, int64_t now, struct auth_claims *out,
			       const char **why);

/* The caller from the Authorization header, checked against the user row. */
enum em_err auth_authenticate(struct em_req *req, const char *authorization, const char **why);

/* Passwords: argon2id through libsodium. */
enum em_err password_hash(const char *password, char out[128]);
bool password_verify(const char *hash, const char *password);
/* Spends the time of one verification, for unknown logins. */
void password_burn(const char *password);

/* Users, as read by authentication. */
enum em_err users_by_id(struct db_conn *db, int64_t id, struct auth_user *out);
json_t *users_to_json(const struct auth_user *u);

/* Handlers. */
enum em_err auth_token_handler(struct em_req *req, const struct em_args *args, json_t *body,
			       struct em_reply *reply);
enum em_err auth_me_handler(struct em_req *req, const struct em_args *args, json_t *body,
			    struct em_reply *reply);

#endif
