/*
 * routes.c — every route the server has, as data, in the order of
 * api/openapi.yaml: method, pattern, roles allowed, handler, flags. The
 * dispatcher (src/http/server.c) checks the body, the token and the role
 * before a handler runs; handlers add only the row-level scope check.
 * ROUTE_READ_REPLICA marks what may read from the read replica: lists,
 * scores, aggregates, outliers, warnings and the cycle report. Writes, single objects
 * (their ETag feeds If-Match), users, submissions and /auth stay on the primary.
 */
#include "effmon/auth.h"
#include "effmon/calibration.h"
#include "effmon/cycle.h"
#include "effmon/lint.h"
#include "effmon/ops.h"
#include "effmon/monitoring.h"
#include "effmon/registry.h"
#include "effmon/router.h"
#include "effmon/warnings.h"

/* Who keeps the registry. */
#define ADMIN_REGIONAL (EM_ROLE_ADMIN | EM_ROLE_REGIONAL)
#define OPERATORS (EM_ROLE_ADMIN | EM_ROLE_REGIONAL | EM_ROLE_MUNICIPAL)
/* Who may read personal data: not portals. */
#define MANAGER_READERS (OPERATORS | EM_ROLE_HEAD | EM_ROLE_EXPERT)
#define RESERVE_READERS (OPERATORS | EM_ROLE_EXPERT)
/* Who may read submissions: not portals (aggregates only). */
#define SUBMISSION_READERS (OPERATORS | EM_ROLE_HEAD | EM_ROLE_EXPERT)
/* Who may read the management cycle (attestations, recommendations, decisions,
 * roadmaps): not portals; a head reads what is its own. */
#define CYCLE_READERS (OPERATORS | EM_ROLE_HEAD | EM_ROLE_EXPERT)
#define ATTESTERS (EM_ROLE_ADMIN | EM_ROLE_REGIONAL | EM_ROLE_EXPERT)

const struct em_route ROUTES[] = {
	{"GET", "/healthz", EM_ROLES_PUBLIC, ops_healthz, ROUTE_NO_DB},
	{"GET", "/readyz", EM_ROLES_PUBLIC, ops_readyz, 0},
	{"GET", "/metrics", EM_ROLES_PUBLIC, ops_metrics, ROUTE_NO_DB},
	{"GET", "/api/v1/openapi.yaml", EM_ROLES_PUBLIC, ops_openapi, ROUTE_NO_DB},
	{"GET", "/docs", EM_ROLES_PUBLIC, ops_docs, ROUTE_NO_DB},
	{"POST", "/api/v1/auth/token", EM_ROLES_PUBLIC, auth_token_handler, ROUTE_JSON_BODY},
	{"GET", "/api/v1/auth/me", EM_ROLES_ALL, auth_me_handler, 0},

	{"GET", "/api/v1/users", OPERATORS, resource_list, 0, &USERS},
	{"POST", "/api/v1/users", OPERATORS, users_create, ROUTE_JSON_BODY, &USERS},
	{"GET", "/api/v1/users/{id}", OPERATORS, resource_get, 0, &USERS},
	{"PATCH", "/api/v1/users/{id}", OPERATORS, users_update, ROUTE_JSON_BODY, &USERS},

	{"GET", "/api/v1/regions", EM_ROLES_ALL, resource_list, ROUTE_READ_REPLICA, &REGIONS},
	{"POST", "/api/v1/regions", EM_ROLE_ADMIN, resource_create, ROUTE_JSON_BODY, &REGIONS},
	{"GET", "/api/v1/regions/{id}", EM_ROLES_ALL, resource_get, 0, &REGIONS},
	{"PATCH", "/api/v1/regions/{id}", EM_ROLE_ADMIN, resource_update, ROUTE_JSON_BODY,
	 &REGIONS},

	{"GET", "/api/v1/municipalities", EM_ROLES_ALL, resource_list, ROUTE_READ_REPLICA,
	 &MUNICIPALITIES},
	{"POST", "/api/v1/municipalities", ADMIN_REGIONAL, resource_create, ROUTE_JSON_BODY,
	 &MUNICIPALITIES},
	{"GET", "/api/v1/municipalities/{id}", EM_ROLES_ALL, resource_get, 0, &MUNICIPALITIES},
	{"PATCH", "/api/v1/municipalities/{id}", ADMIN_REGIONAL, resource_update, ROUTE_JSON_BODY,
	 &MUNICIPALITIES},

	{"GET", "/api/v1/organizations", EM_ROLES_ALL, resource_list, ROUTE_READ_REPLICA,
	 &ORGANIZATIONS},
	{"POST", "/api/v1/organizations", OPERATORS, resource_create, ROUTE_JSON_BODY,
	 &ORGANIZATIONS},
	{"GET", "/api/v1/organizations/{id}", EM_ROLES_ALL, resource_get, 0, &ORGANIZATIONS},
	{"PATCH", "/api/v1/organizations/{id}", OPERATORS, resource_update, ROUTE_JSON_BODY,
	 &ORGANIZATIONS},

	{"GET", "/api/v1/directions", EM_ROLES_ALL, resource_list, ROUTE_READ_REPLICA, &DIRECTIONS},
	{"GET", "/api/v1/directions/{id}", EM_ROLES_ALL, resource_get, 0, &DIRECTIONS},

	{"GET", "/api/v1/competencies", EM_ROLES_ALL, resource_list, ROUTE_READ_REPLICA,
	 &COMPETENCIES},
	{"POST", "/api/v1/competencies", EM_ROLE_ADMIN, resource_create, ROUTE_JSON_BODY,
	 &COMPETENCIES},
	{"GET", "/api/v1/competencies/{id}", EM_ROLES_ALL, resource_get, 0, &COMPETENCIES},
	{"PATCH", "/api/v1/competencies/{id}", EM_ROLE_ADMIN, resource_update, ROUTE_JSON_BODY,
	 &COMPETENCIES},

	{"GET", "/api/v1/managers", MANAGER_READERS, resource_list, ROUTE_READ_REPLICA, &MANAGERS},
	{"POST", "/api/v1/managers", OPERATORS, resource_create, ROUTE_JSON_BODY, &MANAGERS},
	{"GET", "/api/v1/managers/{id}", MANAGER_READERS, resource_get, 0, &MANAGERS},
	{"PATCH", "/api/v1/managers/{id}", OPERATORS, resource_update, ROUTE_JSON_BODY, &MANAGERS},
	{"GET", "/api/v1/managers/{id}/appointments", MANAGER_READERS, managers_appointments_list,
	 0, &MANAGERS},
	{"POST", "/api/v1/managers/{id}/appointments", OPERATORS, managers_appoint, ROUTE_JSON_BODY,
	 &MANAGERS},
	{"POST", "/api/v1/managers/{id}/dismissal", OPERATORS, managers_dismiss, ROUTE_JSON_BODY,
	 &MANAGERS},

	{"GET", "/api/v1/reserve", RESERVE_READERS, resource_list, ROUTE_READ_REPLICA, &RESERVE},
	{"POST", "/api/v1/reserve", OPERATORS, resource_create, ROUTE_JSON_BODY, &RESERVE},
	{"GET", "/api/v1/reserve/{id}", RESERVE_READERS, resource_get, 0, &RESERVE},
	{"PATCH", "/api/v1/reserve/{id}", OPERATORS, resource_update, ROUTE_JSON_BODY, &RESERVE},
	{"GET", "/api/v1/reserve/{id}/transitions", RESERVE_READERS, reserve_transitions_list, 0,
	 &RESERVE},
	{"POST", "/api/v1/reserve/{id}/transitions", OPERATORS, reserve_transition, ROUTE_JSON_BODY,
	 &RESERVE},

	{"GET", "/api/v1/campaigns", EM_ROLES_ALL, resource_list, ROUTE_READ_REPLICA, &CAMPAIGNS},
	{"POST", "/api/v1/campaigns", ADMIN_REGIONAL, campaigns_create, ROUTE_JSON_BODY,
	 &CAMPAIGNS},
	{"GET", "/api/v1/campaigns/{id}", EM_ROLES_ALL, resource_get, 0, &CAMPAIGNS},
	{"PATCH", "/api/v1/campaigns/{id}", ADMIN_REGIONAL, campaigns_update, ROUTE_JSON_BODY,
	 &CAMPAIGNS},
	{"POST", "/api/v1/campaigns/{id}/transitions", ADMIN_REGIONAL, campaigns_transition,
	 ROUTE_JSON_BODY, &CAMPAIGNS},
	{"GET", "/api/v1/campaigns/{id}/indicators", EM_ROLES_ALL, campaign_indicators_list, 0,
	 &INDICATORS},
	{"POST", "/api/v1/campaigns/{id}/indicators", ADMIN_REGIONAL, campaign_indicators_create,
	 ROUTE_JSON_BODY, &INDICATORS},
	{"GET", "/api/v1/campaigns/{id}/lint", EM_ROLES_ALL, campaign_lint, 0, &CAMPAIGNS},
	{"GET", "/api/v1/indicators/{id}", EM_ROLES_ALL, resource_get, 0, &INDICATORS},
	{"PATCH", "/api/v1/indicators/{id}", ADMIN_REGIONAL, indicators_update, ROUTE_JSON_BODY,
	 &INDICATORS},
	{"DELETE", "/api/v1/indicators/{id}", ADMIN_REGIONAL, indicators_delete, 0, &INDICATORS},
	{"GET", "/api/v1/campaigns/{id}/imports", ADMIN_REGIONAL, imports_list, 0},
	{"POST", "/api/v1/campaigns/{id}/imports", ADMIN_REGIONAL, imports_create,
	 ROUTE_RAW_BODY | ROUTE_LARGE_BODY},

	{"GET", "/api/v1/submissions", SUBMISSION_READERS, submissions_list, ROUTE_NEGOTIATES,
	 &SUBMISSIONS},
	{"GET", "/api/v1/submissions/{id}", SUBMISSION_READERS, resource_get, 0, &SUBMISSIONS},
	{"PUT", "/api/v1/submissions/{id}/values", OPERATORS | EM_ROLE_HEAD, submissions_put_values,
	 ROUTE_JSON_BODY, &SUBMISSIONS},
	{"POST", "/api/v1/submissions/{id}/transitions", OPERATORS | EM_ROLE_HEAD,
	 submissions_transition, ROUTE_JSON_BODY, &SUBMISSIONS},
	{"GET", "/api/v1/submissions/{id}/history", SUBMISSION_READERS, submissions_history, 0,
	 &SUBMISSIONS},

	/* Scores and analysis: personal rows for operators, experts and a head
	 * (its own row); aggregates without personal data for portals too. */
	{"GET", "/api/v1/campaigns/{id}/scores", SUBMISSION_READERS, campaign_scores_list,
	 ROUTE_NEGOTIATES | ROUTE_READ_REPLICA},
	{"GET", "/api/v1/campaigns/{id}/outliers", OPERATORS | EM_ROLE_EXPERT, campaign_outliers,
	 ROUTE_NEGOTIATES | ROUTE_READ_REPLICA},
	/* Objectivity calibration: a head sees its own organization's values only. */
	{"GET", "/api/v1/campaigns/{id}/calibration", SUBMISSION_READERS, campaign_calibration,
	 ROUTE_NEGOTIATES | ROUTE_READ_REPLICA},
	/* Early warnings: operators and experts in their scope, a head its own. */
	{"GET", "/api/v1/campaigns/{id}/warnings", SUBMISSION_READERS, campaign_warnings_list,
	 ROUTE_READ_REPLICA},
	/* What-if catalog and thresholds: operators; a municipal operator's figures are its own. */
	{"POST", "/api/v1/campaigns/{id}/simulations", OPERATORS, campaign_simulate,
	 ROUTE_JSON_BODY},
	{"GET", "/api/v1/campaigns/{id}/simulations", OPERATORS, campaign_simulations_list, 0},
	{"GET", "/api/v1/managers/{id}/scores", MANAGER_READERS, manager_scores_get,
	 ROUTE_READ_REPLICA},
	{"GET", "/api/v1/aggregates", OPERATORS | EM_ROLE_EXPERT | EM_ROLE_PORTAL, aggregates_get,
	 ROUTE_NEGOTIATES | ROUTE_READ_REPLICA},
	{"GET", "/api/v1/public/aggregates", EM_ROLES_PUBLIC, public_aggregates_get,
	 ROUTE_NEGOTIATES | ROUTE_READ_REPLICA},

	/* The management cycle: attestation, recommendations, decisions. */
	{"GET", "/api/v1/attestations", CYCLE_READERS, attestations_list, 0},
	{"POST", "/api/v1/attestations", ATTESTERS, attestations_create, ROUTE_JSON_BODY},
	{"GET", "/api/v1/attestations/{id}", CYCLE_READERS, attestations_get, 0},
	{"PATCH", "/api/v1/attestations/{id}", ATTESTERS, attestations_update, ROUTE_JSON_BODY},
	{"GET", "/api/v1/managers/{id}/attestations", CYCLE_READERS, attestations_of_manager, 0},
	{"GET", "/api/v1/recommendations", CYCLE_READERS, recommendations_list, 0},
	{"POST", "/api/v1/recommendations", OPERATORS, recommendations_create, ROUTE_JSON_BODY},
	{"GET", "/api/v1/recommendations/{id}", CYCLE_READERS, recommendations_get, 0},
	{"PATCH", "/api/v1/recommendations/{id}", OPERATORS, recommendations_update,
	 ROUTE_JSON_BODY},
	{"POST", "/api/v1/recommendations/{id}/transitions", OPERATORS | EM_ROLE_HEAD,
	 recommendations_transition, ROUTE_JSON_BODY},
	{"GET", "/api/v1/recommendations/{id}/history", CYCLE_READERS, recommendations_history, 0},
	{"POST", "/api/v1/campaigns/{id}/recommendation-drafts", ADMIN_REGIONAL,
	 recommendations_drafts, 0},
	{"GET", "/api/v1/decisions", CYCLE_READERS, decisions_list, 0},
	{"POST", "/api/v1/decisions", OPERATORS, decisions_create, ROUTE_JSON_BODY},
	{"GET", "/api/v1/decisions/{id}", CYCLE_READERS, decisions_get, 0},
	{"POST", "/api/v1/decisions/{id}/revoke", OPERATORS, decisions_revoke, ROUTE_JSON_BODY},

	/* Roadmaps and milestones: heads write progress on their own organization's. */
	{"GET", "/api/v1/roadmaps", CYCLE_READERS, resource_list, ROUTE_READ_REPLICA, &ROADMAPS},
	{"POST", "/api/v1/roadmaps", OPERATORS, roadmaps_create, ROUTE_JSON_BODY, &ROADMAPS},
	{"GET", "/api/v1/roadmaps/{id}", CYCLE_READERS, resource_get, 0, &ROADMAPS},
	{"PATCH", "/api/v1/roadmaps/{id}", OPERATORS, roadmaps_update, ROUTE_JSON_BODY, &ROADMAPS},
	{"GET", "/api/v1/roadmaps/{id}/milestones", CYCLE_READERS, roadmap_milestones_list, 0},
	{"POST", "/api/v1/roadmaps/{id}/milestones", OPERATORS, roadmap_milestones_create,
	 ROUTE_JSON_BODY},
	{"GET", "/api/v1/milestones", CYCLE_READERS, resource_list, ROUTE_READ_REPLICA,
	 &MILESTONES},
	{"GET", "/api/v1/milestones/{id}", CYCLE_READERS, resource_get, 0, &MILESTONES},
	{"PATCH", "/api/v1/milestones/{id}", OPERATORS | EM_ROLE_HEAD, milestones_update,
	 ROUTE_JSON_BODY},
	{"POST", "/api/v1/milestones/{id}/transitions", OPERATORS | EM_ROLE_HEAD,
	 milestones_transition, ROUTE_JSON_BODY},
	{"GET", "/api/v1/milestones/{id}/participants", CYCLE_READERS, milestone_participants_list,
	 0},
	{"POST", "/api/v1/milestones/{id}/participants", OPERATORS, milestone_participants_add,
	 ROUTE_JSON_BODY},
	{"DELETE", "/api/v1/milestones/{id}/participants/{manager_id}", OPERATORS,
	 milestone_participants_remove, 0},

	/* The management-cycle report: operators and experts (a municipal operator, its own). */
	{"GET", "/api/v1/campaigns/{id}/cycle-report", OPERATORS | EM_ROLE_EXPERT, cycle_report_get,
	 ROUTE_NEGOTIATES | ROUTE_READ_REPLICA},

	{"GET", "/api/v1/audit", ADMIN_REGIONAL, audit_list, 0},
};

const size_t NROUTES = sizeof(ROUTES) / sizeof(ROUTES[0]);
