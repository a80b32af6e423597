/*
 * submission.h — what submissions.c and submission_values.c share (private to
 * src/monitoring/): the scope of a submission row, the columns of its lock, and
 * the lock and answer every write of a submission uses.
 */
#ifndef EFFMON_SUBMISSION_H
#define EFFMON_SUBMISSION_H

#include <stdbool.h>
#include <stdint.h>

#include "effmon/monitoring.h"

#define MAX_VALUES 500
#define MAX_TEXT 2000

/* clang-format off */
#define SUB_SCOPE(s) SQL_SCOPE(s ".region_id", s ".municipality_id", s ".organization_id")
/* clang-format on */

/* A value as the client wrote it: booleans are kept as 1/0 and answered as true/false. */
/* clang-format off */
#define SUB_VALUE(v, type)                                                                 \
	"CASE WHEN " type " = 'boolean' THEN to_jsonb(" v " <> 0) ELSE to_jsonb(" v ") END"
/* clang-format on */

/* The columns of submission_lock's row. */
enum { L_VERSION, L_STATUS, L_ROW, L_CAMPAIGN_STATUS, L_IN_WINDOW, L_KIND, L_CAMPAIGN, L_CLOSES };

/* Locks a visible submission and checks If-Match (404, 412; 409 once the campaign is
 * published); *lock is set on EM_OK. */
enum em_err submission_lock(struct em_req *req, int64_t id, long version, struct em_reply *reply,
			    PGresult **lock);

/* Rescores the submission if it changed, and answers it as GET would, with its ETag. */
enum em_err submission_reply_current(struct em_req *req, int64_t id, bool rescore,
				     struct em_reply *reply);

static inline bool submission_role_in(const struct em_req *req, unsigned roles)
{
	return (roles & (unsigned)req->caller.role) != 0;
}

#endif
