/*
 * simulations.c — POST /campaigns/{id}/simulations, the what-if simulator:
 * the campaign's catalog and thresholds with the body's changes, scored by
 * DESIGN §3 in one SQL statement over the counted submissions (or over an
 * earlier campaign's, values_from), against the official scores, and
 * GET /campaigns/{id}/simulations, the record of the runs. Official scores are
 * only read; each run is recorded (simulations: the request and a summary).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/monitoring.h"
#include "effmon/registry.h"
#include "effmon/router.h"
#include "simulation.h"

/*
 * The campaign if visible ($1..$6 caller, $7 id), with what validation needs:
 * its thresholds, its catalog {code: {value_type, min_value, max_value}},
 * and the campaign whose values are used: itself; the one named by $8 if it
 * is an earlier campaign of the same region (else null); with $9, the latest
 * earlier campaign of the region (null if none).
 */
/* clang-format off */
DB_STMT(SIM_CONTEXT) = {
	"simulation_context",
	"SELECT jsonb_build_object('thresholds', jsonb_build_object('high', c.threshold_high, "
	" 'sufficient', c.threshold_sufficient, 'low', c.threshold_low), "
	" 'catalog', coalesce((SELECT jsonb_object_agg(i.code, jsonb_build_object("
	"  'value_type', i.value_type, 'min_value', i.min_value, 'max_value', i.max_value)) "
	"  FROM indicators i WHERE i.campaign_id = c.id), '{}'::jsonb), "
	" 'values_campaign', CASE WHEN $9::boolean THEN (SELECT p.id FROM campaigns p "
	"   WHERE p.region_id = c.region_id AND p.year < c.year ORDER BY p.year DESC LIMIT 1) "
	"  WHEN $8::bigint IS NOT NULL THEN (SELECT p.id FROM campaigns p WHERE p.id = $8::bigint "
	"   AND p.region_id = c.region_id AND p.year < c.year) ELSE c.id END) "
	"FROM campaigns c WHERE c.id = $7::bigint AND"
	SQL_SCOPE("c.region_id", "NULL::bigint", "NULL::bigint"),
	9};
/* clang-format on */

/* {"high": n, "sufficient": n, "low": n, "critical": n} of a level column. */
/* clang-format off */
#define SQL_LEVELS(col)                                                                   \
	"jsonb_build_object('high', count(*) FILTER (WHERE " col " = 'high'), "          \
	"'sufficient', count(*) FILTER (WHERE " col " = 'sufficient'), "                  \
	"'low', count(*) FILTER (WHERE " col " = 'low'), "                                \
	"'critical', count(*) FILTER (WHERE " col " = 'critical'))"
/* clang-format on */

/* Spearman's rho from the sums of average ranks x, y: Pearson's r of the ranks,
 * exact up to the square root; null under 2 rows or without variance. */
/* clang-format off */
#define SQL_SPEARMAN(x, y)                                                                \
	"(SELECT CASE WHEN q.n > 1 AND q.vx > 0 AND q.vy > 0 THEN "                        \
	" round((q.n * q.sxy - q.sx * q.sy) / sqrt(q.vx * q.vy), 6) END FROM (SELECT "     \
	" count(*)::numeric AS n, sum(" x ") AS sx, sum(" y ") AS sy, sum(" x " * " y ") AS sxy, " \
	" count(*) * sum(" x " * " x ") - sum(" x ") ^ 2 AS vx, "                          \
	" count(*) * sum(" y " * " y ") - sum(" y ") ^ 2 AS vy"
/* clang-format on */

/* Mean absolute and largest rank shift of the compared rows (both ranks). */
/* clang-format off */
#define SQL_SHIFTS                                                                        \
	"'compared', count(*) FILTER (WHERE x.shift IS NOT NULL), "                        \
	"'mean_abs', round(avg(abs(x.shift)), 4), 'max_abs', max(abs(x.shift))"
/* clang-format on */

/*
 * The simulation. $1..$6 caller, $7 the campaign (catalog, thresholds), $8
 * the campaign whose counted submissions and values are used, $9 changes
 * [{code, weights?, min_value?, max_value?, polarity?, exclude?}], $10
 * thresholds {high?, sufficient?, low?} or null, $11 include unapproved, $12
 * the cap of changed items. Values are matched to the catalog by indicator
 * code. Ranks are dense by the 2-decimal total within kind among every
 * counted row (the campaign is one region), before the scope filter, as on
 * /scores; every figure of the answer is over the rows in the caller's scope.
 */
/* One statement of some 8 KB: longer than the 4095 characters C99 promises,
 * which GCC and Clang take (as meson.build does for the embedded files). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverlength-strings"
/* clang-format off */
DB_STMT(SIMULATE) = {
	"simulation_run",
	"WITH c AS (SELECT c.id, "
	"  coalesce(($10::jsonb ->> 'high')::numeric, c.threshold_high) AS high, "
	"  coalesce(($10::jsonb ->> 'sufficient')::numeric, c.threshold_sufficient) AS sufficient, "
	"  coalesce(($10::jsonb ->> 'low')::numeric, c.threshold_low) AS low "
	"  FROM campaigns c WHERE c.id = $7::bigint), "
	" ch AS (SELECT x ->> 'code' AS code, x FROM jsonb_array_elements($9::jsonb) x), "
	" cat AS MATERIALIZED (SELECT i.code, i.value_type, "
	"  CASE WHEN ch.x ? 'min_value' THEN (ch.x ->> 'min_value')::numeric ELSE i.min_value END "
	"   AS min_value, "
	"  CASE WHEN ch.x ? 'max_value' THEN (ch.x ->> 'max_value')::numeric ELSE i.max_value END "
	"   AS max_value, coalesce(ch.x ->> 'polarity', i.polarity) AS polarity, "
	"  i.weights || coalesce(ch.x -> 'weights', '{}'::jsonb) AS weights "
	"  FROM indicators i LEFT JOIN ch ON ch.code = i.code WHERE i.campaign_id = $7::bigint "
	"   AND NOT coalesce((ch.x ->> 'exclude')::boolean, false)), "
	" sub AS MATERIALIZED (SELECT sc.submission_id AS id, sc.region_id, sc.municipality_id, "
	"  sc.organization_id, sc.manager_id, sc.kind, sc.total_rounded AS before_total, "
	"  sc.level AS before_level FROM submission_scores sc WHERE sc.campaign_id = $8::bigint "
	"  AND sc.status IN ('approved', 'submitted', 'verified') "
	"  AND (sc.status = 'approved' OR $11::boolean)), "
	" ind AS MATERIALIZED (SELECT cat.*, k.kind, (cat.weights ->> k.kind)::numeric AS w "
	"  FROM cat CROSS JOIN (SELECT DISTINCT kind FROM sub) k "
	"  WHERE coalesce((cat.weights ->> k.kind)::numeric, 0) > 0), "
	" kw AS (SELECT kind, sum(w) AS w FROM ind GROUP BY kind), "
	" vcode AS (SELECT i.id, i.code FROM indicators i WHERE i.campaign_id = $8::bigint), "
	" ws AS (SELECT s.id, sum(ind.w * em_indicator_score(v.value, ind.value_type, "
	"   ind.polarity, ind.min_value, ind.max_value)) AS ws "
	"  FROM sub s CROSS JOIN LATERAL (SELECT v.indicator_id, v.value FROM submission_values v "
	"   WHERE v.submission_id = s.id OFFSET 0) v "
	"  JOIN vcode ON vcode.id = v.indicator_id "
	"  JOIN ind ON ind.code = vcode.code AND ind.kind = s.kind GROUP BY s.id), "
	" sim AS (SELECT s.*, round(100 * coalesce(ws.ws, 0) / kw.w, 2) AS after_total "
	"  FROM sub s LEFT JOIN kw ON kw.kind = s.kind LEFT JOIN ws ON ws.id = s.id), "
	" ranked AS (SELECT s.*, em_level(s.after_total, c.high, c.sufficient, c.low) AS after_level, "
	"  CASE WHEN s.before_total IS NOT NULL THEN dense_rank() OVER (PARTITION BY s.kind "
	"   ORDER BY s.before_total DESC NULLS LAST) END AS before_rank, "
	"  CASE WHEN s.after_total IS NOT NULL THEN dense_rank() OVER (PARTITION BY s.kind "
	"   ORDER BY s.after_total DESC NULLS LAST) END AS after_rank FROM sim s, c), "
	" r AS MATERIALIZED (SELECT r.*, r.after_rank - r.before_rank AS shift FROM ranked r WHERE"
	SQL_SCOPE("r.region_id", "r.municipality_id", "r.organization_id") "), "
	/* Average ranks (ties share the mean of their positions), in all and within kind. */
	" av AS MATERIALIZED (SELECT r.kind, "
	"  rank() OVER (ORDER BY r.before_total) + (count(*) OVER (PARTITION BY r.before_total) - 1) "
	"   / 2.0 AS xb, "
	"  rank() OVER (ORDER BY r.after_total) + (count(*) OVER (PARTITION BY r.after_total) - 1) "
	"   / 2.0 AS xa, "
	"  rank() OVER (PARTITION BY r.kind ORDER BY r.before_total) + (count(*) OVER "
	"   (PARTITION BY r.kind, r.before_total) - 1) / 2.0 AS kb, "
	"  rank() OVER (PARTITION BY r.kind ORDER BY r.after_total) + (count(*) OVER "
	"   (PARTITION BY r.kind, r.after_total) - 1) / 2.0 AS ka "
	"  FROM r WHERE r.before_total IS NOT NULL AND r.after_total IS NOT NULL), "
	" chg AS MATERIALIZED (SELECT r.* FROM r WHERE r.before_level IS DISTINCT FROM r.after_level) "
	"SELECT jsonb_build_object('campaign_id', c.id, 'values_campaign_id', $8::bigint, "
	" 'include', CASE WHEN $11::boolean THEN 'unapproved' ELSE 'approved' END, "
	" 'thresholds', jsonb_build_object('high', c.high, 'sufficient', c.sufficient, 'low', c.low), "
	" 'unmatched_indicators', (SELECT coalesce(jsonb_agg(cat.code ORDER BY cat.code), '[]'::jsonb) "
	"  FROM cat WHERE NOT EXISTS (SELECT 1 FROM vcode WHERE vcode.code = cat.code)), "
	" 'counted', (SELECT count(*) FROM r), "
	" 'levels', (SELECT jsonb_build_object('before', " SQL_LEVELS("before_level") ", "
	"  'after', " SQL_LEVELS("after_level") ") FROM r), "
	" 'rank_shift', (SELECT jsonb_build_object(" SQL_SHIFTS ", 'largest', "
	"  (SELECT jsonb_build_object('submission_id', y.id, 'kind', y.kind, "
	"   'before_rank', y.before_rank, 'after_rank', y.after_rank, 'shift', y.shift) FROM r y "
	"   WHERE y.shift <> 0 ORDER BY abs(y.shift) DESC, y.id LIMIT 1)) FROM r x), "
	" 'spearman', " SQL_SPEARMAN("xb", "xa") " FROM av) q), "
	" 'by_kind', (SELECT coalesce(jsonb_agg(k.j ORDER BY k.kind), '[]'::jsonb) FROM ("
	"  SELECT x.kind, jsonb_build_object('kind', x.kind, 'counted', count(*), "
	"   'levels', jsonb_build_object('before', " SQL_LEVELS("x.before_level") ", "
	"    'after', " SQL_LEVELS("x.after_level") "), "
	"   'rank_shift', jsonb_build_object(" SQL_SHIFTS "), "
	"   'spearman', " SQL_SPEARMAN("kb", "ka") " FROM av WHERE av.kind = x.kind) q)) AS j "
	"  FROM r x GROUP BY x.kind) k), "
	" 'by_municipality', (SELECT coalesce(jsonb_agg(m.j ORDER BY m.id), '[]'::jsonb) FROM ("
	"  SELECT x.municipality_id AS id, jsonb_build_object('municipality_id', x.municipality_id, "
	"   'municipality_name', (SELECT mu.name FROM municipalities mu "
	"    WHERE mu.id = x.municipality_id), 'counted', count(*), "
	"   'levels', jsonb_build_object('before', " SQL_LEVELS("x.before_level") ", "
	"    'after', " SQL_LEVELS("x.after_level") ")) AS j "
	"  FROM r x GROUP BY x.municipality_id) m), "
	" 'changed', jsonb_build_object('count', (SELECT count(*) FROM chg), 'limit', $12::int, "
	"  'items', coalesce((SELECT jsonb_agg(z.j ORDER BY z.d DESC, z.id) FROM ("
	"   SELECT y.id, abs(coalesce(y.after_total, 0) - coalesce(y.before_total, 0)) AS d, "
	"   jsonb_build_object('submission_id', y.id, 'organization_id', y.organization_id, "
	"    'organization_name', o.short_name, 'municipality_id', y.municipality_id, "
	"    'kind', y.kind, 'manager_id', y.manager_id, 'manager_name', mg.full_name, "
	"    'before', jsonb_build_object('total', y.before_total, 'level', y.before_level, "
	"     'rank_region', y.before_rank), "
	"    'after', jsonb_build_object('total', y.after_total, 'level', y.after_level, "
	"     'rank_region', y.after_rank)) AS j "
	"   FROM chg y JOIN organizations o ON o.id = y.organization_id "
	"   LEFT JOIN managers mg ON mg.id = y.manager_id "
	"   ORDER BY abs(coalesce(y.after_total, 0) - coalesce(y.before_total, 0)) DESC, y.id "
	"   LIMIT $12::int) z), '[]'::jsonb))) "
	"FROM c",
	12};
/* clang-format on */
#pragma GCC diagnostic pop

/* The summary kept of a run, from its answer $1. */
/* clang-format off */
#define SQL_SIM_SUMMARY(doc)                                                              \
	"jsonb_build_object('counted', " doc "->'counted', 'include', " doc "->'include', "   \
	"'thresholds', " doc "->'thresholds', 'levels', " doc "->'levels', "               \
	"'changed', " doc "->'changed'->'count', 'rank_shift', (" doc "->'rank_shift') - "  \
	"'largest', 'spearman', " doc "->'spearman', 'unmatched_indicators', "             \
	doc "->'unmatched_indicators')"
/* clang-format on */

/* $1..$6 the caller, $7 campaign,
 * $8 actor, $9 the request, $10 the answer, $11 request id -> the answer with the record's id
 * and time. A municipal operator's run is recorded for its municipality. */
/* clang-format off */
DB_STMT(SIM_SAVE) = {
	"simulation_save",
	"WITH d AS (SELECT $10::jsonb AS doc), "
	" ins AS (INSERT INTO simulations (campaign_id, region_id, municipality_id, "
	"  values_campaign_id, user_id, role, request, summary) "
	" SELECT c.id, c.region_id, CASE WHEN $1 = 'municipal_operator' THEN $4::bigint END, "
	"  (d.doc ->> 'values_campaign_id')::bigint, $8::bigint, $1, $9::jsonb, "
	SQL_SIM_SUMMARY("d.doc") " FROM campaigns c, d WHERE c.id = $7::bigint RETURNING *), "
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $8::bigint, $1, 'simulation', ins.id, 'create', "
	" NULL, jsonb_build_object('request', ins.request, 'summary', ins.summary), $11, "
	" ins.region_id, ins.municipality_id, NULL FROM ins) "
	"SELECT (d.doc || jsonb_build_object('id', ins.id, 'created_at', ins.created_at))::text "
	"FROM ins, d",
	11};

#define SIM_RUN_JSON(s)                                                                   \
	"jsonb_build_object('id', " s ".id, 'campaign_id', " s ".campaign_id, "           \
	"'municipality_id', " s ".municipality_id, 'values_campaign_id', "                  \
	s ".values_campaign_id, 'user_id', " s ".user_id, 'role', " s ".role, 'request', "  \
	s ".request, 'summary', " s ".summary, 'created_at', " s ".created_at)"
/* clang-format on */

/* The runs of campaign $7 the caller may see (a regional operator: the region's; a
 * municipal operator: the region's and its own municipality's, as the cycle report counts
 * them; a record holds no personal data), newest first: $8 limit + 1, $9 before id. */
/* clang-format off */
DB_STMT(SIM_LIST) = {
	"simulation_list",
	"SELECT " SIM_RUN_JSON("s") ", s.id FROM simulations s JOIN campaigns c "
	" ON c.id = s.campaign_id WHERE s.campaign_id = $7::bigint AND"
	SQL_SCOPE("c.region_id", "NULL::bigint", "NULL::bigint")
	" AND ($1 <> 'municipal_operator' OR s.municipality_id IS NULL "
	"  OR s.municipality_id = $4::bigint) "
	" AND ($9::bigint IS NULL OR s.id < $9::bigint) ORDER BY s.id DESC LIMIT $8::int",
	9};
/* clang-format on */

/* values_from: a campaign id, or "previous"; none (*id 0): the campaign's own values. */
static void parse_values_from(const json_t *v, struct em_reply *reply, int64_t *id, bool *previous)
{
	*previous = false;
	*id = 0;
	if (!v || json_is_null(v))
		return;
	if (json_is_string(v) && strcmp(json_string_value(v), "previous") == 0)
		*previous = true;
	else if (json_is_integer(v) && json_integer_value(v) > 0)
		*id = json_integer_value(v);
	else
		reply_field_error(reply, "values_from", "must be a campaign id or \"previous\"");
}

/* The campaign's context. Not found before invalid: a campaign that is not
 * visible answers 404 like a missing one, and tells nothing of the parameters. */
static enum em_err load_context(struct em_req *req, struct em_reply *reply, int64_t campaign,
				int64_t from, bool previous, struct sim_ctx *ctx)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	caller_args(&a, req);
	db_arg_i64(&a, campaign);
	db_arg_id(&a, from);
	db_arg_bool(&a, previous);
	if ((rc = db_exec_args(req->db, &SIM_CONTEXT, &a, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		json_decref(reply->errors);
		reply->errors = NULL;
		return reply_fail(reply, EM_ENOTFOUND, "no campaign %lld", (long long)campaign);
	}
	ctx->doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (!ctx->doc)
		return EM_EINTERNAL;
	ctx->catalog = json_object_get(ctx->doc, "catalog");
	ctx->thresholds = json_object_get(ctx->doc, "thresholds");
	return EM_OK;
}

/* The simulation's answer (owned by the caller) in *out. */
static enum em_err run_simulation(struct em_req *req, int64_t campaign, const struct sim_ctx *ctx,
				  const json_t *body, bool unapproved, long limit, char **out)
{
	const json_t *changes = json_object_get(body, "indicators");
	const json_t *th = json_object_get(body, "thresholds");
	char *ctext = NULL, *ttext = NULL;
	struct db_args a;
	PGresult *res;
	enum em_err rc = EM_EINTERNAL;

	ctext = changes ? json_dumps(changes, SIM_JSON_FLAGS) : strdup("[]");
	ttext = th ? json_dumps(th, SIM_JSON_FLAGS) : NULL;
	if (!ctext || (th && !ttext))
		goto out;
	caller_args(&a, req);
	db_arg_i64(&a, campaign);
	db_arg_i64(&a, json_integer_value(json_object_get(ctx->doc, "values_campaign")));
	db_arg_text(&a, ctext);
	db_arg_text(&a, ttext);
	db_arg_bool(&a, unapproved);
	db_arg_i64(&a, limit);
	if ((rc = db_exec_args(req->db, &SIMULATE, &a, &res)) != EM_OK)
		goto out;
	rc = EM_EINTERNAL;
	if (PQntuples(res) == 1 && (*out = strdup(PQgetvalue(res, 0, 0))))
		rc = EM_OK;
	PQclear(res);
out:
	free(ctext);
	free(ttext);
	return rc;
}

/* One run in its transaction: the Idempotency-Key, the simulation, its record and audit
 * row; the answer is 201 with the record's id. */
struct sim_run {
	struct em_req *req;
	int64_t campaign;
	const struct sim_ctx *ctx;
	const json_t *body;
	bool unapproved;
	long limit;
	struct em_reply *reply;
};

static enum em_err sim_run_tx(struct db_conn *db, void *arg)
{
	struct sim_run *x = arg;
	struct em_req *req = x->req;
	char variant[64], location[96], *answer = NULL, *request = NULL;
	struct db_args a;
	struct idem idem;
	PGresult *res;
	enum em_err rc;

	(void)db;
	reply_clear(x->reply);
	snprintf(variant, sizeof(variant), "limit=%ld include=%s", x->limit,
		 x->unapproved ? "unapproved" : "approved");
	if ((rc = idem_begin_raw(req, variant, req->body, req->body_len, &idem, x->reply)) !=
		    EM_OK ||
	    idem.replayed)
		return rc;
	if ((rc = run_simulation(req, x->campaign, x->ctx, x->body, x->unapproved, x->limit,
				 &answer)) != EM_OK)
		return rc;
	rc = EM_EINTERNAL;
	if (!(request = json_dumps(x->body, SIM_JSON_FLAGS)))
		goto out;
	caller_args(&a, req);
	db_arg_i64(&a, x->campaign);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, request);
	db_arg_text(&a, answer);
	db_arg_text(&a, req->request_id);
	if ((rc = db_exec_args(req->db, &SIM_SAVE, &a, &res)) != EM_OK)
		goto out;
	rc = PQntuples(res) == 1 ? reply_json_copy(x->reply, 201, PQgetvalue(res, 0, 0))
				 : EM_EINTERNAL;
	if (rc == EM_OK) {
		/* No route reads one run: Location is the campaign's record of them. */
		snprintf(location, sizeof(location), "/api/v1/campaigns/%lld/simulations",
			 (long long)x->campaign);
		reply_header(x->reply, "Location", location);
		reply_header(x->reply, "Cache-Control", "no-store");
		rc = idem_finish(req, &idem, x->reply);
	}
	PQclear(res);
out:
	free(answer);
	free(request);
	return rc;
}

enum em_err campaign_simulate(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply)
{
	const json_t *from = json_object_get(body, "values_from");
	struct sim_ctx ctx = {0};
	bool unapproved, previous;
	int64_t values_from;
	long limit;
	enum em_err rc;

	if ((rc = monitoring_include(req, reply, &unapproved)) != EM_OK)
		return rc;
	limit = list_limit_parse(req, reply, SIM_DEFAULT_LIMIT); /* the cap of changed.items */
	parse_values_from(from, reply, &values_from, &previous);
	if ((rc = load_context(req, reply, args->id[0], values_from, previous, &ctx)) != EM_OK)
		return rc;
	sim_check_body(body, &ctx, from, reply);
	if (reply->errors) {
		rc = reply_fail(reply, EM_EINVAL, "invalid simulation");
	} else {
		struct sim_run run = {req, args->id[0], &ctx, body, unapproved, limit, reply};
		rc = db_tx(req->db, sim_run_tx, &run);
	}
	json_decref(ctx.doc);
	return rc;
}

enum em_err campaign_simulations_list(struct em_req *req, const struct em_args *args, json_t *body,
				      struct em_reply *reply)
{
	struct list_page page;
	const char *sort = req_query(req, "sort");
	struct sim_ctx ctx = {0};
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	(void)body;
	if ((rc = list_page_parse(req, reply, &page)) != EM_OK && rc != EM_EINVAL)
		return rc;
	if (sort && strcmp(sort, "id") != 0)
		reply_field_error(reply, "sort", "simulations are listed newest first: only id");
	if ((rc = load_context(req, reply, args->id[0], 0, false, &ctx)) != EM_OK)
		return rc;
	json_decref(ctx.doc);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid list parameters");
	caller_args(&a, req);
	db_arg_i64(&a, args->id[0]);
	db_arg_i64(&a, page.limit + 1);
	db_arg_id(&a, page.after_id);
	if ((rc = db_exec_args(req->db, &SIM_LIST, &a, &res)) != EM_OK)
		return rc;
	rc = list_reply(reply, res, &page, NULL);
	PQclear(res);
	return rc;
}
