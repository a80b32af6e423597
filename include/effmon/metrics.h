/*
 * metrics.h — request counters and latency histogram for /metrics.
 */
#ifndef EFFMON_METRICS_H
#define EFFMON_METRICS_H

#include <stddef.h>

/* route: index in ROUTES, or NROUTES for unmatched requests. */
void metrics_observe(size_t route, unsigned status, long usec);

/* Prometheus text exposition; *out malloc'ed. */
int metrics_render(char **out, size_t *len);

#endif
