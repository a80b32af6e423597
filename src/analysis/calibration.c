/*
 * calibration.c — GET /campaigns/{id}/calibration: the objectivity of the
 * heads' self-assessment, as the gap between what a head submitted and what
 * the municipality verified, in indicator-score points (DESIGN §3 × 100), by
 * municipality, organization, direction or indicator; the organizations whose
 * self-assessment is systematically higher, by a stated rule. One read-only
 * snapshot; JSON, CSV or XLSX; a weak ETag over the answer, 304 on a match.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/calibration.h"
#include "effmon/router.h"
#include "effmon/sbuf.h"
#include "effmon/sheet.h"
#include "analysis.h"

/* The flagged organizations listed with the totals; all of them page through
 * group_by=organization&flagged=true. */
#define CAL_FLAGGED_CAP 100
#define CAL_MAX_MIN_VALUES 10000
#define CAL_MAX_NUMBER 12

static const char *const GROUPS[] = {"organization", "municipality", "direction", "indicator",
				     NULL};

/* clang-format off */
DB_STMT(CAL_SNAPSHOT) = {
	"calibration_snapshot", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0};
/* clang-format on */

/* The compared values in the caller's scope and the municipality filter $m. */
/* clang-format off */
#define CAL_VALUES(campaign, m)                                                            \
	"p AS MATERIALIZED (" SQL_CAL_PAIRS(campaign) " AND"                                \
	SQL_SCOPE("cs.region_id", "cs.municipality_id", "cs.organization_id")               \
	" AND (" m "::bigint IS NULL OR cs.municipality_id = " m "::bigint)), "
/* clang-format on */
/* Per organization, with its flag. */
/* clang-format off */
#define CAL_ORGS(n, share, gap)                                                            \
	"o AS (SELECT t.*, " SQL_CAL_FLAG("t", n, share, gap) " AS flagged FROM ("           \
	" SELECT organization_id, municipality_id, min(submission_id) AS submission_id, "   \
	" min(kind) AS kind, " SQL_CAL_SUMS " FROM p GROUP BY organization_id, municipality_id) t) "
/* clang-format on */

/*
 * The campaign if visible, the rule, the totals and the flagged organizations
 * (at most $12, largest mean gap first). $1..$6 caller, $7 campaign, $8 min
 * values, $9 min share lowered, $10 min mean gap, $11 municipality, $12 cap,
 * $13 group_by. No row: the campaign is not visible.
 */
/* clang-format off */
DB_STMT(CAL_SUMMARY) = {
	"calibration_summary",
	"WITH " CAL_VALUES("$7::bigint", "$11") CAL_ORGS("$8::int", "$9::numeric", "$10::numeric")
	", tot AS (SELECT " SQL_CAL_SUMS " FROM p), "
	" fl AS (SELECT o.*, o.gap_sum / o.compared AS mean FROM o WHERE o.flagged) "
	"SELECT jsonb_build_object('campaign_id', c.id, 'group_by', $13::text, "
	" 'rule', jsonb_build_object('min_values', $8::int, 'min_share_lowered', $9::numeric, "
	"  'min_mean_gap', $10::numeric), "
	" 'totals', (SELECT " SQL_CAL_FIGURES("tot") " FROM tot) || jsonb_build_object("
	"  'organizations', (SELECT count(*) FROM o), "
	"  'organizations_flagged', (SELECT count(*) FROM fl)), "
	" 'flagged', jsonb_build_object('count', (SELECT count(*) FROM fl), 'limit', $12::int, "
	"  'items', coalesce((SELECT jsonb_agg(x.j ORDER BY x.mean DESC, x.organization_id) FROM ("
	"   SELECT fl.mean, fl.organization_id, jsonb_build_object('organization_id', "
	"    fl.organization_id, 'organization_name', og.short_name, 'municipality_id', "
	"    fl.municipality_id, 'kind', fl.kind, 'submission_id', fl.submission_id) || "
	     SQL_CAL_FIGURES("fl") " AS j "
	"   FROM fl JOIN organizations og ON og.id = fl.organization_id "
	"   ORDER BY fl.mean DESC, fl.organization_id LIMIT $12::int) x), '[]'::jsonb)))::text "
	"FROM campaigns c WHERE c.id = $7::bigint AND"
	SQL_SCOPE("c.region_id", "NULL::bigint", "NULL::bigint"),
	13};
/* clang-format on */

/*
 * One page of groups: rows (json, group id, name). $1..$6 caller, $7 limit+1,
 * $8 after id, $9 after name, $10 sort (id|name), $11 campaign, $12 group_by
 * (for organizations: flagged, NULL for all), $13 min values, $14 min share
 * lowered, $15 min mean gap, $16 municipality. Only groups with a compared
 * value are listed.
 */
/* clang-format off */
#define CAL_PAGE_HEAD                                                                      \
	"WITH " CAL_VALUES("$11::bigint", "$16") CAL_ORGS("$13::int", "$14::numeric", "$15::numeric")

DB_STMT(CAL_ORG_PAGE) = {
	"calibration_organizations",
	CAL_PAGE_HEAD
	"SELECT jsonb_build_object('organization_id', o.organization_id, 'organization_name', "
	" og.short_name, 'municipality_id', o.municipality_id, 'kind', o.kind, 'submission_id', "
	" o.submission_id, 'flagged', o.flagged) || " SQL_CAL_FIGURES("o") ", "
	" o.organization_id, og.short_name "
	"FROM o JOIN organizations og ON og.id = o.organization_id "
	"WHERE ($12::boolean IS NULL OR o.flagged = $12::boolean)"
	SQL_LIST_KEYSET("og.short_name", "o.organization_id")
	SQL_LIST_ORDER("og.short_name", "o.organization_id"),
	16};
/* clang-format on */

/* $12 municipality, direction or indicator; a municipality's row counts its
 * organizations with a compared value and those flagged. */
/* clang-format off */
DB_STMT(CAL_GROUP_PAGE) = {
	"calibration_groups",
	CAL_PAGE_HEAD
	", g AS (SELECT CASE $12 WHEN 'municipality' THEN municipality_id "
	"  WHEN 'indicator' THEN indicator_id ELSE direction_id END AS gid, " SQL_CAL_SUMS
	"  FROM p GROUP BY 1), "
	" n AS (SELECT g.*, mu.name AS muni, ind.code AS icode, ind.name AS iname, "
	"  d.code AS dcode, d.name AS dname, "
	"  CASE $12 WHEN 'municipality' THEN mu.name WHEN 'indicator' THEN ind.name "
	"   ELSE d.name END AS key_name "
	"  FROM g LEFT JOIN municipalities mu ON $12 = 'municipality' AND mu.id = g.gid "
	"  LEFT JOIN indicators ind ON $12 = 'indicator' AND ind.id = g.gid "
	"  LEFT JOIN directions d ON d.id = CASE $12 WHEN 'direction' THEN g.gid "
	"   WHEN 'indicator' THEN ind.direction_id END) "
	"SELECT CASE $12 WHEN 'municipality' THEN jsonb_build_object('municipality_id', n.gid, "
	"  'municipality_name', n.muni, "
	"  'organizations', (SELECT count(*) FROM o WHERE o.municipality_id = n.gid), "
	"  'organizations_flagged', (SELECT count(*) FROM o WHERE o.municipality_id = n.gid "
	"   AND o.flagged)) "
	" WHEN 'indicator' THEN jsonb_build_object('indicator_id', n.gid, 'indicator_code', "
	"  n.icode, 'indicator_name', n.iname, 'direction', n.dcode) "
	" ELSE jsonb_build_object('direction_id', n.gid, 'direction', n.dcode, "
	"  'direction_name', n.dname) END || " SQL_CAL_FIGURES("n") ", n.gid, n.key_name "
	"FROM n WHERE true"
	SQL_LIST_KEYSET("n.key_name", "n.gid") SQL_LIST_ORDER("n.key_name", "n.gid"),
	16};
/* clang-format on */

/* --- Parameters ------------------------------------------------------------------ */

struct cal_query {
	const char *group_by;
	char min_values[24];
	char min_share[CAL_MAX_NUMBER + 1];
	char min_gap[CAL_MAX_NUMBER + 1];
	const char *muni;
	const char *flagged; /* "true", "false" or NULL */
	struct list_page page;
	enum em_format fmt;
	struct csv_opts csv;
};

/* A plain decimal (digits, an optional fraction) in (0, max]; else a field error. */
static void decimal_param(struct em_req *req, struct em_reply *reply, const char *name, double max,
			  const char *dflt, char *out, size_t outlen)
{
	const char *v = req_query(req, name), *p;
	char *end;
	double d;

	snprintf(out, outlen, "%s", dflt);
	if (!v)
		return;
	for (p = v; *p >= '0' && *p <= '9'; p++)
		;
	if (p > v && *p == '.' && p[1])
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	errno = 0;
	d = strtod(v, &end);
	if (p == v || *p || strlen(v) >= outlen || errno || end != p || !(d > 0) || d > max) {
		reply_field_error(reply, name,
				  "must be a decimal number greater than 0 and at "
				  "most %g (digits, a point before the fraction)",
				  max);
		return;
	}
	snprintf(out, outlen, "%s", v);
}

static void cal_parse(struct em_req *req, struct em_reply *reply, struct cal_query *q)
{
	const char *g = req_query(req, "group_by"), *n = req_query(req, "min_values");
	const char *f = req_query(req, "flagged");
	const char *const *c;
	char *end;
	int64_t id;

	q->group_by = GROUPS[0];
	if (g) {
		for (c = GROUPS; *c && strcmp(*c, g) != 0; c++)
			;
		if (*c)
			q->group_by = *c;
		else
			reply_field_error(reply, "group_by",
					  "must be one of: organization, municipality, direction, "
					  "indicator");
	}
	snprintf(q->min_values, sizeof(q->min_values), "%s", CAL_MIN_VALUES);
	if (n) {
		errno = 0;
		long v = strtol(n, &end, 10);
		if (errno || end == n || *end || n[0] < '0' || n[0] > '9' || v < 1 ||
		    v > CAL_MAX_MIN_VALUES)
			reply_field_error(reply, "min_values", "must be an integer from 1 to %d",
					  CAL_MAX_MIN_VALUES);
		else
			snprintf(q->min_values, sizeof(q->min_values), "%ld", v);
	}
	decimal_param(req, reply, "min_share_lowered", 1, CAL_MIN_SHARE_LOWERED, q->min_share,
		      sizeof(q->min_share));
	decimal_param(req, reply, "min_mean_gap", 100, CAL_MIN_MEAN_GAP, q->min_gap,
		      sizeof(q->min_gap));
	if ((q->muni = req_query(req, "municipality_id")) &&
	    !router_parse_id(q->muni, strlen(q->muni), &id))
		reply_field_error(reply, "municipality_id", "must be a positive integer id");
	q->flagged = NULL;
	if (f) {
		if (strcmp(f, "true") != 0 && strcmp(f, "false") != 0)
			reply_field_error(reply, "flagged", "must be true or false");
		else if (strcmp(q->group_by, "organization") != 0)
			reply_field_error(reply, "flagged",
					  "filters organizations: it needs "
					  "group_by=organization");
		else
			q->flagged = f;
	}
	/* limit, cursor and sort (id|name); its own errors go with the others. */
	(void)list_page_parse(req, reply, &q->page);
}

/* --- Reading ------------------------------------------------------------------------ */

struct cal_read {
	const struct em_req *req;
	const struct cal_query *q;
	int64_t campaign;
	PGresult *summary, *groups;
};

static enum em_err cal_read(struct db_conn *db, void *arg)
{
	struct cal_read *x = arg;
	const struct cal_query *q = x->q;
	bool org = strcmp(q->group_by, "organization") == 0;
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	/* A retried transaction starts again from nothing. */
	PQclear(x->summary);
	PQclear(x->groups);
	x->summary = x->groups = NULL;
	if ((rc = db_exec(db, &CAL_SNAPSHOT, NULL, &res)) != EM_OK)
		return rc;
	PQclear(res);
	caller_args(&a, x->req);
	db_arg_i64(&a, x->campaign);
	db_arg_text(&a, q->min_values);
	db_arg_text(&a, q->min_share);
	db_arg_text(&a, q->min_gap);
	db_arg_text(&a, q->muni);
	db_arg_i64(&a, CAL_FLAGGED_CAP);
	db_arg_text(&a, q->group_by);
	if ((rc = db_exec_args(db, &CAL_SUMMARY, &a, &x->summary)) != EM_OK)
		return rc;
	if (PQntuples(x->summary) == 0)
		return EM_ENOTFOUND;
	caller_args(&a, x->req);
	db_arg_i64(&a, q->page.limit + 1);
	db_arg_id(&a, q->page.after_id);
	db_arg_text(&a, q->page.has_key ? q->page.after_key : NULL);
	db_arg_text(&a, q->page.sort);
	db_arg_i64(&a, x->campaign);
	db_arg_text(&a, org ? q->flagged : q->group_by);
	db_arg_text(&a, q->min_values);
	db_arg_text(&a, q->min_share);
	db_arg_text(&a, q->min_gap);
	db_arg_text(&a, q->muni);
	return db_exec_args(db, org ? &CAL_ORG_PAGE : &CAL_GROUP_PAGE, &a, &x->groups);
}

/* --- Files --------------------------------------------------------------------------- */

static void figure_cols(struct sheet_book *book, struct sheet_table *t)
{
	table_add_col(book, t, "compared", "Сравнено значений", SK_INT);
	table_add_col(book, t, "lowered", "Снижено при проверке", SK_INT);
	table_add_col(book, t, "raised", "Повышено при проверке", SK_INT);
	table_add_col(book, t, "share_lowered", "Доля сниженных", SK_DEC4);
	table_add_col(book, t, "share_raised", "Доля повышенных", SK_DEC4);
	table_add_col(book, t, "mean_gap", "Средний разрыв, баллов", SK_DEC2);
	table_add_col(book, t, "mean_lowering", "Среднее снижение, баллов", SK_DEC2);
}

static void org_cols(struct sheet_book *book, struct sheet_table *t)
{
	table_add_col(book, t, "organization_id", "Код ОО", SK_INT);
	table_add_col(book, t, "organization_name", "Образовательная организация", SK_TEXT);
	table_add_col(book, t, "municipality_id", "Код муниципалитета", SK_INT);
	table_add_col(book, t, "kind", "Тип ОО", SK_TEXT);
	table_add_col(book, t, "submission_id", "Анкета", SK_INT);
}

/* The groups of the page, the totals, and the flagged organizations. */
static void calibration_book(struct sheet_book *book, json_t *doc)
{
	const char *g = json_string_value(json_object_get(doc, "group_by"));
	json_t *totals = json_pack("[O]", json_object_get(doc, "totals"));
	struct sheet_table *t;

	t = sheet_add_table(book, book_add_sheet(book, "Калибровка"), NULL,
			    json_object_get(doc, "items"));
	if (g && strcmp(g, "organization") == 0) {
		org_cols(book, t);
		table_add_col(book, t, "flagged", "Завышение самооценки", SK_BOOL);
	} else if (g && strcmp(g, "municipality") == 0) {
		table_add_col(book, t, "municipality_id", "Код муниципалитета", SK_INT);
		table_add_col(book, t, "municipality_name", "Муниципалитет", SK_TEXT);
		table_add_col(book, t, "organizations", "ОО со сравнением", SK_INT);
		table_add_col(book, t, "organizations_flagged", "ОО с завышением", SK_INT);
	} else if (g && strcmp(g, "indicator") == 0) {
		table_add_col(book, t, "indicator_id", "Код показателя", SK_INT);
		table_add_col(book, t, "indicator_code", "Показатель", SK_TEXT);
		table_add_col(book, t, "indicator_name", "Наименование показателя", SK_TEXT);
		table_add_col(book, t, "direction", "Направление", SK_TEXT);
	} else {
		table_add_col(book, t, "direction", "Направление", SK_TEXT);
		table_add_col(book, t, "direction_name", "Наименование направления", SK_TEXT);
	}
	figure_cols(book, t);
	t = sheet_add_table(book, book_add_sheet(book, "Итого"), NULL, totals);
	figure_cols(book, t);
	table_add_col(book, t, "organizations", "ОО со сравнением", SK_INT);
	table_add_col(book, t, "organizations_flagged", "ОО с завышением", SK_INT);
	json_decref(totals);
	t = sheet_add_table(book, book_add_sheet(book, "Завышение самооценки"), NULL,
			    json_object_get(json_object_get(doc, "flagged"), "items"));
	org_cols(book, t);
	figure_cols(book, t);
}

/* --- The handler -------------------------------------------------------------------- */

/* W/"cal-<hash>" over the answer's text and what else selects its bytes. */
static void cal_etag(const struct em_reply *reply, const struct cal_query *q, char *out,
		     size_t outlen)
{
	crypto_generichash_state st;
	unsigned char h[16];
	char hex[33], sel[16];

	snprintf(sel, sizeof(sel), "%d|%c%c", (int)q->fmt, q->csv.delimiter, q->csv.decimal);
	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)sel, strlen(sel));
	crypto_generichash_update(&st, (const unsigned char *)reply->text, reply->text_len);
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, outlen, "W/\"cal-%s\"", hex);
}

enum em_err campaign_calibration(struct em_req *req, const struct em_args *args, json_t *body,
				 struct em_reply *reply)
{
	struct cal_query q;
	struct cal_read x = {.req = req, .q = &q, .campaign = args->id[0]};
	char etag[64], name[64];
	enum em_err rc;

	(void)body;
	memset(&q, 0, sizeof(q));
	if ((rc = book_params(req, reply, &q.fmt, &q.csv)) != EM_OK)
		return rc;
	cal_parse(req, reply, &q);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid parameters");

	rc = db_tx(req->db, cal_read, &x);
	if (rc == EM_ENOTFOUND)
		rc = reply_fail(reply, rc, "no campaign %lld", (long long)x.campaign);
	if (rc != EM_OK || (rc = analysis_list_reply(reply, x.groups, &q.page,
						     PQgetvalue(x.summary, 0, 0))) != EM_OK)
		goto out;
	cal_etag(reply, &q, etag, sizeof(etag));
	analysis_etag_reply(req, reply, etag);
	if (reply->status != 304 && q.fmt != EM_FMT_JSON) {
		snprintf(name, sizeof(name), "calibration-campaign-%lld-%s", (long long)x.campaign,
			 q.group_by);
		rc = book_from_json(reply, q.fmt, &q.csv, name, calibration_book);
	}
out:
	PQclear(x.summary);
	PQclear(x.groups);
	return rc;
}
