/*
 * metrics.c — lock-free counters: requests by route, method and status, one
 * latency histogram, and the pool's figures, rendered in Prometheus text
 * format. Statuses outside the known list count as "other".
 */
#include "effmon/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/db.h"
#include "effmon/router.h"

#define MAX_ROUTES 256

static const unsigned STATUSES[] = {200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 412,
				    413, 415, 422, 428, 429, 500, 503, 504};
#define NSTATUS (sizeof(STATUSES) / sizeof(STATUSES[0]))
/* Histogram bounds in microseconds. */
static const long BOUNDS_US[] = {500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
				 250000, 500000, 1000000, 2500000, 5000000};
#define NBOUNDS (sizeof(BOUNDS_US) / sizeof(BOUNDS_US[0]))

static atomic_ulong requests[MAX_ROUTES + 1][NSTATUS + 1];
static atomic_ulong buckets[NBOUNDS + 1];
static atomic_ulong sum_us, count;

void metrics_observe(size_t route, unsigned status, long usec)
{
	size_t s = NSTATUS, b = NBOUNDS;

	if (route > NROUTES || route > MAX_ROUTES)
		route = NROUTES < MAX_ROUTES ? NROUTES : MAX_ROUTES;
	for (size_t i = 0; i < NSTATUS; i++)
		if (STATUSES[i] == status)
			s = i;
	for (size_t i = 0; i < NBOUNDS; i++)
		if (usec <= BOUNDS_US[i]) {
			b = i;
			break;
		}
	atomic_fetch_add_explicit(&requests[route][s], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&sum_us, (unsigned long)(usec > 0 ? usec : 0),
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
}

int metrics_render(char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	struct db_pool_stats ps;
	unsigned long cum = 0;

	if (!f)
		return -1;
	fputs("# HELP effmon_http_requests_total HTTP requests by route, method and status.\n"
	      "# TYPE effmon_http_requests_total counter\n",
	      f);
	for (size_t r = 0; r <= NROUTES && r <= MAX_ROUTES; r++) {
		const char *pattern = r < NROUTES ? ROUTES[r].pattern : "unmatched";
		const char *method = r < NROUTES ? ROUTES[r].method : "any";
		for (size_t s = 0; s <= NSTATUS; s++) {
			unsigned long v = atomic_load_explicit(&requests[r][s], memory_order_relaxed);
			if (!v)
				continue;
			if (s < NSTATUS)
				fprintf(f,
					"effmon_http_requests_total{route=\"%s\",method=\"%s\","
					"status=\"%u\"} %lu\n",
					pattern, method, STATUSES[s], v);
			else
				fprintf(f,
					"effmon_http_requests_total{route=\"%s\",method=\"%s\","
					"status=\"other\"} %lu\n",
					pattern, method, v);
		}
	}
	fputs("# HELP effmon_http_request_duration_seconds Time from request to response.\n"
	      "# TYPE effmon_http_request_duration_seconds histogram\n",
	      f);
	for (size_t b = 0; b <= NBOUNDS; b++) {
		cum += atomic_load_explicit(&buckets[b], memory_order_relaxed);
		if (b < NBOUNDS)
			fprintf(f, "effmon_http_request_duration_seconds_bucket{le=\"%g\"} %lu\n",
				BOUNDS_US[b] / 1e6, cum);
		else
			fprintf(f, "effmon_http_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n",
				cum);
	}
	fprintf(f, "effmon_http_request_duration_seconds_sum %.6f\n",
		atomic_load(&sum_us) / 1e6);
	fprintf(f, "effmon_http_request_duration_seconds_count %lu\n", atomic_load(&count));

	db_pool_stats(&ps);
	fprintf(f,
		"# HELP effmon_db_pool_connections Database connections of the worker threads.\n"
		"# TYPE effmon_db_pool_connections gauge\n"
		"effmon_db_pool_connections{state=\"in_use\"} %ld\n"
		"effmon_db_pool_connections{state=\"idle\"} %ld\n"
		"effmon_db_pool_connections{state=\"broken\"} %ld\n"
		"# HELP effmon_db_errors_total Failed database statements and connection attempts.\n"
		"# TYPE effmon_db_errors_total counter\n"
		"effmon_db_errors_total %ld\n"
		"# HELP effmon_db_notifications_total Batches of change notifications read, by channel.\n"
		"# TYPE effmon_db_notifications_total counter\n"
		"effmon_db_notifications_total{channel=\"aggregates\"} %lu\n"
		"effmon_db_notifications_total{channel=\"users\"} %lu\n",
		ps.in_use, ps.idle, ps.broken, ps.errors,
		ps.notifications[DB_CHANNEL_AGGREGATES], ps.notifications[DB_CHANNEL_USERS]);
	return fclose(f);
}
