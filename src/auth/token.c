/*
 * token.c — issuing and verifying bearer JWTs. libjwt 1.10 trusts the
 * token's alg and checks no claims, so the algorithm is chosen here from
 * configuration, HS256 signatures are checked with libsodium in constant
 * time, and every claim is read through jansson with its type checked.
 */
#include <errno.h>
#include <jwt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "effmon/auth.h"
#include "effmon/log.h"

static struct {
	unsigned char *secret;
	size_t secret_len;
	char *public_key; /* external IdP, optional */
	size_t public_key_len;
	jwt_alg_t public_alg;
	const char *public_alg_name;
	char issuer[256];
	char audience[256];
} keys;

enum em_err auth_init(const struct em_config *cfg)
{
	if (!cfg->secret || cfg->secret_len < 32)
		return EM_EINVAL;
	keys.secret = cfg->secret;
	keys.secret_len = cfg->secret_len;
	if (cfg->public_key) {
		keys.public_key = cfg->public_key;
		keys.public_key_len = cfg->public_key_len;
		keys.public_alg_name = strcmp(cfg->jwt_alg, "ES256") == 0 ? "ES256" : "RS256";
		keys.public_alg = jwt_str_alg(keys.public_alg_name);
	}
	snprintf(keys.issuer, sizeof(keys.issuer), "%s", cfg->jwt_issuer);
	snprintf(keys.audience, sizeof(keys.audience), "%s", cfg->jwt_audience);
	return EM_OK;
}

void auth_shutdown(void)
{
	memset(&keys, 0, sizeof(keys));
}

enum em_err token_issue(const struct auth_user *u, long ttl, char **out)
{
	jwt_t *jwt = NULL;
	char sub[24], jti[33];
	unsigned char rnd[16];
	int64_t now = (int64_t)time(NULL);
	enum em_err rc = EM_EINTERNAL;
	char *s;

	snprintf(sub, sizeof(sub), "%lld", (long long)u->id);
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(jti, sizeof(jti), rnd, sizeof(rnd));
	if (jwt_new(&jwt) != 0)
		return EM_EINTERNAL;
	if (jwt_add_grant(jwt, "sub", sub) || jwt_add_grant(jwt, "role", em_role_name(u->role)) ||
	    jwt_add_grant(jwt, "iss", keys.issuer) || jwt_add_grant(jwt, "aud", keys.audience) ||
	    jwt_add_grant(jwt, "jti", jti) || jwt_add_grant_int(jwt, "iat", (long)now) ||
	    jwt_add_grant_int(jwt, "exp", (long)(now + ttl)))
		goto out;
	if (u->region_id && jwt_add_grant_int(jwt, "region_id", (long)u->region_id))
		goto out;
	if (u->municipality_id &&
	    jwt_add_grant_int(jwt, "municipality_id", (long)u->municipality_id))
		goto out;
	if (u->organization_id &&
	    jwt_add_grant_int(jwt, "organization_id", (long)u->organization_id))
		goto out;
	if (jwt_set_alg(jwt, JWT_ALG_HS256, keys.secret, (int)keys.secret_len))
		goto out;
	if (!(s = jwt_encode_str(jwt)))
		goto out;
	*out = s;
	rc = EM_OK;
out:
	jwt_free(jwt);
	return rc;
}

/* Decodes one base64url part into a JSON object (duplicates refused). */
static json_t *decode_part(const char *p, size_t len)
{
	unsigned char buf[AUTH_MAX_TOKEN];
	size_t n;

	if (sodium_base642bin(buf, sizeof(buf), p, len, NULL, &n, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return NULL;
	json_t *j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static bool hs256_ok(const char *token, size_t signed_len, const char *sig, size_t siglen)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES], given[64];
	crypto_auth_hmacsha256_state st;
	size_t n;

	if (sodium_base642bin(given, sizeof(given), sig, siglen, NULL, &n, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    n != sizeof(mac))
		return false;
	crypto_auth_hmacsha256_init(&st, keys.secret, keys.secret_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)token, signed_len);
	crypto_auth_hmacsha256_final(&st, mac);
	return sodium_memcmp(mac, given, sizeof(mac)) == 0;
}

/* Reads an optional positive integer id claim; false if present with another type. */
static bool claim_id(json_t *claims, const char *name, int64_t *out)
{
	json_t *v = json_object_get(claims, name);
	*out = 0;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return false;
	*out = json_integer_value(v);
	return true;
}

static bool aud_ok(json_t *aud)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), keys.audience) == 0;
	if (!json_is_array(aud))
		return false;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), keys.audience) == 0)
			return true;
	return false;
}

static enum em_err check_claims(json_t *c, int64_t now, struct auth_claims *out, const char **why)
{
	json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf");
	json_t *iat = json_object_get(c, "iat"), *iss = json_object_get(c, "iss");
	json_t *sub = json_object_get(c, "sub"), *role = json_object_get(c, "role");
	const char *s;
	char *end;
	long long id;

	if (!json_is_integer(exp))
		return *why = "exp missing or not an integer", EM_EUNAUTH;
	if (json_integer_value(exp) + AUTH_LEEWAY_S < now)
		return *why = "expired", EM_EUNAUTH;
	if (nbf && !json_is_integer(nbf))
		return *why = "nbf not an integer", EM_EUNAUTH;
	if (nbf && json_integer_value(nbf) > now + AUTH_LEEWAY_S)
		return *why = "not yet valid (nbf)", EM_EUNAUTH;
	if (!json_is_integer(iat))
		return *why = "iat missing or not an integer", EM_EUNAUTH;
	if (json_integer_value(iat) > now + AUTH_LEEWAY_S)
		return *why = "issued in the future (iat)", EM_EUNAUTH;
	if (!json_is_string(iss) || strcmp(json_string_value(iss), keys.issuer) != 0)
		return *why = "wrong issuer", EM_EUNAUTH;
	if (!aud_ok(json_object_get(c, "aud")))
		return *why = "wrong audience", EM_EUNAUTH;
	if (!json_is_string(sub))
		return *why = "sub missing or not a string", EM_EUNAUTH;
	s = json_string_value(sub);
	errno = 0;
	id = strtoll(s, &end, 10);
	if (errno || end == s || *end || id <= 0 || s[0] < '1' || s[0] > '9')
		return *why = "sub is not a user id", EM_EUNAUTH;
	if (!json_is_string(role) || em_role_parse(json_string_value(role)) == EM_ROLE_NONE)
		return *why = "role missing or unknown", EM_EUNAUTH;
	if (!claim_id(c, "region_id", &out->region_id) ||
	    !claim_id(c, "municipality_id", &out->municipality_id) ||
	    !claim_id(c, "organization_id", &out->organization_id))
		return *why = "scope claim of the wrong type", EM_EUNAUTH;
	out->user_id = id;
	out->role = em_role_parse(json_string_value(role));
	out->exp = json_integer_value(exp);
	return EM_OK;
}

/* Verifies an external IdP token through libjwt, then pins its algorithm. */
static bool public_ok(const char *token)
{
	jwt_t *jwt = NULL;
	bool ok;

	if (jwt_decode(&jwt, token, (const unsigned char *)keys.public_key,
		       (int)keys.public_key_len) != 0)
		return false;
	ok = jwt_get_alg(jwt) == keys.public_alg;
	jwt_free(jwt);
	return ok;
}

enum em_err token_verify(const char *token, int64_t now, struct auth_claims *out, const char **why)
{
	size_t len = strlen(token);
	const char *dot1, *dot2;
	json_t *header = NULL, *claims = NULL;
	const char *alg;
	enum em_err rc = EM_EUNAUTH;
	bool sig_ok;

	*why = "malformed token";
	if (len == 0 || len > AUTH_MAX_TOKEN)
		return EM_EUNAUTH;
	for (size_t i = 0; i < len; i++) {
		char ch = token[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return EM_EUNAUTH;
	}
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (!dot1 || !dot2 || strchr(dot2 + 1, '.'))
		return EM_EUNAUTH;
	if (!(header = decode_part(token, (size_t)(dot1 - token))))
		goto out;
	alg = json_string_value(json_object_get(header, "alg"));
	if (!alg) {
		*why = "no alg";
		goto out;
	}
	if (strcmp(alg, "HS256") == 0) {
		sig_ok = hs256_ok(token, (size_t)(dot2 - token), dot2 + 1, strlen(dot2 + 1));
	} else if (keys.public_key && strcmp(alg, keys.public_alg_name) == 0) {
		sig_ok = public_ok(token);
	} else {
		*why = "algorithm not allowed";
		goto out;
	}
	if (!sig_ok) {
		*why = "bad signature";
		goto out;
	}
	*why = "malformed claims";
	if (!(claims = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1))))
		goto out;
	rc = check_claims(claims, now, out, why);
out:
	json_decref(header);
	json_decref(claims);
	return rc;
}

enum em_err auth_bearer_verify(const char *authorization, int64_t now, struct auth_claims *out,
			       const char **why)
{
	if (!authorization) {
		*why = "no bearer token";
		return EM_EUNAUTH;
	}
	if (strncasecmp(authorization, "Bearer ", 7) != 0) {
		*why = "not a bearer token";
		return EM_EUNAUTH;
	}
	authorization += 7;
	while (*authorization == ' ')
		authorization++;
	return token_verify(authorization, now, out, why);
}
