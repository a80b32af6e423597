/*
 * outliers.c — GET /campaigns/{id}/outliers: the values of a campaign far
 * from their peers' (z-score over one indicator and kind), and the values
 * changed at verification; as JSON, CSV or XLSX (two sheets).
 */
#include <stdio.h>

#include "effmon/monitoring.h"
#include "effmon/resource.h"
#include "effmon/sheet.h"

#define OUTLIERS_DEFAULT_LIMIT 100

/* A column of an outlier sheet: JSON key, Russian header, type. */
struct outlier_col {
	const char *key, *title;
	enum sheet_kind kind;
};

/* The columns of each sheet after whose value of which indicator it is. */
static const struct outlier_col Z_COLS[] = {
	{"value", "Значение", SK_NUM},           {"z", "z-оценка", SK_DEC2},
	{"mean", "Среднее по типу ОО", SK_DEC4}, {"sd", "Стандартное отклонение", SK_DEC4},
	{"n", "Число значений", SK_INT},
};
static const struct outlier_col CHANGED_COLS[] = {
	{"submitted_value", "Представлено", SK_NUM},
	{"verified_value", "После проверки", SK_NUM},
	{"change", "Изменение", SK_NUM},
	{"value", "Значение", SK_NUM},
};

/* A sheet of the items of doc's member part: the value's organization and indicator,
 * then cols. */
static void outlier_sheet(struct sheet_book *book, const char *name, json_t *doc, const char *part,
			  const struct outlier_col *cols, size_t ncols)
{
	json_t *items = json_object_get(json_object_get(doc, part), "items");
	struct sheet_table *t = sheet_add_table(book, book_add_sheet(book, name), NULL, items);

	table_add_col(book, t, "submission_id", "Анкета", SK_INT);
	table_add_col(book, t, "organization_id", "Код ОО", SK_INT);
	table_add_col(book, t, "organization_name", "Образовательная организация", SK_TEXT);
	table_add_col(book, t, "municipality_id", "Код муниципалитета", SK_INT);
	table_add_col(book, t, "kind", "Тип ОО", SK_TEXT);
	table_add_col(book, t, "indicator_id", "Код показателя", SK_INT);
	table_add_col(book, t, "indicator_code", "Показатель", SK_TEXT);
	for (size_t i = 0; i < ncols; i++)
		table_add_col(book, t, cols[i].key, cols[i].title, cols[i].kind);
}

/* Two sheets: values far from their peers' mean, and values changed at verification. */
static void outliers_book(struct sheet_book *book, json_t *doc)
{
	outlier_sheet(book, "Выбросы (z-оценка)", doc, "z_score", Z_COLS, ARRAY_LEN(Z_COLS));
	outlier_sheet(book, "Изменены при проверке", doc, "changed", CHANGED_COLS,
		      ARRAY_LEN(CHANGED_COLS));
}

/*
 * $1..$6 caller, $7 campaign, $8 cap. z is taken over the values of one
 * indicator and kind in the campaign's submitted, verified and approved
 * submissions, with the population standard deviation (the values are the
 * whole population of the campaign, not a sample); booleans have no z. The
 * caller's scope filters what is listed, not the population. Changed values:
 * self indicators whose value at verification differs from what the head
 * submitted.
 */
/* clang-format off */
DB_STMT(OUTLIERS) = {
	"campaign_outliers",
	"WITH c AS (SELECT c.id FROM campaigns c WHERE c.id = $7::bigint AND"
	SQL_SCOPE("c.region_id", "NULL::bigint", "NULL::bigint") "), "
	" v AS (SELECT s.id AS submission_id, s.organization_id, s.municipality_id, s.region_id, "
	"  s.kind, i.id AS indicator_id, i.code, v.value "
	"  FROM c JOIN submissions s ON s.campaign_id = c.id "
	"  JOIN submission_values v ON v.submission_id = s.id JOIN indicators i ON i.id = v.indicator_id "
	"  WHERE s.status IN ('submitted', 'verified', 'approved') AND i.value_type <> 'boolean'), "
	" st AS (SELECT indicator_id, kind, avg(value) AS mean, stddev_pop(value) AS sd, count(*) AS n "
	"  FROM v GROUP BY indicator_id, kind), "
	" z AS (SELECT v.*, st.mean, st.sd, st.n, (v.value - st.mean) / st.sd AS z "
	"  FROM v JOIN st USING (indicator_id, kind) "
	"  WHERE st.sd > 0 AND abs(v.value - st.mean) > 3 * st.sd AND"
	SQL_SCOPE("v.region_id", "v.municipality_id", "v.organization_id") "), "
	" ch AS (SELECT s.id AS submission_id, s.organization_id, s.municipality_id, s.kind, "
	"  i.id AS indicator_id, i.code, i.value_type, sv.value, sv.submitted_value, sv.verified_value "
	"  FROM c JOIN submissions s ON s.campaign_id = c.id "
	"  JOIN submission_values sv ON sv.submission_id = s.id "
	"  JOIN indicators i ON i.id = sv.indicator_id AND i.source = 'self' "
	"  WHERE sv.submitted_value IS DISTINCT FROM sv.verified_value "
	"   AND sv.submitted_value IS NOT NULL AND sv.verified_value IS NOT NULL AND"
	SQL_SCOPE("s.region_id", "s.municipality_id", "s.organization_id") ") "
	"SELECT jsonb_build_object('campaign_id', c.id, 'limit', $8::int, "
	" 'z_score', jsonb_build_object('threshold', 3, 'sd', 'population', "
	"  'count', (SELECT count(*) FROM z), 'items', coalesce((SELECT jsonb_agg(x.j ORDER BY x.az DESC, "
	"   x.submission_id, x.code) FROM (SELECT abs(z.z) AS az, z.submission_id, z.code, "
	"   jsonb_build_object('submission_id', z.submission_id, 'organization_id', z.organization_id, "
	"    'organization_name', o.short_name, 'municipality_id', z.municipality_id, 'kind', z.kind, "
	"    'indicator_id', z.indicator_id, 'indicator_code', z.code, 'value', z.value, "
	"    'z', round(z.z, 2), 'mean', round(z.mean, 4), 'sd', round(z.sd, 4), 'n', z.n) AS j "
	"   FROM z JOIN organizations o ON o.id = z.organization_id "
	"   ORDER BY abs(z.z) DESC, z.submission_id, z.code LIMIT $8::int) x), '[]'::jsonb)), "
	" 'changed', jsonb_build_object('count', (SELECT count(*) FROM ch), "
	"  'items', coalesce((SELECT jsonb_agg(x.j ORDER BY x.ac DESC, x.submission_id, x.code) "
	"   FROM (SELECT abs(ch.verified_value - ch.submitted_value) AS ac, ch.submission_id, ch.code, "
	"   jsonb_build_object('submission_id', ch.submission_id, 'organization_id', ch.organization_id, "
	"    'organization_name', o.short_name, 'municipality_id', ch.municipality_id, 'kind', ch.kind, "
	"    'indicator_id', ch.indicator_id, 'indicator_code', ch.code, 'value', ch.value, "
	"    'submitted_value', ch.submitted_value, 'verified_value', ch.verified_value, "
	"    'change', ch.verified_value - ch.submitted_value) AS j "
	"   FROM ch JOIN organizations o ON o.id = ch.organization_id "
	"   ORDER BY abs(ch.verified_value - ch.submitted_value) DESC, ch.submission_id, ch.code "
	"   LIMIT $8::int) x), '[]'::jsonb))) "
	"FROM c",
	8};
/* clang-format on */

enum em_err campaign_outliers(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply)
{
	struct db_args a;
	long n;
	PGresult *res;
	enum em_format fmt;
	struct csv_opts csv;
	enum em_err rc;
	char name[64];

	(void)body;
	if ((rc = book_params(req, reply, &fmt, &csv)) != EM_OK)
		return rc;
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid parameters");
	n = list_limit_parse(req, reply, OUTLIERS_DEFAULT_LIMIT);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid parameters");
	caller_args(&a, req);
	db_arg_i64(&a, args->id[0]);
	db_arg_i64(&a, n);
	if ((rc = db_exec_args(req->db, &OUTLIERS, &a, &res)) != EM_OK)
		return rc;
	if ((rc = document_reply(reply, res, "campaign", args->id[0])) != EM_OK ||
	    fmt == EM_FMT_JSON)
		return rc;
	snprintf(name, sizeof(name), "outliers-campaign-%lld", (long long)args->id[0]);
	return book_from_json(reply, fmt, &csv, name, outliers_book);
}
