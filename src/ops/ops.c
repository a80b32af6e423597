/*
 * ops.c — /healthz (the process answers), /readyz (the database answers and
 * every embedded migration is applied), /metrics, and the OpenAPI document
 * compiled into the binary with its reference page (/docs).
 */
#include "effmon/conditional.h"
#include "effmon/ops.h"

#include <stdlib.h>
#include <string.h>

#include "effmon/db.h"
#include "effmon/embedded.h"
#include "effmon/metrics.h"
#include "effmon/migrate.h"
#include "effmon/replica.h"

enum em_err ops_healthz(struct em_req *req, const struct em_args *args, json_t *body,
			struct em_reply *reply)
{
	(void)req;
	(void)args;
	(void)body;
	reply_json(reply, 200, json_pack("{s:s}", "status", "ok"));
	reply_header(reply, "Cache-Control", "no-store");
	return EM_OK;
}

/* The read replica as this thread's connection sees it: reads go to the
 * primary while it is down or lagging, so it never makes /readyz fail. */
static json_t *read_replica_json(void)
{
	double lag;
	enum replica_state st;

	if (!db_read_configured())
		return json_pack("{s:b}", "configured", 0);
	st = replica_probe(&lag);
	return json_pack("{s:b, s:s, s:o}", "configured", 1, "state", replica_state_name(st),
			 "lag_seconds", lag >= 0 ? json_real(lag) : json_null());
}

enum em_err ops_readyz(struct em_req *req, const struct em_args *args, json_t *body,
		       struct em_reply *reply)
{
	int applied = 0;
	bool functions = false;
	enum em_err rc;

	(void)args;
	(void)body;
	reply_header(reply, "Cache-Control", "no-store");
	reply->retry_after = 1;
	if (db_ensure(req->db) != EM_OK)
		return reply_fail(reply, EM_EUNAVAILABLE, "the database is unreachable");
	rc = migrate_check(req->db, &applied, &functions);
	if (rc == EM_OK) {
		reply->retry_after = 0;
		reply_json(reply, 200,
			   json_pack("{s:s, s:i, s:o}", "status", "ready", "schema_version",
				     applied, "read_replica", read_replica_json()));
		return EM_OK;
	}
	if (rc == EM_EUNAVAILABLE && applied == 0 && db_ensure(req->db) != EM_OK)
		return reply_fail(reply, EM_EUNAVAILABLE, "the database is unreachable");
	if (applied == migrate_latest() && !functions)
		return reply_fail(reply, EM_EUNAVAILABLE,
				  "the schema is not current (the SQL functions of sql/ differ "
				  "from this binary's): run effmond migrate");
	return reply_fail(reply, EM_EUNAVAILABLE,
			  "the schema is not current (applied %d of %d migrations): run "
			  "effmond migrate",
			  applied, migrate_latest());
}

enum em_err ops_metrics(struct em_req *req, const struct em_args *args, json_t *body,
			struct em_reply *reply)
{
	char *text = NULL;
	size_t len = 0;

	(void)req;
	(void)args;
	(void)body;
	if (metrics_render(&text, &len) != 0) {
		free(text);
		return EM_EINTERNAL;
	}
	reply->status = 200;
	reply->text = text;
	reply->text_len = len;
	reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
	reply_header(reply, "Cache-Control", "no-store");
	return EM_OK;
}

enum em_err ops_openapi(struct em_req *req, const struct em_args *args, json_t *body,
			struct em_reply *reply)
{
	(void)req;
	(void)args;
	(void)body;
	reply_text(reply, 200, "application/yaml; charset=utf-8", EM_OPENAPI, EM_OPENAPI_LEN);
	return EM_OK;
}

enum em_err ops_docs(struct em_req *req, const struct em_args *args, json_t *body,
		     struct em_reply *reply)
{
	const char *inm = req_header(req, "If-None-Match");

	(void)args;
	(void)body;
	reply_header(reply, "ETag", EM_DOCS_ETAG);
	/* Public and changed only by a new binary: caches keep it an hour, then ask. */
	reply_header(reply, "Cache-Control", "public, max-age=3600");
	reply_header(reply, "Content-Security-Policy", EM_DOCS_CSP);
	reply_header(reply, "X-Content-Type-Options", "nosniff");
	reply_header(reply, "Referrer-Policy", "no-referrer");
	if (inm && etag_list_match(inm, EM_DOCS_ETAG, false) == ETAG_MATCHES) {
		reply->status = 304;
		return EM_OK;
	}
	reply_text(reply, 200, "text/html; charset=utf-8", EM_DOCS_HTML, EM_DOCS_HTML_LEN);
	return EM_OK;
}
