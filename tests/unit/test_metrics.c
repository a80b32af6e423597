/*
 * test_metrics.c — the /metrics text read back strictly: every family typed
 * once before its samples, a duration histogram per route whose buckets
 * are cumulative and end at le="+Inf" equal to _count, unmatched paths in
 * one series, build info and the process figures present.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/metrics.h"
#include "effmon/router.h"

static char *render(void)
{
	char *text = NULL;
	size_t len = 0;

	ck_assert_int_eq(metrics_render(&text, &len), 0);
	ck_assert_uint_eq(strlen(text), len);
	return text;
}

/* Checks one route's histogram; returns its _count. */
static unsigned long check_histogram(const char *text, const char *route, const char *method)
{
	char prefix[256], *line, *copy = strdup(text), *save = NULL;
	unsigned long last = 0, count = (unsigned long)-1, inf = (unsigned long)-1;
	double last_le = -1, sum = -1;
	int nbuckets = 0;

	snprintf(prefix, sizeof(prefix), "{route=\"%s\",method=\"%s\"", route, method);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *labels = strchr(line, '{');
		unsigned long v;
		if (!labels || strncmp(labels, prefix, strlen(prefix)) != 0)
			continue;
		if (strncmp(line, "effmon_http_request_duration_seconds_bucket{", 44) == 0) {
			char le[32];
			ck_assert_int_eq(
				sscanf(labels + strlen(prefix), ",le=\"%31[^\"]\"} %lu", le, &v),
				2);
			ck_assert_msg(v >= last, "buckets of %s are not cumulative", route);
			last = v;
			nbuckets++;
			if (strcmp(le, "+Inf") == 0) {
				inf = v;
			} else {
				ck_assert_msg(inf == (unsigned long)-1, "a bucket after +Inf");
				ck_assert(atof(le) > last_le);
				last_le = atof(le);
			}
		} else if (strncmp(line, "effmon_http_request_duration_seconds_sum{", 41) == 0) {
			ck_assert_int_eq(sscanf(strrchr(line, '}') + 1, " %lf", &sum), 1);
		} else if (strncmp(line, "effmon_http_request_duration_seconds_count{", 43) == 0) {
			ck_assert_int_eq(sscanf(strrchr(line, '}') + 1, " %lu", &count), 1);
		}
	}
	free(copy);
	ck_assert_msg(nbuckets > 1, "no histogram for %s %s", method, route);
	ck_assert_msg(inf != (unsigned long)-1, "no le=\"+Inf\" for %s", route);
	ck_assert_uint_eq(count, inf);
	ck_assert(sum >= 0);
	return count;
}

START_TEST(histograms_per_route)
{
	size_t me = NROUTES;
	char *text;

	for (size_t i = 0; i < NROUTES; i++)
		if (strcmp(ROUTES[i].pattern, "/api/v1/organizations/{id}") == 0 &&
		    strcmp(ROUTES[i].method, "GET") == 0)
			me = i;
	ck_assert_uint_lt(me, NROUTES);
	metrics_observe(me, 200, 100);      /* 0.1 ms: the first bucket */
	metrics_observe(me, 200, 4000);     /* 4 ms: le="0.005" */
	metrics_observe(me, 404, 99000000); /* past the last bound: +Inf only */
	metrics_observe(NROUTES, 404, 10);
	metrics_observe(NROUTES + 1000, 404, 10); /* out of range: counted as unmatched */
	text = render();
	ck_assert_uint_eq(check_histogram(text, "/api/v1/organizations/{id}", "GET"), 3);
	ck_assert_uint_eq(check_histogram(text, "unmatched", "any"), 2);
	ck_assert_ptr_nonnull(
		strstr(text,
		       "effmon_http_request_duration_seconds_bucket{route=\""
		       "/api/v1/organizations/{id}\",method=\"GET\",le=\"0.005\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text,
				     "effmon_http_request_duration_seconds_bucket{route=\""
				     "/api/v1/organizations/{id}\",method=\"GET\",le=\"5\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text,
				     "effmon_http_requests_total{route=\"/api/v1/"
				     "organizations/{id}\",method=\"GET\",status=\"404\"} 1\n"));
	/* a route that never answered has no series */
	ck_assert_ptr_null(strstr(text, "route=\"/api/v1/regions/{id}\",method=\"PATCH\",le="));
	free(text);
}
END_TEST

START_TEST(every_family_typed_once_before_its_samples)
{
	static const char *const FAMILIES[] = {
		"effmon_build_info",
		"effmon_http_requests_total",
		"effmon_http_request_duration_seconds",
		"effmon_db_pool_connections",
		"effmon_db_errors_total",
		"process_cpu_seconds_total",
		"process_resident_memory_bytes",
		"process_open_fds",
		"process_start_time_seconds",
	};
	char *text;

	metrics_observe(0, 200, 10);
	text = render();
	for (size_t i = 0; i < sizeof(FAMILIES) / sizeof(FAMILIES[0]); i++) {
		char type[128], sample[128];
		const char *t, *first;
		snprintf(type, sizeof(type), "# TYPE %s ", FAMILIES[i]);
		snprintf(sample, sizeof(sample), "\n%s", FAMILIES[i]);
		ck_assert_msg((t = strstr(text, type)) != NULL, "no TYPE for %s", FAMILIES[i]);
		ck_assert_msg(strstr(t + 1, type) == NULL, "two TYPE lines for %s", FAMILIES[i]);
		ck_assert_msg((first = strstr(text, sample)) != NULL, "no sample of %s",
			      FAMILIES[i]);
		ck_assert_msg(first > t, "a sample of %s before its TYPE", FAMILIES[i]);
	}
	ck_assert_ptr_nonnull(strstr(text, "effmon_build_info{version=\""));
	ck_assert_ptr_nonnull(strstr(text, "\"} 1\n"));
	ck_assert_ptr_null(strstr(text, "process_start_time_seconds 0.00\n"));
	ck_assert_ptr_null(strstr(text, "process_resident_memory_bytes 0\n"));
	ck_assert_int_eq(text[strlen(text) - 1], '\n');
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, histograms_per_route);
	tcase_add_test(tc, every_family_typed_once_before_its_samples);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
