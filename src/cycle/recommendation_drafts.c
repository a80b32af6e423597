/*
 * recommendation_drafts.c — POST /campaigns/{id}/recommendation-drafts: one
 * draft per head and weak direction of a campaign's approved scores, naming the
 * direction's weakest indicators, made once (a repeated run skips what exists),
 * with history and audit rows; with "from": "warnings" the drafts come from the
 * early warnings (src/analysis/warning_drafts.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/cycle.h"
#include "effmon/registry.h"
#include "effmon/warnings.h"
#include "recommendation.h"

/* --- Drafts from weak direction scores --------------------------------------------------------- */

/* A campaign the caller may generate drafts for, locked against a concurrent run
 * of either kind of drafts to the transaction's end. $1..$6 caller, $7 campaign. */
/* clang-format off */
DB_STMT(DRAFT_CAMPAIGN) = {
	"recommendation_drafts_campaign",
	"SELECT c.id, pg_advisory_xact_lock(hashtextextended('recommendation-drafts:' || c.id, 0)) "
	"FROM campaigns c WHERE c.id = $7::bigint AND em_in_scope($1, $3::bigint, $4::bigint, "
	"$5::bigint, c.region_id, NULL, NULL)",
	7};
/* clang-format on */

/*
 * One draft per (head of an approved submission, direction) whose direction score,
 * as presented (2 decimals), is below the threshold, naming the direction's up to three
 * weakest applicable indicators. A (campaign, manager, direction) that already has a
 * recommendation other than a withdrawn draft is skipped. Dismissed heads get none.
 * $1 role, $7 campaign, $8 body, $9 actor, $10 request id -> created, skipped, ids, threshold.
 */
/* clang-format off */
DB_STMT(DRAFT_GENERATE) = {
	"recommendation_drafts_generate",
	"WITH c AS (SELECT * FROM campaigns WHERE id = $7::bigint),"
	" th AS (SELECT coalesce(($8::jsonb ->> 'threshold')::numeric, c.threshold_low) AS t, "
	"  coalesce(($8::jsonb ->> 'due_on')::date, em_today() + 90) AS due, c.title FROM c),"
	" weak AS (SELECT s.id AS submission_id, s.manager_id, s.organization_id, "
	"  s.municipality_id, s.region_id, s.kind, d.id AS direction_id, d.code, d.name, "
	"  round(ds.score, 2) AS score, EXISTS (SELECT 1 FROM recommendations r WHERE "
	"  r.campaign_id = s.campaign_id AND r.addressee_manager_id = s.manager_id AND "
	"  d.code = ANY (r.directions) AND r.status <> 'withdrawn') AS taken "
	"  FROM th, submissions s JOIN managers m ON m.id = s.manager_id AND m.status = 'active' "
	"  JOIN direction_scores ds ON ds.submission_id = s.id "
	"  JOIN directions d ON d.id = ds.direction_id "
	"  WHERE s.campaign_id = $7::bigint AND s.status = 'approved' AND round(ds.score, 2) < th.t),"
	" worst AS (SELECT w.submission_id, w.direction_id, i.code, i.name, "
	"  round(100 * em_indicator_score(v.value, i.value_type, i.polarity, i.min_value, "
	"  i.max_value), 2) AS score, row_number() OVER (PARTITION BY w.submission_id, "
	"  w.direction_id ORDER BY em_indicator_score(v.value, i.value_type, i.polarity, "
	"  i.min_value, i.max_value), i.position, i.id) AS n "
	"  FROM weak w JOIN indicators i ON i.campaign_id = $7::bigint AND i.direction_id = "
	"  w.direction_id AND coalesce((i.weights ->> w.kind)::numeric, 0) > 0 "
	"  LEFT JOIN submission_values v ON v.submission_id = w.submission_id AND "
	"  v.indicator_id = i.id WHERE NOT w.taken),"
	" drafts AS (SELECT w.*, (SELECT array_agg(x.code ORDER BY x.n) FROM worst x WHERE "
	"  x.submission_id = w.submission_id AND x.direction_id = w.direction_id AND x.n <= 3) "
	"  AS codes, (SELECT string_agg(format('%s «%s» (%s из 100)', x.code, x.name, x.score), "
	"  '; ' ORDER BY x.n) FROM worst x WHERE x.submission_id = w.submission_id AND "
	"  x.direction_id = w.direction_id AND x.n <= 3) AS weakest FROM weak w WHERE NOT w.taken),"
	" ins AS (INSERT INTO recommendations (campaign_id, region_id, municipality_id, "
	"  organization_id, addressee_manager_id, issuer_level, issued_by, directions, indicators, "
	"  text, due_on, status, generated) SELECT $7::bigint, d.region_id, d.municipality_id, "
	"  d.organization_id, d.manager_id, 'regional', $9::bigint, ARRAY[d.code], "
	"  coalesce(d.codes, '{}'), format('Кампания «%s», направление «%s»: балл %s ниже порога "
	"  %s. Наиболее слабые показатели: %s. Проанализируйте причины и примите меры по их "
	"  улучшению; о выполнении сообщите в отчёте.', th.title, d.name, d.score, th.t, "
	"  coalesce(d.weakest, '—')), th.due, 'draft', true FROM drafts d, th "
	"  ORDER BY d.manager_id, d.direction_id RETURNING *),"
	SQL_DRAFTS_RECORD
	"SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM weak WHERE taken), "
	" (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM ins), (SELECT t FROM th)",
	10};
/* clang-format on */

/* The answer: the counts and the new drafts. $1 ids, $2 created, $3 skipped, $4 threshold. */
/* clang-format off */
DB_STMT(DRAFT_ITEMS) = {
	"recommendation_drafts_items",
	"SELECT jsonb_build_object('created', $2::int, 'skipped', $3::int, 'threshold', "
	" $4::numeric, 'items', coalesce(jsonb_agg(" RECO_JSON("r") " ORDER BY r.id), '[]'::jsonb)) "
	"FROM recommendations r WHERE r.id = ANY ($1::bigint[])",
	4};
/* clang-format on */

/* $1 ids (bigint[]) -> the recommendations as a JSON array, by id. */
/* clang-format off */
DB_STMT(RECO_ARRAY_OF) = {
	"recommendation_array_of",
	"SELECT coalesce(jsonb_agg(" RECO_JSON("r") " ORDER BY r.id), '[]'::jsonb) "
	"FROM recommendations r WHERE r.id = ANY ($1::bigint[])",
	1};
/* clang-format on */

enum em_err recommendations_json_array(struct em_req *req, const char *ids, char **out)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	db_args_init(&a);
	db_arg_text(&a, ids);
	if ((rc = db_exec_args(req->db, &RECO_ARRAY_OF, &a, &res)) != EM_OK)
		return rc;
	*out = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return *out ? EM_OK : EM_EINTERNAL;
}

/* "from": "warnings" is answered by warning_drafts() (src/analysis/warning_drafts.c). */
static const char *const DRAFT_SOURCES[] = {"weak_directions", "warnings", NULL};

static const struct field DRAFT_FIELDS[] = {
	{"from", F_ENUM, false, false, 0, 0, DRAFT_SOURCES},
	{"threshold", F_NUMBER, false, true, 0, 100, NULL},
	{"due_on", F_DATE, false, true, 0, 0, NULL},
};

enum em_err drafts_generate(const struct drafts_run *d, const struct db_stmt *generate,
			    struct idem *idem, PGresult **gen)
{
	struct em_req *req = d->req;
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	reply_clear(d->reply);
	if ((rc = idem_begin(req, d->body, idem, d->reply)) != EM_OK || idem->replayed)
		return rc;
	caller_args(&a, req);
	db_arg_i64(&a, d->campaign);
	if ((rc = db_exec_args(req->db, &DRAFT_CAMPAIGN, &a, &res)) != EM_OK)
		return rc;
	bool found = PQntuples(res) == 1;
	PQclear(res);
	if (!found)
		return reply_fail(d->reply, EM_ENOTFOUND, "no campaign %lld",
				  (long long)d->campaign);
	db_arg_text(&a, d->text);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	if (generate->nparams > 10)
		db_arg_text(&a, d->types);
	return db_exec_args(req->db, generate, &a, gen);
}

static enum em_err drafts_tx(struct db_conn *db, void *arg)
{
	struct drafts_run *d = arg;
	struct idem idem;
	struct db_args a;
	PGresult *gen, *res;
	enum em_err rc;

	(void)db;
	if ((rc = drafts_generate(d, &DRAFT_GENERATE, &idem, &gen)) != EM_OK || idem.replayed)
		return rc;
	db_args_init(&a);
	db_arg_text(&a, PQgetvalue(gen, 0, 2));
	db_arg_text(&a, PQgetvalue(gen, 0, 0));
	db_arg_text(&a, PQgetvalue(gen, 0, 1));
	db_arg_text(&a, PQgetvalue(gen, 0, 3));
	rc = db_exec_args(d->req->db, &DRAFT_ITEMS, &a, &res);
	PQclear(gen);
	if (rc != EM_OK)
		return rc;
	rc = reply_json_copy(d->reply, 200, PQgetvalue(res, 0, 0));
	PQclear(res);
	if (rc != EM_OK)
		return rc;
	return idem_finish(d->req, &idem, d->reply);
}

enum em_err recommendations_drafts(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply)
{
	struct drafts_run d = {req, args->id[0], body, "{}", NULL, reply};
	const char *ct = req_header(req, "Content-Type");
	char *dumped = NULL;
	json_error_t jerr;
	enum em_err rc;

	/* The body is optional: no body asks for the defaults. */
	if (req->body_len > 0) {
		if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
		    (ct[16] && ct[16] != ';' && ct[16] != ' '))
			return reply_fail(reply, EM_EMEDIATYPE,
					  "the body must be application/json");
		if (!(d.body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)))
			return reply_fail(reply, EM_EBADREQ,
					  "malformed JSON at line %d, column %d: "
					  "%s",
					  jerr.line, jerr.column, jerr.text);
		/* SQL reads the numbers jansson checked, as it writes them (15 digits), never
		 * the client's text (1e-5000 is 0 here, 5000 digits there). */
		if (!(dumped = json_dumps(d.body, JSON_COMPACT | JSON_REAL_PRECISION(15)))) {
			json_decref(d.body);
			return EM_EINTERNAL;
		}
		d.text = dumped;
	} else if (!(d.body = json_object())) {
		return EM_EINTERNAL;
	}
	if (!json_is_object(d.body)) {
		json_decref(d.body);
		free(dumped);
		return reply_fail(reply, EM_EBADREQ, "the body must be a JSON object");
	}
	const json_t *from = json_object_get(d.body, "from");
	if (json_is_string(from) && strcmp(json_string_value(from), "warnings") == 0) {
		rc = warning_drafts(req, args->id[0], d.body, d.text, reply);
		json_decref(d.body);
		free(dumped);
		return rc;
	}
	validate_object(d.body, DRAFT_FIELDS, sizeof(DRAFT_FIELDS) / sizeof(DRAFT_FIELDS[0]),
			reply);
	if (reply->errors)
		rc = reply_fail(reply, EM_EINVAL, "the request for drafts is not valid");
	else
		rc = db_tx(req->db, drafts_tx, &d);
	json_decref(d.body);
	free(dumped);
	return rc;
}
