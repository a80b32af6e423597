/*
 * registry.h — the registry's resources: descriptors for the generic
 * handlers (src/resource.c) and the handlers of actions that are more than
 * a row change (appointments, dismissal, reserve transitions, users, audit).
 */
#ifndef EFFMON_REGISTRY_H
#define EFFMON_REGISTRY_H

#include "effmon/resource.h"

extern const struct em_resource REGIONS, MUNICIPALITIES, ORGANIZATIONS, DIRECTIONS,
	COMPETENCIES, MANAGERS, RESERVE, USERS;

/* The audit columns every write statement fills: actor, role, entity, id, action,
 * before, after, request id, and the row's scope. */
#define SQL_AUDIT_COLUMNS                                                                \
	"INSERT INTO audit_events (actor_user_id, actor_role, entity, entity_id, action, " \
	"before, after, request_id, region_id, municipality_id, organization_id) "

/* The kinds of organization (organizations.kind), NULL-terminated: the one
 * list every enum check, filter and weight table uses. */
extern const char *const EM_ORG_KINDS[];

/* INN checksum (ФНС): 10 digits, the last a weighted sum mod 11 mod 10. */
bool inn_valid(const char *inn);

/* E-mail as the CHECKs managers_email_format / reserve_email_format accept it. */
bool email_valid(const char *s);

enum em_err managers_appointments_list(struct em_req *req, const struct em_args *args,
				       json_t *body, struct em_reply *reply);
enum em_err managers_appoint(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply);
enum em_err managers_dismiss(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply);
enum em_err reserve_transition(struct em_req *req, const struct em_args *args, json_t *body,
			       struct em_reply *reply);
enum em_err reserve_transitions_list(struct em_req *req, const struct em_args *args,
				     json_t *body, struct em_reply *reply);
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
