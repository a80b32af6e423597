/*
 * aggregates.c — GET /aggregates and GET /public/aggregates: counts,
 * mean, median, quartiles and level distribution of a campaign's scores by
 * municipality, kind, direction and level, and by settlement, size band and
 * peer cluster (kind × settlement × size band, migration 0012), and the change
 * since the region's
 * previous campaign; read from the rollups of migration 0004, as JSON, CSV or XLSX.
 * The ETag comes from the campaign's change stamp, so a 304 never reads them,
 * and an answer is kept under its ETag, so a repeated GET does not either.
 * The stamp itself is kept per process until a change is announced (LISTEN/
 * NOTIFY, migration 0009): an unchanged campaign's 304 or cached 200 costs no
 * database round trip. This process sees its own writes at once (the writer's
 * COMMIT brings its notification back before it answers); another replica's
 * write is seen when its notification arrives (well under a millisecond on a
 * healthy connection, so eventually, not instantly), and at the latest after
 * META_MAX_AGE_MS whatever happens to notifications.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/conditional.h"
#include "effmon/monitoring.h"
#include "effmon/router.h"
#include "effmon/sheet.h"
#include "effmon/sbuf.h"

#include "aggregate.h"

#define MAX_CAMPAIGN_PARAM 24
#define PUBLIC_MIN_GROUP 3
/* clang-format off */
#define AGG_CACHE_CONTROL "private, no-cache" /* revalidate: 304 is cheap */
#define PUBLIC_CACHE_CONTROL "public, max-age=300"
/* clang-format on */

/* The groupings, in the order of the CSV columns. cluster is kind ×
 * settlement × size_band, and its groups name those three too. */
static const char *const GROUPS[] = {"municipality", "cluster",   "kind", "settlement",
				     "size_band",    "direction", "level"};
#define NGROUPS 7
enum { G_CLUSTER = 1, G_KIND = 2, G_SIZE_BAND = 4 }; /* GROUPS[]: the cluster's parts follow it */

/*
 * The campaign and what its aggregates depend on besides the rollups: $1..$6
 * caller, $7 id, $8 public (published only, no scope). Returns id, version,
 * stamp, previous campaign id, its version, its stamp, and the sum of the
 * versions of the region's municipalities (a renamed one changes the body).
 * Reads campaigns, aggregate_stamps and municipalities (by region) only.
 */
/* clang-format off */
DB_STMT(AGG_META) = {
	"aggregates_meta",
	"SELECT c.id, c.version, em_aggregate_stamp(c.id), p.id, p.version, "
	" CASE WHEN p.id IS NOT NULL THEN em_aggregate_stamp(p.id) END, "
	" (SELECT sum(m.version) FROM municipalities m WHERE m.region_id = c.region_id) "
	"FROM campaigns c LEFT JOIN LATERAL (SELECT p.id, p.version FROM campaigns p "
	" WHERE p.region_id = c.region_id AND p.year < c.year ORDER BY p.year DESC LIMIT 1) p ON true "
	"WHERE c.id = $7::bigint AND CASE WHEN $8::boolean THEN c.status = 'published' ELSE"
	SQL_SCOPE("c.region_id", "NULL::bigint", "NULL::bigint") " END",
	8};
/* clang-format on */

/*
 * The groups, built by em_aggregates() (migration 0004: the query is longer
 * than a C string literal may be). $1..$6 caller, $7 campaign, $8 group_by
 * (text[]), $9 include unapproved, $10 previous campaign (or NULL), $11 public.
 */
/* clang-format off */
DB_STMT(AGG_GROUPS) = {
	"aggregates_groups",
	"SELECT em_aggregates($7::bigint, $8::text[], $9::boolean, $10::bigint, $11::boolean, "
	"$1, $3::bigint, $4::bigint, $5::bigint)",
	11};
/* clang-format on */

/* Published campaigns: the public feed's index. $1 region filter (or NULL). */
/* clang-format off */
DB_STMT(PUBLIC_INDEX) = {
	"public_aggregates_index",
	"SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'region_id', c.region_id, "
	" 'region_name', r.name, 'year', c.year, 'title', c.title, 'published_at', c.published_at) "
	" ORDER BY c.year DESC, c.id), '[]'::jsonb) "
	"FROM campaigns c JOIN regions r ON r.id = c.region_id "
	"WHERE c.status = 'published' AND ($1::bigint IS NULL OR c.region_id = $1::bigint)",
	1};
/* clang-format on */

struct agg_query {
	bool public;
	bool unapproved;
	enum em_format format;
	struct csv_opts csv;
	bool grouped[NGROUPS];
	char group_array[128]; /* {municipality,kind} */
	int64_t campaign_id;
	char campaign[MAX_CAMPAIGN_PARAM]; /* as the query wrote it: the same digits */
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
					  "%s is not one of municipality, cluster, kind, "
					  "settlement, size_band, direction, level",
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
			used += (size_t)snprintf(q->group_array + used,
						 sizeof(q->group_array) - used, "%s%s",
						 used > 1 ? "," : "", GROUPS[i]);
done:
	snprintf(q->group_array + used, sizeof(q->group_array) - used, "}");
}

static const enum em_format AGG_FORMATS[] = {EM_FMT_JSON, EM_FMT_CSV, EM_FMT_XLSX};

static enum em_err parse_query(struct em_req *req, struct em_reply *reply, struct agg_query *q)
{
	const char *campaign = req_query(req, "campaign");
	enum em_err rc;

	memset(q, 0, sizeof(*q));
	q->public = req->route->roles == EM_ROLES_PUBLIC;
	if ((rc = negotiate(req, reply, AGG_FORMATS, 3, &q->format)) != EM_OK)
		return rc;
	csv_opts_parse(req, reply, &q->csv);
	/* The CSV keeps the header it always had: the JSON's keys. */
	q->csv.key_headers = true;
	if (q->public) {
		if (req_query(req, "include"))
			reply_field_error(reply, "include",
					  "the public feed has approved results only");
	} else if ((rc = monitoring_include(req, reply, &q->unapproved)) != EM_OK) {
		return rc;
	}
	if (!campaign)
		reply_field_error(reply, "campaign", "is required: the id of a campaign");
	else if (!router_parse_id(campaign, strlen(campaign), &q->campaign_id))
		reply_field_error(reply, "campaign", "must be a positive integer id");
	else
		snprintf(q->campaign, sizeof(q->campaign), "%s", campaign);
	parse_group_by(req_query(req, "group_by"), reply, q);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid parameters");
	return EM_OK;
}

static void meta_from_result(PGresult *res, struct agg_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->found = PQntuples(res) > 0;
	for (int i = 0; m->found && i < META_COLS; i++) {
		m->null[i] = PQgetisnull(res, 0, i);
		snprintf(m->col[i], sizeof(m->col[i]), "%s", PQgetvalue(res, 0, i));
	}
}

/* W/"agg-<hash>": everything the body depends on, without reading the rollups. */
static void make_etag(struct em_req *req, const struct agg_query *q, const struct agg_meta *meta,
		      char *out, size_t outlen)
{
	unsigned char h[16];
	char hex[33], text[512];
	int n;

	n = snprintf(text, sizeof(text), "%s|%s|%s|%s|%s|%s|%s|%s|%lld|%lld|%lld|%d|%d|%c%c|%s",
		     meta->col[0], meta->col[1], meta->col[2], meta->col[3], meta->col[4],
		     meta->col[5], meta->col[6],
		     q->public ? "public" : em_role_name(req->caller.role),
		     q->public ? 0LL : (long long)req->caller.region_id,
		     q->public ? 0LL : (long long)req->caller.municipality_id,
		     q->public ? 0LL : (long long)req->caller.organization_id, q->unapproved,
		     (int)q->format, q->csv.delimiter, q->csv.decimal, q->group_array);
	crypto_generichash(h, sizeof(h), (const unsigned char *)text, n > 0 ? (size_t)n : 0, NULL,
			   0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, outlen, "W/\"agg-%s\"", hex);
}

static bool etag_matches(const char *inm, const char *etag)
{
	/* Weak comparison (RFC 9110 §13.1.2) over a list of tags, or "*". */
	return etag_list_match(inm, etag, false) == ETAG_MATCHES;
}

/* AGG_META's answer: from the meta cache, or read (and kept). */
static enum em_err meta_lookup(struct em_req *req, const struct db_args *a,
			       const struct agg_query *q, struct agg_meta *out)
{
	char key[128];
	bool keyed = agg_meta_key(req, q->campaign_id, q->public, key, sizeof(key));
	unsigned long generation;
	int64_t filled_ms;
	PGresult *res;
	enum em_err rc;

	if (keyed && agg_meta_cache_get(req->db, key, out))
		return EM_OK;
	generation = db_notify_generation(DB_CHANNEL_AGGREGATES);
	filled_ms = agg_now_ms();
	if ((rc = db_exec_args(req->db, &AGG_META, a, &res)) != EM_OK)
		return rc;
	meta_from_result(res, out);
	PQclear(res);
	/* A replica's row may be older than the generation says (it replays
	 * behind the notifications the primary's connections hear): not kept. */
	if (keyed && !db_is_read(req->db))
		agg_meta_cache_put(key, out, generation, filled_ms);
	return EM_OK;
}

/* --- CSV ----------------------------------------------------------------------------- */

/* The figures of a group, after its key columns: JSON key, Russian header, type. */
static const struct {
	const char *key, *title;
	enum sheet_kind kind;
} FILE_FIGURES[] = {
	{"expected", "Обязаны представить", SK_INT},
	{"submitted", "Представили", SK_INT},
	{"submitted_on_time", "Представили в срок", SK_INT},
	{"approved", "Утверждены", SK_INT},
	{"count", "Результатов с баллом", SK_INT},
	{"mean", "Средний балл", SK_DEC2},
	{"median", "Медиана", SK_DEC2},
	{"q1", "Нижний квартиль", SK_DEC2},
	{"q3", "Верхний квартиль", SK_DEC2},
	{"min", "Минимум", SK_DEC2},
	{"max", "Максимум", SK_DEC2},
	{"levels.high", "Уровень «высокий»", SK_INT},
	{"levels.sufficient", "Уровень «достаточный»", SK_INT},
	{"levels.low", "Уровень «низкий»", SK_INT},
	{"levels.critical", "Уровень «критический»", SK_INT},
	{"mean_previous", "Средний балл в предыдущей кампании", SK_DEC2},
	{"mean_change", "Изменение среднего балла", SK_DEC2},
	{"suppressed", "Скрыто (мало организаций)", SK_BOOL},
};

/* The groups as one table, written as CSV or XLSX. */
static enum em_err file_reply(struct em_reply *reply, const struct agg_query *q, json_t *groups)
{
	static const struct {
		const char *key, *title;
		enum sheet_kind kind;
	} KEY_COLUMNS[NGROUPS][2] = {
		{{"municipality_id", "Код муниципалитета", SK_INT},
		 {"municipality_name", "Муниципалитет", SK_TEXT}},
		{{"cluster", "Группа сравнения", SK_TEXT}, {NULL, NULL, SK_TEXT}},
		{{"kind", "Тип ОО", SK_TEXT}, {NULL, NULL, SK_TEXT}},
		{{"settlement", "Тип поселения", SK_TEXT}, {NULL, NULL, SK_TEXT}},
		{{"size_band", "Размер ОО", SK_TEXT}, {NULL, NULL, SK_TEXT}},
		{{"direction", "Направление", SK_TEXT}, {NULL, NULL, SK_TEXT}},
		{{"level", "Уровень", SK_TEXT}, {NULL, NULL, SK_TEXT}}};
	struct sheet_book book = {0};
	struct sheet_table *t;
	char name[64];
	enum em_err rc;

	t = sheet_add_table(&book, book_add_sheet(&book, "Сводные показатели"), NULL, groups);
	for (int g = 0; g < NGROUPS; g++)
		for (int c = 0; c < 2; c++)
			if ((q->grouped[g] ||
			     (q->grouped[G_CLUSTER] && g >= G_KIND && g <= G_SIZE_BAND)) &&
			    KEY_COLUMNS[g][c].key)
				table_add_col(&book, t, KEY_COLUMNS[g][c].key,
					      KEY_COLUMNS[g][c].title, KEY_COLUMNS[g][c].kind);
	for (size_t f = 0; f < ARRAY_LEN(FILE_FIGURES); f++)
		table_add_col(&book, t, FILE_FIGURES[f].key, FILE_FIGURES[f].title,
			      FILE_FIGURES[f].kind);
	rc = book_reply(&book, q->format, &q->csv, reply);
	book_free(&book);
	snprintf(name, sizeof(name), "aggregates-campaign-%s", q->campaign);
	if (rc == EM_OK)
		reply_attachment(reply, name, q->format);
	return rc;
}

/* --- Handlers -------------------------------------------------------------------------- */

/* The campaign's meta row, the ETag and its headers; a matching
 * If-None-Match is a 304 (*done set). */
static enum em_err revalidate(struct em_req *req, struct em_reply *reply, const struct agg_query *q,
			      const struct db_args *a, struct agg_meta *meta, char *etag,
			      size_t etaglen, bool *done)
{
	enum em_err rc;

	*done = false;
	if ((rc = meta_lookup(req, a, q, meta)) != EM_OK)
		return rc;
	if (!meta->found)
		return reply_fail(reply, EM_ENOTFOUND,
				  q->public ? "no published campaign %s" : "no campaign %s",
				  q->campaign);
	make_etag(req, q, meta, etag, etaglen);
	reply_header(reply, "ETag", etag);
	reply_header(reply, "Cache-Control", q->public ? PUBLIC_CACHE_CONTROL : AGG_CACHE_CONTROL);
	reply_header(reply, "Vary", "Accept, Authorization");
	if (etag_matches(req_header(req, "If-None-Match"), etag)) {
		reply->status = 304;
		*done = true;
	}
	return EM_OK;
}

/* The JSON answer around the groups' text as PostgreSQL wrote it: numerics
 * keep their 2 decimals instead of passing through a double. */
static enum em_err json_reply(struct em_reply *reply, const struct agg_query *q,
			      const struct agg_meta *meta, const char *groups)
{
	struct sbuf b = {0};
	char head[160];
	bool first = true;

	snprintf(head, sizeof(head),
		 "{\"campaign_id\":%s,\"previous_campaign_id\":%s,\"include\":\"%s\","
		 "\"group_by\":[",
		 q->campaign, meta->null[3] ? "null" : meta->col[3],
		 q->unapproved ? "unapproved" : "approved");
	sb_str(&b, head);
	for (int i = 0; i < NGROUPS; i++)
		if (q->grouped[i]) {
			sb_str(&b, first ? "\"" : ",\"");
			sb_str(&b, GROUPS[i]);
			sb_str(&b, "\"");
			first = false;
		}
	sb_str(&b, "],\"groups\":");
	sb_str(&b, groups);
	sb_str(&b, "}");
	return sb_reply(&b, reply, "application/json");
}

static enum em_err aggregates(struct em_req *req, struct em_reply *reply)
{
	struct agg_query q;
	char etag[64];
	struct db_args a;
	struct agg_meta meta;
	PGresult *res = NULL;
	json_t *groups;
	json_error_t jerr;
	bool done;
	enum em_err rc;

	if ((rc = parse_query(req, reply, &q)) != EM_OK)
		return rc;
	caller_args(&a, req);
	db_arg_i64(&a, q.campaign_id);
	db_arg_bool(&a, q.public);
	if ((rc = revalidate(req, reply, &q, &a, &meta, etag, sizeof(etag), &done)) != EM_OK ||
	    done)
		return rc;
	if (agg_cache_get(etag, reply)) {
		if (q.format != EM_FMT_JSON) {
			char name[64];
			snprintf(name, sizeof(name), "aggregates-campaign-%s", q.campaign);
			reply_attachment(reply, name, q.format);
		}
		return EM_OK;
	}
	caller_args(&a, req);
	db_arg_i64(&a, q.campaign_id);
	db_arg_text(&a, q.group_array);
	db_arg_bool(&a, q.unapproved);
	db_arg_text(&a, meta.null[3] ? NULL : meta.col[3]);
	db_arg_bool(&a, q.public);
	if ((rc = db_exec_args(req->db, &AGG_GROUPS, &a, &res)) != EM_OK)
		return rc;
	if (q.format == EM_FMT_JSON) {
		rc = json_reply(reply, &q, &meta, PQgetvalue(res, 0, 0));
	} else if (!(groups = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr))) {
		rc = EM_EINTERNAL;
	} else {
		rc = file_reply(reply, &q, groups);
		json_decref(groups);
	}
	if (rc == EM_OK)
		agg_cache_put(etag, reply);
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
	struct db_args a;
	PGresult *res;
	json_t *items;
	json_error_t jerr;
	int64_t id = 0;
	enum em_err rc;

	(void)args;
	(void)body;
	if (req_query(req, "campaign") || req_query(req, "group_by"))
		return aggregates(req, reply);
	/* The index of published campaigns is JSON only. */
	{
		static const enum em_format JSON_ONLY[] = {EM_FMT_JSON};
		enum em_format f;
		if ((rc = negotiate(req, reply, JSON_ONLY, 1, &f)) != EM_OK)
			return rc;
	}
	/* Without a campaign: the index of published campaigns. */
	if (region && !router_parse_id(region, strlen(region), &id)) {
		reply_field_error(reply, "region_id", "must be a positive integer id");
		return reply_fail(reply, EM_EINVAL, "invalid parameters");
	}
	db_args_init(&a);
	db_arg_id(&a, id); /* ids are positive: 0 is no region_id, NULL */
	if ((rc = db_exec_args(req->db, &PUBLIC_INDEX, &a, &res)) != EM_OK)
		return rc;
	items = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr);
	PQclear(res);
	if (!items)
		return EM_EINTERNAL;
	reply_header(reply, "Cache-Control", PUBLIC_CACHE_CONTROL);
	reply_json(reply, 200, json_pack("{s:o}", "campaigns", items));
	return EM_OK;
}
