/*
 * reserve.c — the personnel reserve (кадровый резерв): candidates of a
 * municipality and their path nominated → training → trained → included →
 * appointed, or excluded with a reason from any state: an appointed
 * head may still be struck off the reserve. Only excluded is final.
 * Every transition is kept in reserve_transitions and audited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/registry.h"
#include "effmon/workflow.h"

static const char *const STATUSES[] = {"nominated", "training", "trained", "included",
				       "appointed", "excluded", NULL};

/* Required to create (req), optional in a change. */
/* clang-format off */
#define RES_NAME(req) {"full_name", F_STRING, req, false, 1, 300, NULL}
#define RES_POST(req)                                                                    \
	{"target_position", F_STRING, req, false, 1, 300, NULL},                          \
	{"training_programme", F_STRING, false, true, 1, 500, NULL},                      \
	{"email", F_STRING, false, true, 3, 254, NULL}
/* clang-format on */
static const struct field RES_CREATE[] = {
	RES_NAME(true),
	{"municipality_id", F_ID, true, false, 0, 0, NULL},
	RES_POST(true),
};
static const struct field RES_UPDATE[] = {RES_NAME(false), RES_POST(false)};

static void res_check(const json_t *body, bool creating, struct em_reply *reply)
{
	const char *email = json_string_value(json_object_get(body, "email"));

	(void)creating;
	if (email && utf8_length(email) >= 3 && utf8_length(email) <= 254 && !email_valid(email))
		reply_field_error(reply, "email", "is not an e-mail address (name@domain.tld)");
}

/* clang-format off */
#define RES_JSON(c)                                                                      \
	"jsonb_build_object('id', " c ".id, 'full_name', " c ".full_name, "                \
	"'municipality_id', " c ".municipality_id, 'region_id', " c ".region_id, "          \
	"'target_position', " c ".target_position, 'training_programme', " c                \
	".training_programme, 'email', " c ".email, 'status', " c ".status, "               \
	"'exclusion_reason', " c ".exclusion_reason, 'created_at', " c ".created_at, "      \
	"'updated_at', " c ".updated_at, 'version', " c ".version)"

#define RES_SCOPE(c) SQL_SCOPE(c ".region_id", c ".municipality_id", "NULL::bigint")

DB_STMT(RES_GET) = {
	"reserve_get",
	SQL_GET(RES_JSON("c"), "reserve_candidates c", "c", RES_SCOPE("c")),
	7};
DB_STMT(RES_LIST) = {
	"reserve_list",
	SQL_LIST(RES_JSON("c"), "reserve_candidates c", "c", "c.full_name",
		 SQL_LIST_SCOPE("c.region_id", "c.municipality_id", "NULL::bigint"),
		 " AND ($12::bigint IS NULL OR c.region_id = $12::bigint)"
		 " AND ($13::bigint IS NULL OR c.municipality_id = $13::bigint)"
		 " AND ($14::text IS NULL OR c.status = $14)"),
	14};
DB_STMT(RES_CREATE_SQL) = {
	"reserve_create",
	"WITH ins AS (INSERT INTO reserve_candidates (full_name, municipality_id, region_id, "
	" target_position, training_programme, email) "
	" SELECT b->>'full_name', mu.id, mu.region_id, b->>'target_position', "
	"  b->>'training_programme', b->>'email' "
	" FROM (SELECT $7::jsonb AS b) x JOIN municipalities mu "
	"  ON mu.id = (b->>'municipality_id')::bigint WHERE"
	SQL_SCOPE("mu.region_id", "mu.id", "NULL::bigint") " RETURNING *),"
	SQL_CREATE_AUDIT("reserve_candidate", "region_id, municipality_id, NULL", RES_JSON("ins")),
	9};
DB_STMT(RES_UPDATE_SQL) = {
	"reserve_update",
	"WITH old AS (SELECT * FROM reserve_candidates c WHERE c.id = $7::bigint AND"
	RES_SCOPE("c") " FOR UPDATE),"
	SQL_UPDATE_SET("reserve_candidates", "c",
		       "full_name, target_position, training_programme, email",
		       "p.full_name, p.target_position, p.training_programme, p.email")
	SQL_UPDATE_AUDIT("reserve_candidate", "upd.region_id, upd.municipality_id, NULL",
			 RES_JSON("upd")),
	11};
/* clang-format on */

static const struct list_filter RES_FILTERS[] = {
	{"region_id", FILTER_ID, NULL},
	{"municipality_id", FILTER_ID, NULL},
	{"status", FILTER_ENUM, STATUSES},
};

const struct em_resource RESERVE = RESOURCE_CRUD(RES, "reserve candidate", "/api/v1/reserve",
						 res_check, "municipality_id");

/* --- Transitions ---------------------------------------------------------------------- */

/* Locks the candidate: version, status, the row as JSON. Parameters: scope, $7 id. */
/* clang-format off */
DB_STMT(RES_LOCK) = {
	"reserve_lock",
	"SELECT c.version, c.status, to_jsonb(c) FROM reserve_candidates c "
	"WHERE c.id = $7::bigint AND" RES_SCOPE("c") " FOR UPDATE",
	7};
/* clang-format on */

/* The workflow layout (workflow.h), $13 reason. */
/* clang-format off */
DB_STMT(RES_MOVE) = {
	"reserve_transition",
	"WITH upd AS (UPDATE reserve_candidates c SET status = $8, "
	"  exclusion_reason = CASE WHEN $8 = 'excluded' THEN $13 END, "
	"  version = c.version + 1, updated_at = now() WHERE c.id = $7::bigint RETURNING c.*),"
	" tr AS (INSERT INTO reserve_transitions (candidate_id, from_status, to_status, reason, "
	"  actor_user_id) SELECT upd.id, $9, upd.status, $13, $11::bigint FROM upd RETURNING *),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $11::bigint, $1, 'reserve_candidate', upd.id, "
	" 'transition', $10::jsonb, to_jsonb(upd) || jsonb_build_object('transition', "
	"  to_jsonb(tr)), $12, upd.region_id, upd.municipality_id, NULL FROM upd, tr) "
	"SELECT " RES_JSON("upd") ", upd.version FROM upd",
	13};
/* clang-format on */

/* One row per visible candidate (none: 404), its history as one JSON array. */
/* clang-format off */
DB_STMT(RES_HISTORY) = {
	"reserve_transitions_list",
	"SELECT coalesce(jsonb_agg(jsonb_build_object('id', t.id, 'candidate_id', "
	"  t.candidate_id, 'from', t.from_status, 'to', t.to_status, 'reason', t.reason, "
	"  'actor_user_id', t.actor_user_id, 'created_at', t.created_at) ORDER BY t.id) "
	"  FILTER (WHERE t.id IS NOT NULL), '[]'::jsonb) "
	"FROM reserve_candidates c LEFT JOIN reserve_transitions t ON t.candidate_id = c.id "
	"WHERE c.id = $7::bigint AND" RES_SCOPE("c") " GROUP BY c.id",
	7};
/* clang-format on */

/* The next states of each state; excluded is final. */
static const struct wf_move MOVES[] = {
	{"nominated", "training"}, {"nominated", "excluded"}, {"training", "trained"},
	{"training", "excluded"},  {"trained", "included"},   {"trained", "excluded"},
	{"included", "appointed"}, {"included", "excluded"},  {"appointed", "excluded"},
};

static const struct field MOVE_FIELDS[] = {
	{"to", F_ENUM, true, false, 0, 0, STATUSES},
	{"reason", F_STRING, false, true, 1, 500, NULL},
};

static void move_check(const json_t *body, const char *to, struct em_reply *reply)
{
	const json_t *reason = json_object_get(body, "reason");

	if (to && strcmp(to, "excluded") == 0 && (!reason || json_is_null(reason)))
		reply_field_error(reply, "reason", "is required when to is excluded");
}

static const char *const MOVE_TEXTS[] = {"reason", NULL};

static const struct workflow RESERVE_FLOW = {
	.entity = "reserve candidate",
	.states = STATUSES,
	.moves = MOVES,
	.nmoves = ARRAY_LEN(MOVES),
	.fields = MOVE_FIELDS,
	.nfields = ARRAY_LEN(MOVE_FIELDS),
	.check = move_check,
	.texts = MOVE_TEXTS,
	.lock = &RES_LOCK,
	.move = &RES_MOVE,
};

enum em_err reserve_transition(struct em_req *req, const struct em_args *args, json_t *body,
			       struct em_reply *reply)
{
	return workflow_transition(&RESERVE_FLOW, req, args, body, reply);
}

enum em_err reserve_transitions_list(struct em_req *req, const struct em_args *args, json_t *body,
				     struct em_reply *reply)
{
	(void)body;
	/* A candidate moves at most five times: the whole history is one page. */
	return whole_list_reply(req, &RES_HISTORY, args->id[0], "reserve candidate", reply);
}
