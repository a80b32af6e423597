/*
 * workflow.c — the one transition handler of every workflow descriptor
 * (reserve candidates, campaigns, submissions, recommendations, milestones):
 * the checks run in one order for all of them, and the resource's hooks add
 * what only it needs (campaign opening, submission completeness, ...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/workflow.h"

static bool state_known(const struct workflow *wf, const char *state)
{
	for (size_t i = 0; wf->states[i]; i++)
		if (strcmp(wf->states[i], state) == 0)
			return true;
	return false;
}

const struct wf_move *workflow_find_move(const struct workflow *wf, const char *from,
					 const char *to, struct em_reply *reply)
{
	char allowed[128] = "";

	for (size_t i = 0; i < wf->nmoves; i++) {
		if (strcmp(wf->moves[i].from, from) != 0)
			continue;
		if (strcmp(wf->moves[i].to, to) == 0)
			return &wf->moves[i];
		size_t n = strlen(allowed);
		snprintf(allowed + n, sizeof(allowed) - n, "%s%s", n ? ", " : "", wf->moves[i].to);
	}
	if (!state_known(wf, from))
		reply_fail(reply, EM_ECONFLICT, "from %s: no transition is known", from);
	else if (!allowed[0])
		reply_fail(reply, EM_ECONFLICT, "from %s: no transition is allowed (%s is final)",
			   from, from);
	else
		reply_fail(reply, EM_ECONFLICT, "from %s: allowed %s", from, allowed);
	return NULL;
}

enum em_err workflow_check_role(const struct wf_ctx *ctx, const struct wf_move *move)
{
	bool ok;

	if (move->may)
		ok = move->may(ctx);
	else if (move->roles)
		ok = (move->roles & (unsigned)ctx->req->caller.role) != 0;
	else
		return EM_OK;
	if (ok)
		return EM_OK;
	return reply_fail(ctx->reply, EM_EFORBIDDEN, "a %s may not move %s from %s to %s: %s",
			  em_role_name(ctx->req->caller.role), ctx->wf->object, ctx->from, ctx->to,
			  move->who);
}

/* The row, locked: 404 when missing or out of scope, 412 at another version. */
static enum em_err lock_row(struct wf_ctx *c)
{
	const struct workflow *wf = c->wf;
	enum em_err rc;

	rc = (wf->fetch ? wf->fetch : resource_fetch)(c->req, wf->lock, c->id, &c->lock);
	if (rc == EM_ENOTFOUND)
		return reply_fail(c->reply, rc, "no %s %lld", wf->entity, (long long)c->id);
	if (rc != EM_OK)
		return rc;
	c->from = PQgetvalue(c->lock, 0, 1);
	if (wf->locked && (rc = wf->locked(c)) != EM_OK)
		return rc;
	if (atol(PQgetvalue(c->lock, 0, 0)) != c->version)
		return reply_fail(c->reply, EM_EPRECOND,
				  "the %s has changed: its ETag is now \"%s\"", wf->entity,
				  PQgetvalue(c->lock, 0, 0));
	return wf->current ? wf->current(c) : EM_OK;
}

/* The move from the current state, by a caller who may, with what it needs. */
static enum em_err check_move(struct wf_ctx *c)
{
	const struct wf_move *mv;
	enum em_err rc;

	if (!(mv = workflow_find_move(c->wf, c->from, c->to, c->reply)))
		return EM_ECONFLICT;
	if ((rc = workflow_check_role(c, mv)) != EM_OK)
		return rc;
	/* After the move and the role: a move that is not allowed is a 409, not a 400. */
	if (mv->needs && !json_string_value(json_object_get(c->body, mv->needs))) {
		reply_field_error(c->reply, mv->needs, "%s", mv->needs_why);
		return reply_fail(c->reply, EM_EINVAL, "the transition is not valid");
	}
	return c->wf->before ? c->wf->before(c, mv) : EM_OK;
}

static enum em_err write_move(struct wf_ctx *c)
{
	const struct workflow *wf = c->wf;
	struct em_req *req = c->req;
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	caller_args(&a, req);
	db_arg_i64(&a, c->id);
	db_arg_text(&a, c->to);
	db_arg_text(&a, c->from);
	db_arg_text(&a, PQgetvalue(c->lock, 0, 2));
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, req->request_id);
	for (size_t i = 0; wf->texts && i < WF_MAX_TEXTS && wf->texts[i]; i++)
		db_arg_text(&a, json_string_value(json_object_get(c->body, wf->texts[i])));
	for (size_t i = 0; i < wf->nextra && i < WF_MAX_EXTRA; i++)
		db_arg_text(&a, c->extra[i]);
	if ((rc = db_exec_args(req->db, wf->move, &a, &res)) != EM_OK)
		return rc;
	if (wf->answer)
		rc = wf->answer(c, res);
	else
		reply_row(req, c->reply, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	return rc;
}

static enum em_err transition_tx(struct db_conn *db, void *arg)
{
	struct wf_ctx *c = arg;
	struct idem idem;
	enum em_err rc;

	(void)db;
	reply_clear(c->reply);
	c->lock = NULL;
	c->from = NULL;
	memset(c->extra, 0, sizeof(c->extra));
	if ((rc = idem_begin(c->req, c->body, &idem, c->reply)) != EM_OK || idem.replayed)
		return rc;
	if ((rc = lock_row(c)) == EM_OK && (rc = check_move(c)) == EM_OK &&
	    (rc = write_move(c)) == EM_OK)
		rc = idem_finish(c->req, &idem, c->reply);
	PQclear(c->lock);
	c->lock = NULL;
	return rc;
}

enum em_err workflow_transition(const struct workflow *wf, struct em_req *req,
				const struct em_args *args, json_t *body, struct em_reply *reply)
{
	struct wf_ctx c = {.req = req, .wf = wf, .id = args->id[0], .body = body, .reply = reply};
	enum em_err rc;

	if ((rc = require_if_match(req, reply, &c.version)) != EM_OK)
		return rc;
	validate_object(body, wf->fields, wf->nfields, reply);
	c.to = json_string_value(json_object_get(body, "to"));
	if (wf->check)
		wf->check(body, c.to, reply);
	if (reply->errors)
		return reply_fail(reply, EM_EINVAL, "the transition is not valid");
	return db_tx(req->db, transition_tx, &c);
}
