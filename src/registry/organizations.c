/*
 * organizations.c — educational organizations: INN with its checksum, kind,
 * settlement, number of students, status (archived, never deleted). Kept by
 * the admin, the region's operators and the municipality's operators; read
 * by everyone in scope (a head sees its own).
 */
#include <string.h>

#include "effmon/registry.h"

const char *const EM_ORG_KINDS[] = {"school",     "preschool", "additional",
				    "vocational", "special",   NULL};
static const char *const SETTLEMENTS[] = {"urban", "rural", NULL};
static const char *const STATUSES[] = {"active", "archived", NULL};

bool inn_valid(const char *inn)
{
	static const int W[9] = {2, 4, 10, 3, 5, 9, 4, 6, 8};
	int sum = 0;

	if (strlen(inn) != 10)
		return false;
	for (int i = 0; i < 10; i++)
		if (inn[i] < '0' || inn[i] > '9')
			return false;
	for (int i = 0; i < 9; i++)
		sum += W[i] * (inn[i] - '0');
	return (sum % 11) % 10 == inn[9] - '0';
}

/* The fields a create requires (req; students never) and a change may name. */
/* clang-format off */
#define ORG_FIELDS(req)                                                                  \
	{"full_name", F_STRING, req, false, 1, 500, NULL},                                \
	{"short_name", F_STRING, req, false, 1, 200, NULL},                               \
	{"inn", F_STRING, req, false, 10, 10, NULL},                                      \
	{"kind", F_ENUM, req, false, 0, 0, EM_ORG_KINDS},                                 \
	{"settlement", F_ENUM, req, false, 0, 0, SETTLEMENTS},                            \
	{"students", F_INT, false, false, 0, 100000, NULL}
/* clang-format on */
static const struct field ORG_CREATE[] = {
	{"municipality_id", F_ID, true, false, 0, 0, NULL},
	ORG_FIELDS(true),
};
static const struct field ORG_UPDATE[] = {
	ORG_FIELDS(false),
	{"status", F_ENUM, false, false, 0, 0, STATUSES},
};

static void org_check(const json_t *body, bool creating, struct em_reply *reply)
{
	const char *inn = json_string_value(json_object_get(body, "inn"));
	(void)creating;
	if (inn && strlen(inn) == 10 && !inn_valid(inn))
		reply_field_error(reply, "inn",
				  "is not a valid INN: the check digit does not match");
}

/* clang-format off */
#define ORG_JSON(o)                                                                     \
	"jsonb_build_object('id', " o ".id, 'municipality_id', " o ".municipality_id, "    \
	"'region_id', " o ".region_id, 'full_name', " o ".full_name, 'short_name', " o     \
	".short_name, 'inn', " o ".inn, 'kind', " o ".kind, 'settlement', " o              \
	".settlement, 'students', " o ".students, 'status', " o ".status, 'created_at', " o \
	".created_at, 'updated_at', " o ".updated_at, 'version', " o ".version)"

DB_STMT(ORG_GET) = {
	"organizations_get",
	SQL_GET(ORG_JSON("o"), "organizations o", "o",
		SQL_SCOPE("o.region_id", "o.municipality_id", "o.id")),
	7};
DB_STMT(ORG_LIST) = {
	"organizations_list",
	SQL_LIST(ORG_JSON("o"), "organizations o", "o", "o.short_name",
		 SQL_LIST_SCOPE("o.region_id", "o.municipality_id", "o.id"),
		 " AND ($12::bigint IS NULL OR o.region_id = $12::bigint)"
		 " AND ($13::bigint IS NULL OR o.municipality_id = $13::bigint)"
		 " AND ($14::text IS NULL OR o.kind = $14)"
		 " AND ($15::text IS NULL OR o.settlement = $15)"
		 " AND ($16::text IS NULL OR o.status = $16)"
		 " AND ($17::text IS NULL OR o.inn = $17)"),
	17};
DB_STMT(ORG_CREATE_SQL) = {
	"organizations_create",
	"WITH ins AS (INSERT INTO organizations (municipality_id, region_id, full_name, "
	" short_name, inn, kind, settlement, students) "
	" SELECT m.id, m.region_id, b->>'full_name', b->>'short_name', b->>'inn', b->>'kind', "
	"  b->>'settlement', coalesce((b->>'students')::int, 0) "
	" FROM (SELECT $7::jsonb AS b) x JOIN municipalities m "
	"  ON m.id = (b->>'municipality_id')::bigint WHERE"
	SQL_SCOPE("m.region_id", "m.id", "NULL::bigint") " RETURNING *),"
	SQL_CREATE_AUDIT("organization", "region_id, municipality_id, id", ORG_JSON("ins")),
	9};
DB_STMT(ORG_UPDATE_SQL) = {
	"organizations_update",
	"WITH old AS (SELECT * FROM organizations WHERE id = $7::bigint AND"
	SQL_SCOPE("region_id", "municipality_id", "id") " FOR UPDATE),"
	SQL_UPDATE_SET("organizations", "o",
		       "full_name, short_name, inn, kind, settlement, students, status",
		       "p.full_name, p.short_name, p.inn, p.kind, p.settlement, p.students, "
		       "p.status")
	SQL_UPDATE_AUDIT("organization", "upd.region_id, upd.municipality_id, upd.id",
			 ORG_JSON("upd")),
	11};
/* clang-format on */

static const struct list_filter ORG_FILTERS[] = {
	{"region_id", FILTER_ID, NULL},      {"municipality_id", FILTER_ID, NULL},
	{"kind", FILTER_ENUM, EM_ORG_KINDS}, {"settlement", FILTER_ENUM, SETTLEMENTS},
	{"status", FILTER_ENUM, STATUSES},   {"inn", FILTER_TEXT, NULL},
};

const struct em_resource ORGANIZATIONS = RESOURCE_CRUD(ORG, "organization", "/api/v1/organizations",
						       org_check, "municipality_id");
