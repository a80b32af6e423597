/*
 * submissions.c — a campaign's submissions (one per organization): reads with
 * values and score, the workflow draft → submitted → verified → approved (or
 * returned), the history of every change, and the list as a spreadsheet; the
 * batch writes of values are in submission_values.c. Each write locks the row,
 * checks its version, writes history and audit, and rescores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/monitoring.h"
#include "effmon/registry.h"
#include "effmon/sheet.h"
#include "effmon/workflow.h"
#include "handler.h"
#include "submission.h"

static const char *const STATUSES[] = {"draft",    "submitted", "verified",
				       "approved", "returned",  NULL};

/* --- Reads -------------------------------------------------------------------------- */

/* clang-format off */
#define SUB_TABLES                                                                        \
	"submissions s JOIN organizations o ON o.id = s.organization_id"                     \
	" LEFT JOIN submission_scores sc ON sc.submission_id = s.id"
#define SUB_JSON                                                                          \
	"jsonb_build_object('id', s.id, 'campaign_id', s.campaign_id, 'organization_id', "    \
	"s.organization_id, 'organization_name', o.short_name, 'region_id', s.region_id, "   \
	"'municipality_id', s.municipality_id, 'kind', s.kind, 'manager_id', s.manager_id, "  \
	"'status', s.status, 'return_comment', s.return_comment, 'first_submitted_at', "      \
	"s.first_submitted_at, 'submitted_at', s.submitted_at, 'verified_at', s.verified_at, " \
	"'approved_at', s.approved_at, 'returned_at', s.returned_at, 'score', CASE WHEN "     \
	"sc.submission_id IS NULL THEN NULL ELSE jsonb_build_object('total', "                \
	"sc.total_rounded, 'level', sc.level, 'completeness', round(sc.completeness, 4)) END, " \
	"'created_at', s.created_at, 'updated_at', s.updated_at, 'version', s.version)"
#define SUB_VALUES                                                                         \
	"jsonb_build_object('values', coalesce((SELECT jsonb_agg(jsonb_build_object("        \
	"'indicator', i.code, 'indicator_id', i.id, 'value', " SUB_VALUE("v.value",          \
									"i.value_type") ", "   \
	"'comment', v.comment, 'evidence_url', v.evidence_url, 'updated_at', v.updated_at) " \
	"ORDER BY i.position, i.id) FROM submission_values v JOIN indicators i "             \
	"ON i.id = v.indicator_id WHERE v.submission_id = s.id), '[]'::jsonb))"

DB_STMT(SUB_GET) = {
	"submission_get", SQL_GET(SUB_JSON " || " SUB_VALUES, SUB_TABLES, "s", SUB_SCOPE("s")), 7};

DB_STMT(SUB_LIST) = {
	"submission_list",
	SQL_LIST(SUB_JSON, SUB_TABLES, "s", "o.short_name",
		 SQL_LIST_SCOPE("s.region_id", "s.municipality_id", "s.organization_id"),
		 " AND ($12::bigint IS NULL OR s.campaign_id = $12::bigint)"
		 " AND ($13::bigint IS NULL OR s.organization_id = $13::bigint)"
		 " AND ($14::bigint IS NULL OR s.municipality_id = $14::bigint)"
		 " AND ($15::text IS NULL OR s.status = $15)"
		 " AND ($16::bigint IS NULL OR s.manager_id = $16::bigint)"
		 " AND ($17::bigint IS NULL OR s.region_id = $17::bigint)"),
	17};
/* clang-format on */

static const struct list_filter SUB_FILTERS[] = {
	{"campaign_id", FILTER_ID, NULL},     {"organization_id", FILTER_ID, NULL},
	{"municipality_id", FILTER_ID, NULL}, {"status", FILTER_ENUM, STATUSES},
	{"manager_id", FILTER_ID, NULL},      {"region_id", FILTER_ID, NULL},
};

const struct em_resource SUBMISSIONS = RESOURCE_READ(SUB, "submission", "/api/v1/submissions");

/* --- History -------------------------------------------------------------------------- */

/* clang-format off */
DB_STMT(SUB_VISIBLE) = {
	"submission_visible",
	"SELECT 1 FROM submissions s WHERE s.id = $7::bigint AND" SUB_SCOPE("s"), 7};
/* clang-format on */

/* The layout of id_list_reply: $7 submission, $8 after id, $9 limit + 1. */
/* clang-format off */
DB_STMT(SUB_HISTORY) = {
	"submission_history_list",
	"SELECT jsonb_build_object('id', h.id, 'occurred_at', h.occurred_at, 'actor_user_id', "
	" h.actor_user_id, 'actor_role', h.actor_role, 'action', h.action, 'from', "
	" h.from_status, 'to', h.to_status, 'comment', h.comment, 'changes', h.changes), h.id, '' "
	"FROM submission_history h JOIN submissions s ON s.id = h.submission_id "
	"WHERE s.id = $7::bigint AND" SUB_SCOPE("s")
	" AND ($8::bigint IS NULL OR h.id > $8::bigint) ORDER BY h.id LIMIT $9::int",
	9};
/* clang-format on */

enum em_err submissions_history(struct em_req *req, const struct em_args *args, json_t *body,
				struct em_reply *reply)
{
	(void)body;
	return id_list_reply(req, reply, &SUB_VISIBLE, &SUB_HISTORY, args->id[0], "submission",
			     "history is ordered by id only");
}

/* --- Shared by the writes ---------------------------------------------------------------- */

/* Locks a visible submission: version, status, row as JSON, campaign status, whether
 * now() is inside the campaign's window, kind, campaign id. Parameters: scope, $7 id. */
/* clang-format off */
DB_STMT(SUB_LOCK) = {
	"submission_lock",
	"SELECT s.version, s.status, to_jsonb(s), c.status, "
	" (now() >= c.opens_at AND now() <= c.closes_at), s.kind, s.campaign_id, c.closes_at "
	"FROM submissions s JOIN campaigns c ON c.id = s.campaign_id "
	"WHERE s.id = $7::bigint AND" SUB_SCOPE("s") " FOR UPDATE OF s",
	7};

DB_STMT(SUB_RESCORE) = {
	"submission_rescore", "SELECT em_rescore(ARRAY[$1::bigint])", 1};
/* clang-format on */

enum em_err submission_lock(struct em_req *req, int64_t id, long version, struct em_reply *reply,
			    PGresult **lock)
{
	PGresult *res;
	enum em_err rc;

	/* resource_lock reads the version from the first column, L_VERSION. */
	if ((rc = resource_lock(req, reply, &SUB_LOCK, id, version, "submission", &res)) != EM_OK)
		return rc;
	if (strcmp(PQgetvalue(res, 0, L_CAMPAIGN_STATUS), "published") == 0) {
		PQclear(res);
		return reply_fail(reply, EM_ECONFLICT,
				  "the campaign is published: its submissions no longer change");
	}
	*lock = res;
	return EM_OK;
}

enum em_err submission_reply_current(struct em_req *req, int64_t id, bool rescore,
				     struct em_reply *reply)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	if (rescore) {
		db_args_init(&a);
		db_arg_i64(&a, id);
		if ((rc = db_exec_args(req->db, &SUB_RESCORE, &a, &res)) != EM_OK)
			return rc;
		PQclear(res);
	}
	if ((rc = resource_fetch(req, &SUB_GET, id, &res)) != EM_OK)
		return rc;
	reply_row(req, reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	return EM_OK;
}

/* --- Transitions ------------------------------------------------------------------------- */

/* Every legal move and who may make it; the campaign each needs is move_preconditions'. */
/* clang-format off */
#define RETURN_NEEDS "comment", "is required when returning a submission: say what to correct"
/* clang-format on */
static const struct wf_move MOVES[] = {
	{"draft", "submitted", EM_ROLE_HEAD | EM_ROLE_ADMIN, NULL,
	 "the head of the organization (or an admin) submits"},
	{"returned", "submitted", EM_ROLE_HEAD | EM_ROLE_ADMIN, NULL,
	 "the head of the organization (or an admin) submits"},
	{"submitted", "verified", EM_ROLE_MUNICIPAL | EM_ROLE_ADMIN, NULL,
	 "a municipal operator (or an admin) verifies"},
	{"submitted", "returned", EM_ROLE_MUNICIPAL | EM_ROLE_REGIONAL | EM_ROLE_ADMIN, NULL,
	 "a municipal or regional operator (or an admin) returns a submitted submission",
	 RETURN_NEEDS},
	{"verified", "approved", EM_ROLE_REGIONAL | EM_ROLE_ADMIN, NULL,
	 "a regional operator (or an admin) approves"},
	{"verified", "returned", EM_ROLE_REGIONAL | EM_ROLE_ADMIN, NULL,
	 "a regional operator (or an admin) returns a verified submission", RETURN_NEEDS},
};

/* Applicable self-assessed indicators without a value. $1 submission id. */
/* clang-format off */
DB_STMT(SUB_MISSING) = {
	"submission_missing_self",
	"SELECT i.code FROM submissions s JOIN indicators i ON i.campaign_id = s.campaign_id "
	"WHERE s.id = $1::bigint AND i.source = 'self' "
	" AND coalesce((i.weights ->> s.kind)::numeric, 0) > 0 "
	" AND NOT EXISTS (SELECT 1 FROM submission_values v "
	"  WHERE v.submission_id = s.id AND v.indicator_id = i.id) "
	"ORDER BY i.position, i.id",
	1};
/* clang-format on */

/* The workflow layout (workflow.h), $13 comment. -> id */
/* clang-format off */
DB_STMT(SUB_MOVE) = {
	"submission_transition",
	"WITH upd AS (UPDATE submissions s SET status = $8, "
	"  return_comment = CASE WHEN $8 = 'returned' THEN $13 WHEN $8 = 'submitted' THEN NULL "
	"   ELSE s.return_comment END, "
	"  first_submitted_at = CASE WHEN $8 = 'submitted' THEN coalesce(s.first_submitted_at, "
	"   now()) ELSE s.first_submitted_at END, "
	"  submitted_at = CASE WHEN $8 = 'submitted' THEN now() ELSE s.submitted_at END, "
	"  verified_at = CASE WHEN $8 = 'verified' THEN now() ELSE s.verified_at END, "
	"  approved_at = CASE WHEN $8 = 'approved' THEN now() ELSE s.approved_at END, "
	"  returned_at = CASE WHEN $8 = 'returned' THEN now() ELSE s.returned_at END, "
	"  version = s.version + 1, updated_at = now() WHERE s.id = $7::bigint RETURNING s.*),"
	/* What the head had when it submitted (and when it first did), what was verified:
	 * kept for the outliers and the objectivity calibration. */
	" snap AS (UPDATE submission_values v SET "
	"  submitted_value = CASE WHEN $8 = 'submitted' THEN v.value ELSE v.submitted_value END, "
	"  self_value = CASE WHEN $8 = 'submitted' THEN coalesce(v.self_value, v.value) "
	"   ELSE v.self_value END, "
	"  verified_value = CASE WHEN $8 = 'verified' THEN v.value ELSE v.verified_value END "
	"  WHERE v.submission_id = $7::bigint AND $8 IN ('submitted', 'verified')),"
	" hist AS (INSERT INTO submission_history (submission_id, actor_user_id, actor_role, "
	"  action, from_status, to_status, comment, request_id) SELECT upd.id, $11::bigint, $1, "
	"  'transition', $9, upd.status, $13, $12 FROM upd RETURNING *),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $11::bigint, $1, 'submission', upd.id, "
	" 'transition', $10::jsonb, to_jsonb(upd) || jsonb_build_object('transition', "
	"  to_jsonb(hist)), $12, upd.region_id, upd.municipality_id, upd.organization_id "
	" FROM upd, hist) "
	"SELECT upd.id FROM upd",
	13};
/* clang-format on */

/* A published campaign's submissions no longer change. */
static enum em_err move_current(struct wf_ctx *c)
{
	if (strcmp(PQgetvalue(c->lock, 0, L_CAMPAIGN_STATUS), "published") == 0)
		return reply_fail(c->reply, EM_ECONFLICT,
				  "the campaign is published: its submissions no longer change");
	return EM_OK;
}

/* The campaign and completeness rules of a move, once the move and role are right. */
static enum em_err move_preconditions(struct wf_ctx *c, const struct wf_move *mv)
{
	const char *campaign = PQgetvalue(c->lock, 0, L_CAMPAIGN_STATUS);
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	if (strcmp(mv->to, "submitted") != 0) {
		if (strcmp(campaign, "open") != 0 && strcmp(campaign, "closed") != 0)
			return reply_fail(c->reply, EM_ECONFLICT,
					  "the campaign is %s: submissions are verified and "
					  "approved while it is open or closed",
					  campaign);
		return EM_OK;
	}
	if (strcmp(campaign, "open") != 0)
		return reply_fail(c->reply, EM_ECONFLICT,
				  "the campaign is %s: submissions are accepted while it is open",
				  campaign);
	/* A returned submission may come back after the window; a first one may not. */
	if (strcmp(mv->from, "draft") == 0 && strcmp(PQgetvalue(c->lock, 0, L_IN_WINDOW), "t") != 0)
		return reply_fail(c->reply, EM_ECONFLICT,
				  "the submission window is closed (it closes at %s, and opens at "
				  "the campaign's opens_at)",
				  PQgetvalue(c->lock, 0, L_CLOSES));
	db_args_init(&a);
	db_arg_i64(&a, c->id);
	if ((rc = db_exec_args(c->req->db, &SUB_MISSING, &a, &res)) != EM_OK)
		return rc;
	int n = PQntuples(res);
	for (int i = 0; i < n; i++)
		reply_field_error(c->reply, "values",
				  "indicator %s has no value: every applicable self-assessed "
				  "indicator needs one before submitting",
				  PQgetvalue(res, i, 0));
	if (n > 0) {
		char detail[256];
		snprintf(detail, sizeof(detail),
			 "%d applicable self-assessed indicator%s without a "
			 "value, first %s",
			 n, n == 1 ? "" : "s", PQgetvalue(res, 0, 0));
		PQclear(res);
		return reply_fail(c->reply, EM_EUNPROCESSABLE, "%s", detail);
	}
	PQclear(res);
	return EM_OK;
}

/* The move answers the id: rescore, and answer the submission as GET would. */
static enum em_err move_answer(struct wf_ctx *c, PGresult *moved)
{
	(void)moved;
	return submission_reply_current(c->req, c->id, true, c->reply);
}

static const struct field MOVE_FIELDS[] = {
	{"to", F_ENUM, true, false, 0, 0, STATUSES},
	{"comment", F_STRING, false, true, 1, MAX_TEXT, NULL},
};

static const char *const MOVE_TEXTS[] = {"comment", NULL};

static const struct workflow SUB_FLOW = {
	.entity = "submission",
	.object = "a submission",
	.states = STATUSES,
	.moves = MOVES,
	.nmoves = ARRAY_LEN(MOVES),
	.fields = MOVE_FIELDS,
	.nfields = ARRAY_LEN(MOVE_FIELDS),
	.texts = MOVE_TEXTS,
	.lock = &SUB_LOCK,
	.current = move_current,
	.before = move_preconditions,
	.move = &SUB_MOVE,
	.answer = move_answer,
};

enum em_err submissions_transition(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply)
{
	return workflow_transition(&SUB_FLOW, req, args, body, reply);
}

/* --- The list as a spreadsheet --------------------------------------------------------- */

static void submissions_book(struct sheet_book *book, json_t *doc)
{
	struct sheet_table *t = sheet_add_table(book, book_add_sheet(book, "Анкеты"), NULL,
						json_object_get(doc, "items"));

	table_add_col(book, t, "id", "Анкета", SK_INT);
	table_add_col(book, t, "campaign_id", "Кампания", SK_INT);
	table_add_col(book, t, "organization_id", "Код ОО", SK_INT);
	table_add_col(book, t, "organization_name", "Образовательная организация", SK_TEXT);
	table_add_col(book, t, "region_id", "Код региона", SK_INT);
	table_add_col(book, t, "municipality_id", "Код муниципалитета", SK_INT);
	table_add_col(book, t, "kind", "Тип ОО", SK_TEXT);
	table_add_col(book, t, "manager_id", "Код руководителя", SK_INT);
	table_add_col(book, t, "status", "Статус", SK_TEXT);
	table_add_col(book, t, "return_comment", "Причина возврата", SK_TEXT);
	table_add_col(book, t, "first_submitted_at", "Впервые представлена", SK_TEXT);
	table_add_col(book, t, "submitted_at", "Представлена", SK_TEXT);
	table_add_col(book, t, "verified_at", "Проверена", SK_TEXT);
	table_add_col(book, t, "approved_at", "Утверждена", SK_TEXT);
	table_add_col(book, t, "returned_at", "Возвращена", SK_TEXT);
	table_add_col(book, t, "score.total", "Итоговый балл", SK_DEC2);
	table_add_col(book, t, "score.level", "Уровень", SK_TEXT);
	table_add_col(book, t, "score.completeness", "Полнота данных", SK_DEC4);
	table_add_col(book, t, "created_at", "Создана", SK_TEXT);
	table_add_col(book, t, "updated_at", "Изменена", SK_TEXT);
	table_add_col(book, t, "version", "Версия", SK_INT);
}

enum em_err submissions_list(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply)
{
	enum em_format fmt;
	struct csv_opts csv;
	enum em_err rc;

	if ((rc = book_params(req, reply, &fmt, &csv)) != EM_OK)
		return rc;
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "invalid parameters");
	if ((rc = resource_list(req, args, body, reply)) != EM_OK || fmt == EM_FMT_JSON)
		return rc;
	if (!reply->text)
		return EM_EINTERNAL;
	return book_from_json(reply, fmt, &csv, "submissions", submissions_book);
}
