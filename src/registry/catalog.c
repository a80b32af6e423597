/*
 * catalog.c — the global catalogs that are not scoped to a territory: the ten
 * directions of the regional document (seeded by migration 0002, read-only)
 * and the competency catalog of attestation (kept by the admin). Everyone
 * signed in reads both; the caller parameters $1..$6 are accepted and unused.
 */
#include <string.h>

#include "effmon/registry.h"

/* --- Directions -------------------------------------------------------------------- */

/* clang-format off */
#define DIR_JSON(d)                                                                     \
	"jsonb_build_object('id', " d ".id, 'code', " d ".code, 'name', " d ".name, "     \
	"'position', " d ".position)"
/* clang-format on */

/* Directions have no version column and never change: their ETag is "1". */
/* clang-format off */
DB_STMT(DIR_GET) = {
	"directions_get",
	"SELECT " DIR_JSON("d") ", '1' FROM directions d WHERE d.id = $7::bigint",
	7};
/* clang-format on */
/*
 * The document's order is position: sort=id (the default) lists by position
 * (the seed gives ids in that order), sort=name by name. The position of the
 * cursor's row is looked up, since rows never change.
 */
/* clang-format off */
DB_STMT(DIR_LIST) = {
	"directions_list",
	"SELECT " DIR_JSON("d") ", d.id, d.name FROM directions d WHERE true"
	SQL_SEARCH("d.name")
	" AND ($12::text IS NULL OR d.code = $12)"
	" AND ($8::bigint IS NULL"
	"  OR ($10 = 'name' AND (d.name COLLATE \"ru-x-icu\", d.id) >"
	"   ($9 COLLATE \"ru-x-icu\", $8::bigint))"
	"  OR ($10 <> 'name' AND d.position >"
	"   (SELECT p.position FROM directions p WHERE p.id = $8::bigint)))"
	" ORDER BY CASE WHEN $10 = 'name' THEN d.name END COLLATE \"ru-x-icu\","
	"  CASE WHEN $10 = 'name' THEN d.id END, d.position LIMIT $7::int",
	12};
/* clang-format on */

/* Both catalogs filter by code. */
static const struct list_filter CODE_FILTER[] = {{"code", FILTER_TEXT, NULL}};
#define DIR_FILTERS CODE_FILTER
#define COMP_FILTERS CODE_FILTER

const struct em_resource DIRECTIONS = RESOURCE_READ(DIR, "direction", "/api/v1/directions");

/* --- Competencies ------------------------------------------------------------------ */

/* The fields a create requires (req; the description never) and a change may name. */
/* clang-format off */
#define COMP_FIELDS(req)                                                                 \
	{"code", F_STRING, req, false, 2, 64, NULL},                                      \
	{"name", F_STRING, req, false, 1, 300, NULL},                                     \
	{"description", F_STRING, false, true, 0, 2000, NULL},                            \
	{"max_score", F_INT, req, false, 1, 1000, NULL}
/* clang-format on */
static const struct field COMP_CREATE[] = {COMP_FIELDS(true)};
static const struct field COMP_UPDATE[] = {COMP_FIELDS(false)};

/* code: ^[a-z][a-z0-9_]{1,63}$, as the table's CHECK says. */
static void comp_check(const json_t *body, bool creating, struct em_reply *reply)
{
	const char *code = json_string_value(json_object_get(body, "code"));
	size_t n;

	(void)creating;
	if (!code || (n = strlen(code)) < 2 || n > 64)
		return; /* absent, or the field table already said why */
	bool ok = code[0] >= 'a' && code[0] <= 'z';
	for (size_t i = 1; ok && i < n; i++)
		ok = (code[i] >= 'a' && code[i] <= 'z') || (code[i] >= '0' && code[i] <= '9') ||
		     code[i] == '_';
	if (!ok)
		reply_field_error(reply, "code",
				  "must start with a lowercase Latin letter and contain only a-z, "
				  "0-9 and _");
}

/* clang-format off */
#define COMP_JSON(c)                                                                    \
	"jsonb_build_object('id', " c ".id, 'code', " c ".code, 'name', " c ".name, "     \
	"'description', " c ".description, 'max_score', " c ".max_score, 'created_at', " c \
	".created_at, 'updated_at', " c ".updated_at, 'version', " c ".version)"

DB_STMT(COMP_GET) = {
	"competencies_get",
	"SELECT " COMP_JSON("c") ", c.version FROM competencies c WHERE c.id = $7::bigint",
	7};
DB_STMT(COMP_LIST) = {
	"competencies_list",
	SQL_LIST(COMP_JSON("c"), "competencies c", "c", "c.name", " true",
		 " AND ($12::text IS NULL OR c.code = $12)"),
	12};
/* clang-format on */
/* Global: the audit row carries no region, so only the admin's /audit shows it. */
/* clang-format off */
DB_STMT(COMP_CREATE_SQL) = {
	"competencies_create",
	"WITH ins AS (INSERT INTO competencies (code, name, description, max_score) "
	" SELECT b->>'code', b->>'name', b->>'description', (b->>'max_score')::int "
	" FROM (SELECT $7::jsonb AS b) x RETURNING *),"
	SQL_CREATE_AUDIT("competency", "NULL, NULL, NULL", COMP_JSON("ins")),
	9};
DB_STMT(COMP_UPDATE_SQL) = {
	"competencies_update",
	"WITH old AS (SELECT * FROM competencies WHERE id = $7::bigint FOR UPDATE),"
	SQL_UPDATE_SET("competencies", "c", "code, name, description, max_score",
		       "p.code, p.name, p.description, p.max_score")
	SQL_UPDATE_AUDIT("competency", "NULL, NULL, NULL", COMP_JSON("upd")),
	11};
/* clang-format on */

const struct em_resource COMPETENCIES = RESOURCE_CRUD(COMP, "competency", "/api/v1/competencies",
						      comp_check, NULL);
