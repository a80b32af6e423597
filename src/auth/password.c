/*
 * password.c — argon2id password hashes through libsodium. Parameters follow
 * OWASP's argon2id minimum (19 MiB, t=2): strong, and small enough that a
 * burst of logins on every worker stays well inside the daemon's memory.
 * Unknown logins spend the same time on a dummy hash.
 */
#include <sodium.h>
#include <string.h>

#include "effmon/auth.h"

#define PW_OPSLIMIT 2
#define PW_MEMLIMIT (19u * 1024 * 1024)

static char dummy_hash[crypto_pwhash_STRBYTES];

enum em_err password_hash(const char *password, char out[128])
{
	_Static_assert(crypto_pwhash_STRBYTES <= 128, "hash buffer too small");
	if (crypto_pwhash_str_alg(out, password, strlen(password), PW_OPSLIMIT, PW_MEMLIMIT,
				  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return EM_EINTERNAL;
	return EM_OK;
}

bool password_verify(const char *hash, const char *password)
{
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

void password_burn(const char *password)
{
	/* Made once; races only make it twice, with the same result. */
	if (!dummy_hash[0]) {
		char h[crypto_pwhash_STRBYTES];
		if (password_hash("effmon-dummy-password", h) == EM_OK)
			memcpy(dummy_hash, h, sizeof(h));
	}
	(void)password_verify(dummy_hash, password);
}
