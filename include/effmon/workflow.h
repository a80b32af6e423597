/*
 * workflow.h — a resource's states and moves as one descriptor, and the one
 * POST /{id}/transitions handler they share: the body, the row lock, If-Match,
 * the move table (409), who may (403), the resource's hooks, the move
 * statement (with its audit row and history) and Idempotency-Key replay.
 *
 * The lock statement answers version, status, the row as JSON first (then
 * whatever the hooks read); its parameters are those of wf->fetch (NULL:
 * resource_fetch, the caller $1..$6 and $7 id). It answers no row when the id
 * is missing or out of scope.
 *
 * Parameter layout of the move statement: $1..$6 the caller (caller_args),
 * $7 id, $8 to, $9 from, $10 the row before (JSON), $11 actor user id, $12
 * request id, then $13.. the
 * body's strings named in wf->texts (NULL when absent), then ctx->extra[0..]
 * (wf->nextra of them, set by the hooks). Unless wf->answer says otherwise it
 * answers json, version of the moved row.
 */
#ifndef EFFMON_WORKFLOW_H
#define EFFMON_WORKFLOW_H

#include "effmon/resource.h"

#define WF_MAX_TEXTS 4
#define WF_MAX_EXTRA 2

struct wf_ctx;

/* One legal move. With neither roles nor may, the route's roles suffice. */
struct wf_move {
	const char *from, *to;
	unsigned roles;                        /* the roles that may make it */
	bool (*may)(const struct wf_ctx *ctx); /* instead of roles: who may depends on the row */
	const char *who;                       /* the 403's "who may" phrase */
	const char *needs;                     /* a body string the move requires, or NULL */
	const char *needs_why;                 /* its field error when it is missing */
};

/* One transition in progress: what the hooks see. */
struct wf_ctx {
	struct em_req *req;
	const struct workflow *wf;
	int64_t id;
	long version; /* from If-Match */
	json_t *body;
	const char *to;                  /* the body's to */
	const char *from;                /* the locked row's status */
	PGresult *lock;                  /* the locked row */
	const char *extra[WF_MAX_EXTRA]; /* the move statement's parameters after the texts */
	char extra_buf[WF_MAX_EXTRA][24];
	struct em_reply *reply;
};

struct workflow {
	const char *entity; /* "submission": "no submission 7", "the submission has changed" */
	const char *object; /* "a submission": "a head may not move a submission from ..." */
	const char *const *states; /* every state, NULL-terminated */
	const struct wf_move *moves;
	size_t nmoves;
	const struct field *fields; /* the body: to, comment, ... */
	size_t nfields;
	/* Body rules beyond the field table, before any row is read; may be NULL. */
	void (*check)(const json_t *body, const char *to, struct em_reply *reply);
	const char *const *texts; /* body strings passed to the move, NULL-terminated */
	size_t nextra;            /* how many ctx->extra follow them */
	const struct db_stmt *lock;
	enum em_err (*fetch)(struct em_req *req, const struct db_stmt *lock, int64_t id,
			     PGresult **out);
	/* Hooks, each may be NULL; a failure fills ctx->reply and stops the move. */
	enum em_err (*locked)(struct wf_ctx *ctx);  /* after the lock, before If-Match */
	enum em_err (*current)(struct wf_ctx *ctx); /* after If-Match, before the move table */
	/* After the move, the role and the move's needs: extra checks and side effects. */
	enum em_err (*before)(struct wf_ctx *ctx, const struct wf_move *move);
	const struct db_stmt *move;
	/* The reply from the move's result; NULL: its json, version with the ETag, 200. */
	enum em_err (*answer)(struct wf_ctx *ctx, PGresult *moved);
};

/* The generic handler: resource files call it with their descriptor. */
enum em_err workflow_transition(const struct workflow *wf, struct em_req *req,
				const struct em_args *args, json_t *body, struct em_reply *reply);

/* The move from → to, or NULL with a 409 in reply naming the moves allowed from `from`. */
const struct wf_move *workflow_find_move(const struct workflow *wf, const char *from,
					 const char *to, struct em_reply *reply);

/* May the caller make the move? If not, a 403 in reply says who may; EM_EFORBIDDEN. */
enum em_err workflow_check_role(const struct wf_ctx *ctx, const struct wf_move *move);

#endif
