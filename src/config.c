/*
 * config.c — the option table and its parser. Every option has one row:
 * flag, environment variable, type, default, bounds and help. Values come
 * from the defaults, then the environment, then flags; each is checked at
 * start so a bad value stops the daemon with a one-line reason.
 */
#include "effmon/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include <unistd.h>

#include "effmon/sbuf.h"

enum opt_type { OPT_STRING, OPT_LONG, OPT_ENUM };

struct opt {
	const char *flag; /* without the leading "--" */
	const char *env;
	enum opt_type type;
	size_t offset;       /* of the char * or long in struct em_config */
	const char *def;     /* NULL: unset */
	long min, max;       /* OPT_LONG bounds */
	const char *choices; /* OPT_ENUM: "a|b|c" */
	const char *help;
};

#define S(field) offsetof(struct em_config, field)

static const struct opt OPTIONS[] = {
	{"database-url", "EFFMON_DATABASE_URL", OPT_STRING, S(database_url), NULL, 0, 0, NULL,
	 "libpq connection string (required for serve, migrate, create-user; checked at start)"},
	{"database-read-url", "EFFMON_DATABASE_READ_URL", OPT_STRING, S(database_read_url), NULL, 0,
	 0, NULL, "optional streaming replica for read-only routes (aggregates, scores, lists)"},
	{"read-max-lag", "EFFMON_READ_MAX_LAG", OPT_LONG, S(read_max_lag_s), "30", 1, 86400, NULL,
	 "replay lag, seconds, past which the primary answers the replica's reads"},
	{"listen", "EFFMON_LISTEN", OPT_STRING, S(listen), "127.0.0.1:8080", 0, 0, NULL,
	 "address:port to listen on ([v6]:port for IPv6)"},
	{"threads", "EFFMON_THREADS", OPT_LONG, S(threads), "0", 0, 256, NULL,
	 "worker threads, one database connection each (0: number of CPUs)"},
	{"jwt-secret", "EFFMON_JWT_SECRET", OPT_STRING, S(jwt_secret), NULL, 0, 0, NULL,
	 "HS256 key, at least 32 bytes (or use --jwt-secret-file)"},
	{"jwt-secret-file", "EFFMON_JWT_SECRET_FILE", OPT_STRING, S(jwt_secret_file), NULL, 0, 0,
	 NULL, "file holding the HS256 key (a trailing newline is ignored)"},
	{"jwt-public-key-file", "EFFMON_JWT_PUBLIC_KEY_FILE", OPT_STRING, S(jwt_public_key_file),
	 NULL, 0, 0, NULL, "PEM public key of an external identity provider"},
	{"jwt-alg", "EFFMON_JWT_ALG", OPT_ENUM, S(jwt_alg), "RS256", 0, 0, "RS256|ES256",
	 "algorithm of the external identity provider's tokens"},
	{"jwt-issuer", "EFFMON_JWT_ISSUER", OPT_STRING, S(jwt_issuer), "effmon", 0, 0, NULL,
	 "expected and issued iss claim"},
	{"jwt-audience", "EFFMON_JWT_AUDIENCE", OPT_STRING, S(jwt_audience), "effmon", 0, 0, NULL,
	 "expected and issued aud claim"},
	{"token-ttl", "EFFMON_TOKEN_TTL", OPT_LONG, S(token_ttl), "900", 60, 86400, NULL,
	 "lifetime of issued tokens, seconds"},
	{"max-body", "EFFMON_MAX_BODY", OPT_LONG, S(max_body), "1048576", 1024, 1L << 30, NULL,
	 "largest accepted request body, bytes"},
	{"max-import-body", "EFFMON_MAX_IMPORT_BODY", OPT_LONG, S(max_import_body), "67108864",
	 1024, 1L << 31, NULL, "largest accepted import body, bytes"},
	{"log-format", "EFFMON_LOG_FORMAT", OPT_ENUM, S(log_format_name), "text", 0, 0, "text|json",
	 "log line format"},
	{"log-level", "EFFMON_LOG_LEVEL", OPT_ENUM, S(log_level), "info", 0, 0,
	 "debug|info|warning|error", "lowest level logged"},
	{"cors-origins", "EFFMON_CORS_ORIGINS", OPT_STRING, S(cors_origins), "", 0, 0, NULL,
	 "comma-separated origins allowed to call from a browser"},
	{"statement-timeout", "EFFMON_STATEMENT_TIMEOUT", OPT_LONG, S(statement_timeout_ms), "5000",
	 100, 600000, NULL, "database statement timeout, milliseconds"},
	{"connect-timeout", "EFFMON_CONNECT_TIMEOUT", OPT_LONG, S(connect_timeout_s), "3", 1, 60,
	 NULL, "database connect timeout, seconds"},
	{"http-timeout", "EFFMON_HTTP_TIMEOUT", OPT_LONG, S(http_timeout_s), "30", 1, 3600, NULL,
	 "idle HTTP connection timeout, seconds"},
	{"connection-limit", "EFFMON_CONNECTION_LIMIT", OPT_LONG, S(connection_limit), "1024", 1,
	 100000, NULL, "open HTTP connections, in all"},
	{"per-ip-connection-limit", "EFFMON_PER_IP_CONNECTION_LIMIT", OPT_LONG,
	 S(per_ip_connection_limit), "256", 1, 100000, NULL,
	 "open HTTP connections per client address"},
	{"login-max-failures", "EFFMON_LOGIN_MAX_FAILURES", OPT_LONG, S(login_max_failures), "5", 1,
	 1000, NULL, "failed logins for one login before it is locked"},
	{"login-ip-max-failures", "EFFMON_LOGIN_IP_MAX_FAILURES", OPT_LONG,
	 S(login_ip_max_failures), "50", 0, 100000, NULL,
	 "failed logins from one client address before its logins get 429 (0: off, behind a proxy)"},
	{"login-lock-seconds", "EFFMON_LOGIN_LOCK_SECONDS", OPT_LONG, S(login_lock_seconds), "900",
	 1, 86400, NULL, "window of counted failures and length of the lock, seconds"},
	{"shutdown-grace", "EFFMON_SHUTDOWN_GRACE", OPT_LONG, S(shutdown_grace_s), "25", 0, 3600,
	 NULL, "seconds to finish requests in flight after SIGTERM"},
	{"database-password-file", "EFFMON_DATABASE_PASSWORD_FILE", OPT_STRING,
	 S(database_password_file), NULL, 0, 0, NULL,
	 "file holding the database password (not with PGPASSWORD; a trailing newline is ignored)"},
	{"trusted-proxies", "EFFMON_TRUSTED_PROXIES", OPT_STRING, S(trusted_proxies), "", 0, 0,
	 NULL,
	 "comma-separated addresses or address/prefix whose X-Forwarded-For gives the client address"},
#if EFFMON_TEST_HOOKS
	/* Test builds only (meson -Dtest_hooks=true): production ignores EFFMON_NOW. */
	{"now", "EFFMON_NOW", OPT_STRING, S(now), NULL, 0, 0, NULL,
	 "TEST BUILD: the database's today (YYYY-MM-DD) for em_today() and overdue"},
#endif
};

#define NOPTIONS (sizeof(OPTIONS) / sizeof(OPTIONS[0]))

static char **str_at(struct em_config *cfg, const struct opt *o)
{
	return (char **)((char *)cfg + o->offset);
}

static long *long_at(struct em_config *cfg, const struct opt *o)
{
	return (long *)((char *)cfg + o->offset);
}

static bool enum_has(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;

	if (n == 0)
		return false;
	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, v, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

/* Sets one option from text; origin says where it came from, for the error. */
static enum em_err opt_set(struct em_config *cfg, const struct opt *o, const char *value,
			   const char *origin, char *err, size_t errlen)
{
	char *end;
	long v;

	switch (o->type) {
	case OPT_STRING: break;
	case OPT_ENUM:
		if (!enum_has(o->choices, value)) {
			snprintf(err, errlen, "%s: \"%s\" is not one of %s", origin, value,
				 o->choices);
			return EM_EINVAL;
		}
		break;
	case OPT_LONG:
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < o->min || v > o->max) {
			snprintf(err, errlen, "%s: \"%s\" is not an integer in %ld..%ld", origin,
				 value, o->min, o->max);
			return EM_EINVAL;
		}
		*long_at(cfg, o) = v;
		return EM_OK;
	}
	free(*str_at(cfg, o));
	*str_at(cfg, o) = strdup(value);
	return *str_at(cfg, o) ? EM_OK : EM_EINTERNAL;
}

static enum em_err parse_listen(struct em_config *cfg, char *err, size_t errlen)
{
	const char *s = cfg->listen;
	const char *colon = strrchr(s, ':');
	char host[64];
	size_t hlen;
	char *end;
	long port;

	if (!colon || colon == s)
		goto bad;
	hlen = (size_t)(colon - s);
	if (hlen >= sizeof(host))
		goto bad;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		goto bad;

	memset(&cfg->listen_addr, 0, sizeof(cfg->listen_addr));
	if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&cfg->listen_addr;
		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			goto bad;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		cfg->listen_addr_len = sizeof(*a6);
		return EM_OK;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&cfg->listen_addr;
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			goto bad;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		cfg->listen_addr_len = sizeof(*a4);
		return EM_OK;
	}
bad:
	snprintf(err, errlen, "EFFMON_LISTEN: \"%s\" is not address:port (e.g. 127.0.0.1:8080)", s);
	return EM_EINVAL;
}

#if EFFMON_TEST_HOOKS
/* A real calendar date as YYYY-MM-DD: it goes into the connection's options. */
static bool is_iso_date(const char *s)
{
	static const int DAYS[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d;

	if (strlen(s) != 10 || strspn(s, "0123456789-") != 10 || s[4] != '-' || s[7] != '-' ||
	    sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3 || y < 1 || m < 1 || m > 12 || d < 1 ||
	    d > DAYS[m - 1])
		return false;
	return m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}
#endif

static const struct opt *find_flag(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strlen(OPTIONS[i].flag) == len && strncmp(OPTIONS[i].flag, name, len) == 0)
			return &OPTIONS[i];
	return NULL;
}

static enum em_err read_file(const char *path, char **out, size_t *outlen, const char *what,
			     char *err, size_t errlen);

/*
 * The database password from EFFMON_DATABASE_PASSWORD_FILE (a compose or
 * Kubernetes secret). It is handed to libpq as PGPASSWORD in this process's
 * own environment: libpq reads it for every connection string without a
 * password, it never enters the connection string (nor its error messages),
 * and the container's environment, which the runtime shows, does not hold it.
 */
static enum em_err load_database_password(struct em_config *cfg, char *err, size_t errlen)
{
	char *pw = NULL;
	size_t len = 0;
	enum em_err rc;

	if (getenv("PGPASSWORD")) {
		snprintf(err, errlen,
			 "EFFMON_DATABASE_PASSWORD_FILE and PGPASSWORD are both set: "
			 "choose one");
		return EM_EINVAL;
	}
	rc = read_file(cfg->database_password_file, &pw, &len, "EFFMON_DATABASE_PASSWORD_FILE", err,
		       errlen);
	if (rc != EM_OK)
		return rc;
	if (len == 0 || memchr(pw, '\0', len) || memchr(pw, '\n', len)) {
		snprintf(err, errlen,
			 "EFFMON_DATABASE_PASSWORD_FILE: %s must hold one non-empty line",
			 cfg->database_password_file);
		free(pw);
		return EM_EINVAL;
	}
	rc = setenv("PGPASSWORD", pw, 1) == 0 ? EM_OK : EM_EINTERNAL;
	memset(pw, 0, len);
	free(pw);
	if (rc != EM_OK)
		snprintf(err, errlen,
			 "EFFMON_DATABASE_PASSWORD_FILE: cannot hand the password to libpq");
	return rc;
}

enum em_err config_parse(struct em_config *cfg, int argc, char **argv, int first, int *rest,
			 int *nrest, char *err, size_t errlen)
{
	/* The winning text of each option and where it came from; checked once. */
	const char *raw[NOPTIONS];
	char origin[NOPTIONS][48];
	enum em_err rc;

	memset(cfg, 0, sizeof(*cfg));
	*nrest = 0;
	for (size_t i = 0; i < NOPTIONS; i++) {
		const char *env = getenv(OPTIONS[i].env);
		raw[i] = env ? env : OPTIONS[i].def;
		snprintf(origin[i], sizeof(origin[i]), "%s%s", env ? "" : "default of ",
			 OPTIONS[i].env);
	}
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		const char *eq;
		const struct opt *o;

		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			rest[(*nrest)++] = i;
			continue;
		}
		eq = strchr(a + 2, '=');
		o = find_flag(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
		if (!o) {
			rest[(*nrest)++] = i;
			continue;
		}
		size_t k = (size_t)(o - OPTIONS);
		if (eq) {
			raw[k] = eq + 1;
		} else if (i + 1 < argc) {
			raw[k] = argv[++i];
		} else {
			snprintf(err, errlen, "--%s needs a value", o->flag);
			return EM_EINVAL;
		}
		snprintf(origin[k], sizeof(origin[k]), "--%s", o->flag);
	}
	for (size_t i = 0; i < NOPTIONS; i++)
		if (raw[i] &&
		    (rc = opt_set(cfg, &OPTIONS[i], raw[i], origin[i], err, errlen)) != EM_OK)
			return rc;

	cfg->log_format = strcmp(cfg->log_format_name, "json") == 0 ? EM_LOG_JSON : EM_LOG_TEXT;
	if (cfg->threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->threads = n > 0 ? n : 1;
	}
#if EFFMON_TEST_HOOKS
	if (cfg->now && !is_iso_date(cfg->now)) {
		snprintf(err, errlen, "EFFMON_NOW: \"%s\" is not a date YYYY-MM-DD", cfg->now);
		return EM_EINVAL;
	}
#endif
	if (cfg->database_url && !*cfg->database_url) {
		free(cfg->database_url);
		cfg->database_url = NULL;
	}
	if ((rc = proxies_parse(cfg->trusted_proxies, &cfg->proxies, err, errlen)) != EM_OK)
		return rc;
	if (cfg->database_password_file && (rc = load_database_password(cfg, err, errlen)) != EM_OK)
		return rc;
	return parse_listen(cfg, err, errlen);
}

/* Reads a whole small file (at most 1 MiB); strips the trailing newlines. */
static enum em_err read_file(const char *path, char **out, size_t *outlen, const char *what,
			     char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct sbuf b = {0};
	char chunk[4096];
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: cannot read %s: %s", what, path, strerror(errno));
		return EM_EINVAL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && !b.failed) {
		if (b.len + n > (1u << 20))
			b.failed = true;
		sb_add(&b, chunk, n);
	}
	fclose(f);
	if (b.failed) {
		snprintf(err, errlen, "%s: %s is too large", what, path);
		free(b.p);
		return EM_EINVAL;
	}
	if (!b.p) {
		snprintf(err, errlen, "%s: %s is empty", what, path);
		return EM_EINVAL;
	}
	while (b.len > 0 && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r'))
		b.len--;
	b.p[b.len] = '\0';
	*out = b.p;
	*outlen = b.len;
	return EM_OK;
}

enum em_err config_load_secrets(struct em_config *cfg, char *err, size_t errlen)
{
	char *s = NULL;
	size_t len = 0;
	enum em_err rc;

	if (cfg->jwt_secret && cfg->jwt_secret_file) {
		snprintf(err, errlen,
			 "EFFMON_JWT_SECRET and EFFMON_JWT_SECRET_FILE are both set: "
			 "choose one");
		return EM_EINVAL;
	}
	if (cfg->jwt_secret_file) {
		rc = read_file(cfg->jwt_secret_file, &s, &len, "EFFMON_JWT_SECRET_FILE", err,
			       errlen);
		if (rc != EM_OK)
			return rc;
	} else if (cfg->jwt_secret) {
		s = strdup(cfg->jwt_secret);
		len = strlen(cfg->jwt_secret);
		if (!s)
			return EM_EINTERNAL;
	} else {
		snprintf(err, errlen, "EFFMON_JWT_SECRET (or EFFMON_JWT_SECRET_FILE) is required");
		return EM_EINVAL;
	}
	if (len < 32) {
		snprintf(err, errlen, "%s: %zu bytes is too short, at least 32 are required",
			 cfg->jwt_secret_file ? "EFFMON_JWT_SECRET_FILE" : "EFFMON_JWT_SECRET",
			 len);
		free(s);
		return EM_EINVAL;
	}
	cfg->secret = (unsigned char *)s;
	cfg->secret_len = len;

	if (cfg->jwt_public_key_file) {
		rc = read_file(cfg->jwt_public_key_file, &cfg->public_key, &cfg->public_key_len,
			       "EFFMON_JWT_PUBLIC_KEY_FILE", err, errlen);
		if (rc != EM_OK)
			return rc;
		if (!strstr(cfg->public_key, "-----BEGIN PUBLIC KEY-----")) {
			snprintf(err, errlen,
				 "EFFMON_JWT_PUBLIC_KEY_FILE: %s is not a PEM public key",
				 cfg->jwt_public_key_file);
			return EM_EINVAL;
		}
	}
	return EM_OK;
}

/*
 * libpq's parse error, with every quoted piece that is not a keyword of a
 * connection string replaced by "…": the pieces libpq quotes are bits of
 * the string itself, and they may be the password.
 */
static void redact_conninfo_error(const char *msg, char *out, size_t outlen)
{
	size_t n = 0;

	while (*msg && *msg != '\n' && n + 8 < outlen) {
		const char *close;
		if (*msg != '"' || !(close = strchr(msg + 1, '"'))) {
			out[n++] = *msg++;
			continue;
		}
		size_t len = (size_t)(close - msg - 1);
		bool word = len > 0 && len < 32;
		bool punct = len > 0 && len <= 2;
		for (size_t i = 0; i < len; i++) {
			char c = msg[1 + i];
			word = word && ((c >= 'a' && c <= 'z') || c == '_');
			punct = punct && strchr("=]'@:/", c);
		}
		bool keep = punct;
		if (word) { /* a word: only libpq's own option names */
			PQconninfoOption *opts = PQconndefaults();
			keep = false;
			for (PQconninfoOption *o = opts; o && o->keyword; o++)
				if (strlen(o->keyword) == len &&
				    strncmp(o->keyword, msg + 1, len) == 0)
					keep = true;
			PQconninfoFree(opts);
		}
		if (keep && n + len + 2 < outlen) {
			memcpy(out + n, msg, len + 2);
			n += len + 2;
		} else {
			memcpy(out + n, "\"\u2026\"", 5);
			n += 5;
		}
		msg = close + 1;
	}
	out[n] = '\0';
}

enum em_err config_check_database_urls(const struct em_config *cfg, char *err, size_t errlen)
{
	const struct {
		const char *env, *value;
	} urls[] = {{"EFFMON_DATABASE_URL", cfg->database_url},
		    {"EFFMON_DATABASE_READ_URL", cfg->database_read_url}};

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		char *why = NULL, clean[256];
		PQconninfoOption *opts;

		if (!urls[i].value || !*urls[i].value)
			continue;
		if ((opts = PQconninfoParse(urls[i].value, &why))) {
			PQconninfoFree(opts);
			continue;
		}
		redact_conninfo_error(why ? why : "out of memory", clean, sizeof(clean));
		PQfreemem(why);
		snprintf(err, errlen,
			 "%s is not a libpq connection string (key=value pairs or a "
			 "postgresql:// URI): %s",
			 urls[i].env, clean);
		return EM_EINVAL;
	}
	return EM_OK;
}

void config_free(struct em_config *cfg)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (OPTIONS[i].type != OPT_LONG) {
			free(*str_at(cfg, &OPTIONS[i]));
			*str_at(cfg, &OPTIONS[i]) = NULL;
		}
	if (cfg->secret)
		memset(cfg->secret, 0, cfg->secret_len);
	free(cfg->secret);
	free(cfg->public_key);
	cfg->secret = NULL;
	cfg->public_key = NULL;
}

void config_print_help(FILE *out)
{
	fprintf(out, "Options (environment variable, then flag, which overrides it):\n");
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct opt *o = &OPTIONS[i];
		fprintf(out, "  --%-24s %-32s %s", o->flag, o->env, o->help);
		if (o->type == OPT_ENUM)
			fprintf(out, " (%s)", o->choices);
		if (o->def && *o->def)
			fprintf(out, " [default: %s]", o->def);
		fputc('\n', out);
	}
}
