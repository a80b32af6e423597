/*
 * test_workflow.c — the moves table of a workflow descriptor without a
 * database: the move found, the 409 naming the allowed moves (final and
 * unknown states), and the 403 naming who may, by roles or by a hook.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/workflow.h"

/* A reserve-like table: two ways out of most states, one final state. */
static const char *const R_STATES[] = {"nominated", "training", "appointed", "excluded", NULL};
static const struct wf_move R_MOVES[] = {
	{"nominated", "training"},
	{"nominated", "excluded"},
	{"training", "excluded"},
	{"appointed", "excluded"},
};
static const struct workflow R_FLOW = {
	.entity = "reserve candidate",
	.states = R_STATES,
	.moves = R_MOVES,
	.nmoves = sizeof(R_MOVES) / sizeof(R_MOVES[0]),
};

/* A submission-like table: who may differs by move. */
static const char *const S_STATES[] = {"draft", "submitted", "verified", "approved", NULL};
static const struct wf_move S_MOVES[] = {
	{"draft", "submitted", EM_ROLE_HEAD | EM_ROLE_ADMIN, NULL,
	 "the head of the organization (or an admin) submits"},
	{"submitted", "verified", EM_ROLE_MUNICIPAL | EM_ROLE_ADMIN, NULL,
	 "a municipal operator (or an admin) verifies"},
	{"verified", "approved", EM_ROLE_REGIONAL | EM_ROLE_ADMIN, NULL,
	 "a regional operator (or an admin) approves"},
};
static const struct workflow S_FLOW = {
	.entity = "submission",
	.object = "a submission",
	.states = S_STATES,
	.moves = S_MOVES,
	.nmoves = sizeof(S_MOVES) / sizeof(S_MOVES[0]),
};

static const char *conflict(const struct workflow *wf, const char *from, const char *to,
			    struct em_reply *r)
{
	reply_init(r);
	ck_assert_ptr_null(workflow_find_move(wf, from, to, r));
	return r->detail;
}

START_TEST(finds_the_move)
{
	struct em_reply r;
	const struct wf_move *m;

	reply_init(&r);
	m = workflow_find_move(&R_FLOW, "nominated", "excluded", &r);
	ck_assert_ptr_eq(m, &R_MOVES[1]);
	ck_assert_str_eq(r.detail, "");
	reply_clear(&r);
}
END_TEST

START_TEST(names_the_allowed_moves)
{
	struct em_reply r;

	ck_assert_str_eq(conflict(&R_FLOW, "nominated", "appointed", &r),
			 "from nominated: allowed training, excluded");
	reply_clear(&r);
	ck_assert_str_eq(conflict(&R_FLOW, "appointed", "training", &r),
			 "from appointed: allowed excluded");
	reply_clear(&r);
	ck_assert_str_eq(conflict(&S_FLOW, "draft", "approved", &r),
			 "from draft: allowed submitted");
	reply_clear(&r);
}
END_TEST

START_TEST(final_and_unknown_states)
{
	struct em_reply r;

	ck_assert_str_eq(conflict(&R_FLOW, "excluded", "training", &r),
			 "from excluded: no transition is allowed (excluded is final)");
	reply_clear(&r);
	ck_assert_str_eq(conflict(&S_FLOW, "approved", "draft", &r),
			 "from approved: no transition is allowed (approved is final)");
	reply_clear(&r);
	ck_assert_str_eq(conflict(&R_FLOW, "retired", "training", &r),
			 "from retired: no transition is known");
	reply_clear(&r);
}
END_TEST

static enum em_err role_check(const struct workflow *wf, const struct wf_move *m, enum em_role role,
			      struct em_reply *r)
{
	struct em_req req;
	struct wf_ctx c = {.req = &req, .wf = wf, .from = m->from, .to = m->to, .reply = r};

	memset(&req, 0, sizeof(req));
	req.caller.role = role;
	reply_init(r);
	return workflow_check_role(&c, m);
}

START_TEST(says_who_may)
{
	struct em_reply r;

	ck_assert_int_eq(role_check(&S_FLOW, &S_MOVES[1], EM_ROLE_HEAD, &r), EM_EFORBIDDEN);
	ck_assert_str_eq(r.detail,
			 "a head may not move a submission from submitted to verified: "
			 "a municipal operator (or an admin) verifies");
	reply_clear(&r);
	ck_assert_int_eq(role_check(&S_FLOW, &S_MOVES[2], EM_ROLE_MUNICIPAL, &r), EM_EFORBIDDEN);
	ck_assert_str_eq(r.detail,
			 "a municipal_operator may not move a submission from verified "
			 "to approved: a regional operator (or an admin) approves");
	reply_clear(&r);
	ck_assert_int_eq(role_check(&S_FLOW, &S_MOVES[1], EM_ROLE_MUNICIPAL, &r), EM_OK);
	ck_assert_int_eq(role_check(&S_FLOW, &S_MOVES[0], EM_ROLE_ADMIN, &r), EM_OK);
	ck_assert_str_eq(r.detail, "");
	reply_clear(&r);
}
END_TEST

static bool only_admins(const struct wf_ctx *c)
{
	return c->req->caller.role == EM_ROLE_ADMIN;
}

static const struct wf_move H_MOVES[] = {
	{"reported", "accepted", EM_ROLE_HEAD, only_admins, "the issuing side"},
};
static const struct workflow H_FLOW = {
	.entity = "recommendation",
	.object = "this recommendation",
	.states = S_STATES,
	.moves = H_MOVES,
	.nmoves = 1,
};

START_TEST(a_hook_decides_over_roles)
{
	struct em_reply r;

	ck_assert_int_eq(role_check(&H_FLOW, &H_MOVES[0], EM_ROLE_HEAD, &r), EM_EFORBIDDEN);
	ck_assert_str_eq(r.detail,
			 "a head may not move this recommendation from reported to "
			 "accepted: the issuing side");
	reply_clear(&r);
	ck_assert_int_eq(role_check(&H_FLOW, &H_MOVES[0], EM_ROLE_ADMIN, &r), EM_OK);
	reply_clear(&r);
}
END_TEST

START_TEST(no_roles_means_the_route_decides)
{
	struct em_reply r;

	ck_assert_int_eq(role_check(&R_FLOW, &R_MOVES[0], EM_ROLE_EXPERT, &r), EM_OK);
	ck_assert_str_eq(r.detail, "");
	reply_clear(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("workflow");
	TCase *tc = tcase_create("moves");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, finds_the_move);
	tcase_add_test(tc, names_the_allowed_moves);
	tcase_add_test(tc, final_and_unknown_states);
	tcase_add_test(tc, says_who_may);
	tcase_add_test(tc, a_hook_decides_over_roles);
	tcase_add_test(tc, no_roles_means_the_route_decides);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
