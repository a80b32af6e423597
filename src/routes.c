/*
 * routes.c — every route the server has, as data, in the order of
 * api/openapi.yaml: method, pattern, roles allowed, handler, flags. The
 * dispatcher (src/http/server.c) checks the body, the token and the role
 * before a handler runs; handlers add only the row-level scope check.
 */
#include "effmon/auth.h"
#include "effmon/ops.h"
#include "effmon/router.h"

const struct em_route ROUTES[] = {
	{"GET", "/healthz", EM_ROLES_PUBLIC, ops_healthz, ROUTE_NO_DB},
	{"GET", "/readyz", EM_ROLES_PUBLIC, ops_readyz, 0},
	{"GET", "/metrics", EM_ROLES_PUBLIC, ops_metrics, ROUTE_NO_DB},
	{"GET", "/api/v1/openapi.yaml", EM_ROLES_PUBLIC, ops_openapi, ROUTE_NO_DB},
	{"POST", "/api/v1/auth/token", EM_ROLES_PUBLIC, auth_token_handler, ROUTE_JSON_BODY},
	{"GET", "/api/v1/auth/me", EM_ROLES_ALL, auth_me_handler, 0},
};

const size_t NROUTES = sizeof(ROUTES) / sizeof(ROUTES[0]);
