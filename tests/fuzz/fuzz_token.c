/*
 * fuzz_token.c — an Authorization header through auth_bearer_verify: the
 * scheme, the compact JWT, the pinned HS256 signature and every claim, up
 * to the point where auth_authenticate would look the user up. The secret is
 * the unit tests' fixed test secret and the clock is fixed.
 *
 * First byte even: the rest is the header value as sent. First byte odd: the
 * rest is "header JSON\nclaims JSON", which the target encodes and signs with
 * the test secret, so that the claim checks are reached by mutated claims.
 * Properties: only EM_OK or EM_EUNAUTH, with a reason on refusal; accepted
 * claims carry a user id, one known role, a live exp and no negative scope;
 * an accepted header value really is signed with the secret.
 */
#include <inttypes.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "effmon/auth.h"
#include "fuzz.h"

static const char SECRET[] = "0123456789abcdef0123456789abcdef-test";
static const int64_t NOW = 1800000000;

static void init_once(void)
{
	static bool done;
	static struct em_config cfg;

	if (done)
		return;
	if (sodium_init() < 0)
		abort();
	cfg.secret = (unsigned char *)SECRET;
	cfg.secret_len = strlen(SECRET);
	cfg.jwt_alg = "HS256";
	cfg.jwt_issuer = "effmon";
	cfg.jwt_audience = "effmon";
	FUZZ_CHECK(auth_init(&cfg) == EM_OK);
	done = true;
}

static void mac_b64(const char *in, size_t len, char out[64])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, (const unsigned char *)SECRET, strlen(SECRET));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)in, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2base64(out, 64, mac, sizeof(mac), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* "Bearer " base64url(header) "." base64url(claims) "." signature; malloc'ed. */
static char *sign(const char *text, size_t len)
{
	const char *nl = memchr(text, '\n', len);
	size_t hlen = nl ? (size_t)(nl - text) : len;
	const char *claims = nl ? nl + 1 : "";
	size_t clen = nl ? len - hlen - 1 : 0;
	size_t cap = 7 + sodium_base64_ENCODED_LEN(hlen, sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
		     sodium_base64_ENCODED_LEN(clen, sodium_base64_VARIANT_URLSAFE_NO_PADDING) + 66;
	char *out = malloc(cap), sig[64];
	size_t n;

	if (!out)
		return NULL;
	strcpy(out, "Bearer ");
	sodium_bin2base64(out + 7, cap - 7, (const unsigned char *)text, hlen,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	n = strlen(out);
	out[n++] = '.';
	sodium_bin2base64(out + n, cap - n, (const unsigned char *)claims, clen,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	n = strlen(out);
	mac_b64(out + 7, n - 7, sig);
	snprintf(out + n, cap - n, ".%s", sig);
	return out;
}

/* Is the token in this header value signed with the secret? */
static bool signed_with_secret(const char *authorization)
{
	const char *t = authorization + 7, *dot;
	char sig[64];

	while (*t == ' ')
		t++;
	if (!(dot = strrchr(t, '.')))
		return false;
	mac_b64(t, (size_t)(dot - t), sig);
	return strcmp(dot + 1, sig) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth_claims claims;
	const char *why = NULL;
	enum em_err rc;
	char *value;

	init_once();
	if (size < 1)
		return 0;
	if (data[0] % 2) {
		value = sign((const char *)data + 1, size - 1);
	} else if ((value = malloc(size))) {
		/* A header value is a C string: the input is cut at a NUL. */
		memcpy(value, data + 1, size - 1);
		value[size - 1] = '\0';
	}
	if (!value)
		return 0;

	memset(&claims, 0, sizeof(claims));
	rc = auth_bearer_verify(value, NOW, &claims, &why);
	FUZZ_CHECK(rc == EM_OK || rc == EM_EUNAUTH);
	if (rc == EM_OK) {
		FUZZ_CHECK(strncasecmp(value, "Bearer ", 7) == 0);
		FUZZ_CHECK(signed_with_secret(value));
		FUZZ_CHECK(claims.user_id >= 1);
		FUZZ_CHECK(claims.role != EM_ROLE_NONE &&
			   (claims.role & EM_ROLES_ALL) == claims.role &&
			   ((unsigned)claims.role & ((unsigned)claims.role - 1)) == 0);
		FUZZ_CHECK(claims.exp + AUTH_LEEWAY_S >= NOW);
		FUZZ_CHECK(claims.region_id >= 0 && claims.municipality_id >= 0 &&
			   claims.organization_id >= 0);
	} else {
		FUZZ_CHECK(why != NULL && why[0] != '\0');
	}
	free(value);
	return 0;
}
