/*
 * test_proxies.c — EFFMON_TRUSTED_PROXIES: the list's syntax (bad lists fail
 * at start through the config table), CIDR matching, and the client address
 * taken from X-Forwarded-For only when the TCP peer is trusted.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/config.h"
#include "effmon/proxies.h"

static void key(const char *text, unsigned char k[16])
{
	ck_assert_msg(proxies_addr(text, strlen(text), k), "%s is an address", text);
}

/* The client address proxies_client() finds, compared with want. */
static void client_is(const struct em_proxies *p, const char *peer, const char *xff,
		      const char *want)
{
	unsigned char pk[16], got[16], wk[16];

	key(peer, pk);
	key(want, wk);
	proxies_client(p, pk, xff, got);
	ck_assert_msg(memcmp(got, wk, 16) == 0, "peer %s, X-Forwarded-For \"%s\": want %s", peer,
		      xff ? xff : "(none)", want);
}

START_TEST(lists_parse)
{
	struct em_proxies p;
	char err[256];
	unsigned char k[16];

	ck_assert_int_eq(proxies_parse("", &p, err, sizeof(err)), EM_OK);
	ck_assert_uint_eq(p.n, 0);
	ck_assert_int_eq(proxies_parse(NULL, &p, err, sizeof(err)), EM_OK);
	ck_assert_int_eq(
		proxies_parse(" 127.0.0.1 , ::1,10.0.0.0/8, fd00::/8 ", &p, err, sizeof(err)),
		EM_OK);
	ck_assert_uint_eq(p.n, 4);
	key("10.200.3.4", k);
	ck_assert(proxies_trusted(&p, k));
	key("11.0.0.1", k);
	ck_assert(!proxies_trusted(&p, k));
	key("fd12::1", k);
	ck_assert(proxies_trusted(&p, k));
	key("127.0.0.2", k);
	ck_assert(!proxies_trusted(&p, k));
	key("::ffff:127.0.0.1", k); /* an IPv4 peer on a dual-stack socket */
	ck_assert(proxies_trusted(&p, k));

	ck_assert_int_eq(proxies_parse("172.30.57.0/24", &p, err, sizeof(err)), EM_OK);
	key("172.30.57.255", k);
	ck_assert(proxies_trusted(&p, k));
	key("172.30.58.0", k);
	ck_assert(!proxies_trusted(&p, k));
	ck_assert_int_eq(proxies_parse("0.0.0.0/0", &p, err, sizeof(err)), EM_OK);
	key("8.8.8.8", k);
	ck_assert(proxies_trusted(&p, k));
	key("2001:db8::1", k); /* /0 of IPv4 is every IPv4 address, not IPv6 */
	ck_assert(!proxies_trusted(&p, k));
	ck_assert_int_eq(proxies_parse("10.1.2.3/13", &p, err, sizeof(err)), EM_OK);
	key("10.7.255.255", k);
	ck_assert(proxies_trusted(&p, k));
	key("10.8.0.0", k);
	ck_assert(!proxies_trusted(&p, k));
}
END_TEST

START_TEST(bad_lists_fail_clearly)
{
	static const char *const bad[] = {
		"nginx",      "127.0.0.1,", ",127.0.0.1",    "127.0.0.1,,::1", "127.0.0.1/33",
		"::1/129",    "10.0.0.0/",  "10.0.0.0/x",    "10.0.0.0/-1",    "10.0.0.0/0008",
		"1.2.3.4:80", "256.1.1.1",  "127.0.0.1 ::1", "[::1]",
	};
	struct em_proxies p;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(proxies_parse(bad[i], &p, err, sizeof(err)) == EM_EINVAL, "%s",
			      bad[i]);
		ck_assert_msg(strncmp(err, "EFFMON_TRUSTED_PROXIES: ", 24) == 0, "%s: %s", bad[i],
			      err);
	}
	ck_assert_int_eq(proxies_parse("nginx", &p, err, sizeof(err)), EM_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "\"nginx\" is not an IPv4 or IPv6 address"));
}
END_TEST

START_TEST(config_table_rejects_bad_list)
{
	struct em_config cfg;
	char err[256];
	int rest[4], nrest;
	char *argv[] = {"effmond", "--trusted-proxies=127.0.0.1,bogus", NULL};
	char *ok[] = {"effmond", "--trusted-proxies=127.0.0.1, 10.0.0.0/8", NULL};

	unsetenv("EFFMON_TRUSTED_PROXIES");
	ck_assert_int_eq(config_parse(&cfg, 2, argv, 1, rest, &nrest, err, sizeof(err)), EM_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "EFFMON_TRUSTED_PROXIES: \"bogus\""));
	config_free(&cfg);
	ck_assert_int_eq(config_parse(&cfg, 2, ok, 1, rest, &nrest, err, sizeof(err)), EM_OK);
	ck_assert_uint_eq(cfg.proxies.n, 2);
	config_free(&cfg);
	setenv("EFFMON_TRUSTED_PROXIES", "::1/200", 1);
	ck_assert_int_eq(config_parse(&cfg, 1, argv, 1, rest, &nrest, err, sizeof(err)), EM_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "longer than 128 bits"));
	config_free(&cfg);
	unsetenv("EFFMON_TRUSTED_PROXIES");
}
END_TEST

START_TEST(client_from_trusted_peer_only)
{
	struct em_proxies p, none;
	char err[256];

	ck_assert_int_eq(proxies_parse("127.0.0.1,10.0.0.0/8", &p, err, sizeof(err)), EM_OK);
	ck_assert_int_eq(proxies_parse("", &none, err, sizeof(err)), EM_OK);
	/* An untrusted peer's header is ignored, however it is spelled. */
	client_is(&p, "192.0.2.7", "203.0.113.5", "192.0.2.7");
	client_is(&p, "192.0.2.7", "127.0.0.1", "192.0.2.7");
	client_is(&none, "127.0.0.1", "203.0.113.5", "127.0.0.1");
	/* No header: the peer. */
	client_is(&p, "127.0.0.1", NULL, "127.0.0.1");
	client_is(&p, "127.0.0.1", "", "127.0.0.1");
	/* The rightmost untrusted entry: what the client wrote to the left is not believed. */
	client_is(&p, "127.0.0.1", "203.0.113.5", "203.0.113.5");
	client_is(&p, "127.0.0.1", "198.51.100.1, 203.0.113.5", "203.0.113.5");
	client_is(&p, "127.0.0.1", "198.51.100.1,203.0.113.5, 10.1.1.1", "203.0.113.5");
	client_is(&p, "127.0.0.1", " 2001:db8::5 ", "2001:db8::5");
	/* Every entry trusted: the leftmost. */
	client_is(&p, "127.0.0.1", "10.0.0.9, 10.0.0.8", "10.0.0.9");
	/* Garbage stops the walk: the hop that wrote it is the client. */
	client_is(&p, "127.0.0.1", "unknown", "127.0.0.1");
	client_is(&p, "127.0.0.1", "203.0.113.5, evil", "127.0.0.1");
	client_is(&p, "127.0.0.1", "evil, 10.0.0.9", "10.0.0.9");
	client_is(&p, "127.0.0.1", "1.2.3.4:80", "127.0.0.1");
	client_is(&p, "127.0.0.1", ",,", "127.0.0.1");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proxies");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, lists_parse);
	tcase_add_test(tc, bad_lists_fail_clearly);
	tcase_add_test(tc, config_table_rejects_bad_list);
	tcase_add_test(tc, client_from_trusted_peer_only);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
