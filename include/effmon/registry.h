/*
 * registry.h — the registry's resources: descriptors for the generic
 * handlers (src/resource.c) and the handlers of actions that are more than
 * a row change (appointments, dismissal, reserve transitions, users, audit).
 */
#ifndef EFFMON_REGISTRY_H
#define EFFMON_REGISTRY_H

#include "effmon/resource.h"

extern const struct em_resource REGIONS, MUNICIPALITIES, ORGANIZATIONS, DIRECTIONS, COMPETENCIES,
	MANAGERS, RESERVE, USERS;

/* The audit columns every write statement fills: actor, role, entity, id, action,
 * before, after, request id, and the row's scope. */
/* clang-format off */
#define SQL_AUDIT_COLUMNS                                                                \
	"INSERT INTO audit_events (actor_user_id, actor_role, entity, entity_id, action, " \
	"before, after, request_id, region_id, municipality_id, organization_id) "
/* clang-format on */

/* A create's audit row from ins and its answer: json, id, version. scope:
 * the region, municipality and organization columns of ins. */
/* clang-format off */
#define SQL_CREATE_AUDIT(entity, scope, json)                                            \
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $8::bigint, $1, '" entity "', id, 'create', NULL, " \
	" to_jsonb(ins), $9, " scope " FROM ins) "                                         \
	"SELECT " json ", ins.id, ins.version FROM ins"
/* clang-format on */
/* An update's version bump of alias a when it is still $9, after its SET list. */
/* clang-format off */
#define SQL_UPDATE_VERSION(a)                                                            \
	"  version = " a ".version + 1, updated_at = now() "                               \
	"  FROM old WHERE " a ".id = old.id AND " a ".version = $9::int RETURNING " a ".*),"
/* clang-format on */
/* An update's upd: the columns cols of table (alias a) set from the body $8
 * (pcols: the same columns of p), when the version is still $9. */
/* clang-format off */
#define SQL_UPDATE_SET(table, a, cols, pcols)                                            \
	" upd AS (UPDATE " table " " a " SET (" cols ") = (SELECT " pcols                  \
	" FROM jsonb_populate_record(" a ", $8::jsonb) p)," SQL_UPDATE_VERSION(a)
/* clang-format on */
/* An update's audit row from old and upd, and its answer: json, version. */
/* clang-format off */
#define SQL_UPDATE_AUDIT(entity, scope, json)                                            \
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, '" entity "', upd.id, 'update', " \
	" to_jsonb(old), to_jsonb(upd), $11, " scope " FROM upd JOIN old USING (id)) "      \
	"SELECT " json ", upd.version FROM upd"
/* clang-format on */

/* The kinds of organization (organizations.kind), NULL-terminated: the one
 * list every enum check, filter and weight table uses. */
extern const char *const EM_ORG_KINDS[];

/* INN checksum (ФНС): 10 digits, the last a weighted sum mod 11 mod 10. */
bool inn_valid(const char *inn);

/* E-mail as the CHECKs managers_email_format / reserve_email_format accept it. */
bool email_valid(const char *s);

enum em_err managers_appointments_list(struct em_req *req, const struct em_args *args, json_t *body,
				       struct em_reply *reply);
enum em_err managers_appoint(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply);
enum em_err managers_dismiss(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply);
enum em_err reserve_transition(struct em_req *req, const struct em_args *args, json_t *body,
			       struct em_reply *reply);
enum em_err reserve_transitions_list(struct em_req *req, const struct em_args *args, json_t *body,
				     struct em_reply *reply);
enum em_err users_create(struct em_req *req, const struct em_args *args, json_t *body,
			 struct em_reply *reply);
/* The rules of POST /users for `effmond create-user`, with an admin's powers
 * and no acting user (its audit row says 'cli'). On failure err holds one
 * line naming every problem. */
enum em_err users_create_cli(const struct em_config *cfg, json_t *body, long long *id, char *err,
			     size_t errlen);
enum em_err users_update(struct em_req *req, const struct em_args *args, json_t *body,
			 struct em_reply *reply);
enum em_err audit_list(struct em_req *req, const struct em_args *args, json_t *body,
		       struct em_reply *reply);

#endif
