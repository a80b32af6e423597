/*
 * imports.c — bulk import of regional_import indicator values into the
 * submissions of a campaign (POST /campaigns/{id}/imports) and the list of a
 * campaign's import records. Rows are parsed in C (CSV or a JSON array),
 * streamed with one COPY into a temporary staging table, checked set-wise in
 * SQL, and applied set-wise in one transaction: all rows or none.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handler.h"
#include "import.h"

/* --- Statements ---------------------------------------------------------------------- */

/* clang-format off */
#define IMPORT_JSON(i)                                                                    \
	"jsonb_build_object('id', " i ".id, 'campaign_id', " i ".campaign_id, 'format', " i  \
	".format, 'rows', " i ".rows, 'values_written', " i ".values_written, "              \
	"'values_unchanged', " i ".values_unchanged, 'submissions_affected', " i             \
	".submissions_affected, 'actor_user_id', " i ".actor_user_id, 'created_at', " i      \
	".created_at)"
/* clang-format on */

/* An import's statements are few and big: a longer timeout, memory to hash and
 * sort a million staged rows without spilling, and no JIT (compiling the
 * checks took longer than running them). */
/* clang-format off */
DB_STMT(IMPORT_SETTINGS) = {
	"import_settings",
	"SELECT set_config('statement_timeout', $1, true), set_config('jit', 'off', true), "
	"set_config('work_mem', '128MB', true)",
	1};
/* clang-format on */

/* The campaign, if visible: status. Caller $1..$6, $7 campaign. FOR SHARE keeps its
 * status until the import commits. */
/* clang-format off */
DB_STMT(IMPORT_CAMPAIGN) = {
	"import_campaign", SQL_CAMPAIGN_STATUS " FOR SHARE", 7};
DB_STMT(IMPORT_CAMPAIGN_READ) = {"import_campaign_read", SQL_CAMPAIGN_STATUS, 7};
/* clang-format on */

/* num is the value as a number when it reads as one ('.' or ',' before the
 * fraction), flag the value as a boolean word (true/false/да/нет): both are
 * decided in C, the SQL picks by the indicator's type. */
/* clang-format off */
DB_STMT(IMPORT_STAGE) = {
	"import_stage",
	"CREATE TEMP TABLE import_rows (line integer NOT NULL, inn text NOT NULL, "
	"code text NOT NULL, value text NOT NULL, num numeric, flag boolean, comment text) "
	"ON COMMIT DROP",
	0};
/* clang-format on */
static const char IMPORT_COPY[] =
	"COPY import_rows (line, inn, code, value, num, flag, comment) FROM STDIN";
/* clang-format off */
DB_STMT(IMPORT_ANALYZE) = {"import_analyze", "ANALYZE import_rows", 0};
/* clang-format on */

/* The number an indicator of type t stores for a staged row, or NULL. */
/* clang-format off */
#define IMPORT_NUMBER(t, s)                                                               \
	"CASE WHEN " t " = 'boolean' THEN CASE WHEN " s ".flag THEN 1 WHEN NOT " s ".flag "  \
	"THEN 0 WHEN " s ".num IN (0, 1) THEN " s ".num END ELSE " s ".num END"
/* clang-format on */

/* Every bad row, at most $2 of them by line, and the number of errors in all.
 * Columns: line, inn error, code error, value error, comment error, row error.
 * Repeated (inn, code) pairs come from a second branch that hashes the staged
 * pairs (no sort of every row); a line may so appear twice, still in order. */
/* clang-format off */
DB_STMT(IMPORT_CHECK) = {
	"import_check",
	"WITH ind AS (SELECT i.id, i.code, i.source, i.value_type, i.min_value, i.max_value, "
	"  ARRAY(SELECT w.key FROM jsonb_each_text(i.weights) w WHERE w.value::numeric > 0) AS kinds "
	"  FROM indicators i WHERE i.campaign_id = $1::bigint), "
	"r AS (SELECT s.line, s.inn, s.code, s.value, s.comment, sub.id AS sub_id, sub.status, "
	"  sub.kind, i.id AS ind_id, i.source, i.value_type, i.min_value, i.max_value, i.kinds, "
	"  " IMPORT_NUMBER("i.value_type", "s") " AS num "
	"  FROM import_rows s "
	"  LEFT JOIN (organizations o JOIN submissions sub ON sub.organization_id = o.id "
	"   AND sub.campaign_id = $1::bigint) ON o.inn = s.inn "
	"  LEFT JOIN ind i ON i.code = s.code), "
	"e AS (SELECT line, "
	"  CASE WHEN sub_id IS NULL THEN CASE WHEN em_inn_valid(inn) "
	"    THEN 'no organization with INN ' || inn || ' takes part in this campaign' "
	"    ELSE 'is not a valid INN (10 digits, the last a check digit)' END "
	"   WHEN status = 'approved' THEN 'the submission of organization ' || inn || "
	"    ' is approved: its values are final' END AS e_inn, "
	"  CASE WHEN ind_id IS NULL THEN 'the campaign''s catalog has no indicator ' || "
	"    quote_literal(left(code, 40)) "
	"   WHEN source <> 'regional_import' THEN 'indicator ' || code || ' is filled by ' || "
	"    CASE source WHEN 'self' THEN 'the organization (source self)' "
	"    ELSE 'the municipality (source municipal)' END || ', not imported' "
	"   WHEN sub_id IS NOT NULL AND NOT kind = ANY (kinds) THEN 'indicator ' || code || "
	"    ' does not apply to organizations of kind ' || kind END AS e_code, "
	"  CASE WHEN ind_id IS NULL THEN NULL "
	"   WHEN value_type = 'boolean' THEN CASE WHEN num IS NULL THEN "
	"    'must be true or false (also 1 or 0, да or нет)' END "
	"   WHEN num IS NULL THEN 'is not a number (digits, with . or , before the fraction)' "
	"   WHEN value_type = 'integer' AND num <> trunc(num) THEN 'must be a whole number' "
	"   WHEN num < min_value OR num > max_value THEN 'must be from ' || min_value || "
	"    ' to ' || max_value END AS e_value, "
	"  CASE WHEN length(comment) > 2000 THEN 'must be at most 2000 characters' END "
	"   AS e_comment "
	"  FROM r), "
	"bad AS (SELECT line, e_inn, e_code, e_value, e_comment, NULL::text AS e_row, "
	"  (e_inn IS NOT NULL)::int + (e_code IS NOT NULL)::int + (e_value IS NOT NULL)::int "
	"  + (e_comment IS NOT NULL)::int AS n "
	"  FROM e WHERE coalesce(e_inn, e_code, e_value, e_comment) IS NOT NULL "
	" UNION ALL "
	" SELECT s.line, NULL, NULL, NULL, NULL, 'repeats organization ' || left(s.inn, 20) || "
	"  ' and indicator ' || left(s.code, 40) || ' of row ' || f.first_line, 1 "
	"  FROM (SELECT inn, code, min(line) AS first_line FROM import_rows GROUP BY inn, code "
	"   HAVING count(*) > 1) f "
	"  JOIN import_rows s ON s.inn = f.inn AND s.code = f.code AND s.line > f.first_line) "
	"SELECT line, e_inn, e_code, e_value, e_comment, e_row, sum(n) OVER () FROM bad "
	"ORDER BY line LIMIT $2::int",
	2, &IMPORT_STAGE};
/* clang-format on */

/* Locks the submissions the file names, in id order, so that none is approved
 * between the check and the write. */
/* clang-format off */
DB_STMT(IMPORT_LOCK) = {
	"import_lock",
	"SELECT count(*) FROM (SELECT sub.id FROM submissions sub "
	" JOIN organizations o ON o.id = sub.organization_id "
	" WHERE sub.campaign_id = $1::bigint AND o.inn IN (SELECT inn FROM import_rows) "
	" ORDER BY sub.id FOR NO KEY UPDATE OF sub) x",
	1, &IMPORT_STAGE};
/* clang-format on */

/* The write: changed values only (a comment left empty keeps the stored one),
 * one history row per affected submission, the import record and its audit
 * row. New values are plain INSERTs (no speculative insertion): the file's
 * submissions are locked (IMPORT_LOCK) and every writer of values holds its
 * submission's row lock, so none can appear between this read and the write;
 * stored ones are updated through the primary key (ON CONFLICT finds them). $1..$6 the
 * caller, $7 campaign, $8 request id, $9 format, $10 rows. Returns the import JSON, its id and the affected submissions as an array. */
/* clang-format off */
DB_STMT(IMPORT_WRITE) = {
	"import_write",
	"WITH src AS MATERIALIZED (SELECT sub.id AS sub_id, i.id AS ind_id, i.code, "
	"  i.value_type, " IMPORT_NUMBER("i.value_type", "s") " AS value, "
	"  coalesce(s.comment, v.comment) AS comment, v.submission_id IS NOT NULL AS existed, "
	"  v.value AS old_value, v.comment AS old_comment, v.evidence_url "
	"  FROM import_rows s JOIN organizations o ON o.inn = s.inn "
	"  JOIN submissions sub ON sub.organization_id = o.id AND sub.campaign_id = $7::bigint "
	"  JOIN indicators i ON i.campaign_id = $7::bigint AND i.code = s.code "
	"  LEFT JOIN submission_values v ON v.submission_id = sub.id AND v.indicator_id = i.id), "
	"chg AS MATERIALIZED (SELECT * FROM src WHERE old_value IS DISTINCT FROM value "
	"  OR old_comment IS DISTINCT FROM comment), "
	"n AS (SELECT (SELECT count(*) FROM src) AS total, (SELECT count(*) FROM chg) AS written, "
	"  (SELECT count(DISTINCT sub_id) FROM chg) AS subs), "
	"imp AS (INSERT INTO imports (campaign_id, region_id, actor_user_id, format, rows, "
	"  values_written, values_unchanged, submissions_affected, request_id) "
	"  SELECT c.id, c.region_id, $2::bigint, $9, $10::int, n.written, n.total - n.written, "
	"  n.subs, $8 FROM campaigns c, n WHERE c.id = $7::bigint RETURNING *), "
	"ins AS (INSERT INTO submission_values (submission_id, indicator_id, value, comment, "
	"  updated_by, updated_at) SELECT sub_id, ind_id, value, comment, $2::bigint, now() "
	"  FROM chg WHERE NOT existed), "
	"up AS (INSERT INTO submission_values AS sv (submission_id, indicator_id, value, comment, "
	"  updated_by, updated_at) SELECT sub_id, ind_id, value, comment, $2::bigint, now() "
	"  FROM chg WHERE existed ON CONFLICT (submission_id, indicator_id) DO UPDATE SET "
	"  value = EXCLUDED.value, comment = EXCLUDED.comment, updated_by = EXCLUDED.updated_by, "
	"  updated_at = EXCLUDED.updated_at), "
	"subs AS (UPDATE submissions s SET version = s.version + 1, updated_at = now() "
	"  WHERE s.id IN (SELECT sub_id FROM chg) RETURNING s.id), "
	"hist AS (INSERT INTO submission_history (submission_id, actor_user_id, actor_role, "
	"  action, changes, import_id, request_id) "
	"  SELECT c.sub_id, $2::bigint, $1, 'import', jsonb_agg(jsonb_build_object("
	"   'indicator_id', c.ind_id, 'code', c.code, "
	"   'old', CASE WHEN c.existed THEN jsonb_build_object('value', CASE WHEN "
	"    c.value_type = 'boolean' THEN to_jsonb(c.old_value <> 0) ELSE to_jsonb(c.old_value) "
	"    END, 'comment', c.old_comment, 'evidence_url', c.evidence_url) END, "
	"   'new', jsonb_build_object('value', CASE WHEN c.value_type = 'boolean' "
	"    THEN to_jsonb(c.value <> 0) ELSE to_jsonb(c.value) END, 'comment', c.comment, "
	"    'evidence_url', c.evidence_url)) ORDER BY c.ind_id), imp.id, $8 "
	"  FROM chg c CROSS JOIN imp GROUP BY c.sub_id, imp.id), "
	"aud AS (" SQL_AUDIT_COLUMNS "SELECT $2::bigint, $1, 'import', imp.id, 'create', NULL, "
	"  " IMPORT_JSON("imp") ", $8, imp.region_id, NULL, NULL FROM imp) "
	"SELECT " IMPORT_JSON("imp") ", imp.id, "
	" (SELECT coalesce(array_agg(id), '{}') FROM subs)::text FROM imp",
	10, &IMPORT_STAGE};

DB_STMT(IMPORT_RESCORE) = {
	"import_rescore", "SELECT em_rescore($1::bigint[])", 1};
/* clang-format on */

/* The import records of a campaign, newest first; the layout of id_list_reply:
 * $7 campaign, $8 before id, $9 limit + 1. */
/* clang-format off */
DB_STMT(IMPORT_LIST) = {
	"import_list",
	"SELECT " IMPORT_JSON("i") ", i.id FROM imports i "
	"WHERE i.campaign_id = $7::bigint AND ($8::bigint IS NULL OR i.id < $8::bigint) "
	"ORDER BY i.id DESC LIMIT $9::int",
	9};
/* clang-format on */

/* --- The error report ---------------------------------------------------------------- */

static json_t *error_item(unsigned long row, const char *column, const char *message)
{
	char field[120];

	if (column && column[0])
		snprintf(field, sizeof(field), "rows[%lu].%s", row, column);
	else
		snprintf(field, sizeof(field), "rows[%lu]", row);
	return json_pack("{s:I, s:s?, s:s, s:s}", "row", (json_int_t)row, "column",
			 column && column[0] ? column : NULL, "field", field, "message", message);
}

/* Merges the parse errors and the database's, both by row, up to the cap. */
static json_t *error_list(const struct import *im)
{
	static const char *const SQL_COLUMNS[] = {"organization_inn", "indicator_code", "value",
						  "comment", ""};
	json_t *list = json_array();
	int nsql = im->sql_errs ? PQntuples(im->sql_errs) : 0, s = 0;
	size_t c = 0;

	while (list && json_array_size(list) < IMPORT_MAX_ERRORS && (c < im->nerrs || s < nsql)) {
		unsigned long srow = s < nsql ? strtoul(PQgetvalue(im->sql_errs, s, 0), NULL, 10)
					      : 0;
		if (c < im->nerrs && (s >= nsql || im->errs[c].row <= srow)) {
			json_array_append_new(list, error_item(im->errs[c].row, im->errs[c].column,
							       im->errs[c].message));
			c++;
			continue;
		}
		for (int k = 0; k < 5 && json_array_size(list) < IMPORT_MAX_ERRORS; k++)
			if (!PQgetisnull(im->sql_errs, s, 1 + k))
				json_array_append_new(
					list, error_item(srow, SQL_COLUMNS[k],
							 PQgetvalue(im->sql_errs, s, 1 + k)));
		s++;
	}
	return list;
}

/* The 422 problem: every bad row (capped), errors_total and truncated. */
static enum em_err reply_bad_rows(struct import *im)
{
	struct em_reply *reply = im->reply;
	long total = im->errs_total + im->sql_errs_total;
	json_t *errors = error_list(im), *doc;
	char *text;

	if (!errors)
		return EM_EINTERNAL;
	reply_clear(reply);
	if (im->rows == 0 && total == 0) {
		reply_fail(reply, EM_EUNPROCESSABLE,
			   "the file has no data rows; nothing was imported");
		json_array_append_new(errors,
				      json_pack("{s:n, s:n, s:s, s:s}", "row", "column", "field",
						"rows", "message", "the file has no data rows"));
		total = 1;
	} else {
		reply_fail(reply, EM_EUNPROCESSABLE,
			   "%ld error%s in %ld data row%s; nothing was imported", total,
			   total == 1 ? "" : "s", im->rows, im->rows == 1 ? "" : "s");
	}
	reply->errors = errors;
	doc = reply_problem(reply, EM_EUNPROCESSABLE, im->req->request_id);
	json_decref(reply->errors);
	reply->errors = NULL;
	if (!doc)
		return EM_EINTERNAL;
	json_object_set_new(doc, "errors_total", json_integer(total));
	json_object_set_new(doc, "truncated", json_boolean(total > IMPORT_MAX_ERRORS));
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text)
		return EM_EINTERNAL;
	reply->status = 422;
	reply->text = text;
	reply->text_len = strlen(text);
	reply->content_type = "application/problem+json";
	return EM_OK;
}

/* --- The transaction ----------------------------------------------------------------- */

static void import_reset(struct import *im)
{
	im->rows = im->staged = im->errs_total = im->sql_errs_total = 0;
	im->nerrs = 0;
	im->out.len = 0;
	im->out.failed = im->failed = im->bad = false;
	PQclear(im->sql_errs);
	im->sql_errs = NULL;
}

/* Runs st and drops its result; a NULL a for a statement without parameters. */
static enum em_err exec_simple(struct import *im, const struct db_stmt *st, const struct db_args *a)
{
	PGresult *res;
	enum em_err rc = a ? db_exec_args(im->req->db, st, a, &res)
			   : db_exec(im->req->db, st, NULL, &res);
	if (rc == EM_OK)
		PQclear(res);
	return rc;
}

/* Parses the body into the staging table with one COPY. */
static enum em_err import_copy(struct import *im)
{
	enum em_err rc;

	if ((rc = exec_simple(im, &IMPORT_STAGE, NULL)) != EM_OK)
		return rc;
	if ((rc = db_copy_begin(im->req->db, IMPORT_COPY)) != EM_OK)
		return rc;
	rc = im->format == FORMAT_CSV ? import_csv_stage(im) : import_json_stage(im);
	if (rc == EM_OK)
		rc = import_out_flush(im, true);
	if (rc != EM_OK) {
		db_copy_end(im->req->db, "import aborted");
		return rc;
	}
	if ((rc = db_copy_end(im->req->db, NULL)) != EM_OK)
		return rc;
	return exec_simple(im, &IMPORT_ANALYZE, NULL);
}

static enum em_err import_check(struct import *im)
{
	struct db_args a;
	enum em_err rc;

	db_args_init(&a);
	db_arg_i64(&a, im->campaign_id);
	if (!im->dry_run && (rc = exec_simple(im, &IMPORT_LOCK, &a)) != EM_OK)
		return rc;
	db_arg_i64(&a, IMPORT_MAX_ERRORS); /* the check's $2 */
	if ((rc = db_exec_args(im->req->db, &IMPORT_CHECK, &a, &im->sql_errs)) != EM_OK)
		return rc;
	if (PQntuples(im->sql_errs) > 0)
		im->sql_errs_total = atol(PQgetvalue(im->sql_errs, 0, 6));
	return EM_OK;
}

static enum em_err import_write(struct import *im, const struct idem *idem)
{
	struct em_req *req = im->req;
	struct db_args a;
	char location[96];
	PGresult *res;
	enum em_err rc;

	caller_args(&a, req);
	db_arg_i64(&a, im->campaign_id);
	db_arg_text(&a, req->request_id);
	db_arg_text(&a, im->format == FORMAT_CSV ? "csv" : "json");
	db_arg_i64(&a, im->rows);
	if ((rc = db_exec_args(req->db, &IMPORT_WRITE, &a, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return reply_fail(im->reply, EM_ENOTFOUND, "no campaign %lld",
				  (long long)im->campaign_id);
	}
	const char *ids = PQgetvalue(res, 0, 2);
	if (strcmp(ids, "{}") != 0) {
		db_args_init(&a);
		db_arg_text(&a, ids);
		if ((rc = exec_simple(im, &IMPORT_RESCORE, &a)) != EM_OK) {
			PQclear(res);
			return rc;
		}
	}
	/* No route reads one import: Location is the campaign's list, newest first. */
	snprintf(location, sizeof(location), "/api/v1/campaigns/%lld/imports",
		 (long long)im->campaign_id);
	rc = reply_json_copy(im->reply, 201, PQgetvalue(res, 0, 0));
	PQclear(res);
	if (rc != EM_OK)
		return rc;
	reply_header(im->reply, "Location", location);
	return idem_finish(req, idem, im->reply);
}

static enum em_err import_tx(struct db_conn *db, void *arg)
{
	struct import *im = arg;
	struct em_req *req = im->req;
	char variant[48];
	struct db_args a;
	struct idem idem;
	PGresult *res;
	enum em_err rc;

	(void)db;
	reply_clear(im->reply);
	import_reset(im);
	db_args_init(&a);
	db_arg_i64(&a, req->cfg->statement_timeout_ms * IMPORT_TIMEOUT_FACTOR);
	if ((rc = exec_simple(im, &IMPORT_SETTINGS, &a)) != EM_OK)
		return rc;
	snprintf(variant, sizeof(variant), "%s dry_run=%s",
		 im->format == FORMAT_CSV ? "text/csv" : "application/json",
		 im->dry_run ? "true" : "false");
	if ((rc = idem_begin_raw(req, variant, req->body, req->body_len, &idem, im->reply)) !=
		    EM_OK ||
	    idem.replayed)
		return rc;

	if ((rc = resource_find(req, im->reply,
				im->dry_run ? &IMPORT_CAMPAIGN_READ : &IMPORT_CAMPAIGN,
				im->campaign_id, "campaign", &res)) != EM_OK)
		return rc;
	const char *status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "open") != 0 && strcmp(status, "closed") != 0) {
		rc = reply_fail(
			im->reply, EM_ECONFLICT,
			"the campaign is %s: values are imported while it is open or closed",
			status);
		PQclear(res);
		return rc;
	}
	PQclear(res);

	if ((rc = import_copy(im)) != EM_OK)
		return rc;
	/* The database checks the staged rows even when parsing found bad ones, so
	 * that the report names every bad row. */
	if (im->staged > 0 && (rc = import_check(im)) != EM_OK)
		return rc;
	if (im->errs_total > 0 || im->sql_errs_total > 0 || im->rows == 0) {
		im->bad = true;
		return EM_EUNPROCESSABLE; /* rolls back; the handler answers */
	}
	if (im->dry_run) {
		json_t *doc = json_pack("{s:b, s:I, s:I, s:[]}", "dry_run", 1, "rows",
					(json_int_t)im->rows, "values_valid",
					(json_int_t)im->staged, "errors");
		char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
		json_decref(doc);
		if ((rc = reply_json_owned(im->reply, 200, text)) != EM_OK)
			return rc;
		return idem_finish(req, &idem, im->reply);
	}
	return import_write(im, &idem);
}

/* --- Handlers ------------------------------------------------------------------------ */

/* text/csv or application/json, parameters (charset=utf-8) allowed. */
static bool media_type(const char *ct, const char *want)
{
	size_t n = strlen(want);

	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

enum em_err imports_create(struct em_req *req, const struct em_args *args, json_t *body,
			   struct em_reply *reply)
{
	struct import im = {.req = req, .reply = reply, .campaign_id = args->id[0]};
	const char *ct = req_header(req, "Content-Type");
	const char *dry = req_query(req, "dry_run");
	enum em_err rc;

	(void)body;
	if (media_type(ct, "text/csv"))
		im.format = FORMAT_CSV;
	else if (media_type(ct, "application/json"))
		im.format = FORMAT_JSON;
	else
		return reply_fail(reply, EM_EMEDIATYPE,
				  "an import is text/csv or application/json, not %s",
				  ct ? ct : "a body without Content-Type");
	if (dry && strcmp(dry, "true") != 0 && strcmp(dry, "false") != 0) {
		reply_field_error(reply, "dry_run", "must be true or false");
		return reply_fail(reply, EM_EINVAL, "invalid query parameters");
	}
	im.dry_run = dry && strcmp(dry, "true") == 0;
	if (req->body_len == 0)
		return reply_fail(reply, EM_EBADREQ, "the body is empty: send the file");
	if (im.format == FORMAT_JSON) {
		json_error_t jerr;
		im.json = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
		if (!im.json)
			return reply_fail(reply, EM_EBADREQ,
					  "malformed JSON at line %d, column %d: %s", jerr.line,
					  jerr.column, jerr.text);
		if (!json_is_array(im.json)) {
			json_decref(im.json);
			return reply_fail(reply, EM_EBADREQ,
					  "a JSON import is an array of row objects");
		}
	}
	rc = db_tx(req->db, import_tx, &im);
	if (rc == EM_EUNPROCESSABLE && im.bad)
		rc = reply_bad_rows(&im);
	if (im.failed && rc == EM_OK)
		rc = EM_EINTERNAL;
	json_decref(im.json);
	PQclear(im.sql_errs);
	free(im.errs);
	free(im.out.p);
	return rc;
}

enum em_err imports_list(struct em_req *req, const struct em_args *args, json_t *body,
			 struct em_reply *reply)
{
	(void)body;
	return id_list_reply(req, reply, &IMPORT_CAMPAIGN_READ, &IMPORT_LIST, args->id[0],
			     "campaign", "import records are listed newest first: only id");
}
