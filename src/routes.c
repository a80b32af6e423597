/*
 * routes.c — every route the server has, as data, in the order of
 * api/openapi.yaml: method, pattern, roles allowed, handler, flags. The
 * dispatcher (src/http/server.c) checks the body, the token and the role
 * before a handler runs; handlers add only the row-level scope check.
 */
#include "effmon/auth.h"
#include "effmon/ops.h"
#include "effmon/registry.h"
#include "effmon/router.h"

/* Who keeps the registry. */
#define ADMIN_REGIONAL (EM_ROLE_ADMIN | EM_ROLE_REGIONAL)
#define OPERATORS (EM_ROLE_ADMIN | EM_ROLE_REGIONAL | EM_ROLE_MUNICIPAL)
/* Who may read personal data: not portals. */
#define MANAGER_READERS (OPERATORS | EM_ROLE_HEAD | EM_ROLE_EXPERT)
#define RESERVE_READERS (OPERATORS | EM_ROLE_EXPERT)

const struct em_route ROUTES[] = {
	{"GET", "/healthz", EM_ROLES_PUBLIC, ops_healthz, ROUTE_NO_DB},
	{"GET", "/readyz", EM_ROLES_PUBLIC, ops_readyz, 0},
	{"GET", "/metrics", EM_ROLES_PUBLIC, ops_metrics, ROUTE_NO_DB},
	{"GET", "/api/v1/openapi.yaml", EM_ROLES_PUBLIC, ops_openapi, ROUTE_NO_DB},
	{"POST", "/api/v1/auth/token", EM_ROLES_PUBLIC, auth_token_handler, ROUTE_JSON_BODY},
	{"GET", "/api/v1/auth/me", EM_ROLES_ALL, auth_me_handler, 0},

	{"GET", "/api/v1/users", OPERATORS, resource_list, 0, &USERS},
	{"POST", "/api/v1/users", OPERATORS, users_create, ROUTE_JSON_BODY, &USERS},
	{"GET", "/api/v1/users/{id}", OPERATORS, resource_get, 0, &USERS},
	{"PATCH", "/api/v1/users/{id}", OPERATORS, users_update, ROUTE_JSON_BODY, &USERS},

	{"GET", "/api/v1/regions", EM_ROLES_ALL, resource_list, 0, &REGIONS},
	{"POST", "/api/v1/regions", EM_ROLE_ADMIN, resource_create, ROUTE_JSON_BODY, &REGIONS},
	{"GET", "/api/v1/regions/{id}", EM_ROLES_ALL, resource_get, 0, &REGIONS},
	{"PATCH", "/api/v1/regions/{id}", EM_ROLE_ADMIN, resource_update, ROUTE_JSON_BODY, &REGIONS},

	{"GET", "/api/v1/municipalities", EM_ROLES_ALL, resource_list, 0, &MUNICIPALITIES},
	{"POST", "/api/v1/municipalities", ADMIN_REGIONAL, resource_create, ROUTE_JSON_BODY,
	 &MUNICIPALITIES},
	{"GET", "/api/v1/municipalities/{id}", EM_ROLES_ALL, resource_get, 0, &MUNICIPALITIES},
	{"PATCH", "/api/v1/municipalities/{id}", ADMIN_REGIONAL, resource_update, ROUTE_JSON_BODY,
	 &MUNICIPALITIES},

	{"GET", "/api/v1/organizations", EM_ROLES_ALL, resource_list, 0, &ORGANIZATIONS},
	{"POST", "/api/v1/organizations", OPERATORS, resource_create, ROUTE_JSON_BODY,
	 &ORGANIZATIONS},
	{"GET", "/api/v1/organizations/{id}", EM_ROLES_ALL, resource_get, 0, &ORGANIZATIONS},
	{"PATCH", "/api/v1/organizations/{id}", OPERATORS, resource_update, ROUTE_JSON_BODY,
	 &ORGANIZATIONS},

	{"GET", "/api/v1/directions", EM_ROLES_ALL, resource_list, 0, &DIRECTIONS},
	{"GET", "/api/v1/directions/{id}", EM_ROLES_ALL, resource_get, 0, &DIRECTIONS},

	{"GET", "/api/v1/competencies", EM_ROLES_ALL, resource_list, 0, &COMPETENCIES},
	{"POST", "/api/v1/competencies", EM_ROLE_ADMIN, resource_create, ROUTE_JSON_BODY,
	 &COMPETENCIES},
	{"GET", "/api/v1/competencies/{id}", EM_ROLES_ALL, resource_get, 0, &COMPETENCIES},
	{"PATCH", "/api/v1/competencies/{id}", EM_ROLE_ADMIN, resource_update, ROUTE_JSON_BODY,
	 &COMPETENCIES},

	{"GET", "/api/v1/managers", MANAGER_READERS, resource_list, 0, &MANAGERS},
	{"POST", "/api/v1/managers", OPERATORS, resource_create, ROUTE_JSON_BODY, &MANAGERS},
	{"GET", "/api/v1/managers/{id}", MANAGER_READERS, resource_get, 0, &MANAGERS},
	{"PATCH", "/api/v1/managers/{id}", OPERATORS, resource_update, ROUTE_JSON_BODY, &MANAGERS},
	{"GET", "/api/v1/managers/{id}/appointments", MANAGER_READERS, managers_appointments_list,
	 0, &MANAGERS},
	{"POST", "/api/v1/managers/{id}/appointments", OPERATORS, managers_appoint,
	 ROUTE_JSON_BODY, &MANAGERS},
	{"POST", "/api/v1/managers/{id}/dismissal", OPERATORS, managers_dismiss, ROUTE_JSON_BODY,
	 &MANAGERS},

	{"GET", "/api/v1/reserve", RESERVE_READERS, resource_list, 0, &RESERVE},
	{"POST", "/api/v1/reserve", OPERATORS, resource_create, ROUTE_JSON_BODY, &RESERVE},
	{"GET", "/api/v1/reserve/{id}", RESERVE_READERS, resource_get, 0, &RESERVE},
	{"PATCH", "/api/v1/reserve/{id}", OPERATORS, resource_update, ROUTE_JSON_BODY, &RESERVE},
	{"GET", "/api/v1/reserve/{id}/transitions", RESERVE_READERS, reserve_transitions_list, 0,
	 &RESERVE},
	{"POST", "/api/v1/reserve/{id}/transitions", OPERATORS, reserve_transition,
	 ROUTE_JSON_BODY, &RESERVE},

	{"GET", "/api/v1/audit", ADMIN_REGIONAL, audit_list, 0},
};

const size_t NROUTES = sizeof(ROUTES) / sizeof(ROUTES[0]);
