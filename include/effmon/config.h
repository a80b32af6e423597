/*
 * config.h — the daemon's configuration: one declarative table of options,
 * each settable from the environment and overridden by a command-line flag.
 */
#ifndef EFFMON_CONFIG_H
#define EFFMON_CONFIG_H

#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "effmon/effmon.h"
#include "effmon/proxies.h"

enum em_log_format { EM_LOG_TEXT = 0, EM_LOG_JSON };

struct em_config {
	char *database_url;
	char *database_read_url;
	long read_max_lag_s; /* replica lag past which reads go to the primary */
	char *listen;        /* as given: "127.0.0.1:8080" */
	struct sockaddr_storage listen_addr;
	socklen_t listen_addr_len;
	long threads;
	char *jwt_secret;
	char *jwt_secret_file;
	char *jwt_public_key_file;
	char *jwt_alg;
	char *jwt_issuer;
	char *jwt_audience;
	long token_ttl;
	long max_body;
	long max_import_body;
	char *log_format_name;
	enum em_log_format log_format;
	char *log_level;
	char *cors_origins;
	long statement_timeout_ms;
	long connect_timeout_s;
	long http_timeout_s;
	long connection_limit;
	long per_ip_connection_limit;
	long login_max_failures;
	long login_ip_max_failures;
	long login_lock_seconds;
	long shutdown_grace_s;
	char *database_password_file; /* EFFMON_DATABASE_PASSWORD_FILE, handed to libpq */
	char *trusted_proxies;        /* EFFMON_TRUSTED_PROXIES as given */
	struct em_proxies proxies;    /* ... parsed by config_parse() */
#if EFFMON_TEST_HOOKS
	char *now; /* EFFMON_NOW: the database's today (em_today()), test builds only */
#endif

	/* Loaded by config_load_secrets(), not set directly. */
	unsigned char *secret;
	size_t secret_len;
	char *public_key;
	size_t public_key_len;
};

/*
 * Fills cfg from defaults, then the environment, then argv[first..argc).
 * Flags the table does not know are left for the command: their indexes are
 * returned in rest[] (count in *nrest, rest must hold argc entries).
 * On failure writes a one-line reason into err and returns EM_EINVAL.
 */
enum em_err config_parse(struct em_config *cfg, int argc, char **argv, int first, int *rest,
			 int *nrest, char *err, size_t errlen);

/* EFFMON_DATABASE_URL and EFFMON_DATABASE_READ_URL, when set, parse as libpq
 * connection strings; the error names the variable, never the password. */
enum em_err config_check_database_urls(const struct em_config *cfg, char *err, size_t errlen);

/* Reads the JWT secret and public key, checks their sizes (serve only). */
enum em_err config_load_secrets(struct em_config *cfg, char *err, size_t errlen);

void config_free(struct em_config *cfg);

/* Prints every option, its variable, flag and default. */
void config_print_help(FILE *out);

#endif
