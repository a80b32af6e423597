/*
 * analysis.h — what the analysis handlers of src/analysis/ share (private to
 * the folder): a list answer carrying what it was computed with, and the
 * weak ETag of an answer computed on every request.
 */
#ifndef EFFMON_ANALYSIS_H
#define EFFMON_ANALYSIS_H

#include "effmon/resource.h"

/* list_reply of rows (json, id, key) with the members of the JSON object obj
 * after the page's; EM_EINTERNAL when obj is not an object. */
enum em_err analysis_list_reply(struct em_reply *reply, PGresult *rows,
				const struct list_page *page, const char *obj);

/*
 * Sets etag (a weak ETag over the answer in reply) with Cache-Control and
 * Vary: Authorization; a matching If-None-Match turns the reply into a 304
 * without its body. It saves sending the answer, not computing it.
 */
void analysis_etag_reply(struct em_req *req, struct em_reply *reply, const char *etag);

#endif
