/*
 * aggregates.c — GET /aggregates and GET /public/aggregates (issue 5): counts,
 * mean, median, quartiles and level distribution of a campaign's scores by
 * municipality, kind, direction and level, and the change since the region's
 * previous campaign; read from the rollups of migration 0004, as JSON or CSV.
 * The ETag comes from the campaign's change stamp, so a 304 never reads them.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/monitoring.h"
#include "effmon/router.h"

#define MAX_CAMPAIGN_PARAM 24
#define PUBLIC_MIN_GROUP 3
#define AGG_CACHE_CONTROL "private, no-cache" /* revalidate: 304 is cheap */
#define PUBLIC_CACHE_CONTROL "public, max-age=300"

/* The groupings, in the order of the CSV columns. */
static const char *const GROUPS[] = {"municipality", "kind", "direction", "level"};
#define NGROUPS 4

/*
 * The campaign and what its aggregates depend on besides the rollups: $1..$4
 * scope, $5 id, $6 public (published only, no scope). Returns id, version,
 * stamp, previous campaign id, its version, its stamp. Reads campaigns and
 * aggregate_stamps only.
 */
static const struct db_stmt AGG_META = {
	"aggregates_meta",
	"SELECT c.id, c.version, em_aggregate_stamp(c.id), p.id, p.version, "
	" CASE WHEN p.id IS NOT NULL THEN em_aggregate_stamp(p.id) END "
	"FROM campaigns c LEFT JOIN LATERAL (SELECT p.id, p.version FROM campaigns p "
	" WHERE p.region_id = c.region_id AND p.year < c.year ORDER BY p.year DESC LIMIT 1) p ON true "
	"WHERE c.id = $5::bigint AND CASE WHEN $6::boolean THEN c.status = 'published' ELSE"
	SQL_SCOPE("c.region_id", "NULL::bigint", "NULL::bigint") " END",
	6};

/*
 * The groups, built by em_aggregates() (migration 0004: the query is longer
 * than a C string literal may be). $1..$4 scope, $5 campaign, $6 group_by
 * (text[]), $7 include unapproved, $8 previous campaign (or NULL), $9 public.
 */
static const struct db_stmt AGG_GROUPS = {
	"aggregates_groups",
	"SELECT em_aggregates($5::bigint, $6::text[], $7::boolean, $8::bigint, $9::boolean, "
	"$1, $2::bigint, $3::bigint, $4::bigint)",
	9};

/* Published campaigns: the public feed's index. $1 region filter (or NULL). */
static const struct db_stmt PUBLIC_INDEX = {
	"public_aggregates_index",
	"SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'region_id', c.region_id, "
	" 'region_name', r.name, 'year', c.year, 'title', c.title, 'published_at', c.published_at) "
	" ORDER BY c.year DESC, c.id), '[]'::jsonb) "
	"FROM campaigns c JOIN regions r ON r.id = c.region_id "
	"WHERE c.status = 'published' AND ($1::bigint IS NULL OR c.region_id = $1::bigint)",
	1};

struct agg_query {
	bool public;
	bool unapproved;
	bool csv;
	char delimiter;
	bool grouped[NGROUPS];
	char group_array[96]; /* {municipality,kind} */
	char campaign[MAX_CAMPAIGN_PARAM];
};

/* Parses group_by: comma-separated names, each at most once. */
static void parse_group_by(const char *v, struct em_reply *reply, struct agg_query *q)
{
	char buf[200];
	char *save = NULL, *tok;
	size_t used = 0;

	q->group_array[used++] = '{';
	if (!v)
		goto done;
	if (strlen(v) >= sizeof(buf)) {
		reply_field_error(reply, "group_by", "is too long");
		goto done;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int i;
		for (i = 0; i < NGROUPS && strcmp(GROUPS[i], tok) != 0; i++)
			;
		if (i == NGROUPS) {
			reply_field_error(reply, "group_by",
					  "%s is not one of municipality, kind, direction, level",
					  tok);
			continue;
		}
		if (q->grouped[i]) {
			reply_field_error(reply, "group_by", "%s is named twice", tok);
			continue;
		}
		q->grouped[i] = true;
	}
	for (int i = 0; i < NGROUPS; i++)
		if (q->grouped[i])
			used += (size_t)snprintf(q->group_array + used, sizeof(q->group_array) - used,
						 "%s%s", used > 1 ? "," : "", GROUPS[i]);
done:
	snprintf(q->group_array + used, sizeof(q->group_array) - used, "}");
}

/* Does the client ask for CSV? An Accept naming text/csv before (or without) JSON. */
static bool wants_csv(struct em_req *req)
{
	const char *accept = req_header(req, "Accept");
	const char *csv, *json;

	if (!accept || !(csv = strstr(accept, "text/csv")))
		return false;
	json = strstr(accept, "application/json");
	return !json || csv < json;
}

static enum em_err parse_query(struct em_req *req, struct em_reply *reply, struct agg_query *q)
{
	const char *campaign = req_query(req, "campaign");
	const char *delim = req_query(req, "delimiter");
	int64_t id;
	enum em_err rc;

	memset(q, 0, sizeof(*q));
	q->public = req->route->roles == EM_ROLES_PUBLIC;
	q->csv = wants_csv(req);
	q->delimiter = ',';
	if (q->public) {
		if (req_query(req, "include"))
			reply_field_error(reply, "include",
					  "the public feed has approved results only");
	} else if ((rc = monitoring_include(req, reply, &q->unapproved)) != EM_OK) {
		return rc;
	}
	if (!campaign)
		reply_field_error(reply, "campaign", "is required: the id of a campaign");
	else if (!router_parse_id(campaign, strlen(campaign), &id))
		reply_field_error(reply, "campaign", "must be a positive integer id");
	else
		snprintf(q->campaign, sizeof(q->campaign), "%s", campaign);
	if (delim) {
		if (strcmp(delim, "semicolon") == 0)
			q->delimiter = ';';
		else if (strcmp(delim, "comma") != 0)
			reply_field_error(reply, "delimiter", "must be comma or semicolon");
	}
	parse_group_by(req_query(req, "group_by"), reply, q);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid parameters");
	return EM_OK;
}

/* W/"agg-<hash>": everything the body depends on, without reading the rollups. */
static void make_etag(struct em_req *req, const struct agg_query *q, PGresult *meta,
		      char *out, size_t outlen)
{
	unsigned char h[16];
	char hex[33], text[512];
	int n;

	n = snprintf(text, sizeof(text), "%s|%s|%s|%s|%s|%s|%s|%lld|%lld|%lld|%d|%d|%c|%s",
		     PQgetvalue(meta, 0, 0), PQgetvalue(meta, 0, 1), PQgetvalue(meta, 0, 2),
		     PQgetvalue(meta, 0, 3), PQgetvalue(meta, 0, 4), PQgetvalue(meta, 0, 5),
		     q->public ? "public" : em_role_name(req->caller.role),
		     q->public ? 0LL : (long long)req->caller.region_id,
		     q->public ? 0LL : (long long)req->caller.municipality_id,
		     q->public ? 0LL : (long long)req->caller.organization_id, q->unapproved,
		     q->csv, q->delimiter, q->group_array);
	crypto_generichash(h, sizeof(h), (const unsigned char *)text,
			   n > 0 ? (size_t)n : 0, NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, outlen, "W/\"agg-%s\"", hex);
}

static bool etag_matches(const char *inm, const char *etag)
{
	/* Weak comparison (RFC 9110 §13.1.2) over a list of tags. */
	const char *opaque = etag + 2;
	size_t n = strlen(opaque);

	if (!inm)
		return false;
	if (strcmp(inm, "*") == 0)
		return true;
	for (const char *p = inm; (p = strstr(p, opaque)); p += n) {
		const char *end = p + n;
		if (*end == '\0' || *end == ',' || *end == ' ')
			return true;
	}
	return false;
}

/* --- CSV ----------------------------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* A CSV field: quoted when it holds the delimiter, a quote or a line break. */
static void csv_field(struct sbuf *b, const char *s, char delim)
{
	if (!strchr(s, delim) && !strpbrk(s, "\"\r\n")) {
		sb_str(b, s);
		return;
	}
	sb_str(b, "\"");
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			sb_str(b, "\"");
		sb_add(b, p, 1);
	}
	sb_str(b, "\"");
}

/* A JSON scalar as CSV text: "" for null, numbers as jansson prints them. */
static void csv_value(struct sbuf *b, json_t *v, char delim)
{
	char num[64];

	if (!v || json_is_null(v))
		return;
	if (json_is_string(v)) {
		csv_field(b, json_string_value(v), delim);
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		sb_str(b, num);
	} else if (json_is_real(v)) {
		/* Decimals come from SQL numerics with 2 places; %.10g keeps them exact. */
		snprintf(num, sizeof(num), "%.10g", json_real_value(v));
		sb_str(b, num);
	}
}

static const char *const CSV_FIGURES[] = {
	"expected", "submitted", "submitted_on_time", "approved", "count", "mean", "median",
	"q1", "q3", "min", "max", "levels.high", "levels.sufficient", "levels.low",
	"levels.critical", "mean_previous", "mean_change", "suppressed", NULL};

static enum em_err csv_reply(struct em_reply *reply, const struct agg_query *q, json_t *groups)
{
	static const char *const KEY_COLUMNS[NGROUPS][2] = {
		{"municipality_id", "municipality_name"}, {"kind", NULL}, {"direction", NULL},
		{"level", NULL}};
	char d[2] = {q->delimiter, '\0'};
	struct sbuf b = {0};
	size_t i;
	json_t *row;
	bool first = true;

	sb_str(&b, "\xEF\xBB\xBF");
	for (int g = 0; g < NGROUPS; g++)
		for (int c = 0; c < 2; c++)
			if (q->grouped[g] && KEY_COLUMNS[g][c]) {
				if (!first)
					sb_str(&b, d);
				sb_str(&b, KEY_COLUMNS[g][c]);
				first = false;
			}
	for (const char *const *f = CSV_FIGURES; *f; f++) {
		if (!first)
			sb_str(&b, d);
		sb_str(&b, strncmp(*f, "levels.", 7) == 0 ? *f + 7 : *f);
		first = false;
	}
	sb_str(&b, "\r\n");
	json_array_foreach(groups, i, row) {
		first = true;
		for (int g = 0; g < NGROUPS; g++)
			for (int c = 0; c < 2; c++)
				if (q->grouped[g] && KEY_COLUMNS[g][c]) {
					if (!first)
						sb_str(&b, d);
					csv_value(&b, json_object_get(row, KEY_COLUMNS[g][c]),
						  q->delimiter);
					first = false;
				}
		for (const char *const *f = CSV_FIGURES; *f; f++) {
			json_t *v = strncmp(*f, "levels.", 7) == 0
					    ? json_object_get(json_object_get(row, "levels"), *f + 7)
					    : json_object_get(row, *f);
			if (!first)
				sb_str(&b, d);
			csv_value(&b, v, q->delimiter);
			first = false;
		}
		sb_str(&b, "\r\n");
	}
	if (b.failed) {
		free(b.p);
		return EM_EINTERNAL;
	}
	reply->status = 200;
	reply->text = b.p;
	reply->text_len = b.len;
	reply->content_type = "text/csv; charset=utf-8; header=present";
	return EM_OK;
}

/* --- Handlers -------------------------------------------------------------------------- */

static enum em_err aggregates(struct em_req *req, struct em_reply *reply)
{
	struct agg_query q;
	char bufs[3][24], etag[64];
	const char *params[9];
	PGresult *meta = NULL, *res = NULL;
	json_t *groups;
	json_error_t jerr;
	enum em_err rc;

	if ((rc = parse_query(req, reply, &q)) != EM_OK)
		return rc;
	scope_params(req, bufs, params);
	params[4] = q.campaign;
	params[5] = q.public ? "true" : "false";
	if ((rc = db_exec(req->db, &AGG_META, params, &meta)) != EM_OK)
		return rc;
	if (PQntuples(meta) == 0) {
		PQclear(meta);
		return reply_fail(reply, EM_ENOTFOUND, q.public ? "no published campaign %s"
								: "no campaign %s",
				  q.campaign);
	}
	make_etag(req, &q, meta, etag, sizeof(etag));
	reply_header(reply, "ETag", etag);
	reply_header(reply, "Cache-Control", q.public ? PUBLIC_CACHE_CONTROL : AGG_CACHE_CONTROL);
	reply_header(reply, "Vary", "Accept, Authorization");
	if (etag_matches(req_header(req, "If-None-Match"), etag)) {
		PQclear(meta);
		reply->status = 304;
		return EM_OK;
	}

	params[5] = q.group_array;
	params[6] = q.unapproved ? "true" : "false";
	params[7] = db_str(meta, 0, 3);
	params[8] = q.public ? "true" : "false";
	if ((rc = db_exec(req->db, &AGG_GROUPS, params, &res)) != EM_OK)
		goto out;
	if (q.csv) {
		if (!(groups = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr))) {
			rc = EM_EINTERNAL;
			goto out;
		}
		rc = csv_reply(reply, &q, groups);
		json_decref(groups);
		goto out;
	}
	/* The groups' text goes out as PostgreSQL wrote it: numerics keep their
	 * 2 decimals instead of passing through a double. */
	{
		struct sbuf b = {0};
		char head[160];
		bool first = true;

		snprintf(head, sizeof(head),
			 "{\"campaign_id\":%s,\"previous_campaign_id\":%s,\"include\":\"%s\","
			 "\"group_by\":[",
			 q.campaign, PQgetisnull(meta, 0, 3) ? "null" : PQgetvalue(meta, 0, 3),
			 q.unapproved ? "unapproved" : "approved");
		sb_str(&b, head);
		for (int i = 0; i < NGROUPS; i++)
			if (q.grouped[i]) {
				sb_str(&b, first ? "\"" : ",\"");
				sb_str(&b, GROUPS[i]);
				sb_str(&b, "\"");
				first = false;
			}
		sb_str(&b, "],\"groups\":");
		sb_str(&b, PQgetvalue(res, 0, 0));
		sb_str(&b, "}");
		if (b.failed) {
			free(b.p);
			rc = EM_EINTERNAL;
			goto out;
		}
		reply->status = 200;
		reply->text = b.p;
		reply->text_len = b.len;
		reply->content_type = "application/json";
	}
out:
	PQclear(meta);
	PQclear(res);
	return rc;
}

enum em_err aggregates_get(struct em_req *req, const struct em_args *args, json_t *body,
			   struct em_reply *reply)
{
	(void)args;
	(void)body;
	return aggregates(req, reply);
}

enum em_err public_aggregates_get(struct em_req *req, const struct em_args *args, json_t *body,
				  struct em_reply *reply)
{
	const char *region = req_query(req, "region_id");
	PGresult *res;
	json_t *items;
	json_error_t jerr;
	int64_t id;
	enum em_err rc;

	(void)args;
	(void)body;
	if (req_query(req, "campaign") || req_query(req, "group_by"))
		return aggregates(req, reply);
	/* Without a campaign: the index of published campaigns. */
	if (region && !router_parse_id(region, strlen(region), &id)) {
		reply_field_error(reply, "region_id", "must be a positive integer id");
		return reply_fail(reply, EM_EINVAL, "invalid parameters");
	}
	if ((rc = db_exec(req->db, &PUBLIC_INDEX, &region, &res)) != EM_OK)
		return rc;
	items = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr);
	PQclear(res);
	if (!items)
		return EM_EINTERNAL;
	reply_header(reply, "Cache-Control", PUBLIC_CACHE_CONTROL);
	reply_json(reply, 200, json_pack("{s:o}", "campaigns", items));
	return EM_OK;
}
