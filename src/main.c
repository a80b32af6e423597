/*
 * main.c — the effmond command line: parses configuration, then runs one
 * command. serve owns the start-up and shutdown order: config, secrets,
 * database pool, HTTP server; on SIGTERM or SIGINT it stops accepting,
 * finishes the requests in flight, closes everything and exits 0.
 */
#include <errno.h>
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
#include "effmon/replica.h"
#include "effmon/router.h"
#include "effmon/server.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: effmond [command] [options]\n"
		"\n"
		"Commands:\n"
		"  serve        serve the HTTP API (the default)\n"
		"  migrate      apply the embedded migrations, under an advisory lock; idempotent\n"
		"  create-user  --login L --role R [--region ID | --municipality ID |\n"
		"               --organization ID] [--manager ID] [--password-stdin]\n"
		"               create a user; the password is read from standard input\n"
		"  load-demo    load the fictional demo region (municipalities, organizations,\n"
		"               heads, reserve, an indicator catalog with a published and an\n"
		"               open campaign, the two seeded roadmaps) and one user per\n"
		"               role, printing their passwords; a second run adds only what\n"
		"               is missing\n"
		"  routes       print the route table: METHOD PATTERN ROLES\n"
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

static int cmd_migrate(struct em_config *cfg)
{
	char err[512];
	PGconn *pg = NULL;
	enum em_err rc;

	if (db_connect_once(cfg, &pg, err, sizeof(err)) != EM_OK)
		return fail(err);
	rc = migrate_run(pg, err, sizeof(err));
	PQfinish(pg);
	if (rc != EM_OK)
		return fail(err);
	log_info("schema is at version %d", migrate_latest());
	return 0;
}

static int cmd_load_demo(struct em_config *cfg)
{
	char err[512];
	PGconn *pg = NULL;
	enum em_err rc;

	if (db_connect_once(cfg, &pg, err, sizeof(err)) != EM_OK)
		return fail(err);
	rc = demo_load(pg, stdout, err, sizeof(err));
	PQfinish(pg);
	return rc == EM_OK ? 0 : fail(err);
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
				printf("%s%s", first ? "" : ",", em_role_name((enum em_role)(1 << b)));
				first = false;
			}
		printf("\n");
	}
	return 0;
}

/* create-user: its own flags, the password from stdin. */
static int cmd_create_user(struct em_config *cfg, int argc, char **argv, const int *rest,
			   int nrest)
{
	const char *login = NULL, *role_name = NULL;
	const char *scope_flag = NULL, *scope_value = NULL, *manager = NULL;
	char password[1100], hash[128], err[512];
	PGconn *pg = NULL;
	PGresult *res;
	enum em_role role;
	int rc = 1;

	for (int k = 1; k < nrest; k++) {
		const char *a = argv[rest[k]];
		const char *v = k + 1 < nrest ? argv[rest[k + 1]] : NULL;
		if (strcmp(a, "--password-stdin") == 0)
			continue;
		if (!v)
			return log_fatal("%s needs a value", a), 2;
		if (strcmp(a, "--login") == 0)
			login = v;
		else if (strcmp(a, "--role") == 0)
			role_name = v;
		else if (strcmp(a, "--manager") == 0)
			manager = v;
		else if (!strcmp(a, "--region") || !strcmp(a, "--municipality") ||
			 !strcmp(a, "--organization")) {
			if (scope_flag)
				return fail("give one of --region, --municipality, --organization");
			scope_flag = a + 2;
			scope_value = v;
		} else
			return log_fatal("create-user: unknown option %s", a), 2;
		k++;
	}
	(void)argc;
	if (!login || !role_name)
		return fail("create-user needs --login and --role");
	role = em_role_parse(role_name);
	if (role == EM_ROLE_NONE)
		return fail("--role must be one of admin, regional_operator, municipal_operator, "
			    "head, expert, portal");
	const char *want = role == EM_ROLE_ADMIN       ? NULL
			   : role == EM_ROLE_MUNICIPAL ? "municipality"
			   : role == EM_ROLE_HEAD      ? "organization"
						       : "region";
	if ((want == NULL) != (scope_flag == NULL) || (want && strcmp(want, scope_flag) != 0)) {
		log_fatal("the role %s needs %s%s", role_name,
			want ? "--" : "no scope flag", want ? want : "");
		return 1;
	}
	int64_t id;
	if (scope_value && !router_parse_id(scope_value, strlen(scope_value), &id))
		return fail("the scope id must be a positive integer");
	if (manager && (role != EM_ROLE_HEAD || !router_parse_id(manager, strlen(manager), &id)))
		return fail("--manager is a positive integer, for heads only");

	if (!fgets(password, sizeof(password), stdin))
		return fail("no password on standard input");
	password[strcspn(password, "\r\n")] = '\0';
	if (strlen(password) < 8)
		return fail("the password must have at least 8 characters");
	if (password_hash(password, hash) != EM_OK)
		return fail("cannot hash the password");
	sodium_memzero(password, sizeof(password));

	if (db_connect_once(cfg, &pg, err, sizeof(err)) != EM_OK)
		return fail(err);
	const char *params[7] = {
		login,
		hash,
		role_name,
		scope_flag && !strcmp(scope_flag, "region") ? scope_value : NULL,
		scope_flag && !strcmp(scope_flag, "municipality") ? scope_value : NULL,
		scope_flag && !strcmp(scope_flag, "organization") ? scope_value : NULL,
		manager,
	};
	res = PQexecParams(
		pg,
		"WITH u AS (INSERT INTO users (login, password_hash, role, region_id, "
		"municipality_id, organization_id, manager_id) VALUES ($1, $2, $3, $4::bigint, "
		"$5::bigint, $6::bigint, $7::bigint) RETURNING *) "
		"INSERT INTO audit_events (actor_role, entity, entity_id, action, after) "
		"SELECT 'cli', 'user', id, 'create', jsonb_build_object('login', login, 'role', "
		"role, 'region_id', region_id, 'municipality_id', municipality_id, "
		"'organization_id', organization_id, 'manager_id', manager_id) FROM u "
		"RETURNING entity_id",
		7, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state && strcmp(state, "23505") == 0)
			log_fatal("a user with the login %s already exists", login);
		else if (state && strcmp(state, "23514") == 0)
			log_fatal("the login must be 3-64 characters of A-Z a-z 0-9 "
					"._@-");
		else if (state && strcmp(state, "23503") == 0)
			log_fatal("the %s given does not exist",
				strstr(PQresultErrorMessage(res), "manager") || !scope_flag
					? "manager"
					: scope_flag);
		else {
			char msg[300];
			snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
			msg[strcspn(msg, "\n")] = '\0';
			log_fatal("cannot create the user: %s", msg);
		}
	} else {
		printf("%s\n", PQgetvalue(res, 0, 0));
		rc = 0;
	}
	PQclear(res);
	PQfinish(pg);
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
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || !strcmp(argv[i], "help")) {
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
	    strcmp(cmd, "create-user")) {
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
		rc = cmd_migrate(&cfg);
	} else if (!strcmp(cmd, "load-demo")) {
		rc = cmd_load_demo(&cfg);
	} else if (!strcmp(cmd, "routes")) {
		rc = cmd_routes();
	} else {
		log_fatal("unknown command %s (see effmond --help)", cmd);
		rc = 2;
	}
	config_free(&cfg);
	free(rest);
	return rc;
}
