/*
 * http.h — what a handler sees of a request and how it answers. Handlers
 * never touch libmicrohttpd: they read struct em_req, fill struct em_reply
 * and return an em_err; src/http/server.c does the rest.
 */
#ifndef EFFMON_HTTP_H
#define EFFMON_HTTP_H

#include <jansson.h>

#include "effmon/config.h"
#include "effmon/effmon.h"

struct db_conn;

#define EM_MAX_ARGS 4
#define EM_MAX_REPLY_HEADERS 8

/* The authenticated caller; role EM_ROLE_NONE for a public route. The scope
 * is the effective one: a head's municipality and region are filled in. */
struct em_caller {
	int64_t user_id;
	enum em_role role;
	int64_t region_id; /* 0: none */
	int64_t municipality_id;
	int64_t organization_id;
	int64_t manager_id;
};

/* Values captured from {id} segments, in order. */
struct em_args {
	int64_t id[EM_MAX_ARGS];
	int n;
};

enum em_value_kind { EM_HEADER, EM_QUERY };

struct em_req {
	const char *method; /* GET for HEAD requests */
	const char *path;
	const struct em_route *route;
	const char *request_id;
	const char *client_ip;
	struct em_caller caller;
	struct db_conn *db; /* this worker's connection */
	const struct em_config *cfg;
	/* Raw body, for routes that take something other than JSON. */
	const char *body;
	size_t body_len;
	/* Header or query lookup; NULL when absent. */
	const char *(*lookup)(void *ctx, enum em_value_kind kind, const char *name);
	void *lookup_ctx;
};

struct em_header {
	char name[40];
	char value[256];
};

struct em_reply {
	unsigned status; /* 0: 200, or the error's status */
	json_t *json;    /* owned: the body as JSON */
	char *text;      /* owned: a non-JSON body */
	size_t text_len;
	const char *text_static; /* a body not to be freed */
	const char *content_type;
	struct em_header headers[EM_MAX_REPLY_HEADERS];
	int nheaders;
	char detail[512];  /* the problem's detail on failure */
	json_t *errors;    /* owned: [{field, message}] on validation failure */
	long retry_after;  /* seconds, for 429 and 503 */
	const char *allow; /* for 405 */
};

typedef enum em_err (*em_handler)(struct em_req *req, const struct em_args *args, json_t *body,
				  struct em_reply *reply);

static inline const char *req_header(const struct em_req *req, const char *name)
{
	return req->lookup ? req->lookup(req->lookup_ctx, EM_HEADER, name) : NULL;
}

static inline const char *req_query(const struct em_req *req, const char *name)
{
	return req->lookup ? req->lookup(req->lookup_ctx, EM_QUERY, name) : NULL;
}

/* reply.c */
void reply_init(struct em_reply *r);
void reply_clear(struct em_reply *r);
void reply_json(struct em_reply *r, unsigned status, json_t *json); /* steals json */
void reply_text(struct em_reply *r, unsigned status, const char *content_type, const char *text,
		size_t len); /* static text */
/* JSON text as the body: a copy of json, or text itself (owned: the reply frees it, also on
 * failure); EM_EINTERNAL when json is NULL or the copy fails. */
enum em_err reply_json_copy(struct em_reply *r, unsigned status, const char *json);
enum em_err reply_json_owned(struct em_reply *r, unsigned status, char *text);
void reply_header(struct em_reply *r, const char *name, const char *value);
/* The value of a header the reply has set, or NULL. */
const char *reply_header_get(const struct em_reply *r, const char *name);
enum em_err reply_fail(struct em_reply *r, enum em_err err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
enum em_err reply_field_error(struct em_reply *r, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
unsigned err_status(enum em_err err);
/* The problem+json document of a failed reply; new reference. */
json_t *reply_problem(const struct em_reply *r, enum em_err err, const char *request_id);

#endif
