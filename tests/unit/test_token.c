/*
 * test_token.c — claim checks without a network: tokens are signed here
 * with libsodium's HMAC (an implementation independent of the one issuing
 * them) and fed to token_verify with a fixed clock.
 */
#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "effmon/auth.h"

static const char SECRET[] = "0123456789abcdef0123456789abcdef-test";
static const int64_t NOW = 1800000000;

static void b64(const char *in, size_t len, char *out, size_t outlen)
{
	sodium_bin2base64(out, outlen, (const unsigned char *)in, len,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Makes header.payload.signature; sign_with NULL leaves the signature empty. */
static char *make(const char *header, const char *payload, const char *sign_with)
{
	static char tok[4096];
	char h[1024], p[2048], sig[128];
	unsigned char mac[32];
	crypto_auth_hmacsha256_state st;

	b64(header, strlen(header), h, sizeof(h));
	b64(payload, strlen(payload), p, sizeof(p));
	snprintf(tok, sizeof(tok), "%s.%s", h, p);
	if (sign_with) {
		crypto_auth_hmacsha256_init(&st, (const unsigned char *)sign_with,
					    strlen(sign_with));
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, strlen(tok));
		crypto_auth_hmacsha256_final(&st, mac);
		b64((const char *)mac, 32, sig, sizeof(sig));
	} else {
		sig[0] = '\0';
	}
	strcat(tok, ".");
	strcat(tok, sig);
	return tok;
}

static const char *HS256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static char *claims(const char *extra)
{
	static char buf[1024];
	snprintf(
		buf, sizeof(buf),
		"{\"sub\":\"7\",\"role\":\"regional_operator\",\"region_id\":66,\"iss\":\"effmon\","
		"\"aud\":\"effmon\",\"iat\":%lld,\"exp\":%lld%s}",
		(long long)NOW - 10, (long long)NOW + 600, extra);
	return buf;
}

static enum em_err verify(const char *tok, const char **why)
{
	struct auth_claims c;
	return token_verify(tok, NOW, &c, why);
}

static void setup(void)
{
	struct em_config cfg = {0};
	ck_assert_int_ge(sodium_init(), 0);
	cfg.secret = (unsigned char *)SECRET;
	cfg.secret_len = strlen(SECRET);
	cfg.jwt_issuer = "effmon";
	cfg.jwt_audience = "effmon";
	ck_assert_int_eq(auth_init(&cfg), EM_OK);
}

START_TEST(valid_token)
{
	struct auth_claims c;
	const char *why;
	ck_assert_int_eq(token_verify(make(HS256, claims(""), SECRET), NOW, &c, &why), EM_OK);
	ck_assert_int_eq(c.user_id, 7);
	ck_assert_int_eq(c.role, EM_ROLE_REGIONAL);
	ck_assert_int_eq(c.region_id, 66);
	ck_assert_int_eq(c.municipality_id, 0);
}
END_TEST

START_TEST(refused_tokens)
{
	const char *why;
	char buf[1024];
	const struct {
		const char *header, *payload, *key, *expect;
	} cases[] = {
		{"{\"alg\":\"none\"}", claims(""), NULL, "algorithm"},
		{"{\"alg\":\"HS512\"}", claims(""), SECRET, "algorithm"},
		{"{\"alg\":\"HS384\"}", claims(""), SECRET, "algorithm"},
		{"{\"typ\":\"JWT\"}", claims(""), SECRET, "alg"},
		{HS256, claims(""), "another-secret-of-32-bytes-or-more!!", "signature"},
		{HS256, claims(""), NULL, "signature"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].payload);
		ck_assert_int_eq(verify(make(cases[i].header, buf, cases[i].key), &why),
				 EM_EUNAUTH);
		ck_assert_msg(strstr(why, cases[i].expect), "case %zu: %s", i, why);
	}
}
END_TEST

START_TEST(claims_checked_with_types)
{
	const char *why;
	char payload[1024];
	const struct {
		const char *payload;
		const char *expect;
	} cases[] = {
		{"{\"sub\":\"7\",\"role\":\"admin\",\"iss\":\"effmon\",\"aud\":\"effmon\","
		 "\"iat\":1800000000,\"exp\":\"1800000600\"}",
		 "exp"},
		{"{\"sub\":\"7\",\"role\":\"admin\",\"iss\":\"effmon\",\"aud\":\"effmon\","
		 "\"iat\":1799999000,\"exp\":1799999960}",
		 "expired"},
		{"{\"sub\":\"7\",\"role\":\"admin\",\"iss\":\"effmon\",\"aud\":\"effmon\","
		 "\"iat\":1800000000,\"exp\":1800000600,\"nbf\":1800000100}",
		 "nbf"},
		{"{\"sub\":\"7\",\"role\":\"admin\",\"iss\":\"effmon\",\"aud\":\"effmon\","
		 "\"iat\":1800000100,\"exp\":1800000600}",
		 "iat"},
		{"{\"sub\":\"7\",\"role\":\"admin\",\"iss\":\"other\",\"aud\":\"effmon\","
		 "\"iat\":1800000000,\"exp\":1800000600}",
		 "issuer"},
		{"{\"sub\":\"7\",\"role\":\"admin\",\"iss\":\"effmon\",\"aud\":[\"x\"],"
		 "\"iat\":1800000000,\"exp\":1800000600}",
		 "audience"},
		{"{\"sub\":7,\"role\":\"admin\",\"iss\":\"effmon\",\"aud\":\"effmon\","
		 "\"iat\":1800000000,\"exp\":1800000600}",
		 "sub"},
		{"{\"sub\":\"07\",\"role\":\"admin\",\"iss\":\"effmon\",\"aud\":\"effmon\","
		 "\"iat\":1800000000,\"exp\":1800000600}",
		 "sub"},
		{"{\"sub\":\" 7\",\"role\":\"admin\",\"iss\":\"effmon\",\"aud\":\"effmon\","
		 "\"iat\":1800000000,\"exp\":1800000600}",
		 "sub"},
		{"{\"sub\":\"7\",\"role\":\"root\",\"iss\":\"effmon\",\"aud\":\"effmon\","
		 "\"iat\":1800000000,\"exp\":1800000600}",
		 "role"},
		{"{\"sub\":\"7\",\"role\":\"head\",\"organization_id\":\"5\",\"iss\":\"effmon\","
		 "\"aud\":\"effmon\",\"iat\":1800000000,\"exp\":1800000600}",
		 "scope"},
		{"{\"sub\":\"7\",\"sub\":\"8\",\"role\":\"admin\",\"iss\":\"effmon\",\"aud\":"
		 "\"effmon\",\"iat\":1800000000,\"exp\":1800000600}",
		 "claims"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(payload, sizeof(payload), "%s", cases[i].payload);
		ck_assert_int_eq(verify(make(HS256, payload, SECRET), &why), EM_EUNAUTH);
		ck_assert_msg(strstr(why, cases[i].expect), "case %zu: %s", i, why);
	}
}
END_TEST

START_TEST(leeway_and_audience_list)
{
	const char *why;
	char payload[512];
	/* Expired 20 s ago: inside the 30 s leeway. */
	snprintf(payload, sizeof(payload),
		 "{\"sub\":\"1\",\"role\":\"admin\",\"iss\":\"effmon\",\"aud\":[\"x\",\"effmon\"],"
		 "\"iat\":%lld,\"exp\":%lld}",
		 (long long)NOW - 100, (long long)NOW - 20);
	ck_assert_int_eq(verify(make(HS256, payload, SECRET), &why), EM_OK);
}
END_TEST

START_TEST(malformed)
{
	const char *why;
	const char *cases[] = {"",     "abc",  "a.b",  "a.b.c.d",
			       "a..c", "....", "a.b.", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.%%%"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_int_eq(verify(cases[i], &why), EM_EUNAUTH);
	/* A tampered payload: the header and signature of one token around the
	 * payload of another, both signed with the right secret. */
	char good[4096], other[4096], forged[8192];
	snprintf(good, sizeof(good), "%s", make(HS256, claims(""), SECRET));
	snprintf(other, sizeof(other), "%s",
		 make(HS256, "{\"sub\":\"1\",\"role\":\"admin\"}", SECRET));
	char *g1 = strchr(good, '.'), *g2 = strrchr(good, '.');
	char *o1 = strchr(other, '.'), *o2 = strrchr(other, '.');
	snprintf(forged, sizeof(forged), "%.*s%.*s%s", (int)(g1 - good), good, (int)(o2 - o1), o1,
		 g2);
	ck_assert_int_eq(verify(forged, &why), EM_EUNAUTH);
	ck_assert_str_eq(why, "bad signature");
}
END_TEST

START_TEST(issue_then_verify)
{
	struct auth_user u = {.id = 12, .role = EM_ROLE_HEAD, .organization_id = 5};
	struct auth_claims c;
	const char *why;
	char *tok = NULL;
	ck_assert_int_eq(token_issue(&u, 900, &tok), EM_OK);
	ck_assert_int_eq(token_verify(tok, (int64_t)time(NULL), &c, &why), EM_OK);
	ck_assert_int_eq(c.user_id, 12);
	ck_assert_int_eq(c.role, EM_ROLE_HEAD);
	ck_assert_int_eq(c.organization_id, 5);
	free(tok);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("token");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, valid_token);
	tcase_add_test(tc, refused_tokens);
	tcase_add_test(tc, claims_checked_with_types);
	tcase_add_test(tc, leeway_and_audience_list);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, issue_then_verify);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
