/*
 * main.c — the effmond command line: parses configuration, then runs one
 * command. serve owns the start-up and shutdown order: config, secrets,
 * database pool, HTTP server; on SIGTERM or SIGINT it stops accepting,
 * finishes the requests in flight, closes everything and exits 0.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_info.h"
#include "effmon/auth.h"
#include "effmon/config.h"
#include "effmon/db.h"
#include "effmon/demo.h"
#include "effmon/embedded.h"
#include "effmon/log.h"
#include "effmon/migrate.h"
#include "effmon/registry.h"
#include "effmon/replica.h"
#include "effmon/resource.h"
#include "effmon/router.h"
#include "effmon/server.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: effmond [command] [options]\n"
		"\n"
		"Commands:\n"
		"  serve        serve the HTTP API (the default)\n"
		"  migrate      apply the embedded migrations, then the changed SQL function\n"
		"               files (sql/), under an advisory lock; idempotent\n"
		"  create-user  --login L --role R [--region ID | --municipality ID |\n"
		"               --organization ID] [--manager ID] [--password-stdin]\n"
		"               create a user; the password is read from standard input\n"
		"  load-demo    load the fictional demo region (municipalities, organizations,\n"
		"               heads, reserve, an indicator catalog with a published and an\n"
		"               open campaign, the two seeded roadmaps, competencies,\n"
		"               attestations, recommendations, decisions, roadmap progress)\n"
		"               and one user per role, printing their passwords; a second\n"
		"               run adds only what\n"
		"               is missing\n"
		"  routes       print the route table: METHOD PATTERN ROLES\n"
		"  check-statements\n"
		"               prepare every SQL statement of the binary on the (migrated)\n"
		"               database and look up every constraint its errors name;\n"
		"               exit 1 naming each one that does not prepare or is missing\n"
		"  version      print the version, the git revision and the build type\n"
		"               (also --version)\n"
		"  help         print this help\n"
		"\n");
	config_print_help(out);
}

/* Fatal errors go through the logger: one JSON line with EFFMON_LOG_FORMAT=json. */
static int fail(const char *msg)
{
	log_fatal("%s", msg);
	return 1;
}

static void print_version(void)
{
	printf("effmond %s (schema %d)\nrevision %s, build type %s\n", EFFMON_BUILD_VERSION,
	       migrate_latest(), EFFMON_BUILD_REVISION, EFFMON_BUILD_TYPE);
}

/*
 * The log format of fatal start-up errors, known before the configuration
 * parses (which may be what fails): EFFMON_LOG_FORMAT, then --log-format.
 */
static void early_log_format(int argc, char **argv)
{
	const char *f = getenv("EFFMON_LOG_FORMAT");

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--log-format=", 13) == 0)
			f = argv[i] + 13;
		else if (strcmp(argv[i], "--log-format") == 0 && i + 1 < argc)
			f = argv[++i];
	}
	log_set_format(f && strcmp(f, "json") == 0 ? EM_LOG_JSON : EM_LOG_TEXT);
}

static int cmd_serve(struct em_config *cfg)
{
	char err[512];
	struct em_server *server = NULL;
	sigset_t set;
	int sig = 0;

	if (!cfg->database_url)
		return fail("EFFMON_DATABASE_URL is required");
	if (config_check_database_urls(cfg, err, sizeof(err)) != EM_OK)
		return fail(err);
	if (config_load_secrets(cfg, err, sizeof(err)) != EM_OK)
		return fail(err);
	if (auth_init(cfg) != EM_OK || db_init(cfg) != EM_OK)
		return fail("cannot initialise authentication or the database pool");
	replica_init(cfg);

	/* Workers inherit this mask; only the main thread takes the signals. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (server_start(cfg, &server, err, sizeof(err)) != EM_OK)
		return fail(err);
	log_info("effmond %s listening on %s with %ld threads", EFFMON_BUILD_REVISION, cfg->listen,
		 cfg->threads);

	while (sigwait(&set, &sig) != 0)
		;
	/* Logged once the listening socket is closed: tests wait for this line. */
	server_quiesce(server);
	log_info("signal %d: no longer accepting; finishing requests in flight", sig);
	if (!server_drain(server, cfg->shutdown_grace_s))
		log_warning("requests still in flight after %lds; closing them",
			    cfg->shutdown_grace_s);
	server_stop(server);
	db_shutdown();
	auth_shutdown();
	log_info("stopped");
	return 0;
}

/* A command of one connection of its own: connects, runs fn on it, closes. */
static int on_one_connection(struct em_config *cfg, int (*fn)(PGconn *pg))
{
	char err[512];
	PGconn *pg = NULL;
	int rc;

	if (db_connect_once(cfg, &pg, err, sizeof(err)) != EM_OK)
		return fail(err);
	rc = fn(pg);
	PQfinish(pg);
	return rc;
}

static int migrate_on(PGconn *pg)
{
	char err[512];

	if (migrate_run(pg, err, sizeof(err)) != EM_OK)
		return fail(err);
	log_info("schema is at version %d", migrate_latest());
	return 0;
}

/* Prepares every statement of the binary on the (migrated) database: 0 when all do. */
static int check_statements_on(PGconn *pg)
{
	char err[512];
	size_t checked = 0, nconstraints = 0;
	int bad = db_check_statements(pg, stderr, &checked);
	int missing = constraints_check(pg, stderr, &nconstraints);

	if (bad) {
		snprintf(err, sizeof(err), "%d of %zu statements do not prepare on this database",
			 bad, checked);
		return fail(err);
	}
	if (missing) {
		snprintf(err, sizeof(err),
			 "%d of %zu constraints named in errors are not in this "
			 "database",
			 missing, nconstraints);
		return fail(err);
	}
	printf("%zu statements prepared, %zu constraints found\n", checked, nconstraints);
	return 0;
}

static int load_demo_on(PGconn *pg)
{
	char err[512];

	return demo_load(pg, stdout, err, sizeof(err)) == EM_OK ? 0 : fail(err);
}

static int cmd_routes(void)
{
	for (size_t i = 0; i < NROUTES; i++) {
		const struct em_route *r = &ROUTES[i];
		printf("%s %s ", r->method, r->pattern);
		if (r->roles == EM_ROLES_PUBLIC) {
			printf("public\n");
			continue;
		}
		bool first = true;
		for (int b = 0; b < 6; b++)
			if (r->roles & (1u << b)) {
				printf("%s%s", first ? "" : ",",
				       em_role_name((enum em_role)(1 << b)));
				first = false;
			}
		printf("\n");
	}
	return 0;
}

/* create-user: its own flags, the password from stdin. */
/* Reads the first line of stdin into out; false when there is none. */
static bool read_password(char *out, size_t outlen)
{
	if (!fgets(out, (int)outlen, stdin))
		return false;
	out[strcspn(out, "\r\n")] = '\0';
	return true;
}

/* The flags of create-user as the body of POST /users: the same rules then
 * apply, in the same code (users_create_cli). */
static int create_user_body(int argc, char **argv, const int *rest, int nrest, json_t *body)
{
	static const char *const FLAGS[][2] = {
		{"--login", "login"},
		{"--role", "role"},
		{"--region", "region_id"},
		{"--municipality", "municipality_id"},
		{"--organization", "organization_id"},
		{"--manager", "manager_id"},
	};

	(void)argc;
	for (int k = 1; k < nrest; k++) {
		const char *a = argv[rest[k]];
		const char *v = k + 1 < nrest ? argv[rest[k + 1]] : NULL;
		size_t f = 0, nflags = sizeof(FLAGS) / sizeof(FLAGS[0]);
		int64_t id;

		if (strcmp(a, "--password-stdin") == 0)
			continue;
		while (f < nflags && strcmp(a, FLAGS[f][0]) != 0)
			f++;
		if (f == nflags)
			return log_fatal("create-user: unknown option %s", a), 2;
		if (!v)
			return log_fatal("%s needs a value", a), 2;
		if (json_object_get(body, FLAGS[f][1]))
			return log_fatal("%s is given twice", a), 2;
		if (f < 2)
			json_object_set_new(body, FLAGS[f][1], json_string(v));
		else if (router_parse_id(v, strlen(v), &id))
			json_object_set_new(body, FLAGS[f][1], json_integer((json_int_t)id));
		else
			return log_fatal("%s must be a positive integer id", a), 1;
		k++;
	}
	if (!json_object_get(body, "login") || !json_object_get(body, "role"))
		return fail("create-user needs --login and --role");
	return 0;
}

static int cmd_create_user(struct em_config *cfg, int argc, char **argv, const int *rest, int nrest)
{
	char password[1100], err[1024];
	json_t *body = json_object();
	long long id = 0;
	int rc;

	if (!body)
		return fail("out of memory");
	if ((rc = create_user_body(argc, argv, rest, nrest, body)) != 0)
		goto out;
	rc = 1;
	if (!read_password(password, sizeof(password))) {
		log_fatal("no password on standard input");
		goto out;
	}
	json_object_set_new(body, "password", json_string(password));
	if (db_init(cfg) != EM_OK) {
		log_fatal("cannot initialise the database pool");
		goto out;
	}
	if (users_create_cli(cfg, body, &id, err, sizeof(err)) != EM_OK) {
		log_fatal("create-user %s: %s", json_string_value(json_object_get(body, "login")),
			  err);
		goto out;
	}
	printf("%lld\n", id);
	rc = 0;
out:
	sodium_memzero(password, sizeof(password));
	/* jansson copied the password into the body: wipe that copy too. */
	json_t *pw = json_object_get(body, "password");
	if (json_is_string(pw))
		sodium_memzero((char *)json_string_value(pw), json_string_length(pw));
	json_decref(body);
	db_shutdown();
	return rc;
}

int main(int argc, char **argv)
{
	struct em_config cfg;
	char err[512];
	int *rest = calloc((size_t)argc + 1, sizeof(int)), nrest = 0;
	const char *cmd = "serve";
	int rc;

	early_log_format(argc, argv);
	if (!rest || sodium_init() < 0)
		return fail("cannot initialise");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ||
		    !strcmp(argv[i], "help")) {
			usage(stdout);
			free(rest);
			return 0;
		}
		if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			print_version();
			free(rest);
			return 0;
		}
	}
	if (config_parse(&cfg, argc, argv, 1, rest, &nrest, err, sizeof(err)) != EM_OK) {
		free(rest);
		config_free(&cfg);
		return fail(err);
	}
	log_init(cfg.log_format, cfg.log_level);
	if (nrest > 0)
		cmd = argv[rest[0]];

	if (strcmp(cmd, "serve") && strcmp(cmd, "migrate") && strcmp(cmd, "load-demo") &&
	    strcmp(cmd, "create-user") && strcmp(cmd, "check-statements")) {
		/* no database */
	} else if (config_check_database_urls(&cfg, err, sizeof(err)) != EM_OK) {
		config_free(&cfg);
		free(rest);
		return fail(err);
	}
	if (!strcmp(cmd, "version")) {
		print_version();
		rc = 0;
	} else if (!strcmp(cmd, "create-user")) {
		rc = cmd_create_user(&cfg, argc, argv, rest, nrest);
	} else if (nrest > 1) {
		log_fatal("unknown option %s (see effmond --help)", argv[rest[1]]);
		rc = 2;
	} else if (!strcmp(cmd, "serve")) {
		rc = cmd_serve(&cfg);
	} else if (!strcmp(cmd, "migrate")) {
		rc = on_one_connection(&cfg, migrate_on);
	} else if (!strcmp(cmd, "load-demo")) {
		rc = on_one_connection(&cfg, load_demo_on);
	} else if (!strcmp(cmd, "routes")) {
		rc = cmd_routes();
	} else if (!strcmp(cmd, "check-statements")) {
		rc = on_one_connection(&cfg, check_statements_on);
	} else {
		log_fatal("unknown command %s (see effmond --help)", cmd);
		rc = 2;
	}
	config_free(&cfg);
	free(rest);
	return rc;
}
