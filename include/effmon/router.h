/*
 * router.h — the static route table and its matcher. The table lives in
 * src/routes.c, one row per route, in the order of api/openapi.yaml.
 */
#ifndef EFFMON_ROUTER_H
#define EFFMON_ROUTER_H

#include "effmon/http.h"

enum route_flags {
	ROUTE_JSON_BODY = 1 << 0,  /* a JSON object body is required */
	ROUTE_RAW_BODY = 1 << 1,   /* body handed over as bytes (imports) */
	ROUTE_NO_DB = 1 << 2,      /* never needs the database */
	ROUTE_LARGE_BODY = 1 << 3, /* body cap is max-import-body */
	ROUTE_NEGOTIATES = 1 << 4, /* gives more than JSON: the handler negotiates (negotiate.h) */
	/* Read-only and content to be as fresh as the replica's lag bound: the
	 * handler runs on the read replica's connection when one is configured,
	 * up and not lagging (the bearer check always uses the primary's). */
	ROUTE_READ_REPLICA = 1 << 5,
};

struct em_route {
	const char *method;
	const char *pattern;
	unsigned roles; /* enum em_role bits; 0 = public */
	em_handler handler;
	unsigned flags;
	const void *data; /* handed to the handler: a resource descriptor, say */
};

extern const struct em_route ROUTES[];
extern const size_t NROUTES;

enum router_result { ROUTER_FOUND, ROUTER_NOT_FOUND, ROUTER_METHOD_NOT_ALLOWED };

/*
 * Finds the route for method and path. HEAD matches GET routes. On
 * ROUTER_METHOD_NOT_ALLOWED, and on ROUTER_FOUND too, allow gets the
 * methods the path accepts ("GET, HEAD, OPTIONS").
 */
enum router_result router_match(const char *method, const char *path, const struct em_route **route,
				struct em_args *args, char *allow, size_t allowlen);

/* Parses a strict {id}: 1..INT64_MAX, digits only, no leading zero. */
bool router_parse_id(const char *s, size_t len, int64_t *out);

/* Index of a route in ROUTES, for metrics. */
static inline size_t route_index(const struct em_route *r)
{
	return (size_t)(r - ROUTES);
}

#endif
