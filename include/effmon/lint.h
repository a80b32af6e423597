/*
 * lint.h — the policy lint of a campaign's indicator catalog (src/monitoring/lint.c).
 */
#ifndef EFFMON_LINT_H
#define EFFMON_LINT_H

#include "effmon/resource.h"

/* The error rules of the lint on an indicator row `i`, shared by the lint itself and the
 * cycle report's indicators step. */
/* clang-format off */
#define LINT_VPR_RAW(i) "(" i ".data_kind = 'vpr_raw')"
#define LINT_BOUNDS(i) "(" i ".value_type <> 'boolean' AND " i ".min_value >= " i ".max_value)"
#define LINT_NO_WEIGHT(i)                                                                    \
	"(NOT EXISTS (SELECT 1 FROM jsonb_each(" i ".weights) w WHERE jsonb_typeof(w.value) = " \
	"'number' AND (w.value)::numeric > 0))"
/* clang-format on */

/* GET /campaigns/{id}/lint: 200 {campaign_id, status, findings, errors, warnings}; 404 for a
 * campaign missing or out of scope. */
enum em_err campaign_lint(struct em_req *req, const struct em_args *args, json_t *body,
			  struct em_reply *reply);

/* Before a draft opens, inside its transaction: EM_OK when the catalog has no error finding,
 * else EM_ECONFLICT with a field error indicators[<code>].<field> per finding. */
enum em_err campaign_lint_for_open(struct em_req *req, int64_t campaign_id, struct em_reply *reply);

#endif
