/*
 * warnings.c — GET /campaigns/{id}/warnings: the early warnings of a
 * campaign's heads (a total or a direction score falling two campaigns
 * running, a total below a threshold, incomplete data) with their figures,
 * as em_warnings() (sql/40_analysis.sql) finds them, in the caller's scope (a head:
 * its own), filtered and paged. The ETag is a hash of the answer.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/conditional.h"
#include "effmon/cycle.h"
#include "effmon/monitoring.h"
#include "effmon/router.h"
#include "effmon/warnings.h"
#include "analysis.h"

const char *const WARNING_TYPES[] = {"decline_total", "decline_direction", "below_threshold",
				     "low_completeness", NULL};
#define NTYPES 4

/* The campaign if visible ($1..$6 caller, $7 id), with what the answer says it
 * used: $8 threshold, $9 completeness bound, $10 include -> a JSON object. The
 * campaigns are this one and the two before it, oldest first. */
/* clang-format off */
DB_STMT(WARN_CAMPAIGN) = {
	"warnings_campaign",
	"WITH c AS (SELECT c.* FROM campaigns c WHERE c.id = $7::bigint AND"
	SQL_SCOPE("c.region_id", "NULL::bigint", "NULL::bigint") "), "
	" p AS (SELECT p.id, p.year FROM c JOIN campaigns p ON p.region_id = c.region_id "
	"  AND p.year <= c.year ORDER BY p.year DESC LIMIT 3) "
	"SELECT jsonb_build_object('campaign_id', c.id, 'include', $10::text, "
	" 'threshold', coalesce($8::numeric, c.threshold_low), "
	" 'completeness', coalesce($9::numeric, em_completeness_bound()), "
	" 'campaigns', (SELECT jsonb_agg(jsonb_build_object('id', p.id, 'year', p.year) "
	"  ORDER BY p.year) FROM p))::text FROM c",
	10};
/* clang-format on */

/* The key that orders a submission's warnings: type, then direction. */
/* clang-format off */
#define WARN_KEY "(w.type_order * 100 + coalesce(w.direction_position, 0))"
/* clang-format on */

/*
 * $1..$6 caller, $7 campaign, $8 include
 * unapproved, $9 threshold, $10 completeness bound, $11 types (NULL: all), $12
 * municipality, $13 organization, $14 limit + 1, $15 after submission, $16
 * after key -> json, submission id, key. recommendation_id: the recommendation
 * made from the warning (not withdrawn; a draft only for the issuing side).
 */
/* clang-format off */
DB_STMT(WARN_LIST) = {
	"warnings_list",
	"SELECT jsonb_build_object('type', w.type, 'campaign_id', $7::bigint, "
	" 'submission_id', w.submission_id, 'organization_id', w.organization_id, "
	" 'organization_name', o.short_name, 'municipality_id', w.municipality_id, "
	" 'kind', w.kind, 'manager_id', w.manager_id, 'manager_name', m.full_name, "
	" 'status', w.status, 'direction', CASE WHEN w.direction_code IS NOT NULL THEN "
	" jsonb_build_object('code', w.direction_code, 'name', w.direction_name) END, "
	" 'figures', w.figures, 'recommendation_id', rec.id), w.submission_id, " WARN_KEY " "
	"FROM em_warnings($7::bigint, $8::boolean, $9::numeric, $10::numeric) w "
	"JOIN organizations o ON o.id = w.organization_id JOIN managers m ON m.id = w.manager_id "
	"LEFT JOIN LATERAL (SELECT r.id FROM recommendations r WHERE r.campaign_id = $7::bigint "
	" AND r.addressee_manager_id = w.manager_id AND r.warning ->> 'type' = w.type "
	" AND coalesce(r.warning ->> 'direction', '') = coalesce(w.direction_code, '') "
	" AND r.status <> 'withdrawn' AND (r.status <> 'draft' OR $1 IN ('admin', "
	" 'regional_operator') OR ($1 = 'municipal_operator' AND r.issuer_municipality_id = "
	" $4::bigint)) ORDER BY r.id LIMIT 1) rec ON true "
	"WHERE" CYCLE_SCOPE("w.region_id", "w.municipality_id", "w.organization_id", "w.manager_id")
	" AND ($11::text[] IS NULL OR w.type = ANY ($11::text[])) "
	" AND ($12::bigint IS NULL OR w.municipality_id = $12::bigint) "
	" AND ($13::bigint IS NULL OR w.organization_id = $13::bigint) "
	" AND ($15::bigint IS NULL OR (w.submission_id, " WARN_KEY ") > ($15::bigint, $16::int)) "
	"ORDER BY 2, 3 LIMIT $14::int",
	16};
/* clang-format on */

/* --- Parameters ------------------------------------------------------------------------ */

static bool known_type(const char *s, size_t n)
{
	for (const char *const *t = WARNING_TYPES; *t; t++)
		if (strlen(*t) == n && strncmp(*t, s, n) == 0)
			return true;
	return false;
}

/* Adds s[0..n) to the array literal out, once; false when it is not a type. */
static bool add_type(const char *s, size_t n, char *out, size_t outlen, unsigned *seen)
{
	for (int i = 0; WARNING_TYPES[i]; i++) {
		if (strlen(WARNING_TYPES[i]) != n || strncmp(WARNING_TYPES[i], s, n) != 0)
			continue;
		if (!(*seen & (1u << i))) {
			size_t used = strlen(out);
			snprintf(out + used, outlen - used, "%s%s", used > 1 ? "," : "",
				 WARNING_TYPES[i]);
		}
		*seen |= 1u << i;
		return true;
	}
	return false;
}

void warning_types_query(const char *csv, const char *field, char *out, size_t outlen,
			 struct em_reply *reply)
{
	unsigned seen = 0;

	out[0] = '\0';
	if (!csv)
		return;
	snprintf(out, outlen, "{");
	for (const char *p = csv;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (!add_type(p, n, out, outlen, &seen)) {
			reply_field_error(reply, field,
					  "must be one or more of decline_total, "
					  "decline_direction, below_threshold, low_completeness, "
					  "separated by commas");
			return;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	snprintf(out + strlen(out), outlen - strlen(out), "}");
}

void warning_types_json(const json_t *arr, const char *field, char *out, size_t outlen,
			struct em_reply *reply)
{
	unsigned seen = 0;
	const json_t *v;
	char f[64];
	size_t i;

	out[0] = '\0';
	if (!arr)
		return;
	if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > NTYPES) {
		reply_field_error(reply, field, "must be an array of 1 to %d warning types",
				  NTYPES);
		return;
	}
	snprintf(out, outlen, "{");
	json_array_foreach(arr, i, v) {
		snprintf(f, sizeof(f), "%s[%zu]", field, i);
		unsigned before = seen;
		if (!json_is_string(v) || !known_type(json_string_value(v), json_string_length(v)))
			reply_field_error(reply, f,
					  "must be one of decline_total, decline_direction, "
					  "below_threshold, low_completeness");
		else if (add_type(json_string_value(v), json_string_length(v), out, outlen,
				  &seen) &&
			 seen == before)
			reply_field_error(reply, f, "%s is named twice", json_string_value(v));
	}
	snprintf(out + strlen(out), outlen - strlen(out), "}");
}

/* A decimal query parameter from 0 to max, with up to 4 decimals ("40", "0.75"). */
static const char *decimal_param(struct em_req *req, struct em_reply *reply, const char *name,
				 double max)
{
	const char *v = req_query(req, name), *p;
	size_t digits = 0, decimals = 0;
	bool dot = false;

	if (!v)
		return NULL;
	for (p = v; *p; p++) {
		if (*p == '.' && !dot && digits > 0) {
			dot = true;
		} else if (*p >= '0' && *p <= '9') {
			if (dot)
				decimals++;
			else
				digits++;
		} else {
			break;
		}
	}
	if (*p || digits == 0 || digits > 3 || (dot && decimals == 0) || decimals > 4 ||
	    strtod(v, NULL) > max) {
		reply_field_error(reply, name,
				  "must be a number from 0 to %g with at most 4 "
				  "decimals",
				  max);
		return NULL;
	}
	return v;
}

static void id_param(struct em_req *req, struct em_reply *reply, const char *name, const char **out)
{
	int64_t id;

	*out = req_query(req, name);
	if (*out && !router_parse_id(*out, strlen(*out), &id))
		reply_field_error(reply, name, "must be a positive integer id");
}

/* limit (1..500), sort (id only: by submission, then type and direction) and cursor
 * (base64url "id\nsubmission\nkey", as list_reply writes it). */
static void page_parse(struct em_req *req, struct em_reply *reply, struct list_page *page)
{
	const char *cursor = req_query(req, "cursor"), *sort = req_query(req, "sort");
	unsigned char raw[LIST_MAX_KEY + 64];
	const char *key;
	char *end;
	long n;

	memset(page, 0, sizeof(*page));
	page->limit = list_limit_parse(req, reply, LIST_DEFAULT_LIMIT);
	page->sort = "id";
	if (sort && strcmp(sort, "id") != 0)
		reply_field_error(reply, "sort",
				  "warnings are ordered by submission id, then type "
				  "and direction: sort takes id only");
	if (!cursor)
		return;
	if (!(key = list_cursor_decode(cursor, "id", &page->after_id, raw)))
		goto bad;
	errno = 0;
	n = strtol(key, &end, 10);
	if (errno || end == key || *end || n < 0 || n > 9999)
		goto bad;
	snprintf(page->after_key, sizeof(page->after_key), "%ld", n);
	page->has_key = true;
	return;
bad:
	reply_field_error(reply, "cursor", "is not a cursor of this list");
}

/* --- The handler ------------------------------------------------------------------------- */

struct warn_query {
	struct list_page page;
	bool unapproved;
	char types[128];
	const char *threshold, *completeness, *muni, *org;
};

static enum em_err parse_query(struct em_req *req, struct em_reply *reply, struct warn_query *q)
{
	enum em_err rc;

	memset(q, 0, sizeof(*q));
	if ((rc = monitoring_include(req, reply, &q->unapproved)) != EM_OK)
		return rc;
	page_parse(req, reply, &q->page);
	warning_types_query(req_query(req, "type"), "type", q->types, sizeof(q->types), reply);
	q->threshold = decimal_param(req, reply, "threshold", 100);
	q->completeness = decimal_param(req, reply, "completeness", 1);
	id_param(req, reply, "municipality_id", &q->muni);
	id_param(req, reply, "organization_id", &q->org);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid parameters");
	return EM_OK;
}

void analysis_etag_reply(struct em_req *req, struct em_reply *reply, const char *etag)
{
	reply_header(reply, "ETag", etag);
	reply_header(reply, "Cache-Control", "private, no-cache");
	reply_header(reply, "Vary", "Authorization");
	if (etag_list_match(req_header(req, "If-None-Match"), etag, false) == ETAG_MATCHES) {
		free(reply->text);
		reply->text = NULL;
		reply->text_len = 0;
		reply->content_type = NULL;
		reply->status = 304;
	}
}

/* W/"warn-<hash of the body>". */
static void etag_reply(struct em_req *req, struct em_reply *reply)
{
	unsigned char h[16];
	char hex[33], etag[48];

	crypto_generichash(h, sizeof(h), (const unsigned char *)reply->text, reply->text_len, NULL,
			   0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(etag, sizeof(etag), "W/\"warn-%s\"", hex);
	analysis_etag_reply(req, reply, etag);
}

enum em_err analysis_list_reply(struct em_reply *reply, PGresult *rows,
				const struct list_page *page, const char *obj)
{
	size_t n = strlen(obj);
	char *extra;
	enum em_err rc;

	if (n < 2 || obj[0] != '{' || obj[n - 1] != '}' || !(extra = strndup(obj + 1, n - 2)))
		return EM_EINTERNAL;
	rc = list_reply(reply, rows, page, extra);
	free(extra);
	return rc;
}

/* What the warnings are computed with, as a JSON object (the answer's members
 * after items and next); EM_ENOTFOUND when the campaign is not visible. */
static enum em_err campaign_used(struct em_req *req, const struct warn_query *q, int64_t campaign,
				 PGresult **out)
{
	struct db_args a;
	enum em_err rc;

	caller_args(&a, req);
	db_arg_i64(&a, campaign);
	db_arg_text(&a, q->threshold);
	db_arg_text(&a, q->completeness);
	db_arg_text(&a, q->unapproved ? "unapproved" : "approved");
	if ((rc = db_exec_args(req->db, &WARN_CAMPAIGN, &a, out)) != EM_OK)
		return rc;
	if (PQntuples(*out) == 0) {
		PQclear(*out);
		return EM_ENOTFOUND;
	}
	return EM_OK;
}

enum em_err campaign_warnings_list(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply)
{
	struct warn_query q;
	struct db_args a;
	PGresult *used, *res;
	enum em_err rc;

	(void)body;
	if ((rc = parse_query(req, reply, &q)) != EM_OK)
		return rc;
	rc = campaign_used(req, &q, args->id[0], &used);
	if (rc == EM_ENOTFOUND)
		return reply_fail(reply, rc, "no campaign %lld", (long long)args->id[0]);
	if (rc != EM_OK)
		return rc;
	caller_args(&a, req);
	db_arg_i64(&a, args->id[0]);
	db_arg_bool(&a, q.unapproved);
	db_arg_text(&a, q.threshold);
	db_arg_text(&a, q.completeness);
	db_arg_text(&a, q.types[0] ? q.types : NULL);
	db_arg_text(&a, q.muni);
	db_arg_text(&a, q.org);
	db_arg_i64(&a, q.page.limit + 1);
	db_arg_id(&a, q.page.after_id);
	db_arg_text(&a, q.page.has_key ? q.page.after_key : NULL);
	if ((rc = db_exec_args(req->db, &WARN_LIST, &a, &res)) == EM_OK) {
		rc = analysis_list_reply(reply, res, &q.page, PQgetvalue(used, 0, 0));
		PQclear(res);
	}
	PQclear(used);
	if (rc == EM_OK)
		etag_reply(req, reply);
	return rc;
}
