/*
 * scores.c — reading the scores that em_rescore() keeps (DESIGN §3):
 * GET /campaigns/{id}/scores (rows with dense ranks in the region and the
 * municipality, and in the peer cluster — kind × settlement × size band,
 * migration 0012 — a head's own row and its peer group's distribution),
 * GET /managers/{id}/scores (a head's results across campaigns, with the
 * change from one to the next). The scores page is also given as CSV and
 * XLSX, built from its JSON; the outliers are in outliers.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/sheet.h"
#include "handler.h"

static const char *const LEVELS[] = {"high", "sufficient", "low", "critical", NULL};
static const char *const SCORE_SORTS[] = {"rank", "total", "id", "rank_cluster", NULL};
static const char *const SETTLEMENTS[] = {"urban", "rural", NULL};
static const char *const SIZE_BANDS[] = {"small", "medium", "large", NULL};

/* The peer cluster's parts, in the order of "kind/settlement/size_band". */
static const struct list_filter CLUSTER_FILTERS[3] = {
	{"kind", FILTER_ENUM, EM_ORG_KINDS},
	{"settlement", FILTER_ENUM, SETTLEMENTS},
	{"size_band", FILTER_ENUM, SIZE_BANDS},
};
/* The other filters of the scores page: level, municipality_id. */
static const struct list_filter SCORE_FILTERS[] = {
	{"level", FILTER_ENUM, LEVELS},
	{"municipality_id", FILTER_ID, NULL},
};

/* The campaign, if visible: $1..$6 caller, $7 id. */
/* clang-format off */
DB_STMT(CAMPAIGN_VISIBLE) = {
	"scores_campaign_visible",
	"SELECT c.id FROM campaigns c WHERE c.id = $7::bigint AND" CAMPAIGN_SCOPE("c"),
	7};
/* clang-format on */

/*
 * The three statements of the scores page share one parameter layout:
 * $1..$6 caller, $7 campaign, $8 include unapproved, $9 municipality, $10 kind,
 * $11 level, $12 sort (rank|total|id|rank_cluster), $13 limit+1, $14 after id,
 * $15 after key, $16 settlement, $17 size band.
 * Ranks are dense over the presented total among the counted rows of the
 * campaign (one region) and kind, of the municipality, and of the cluster
 * (kind, settlement and size band as em_rescore stores them), and are read
 * from score_ranks (migration 0017), which em_rescore keeps; the caller's
 * scope and the filters select rows, never change a rank, so a municipal
 * operator sees region ranks. Rows without a total (nothing applicable) have
 * no rank and come after the ranked rows, by id.
 */

/* A counted row of the page's set, in the caller's scope, through the filters. */
/* clang-format off */
#define SCORES_ROW_OK(a)                                                                   \
	" " a ".status IN ('approved', 'submitted', 'verified') AND (" a ".status = 'approved'" \
	" OR $8::boolean) AND" SQL_LIST_SCOPE(a ".region_id", a ".municipality_id",         \
					     a ".organization_id")                          \
	" AND ($9::bigint IS NULL OR " a ".municipality_id = $9::bigint)"                    \
	" AND ($10::text IS NULL OR " a ".kind = $10) AND ($11::text IS NULL OR " a ".level = $11)" \
	" AND ($16::text IS NULL OR " a ".settlement = $16)"                                 \
	" AND ($17::text IS NULL OR " a ".size_band = $17)"
/* clang-format on */

/* The rank of row r in one partition of score_ranks, null without a total. */
/* clang-format off */
#define SQL_RANK_OF(scope, muni, settlement, band)                                        \
	"(SELECT l.rank FROM score_ranks l WHERE l.campaign_id = r.campaign_id"           \
	" AND l.scope = '" scope "' AND l.kind = r.kind AND l.municipality_id = " muni     \
	" AND l.settlement = " settlement " AND l.size_band = " band                        \
	" AND l.unapproved = $8::boolean AND l.value = r.total_rounded)"
#define SQL_RANK_REGION SQL_RANK_OF("r", "0", "''", "''")
#define SQL_RANK_CLUSTER SQL_RANK_OF("c", "0", "r.settlement", "r.size_band")
/* clang-format on */

/*
 * The unranked rows after the ranked ones, by id: key is the sort key they
 * all share (past every rank, or every negated total).
 */
/* clang-format off */
#define SCORES_UNRANKED(key)                                                              \
	" unranked AS (SELECT sc.*, " key "::numeric AS sort_key FROM submission_scores sc"  \
	"  WHERE sc.campaign_id = $7::bigint AND sc.total_rounded IS NULL AND"              \
	SCORES_ROW_OK("sc")                                                                  \
	"  AND ($14::bigint IS NULL OR (" key "::numeric, sc.submission_id) > "             \
	"   ($15::numeric, $14::bigint)) ORDER BY sc.submission_id LIMIT $13::int), "        \
	" page AS (SELECT * FROM ranked UNION ALL SELECT * FROM unranked "                   \
	"  ORDER BY sort_key, submission_id LIMIT $13::int) "
/* clang-format on */

/* The page's rows as the list's items (em_score_items, sql/10_scoring.sql). */
/* clang-format off */
#define SCORES_ITEMS                                                                      \
	"SELECT i.item, p.submission_id, p.sort_key FROM page p "                             \
	"JOIN em_score_items(ARRAY(SELECT submission_id FROM page), $8::boolean) i "          \
	" ON i.submission_id = p.submission_id ORDER BY p.sort_key, p.submission_id"
/* clang-format on */

/*
 * sort=rank (region ranks) or rank_cluster: the ranks of score_ranks in
 * order, each with the rows that reach its total (a lateral subquery that is
 * not flattened, so the walk stays a nested loop in rank order), until the
 * page is full: a page reads about limit ranks, and the ties of one rank
 * across the partitions (kinds, or clusters), whatever the campaign's size.
 */
/* clang-format off */
DB_STMT(SCORES_BY_RANK) = {
	"scores_by_rank",
	"WITH ranked AS (SELECT sc.*, l.rank::numeric AS sort_key FROM score_ranks l "
	"  CROSS JOIN LATERAL (SELECT sc.* FROM submission_scores sc "
	"   WHERE sc.campaign_id = l.campaign_id AND sc.kind = l.kind "
	"   AND sc.total_rounded = l.value AND (l.scope = 'r' OR (sc.settlement = l.settlement "
	"   AND sc.size_band = l.size_band)) AND" SCORES_ROW_OK("sc") " OFFSET 0) sc "
	"  WHERE l.campaign_id = $7::bigint "
	"   AND l.scope = CASE $12 WHEN 'rank_cluster' THEN 'c' ELSE 'r' END::\"char\" "
	"   AND l.scope <> 'm' AND l.unapproved = $8::boolean "
	"   AND ($10::text IS NULL OR l.kind = $10) "
	"   AND l.rank >= greatest(least(ceil(coalesce($15::numeric, 0)), 2147483647), 0)::integer "
	"   AND ($14::bigint IS NULL OR (l.rank::numeric, sc.submission_id) > "
	"    ($15::numeric, $14::bigint)) "
	"  ORDER BY l.rank, sc.submission_id LIMIT $13::int), "
	SCORES_UNRANKED("2147483647")
	SCORES_ITEMS,
	17};
/* clang-format on */

/*
 * sort=total: the region partitions' totals of score_ranks, highest first
 * across kinds, each with its rows. The key is the negated total ($12 is
 * the sort, always 'total' here).
 */
/* clang-format off */
DB_STMT(SCORES_BY_TOTAL) = {
	"scores_by_total",
	"WITH ranked AS (SELECT sc.*, -l.value AS sort_key FROM score_ranks l "
	"  CROSS JOIN LATERAL (SELECT sc.* FROM submission_scores sc "
	"   WHERE sc.campaign_id = l.campaign_id AND sc.kind = l.kind "
	"   AND sc.total_rounded = l.value AND" SCORES_ROW_OK("sc") " OFFSET 0) sc "
	"  WHERE l.campaign_id = $7::bigint AND l.scope = 'r' AND l.unapproved = $8::boolean "
	"   AND l.municipality_id = 0 AND l.settlement = '' AND l.size_band = '' "
	"   AND $12::text = 'total' AND ($10::text IS NULL OR l.kind = $10) "
	"   AND l.value <= coalesce(-$15::numeric, 99999.99) "
	"   AND ($14::bigint IS NULL OR (-l.value, sc.submission_id) > "
	"    ($15::numeric, $14::bigint)) "
	"  ORDER BY l.value DESC, sc.submission_id LIMIT $13::int), "
	SCORES_UNRANKED("1")
	SCORES_ITEMS,
	17};
/* clang-format on */

/*
 * Any sort over the rows the scope or a municipality filter leaves (a
 * municipality's rows, or a head's own), and sort=id: the rows selected,
 * their sort keys (a rank read by key), the page cut, then the items.
 */
/* clang-format off */
DB_STMT(SCORES_SELECTED) = {
	"scores_selected",
	"WITH rows AS (SELECT r.*, CASE $12 "
	"   WHEN 'rank' THEN coalesce(" SQL_RANK_REGION ", 2147483647)::numeric "
	"   WHEN 'total' THEN -coalesce(r.total_rounded, -1) "
	"   WHEN 'rank_cluster' THEN coalesce(" SQL_RANK_CLUSTER ", 2147483647)::numeric "
	"   ELSE r.submission_id::numeric END AS sort_key "
	"  FROM submission_scores r WHERE r.campaign_id = $7::bigint AND"
	SCORES_ROW_OK("r")
	"), page AS (SELECT * FROM rows WHERE ($14::bigint IS NULL OR (sort_key, submission_id) "
	"  > ($15::numeric, $14::bigint)) ORDER BY sort_key, submission_id LIMIT $13::int) "
	SCORES_ITEMS,
	17};
/* clang-format on */

/*
 * A head's peer group: the approved rows of its kind in the campaign, from the
 * rollups (no names, no ids). $1 campaign, $2 the head's organization.
 */
/* clang-format off */
DB_STMT(SCORES_PEERS) = {
	"scores_peer_group",
	"WITH k AS (SELECT s.kind FROM submissions s WHERE s.campaign_id = $1::bigint "
	"  AND s.organization_id = $2::bigint), "
	" b AS (SELECT b.value, b.level, sum(b.n)::bigint AS n FROM score_buckets b, k "
	"  WHERE b.campaign_id = $1::bigint AND b.direction_id = 0 AND b.approved "
	"  AND b.kind = k.kind GROUP BY b.value, b.level) "
	"SELECT jsonb_build_object('kind', k.kind) || em_hist_summary("
	" (SELECT array_agg(value ORDER BY value) FROM b), (SELECT array_agg(n ORDER BY value) FROM b)) "
	" || jsonb_build_object('levels', jsonb_build_object("
	"  'high', (SELECT coalesce(sum(n), 0) FROM b WHERE level = 'high'), "
	"  'sufficient', (SELECT coalesce(sum(n), 0) FROM b WHERE level = 'sufficient'), "
	"  'low', (SELECT coalesce(sum(n), 0) FROM b WHERE level = 'low'), "
	"  'critical', (SELECT coalesce(sum(n), 0) FROM b WHERE level = 'critical'))) FROM k",
	2};
/* clang-format on */

/* [-]digits[.digits], at most 40 characters. */
static bool decimal_text(const char *s)
{
	size_t n = 0, digits = 0;
	bool dot = false;

	if (*s == '-')
		s++, n++;
	for (; *s && n < 40; s++, n++) {
		if (*s >= '0' && *s <= '9')
			digits++;
		else if (*s == '.' && !dot && digits)
			dot = true;
		else
			return false;
	}
	return !*s && digits && s[-1] != '.';
}

/* Parses limit, sort (one of sorts) and cursor (base64url "sort\nid\nkey"). */
static void page_parse(struct em_req *req, struct em_reply *reply, const char *const *sorts,
		       struct list_page *page)
{
	const char *key = list_page_read(req, reply, sorts,
					 "must be one of: rank, total, id, rank_cluster", page);

	/* The key is a number the list itself produced: [-]digits[.digits], nothing strtod
	 * also reads (nan, inf, hex, exponents), which SQL would refuse or misread. */
	if (key && !decimal_text(key))
		reply_field_error(reply, "cursor", "is not a cursor of this list and sort");
	page->has_key = key != NULL;
}

enum em_err monitoring_include(struct em_req *req, struct em_reply *reply, bool *unapproved)
{
	const char *inc = req_query(req, "include");

	*unapproved = false;
	if (!inc)
		return EM_OK;
	if (strcmp(inc, "unapproved") != 0) {
		reply_field_error(reply, "include", "must be unapproved");
		return EM_OK;
	}
	if (!(req->caller.role & (EM_ROLE_ADMIN | EM_ROLE_REGIONAL | EM_ROLE_MUNICIPAL)))
		return reply_fail(reply, EM_EFORBIDDEN,
				  "include=unapproved is for regional and municipal operators");
	*unapproved = true;
	return EM_OK;
}

/* The peer-cluster filters: kind, settlement, size_band, or cluster
 * ("kind/settlement/size_band", which sets the three and must agree with
 * them when they are given too). out: kind, settlement, size band. */
static void cluster_filters(struct em_req *req, struct em_reply *reply, const char *out[3],
			    char parts[3][16])
{
	const char *cluster = req_query(req, "cluster");
	const char *p;

	list_filters_parse(req, reply, CLUSTER_FILTERS, ARRAY_LEN(CLUSTER_FILTERS), out);
	if (!cluster)
		return;
	p = cluster;
	for (int i = 0; i < 3; i++) {
		size_t n = strcspn(p, "/");
		bool known = false;

		if (n >= sizeof(parts[i]) || (i < 2 && p[n] != '/') || (i == 2 && p[n]))
			goto bad;
		memcpy(parts[i], p, n);
		parts[i][n] = '\0';
		for (const char *const *c = CLUSTER_FILTERS[i].choices; *c && !known; c++)
			known = strcmp(*c, parts[i]) == 0;
		if (!known)
			goto bad;
		if (out[i] && strcmp(out[i], parts[i]) != 0) {
			reply_field_error(reply, "cluster", "does not agree with %s",
					  CLUSTER_FILTERS[i].name);
			return;
		}
		out[i] = parts[i];
		p += n + (i < 2);
	}
	return;
bad:
	reply_field_error(reply, "cluster",
			  "must be kind/settlement/size_band, "
			  "e.g. school/rural/small");
}

/* The page's rows; a direction column for each direction code of the first row. */
static void scores_book(struct sheet_book *book, json_t *doc)
{
	json_t *items = json_object_get(doc, "items"), *x;
	struct sheet_table *t;
	const char *code;
	char key[64], title[SHEET_TEXT];

	t = sheet_add_table(book, book_add_sheet(book, "Результаты"), NULL, items);
	table_add_col(book, t, "submission_id", "Анкета", SK_INT);
	table_add_col(book, t, "organization_id", "Код ОО", SK_INT);
	table_add_col(book, t, "organization_name", "Образовательная организация", SK_TEXT);
	table_add_col(book, t, "municipality_id", "Код муниципалитета", SK_INT);
	table_add_col(book, t, "kind", "Тип ОО", SK_TEXT);
	table_add_col(book, t, "campaign_id", "Кампания", SK_INT);
	table_add_col(book, t, "manager_id", "Код руководителя", SK_INT);
	table_add_col(book, t, "manager_name", "Руководитель", SK_TEXT);
	table_add_col(book, t, "status", "Статус", SK_TEXT);
	table_add_col(book, t, "total", "Итоговый балл", SK_DEC2);
	table_add_col(book, t, "level", "Уровень", SK_TEXT);
	table_add_col(book, t, "completeness", "Полнота данных", SK_DEC4);
	table_add_col(book, t, "rank_region", "Место в регионе", SK_INT);
	table_add_col(book, t, "rank_municipality", "Место в муниципалитете", SK_INT);
	table_add_col(book, t, "cluster", "Группа сравнения", SK_TEXT);
	table_add_col(book, t, "rank_cluster", "Место в группе", SK_INT);
	json_object_foreach(json_object_get(json_array_get(items, 0), "directions"), code, x) {
		(void)x;
		snprintf(key, sizeof(key), "directions.%s", code);
		snprintf(title, sizeof(title), "Направление %s", code);
		table_add_col(book, t, key, title, SK_DEC2);
	}
}

/* A head's page: its own row, and its peer group's distribution as
 * PostgreSQL wrote it (numerics keep their 2 decimals). */
static enum em_err scores_with_peer_group(struct em_req *req, struct em_reply *reply,
					  PGresult *rows, const struct list_page *page,
					  int64_t campaign_id)
{
	struct db_args a;
	PGresult *res;
	char *extra;
	enum em_err rc;

	db_args_init(&a);
	db_arg_i64(&a, campaign_id);
	db_arg_i64(&a, req->caller.organization_id);
	if ((rc = db_exec_args(req->db, &SCORES_PEERS, &a, &res)) != EM_OK)
		return rc;
	const char *peers = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "null";
	if (asprintf(&extra, "\"peer_group\":%s", peers) < 0) {
		PQclear(res);
		return EM_EINTERNAL;
	}
	PQclear(res);
	rc = list_reply(reply, rows, page, extra);
	free(extra);
	return rc;
}

/*
 * The walks of score_ranks serve region-wide callers with their generic plan
 * (their conditions are index conditions there too, and planning each page
 * would cost a fifth of reading it), unless a kind is given: then planned
 * for the values, to walk that kind's ranks alone (db_exec_args_custom). A municipality's rows (its
 * operator, a head, the filter) are few enough to select and sort, planned
 * for the values so that the scope folds to the municipality's index.
 */
static const struct db_stmt *scores_statement(const struct em_req *req,
					      const struct list_page *page, const char *muni)
{
	if (muni || (req->caller.role & (EM_ROLE_MUNICIPAL | EM_ROLE_HEAD)) ||
	    strcmp(page->sort, "id") == 0)
		return &SCORES_SELECTED;
	return strcmp(page->sort, "total") == 0 ? &SCORES_BY_TOTAL : &SCORES_BY_RANK;
}

enum em_err campaign_scores_list(struct em_req *req, const struct em_args *args, json_t *body,
				 struct em_reply *reply)
{
	struct list_page page;
	char parts[3][16];
	const char *cl[3], *filters[2], *level, *muni;
	struct db_args a;
	const struct db_stmt *st;
	bool unapproved;
	PGresult *res;
	enum em_format fmt;
	struct csv_opts csv;
	char name[64];
	enum em_err rc;

	(void)body;
	if ((rc = book_params(req, reply, &fmt, &csv)) != EM_OK)
		return rc;
	if ((rc = monitoring_include(req, reply, &unapproved)) != EM_OK)
		return rc;
	page_parse(req, reply, SCORE_SORTS, &page);
	cluster_filters(req, reply, cl, parts);
	list_filters_parse(req, reply, SCORE_FILTERS, ARRAY_LEN(SCORE_FILTERS), filters);
	level = filters[0];
	muni = filters[1];
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid list parameters");

	if ((rc = resource_visible(req, reply, &CAMPAIGN_VISIBLE, args->id[0], "campaign")) !=
	    EM_OK)
		return rc;

	caller_args(&a, req);
	db_arg_i64(&a, args->id[0]);
	db_arg_bool(&a, unapproved);
	db_arg_text(&a, muni);
	db_arg_text(&a, cl[0]);
	db_arg_text(&a, level);
	db_arg_text(&a, page.sort);
	db_arg_i64(&a, page.limit + 1);
	db_arg_id(&a, page.after_id);
	db_arg_text(&a, page.has_key ? page.after_key : NULL);
	db_arg_text(&a, cl[1]);
	db_arg_text(&a, cl[2]);
	st = scores_statement(req, &page, muni);
	rc = st == &SCORES_SELECTED || cl[0] ? db_exec_args_custom(req->db, st, &a, &res)
					     : db_exec_args_generic(req->db, st, &a, &res);
	if (rc != EM_OK)
		return rc;
	if (fmt == EM_FMT_JSON && req->caller.role == EM_ROLE_HEAD)
		rc = scores_with_peer_group(req, reply, res, &page, args->id[0]);
	else
		rc = list_reply(reply, res, &page, NULL);
	PQclear(res);
	if (rc != EM_OK || fmt == EM_FMT_JSON)
		return rc;
	/* The page's rows only: a head's are its own (the peer group stays JSON). */
	snprintf(name, sizeof(name), "scores-campaign-%lld", (long long)args->id[0]);
	return book_from_json(reply, fmt, &csv, name, scores_book);
}

/* --- A manager across campaigns ----------------------------------------------------- */

/*
 * $1..$6 caller (a head, whose own manager is $6, sees only that one), $7
 * manager. One row: null when the manager is not visible, else the document.
 * The change is from the manager's previous approved campaign (by year).
 */
/* clang-format off */
DB_STMT(MANAGER_SCORES) = {
	"manager_scores",
	"WITH m AS (SELECT m.id FROM managers m WHERE m.id = $7::bigint AND"
	SQL_SCOPE("m.region_id", "m.municipality_id", "m.organization_id")
	"  AND ($1 <> 'head' OR m.id = $6::bigint)), "
	" r AS (SELECT sc.submission_id, sc.campaign_id, c.year, c.title, c.region_id, "
	"  sc.organization_id, sc.total_rounded AS total, sc.level, "
	"  sc.directions AS dirs "
	"  FROM m JOIN submission_scores sc ON sc.manager_id = m.id AND sc.status = 'approved' "
	"  JOIN campaigns c ON c.id = sc.campaign_id), "
	" w AS (SELECT r.*, lag(r.campaign_id) OVER o AS prev_campaign, lag(r.total) OVER o AS prev_total, "
	"  lag(r.dirs) OVER o AS prev_dirs FROM r WINDOW o AS (ORDER BY r.year, r.campaign_id)) "
	"SELECT jsonb_build_object('manager_id', m.id, 'items', coalesce((SELECT jsonb_agg("
	" jsonb_build_object('campaign_id', w.campaign_id, 'year', w.year, 'title', w.title, "
	"  'region_id', w.region_id, 'organization_id', w.organization_id, "
	"  'submission_id', w.submission_id, 'total', w.total, 'level', w.level, "
	"  'directions', w.dirs, 'previous_campaign_id', w.prev_campaign, "
	"  'change', CASE WHEN w.prev_campaign IS NULL THEN NULL ELSE jsonb_build_object("
	"   'total', w.total - w.prev_total, 'directions', (SELECT jsonb_object_agg(k, "
	"    CASE WHEN jsonb_typeof(w.dirs -> k) = 'number' AND jsonb_typeof(w.prev_dirs -> k) = 'number' "
	"    THEN (w.dirs ->> k)::numeric - (w.prev_dirs ->> k)::numeric END) "
	"    FROM jsonb_object_keys(w.dirs) k)) END) ORDER BY w.year, w.campaign_id) FROM w), '[]'::jsonb)) "
	"FROM m",
	7};
/* clang-format on */

enum em_err manager_scores_get(struct em_req *req, const struct em_args *args, json_t *body,
			       struct em_reply *reply)
{
	enum em_err rc;

	(void)body;
	rc = document_get(req, reply, &MANAGER_SCORES, args->id[0], "manager");
	if (rc == EM_OK)
		reply_header(reply, "Cache-Control", "private, no-cache");
	return rc;
}
