/*
 * calibration.h — objectivity calibration (src/analysis/calibration.c): how
 * far the heads' self-assessment lies above what the municipality verified,
 * in indicator-score points. The SQL pieces are shared with the cycle
 * report's analysis step (src/cycle/report.c), so both count the same values
 * by the same rule.
 */
#ifndef EFFMON_CALIBRATION_H
#define EFFMON_CALIBRATION_H

#include "effmon/resource.h"

/*
 * The flag rule's defaults: an organization is flagged when it has at least
 * CAL_MIN_VALUES compared values, at least CAL_MIN_SHARE_LOWERED of them were
 * lowered at verification, and its mean gap (self − verified, points, over
 * all its compared values) is at least CAL_MIN_MEAN_GAP. Strings: they go
 * into SQL as they are, and are what the openapi document states.
 */
#define CAL_MIN_VALUES "5"
#define CAL_MIN_SHARE_LOWERED "0.25"
#define CAL_MIN_MEAN_GAP "5"

/*
 * The compared values of campaign `campaign` (an SQL expression): values of
 * `self` indicators applicable to the submission's kind, in submissions now
 * `verified` or `approved` (their last verification is of their last
 * submission), holding both the value the head first submitted (self_value:
 * kept across returns for correction) and the value at verification; each scored as DESIGN §3 scores a value (em_indicator_score,
 * polarity included) and × 100. Columns: submission_id, region_id,
 * municipality_id, organization_id, kind, indicator_id, direction_id,
 * self_points, verified_points. Tables are aliased cs, cv, ci: append
 * " AND ..." conditions on them.
 */
/* clang-format off */
#define SQL_CAL_PAIRS(campaign)                                                            \
	"SELECT cs.id AS submission_id, cs.region_id, cs.municipality_id, cs.organization_id, " \
	" cs.kind, ci.id AS indicator_id, ci.direction_id, "                                 \
	" 100 * em_indicator_score(cv.self_value, ci.value_type, ci.polarity, "          \
	"  ci.min_value, ci.max_value) AS self_points, "                                     \
	" 100 * em_indicator_score(cv.verified_value, ci.value_type, ci.polarity, "           \
	"  ci.min_value, ci.max_value) AS verified_points "                                  \
	"FROM submissions cs JOIN submission_values cv ON cv.submission_id = cs.id "          \
	"JOIN indicators ci ON ci.id = cv.indicator_id AND ci.source = 'self' "              \
	"WHERE cs.campaign_id = " campaign " AND cs.status IN ('verified', 'approved') "     \
	" AND cv.self_value IS NOT NULL AND cv.verified_value IS NOT NULL "             \
	" AND coalesce((ci.weights ->> cs.kind)::numeric, 0) > 0 "

/* Aggregates over rows of SQL_CAL_PAIRS, in full precision. */
#define SQL_CAL_SUMS                                                                        \
	" count(*) AS compared, "                                                            \
	" count(*) FILTER (WHERE verified_points < self_points) AS lowered, "                \
	" count(*) FILTER (WHERE verified_points > self_points) AS raised, "                 \
	" coalesce(sum(self_points - verified_points), 0) AS gap_sum, "                       \
	" sum(self_points - verified_points) FILTER (WHERE verified_points < self_points) "  \
	"  AS lowering_sum "

/* The figures of a row x of SQL_CAL_SUMS: shares to 4 decimals, points to 2
 * (round: half away from zero), null where nothing is there to divide. */
#define SQL_CAL_FIGURES(x)                                                                  \
	"jsonb_build_object('compared', " x ".compared, 'lowered', " x ".lowered, "           \
	" 'raised', " x ".raised, "                                                          \
	" 'share_lowered', round(" x ".lowered::numeric / nullif(" x ".compared, 0), 4), "    \
	" 'share_raised', round(" x ".raised::numeric / nullif(" x ".compared, 0), 4), "      \
	" 'mean_gap', round(" x ".gap_sum / nullif(" x ".compared, 0), 2), "                  \
	" 'mean_lowering', round(" x ".lowering_sum / nullif(" x ".lowered, 0), 2))"

/* The flag rule on a row x of SQL_CAL_SUMS, exact (no rounding, no division). */
#define SQL_CAL_FLAG(x, n, share, gap)                                                      \
	"(" x ".compared >= " n " AND " x ".lowered >= " share " * " x ".compared AND "      \
	x ".gap_sum >= " gap " * " x ".compared)"
/* clang-format on */

/* GET /campaigns/{id}/calibration. */
enum em_err campaign_calibration(struct em_req *req, const struct em_args *args, json_t *body,
				 struct em_reply *reply);

#endif
