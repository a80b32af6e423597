/*
 * report.c — GET /campaigns/{id}/cycle-report (DESIGN "The
 * management-cycle report"): the nine steps of the management cycle of one
 * campaign (and, between analysis and recommendations, the early warnings that
 * lead from one to the other), region-wide or for one municipality, each with
 * its figures, read
 * in one read-only snapshot; answered as JSON, as CSV or XLSX tables
 * (report_tables.c) or as a self-contained printable HTML page
 * (report_html.c), by Accept or format=.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/calibration.h"
#include "effmon/cycle.h"
#include "effmon/lint.h"
#include "effmon/router.h"
#include "effmon/sheet.h"
#include "effmon/sbuf.h"

/* Rows of the report's territory; the statements name the campaign c, $2 the municipality. */
/* clang-format off */
#define TERRITORY(region, muni)                                                              \
	" " region " = c.region_id AND ($2::bigint IS NULL OR " muni " = $2::bigint) "
#define WITH_C "WITH c AS (SELECT * FROM campaigns WHERE id = $1::bigint) "
#define LEVEL_COUNTS(col)                                                                    \
	"jsonb_build_object('high', count(*) FILTER (WHERE " col " = 'high'), 'sufficient', "  \
	"count(*) FILTER (WHERE " col " = 'sufficient'), 'low', count(*) FILTER (WHERE " col  \
	" = 'low'), 'critical', count(*) FILTER (WHERE " col " = 'critical'))"
/* clang-format on */

/* Every statement after this one runs in the same snapshot. */
/* clang-format off */
DB_STMT(CR_SNAPSHOT) = {
	"cycle_report_snapshot", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0};
/* clang-format on */

/*
 * The campaign if visible ($1..$6 caller, $7 id), the municipality $8 if it is
 * in the campaign's region and in the caller's scope, the previous campaign
 * (the region's latest with a smaller year) -> id, municipality id, previous
 * id, campaign json, territory json, generated_at json, today.
 */
/* clang-format off */
DB_STMT(CR_HEAD) = {
	"cycle_report_head",
	"SELECT c.id, m.id, p.id, jsonb_build_object('id', c.id, 'region_id', c.region_id, "
	" 'year', c.year, 'title', c.title, 'status', c.status, 'opens_at', c.opens_at, "
	" 'closes_at', c.closes_at, 'thresholds', jsonb_build_object('high', c.threshold_high, "
	" 'sufficient', c.threshold_sufficient, 'low', c.threshold_low), 'previous_campaign', "
	" CASE WHEN p.id IS NOT NULL THEN jsonb_build_object('id', p.id, 'year', p.year, "
	" 'title', p.title) END)::text, "
	" jsonb_build_object('level', CASE WHEN m.id IS NULL THEN 'region' ELSE 'municipality' END, "
	" 'region', jsonb_build_object('id', r.id, 'code', r.code, 'name', r.name), "
	" 'municipality', CASE WHEN m.id IS NOT NULL THEN jsonb_build_object('id', m.id, "
	" 'name', m.name, 'oktmo', m.oktmo) END)::text, to_jsonb(now())::text, "
	" to_jsonb(em_today())::text "
	"FROM campaigns c JOIN regions r ON r.id = c.region_id "
	"LEFT JOIN LATERAL (SELECT p.id, p.year, p.title FROM campaigns p WHERE p.region_id = "
	" c.region_id AND p.year < c.year ORDER BY p.year DESC LIMIT 1) p ON true "
	"LEFT JOIN municipalities m ON m.id = $8::bigint AND m.region_id = c.region_id AND"
	SQL_SCOPE("m.region_id", "m.id", "NULL::bigint")
	"WHERE c.id = $7::bigint AND" SQL_SCOPE("c.region_id", "NULL::bigint", "NULL::bigint"),
	8};
/* clang-format on */

/* Step statements: $1 campaign, $2 municipality or NULL, $3 previous campaign or NULL. */

/* clang-format off */
DB_STMT(CR_GOALS) = {
	"cycle_report_goals",
	"SELECT jsonb_build_object('key', 'goals', 'count', jsonb_array_length(c.goals), "
	" 'items', c.goals)::text FROM campaigns c WHERE c.id = $1::bigint",
	1};

DB_STMT(CR_INDICATORS) = {
	"cycle_report_indicators",
	WITH_C ", i AS (SELECT i.*, d.code AS dcode FROM c JOIN indicators i ON i.campaign_id = c.id "
	" JOIN directions d ON d.id = i.direction_id) "
	"SELECT jsonb_build_object('key', 'indicators', 'count', (SELECT count(*) FROM i), "
	" 'by_direction', (SELECT jsonb_agg(jsonb_build_object('code', d.code, 'name', d.name, "
	"  'count', (SELECT count(*) FROM i WHERE i.direction_id = d.id)) ORDER BY d.position) "
	"  FROM directions d), "
	" 'by_source', (SELECT jsonb_build_object('self', count(*) FILTER (WHERE source = 'self'), "
	"  'municipal', count(*) FILTER (WHERE source = 'municipal'), 'regional_import', "
	"  count(*) FILTER (WHERE source = 'regional_import')) FROM i), "
	" 'items', coalesce((SELECT jsonb_agg(jsonb_build_object('code', i.code, 'name', i.name, "
	"  'direction', i.dcode, 'unit', i.unit, 'value_type', i.value_type, 'polarity', i.polarity, "
	"  'method', i.method, 'source', i.source, 'data_kind', i.data_kind) "
	"  ORDER BY i.position, i.id) FROM i), '[]'), "
	" 'by_data_kind', (SELECT jsonb_build_object('management', count(*) FILTER (WHERE "
	"  data_kind = 'management'), 'contingent', count(*) FILTER (WHERE data_kind = "
	"  'contingent'), 'exam_results', count(*) FILTER (WHERE data_kind = 'exam_results'), "
	"  'objectivity_marker', count(*) FILTER (WHERE data_kind = 'objectivity_marker'), "
	"  'vpr_raw', count(*) FILTER (WHERE data_kind = 'vpr_raw'), 'staff', count(*) FILTER "
	"  (WHERE data_kind = 'staff'), 'other', count(*) FILTER (WHERE data_kind = 'other')) "
	"  FROM i), "
	" 'policy_lint', (SELECT jsonb_build_object('vpr_raw', count(*) FILTER (WHERE "
	LINT_VPR_RAW("i") "), 'bounds', count(*) FILTER (WHERE " LINT_BOUNDS("i") "), "
	"  'no_weight', count(*) FILTER (WHERE " LINT_NO_WEIGHT("i") ")) FROM i), "
	/* The what-if runs that tried the catalog: the region's, and the territory's own. */
	" 'simulations', (SELECT jsonb_build_object('count', count(*), 'latest', "
	"  coalesce((SELECT jsonb_agg(l.j ORDER BY l.id DESC) FROM (SELECT r.id, "
	"   jsonb_build_object('id', r.id, 'created_at', r.created_at, 'role', r.role, "
	"    'indicators_changed', jsonb_array_length(coalesce(r.request -> 'indicators', "
	"     '[]')), 'thresholds_changed', r.request ? 'thresholds', 'heads_changed', "
	"    r.summary -> 'changed', 'spearman', r.summary -> 'spearman') AS j "
	"   FROM simulations r WHERE r.campaign_id = $1::bigint AND (r.municipality_id IS NULL "
	"    OR r.municipality_id = $2::bigint OR $2::bigint IS NULL) "
	"   ORDER BY r.id DESC LIMIT 5) l), '[]'::jsonb)) FROM simulations r "
	"  WHERE r.campaign_id = $1::bigint AND (r.municipality_id IS NULL "
	"   OR r.municipality_id = $2::bigint OR $2::bigint IS NULL)))::text",
	2};
/* clang-format on */

/* Indicators by source, the values of the territory's submissions by their indicator's
 * source, the region's bulk imports, the self-assessment window. */
/* clang-format off */
DB_STMT(CR_METHODS) = {
	"cycle_report_methods",
	WITH_C ", v AS (SELECT i.source FROM c JOIN submissions s ON s.campaign_id = c.id AND"
	TERRITORY("s.region_id", "s.municipality_id")
	" JOIN submission_values sv ON sv.submission_id = s.id "
	" JOIN indicators i ON i.id = sv.indicator_id) "
	"SELECT jsonb_build_object('key', 'methods', "
	" 'indicator_sources', (SELECT jsonb_build_object('self', count(*) FILTER (WHERE "
	"  i.source = 'self'), 'municipal', count(*) FILTER (WHERE i.source = 'municipal'), "
	"  'regional_import', count(*) FILTER (WHERE i.source = 'regional_import')) "
	"  FROM indicators i WHERE i.campaign_id = c.id), "
	" 'values', (SELECT jsonb_build_object('self', count(*) FILTER (WHERE source = 'self'), "
	"  'municipal', count(*) FILTER (WHERE source = 'municipal'), 'regional_import', "
	"  count(*) FILTER (WHERE source = 'regional_import'), 'total', count(*)) FROM v), "
	" 'imports', (SELECT count(*) FROM imports im WHERE im.campaign_id = c.id), "
	" 'imported_rows', (SELECT coalesce(sum(im.rows), 0) FROM imports im "
	"  WHERE im.campaign_id = c.id), "
	" 'imported_values', (SELECT coalesce(sum(im.values_written), 0) FROM imports im "
	"  WHERE im.campaign_id = c.id), "
	" 'self_assessment', jsonb_build_object('opens_at', c.opens_at, 'closes_at', c.closes_at, "
	"  'days', round(extract(epoch FROM c.closes_at - c.opens_at) / 86400, 1)))::text FROM c",
	2};

DB_STMT(CR_MONITORING) = {
	"cycle_report_monitoring",
	WITH_C "SELECT jsonb_build_object('key', 'monitoring', 'expected', count(s.id), "
	" 'submitted', count(*) FILTER (WHERE s.status IN ('submitted', 'verified', 'approved')), "
	" 'submitted_on_time', count(*) FILTER (WHERE s.first_submitted_at <= c.closes_at), "
	" 'submitted_late', count(*) FILTER (WHERE s.first_submitted_at > c.closes_at), "
	" 'verified', count(*) FILTER (WHERE s.status IN ('verified', 'approved')), "
	" 'approved', count(*) FILTER (WHERE s.status = 'approved'), "
	" 'returned_count', count(*) FILTER (WHERE s.returned_at IS NOT NULL), "
	" 'approved_share', round(count(*) FILTER (WHERE s.status = 'approved')::numeric "
	"  / nullif(count(s.id), 0), 4), "
	" 'by_status', jsonb_build_object('draft', count(*) FILTER (WHERE s.status = 'draft'), "
	"  'submitted', count(*) FILTER (WHERE s.status = 'submitted'), "
	"  'verified', count(*) FILTER (WHERE s.status = 'verified'), "
	"  'approved', count(*) FILTER (WHERE s.status = 'approved'), "
	"  'returned', count(*) FILTER (WHERE s.status = 'returned')))::text "
	"FROM c LEFT JOIN submissions s ON s.campaign_id = c.id AND"
	TERRITORY("s.region_id", "s.municipality_id") "GROUP BY c.id, c.closes_at",
	2};
/* clang-format on */

/*
 * Approved totals of the territory now and in the previous campaign; the
 * outliers: non-boolean values with |z| > 3, z over the indicator's values of
 * one kind in the whole campaign's submitted, verified and approved
 * submissions (population sd), as GET /campaigns/{id}/outliers counts them;
 * by_cluster: the territory's groups of GET /aggregates?group_by=cluster (the
 * same rollups through em_aggregates), approved results.
 */
/* clang-format off */
DB_STMT(CR_ANALYSIS) = {
	"cycle_report_analysis",
	WITH_C ", cur AS (SELECT sc.total_rounded AS t, sc.level FROM c JOIN submission_scores sc "
	" ON sc.campaign_id = c.id WHERE sc.status = 'approved' AND sc.total_rounded IS NOT NULL "
	" AND" TERRITORY("sc.region_id", "sc.municipality_id") "), "
	" prev AS (SELECT sc.total_rounded AS t FROM c JOIN submission_scores sc "
	" ON sc.campaign_id = $3::bigint WHERE sc.status = 'approved' AND sc.total_rounded IS NOT "
	" NULL AND" TERRITORY("sc.region_id", "sc.municipality_id") "), "
	" v AS (SELECT s.region_id, s.municipality_id, sv.value, avg(sv.value) OVER w AS mean, "
	" stddev_pop(sv.value) OVER w AS sd FROM c JOIN submissions s ON s.campaign_id = c.id "
	" JOIN submission_values sv ON sv.submission_id = s.id "
	" JOIN indicators i ON i.id = sv.indicator_id AND i.value_type <> 'boolean' "
	" WHERE s.status IN ('submitted', 'verified', 'approved') "
	" WINDOW w AS (PARTITION BY i.id, s.kind)), "
	" s AS (SELECT em_hist_summary(array_agg(t), array_agg(1::bigint)) AS j FROM cur), "
	" ps AS (SELECT round(avg(t), 2) AS mean, count(*) AS n FROM prev) "
	"SELECT (jsonb_build_object('key', 'analysis') || s.j || jsonb_build_object("
	" 'levels', (SELECT " LEVEL_COUNTS("level") " FROM cur), "
	" 'previous_campaign_id', $3::bigint, 'count_previous', ps.n, 'mean_previous', ps.mean, "
	" 'mean_change', (s.j ->> 'mean')::numeric - ps.mean, "
	" 'outliers', (SELECT count(*) FROM v, c WHERE v.sd > 0 AND abs(v.value - v.mean) > 3 * v.sd "
	"  AND" TERRITORY("v.region_id", "v.municipality_id") "), "
	" 'values_changed_at_verification', (SELECT count(*) FROM c JOIN submissions x "
	"  ON x.campaign_id = c.id AND" TERRITORY("x.region_id", "x.municipality_id")
	"  JOIN submission_values sv ON sv.submission_id = x.id "
	"  JOIN indicators i ON i.id = sv.indicator_id AND i.source = 'self' "
	"  WHERE sv.submitted_value IS NOT NULL AND sv.verified_value IS NOT NULL "
	"  AND sv.submitted_value <> sv.verified_value), "
	" 'by_cluster', em_aggregates($1::bigint, '{cluster}', false, $3::bigint, false, "
	"  CASE WHEN $2::bigint IS NULL THEN 'admin' ELSE 'municipal_operator' END, NULL, "
	"  $2::bigint, NULL)))::text FROM s, ps",
	3};
/* clang-format on */

/*
 * The objectivity of the territory's self-assessment, added to the analysis
 * step as `calibration`: the totals of GET /campaigns/{id}/calibration for
 * the territory, and the organizations its default rule flags.
 */
/* clang-format off */
DB_STMT(CR_CALIBRATION) = {
	"cycle_report_calibration",
	"WITH p AS (" SQL_CAL_PAIRS("$1::bigint")
	" AND ($2::bigint IS NULL OR cs.municipality_id = $2::bigint)), "
	" o AS (SELECT " SQL_CAL_SUMS " FROM p GROUP BY organization_id), "
	" t AS (SELECT " SQL_CAL_SUMS " FROM p) "
	"SELECT (" SQL_CAL_FIGURES("t") " || jsonb_build_object("
	" 'organizations', (SELECT count(*) FROM o), 'organizations_flagged', (SELECT count(*) "
	"  FROM o WHERE " SQL_CAL_FLAG("o", CAL_MIN_VALUES, CAL_MIN_SHARE_LOWERED, CAL_MIN_MEAN_GAP)
	"), 'rule', jsonb_build_object('min_values', " CAL_MIN_VALUES ", 'min_share_lowered', "
	CAL_MIN_SHARE_LOWERED ", 'min_mean_gap', " CAL_MIN_MEAN_GAP ")))::text FROM t",
	2};
/* clang-format on */

/*
 * Early warnings of the territory's heads (em_warnings(), sql/40_analysis.sql: official
 * scores, the campaign's low threshold, the default completeness bound), in all and
 * by type, and how many have a recommendation made from them (not withdrawn): still
 * a draft, or issued (and any later status).
 */
/* clang-format off */
#define WARNING_COUNTS(where)                                                                \
	"'count', (SELECT count(*) FROM w WHERE " where "), 'heads', (SELECT count(DISTINCT " \
	"w.manager_id) FROM w WHERE " where "), 'drafted', (SELECT count(*) FROM w WHERE "    \
	where " AND w.rstatus = 'draft'), 'issued', (SELECT count(*) FROM w WHERE " where     \
	" AND w.rstatus <> 'draft')"
DB_STMT(CR_WARNINGS) = {
	"cycle_report_warnings",
	WITH_C ", w AS (SELECT w.type, w.manager_id, rec.status AS rstatus "
	" FROM c, em_warnings(c.id, false, NULL, NULL) w LEFT JOIN LATERAL (SELECT r.status "
	" FROM recommendations r WHERE r.campaign_id = c.id AND r.addressee_manager_id = "
	" w.manager_id AND r.warning ->> 'type' = w.type AND coalesce(r.warning ->> 'direction', "
	" '') = coalesce(w.direction_code, '') AND r.status <> 'withdrawn' ORDER BY r.id LIMIT 1) "
	" rec ON true WHERE" TERRITORY("w.region_id", "w.municipality_id") ") "
	"SELECT jsonb_build_object('key', 'warnings', 'threshold', c.threshold_low, "
	" 'completeness_bound', em_completeness_bound(), " WARNING_COUNTS("true") ", "
	" 'by_type', (SELECT jsonb_agg(jsonb_build_object('type', t.type, "
	WARNING_COUNTS("w.type = t.type") ") ORDER BY t.n) FROM unnest(ARRAY['decline_total', "
	" 'decline_direction', 'below_threshold', 'low_completeness']) WITH ORDINALITY "
	" AS t(type, n)))::text FROM c",
	2};
/* clang-format on */

/* Recommendations of this campaign to the territory's heads and municipalities;
 * drafts and withdrawn drafts were never issued. Stages count what reached them. */
/* clang-format off */
DB_STMT(CR_RECOMMENDATIONS) = {
	"cycle_report_recommendations",
	WITH_C "SELECT jsonb_build_object('key', 'recommendations', 'issued', count(r.id), "
	" 'acknowledged', count(*) FILTER (WHERE r.status IN ('acknowledged', 'reported', "
	"  'accepted')), "
	" 'reported', count(*) FILTER (WHERE r.status IN ('reported', 'accepted')), "
	" 'accepted', count(*) FILTER (WHERE r.status = 'accepted'), "
	" 'overdue', count(*) FILTER (WHERE r.due_on < em_today() AND r.status IN ('issued', "
	"  'acknowledged', 'reported')), "
	" 'to_managers', count(r.addressee_manager_id), "
	" 'to_municipalities', count(r.addressee_municipality_id), "
	" 'managers_addressed', count(DISTINCT r.addressee_manager_id), "
	" 'by_status', jsonb_build_object('issued', count(*) FILTER (WHERE r.status = 'issued'), "
	"  'acknowledged', count(*) FILTER (WHERE r.status = 'acknowledged'), "
	"  'reported', count(*) FILTER (WHERE r.status = 'reported'), "
	"  'accepted', count(*) FILTER (WHERE r.status = 'accepted')))::text "
	"FROM c LEFT JOIN recommendations r ON r.campaign_id = c.id "
	" AND r.status NOT IN ('draft', 'withdrawn') AND"
	TERRITORY("r.region_id", "r.municipality_id") "GROUP BY c.id",
	2};
/* clang-format on */

/* Milestones of the territory's roadmaps (region: all levels; municipality: its own and
 * its organizations') whose period overlaps the campaign's year. */
/* clang-format off */
DB_STMT(CR_MEASURES) = {
	"cycle_report_measures",
	WITH_C ", rm AS (SELECT rm.* FROM c JOIN roadmaps rm ON"
	TERRITORY("rm.region_id", "rm.municipality_id")
	" AND rm.period_from <= make_date(c.year, 12, 31) AND rm.period_to >= make_date(c.year, 1, 1)), "
	" ms AS (SELECT ms.*, rm.period_to FROM rm JOIN milestones ms ON ms.roadmap_id = rm.id) "
	"SELECT jsonb_build_object('key', 'measures', 'roadmaps', (SELECT count(*) FROM rm), "
	" 'roadmaps_by_level', (SELECT jsonb_build_object('regional', count(*) FILTER (WHERE "
	"  level = 'regional'), 'municipal', count(*) FILTER (WHERE level = 'municipal'), "
	"  'organization', count(*) FILTER (WHERE level = 'organization')) FROM rm), "
	" 'milestones', count(ms.id), "
	" 'planned', count(*) FILTER (WHERE ms.status = 'planned'), "
	" 'in_progress', count(*) FILTER (WHERE ms.status = 'in_progress'), "
	" 'done', count(*) FILTER (WHERE ms.status = 'done'), "
	" 'cancelled', count(*) FILTER (WHERE ms.status = 'cancelled'), "
	" 'overdue', count(*) FILTER (WHERE em_milestone_overdue(ms.status, ms.recurrence, "
	"  ms.due_on, ms.period_to)), "
	" 'participants', (SELECT count(DISTINCT mp.manager_id) FROM ms JOIN milestone_participants "
	"  mp ON mp.milestone_id = ms.id WHERE ms.status <> 'cancelled'))::text FROM ms",
	2};
/* clang-format on */

/* Decisions taken on this campaign about heads whose current territory is the
 * report's; revocation records are not decisions of their own, revoked ones are
 * counted apart. */
/* clang-format off */
DB_STMT(CR_DECISIONS) = {
	"cycle_report_decisions",
	WITH_C ", d AS (SELECT d.* FROM c JOIN decisions d ON d.campaign_id = c.id "
	" JOIN managers m ON m.id = d.manager_id WHERE d.type <> 'revocation' AND"
	TERRITORY("m.region_id", "m.municipality_id") "), "
	" live AS (SELECT * FROM d WHERE d.revoked_by_decision_id IS NULL) "
	"SELECT jsonb_build_object('key', 'decisions', 'total', (SELECT count(*) FROM live), "
	" 'revoked', (SELECT count(*) FROM d WHERE d.revoked_by_decision_id IS NOT NULL), "
	" 'managers', (SELECT count(DISTINCT manager_id) FROM live), "
	" 'bonus_amount', (SELECT coalesce(sum(amount), 0) FROM live WHERE type = 'bonus'), "
	" 'by_type', (SELECT jsonb_agg(jsonb_build_object('type', t.type, 'count', "
	"  (SELECT count(*) FROM live WHERE live.type = t.type)) ORDER BY t.n) "
	"  FROM unnest(ARRAY['bonus', 'training_referral', 'reserve_inclusion', 'commendation', "
	"  'warning', 'attestation_referral', 'contract_extension', "
	"  'contract_termination_proposal']) WITH ORDINALITY AS t(type, n)))::text",
	2};
/* clang-format on */

/*
 * The effect: heads of the territory with an approved total now and an
 * approved total in the previous campaign (anywhere in the region); a head's
 * total in a campaign is the mean of its approved presented totals (one
 * submission, as a rule). Treated: a recommendation to the head, of this or
 * the previous campaign, is accepted; or the head takes part in a milestone
 * not cancelled of a roadmap of the region whose period overlaps from the
 * previous campaign's year to this campaign's closing date.
 */
/* clang-format off */
DB_STMT(CR_EFFECT) = {
	"cycle_report_effect",
	WITH_C ", p AS (SELECT * FROM campaigns WHERE id = $3::bigint), "
	" cur AS (SELECT sc.manager_id, avg(sc.total_rounded) AS t FROM c JOIN submission_scores sc "
	" ON sc.campaign_id = c.id WHERE sc.status = 'approved' AND sc.total_rounded IS NOT NULL "
	" AND sc.manager_id IS NOT NULL AND" TERRITORY("sc.region_id", "sc.municipality_id")
	" GROUP BY sc.manager_id), "
	" prev AS (SELECT sc.manager_id, avg(sc.total_rounded) AS t FROM p JOIN submission_scores sc "
	" ON sc.campaign_id = p.id WHERE sc.status = 'approved' AND sc.total_rounded IS NOT NULL "
	" AND sc.manager_id IS NOT NULL GROUP BY sc.manager_id), "
	" panel AS (SELECT cur.t AS t_cur, prev.t AS t_prev, "
	" EXISTS (SELECT 1 FROM recommendations r WHERE r.addressee_manager_id = cur.manager_id "
	"  AND r.status = 'accepted' AND r.campaign_id IN ($1::bigint, $3::bigint)) "
	" OR EXISTS (SELECT 1 FROM c, p, milestone_participants mp JOIN milestones ms "
	"  ON ms.id = mp.milestone_id JOIN roadmaps rm ON rm.id = ms.roadmap_id "
	"  WHERE mp.manager_id = cur.manager_id AND ms.status <> 'cancelled' "
	"  AND rm.region_id = c.region_id AND rm.period_from <= c.closes_at::date "
	"  AND rm.period_to >= make_date(p.year, 1, 1)) AS treated "
	" FROM cur JOIN prev USING (manager_id)), "
	" g AS (SELECT x.treated, count(panel.t_cur) AS n, round(avg(panel.t_cur - panel.t_prev), 2) "
	" AS mc, round(avg(panel.t_cur), 2) AS mcur, round(avg(panel.t_prev), 2) AS mprev "
	" FROM (VALUES (true), (false)) x(treated) LEFT JOIN panel ON panel.treated = x.treated "
	" GROUP BY x.treated) "
	"SELECT jsonb_build_object('key', 'effect', 'previous_campaign_id', $3::bigint, "
	" 'panel', (SELECT count(*) FROM panel), "
	" 'treated', (SELECT jsonb_build_object('count', n, 'mean_change', mc, 'mean_current', mcur, "
	"  'mean_previous', mprev, 'reason', CASE WHEN $3::bigint IS NULL THEN 'no previous campaign' "
	"  WHEN n = 0 THEN 'no head with a total in both campaigns had a recommendation accepted or "
	"took part in a milestone' END) FROM g WHERE treated), "
	" 'others', (SELECT jsonb_build_object('count', n, 'mean_change', mc, 'mean_current', mcur, "
	"  'mean_previous', mprev, 'reason', CASE WHEN $3::bigint IS NULL THEN 'no previous campaign' "
	"  WHEN n = 0 THEN 'every head with a total in both campaigns had a recommendation accepted "
	"or took part in a milestone' END) FROM g WHERE NOT treated), "
	" 'difference', (SELECT t.mc - o.mc FROM g t, g o WHERE t.treated AND NOT o.treated))::text",
	3};
/* clang-format on */

static const struct db_stmt *const STEPS[] = {
	&CR_GOALS,    &CR_INDICATORS,      &CR_METHODS,  &CR_MONITORING, &CR_ANALYSIS,
	&CR_WARNINGS, &CR_RECOMMENDATIONS, &CR_MEASURES, &CR_DECISIONS,  &CR_EFFECT,
};
#define NSTEPS (sizeof(STEPS) / sizeof(STEPS[0]))

/* --- The handler -------------------------------------------------------------------- */

/* What the report is given as; the first is the default. */
static const enum em_format REPORT_FORMATS[] = {EM_FMT_JSON, EM_FMT_CSV, EM_FMT_XLSX, EM_FMT_HTML};

/* What the transaction reads with; its arguments are built anew on each try. */
struct report_ctx {
	const struct em_req *req;
	int64_t campaign_id;
	char campaign[24]; /* the id as text, for messages and file names */
	const char *muni;  /* as asked, NULL: region-wide */
	int64_t muni_id;   /* the municipality when muni is set */
	PGresult *head;
	char *steps[NSTEPS];
};

/* The municipality, or NULL for a region-wide report. */
static void push_muni(struct db_args *a, const struct report_ctx *x)
{
	if (x->muni)
		db_arg_i64(a, x->muni_id);
	else
		db_arg_null(a);
}

/* A step statement's arguments: the first st->nparams of $1 campaign, $2 municipality
 * and $3 the previous campaign (from the head row). */
static void step_args(struct db_args *a, const struct report_ctx *x, const struct db_stmt *st)
{
	db_args_init(a);
	db_arg_i64(a, x->campaign_id);
	if (st->nparams > 1)
		push_muni(a, x);
	if (st->nparams > 2)
		db_arg_text(a, db_str(x->head, 0, 2));
}

/* Adds "key": the one value st reads, as the last member of the object text *obj. */
static enum em_err add_member(struct db_conn *db, const struct db_stmt *st, const struct db_args *a,
			      const char *key, char **obj)
{
	PGresult *res;
	size_t n = strlen(*obj);
	char *out = NULL;
	enum em_err rc;

	if ((rc = db_exec_args(db, st, a, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) == 1 && n >= 2 && (*obj)[n - 1] == '}' &&
	    asprintf(&out, "%.*s%s\"%s\": %s}", (int)(n - 1), *obj, n > 2 ? ", " : "", key,
		     PQgetvalue(res, 0, 0)) < 0)
		out = NULL;
	PQclear(res);
	if (!out)
		return EM_EINTERNAL;
	free(*obj);
	*obj = out;
	return EM_OK;
}

static enum em_err report_read(struct db_conn *db, void *arg)
{
	struct report_ctx *x = arg;
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	/* A retried transaction starts again from nothing. */
	PQclear(x->head);
	x->head = NULL;
	for (size_t i = 0; i < NSTEPS; i++) {
		free(x->steps[i]);
		x->steps[i] = NULL;
	}
	if ((rc = db_exec(db, &CR_SNAPSHOT, NULL, &res)) != EM_OK)
		return rc;
	PQclear(res);
	caller_args(&a, x->req);
	db_arg_i64(&a, x->campaign_id);
	push_muni(&a, x);
	if ((rc = db_exec_args(db, &CR_HEAD, &a, &x->head)) != EM_OK)
		return rc;
	if (PQntuples(x->head) == 0 || (x->muni && PQgetisnull(x->head, 0, 1)))
		return EM_ENOTFOUND;
	for (size_t i = 0; i < NSTEPS; i++) {
		step_args(&a, x, STEPS[i]);
		if ((rc = db_exec_args(db, STEPS[i], &a, &res)) != EM_OK)
			return rc;
		x->steps[i] = PQntuples(res) ? strdup(PQgetvalue(res, 0, 0)) : NULL;
		PQclear(res);
		if (!x->steps[i])
			return EM_EINTERNAL;
		if (STEPS[i] != &CR_ANALYSIS)
			continue;
		step_args(&a, x, &CR_CALIBRATION);
		if ((rc = add_member(db, &CR_CALIBRATION, &a, "calibration", &x->steps[i])) !=
		    EM_OK)
			return rc;
	}
	return EM_OK;
}

/* The report's JSON as the statements wrote it: the heading, then the steps in order. */
static void report_document(const struct report_ctx *x, struct sbuf *b)
{
	sb_str(b, "{\"campaign\":");
	sb_str(b, PQgetvalue(x->head, 0, 3));
	sb_str(b, ",\"territory\":");
	sb_str(b, PQgetvalue(x->head, 0, 4));
	sb_str(b, ",\"generated_at\":");
	sb_str(b, PQgetvalue(x->head, 0, 5));
	sb_str(b, ",\"as_of\":");
	sb_str(b, PQgetvalue(x->head, 0, 6));
	sb_str(b, ",\"steps\":[");
	for (size_t i = 0; i < NSTEPS; i++) {
		if (i)
			sb_str(b, ",");
		sb_str(b, x->steps[i]);
	}
	sb_str(b, "]}");
}

enum em_err cycle_report_get(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply)
{
	const char *muni = req_query(req, "municipality_id");
	struct report_ctx x;
	char own[24];
	struct sbuf b = {0};
	enum em_format fmt;
	struct csv_opts csv;
	enum em_err rc;

	(void)body;
	memset(&x, 0, sizeof(x));
	if (muni && !router_parse_id(muni, strlen(muni), &x.muni_id)) {
		reply_field_error(reply, "municipality_id", "must be a positive integer id");
		return reply_fail(reply, EM_EINVAL, "invalid parameters");
	}
	if ((rc = negotiate(req, reply, REPORT_FORMATS, 4, &fmt)) != EM_OK)
		return rc;
	csv_opts_parse(req, reply, &csv);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid parameters");
	/* A municipal operator's report is of its own municipality. */
	if (!muni && req->caller.role == EM_ROLE_MUNICIPAL) {
		snprintf(own, sizeof(own), "%lld", (long long)req->caller.municipality_id);
		muni = own;
		x.muni_id = req->caller.municipality_id;
	}
	x.req = req;
	x.campaign_id = args->id[0];
	snprintf(x.campaign, sizeof(x.campaign), "%lld", (long long)x.campaign_id);
	x.muni = muni;

	rc = db_tx(req->db, report_read, &x);
	if (rc == EM_ENOTFOUND) {
		if (x.head && PQntuples(x.head) > 0)
			reply_fail(reply, rc, "no municipality %s in the campaign's region", muni);
		else
			reply_fail(reply, rc, "no campaign %s", x.campaign);
		goto out;
	}
	if (rc != EM_OK)
		goto out;

	report_document(&x, &b);
	reply_header(reply, "Vary", "Accept, Authorization");
	reply_header(reply, "Cache-Control", "private, no-cache");
	if (fmt == EM_FMT_JSON || b.failed) {
		/* As PostgreSQL wrote it: numerics keep their decimals. */
		rc = sb_reply(&b, reply, "application/json");
		b.p = NULL;
	} else {
		json_error_t jerr;
		json_t *doc = json_loads(b.p, 0, &jerr);
		if (!doc) {
			rc = EM_EINTERNAL;
			goto out;
		}
		rc = fmt == EM_FMT_HTML
			     ? cycle_report_html(doc, reply)
			     : report_file_reply(doc, fmt, &csv, x.campaign, x.muni, reply);
		json_decref(doc);
	}
out:
	free(b.p);
	PQclear(x.head);
	for (size_t i = 0; i < NSTEPS; i++)
		free(x.steps[i]);
	return rc;
}
