/*
 * test_config.c — the option table: defaults, environment, flags over
 * environment, bounds, enums, the listen address, and the secret checks.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "effmon/config.h"

static const char *VARS[] = {"EFFMON_DATABASE_URL", "EFFMON_LISTEN",          "EFFMON_THREADS",
			     "EFFMON_JWT_SECRET",   "EFFMON_JWT_SECRET_FILE", "EFFMON_LOG_FORMAT",
			     "EFFMON_MAX_BODY",     "EFFMON_TOKEN_TTL"};

static void clean_env(void)
{
	for (size_t i = 0; i < sizeof(VARS) / sizeof(VARS[0]); i++)
		unsetenv(VARS[i]);
}

static enum em_err parse(struct em_config *cfg, int argc, char **argv, char *err)
{
	int rest[16], nrest;
	return config_parse(cfg, argc, argv, 1, rest, &nrest, err, 256);
}

START_TEST(defaults)
{
	struct em_config cfg;
	char err[256];
	char *argv[] = {"effmond"};
	clean_env();
	ck_assert_int_eq(parse(&cfg, 1, argv, err), EM_OK);
	ck_assert_str_eq(cfg.listen, "127.0.0.1:8080");
	ck_assert_int_eq(cfg.token_ttl, 900);
	ck_assert_int_eq(cfg.max_body, 1048576);
	ck_assert_str_eq(cfg.jwt_issuer, "effmon");
	ck_assert_str_eq(cfg.jwt_audience, "effmon");
	ck_assert_int_ge(cfg.threads, 1);
	ck_assert_int_eq(cfg.log_format, EM_LOG_TEXT);
	ck_assert_ptr_null(cfg.database_url);
	config_free(&cfg);
}
END_TEST

START_TEST(env_then_flags)
{
	struct em_config cfg;
	char err[256];
	char *argv[] = {"effmond", "serve", "--threads", "3", "--listen=127.0.0.1:9001", "--other"};
	int rest[8], nrest;
	clean_env();
	setenv("EFFMON_THREADS", "7", 1);
	setenv("EFFMON_LOG_FORMAT", "json", 1);
	ck_assert_int_eq(config_parse(&cfg, 6, argv, 1, rest, &nrest, err, sizeof(err)), EM_OK);
	ck_assert_int_eq(cfg.threads, 3);
	ck_assert_str_eq(cfg.listen, "127.0.0.1:9001");
	ck_assert_int_eq(cfg.log_format, EM_LOG_JSON);
	ck_assert_int_eq(nrest, 2); /* "serve" and "--other" are left for the command */
	ck_assert_str_eq(argv[rest[0]], "serve");
	ck_assert_str_eq(argv[rest[1]], "--other");
	config_free(&cfg);
}
END_TEST

START_TEST(bad_values_name_the_variable)
{
	struct em_config cfg;
	char err[256];
	char *argv[] = {"effmond"};
	const struct {
		const char *var, *value;
	} cases[] = {
		{"EFFMON_THREADS", "abc"},     {"EFFMON_THREADS", "-1"},
		{"EFFMON_THREADS", "100000"},  {"EFFMON_LOG_FORMAT", "xml"},
		{"EFFMON_LISTEN", "nonsense"}, {"EFFMON_LISTEN", "127.0.0.1:99999"},
		{"EFFMON_LISTEN", "1.2.3:80"}, {"EFFMON_MAX_BODY", "1k"},
		{"EFFMON_TOKEN_TTL", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		clean_env();
		setenv(cases[i].var, cases[i].value, 1);
		ck_assert_int_eq(parse(&cfg, 1, argv, err), EM_EINVAL);
		ck_assert_msg(strstr(err, cases[i].var), "%s=%s: %s", cases[i].var, cases[i].value,
			      err);
		ck_assert_ptr_null(strchr(err, '\n'));
		config_free(&cfg);
	}
	clean_env();
}
END_TEST

START_TEST(flag_overrides_bad_env)
{
	struct em_config cfg;
	char err[256];
	char *argv[] = {"effmond", "--log-format", "json"};
	clean_env();
	setenv("EFFMON_LOG_FORMAT", "xml", 1);
	ck_assert_int_eq(parse(&cfg, 3, argv, err), EM_OK);
	ck_assert_int_eq(cfg.log_format, EM_LOG_JSON);
	config_free(&cfg);
	clean_env();
}
END_TEST

START_TEST(listen_ipv6)
{
	struct em_config cfg;
	char err[256];
	char *argv[] = {"effmond", "--listen", "[::1]:8081"};
	clean_env();
	ck_assert_int_eq(parse(&cfg, 3, argv, err), EM_OK);
	ck_assert_int_eq(cfg.listen_addr.ss_family, AF_INET6);
	config_free(&cfg);
}
END_TEST

START_TEST(secret_checks)
{
	struct em_config cfg;
	char err[256];
	char *argv[] = {"effmond"};
	char path[] = "/tmp/effmon-secret-XXXXXX";
	int fd;

	clean_env();
	ck_assert_int_eq(parse(&cfg, 1, argv, err), EM_OK);
	ck_assert_int_eq(config_load_secrets(&cfg, err, sizeof(err)), EM_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "EFFMON_JWT_SECRET"));
	config_free(&cfg);

	setenv("EFFMON_JWT_SECRET", "0123456789012345678901234567890", 1); /* 31 bytes */
	ck_assert_int_eq(parse(&cfg, 1, argv, err), EM_OK);
	ck_assert_int_eq(config_load_secrets(&cfg, err, sizeof(err)), EM_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "too short"));
	config_free(&cfg);

	setenv("EFFMON_JWT_SECRET", "01234567890123456789012345678901", 1); /* 32 bytes */
	ck_assert_int_eq(parse(&cfg, 1, argv, err), EM_OK);
	ck_assert_int_eq(config_load_secrets(&cfg, err, sizeof(err)), EM_OK);
	ck_assert_uint_eq(cfg.secret_len, 32);
	config_free(&cfg);

	/* From a file: the trailing newline does not count. */
	clean_env();
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "abcdefghijabcdefghijabcdefghijab\n", 33), 33);
	close(fd);
	setenv("EFFMON_JWT_SECRET_FILE", path, 1);
	ck_assert_int_eq(parse(&cfg, 1, argv, err), EM_OK);
	ck_assert_int_eq(config_load_secrets(&cfg, err, sizeof(err)), EM_OK);
	ck_assert_uint_eq(cfg.secret_len, 32);
	config_free(&cfg);
	unlink(path);
	clean_env();
}
END_TEST

START_TEST(help_lists_every_variable)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	config_print_help(f);
	fclose(f);
	for (size_t i = 0; i < sizeof(VARS) / sizeof(VARS[0]); i++)
		ck_assert_msg(strstr(buf, VARS[i]), "%s missing from --help", VARS[i]);
	ck_assert_ptr_nonnull(strstr(buf, "EFFMON_CORS_ORIGINS"));
	ck_assert_ptr_nonnull(strstr(buf, "EFFMON_DATABASE_READ_URL"));
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, env_then_flags);
	tcase_add_test(tc, bad_values_name_the_variable);
	tcase_add_test(tc, flag_overrides_bad_env);
	tcase_add_test(tc, listen_ipv6);
	tcase_add_test(tc, secret_checks);
	tcase_add_test(tc, help_lists_every_variable);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
