/*
 * ops.h — the operational endpoints outside /api/v1 and the OpenAPI document.
 */
#ifndef EFFMON_OPS_H
#define EFFMON_OPS_H

#include "effmon/http.h"

enum em_err ops_healthz(struct em_req *req, const struct em_args *args, json_t *body,
			struct em_reply *reply);
enum em_err ops_readyz(struct em_req *req, const struct em_args *args, json_t *body,
		       struct em_reply *reply);
enum em_err ops_metrics(struct em_req *req, const struct em_args *args, json_t *body,
			struct em_reply *reply);
enum em_err ops_openapi(struct em_req *req, const struct em_args *args, json_t *body,
			struct em_reply *reply);
/* GET /docs: the API reference page built from the OpenAPI document at build
 * time, with its ETag (304 on If-None-Match) and Content-Security-Policy. */
enum em_err ops_docs(struct em_req *req, const struct em_args *args, json_t *body,
		     struct em_reply *reply);

#endif
