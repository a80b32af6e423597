/*
 * warnings.h — early warnings about heads (src/analysis/warnings.c): a total
 * or a direction score falling two campaigns running, a total below a
 * threshold, incomplete data; and recommendation drafts made from them
 * (src/analysis/warning_drafts.c). The warnings themselves are computed by
 * em_warnings() (sql/40_analysis.sql), shared with the cycle report.
 */
#ifndef EFFMON_WARNINGS_H
#define EFFMON_WARNINGS_H

#include "effmon/resource.h"

/* The warning types, in their order of listing; NULL-terminated. */
extern const char *const WARNING_TYPES[];

/*
 * Parses a list of warning types ("a,b" in a query, or a JSON array of
 * strings) into a PostgreSQL text array literal ("{a,b}") in out; errors go to
 * reply->errors under field. A NULL/absent input leaves out "" (all types).
 */
void warning_types_query(const char *csv, const char *field, char *out, size_t outlen,
			 struct em_reply *reply);
void warning_types_json(const json_t *arr, const char *field, char *out, size_t outlen,
			struct em_reply *reply);

/* GET /campaigns/{id}/warnings. */
enum em_err campaign_warnings_list(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply);

/*
 * POST /campaigns/{id}/recommendation-drafts with "from": "warnings": body is
 * the parsed object (only read), text its JSON text. Called by
 * recommendations_drafts() once it has parsed the body.
 */
enum em_err warning_drafts(struct em_req *req, int64_t campaign, json_t *body, const char *text,
			   struct em_reply *reply);

#endif
