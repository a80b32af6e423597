/*
 * resource.h — the generic read/create/update/list of a registry resource,
 * driven by a descriptor: field tables, prepared statements with a fixed
 * parameter layout, filters, sort keys and constraint-to-field mapping. The
 * statements do the scope check and write the audit row themselves, so a
 * handler is a descriptor plus the SQL next to it.
 *
 * Parameter layout of every statement: $1..$6 the caller (role, user,
 * region, municipality, organization, manager: caller_args(), effmon/db.h),
 * then:
 *   get     $7 id                                   -> json, version
 *   list    $7 limit+1, $8 after id, $9 after key, $10 sort, $11 q, $12.. filters
 *                                                   -> json, id, sort key
 *   create  $7 body jsonb, $8 actor user id, $9 request id
 *                                                   -> json, id, version
 *   update  $7 id, $8 body jsonb, $9 expected version, $10 actor, $11 request id
 *                                                   -> json, version
 * A create that returns no row means the parent named by scope_field is
 * missing or outside the caller's scope; an update that returns no row is
 * told apart (404 or 412) by running get.
 * A list runs with a plan made for its values (db_exec_args_custom of
 * effmon/db.h): its optional filters and sort fold away, and the indexes of
 * migration 0016 (scope or filter, then the sort key in "ru-x-icu", then id)
 * serve each combination.
 */
#ifndef EFFMON_RESOURCE_H
#define EFFMON_RESOURCE_H

#include "effmon/db.h"
#include "effmon/http.h"
#include "effmon/validate.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT 500
#define LIST_MAX_FILTERS 6
/* Longest sort key a cursor carries: 500 characters of up to 4 bytes. */
#define LIST_MAX_KEY 2000

/* Keyset pagination over (sort key, id) for the two sorts every list has. */
/* clang-format off */
#define SQL_LIST_KEYSET(key, id)                                                         \
	" AND ($8::bigint IS NULL OR ($10 = 'name' AND (" key " COLLATE \"ru-x-icu\", " id   \
	") > ($9 COLLATE \"ru-x-icu\", $8::bigint)) OR ($10 <> 'name' AND " id " > $8::bigint))"
#define SQL_LIST_ORDER(key, id)                                                         \
	" ORDER BY CASE WHEN $10 = 'name' THEN " key " END COLLATE \"ru-x-icu\", " id        \
	" LIMIT $7::int"
/* clang-format on */
/* q is matched literally: the LIKE wildcards % and _, and the escape character, are escaped. */
/* clang-format off */
#define SQL_SEARCH(key) " AND ($11::text IS NULL OR lower(" key " COLLATE \"ru-x-icu\") LIKE " \
	"'%' || replace(replace(replace(lower($11 COLLATE \"ru-x-icu\"), '\\', '\\\\'), " \
	"'%', '\\%'), '_', '\\_') || '%')"
#define SQL_SCOPE(region, muni, org) " em_in_scope($1, $3::bigint, $4::bigint, $5::bigint, " \
	region ", " muni ", " org ")"
/* clang-format on */
/*
 * The scope of a list statement: SQL_SCOPE written so that a plan made for the
 * values (resource_list runs lists with db_exec_args_custom) folds it to an
 * index condition, "municipality_id = 7" or "region_id = 5", or to nothing for
 * the admin. em_in_scope's coalesce() is none, and as a filter the planner
 * guesses it keeps half the rows, which can tip it from walking the list's
 * index to sorting. Each branch selects what em_in_scope does: a regional role
 * sees its region; a municipal operator (with its municipality set) its
 * municipality, since the column is never NULL and so never falls back to the
 * region; a head the rows em_in_scope admits, all of which lie in its
 * municipality (its organization's, whose rows carry it). SQL_LIST_SCOPE is
 * for tables whose region and municipality columns are NOT NULL,
 * SQL_LIST_SCOPE_REGION for the others (it narrows every non-admin to its
 * region first: every row in scope lies there).
 */
/* clang-format off */
#define SQL_LIST_SCOPE(region, muni, org)                                                \
	" (CASE WHEN $1 = 'admin' THEN true"                                               \
	" WHEN $1 = 'municipal_operator' AND $4::bigint IS NOT NULL THEN " muni            \
	" = $4::bigint"                                                                     \
	" WHEN $1 = 'head' THEN " muni " = $4::bigint AND" SQL_SCOPE(region, muni, org)    \
	" WHEN $1 <> 'municipal_operator' THEN " region " = $3::bigint"                    \
	" ELSE" SQL_SCOPE(region, muni, org) " END)"
#define SQL_LIST_SCOPE_REGION(region, muni, org)                                         \
	" (CASE WHEN $1 = 'admin' THEN true"                                               \
	" WHEN $1 NOT IN ('municipal_operator', 'head') THEN " region " = $3::bigint"      \
	" ELSE " region " = $3::bigint AND" SQL_SCOPE(region, muni, org) " END)"
/* clang-format on */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The get statement of the layout: the row $7 of from (alias a) in scope ->
 * json, version. */
/* clang-format off */
#define SQL_GET(json, from, a, scope)                                                    \
	"SELECT " json ", " a ".version FROM " from " WHERE " a ".id = $7::bigint AND" scope
/* clang-format on */
/* The list statement of the layout, sorted by key or by a's id: json, id,
 * key of the rows of from that scope admits and q matches, with the filters
 * ($12..) and the page after the cursor. */
/* clang-format off */
#define SQL_LIST(json, from, a, key, scope, filters)                                     \
	"SELECT " json ", " a ".id, " key " FROM " from " WHERE" scope SQL_SEARCH(key) filters \
	SQL_LIST_KEYSET(key, a ".id") SQL_LIST_ORDER(key, a ".id")
/* clang-format on */

enum filter_type { FILTER_ID, FILTER_ENUM, FILTER_BOOL, FILTER_TEXT };

struct list_filter {
	const char *name;
	enum filter_type type;
	const char *const *choices; /* FILTER_ENUM */
};

/* A constraint named in an error, and what to tell the client. */
struct constraint_map {
	const char *constraint;
	const char *field;
	const char *message;
	enum em_err err;
};

struct em_resource {
	const char *entity; /* "organization": audit entity and messages */
	const char *path;   /* "/api/v1/organizations": Location of created rows */
	const struct field *create_fields;
	size_t ncreate;
	const struct field *update_fields;
	size_t nupdate;
	/* Checks beyond the field table (checksums, cross-field rules); may be NULL. */
	void (*check)(const json_t *body, bool creating, struct em_reply *reply);
	const char *scope_field; /* the parent a create must find in scope */
	const struct db_stmt *get, *list, *create, *update;
	const struct list_filter *filters;
	size_t nfilters;
};

/* A descriptor's tables, each with its length. */
#define FIELDS_CREATE(t) .create_fields = (t), .ncreate = ARRAY_LEN(t)
#define FIELDS_UPDATE(t) .update_fields = (t), .nupdate = ARRAY_LEN(t)
#define LIST_FILTERS(t) .filters = (t), .nfilters = ARRAY_LEN(t)

/* clang-format off */
/*
 * The descriptor of a resource named by the prefix P: a readable one has the
 * statements P_GET and P_LIST and the filters P_FILTERS; a writable one adds
 * the field tables P_CREATE and P_UPDATE, their statements P_CREATE_SQL and
 * P_UPDATE_SQL, a check (may be NULL) and the scope field (may be NULL).
 */
#define RESOURCE_READ(P, entity_, path_)                                                  \
	{.entity = (entity_), .path = (path_), .get = &P##_GET, .list = &P##_LIST,        \
	 LIST_FILTERS(P##_FILTERS)}
#define RESOURCE_CRUD(P, entity_, path_, check_, scope_)                                  \
	{.entity = (entity_), .path = (path_), .check = (check_), .scope_field = (scope_), \
	 FIELDS_CREATE(P##_CREATE), FIELDS_UPDATE(P##_UPDATE), .get = &P##_GET,            \
	 .list = &P##_LIST, .create = &P##_CREATE_SQL, .update = &P##_UPDATE_SQL,         \
	 LIST_FILTERS(P##_FILTERS)}
/* clang-format on */

/* Generic handlers: route rows pass the descriptor as their data. */
enum em_err resource_get(struct em_req *req, const struct em_args *args, json_t *body,
			 struct em_reply *reply);
enum em_err resource_list(struct em_req *req, const struct em_args *args, json_t *body,
			  struct em_reply *reply);
enum em_err resource_create(struct em_req *req, const struct em_args *args, json_t *body,
			    struct em_reply *reply);
enum em_err resource_update(struct em_req *req, const struct em_args *args, json_t *body,
			    struct em_reply *reply);

/* Building blocks for resource-specific handlers. */

/* Pushes the caller, the leading $1..$6 of the statements run for a request
 * (effmon/db.h). */
void caller_args(struct db_args *a, const struct em_req *req);

/* Runs a get statement; EM_ENOTFOUND when no row is visible. */
enum em_err resource_fetch(struct em_req *req, const struct db_stmt *get, int64_t id,
			   PGresult **out);

/* resource_fetch with the 404 "no <entity> <id>" in reply when no row is visible. */
enum em_err resource_find(struct em_req *req, struct em_reply *reply, const struct db_stmt *get,
			  int64_t id, const char *entity, PGresult **out);

/* The 412 of a write whose If-Match is not the current version. */
enum em_err reply_changed(struct em_reply *reply, const char *entity, const char *version);

/* Runs a lock statement ($1.. the caller, then the id) answering the row's
 * version first: 404 naming entity and id when no row is visible, 412 naming
 * the current ETag when it is not the If-Match version. */
enum em_err resource_lock(struct em_req *req, struct em_reply *reply, const struct db_stmt *lock,
			  int64_t id, long version, const char *entity, PGresult **out);

/* The one JSON document of res (its first column) as the 200 body, or 404
 * naming what and id when there is no row; clears res. */
enum em_err document_reply(struct em_reply *reply, PGresult *res, const char *what, int64_t id);
/* Runs st ($1..$6 the caller, $7 id -> one JSON document) and answers as document_reply. */
enum em_err document_get(struct em_req *req, struct em_reply *reply, const struct db_stmt *st,
			 int64_t id, const char *what);

/* Runs st ($1..$6 the caller, $7 id): 404 "no <what> <id>" when it answers no row. */
enum em_err resource_visible(struct em_req *req, struct em_reply *reply, const struct db_stmt *st,
			     int64_t id, const char *what);

/* A list that is always one page (a parent's few children): st takes the
 * caller's $1..$6 and $7 the parent's id, and returns one row holding the
 * JSON array of the items, or none when the parent is not visible (404
 * "no <what> <id>"). Sent as {"items": [...], "next": null}. */
enum em_err whole_list_reply(struct em_req *req, const struct db_stmt *st, int64_t id,
			     const char *what, struct em_reply *reply);

/* Sends a JSON text row with its ETag; a GET with a matching If-None-Match gets 304. */
void reply_row(struct em_req *req, struct em_reply *reply, unsigned status, const char *json,
	       const char *version);

/* If-Match for writes: EM_EPRECONDREQ if absent, EM_EPRECOND if malformed. */
enum em_err require_if_match(struct em_req *req, struct em_reply *reply, long *version);

/* A failed statement's error err: the field error of its constraint when
 * constraints.c knows the name, else a generic message naming it. */
enum em_err map_constraint(const struct em_req *req, enum em_err err, struct em_reply *reply);
/* Writes a line to out for each constraint of that table the database
 * connected to lacks; returns their number, *checked the table's size. */
int constraints_check(PGconn *pg, FILE *out, size_t *checked);

/* The field table (create or update) and the check of r over body: true when
 * it passes, else the field errors are in reply. */
bool resource_valid(const struct em_resource *r, const json_t *body, bool creating,
		    struct em_reply *reply);
/* After a change's checks: EM_EINVAL "the change to the <entity> is not
 * valid" when reply holds field errors, or when body names no field. */
enum em_err change_check(struct em_reply *reply, const json_t *body, const char *entity);
/* Runs a write statement answering (json, version) and sends that row with
 * status; a failed constraint is mapped by map_constraint. EM_ENOTFOUND, reply
 * untouched, when the statement returns no row. */
enum em_err write_reply(struct em_req *req, struct em_reply *reply, unsigned status,
			const struct db_stmt *st, const struct db_args *a);

/* Runs fn in a transaction (db_tx) with *text the compact JSON of body,
 * unless *text is set already. */
enum em_err body_tx(struct em_req *req, json_t *body, const char **text, db_tx_fn fn, void *ctx);

/*
 * A create in its own transaction: claims (or replays) the Idempotency-Key
 * of body, runs st with the caller's $1..$6 and then what push adds (NULL:
 * the create layout, $7 body_text, $8 actor, $9 request id), maps a failed
 * constraint by map_constraint and answers 201 with the row (json, id, version),
 * its ETag and Location path/id. A result without the row (none, or a NULL
 * id) is answered by refused (NULL: 400, scope_field names no object in the
 * caller's scope).
 */
struct create_run {
	struct em_req *req;
	struct em_reply *reply;
	json_t *body;          /* what Idempotency-Key compares */
	const char *body_text; /* NULL: body as compact JSON */
	const struct db_stmt *st;
	const char *path;
	const char *scope_field;
	/* Both may be NULL; push may fail (a lock, a rule) with its answer in reply. */
	enum em_err (*push)(struct create_run *c, struct db_args *a);
	enum em_err (*refused)(struct create_run *c, PGresult *res);
	void *ctx;
};
enum em_err create_run(struct create_run *c);

/*
 * An update of the update layout in its own transaction: check first (may
 * be NULL), then st with what push adds after $11 (may be NULL), a failed
 * constraint mapped by map_constraint; 200 with the row, or, when st changed
 * nothing, get tells 404 from 412.
 */
struct update_run {
	struct em_req *req;
	struct em_reply *reply;
	int64_t id;
	long version; /* If-Match */
	json_t *body;
	const char *body_text; /* NULL: body as compact JSON */
	const struct db_stmt *st, *get;
	const char *entity;
	enum em_err (*check)(struct update_run *u);
	void (*push)(struct update_run *u, struct db_args *a);
	void *ctx;
};
enum em_err update_run(struct update_run *u);

/* Idempotency-Key handling around a create, inside its transaction. */
struct idem {
	const char *key; /* NULL: no header */
	char hash[65];
	bool replayed;
};
enum em_err idem_begin(struct em_req *req, json_t *body, struct idem *idem, struct em_reply *reply);
/* The same for a raw (non-JSON) body: the hash covers the method, the path,
 * variant (what else selects the answer: content type, query) and the bytes. */
enum em_err idem_begin_raw(struct em_req *req, const char *variant, const void *body, size_t len,
			   struct idem *idem, struct em_reply *reply);
/* Keeps the reply (status, body, ETag, Location) for replays of the key. */
enum em_err idem_finish(struct em_req *req, const struct idem *idem, const struct em_reply *reply);

/* Parses limit and cursor; *after_id 0 when starting. */
struct list_page {
	long limit;
	const char *sort; /* "id" or "name" */
	int64_t after_id;
	char after_key[LIST_MAX_KEY + 1];
	bool has_key;
};
/* limit, 1..LIST_MAX_LIMIT: dflt when absent, and when invalid (with its
 * field error in reply->errors). */
long list_limit_parse(struct em_req *req, struct em_reply *reply, long dflt);
/* A cursor, base64url("sort\nid\nkey"), decoded into raw: the key (valid
 * UTF-8, at most LIST_MAX_KEY bytes) with *after_id set, or NULL when it is not
 * a cursor of this sort. */
const char *list_cursor_decode(const char *cursor, const char *sort, int64_t *after_id,
			       unsigned char raw[LIST_MAX_KEY + 64]);
/* limit, sort (one of sorts, NULL-terminated, the first when absent; sort_why
 * the field error of another) and cursor into page: the cursor's key (copied
 * into page->after_key), or NULL without a cursor or with one not of this
 * sort (its field error in reply->errors). has_key is the caller's to set. */
const char *list_page_read(struct em_req *req, struct em_reply *reply, const char *const *sorts,
			   const char *sort_why, struct list_page *page);
enum em_err list_page_parse(struct em_req *req, struct em_reply *reply, struct list_page *page);
/* The text search parameter q (NULL if absent); an error goes to reply->errors. */
const char *list_search_parse(struct em_req *req, struct em_reply *reply);
/* Reads and checks each filter's query parameter into out[i] (NULL if absent);
 * errors go to reply->errors, each naming its parameter. */
void list_filters_parse(struct em_req *req, struct em_reply *reply,
			const struct list_filter *filters, size_t n, const char **out);
/* Pushes a list statement's $1..$11: the caller, limit + 1, the cursor's id
 * and key, the sort and q; its filters follow from $12. */
void list_args(struct db_args *a, const struct em_req *req, const struct list_page *page,
	       const char *q);
/*
 * A list in id order alone under a parent (a history, a campaign's import
 * records): limit and cursor parsed, sort=id only (sort_why: the field error
 * of another sort), 404 when visible ($1..$6 the caller, $7 id) finds no
 * parent, else the page of st ($1..$6 the caller, $7 the parent, $8 the
 * cursor's id, $9 limit + 1 -> json, id).
 */
enum em_err id_list_reply(struct em_req *req, struct em_reply *reply, const struct db_stmt *visible,
			  const struct db_stmt *st, int64_t id, const char *what,
			  const char *sort_why);

/* Replies {"items": [...], "next": cursor|null, "limit": n} from rows of
 * (json, id, key), with more members after them when extra is not NULL (JSON
 * text: "\"name\":value,..."). EM_EINTERNAL when out of memory. */
enum em_err list_reply(struct em_reply *reply, PGresult *res, const struct list_page *page,
		       const char *extra);

#endif
