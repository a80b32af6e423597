/*
 * warning_drafts.c — POST /campaigns/{id}/recommendation-drafts with
 * "from": "warnings": a recommendation draft addressed to the head of each
 * early warning of the campaign (em_warnings(), official scores only), its
 * text naming the warning and its figures, the warning kept with it. A
 * (campaign, head, type, direction) that already has a recommendation from a
 * warning, other than a withdrawn draft, is skipped, so a repeated run drafts
 * nothing twice. One transaction with its history and audit rows, as the
 * weak-direction drafts of src/cycle/recommendations.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/cycle.h"
#include "effmon/registry.h"
#include "effmon/warnings.h"

/* The same warning: campaign, head, type and direction. */
/* clang-format off */
#define SAME_WARNING(r, w)                                                                    \
	r ".campaign_id = $7::bigint AND " r ".addressee_manager_id = " w ".manager_id AND " r   \
	".warning ->> 'type' = " w ".type AND coalesce(" r ".warning ->> 'direction', '') = "     \
	"coalesce(" w ".direction_code, '') AND " r ".status <> 'withdrawn'"
/* clang-format on */

/*
 * One draft per warning of an active head (of one kind and direction, once per
 * head: a head of two organizations gets the one of the first submission).
 * $1 role, $7 campaign, $8 body, $9 actor, $10 request id, $11 types (NULL: all)
 * -> created, skipped, ids, threshold, completeness bound.
 */
/* clang-format off */
DB_STMT(WDRAFT_GENERATE) = {
	"warning_drafts_generate",
	"WITH o AS (SELECT c.title, coalesce(($8::jsonb ->> 'threshold')::numeric, "
	"  c.threshold_low) AS t, coalesce(($8::jsonb ->> 'completeness')::numeric, "
	"  em_completeness_bound()) AS b, coalesce(($8::jsonb ->> 'due_on')::date, "
	"  em_today() + 90) AS due FROM campaigns c WHERE c.id = $7::bigint),"
	" w AS (SELECT w.*, EXISTS (SELECT 1 FROM recommendations r WHERE " SAME_WARNING("r", "w")
	"  ) AS taken FROM o, em_warnings($7::bigint, false, o.t, o.b) w "
	"  JOIN managers m ON m.id = w.manager_id AND m.status = 'active' "
	"  WHERE $11::text[] IS NULL OR w.type = ANY ($11::text[])),"
	" todo AS (SELECT DISTINCT ON (w.manager_id, w.type, coalesce(w.direction_code, '')) w.* "
	"  FROM w WHERE NOT w.taken ORDER BY w.manager_id, w.type, coalesce(w.direction_code, ''), "
	"  w.submission_id),"
	" ins AS (INSERT INTO recommendations (campaign_id, region_id, municipality_id, "
	"  organization_id, addressee_manager_id, issuer_level, issued_by, directions, text, "
	"  due_on, status, generated, warning) SELECT $7::bigint, t.region_id, t.municipality_id, "
	"  t.organization_id, t.manager_id, 'regional', $9::bigint, CASE WHEN t.direction_code IS "
	"  NOT NULL THEN ARRAY[t.direction_code] ELSE '{}' END, em_warning_text(o.title, t.type, "
	"  t.direction_name, t.figures), o.due, 'draft', "
	"  true, jsonb_build_object('type', t.type, 'direction', t.direction_code, "
	"  'submission_id', t.submission_id, 'figures', t.figures) FROM todo t, o "
	"  ORDER BY t.submission_id, t.type_order, t.direction_position RETURNING *),"
	SQL_DRAFTS_RECORD
	"SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM w WHERE taken), "
	" (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM ins), o.t, o.b FROM o",
	11};
/* clang-format on */

static const char *const SOURCES[] = {"weak_directions", "warnings", NULL};

/* The body but its types (checked apart). */
static const struct field WDRAFT_FIELDS[] = {
	{"from", F_ENUM, true, false, 0, 0, SOURCES},
	{"threshold", F_NUMBER, false, true, 0, 100, NULL},
	{"completeness", F_NUMBER, false, true, 0, 1, NULL},
	{"due_on", F_DATE, false, true, 0, 0, NULL},
};

/* The answer: {"from", "types", "created", "skipped", "threshold", "completeness", "items"}. */
static enum em_err drafts_answer(const struct drafts_run *d, PGresult *gen)
{
	char *items = NULL, *text = NULL;
	enum em_err rc;

	if ((rc = recommendations_json_array(d->req, PQgetvalue(gen, 0, 2), &items)) != EM_OK)
		return rc;
	json_t *types = json_object_get(d->body, "types");
	char *tj = types ? json_dumps(types, JSON_COMPACT) : NULL;
	int n = asprintf(&text,
			 "{\"from\":\"warnings\",\"types\":%s,\"created\":%s,\"skipped\":%s,"
			 "\"threshold\":%s,\"completeness\":%s,\"items\":%s}",
			 tj ? tj : "null", PQgetvalue(gen, 0, 0), PQgetvalue(gen, 0, 1),
			 PQgetvalue(gen, 0, 3), PQgetvalue(gen, 0, 4), items);
	free(tj);
	free(items);
	if (n < 0)
		return EM_EINTERNAL;
	return reply_json_owned(d->reply, 200, text);
}

static enum em_err wdrafts_tx(struct db_conn *db, void *arg)
{
	struct drafts_run *d = arg;
	struct idem idem;
	PGresult *gen;
	enum em_err rc;

	(void)db;
	if ((rc = drafts_generate(d, &WDRAFT_GENERATE, &idem, &gen)) != EM_OK || idem.replayed)
		return rc;
	rc = drafts_answer(d, gen);
	PQclear(gen);
	if (rc != EM_OK)
		return rc;
	return idem_finish(d->req, &idem, d->reply);
}

enum em_err warning_drafts(struct em_req *req, int64_t campaign, json_t *body, const char *text,
			   struct em_reply *reply)
{
	struct drafts_run d = {req, campaign, body, text, NULL, reply};
	char types[128];
	json_t *rest;

	if (!(rest = json_deep_copy(body)))
		return EM_EINTERNAL;
	json_object_del(rest, "types");
	validate_object(rest, WDRAFT_FIELDS, sizeof(WDRAFT_FIELDS) / sizeof(WDRAFT_FIELDS[0]),
			reply);
	json_decref(rest);
	warning_types_json(json_object_get(body, "types"), "types", types, sizeof(types), reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL,
				  "the request for drafts from warnings is not "
				  "valid");
	d.types = types[0] ? types : NULL;
	return db_tx(req->db, wdrafts_tx, &d);
}
