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


static const struct field REGION_CREATE[] = {
	{"code", F_STRING, true, false, 2, 2, NULL},
	{"name", F_STRING, true, false, 1, 200, NULL},
};
static const struct field REGION_UPDATE[] = {
	{"code", F_STRING, false, false, 2, 2, NULL},
	{"name", F_STRING, false, false, 1, 200, NULL},
};

#define REGION_JSON(r)                                                                   \
	"jsonb_build_object('id', " r ".id, 'code', " r ".code, 'name', " r ".name, "      \
	"'created_at', " r ".created_at, 'updated_at', " r ".updated_at, 'version', " r   \
	".version)"

DB_STMT(REGION_GET) = {
	"regions_get",
	"SELECT " REGION_JSON("r") ", r.version FROM regions r WHERE r.id = $7::bigint AND"
	SQL_SCOPE("r.id", "NULL::bigint", "NULL::bigint"),
	7};
DB_STMT(REGION_LIST) = {
	"regions_list",
	"SELECT " REGION_JSON("r") ", r.id, r.name FROM regions r WHERE"
	SQL_SCOPE("r.id", "NULL::bigint", "NULL::bigint") SQL_SEARCH("r.name")
	SQL_LIST_KEYSET("r.name", "r.id") SQL_LIST_ORDER("r.name", "r.id"),
	11};
DB_STMT(REGION_CREATE_SQL) = {
	"regions_create",
	"WITH ins AS (INSERT INTO regions (code, name) "
	" SELECT b->>'code', b->>'name' FROM (SELECT $7::jsonb AS b) x RETURNING *),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $8::bigint, $1, 'region', id, 'create', NULL, "
	" to_jsonb(ins), $9, id, NULL, NULL FROM ins) "
	"SELECT " REGION_JSON("ins") ", ins.id, ins.version FROM ins",
	9};
DB_STMT(REGION_UPDATE_SQL) = {
	"regions_update",
	"WITH old AS (SELECT * FROM regions WHERE id = $7::bigint AND"
	SQL_SCOPE("id", "NULL::bigint", "NULL::bigint") " FOR UPDATE),"
	" upd AS (UPDATE regions r SET (code, name) = "
	"  (SELECT p.code, p.name FROM jsonb_populate_record(r, $8::jsonb) p),"
	"  version = r.version + 1, updated_at = now() "
	"  FROM old WHERE r.id = old.id AND r.version = $9::int RETURNING r.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, 'region', upd.id, 'update', "
	" to_jsonb(old), to_jsonb(upd), $11, upd.id, NULL, NULL FROM upd JOIN old USING (id)) "
	"SELECT " REGION_JSON("upd") ", upd.version FROM upd",
	11};

static const struct constraint_map REGION_CONSTRAINTS[] = {
	{"regions_code_key", "code", "a region with this code exists", EM_ECONFLICT},
	{"regions_code_format", "code", "must be two digits", EM_EINVAL},
	{NULL, NULL, NULL, EM_OK},
};

const struct em_resource REGIONS = {
	.entity = "region",
	.path = "/api/v1/regions",
	.create_fields = REGION_CREATE,
	.ncreate = 2,
	.update_fields = REGION_UPDATE,
	.nupdate = 2,
	.check = region_check,
	.get = &REGION_GET,
	.list = &REGION_LIST,
	.create = &REGION_CREATE_SQL,
	.update = &REGION_UPDATE_SQL,
	.constraints = REGION_CONSTRAINTS,
};

static const struct field MUNI_CREATE[] = {
	{"region_id", F_ID, true, false, 0, 0, NULL},
	{"name", F_STRING, true, false, 1, 200, NULL},
	{"oktmo", F_STRING, true, false, 8, 11, NULL},
};
static const struct field MUNI_UPDATE[] = {
	{"name", F_STRING, false, false, 1, 200, NULL},
	{"oktmo", F_STRING, false, false, 8, 11, NULL},
};

#define MUNI_JSON(m)                                                                    \
	"jsonb_build_object('id', " m ".id, 'region_id', " m ".region_id, 'name', " m     \
	".name, 'oktmo', " m ".oktmo, 'created_at', " m ".created_at, 'updated_at', " m   \
	".updated_at, 'version', " m ".version)"

DB_STMT(MUNI_GET) = {
	"municipalities_get",
	"SELECT " MUNI_JSON("m") ", m.version FROM municipalities m WHERE m.id = $7::bigint AND"
	SQL_SCOPE("m.region_id", "m.id", "NULL::bigint"),
	7};
DB_STMT(MUNI_LIST) = {
	"municipalities_list",
	"SELECT " MUNI_JSON("m") ", m.id, m.name FROM municipalities m WHERE"
	SQL_LIST_SCOPE("m.region_id", "m.id", "NULL::bigint") SQL_SEARCH("m.name")
	" AND ($12::bigint IS NULL OR m.region_id = $12::bigint)"
	SQL_LIST_KEYSET("m.name", "m.id") SQL_LIST_ORDER("m.name", "m.id"),
	12};
/* The region must be in the caller's scope; the statement returns no row if not. */
DB_STMT(MUNI_CREATE_SQL) = {
	"municipalities_create",
	"WITH ins AS (INSERT INTO municipalities (region_id, name, oktmo) "
	" SELECT r.id, b->>'name', b->>'oktmo' FROM (SELECT $7::jsonb AS b) x "
	" JOIN regions r ON r.id = (b->>'region_id')::bigint WHERE"
	SQL_SCOPE("r.id", "NULL::bigint", "NULL::bigint") " RETURNING *),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $8::bigint, $1, 'municipality', id, 'create', NULL, "
	" to_jsonb(ins), $9, region_id, id, NULL FROM ins) "
	"SELECT " MUNI_JSON("ins") ", ins.id, ins.version FROM ins",
	9};
DB_STMT(MUNI_UPDATE_SQL) = {
	"municipalities_update",
	"WITH old AS (SELECT * FROM municipalities WHERE id = $7::bigint AND"
	SQL_SCOPE("region_id", "id", "NULL::bigint") " FOR UPDATE),"
	" upd AS (UPDATE municipalities m SET (name, oktmo) = "
	"  (SELECT p.name, p.oktmo FROM jsonb_populate_record(m, $8::jsonb) p),"
	"  version = m.version + 1, updated_at = now() "
	"  FROM old WHERE m.id = old.id AND m.version = $9::int RETURNING m.*),"
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $10::bigint, $1, 'municipality', upd.id, 'update', "
	" to_jsonb(old), to_jsonb(upd), $11, upd.region_id, upd.id, NULL "
	" FROM upd JOIN old USING (id)) "
	"SELECT " MUNI_JSON("upd") ", upd.version FROM upd",
	11};

static const struct constraint_map MUNI_CONSTRAINTS[] = {
	{"municipalities_oktmo_key", "oktmo", "a municipality with this OKTMO code exists",
	 EM_ECONFLICT},
	{"municipalities_oktmo_format", "oktmo", "must be 8 or 11 digits", EM_EINVAL},
	{NULL, NULL, NULL, EM_OK},
};

static const struct list_filter MUNI_FILTERS[] = {{"region_id", FILTER_ID, NULL}};

const struct em_resource MUNICIPALITIES = {
	.entity = "municipality",
	.path = "/api/v1/municipalities",
	.create_fields = MUNI_CREATE,
	.ncreate = 3,
	.update_fields = MUNI_UPDATE,
	.nupdate = 2,
	.check = muni_check,
	.scope_field = "region_id",
	.get = &MUNI_GET,
	.list = &MUNI_LIST,
	.create = &MUNI_CREATE_SQL,
	.update = &MUNI_UPDATE_SQL,
	.filters = MUNI_FILTERS,
	.nfilters = 1,
	.constraints = MUNI_CONSTRAINTS,
};
