/*
 * fuzz_query.c — a query string against the list parameters every list
 * route reads: limit, sort and cursor (list_page_parse) and each registry
 * resource's filters (list_filters_parse). The query is split and decoded
 * as libmicrohttpd 0.9.75 does it ('&', the first '=', '+' as a space, %XX;
 * the first of repeated names wins) and reached through em_req.lookup, as in
 * the server. Properties: success exactly when no error was recorded;
 * accepted values are in range; an accepted cursor re-encoded the way
 * list_reply encodes it reads back the same; a filter without an error holds
 * a value of its type.
 */
#include <inttypes.h>
#include <sodium.h>
#include <string.h>

#include "effmon/cycle.h"
#include "effmon/monitoring.h"
#include "effmon/registry.h"
#include "effmon/router.h"
#include "fuzz.h"

#define MAX_PARAMS 64

struct query {
	int n;
	const char *name[MAX_PARAMS];
	const char *value[MAX_PARAMS]; /* NULL: "name" without '=' */
};

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* '+' to space, then %XX; in place. A decoded NUL ends the C string, as in MHD. */
static void unescape(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++)
		if (*p == '+')
			*p = ' ';
	for (char *p = s; *p;) {
		if (p[0] == '%' && hex(p[1]) >= 0 && hex(p[2]) >= 0) {
			*o++ = (char)(hex(p[1]) * 16 + hex(p[2]));
			p += 3;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
}

static void query_parse(struct query *q, char *s)
{
	q->n = 0;
	while (s && *s && q->n < MAX_PARAMS) {
		char *amp = strchr(s, '&'), *eq;
		if (amp)
			*amp = '\0';
		eq = strchr(s, '=');
		if (eq)
			*eq = '\0';
		if (*s) {
			unescape(s);
			if (eq)
				unescape(eq + 1);
			q->name[q->n] = s;
			q->value[q->n++] = eq ? eq + 1 : NULL;
		}
		s = amp ? amp + 1 : NULL;
	}
}

static const char *lookup(void *ctx, enum em_value_kind kind, const char *name)
{
	const struct query *q = ctx;

	if (kind != EM_QUERY)
		return NULL;
	for (int i = 0; i < q->n; i++)
		if (strcmp(q->name[i], name) == 0)
			return q->value[i];
	return NULL;
}

static const struct em_resource *const RESOURCES[] = {
	&REGIONS,     &MUNICIPALITIES, &ORGANIZATIONS, &DIRECTIONS, &COMPETENCIES,
	&MANAGERS,    &RESERVE,        &USERS,         &CAMPAIGNS,  &INDICATORS,
	&SUBMISSIONS, &ROADMAPS,       &MILESTONES,
};

static bool decimal_id(const char *s)
{
	int64_t id;
	return router_parse_id(s, strlen(s), &id);
}

static bool value_fits(const struct list_filter *f, const char *v)
{
	switch (f->type) {
	case FILTER_ID: return decimal_id(v);
	case FILTER_BOOL: return strcmp(v, "true") == 0 || strcmp(v, "false") == 0;
	case FILTER_TEXT: return utf8_length(v) >= 1 && utf8_length(v) <= 200;
	case FILTER_ENUM:
		for (const char *const *c = f->choices; *c; c++)
			if (strcmp(*c, v) == 0)
				return true;
		return false;
	}
	return false;
}

/* The cursor list_reply would hand out after this page, read back. */
static void check_cursor_roundtrip(const struct list_page *page)
{
	char plain[LIST_MAX_KEY + 64], enc[(LIST_MAX_KEY + 64) * 4 / 3 + 4];
	struct query q = {2, {"sort", "cursor"}, {page->sort, enc}};
	struct em_req req = {.method = "GET", .path = "/", .lookup = lookup, .lookup_ctx = &q};
	struct em_reply reply;
	struct list_page again;
	int n;

	n = snprintf(plain, sizeof(plain), "%s\n%" PRId64 "\n%s", page->sort, page->after_id,
		     page->after_key);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(plain));
	sodium_bin2base64(enc, sizeof(enc), (const unsigned char *)plain, (size_t)n,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	reply_init(&reply);
	FUZZ_CHECK(list_page_parse(&req, &reply, &again) == EM_OK);
	FUZZ_CHECK(again.after_id == page->after_id && again.has_key == page->has_key);
	FUZZ_CHECK(strcmp(again.after_key, page->after_key) == 0);
	reply_clear(&reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct query q;
	struct em_req req = {.method = "GET", .path = "/api/v1/organizations"};
	struct em_reply reply;
	struct list_page page;
	enum em_err rc;
	char *buf;

	if (!(buf = malloc(size + 1)))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	query_parse(&q, buf);
	req.lookup = lookup;
	req.lookup_ctx = &q;

	reply_init(&reply);
	rc = list_page_parse(&req, &reply, &page);
	FUZZ_CHECK(rc == EM_OK || rc == EM_EINVAL);
	FUZZ_CHECK((rc == EM_OK) == (reply.errors == NULL));
	if (rc == EM_OK) {
		FUZZ_CHECK(page.limit >= 1 && page.limit <= LIST_MAX_LIMIT);
		FUZZ_CHECK(strcmp(page.sort, "id") == 0 || strcmp(page.sort, "name") == 0);
		FUZZ_CHECK(page.has_key == (page.after_id && strcmp(page.sort, "name") == 0));
		FUZZ_CHECK(req_query(&req, "cursor") ? page.after_id >= 1 : page.after_id == 0);
		if (page.after_id)
			check_cursor_roundtrip(&page);
	}
	reply_clear(&reply);

	for (size_t i = 0; i < sizeof(RESOURCES) / sizeof(RESOURCES[0]); i++) {
		const struct em_resource *r = RESOURCES[i];
		const char *out[LIST_MAX_FILTERS];
		size_t nf = r->nfilters < LIST_MAX_FILTERS ? r->nfilters : LIST_MAX_FILTERS;

		reply_init(&reply);
		list_filters_parse(&req, &reply, r->filters, r->nfilters, out);
		for (size_t k = 0; k < nf; k++) {
			const char *v = req_query(&req, r->filters[k].name);
			FUZZ_CHECK(out[k] == v);
		}
		if (!reply.errors)
			for (size_t k = 0; k < nf; k++)
				FUZZ_CHECK(!out[k] || value_fits(&r->filters[k], out[k]));
		reply_clear(&reply);
	}
	free(buf);
	return 0;
}
