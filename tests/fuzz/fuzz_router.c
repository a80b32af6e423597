/*
 * fuzz_router.c — a method and a decoded path against the route table, as
 * the server hands them over. Input: "METHOD\npath" (no newline: GET and the
 * whole input is the path). Properties: a match has the wanted method (GET
 * for HEAD), captures one id per {name} segment, and the pattern with its ids
 * printed in decimal gives back the path byte for byte (so no "007", "+7" or
 * overflow gets through); 404 versus 405 does not depend on the method; and
 * router_parse_id accepts exactly the canonical decimals 1..INT64_MAX. The
 * input is also an Accept header for negotiate_accept: the answer is an
 * offered index or -1, and offering more types never makes none acceptable.
 */
#include <inttypes.h>
#include <string.h>

#include "effmon/negotiate.h"
#include "effmon/router.h"
#include "fuzz.h"

/* The canonical decimal text of a number in 1..INT64_MAX? */
static bool canonical_id(const char *s, size_t len)
{
	if (len == 0 || len > 19 || s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return len < 19 || memcmp(s, "9223372036854775807", 19) <= 0;
}

static void check_parse_id(const char *s, size_t len)
{
	int64_t id = 0;
	char text[24];
	bool ok = router_parse_id(s, len, &id);

	FUZZ_CHECK(ok == canonical_id(s, len));
	if (ok) {
		FUZZ_CHECK(id >= 1);
		snprintf(text, sizeof(text), "%" PRId64, id);
		FUZZ_CHECK(strlen(text) == len && memcmp(text, s, len) == 0);
	}
}

/* The pattern with its {name} segments replaced by the captured ids. */
static void render(const char *pattern, const struct em_args *args, char *out, size_t outlen)
{
	size_t o = 0;
	int k = 0;

	for (const char *p = pattern; *p && o + 1 < outlen;) {
		if (*p == '{') {
			FUZZ_CHECK(k < args->n);
			o += (size_t)snprintf(out + o, outlen - o, "%" PRId64, args->id[k++]);
			p = strchr(p, '}');
			FUZZ_CHECK(p != NULL);
			p++;
		} else {
			out[o++] = *p++;
		}
	}
	out[o < outlen ? o : outlen - 1] = '\0';
	FUZZ_CHECK(k == args->n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *method, *path, allow[128], allow2[128], *rendered;
	const struct em_route *route, *route2;
	struct em_args args, args2;
	enum router_result rr, rr2;
	const char *want;

	check_parse_id((const char *)data, size);

	/* The server sees NUL-terminated strings: the input is cut at a NUL. */
	if (!(buf = malloc(size + 1)))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	{
		static const enum em_format ONE[] = {EM_FMT_JSON};
		static const enum em_format ALL[] = {EM_FMT_JSON, EM_FMT_CSV, EM_FMT_XLSX,
						     EM_FMT_HTML};
		int one = negotiate_accept(buf, ONE, 1), all = negotiate_accept(buf, ALL, 4);
		FUZZ_CHECK(one >= -1 && one < 1);
		FUZZ_CHECK(all >= -1 && all < 4);
		FUZZ_CHECK(one < 0 || all >= 0);
	}
	path = strchr(buf, '\n');
	if (path) {
		*path++ = '\0';
		method = buf;
	} else {
		method = "GET";
		path = buf;
	}
	want = strcmp(method, "HEAD") == 0 ? "GET" : method;

	memset(&args, 0, sizeof(args));
	rr = router_match(method, path, &route, &args, allow, sizeof(allow));
	switch (rr) {
	case ROUTER_FOUND:
		FUZZ_CHECK(route != NULL && strcmp(route->method, want) == 0);
		FUZZ_CHECK(args.n >= 0 && args.n <= EM_MAX_ARGS);
		for (int i = 0; i < args.n; i++)
			FUZZ_CHECK(args.id[i] >= 1);
		if (!(rendered = malloc(strlen(path) + 1 + 24 * EM_MAX_ARGS)))
			break;
		render(route->pattern, &args, rendered, strlen(path) + 1 + 24 * EM_MAX_ARGS);
		FUZZ_CHECK(strcmp(rendered, path) == 0);
		free(rendered);
		FUZZ_CHECK(strstr(allow, route->method) != NULL);
		FUZZ_CHECK(strstr(allow, "OPTIONS") != NULL);
		break;
	case ROUTER_METHOD_NOT_ALLOWED: FUZZ_CHECK(route == NULL && allow[0] != '\0'); break;
	case ROUTER_NOT_FOUND: FUZZ_CHECK(route == NULL && allow[0] == '\0'); break;
	}

	/* Whether the path exists does not depend on the method. */
	rr2 = router_match("GET", path, &route2, &args2, allow2, sizeof(allow2));
	FUZZ_CHECK((rr == ROUTER_NOT_FOUND) == (rr2 == ROUTER_NOT_FOUND));
	if (rr != ROUTER_NOT_FOUND)
		FUZZ_CHECK(strcmp(allow, allow2) == 0);
	free(buf);
	return 0;
}
