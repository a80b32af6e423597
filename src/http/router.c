/*
 * router.c — matches a method and a decoded path against the static route
 * table. Literal segments compare exactly; {name} segments accept only a
 * strict positive 64-bit id, so "/users/007" or "/users/1e3" is a 404 before
 * any handler runs.
 */
#include "effmon/router.h"

#include <stdio.h>
#include <string.h>

bool router_parse_id(const char *s, size_t len, int64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 19 || s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return false;
	*out = (int64_t)v;
	return true;
}

/* Does path match pattern? Captures ids into args. */
static bool path_matches(const char *pattern, const char *path, struct em_args *args)
{
	const char *p = pattern, *s = path;

	args->n = 0;
	while (*p && *s) {
		if (*p != '/' || *s != '/')
			return false;
		p++;
		s++;
		const char *pe = strchr(p, '/');
		const char *se = strchr(s, '/');
		size_t plen = pe ? (size_t)(pe - p) : strlen(p);
		size_t slen = se ? (size_t)(se - s) : strlen(s);

		if (plen > 1 && p[0] == '{' && p[plen - 1] == '}') {
			int64_t id;
			if (args->n >= EM_MAX_ARGS || !router_parse_id(s, slen, &id))
				return false;
			args->id[args->n++] = id;
		} else if (plen != slen || memcmp(p, s, plen) != 0) {
			return false;
		}
		p += plen;
		s += slen;
	}
	return *p == '\0' && *s == '\0';
}

static void allow_add(char *allow, size_t len, const char *method)
{
	size_t n = strlen(allow);
	if (strstr(allow, method))
		return;
	snprintf(allow + n, len - n, "%s%s", n ? ", " : "", method);
}

enum router_result router_match(const char *method, const char *path, const struct em_route **route,
				struct em_args *args, char *allow, size_t allowlen)
{
	const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
	struct em_args scratch;
	bool path_known = false;

	*route = NULL;
	if (allowlen)
		allow[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++) {
		const struct em_route *r = &ROUTES[i];
		if (!path_matches(r->pattern, path, &scratch))
			continue;
		path_known = true;
		allow_add(allow, allowlen, r->method);
		if (strcmp(r->method, "GET") == 0)
			allow_add(allow, allowlen, "HEAD");
		if (!*route && strcmp(r->method, want) == 0) {
			*route = r;
			*args = scratch;
		}
	}
	if (!path_known)
		return ROUTER_NOT_FOUND;
	allow_add(allow, allowlen, "OPTIONS");
	return *route ? ROUTER_FOUND : ROUTER_METHOD_NOT_ALLOWED;
}
