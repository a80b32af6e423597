/*
 * metrics.c — lock-free counters: requests by route, method and status, a
 * latency histogram per route (the route table is static, so memory is
 * bounded: one row per route and one for unmatched paths), the pool's
 * figures, the build, and the process (memory, CPU, descriptors, start),
 * rendered in Prometheus text format. Statuses outside the list are "other".
 */
#include "effmon/metrics.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "build_info.h"

#include "effmon/db.h"
#include "effmon/replica.h"
#include "effmon/router.h"

#define MAX_ROUTES 256

static const unsigned STATUSES[] = {200, 201, 204, 304, 400, 401, 403, 404, 405, 409,
				    412, 413, 415, 422, 428, 429, 500, 503, 504};
#define NSTATUS (sizeof(STATUSES) / sizeof(STATUSES[0]))
/* Histogram bounds in microseconds. */
static const long BOUNDS_US[] = {500,    1000,   2500,   5000,    10000,   25000,  50000,
				 100000, 250000, 500000, 1000000, 2500000, 5000000};
#define NBOUNDS (sizeof(BOUNDS_US) / sizeof(BOUNDS_US[0]))

static atomic_ulong requests[MAX_ROUTES + 1][NSTATUS + 1];
/* Per route: the count in each bucket (not cumulative) and the sum. */
static atomic_ulong buckets[MAX_ROUTES + 1][NBOUNDS + 1];
static atomic_ulong sum_us[MAX_ROUTES + 1];

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
	atomic_fetch_add_explicit(&buckets[route][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&sum_us[route], (unsigned long)(usec > 0 ? usec : 0),
				  memory_order_relaxed);
}

static void route_labels(size_t r, const char **pattern, const char **method)
{
	*pattern = r < NROUTES ? ROUTES[r].pattern : "unmatched";
	*method = r < NROUTES ? ROUTES[r].method : "any";
}

/*
 * One histogram series per route that has answered. _count is the +Inf
 * bucket as read here, not a separate counter, so a scrape racing requests
 * still ends every series at le="+Inf" equal to its _count.
 */
static void render_durations(FILE *f)
{
	fputs("# HELP effmon_http_request_duration_seconds Time from request to response, by "
	      "route.\n"
	      "# TYPE effmon_http_request_duration_seconds histogram\n",
	      f);
	for (size_t r = 0; r <= NROUTES && r <= MAX_ROUTES; r++) {
		unsigned long cum = 0, n[NBOUNDS + 1];
		const char *pattern, *method;

		for (size_t b = 0; b <= NBOUNDS; b++)
			cum += n[b] = atomic_load_explicit(&buckets[r][b], memory_order_relaxed);
		if (!cum)
			continue;
		route_labels(r, &pattern, &method);
		cum = 0;
		for (size_t b = 0; b <= NBOUNDS; b++) {
			cum += n[b];
			if (b < NBOUNDS)
				fprintf(f,
					"effmon_http_request_duration_seconds_bucket{route=\"%s\","
					"method=\"%s\",le=\"%g\"} %lu\n",
					pattern, method, BOUNDS_US[b] / 1e6, cum);
			else
				fprintf(f,
					"effmon_http_request_duration_seconds_bucket{route=\"%s\","
					"method=\"%s\",le=\"+Inf\"} %lu\n",
					pattern, method, cum);
		}
		fprintf(f,
			"effmon_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n",
			pattern, method,
			atomic_load_explicit(&sum_us[r], memory_order_relaxed) / 1e6);
		fprintf(f,
			"effmon_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %lu\n",
			pattern, method, cum);
	}
}

/* Seconds since the epoch at which this process started, from /proc. */
static double process_start_time(void)
{
	char buf[1024], *p;
	unsigned long long start_ticks = 0;
	double btime = 0;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	if (!(f = fopen("/proc/self/stat", "r")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields follow the last ')'. */
	if (!(p = strrchr(buf, ')')))
		return 0;
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", &start_ticks) != 1)
		return 0;
	if (!(f = fopen("/proc/stat", "r")))
		return 0;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "btime %lf", &btime) == 1)
			break;
	fclose(f);
	return hz > 0 ? btime + (double)start_ticks / (double)hz : 0;
}

static void render_process(FILE *f)
{
	struct rusage ru;
	struct rlimit rl;
	long pages = 0, page = sysconf(_SC_PAGESIZE);
	long fds = 0;
	FILE *statm = fopen("/proc/self/statm", "r");
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (statm) {
		long size;
		if (fscanf(statm, "%ld %ld", &size, &pages) != 2)
			pages = 0;
		fclose(statm);
	}
	if (d) {
		while ((e = readdir(d)))
			fds += e->d_name[0] != '.';
		closedir(d);
		fds--; /* the directory's own descriptor */
	}
	getrusage(RUSAGE_SELF, &ru);
	fprintf(f,
		"# HELP process_cpu_seconds_total User and system CPU time spent, seconds.\n"
		"# TYPE process_cpu_seconds_total counter\n"
		"process_cpu_seconds_total %.6f\n"
		"# HELP process_resident_memory_bytes Resident memory size, bytes.\n"
		"# TYPE process_resident_memory_bytes gauge\n"
		"process_resident_memory_bytes %ld\n"
		"# HELP process_open_fds Open file descriptors.\n"
		"# TYPE process_open_fds gauge\n"
		"process_open_fds %ld\n",
		(double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
		pages * page, fds > 0 ? fds : 0);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		fprintf(f,
			"# HELP process_max_fds Limit of open file descriptors.\n"
			"# TYPE process_max_fds gauge\n"
			"process_max_fds %llu\n",
			(unsigned long long)rl.rlim_cur);
	fprintf(f,
		"# HELP process_start_time_seconds Start time of the process since the epoch, "
		"seconds.\n"
		"# TYPE process_start_time_seconds gauge\n"
		"process_start_time_seconds %.2f\n",
		process_start_time());
}

/* Label values are escaped: a git describe could hold anything. */
static void label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* The read replica's pool, lag and routing (EFFMON_DATABASE_READ_URL set only). */
static void render_read_replica(FILE *f, const struct db_pool_stats *ps)
{
	struct replica_stats rs;

	replica_stats(&rs);
	fprintf(f,
		"effmon_db_pool_connections{state=\"in_use\",pool=\"read\"} %ld\n"
		"effmon_db_pool_connections{state=\"idle\",pool=\"read\"} %ld\n"
		"effmon_db_pool_connections{state=\"broken\",pool=\"read\"} %ld\n",
		ps->read.in_use, ps->read.idle, ps->read.broken);
	if (rs.lag_s >= 0)
		fprintf(f,
			"# HELP effmon_db_read_replica_lag_seconds Replay lag of the read replica, "
			"as last measured.\n"
			"# TYPE effmon_db_read_replica_lag_seconds gauge\n"
			"effmon_db_read_replica_lag_seconds %.3f\n",
			rs.lag_s);
	fprintf(f,
		"# HELP effmon_db_read_replica_reads_total Reads of read-replica routes answered "
		"from the replica.\n"
		"# TYPE effmon_db_read_replica_reads_total counter\n"
		"effmon_db_read_replica_reads_total %lu\n"
		"# HELP effmon_db_read_replica_bypassed_total Reads of read-replica routes answered "
		"from the primary, by reason.\n"
		"# TYPE effmon_db_read_replica_bypassed_total counter\n",
		rs.served);
	for (int i = 0; i < REPLICA_NBYPASS; i++)
		fprintf(f, "effmon_db_read_replica_bypassed_total{reason=\"%s\"} %lu\n",
			replica_bypass_name((enum replica_bypass)i), rs.bypassed[i]);
}

int metrics_render(char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	struct db_pool_stats ps;

	if (!f)
		return -1;
	fputs("# HELP effmon_build_info The version and build of this daemon; always 1.\n"
	      "# TYPE effmon_build_info gauge\n"
	      "effmon_build_info{version=\"",
	      f);
	label_value(f, EFFMON_BUILD_VERSION);
	fputs("\",revision=\"", f);
	label_value(f, EFFMON_BUILD_REVISION);
	fputs("\",buildtype=\"", f);
	label_value(f, EFFMON_BUILD_TYPE);
	fputs("\"} 1\n", f);
	fputs("# HELP effmon_http_requests_total HTTP requests by route, method and status.\n"
	      "# TYPE effmon_http_requests_total counter\n",
	      f);
	for (size_t r = 0; r <= NROUTES && r <= MAX_ROUTES; r++) {
		const char *pattern, *method;
		route_labels(r, &pattern, &method);
		for (size_t s = 0; s <= NSTATUS; s++) {
			unsigned long v = atomic_load_explicit(&requests[r][s],
							       memory_order_relaxed);
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
	render_durations(f);

	db_pool_stats(&ps);
	fprintf(f,
		"# HELP effmon_db_pool_connections Database connections of the worker threads.\n"
		"# TYPE effmon_db_pool_connections gauge\n"
		"effmon_db_pool_connections{state=\"in_use\",pool=\"primary\"} %ld\n"
		"effmon_db_pool_connections{state=\"idle\",pool=\"primary\"} %ld\n"
		"effmon_db_pool_connections{state=\"broken\",pool=\"primary\"} %ld\n"
		"# HELP effmon_db_errors_total Failed database statements and connection attempts.\n"
		"# TYPE effmon_db_errors_total counter\n"
		"effmon_db_errors_total %ld\n"
		"# HELP effmon_db_notifications_total Batches of change notifications read, by channel.\n"
		"# TYPE effmon_db_notifications_total counter\n"
		"effmon_db_notifications_total{channel=\"aggregates\"} %lu\n"
		"effmon_db_notifications_total{channel=\"users\"} %lu\n",
		ps.primary.in_use, ps.primary.idle, ps.primary.broken, ps.errors,
		ps.notifications[DB_CHANNEL_AGGREGATES], ps.notifications[DB_CHANNEL_USERS]);
	if (ps.read_configured)
		render_read_replica(f, &ps);
	render_process(f);
	return fclose(f);
}
