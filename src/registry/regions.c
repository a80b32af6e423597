/*
 * regions.c — regions (subjects of the federation, two-digit code) and
 * their municipalities (OKTMO code). Regions are the admin's; municipalities
 * are kept by the admin and by the region's operators.
 */
#include "effmon/registry.h"

#include <string.h>

static void digits_check(const json_t *body, const char *field, size_t a, size_t b,
			 struct em_reply *reply)
{
	const char *s = json_string_value(json_object_get(body, field));
	size_t n;
	if (!s)
		return;
	n = strlen(s);
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			n = 0;
	if (n != a && n != b) {
		if (a == b)
			reply_field_error(reply, field, "must be %zu digits", a);
		else
			reply_field_error(reply, field, "must be %zu or %zu digits", a, b);
	}
}

static void region_check(const json_t *body, bool creating, struct em_reply *reply)
{
	(void)creating;
	digits_check(body, "code", 2, 2, reply);
}

static void muni_check(const json_t *body, bool creating, struct em_reply *reply)
{
	(void)creating;
	digits_check(body, "oktmo", 8, 11, reply);
}

/* The fields of a region: required to create one (req), optional in a change. */
/* clang-format off */
#define REGION_FIELDS(req)                                                               \
	{"code", F_STRING, req, false, 2, 2, NULL}, {"name", F_STRING, req, false, 1, 200, NULL}
/* clang-format on */
static const struct field REGION_CREATE[] = {REGION_FIELDS(true)};
static const struct field REGION_UPDATE[] = {REGION_FIELDS(false)};

/* clang-format off */
#define REGION_JSON(r)                                                                   \
	"jsonb_build_object('id', " r ".id, 'code', " r ".code, 'name', " r ".name, "      \
	"'created_at', " r ".created_at, 'updated_at', " r ".updated_at, 'version', " r   \
	".version)"

DB_STMT(REGION_GET) = {
	"regions_get",
	SQL_GET(REGION_JSON("r"), "regions r", "r",
		SQL_SCOPE("r.id", "NULL::bigint", "NULL::bigint")),
	7};
DB_STMT(REGION_LIST) = {
	"regions_list",
	SQL_LIST(REGION_JSON("r"), "regions r", "r", "r.name",
		 SQL_SCOPE("r.id", "NULL::bigint", "NULL::bigint"), ""),
	11};
DB_STMT(REGION_CREATE_SQL) = {
	"regions_create",
	"WITH ins AS (INSERT INTO regions (code, name) "
	" SELECT b->>'code', b->>'name' FROM (SELECT $7::jsonb AS b) x RETURNING *),"
	SQL_CREATE_AUDIT("region", "id, NULL, NULL", REGION_JSON("ins")),
	9};
DB_STMT(REGION_UPDATE_SQL) = {
	"regions_update",
	"WITH old AS (SELECT * FROM regions WHERE id = $7::bigint AND"
	SQL_SCOPE("id", "NULL::bigint", "NULL::bigint") " FOR UPDATE),"
	SQL_UPDATE_SET("regions", "r", "code, name", "p.code, p.name")
	SQL_UPDATE_AUDIT("region", "upd.id, NULL, NULL", REGION_JSON("upd")),
	11};
/* clang-format on */

const struct em_resource REGIONS = {
	.entity = "region",
	.path = "/api/v1/regions",
	FIELDS_CREATE(REGION_CREATE),
	FIELDS_UPDATE(REGION_UPDATE),
	.check = region_check,
	.get = &REGION_GET,
	.list = &REGION_LIST,
	.create = &REGION_CREATE_SQL,
	.update = &REGION_UPDATE_SQL,
};

/* The fields a municipality's create requires (req) and a change may name. */
/* clang-format off */
#define MUNI_FIELDS(req)                                                                 \
	{"name", F_STRING, req, false, 1, 200, NULL}, {"oktmo", F_STRING, req, false, 8, 11, NULL}
/* clang-format on */
static const struct field MUNI_CREATE[] = {
	{"region_id", F_ID, true, false, 0, 0, NULL},
	MUNI_FIELDS(true),
};
static const struct field MUNI_UPDATE[] = {MUNI_FIELDS(false)};

/* clang-format off */
#define MUNI_JSON(m)                                                                    \
	"jsonb_build_object('id', " m ".id, 'region_id', " m ".region_id, 'name', " m     \
	".name, 'oktmo', " m ".oktmo, 'created_at', " m ".created_at, 'updated_at', " m   \
	".updated_at, 'version', " m ".version)"

DB_STMT(MUNI_GET) = {
	"municipalities_get",
	SQL_GET(MUNI_JSON("m"), "municipalities m", "m",
		SQL_SCOPE("m.region_id", "m.id", "NULL::bigint")),
	7};
DB_STMT(MUNI_LIST) = {
	"municipalities_list",
	SQL_LIST(MUNI_JSON("m"), "municipalities m", "m", "m.name",
		 SQL_LIST_SCOPE("m.region_id", "m.id", "NULL::bigint"),
		 " AND ($12::bigint IS NULL OR m.region_id = $12::bigint)"),
	12};
/* clang-format on */
/* The region must be in the caller's scope; the statement returns no row if not. */
/* clang-format off */
DB_STMT(MUNI_CREATE_SQL) = {
	"municipalities_create",
	"WITH ins AS (INSERT INTO municipalities (region_id, name, oktmo) "
	" SELECT r.id, b->>'name', b->>'oktmo' FROM (SELECT $7::jsonb AS b) x "
	" JOIN regions r ON r.id = (b->>'region_id')::bigint WHERE"
	SQL_SCOPE("r.id", "NULL::bigint", "NULL::bigint") " RETURNING *),"
	SQL_CREATE_AUDIT("municipality", "region_id, id, NULL", MUNI_JSON("ins")),
	9};
DB_STMT(MUNI_UPDATE_SQL) = {
	"municipalities_update",
	"WITH old AS (SELECT * FROM municipalities WHERE id = $7::bigint AND"
	SQL_SCOPE("region_id", "id", "NULL::bigint") " FOR UPDATE),"
	SQL_UPDATE_SET("municipalities", "m", "name, oktmo", "p.name, p.oktmo")
	SQL_UPDATE_AUDIT("municipality", "upd.region_id, upd.id, NULL", MUNI_JSON("upd")),
	11};
/* clang-format on */

static const struct list_filter MUNI_FILTERS[] = {{"region_id", FILTER_ID, NULL}};

const struct em_resource MUNICIPALITIES = RESOURCE_CRUD(
	MUNI, "municipality", "/api/v1/municipalities", muni_check, "region_id");
