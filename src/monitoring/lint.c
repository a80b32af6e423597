/*
 * lint.c — the policy lint of a campaign's indicator catalog (DESIGN §4, §8):
 * findings computed set-wise in one statement, answered by
 * GET /campaigns/{id}/lint for a campaign of any status, and checked when a
 * draft opens: a catalog with an error finding does not open.
 *
 * Rules (severity): vpr_raw (error) — an indicator on raw results of ВПР,
 * which the federal position forbids for evaluating schools or their heads;
 * bounds (error) — min_value >= max_value on a non-boolean indicator;
 * no_weight (error) — no kind of organization has a positive weight, so the
 * indicator never counts; empty_direction (warning) — a direction without
 * an indicator.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/lint.h"

/* Parameters: caller $1..$6, $7 campaign. One row (document, its md5) or none when the
 * campaign is missing or out of scope. */
/* clang-format off */
DB_STMT(LINT_SQL) = {
	"campaigns_lint",
	"WITH c AS (SELECT c.id, c.status FROM campaigns c WHERE c.id = $7::bigint AND"
	SQL_SCOPE("c.region_id", "NULL::bigint", "NULL::bigint") "),"
	" f AS (SELECT i.id AS indicator_id, i.code, d.code AS direction, i.position AS pos, "
	"  r.rule, r.severity, r.field, r.message "
	" FROM c JOIN indicators i ON i.campaign_id = c.id "
	" JOIN directions d ON d.id = i.direction_id "
	" CROSS JOIN LATERAL (VALUES "
	"  ('vpr_raw', 'error', 'data_kind', 'data_kind is vpr_raw: raw results of ВПР are not to "
	"be used to evaluate schools or their heads; use markers of objectivity instead', "
	"   " LINT_VPR_RAW("i") "), "
	"  ('bounds', 'error', 'min_value', 'min_value must be less than max_value', "
	"   " LINT_BOUNDS("i") "), "
	"  ('no_weight', 'error', 'weights', 'weights: no kind of organization has a positive "
	"weight, so the indicator never counts', "
	"   " LINT_NO_WEIGHT("i") ") "
	" ) r (rule, severity, field, message, hit) WHERE r.hit "
	" UNION ALL "
	" SELECT NULL, NULL, d.code, 1000000000 + d.id::int, 'empty_direction', 'warning', "
	"  'direction', format('direction %s has no indicator in the catalog', d.code) "
	" FROM c CROSS JOIN directions d WHERE NOT EXISTS (SELECT 1 FROM indicators i "
	"  WHERE i.campaign_id = c.id AND i.direction_id = d.id)) "
	"SELECT doc, md5(doc::text) FROM (SELECT jsonb_build_object('campaign_id', c.id, "
	" 'status', c.status, "
	" 'findings', coalesce((SELECT jsonb_agg(jsonb_build_object('indicator_id', "
	"  f.indicator_id, 'code', f.code, 'direction', f.direction, 'rule', f.rule, "
	"  'severity', f.severity, 'field', f.field, 'message', f.message) "
	"  ORDER BY f.pos, f.indicator_id, f.rule) FROM f), '[]'::jsonb), "
	" 'errors', (SELECT count(*) FROM f WHERE f.severity = 'error'), "
	" 'warnings', (SELECT count(*) FROM f WHERE f.severity = 'warning')) AS doc FROM c) x",
	7};
/* clang-format on */

enum em_err campaign_lint(struct em_req *req, const struct em_args *args, json_t *body,
			  struct em_reply *reply)
{
	PGresult *res;
	enum em_err rc;

	(void)body;
	if ((rc = resource_fetch(req, &LINT_SQL, args->id[0], &res)) == EM_ENOTFOUND)
		return reply_fail(reply, rc, "no campaign %lld", (long long)args->id[0]);
	if (rc != EM_OK)
		return rc;
	reply_row(req, reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	return EM_OK;
}

/* One field error per error finding: indicators[<code>].<field>. */
static int lint_field_errors(const json_t *doc, struct em_reply *reply)
{
	const json_t *f;
	size_t i;
	int n = 0;

	json_array_foreach(json_object_get(doc, "findings"), i, f) {
		const char *sev = json_string_value(json_object_get(f, "severity"));
		const char *code = json_string_value(json_object_get(f, "code"));
		const char *field = json_string_value(json_object_get(f, "field"));
		const char *msg = json_string_value(json_object_get(f, "message"));
		char name[96];

		if (!sev || strcmp(sev, "error") != 0 || !field || !msg)
			continue;
		if (code)
			snprintf(name, sizeof(name), "indicators[%s].%s", code, field);
		else
			snprintf(name, sizeof(name), "%s", field);
		reply_field_error(reply, name, "%s", msg);
		n++;
	}
	return n;
}

enum em_err campaign_lint_for_open(struct em_req *req, int64_t campaign_id, struct em_reply *reply)
{
	PGresult *res;
	json_t *doc;
	enum em_err rc;
	int n;

	if ((rc = resource_fetch(req, &LINT_SQL, campaign_id, &res)) == EM_ENOTFOUND)
		return reply_fail(reply, rc, "no campaign %lld", (long long)campaign_id);
	if (rc != EM_OK)
		return rc;
	doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (!doc)
		return EM_EINTERNAL;
	n = lint_field_errors(doc, reply);
	json_decref(doc);
	if (n == 0)
		return EM_OK;
	return reply_fail(reply, EM_ECONFLICT,
			  "the catalog has %d error finding%s of the policy lint (GET "
			  "/api/v1/campaigns/%lld/lint): fix them before opening the campaign",
			  n, n == 1 ? "" : "s", (long long)campaign_id);
}
