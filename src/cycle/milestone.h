/*
 * milestone.h — what milestones.c, milestone_fields.c and milestone_participants.c
 * share (private to src/cycle/): the scope of a milestone's roadmap, the
 * milestone's lock, and the check of a milestone body.
 */
#ifndef EFFMON_MILESTONE_H
#define EFFMON_MILESTONE_H

#include <stdbool.h>

#include "effmon/cycle.h"

/* clang-format off */
#define MS_SCOPE(r) SQL_SCOPE(r ".region_id", r ".municipality_id", r ".organization_id")
/* clang-format on */

/* The columns of milestone_lock's row. */
enum {
	L_VERSION,
	L_STATUS,
	L_ROW,
	L_LEVEL,
	L_ORG,
	L_FROM,
	L_TO,
	L_DUE_TEXT,
	L_DUE_ON,
	L_RECURRENCE,
	L_ROADMAP
};

/* Locks a visible milestone (with its roadmap's level and scope); 404 when it is not. */
enum em_err milestone_lock(struct em_req *req, int64_t id, PGresult **out, struct em_reply *reply);

/* The field errors of a milestone body (creating: the required fields too). */
void ms_validate(const json_t *body, bool creating, struct em_reply *reply);

#endif
