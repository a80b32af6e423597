/*
 * cycle.h — the management cycle: attestations, addressed
 * recommendations and their drafts, management decisions (src/cycle/
 * attestations.c, recommendations.c, decisions.c), and roadmaps with their
 * milestones. Handlers beyond the generic resource layer, and what they share.
 */
#ifndef EFFMON_CYCLE_H
#define EFFMON_CYCLE_H

#include "effmon/resource.h"
#include "effmon/negotiate.h"

/*
 * Attestations, recommendations, decisions. Their statements read the
 * caller's $6, the head's own manager id: a head sees what is addressed to
 * its manager, not everything of its organization.
 */
/* clang-format off */
#define CYCLE_SCOPE(region, muni, org, mgr)                                                   \
	" (CASE WHEN $1 = 'head' THEN coalesce(" mgr " = $6::bigint, false) ELSE em_in_scope($1, " \
	"$3::bigint, $4::bigint, $5::bigint, " region ", " muni ", " org ") END)"
/* clang-format on */

/* Answers one object as GET does (ETag, 304) with the given status. */
enum em_err cycle_reply_one(struct em_req *req, struct em_reply *reply, const struct db_stmt *get,
			    int64_t id, unsigned status, const char *entity);
/* A list ordered by id: $1..$6 caller, $7 limit + 1, $8 after id, $9.. the filters
 * -> json, id. Only sort=id is taken. */
enum em_err cycle_list(struct em_req *req, struct em_reply *reply, const struct db_stmt *list,
		       const struct list_filter *filters, size_t nfilters);

/* Defines a cycle resource's list and get handlers: prefix_list, cycle_list
 * over list and its filters; prefix_get, cycle_reply_one over get (200, or 404
 * "no <entity> <id>"). */
/* clang-format off */
#define CYCLE_READ_HANDLERS(prefix, entity, get, list, filters)                               \
	enum em_err prefix##_list(struct em_req *req, const struct em_args *args, json_t *body, \
				  struct em_reply *reply)                                       \
	{                                                                                      \
		(void)args;                                                                    \
		(void)body;                                                                    \
		return cycle_list(req, reply, &(list), filters,                                \
				  sizeof(filters) / sizeof((filters)[0]));                     \
	}                                                                                      \
	enum em_err prefix##_get(struct em_req *req, const struct em_args *args, json_t *body,  \
				 struct em_reply *reply)                                        \
	{                                                                                      \
		(void)body;                                                                    \
		return cycle_reply_one(req, reply, &(get), args->id[0], 200, entity);         \
	}
/* clang-format on */

/*
 * A create of the cycle in one transaction: the Idempotency-Key, the
 * resource's write (its checks and its insert), then 201 with the new object
 * as get answers it ($1..$6 caller, $7 id -> json, version) and its
 * Location, kept for replays of the key.
 */
struct cycle_create {
	struct em_req *req;
	json_t *body; /* what the Idempotency-Key hashes */
	struct em_reply *reply;
	const struct db_stmt *get;
	const char *entity; /* "decision": the 404 of get */
	const char *path;   /* "/api/v1/decisions": the Location's */
	/* The checks and the insert: EM_OK with the new object's *id, or the failure in reply. */
	enum em_err (*write)(const struct cycle_create *c, int64_t *id);
	const void *data; /* the write's own */
};
enum em_err cycle_create(struct cycle_create *c);
/* Runs the insert of a manager's record ($1..$6 caller, $7 body, $8 actor, $9
 * request id -> id) into *id. No row: the body's manager_id is not in the
 * caller's scope (400). A broken constraint is answered by map_constraint. */
enum em_err cycle_insert_for_manager(struct em_req *req, const struct db_stmt *insert,
				     const char *body, struct em_reply *reply, int64_t *id);

enum em_err attestations_list(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply);
enum em_err attestations_get(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply);
enum em_err attestations_create(struct em_req *req, const struct em_args *args, json_t *body,
				struct em_reply *reply);
enum em_err attestations_update(struct em_req *req, const struct em_args *args, json_t *body,
				struct em_reply *reply);
enum em_err attestations_of_manager(struct em_req *req, const struct em_args *args, json_t *body,
				    struct em_reply *reply);

enum em_err recommendations_list(struct em_req *req, const struct em_args *args, json_t *body,
				 struct em_reply *reply);
enum em_err recommendations_get(struct em_req *req, const struct em_args *args, json_t *body,
				struct em_reply *reply);
enum em_err recommendations_create(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply);
enum em_err recommendations_update(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply);
enum em_err recommendations_transition(struct em_req *req, const struct em_args *args, json_t *body,
				       struct em_reply *reply);
enum em_err recommendations_history(struct em_req *req, const struct em_args *args, json_t *body,
				    struct em_reply *reply);
/* The history and audit rows (SQL_AUDIT_COLUMNS: effmon/registry.h) of the
 * drafts a run inserted (ins), in the layout of drafts_generate: $1 role, $9
 * actor, $10 request id. */
/* clang-format off */
#define SQL_DRAFTS_RECORD                                                                  \
	" hist AS (INSERT INTO recommendation_history (recommendation_id, actor_user_id, " \
	"  actor_role, action, to_status, request_id) SELECT ins.id, $9::bigint, $1, "      \
	"  'generate', 'draft', $10 FROM ins),"                                             \
	" aud AS (" SQL_AUDIT_COLUMNS "SELECT $9::bigint, $1, 'recommendation', ins.id, "    \
	"  'generate', NULL, to_jsonb(ins), $10, ins.region_id, ins.municipality_id, "     \
	"  ins.organization_id FROM ins) "
/* clang-format on */
/* A drafts run (from weak directions or from warnings). */
struct drafts_run {
	struct em_req *req;
	int64_t campaign;
	json_t *body;      /* the parsed body (only read) */
	const char *text;  /* its JSON text, as SQL reads it */
	const char *types; /* warnings: the types' array literal, NULL: all */
	struct em_reply *reply;
};
/*
 * The start of a drafts run in its transaction: the Idempotency-Key (a
 * replay: EM_OK with idem->replayed), the campaign in the caller's scope
 * locked against a concurrent run of either kind (else the 404 in reply),
 * then generate with $1..$6 the caller, $7 campaign, $8 text, $9 actor, $10
 * request id and, for a statement of eleven, $11 types: its result in *gen.
 */
enum em_err drafts_generate(const struct drafts_run *d, const struct db_stmt *generate,
			    struct idem *idem, PGresult **gen);
enum em_err recommendations_drafts(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply);
/* The recommendations of ids (a bigint[] literal) as a JSON array ordered by id;
 * the caller owns *out. For answers that list what they created. */
enum em_err recommendations_json_array(struct em_req *req, const char *ids, char **out);

enum em_err decisions_list(struct em_req *req, const struct em_args *args, json_t *body,
			   struct em_reply *reply);
enum em_err decisions_get(struct em_req *req, const struct em_args *args, json_t *body,
			  struct em_reply *reply);
enum em_err decisions_create(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply);
enum em_err decisions_revoke(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply);

/* --- Roadmaps and milestones (src/cycle/roadmaps.c, milestones.c, due.c) --- */

/* A milestone's deadline read from its text as written. */
struct em_due {
	char recurrence[12]; /* once | annual | continuous */
	char due_on[11];     /* YYYY-MM-DD, or "" when the text names no date */
};
/*
 * Derives the due date and recurrence from text ("Сентябрь 2021 г." →
 * 2021-09-30, "до 1 октября 2021 г." → 2021-10-01, "2021 г." → 2021-12-31,
 * "Ежегодно …" → annual, "В течение всего периода" → continuous with the
 * roadmap's period_to). period_from and period_to ("YYYY-MM-DD", may be NULL)
 * give a month without a year its year, and a continuous milestone its date.
 */
void due_derive(const char *text, const char *period_from, const char *period_to,
		struct em_due *out);

extern const struct em_resource ROADMAPS, MILESTONES;
/*
 * May the caller write this visible roadmap (or its milestones)? Admins and
 * regional operators: yes; municipal operators: not a regional roadmap;
 * heads: only progress (progress true) on their own organization's roadmap.
 * EM_EFORBIDDEN with a reply naming who may.
 */
enum em_err roadmap_may_write(const struct em_req *req, const char *level, int64_t organization_id,
			      bool progress, struct em_reply *reply);
/* Locks a visible roadmap: version, level, organization_id, the row as JSON,
 * period_from, period_to. 404 (in reply) when it is not visible. */
enum em_err roadmap_lock(struct em_req *req, int64_t id, PGresult **out, struct em_reply *reply);
enum em_err roadmaps_create(struct em_req *req, const struct em_args *args, json_t *body,
			    struct em_reply *reply);
enum em_err roadmaps_update(struct em_req *req, const struct em_args *args, json_t *body,
			    struct em_reply *reply);
enum em_err roadmap_milestones_list(struct em_req *req, const struct em_args *args, json_t *body,
				    struct em_reply *reply);
enum em_err roadmap_milestones_create(struct em_req *req, const struct em_args *args, json_t *body,
				      struct em_reply *reply);
enum em_err milestones_update(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply);
enum em_err milestones_transition(struct em_req *req, const struct em_args *args, json_t *body,
				  struct em_reply *reply);
enum em_err milestone_participants_list(struct em_req *req, const struct em_args *args,
					json_t *body, struct em_reply *reply);
enum em_err milestone_participants_add(struct em_req *req, const struct em_args *args, json_t *body,
				       struct em_reply *reply);
enum em_err milestone_participants_remove(struct em_req *req, const struct em_args *args,
					  json_t *body, struct em_reply *reply);

/* --- The management-cycle report (src/cycle/report.c) --- */

/* GET /campaigns/{id}/cycle-report?municipality_id=: the nine steps (and the early
 * warnings) with their figures as JSON, or CSV or a printable HTML page by Accept. */
/* report_tables.c: the report's tables for its CSV and XLSX answers. */
struct sheet_book;
struct csv_opts;
enum em_err report_tables(json_t *doc, struct sheet_book *book);
enum em_err report_file_reply(json_t *doc, enum em_format fmt, const struct csv_opts *o,
			      const char *campaign, const char *muni, struct em_reply *reply);
enum em_err cycle_report_get(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply);
/* The report document (campaign, territory, generated_at, as_of, steps) as a
 * printable HTML page (src/cycle/report_html.c); doc is only read. */
enum em_err cycle_report_html(json_t *doc, struct em_reply *reply);

/* load-demo: the two seed roadmaps (Sarov 2.1, the Sverdlovsk matrix), each once. */
enum em_err roadmaps_seed_demo(PGconn *pg, FILE *out, char *err, size_t errlen);

#endif
