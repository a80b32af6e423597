/*
 * idempotency.c — Idempotency-Key for the POSTs that create: the key, per user,
 * claimed inside the write's transaction (a concurrent request with it waits for
 * that one, then replays), the answer kept for 24 hours with a hash of the
 * request (method, path, body and what else selects the answer), replayed for
 * the same request, 422 for another one.
 */
#include "effmon/resource.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/log.h"

#define IDEM_KEY_MAX 200

DB_STMT(IDEM_CLAIM) = {
	"idem_claim",
	"INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1::bigint, $2, $3) "
	"ON CONFLICT DO NOTHING",
	3};
DB_STMT(IDEM_GET) = {"idem_get",
		     "SELECT request_hash, status, body, location, etag FROM idempotency_keys "
		     "WHERE user_id = $1::bigint AND key = $2",
		     2};
DB_STMT(IDEM_SAVE) = {
	"idem_save",
	"UPDATE idempotency_keys SET status = $3::int, body = $4, location = $5, etag = $6 "
	"WHERE user_id = $1::bigint AND key = $2",
	6};
DB_STMT(IDEM_PURGE) = {
	"idem_purge", "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'",
	0};

static bool idem_key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > IDEM_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (k[i] < 0x21 || k[i] > 0x7e)
			return false;
	return true;
}

/* Claims the key for this request hash, or replays the answer it keeps. */
static enum em_err idem_claim(struct em_req *req, struct idem *idem, struct em_reply *reply)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	db_args_init(&a);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, idem->key);
	db_arg_text(&a, idem->hash);
	if ((rc = db_exec_args(req->db, &IDEM_CLAIM, &a, &res)) != EM_OK)
		return rc;
	bool claimed = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	if (claimed) {
		if (randombytes_uniform(100) == 0 &&
		    db_exec(req->db, &IDEM_PURGE, NULL, &res) == EM_OK)
			PQclear(res);
		return EM_OK;
	}
	db_args_init(&a);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, idem->key);
	if ((rc = db_exec_args(req->db, &IDEM_GET, &a, &res)) != EM_OK)
		return rc;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 1)) {
		PQclear(res);
		return reply_fail(reply, EM_ECONFLICT,
				  "a request with this Idempotency-Key is still in progress");
	}
	if (strcmp(PQgetvalue(res, 0, 0), idem->hash) != 0) {
		PQclear(res);
		return reply_fail(reply, EM_EUNPROCESSABLE,
				  "this Idempotency-Key was used with a different request");
	}
	reply->status = (unsigned)atoi(PQgetvalue(res, 0, 1));
	reply->text = strdup(PQgetvalue(res, 0, 2));
	reply->text_len = strlen(reply->text ? reply->text : "");
	reply->content_type = "application/json";
	if (!PQgetisnull(res, 0, 3))
		reply_header(reply, "Location", PQgetvalue(res, 0, 3));
	if (!PQgetisnull(res, 0, 4))
		reply_header(reply, "ETag", PQgetvalue(res, 0, 4));
	reply_header(reply, "Idempotent-Replayed", "true");
	PQclear(res);
	idem->replayed = true;
	return EM_OK;
}

/* Reads and checks the header; false when there is none or it is malformed. */
static bool idem_key(struct em_req *req, struct idem *idem, struct em_reply *reply, enum em_err *rc)
{
	idem->replayed = false;
	idem->key = req_header(req, "Idempotency-Key");
	*rc = EM_OK;
	if (!idem->key)
		return false;
	if (!idem_key_ok(idem->key)) {
		*rc = reply_fail(reply, EM_EBADREQ,
				 "Idempotency-Key must be 1-200 visible ASCII characters");
		return false;
	}
	return true;
}

enum em_err idem_begin(struct em_req *req, json_t *body, struct idem *idem, struct em_reply *reply)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	enum em_err rc;
	char *canon;

	if (!idem_key(req, idem, reply, &rc))
		return rc;
	canon = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : strdup("");
	if (!canon)
		return EM_EINTERNAL;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)req->method, strlen(req->method) + 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)req->path, strlen(req->path) + 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)canon, strlen(canon));
	crypto_hash_sha256_final(&st, h);
	free(canon);
	sodium_bin2hex(idem->hash, sizeof(idem->hash), h, sizeof(h));
	return idem_claim(req, idem, reply);
}

enum em_err idem_begin_raw(struct em_req *req, const char *variant, const void *body, size_t len,
			   struct idem *idem, struct em_reply *reply)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	enum em_err rc;

	if (!idem_key(req, idem, reply, &rc))
		return rc;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)req->method, strlen(req->method) + 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)req->path, strlen(req->path) + 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)variant, strlen(variant) + 1);
	crypto_hash_sha256_update(&st, body, len);
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(idem->hash, sizeof(idem->hash), h, sizeof(h));
	return idem_claim(req, idem, reply);
}

enum em_err idem_finish(struct em_req *req, const struct idem *idem, const struct em_reply *reply)
{
	struct db_args a;
	PGresult *res;
	enum em_err rc;

	if (!idem->key || idem->replayed)
		return EM_OK;
	db_args_init(&a);
	db_arg_i64(&a, req->caller.user_id);
	db_arg_text(&a, idem->key);
	db_arg_i64(&a, reply->status);
	db_arg_text(&a, reply->text ? reply->text : "");
	db_arg_text(&a, reply_header_get(reply, "Location"));
	db_arg_text(&a, reply_header_get(reply, "ETag"));
	if ((rc = db_exec_args(req->db, &IDEM_SAVE, &a, &res)) != EM_OK)
		return rc;
	PQclear(res);
	return EM_OK;
}
