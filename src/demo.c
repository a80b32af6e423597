/*
 * demo.c — `effmond load-demo`: runs the embedded demo/registry.sql and
 * creates one user per role (admin excepted) with a random password, then
 * demo/monitoring.sql (catalog and campaigns), the seeded roadmaps and
 * demo/cycle.sql (attestations, recommendations, decisions, roadmap progress),
 * all in one transaction under an advisory lock, each part only once: the demo
 * region's code says the registry is there, its campaigns that the monitoring
 * and the cycle are. Passwords are printed once and kept only as hashes.
 */
#include "effmon/demo.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/auth.h"
#include "effmon/cycle.h"
#include "effmon/embedded.h"
#include "effmon/migrate.h"

/* Any constant other than the migration lock's: "demo" in ASCII. */
#define DEMO_LOCK_KEY "1684368751"
#define DEMO_PASSWORD_LEN 16

enum demo_scope { DEMO_SCOPE_REGION, DEMO_SCOPE_MUNICIPALITY, DEMO_SCOPE_ORGANIZATION };

/* One user per role; the admin is make run's. The head heads a school of the
 * first municipality, whose operator is demo-municipal. */
static const struct {
	const char *login;
	const char *role;
	enum demo_scope scope;
} DEMO_USERS[] = {
	{"demo-regional", "regional_operator", DEMO_SCOPE_REGION},
	{"demo-municipal", "municipal_operator", DEMO_SCOPE_MUNICIPALITY},
	{"demo-head", "head", DEMO_SCOPE_ORGANIZATION},
	{"demo-expert", "expert", DEMO_SCOPE_REGION},
	{"demo-portal", "portal", DEMO_SCOPE_REGION},
};
#define DEMO_NUSERS (sizeof(DEMO_USERS) / sizeof(DEMO_USERS[0]))

/* What became of each user, for the report. */
struct demo_user_result {
	char id[24];
	char password[DEMO_PASSWORD_LEN + 1];
	bool existed;
};

/* Columns of DEMO_TARGETS. */
enum { T_REGION, T_REGION_NAME, T_MUNI, T_MUNI_NAME, T_ORG, T_ORG_NAME, T_MANAGER, T_MANAGER_NAME };

static const char DEMO_TARGETS[] =
	"SELECT r.id, r.name, m.id, m.name, h.org_id, h.short_name, h.manager_id, h.full_name "
	"FROM regions r "
	"JOIN LATERAL (SELECT id, name FROM municipalities WHERE region_id = r.id "
	" ORDER BY id LIMIT 1) m ON true "
	"LEFT JOIN LATERAL (SELECT o.id AS org_id, o.short_name, g.id AS manager_id, g.full_name "
	" FROM organizations o JOIN managers g ON g.organization_id = o.id AND g.status = 'active' "
	" WHERE o.municipality_id = m.id AND o.kind = 'school' AND o.status = 'active' "
	" ORDER BY o.id LIMIT 1) h ON true "
	"WHERE r.code = $1";

/* The user and its audit event; nothing when the login appeared meanwhile. */
static const char DEMO_USER_INSERT[] =
	"WITH u AS (INSERT INTO users (login, password_hash, role, region_id, municipality_id, "
	" organization_id, manager_id) VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6::bigint, "
	" $7::bigint) ON CONFLICT DO NOTHING RETURNING *), "
	"a AS (INSERT INTO audit_events (actor_role, entity, entity_id, action, after, region_id, "
	" municipality_id, organization_id) "
	" SELECT 'cli', 'user', u.id, 'load-demo', jsonb_build_object('id', u.id, 'login', "
	"  u.login, 'role', u.role, 'region_id', u.region_id, 'municipality_id', "
	"  u.municipality_id, 'organization_id', u.organization_id, 'manager_id', u.manager_id, "
	"  'active', u.active), coalesce(u.region_id, m.region_id, o.region_id), "
	"  coalesce(u.municipality_id, o.municipality_id), u.organization_id "
	" FROM u LEFT JOIN municipalities m ON m.id = u.municipality_id "
	" LEFT JOIN organizations o ON o.id = u.organization_id) "
	"SELECT id FROM u";

static const char DEMO_COUNTS[] =
	"SELECT (SELECT count(*) FROM municipalities WHERE region_id = $1::bigint), "
	" (SELECT count(*) FROM organizations WHERE region_id = $1::bigint), "
	" (SELECT count(*) FROM managers WHERE region_id = $1::bigint), "
	" (SELECT count(*) FROM appointments a JOIN organizations o ON o.id = a.organization_id "
	"  WHERE o.region_id = $1::bigint), "
	" (SELECT count(*) FROM reserve_candidates WHERE region_id = $1::bigint), "
	" (SELECT count(*) FROM reserve_transitions t JOIN reserve_candidates c "
	"  ON c.id = t.candidate_id WHERE c.region_id = $1::bigint), "
	" (SELECT count(*) FROM audit_events WHERE action = 'load-demo' "
	"  AND region_id = $1::bigint), "
	" (SELECT count(*) FROM campaigns WHERE region_id = $1::bigint), "
	" (SELECT count(*) FROM indicators WHERE region_id = $1::bigint), "
	" (SELECT count(*) FROM submissions WHERE region_id = $1::bigint), "
	" (SELECT count(*) FROM submissions WHERE region_id = $1::bigint "
	"  AND status = 'approved'), "
	" (SELECT count(*) FROM submission_values v JOIN submissions s "
	"  ON s.id = v.submission_id WHERE s.region_id = $1::bigint), "
	" (SELECT count(*) FROM competencies), "
	" (SELECT count(*) FROM attestations a JOIN managers g ON g.id = a.manager_id "
	"  WHERE g.region_id = $1::bigint), "
	" (SELECT count(*) FROM recommendations WHERE region_id = $1::bigint), "
	" (SELECT count(DISTINCT status) FROM recommendations WHERE region_id = $1::bigint), "
	" (SELECT count(*) FROM decisions d JOIN managers g ON g.id = d.manager_id "
	"  WHERE g.region_id = $1::bigint), "
	" (SELECT count(DISTINCT type) FROM decisions d JOIN managers g ON g.id = d.manager_id "
	"  WHERE g.region_id = $1::bigint), "
	" (SELECT count(*) FROM milestones m JOIN roadmaps r ON r.id = m.roadmap_id "
	"  WHERE r.region_id = $1::bigint AND m.status <> 'planned')";

/* Whether the demo region has its campaigns (an older install has not). */
static const char DEMO_HAS_MONITORING[] =
	"SELECT EXISTS (SELECT 1 FROM campaigns c JOIN regions r ON r.id = c.region_id "
	" WHERE r.code = $1)";

/* Runs sql; on failure err gets "what: the server's message (detail)". */
static bool demo_exec(PGconn *pg, const char *what, const char *sql, int nparams,
		      const char *const *params, PGresult **out, char *err, size_t errlen)
{
	PGresult *res = nparams ? PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0)
				: PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (out)
			*out = res;
		else
			PQclear(res);
		return true;
	}
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	if (!msg)
		msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg);
	snprintf(err, errlen, "%s: %s%s%s%s", what, msg, detail ? " (" : "", detail ? detail : "",
		 detail ? ")" : "");
	for (char *p = err; *p; p++)
		if (*p == '\n')
			*p = ' ';
	PQclear(res);
	return false;
}

/* Every migration this binary has must be applied. */
static enum em_err demo_schema_ready(PGconn *pg, char *err, size_t errlen)
{
	char latest[16];
	const char *params[1] = {latest};
	PGresult *res = NULL;
	long applied;

	if (!demo_exec(pg, "cannot read the schema version",
		       "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL, &res, err,
		       errlen))
		return EM_EDB;
	bool exists = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!exists) {
		snprintf(err, errlen, "the database is not migrated: run effmond migrate first");
		return EM_EUNAVAILABLE;
	}
	snprintf(latest, sizeof(latest), "%d", migrate_latest());
	if (!demo_exec(pg, "cannot read the schema version",
		       "SELECT count(*) FROM schema_migrations WHERE version <= $1::int", 1, params,
		       &res, err, errlen))
		return EM_EDB;
	applied = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (applied != (long)EM_NMIGRATIONS) {
		snprintf(err, errlen,
			 "the database has %ld of this binary's %zu migrations: run effmond "
			 "migrate first",
			 applied, EM_NMIGRATIONS);
		return EM_EUNAVAILABLE;
	}
	return EM_OK;
}

/* 16 characters of [A-Za-z0-9_-]: 96 random bits, safe in URLs and shells' quotes. */
static void demo_password(char out[DEMO_PASSWORD_LEN + 1])
{
	static const char ALPHABET[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[DEMO_PASSWORD_LEN];

	_Static_assert(sizeof(ALPHABET) - 1 == 64, "six bits per character");
	randombytes_buf(raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++)
		out[i] = ALPHABET[raw[i] & 63];
	out[DEMO_PASSWORD_LEN] = '\0';
	sodium_memzero(raw, sizeof(raw));
}

/* Creates user k unless its login is taken; the result says which. */
static enum em_err demo_user(PGconn *pg, size_t k, const PGresult *targets,
			     struct demo_user_result *made, char *err, size_t errlen)
{
	const char *login = DEMO_USERS[k].login;
	const char *lookup[1] = {login};
	char hash[128];
	PGresult *res = NULL;

	if (!demo_exec(pg, "cannot look up the demo users",
		       "SELECT id FROM users WHERE lower(login) = lower($1)", 1, lookup, &res, err,
		       errlen))
		return EM_EDB;
	if (PQntuples(res) > 0) {
		snprintf(made->id, sizeof(made->id), "%s", PQgetvalue(res, 0, 0));
		made->existed = true;
		PQclear(res);
		return EM_OK;
	}
	PQclear(res);

	demo_password(made->password);
	if (password_hash(made->password, hash) != EM_OK) {
		snprintf(err, errlen, "cannot hash the password of %s", login);
		return EM_EINTERNAL;
	}
	enum demo_scope scope = DEMO_USERS[k].scope;
	const char *params[7] = {
		login,
		hash,
		DEMO_USERS[k].role,
		scope == DEMO_SCOPE_REGION ? PQgetvalue(targets, 0, T_REGION) : NULL,
		scope == DEMO_SCOPE_MUNICIPALITY ? PQgetvalue(targets, 0, T_MUNI) : NULL,
		scope == DEMO_SCOPE_ORGANIZATION ? PQgetvalue(targets, 0, T_ORG) : NULL,
		scope == DEMO_SCOPE_ORGANIZATION ? PQgetvalue(targets, 0, T_MANAGER) : NULL,
	};
	bool ok = demo_exec(pg, "cannot create the demo users", DEMO_USER_INSERT, 7, params, &res,
			    err, errlen);
	sodium_memzero(hash, sizeof(hash));
	if (!ok)
		return EM_EDB;
	if (PQntuples(res) == 0) { /* created by someone else since the look-up */
		made->existed = true;
		sodium_memzero(made->password, sizeof(made->password));
	} else {
		snprintf(made->id, sizeof(made->id), "%s", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return EM_OK;
}

static void demo_report(FILE *out, const PGresult *t, const PGresult *counts,
			const struct demo_user_result *made)
{
	size_t created = 0;

	fprintf(out,
		"Demo data loaded: region %s «%s» (id %s) with %s municipalities, %s "
		"organizations, %s managers (%s appointments), %s reserve candidates (%s "
		"transitions); %s audit events.\n",
		DEMO_REGION_CODE, PQgetvalue(t, 0, T_REGION_NAME), PQgetvalue(t, 0, T_REGION),
		PQgetvalue(counts, 0, 0), PQgetvalue(counts, 0, 1), PQgetvalue(counts, 0, 2),
		PQgetvalue(counts, 0, 3), PQgetvalue(counts, 0, 4), PQgetvalue(counts, 0, 5),
		PQgetvalue(counts, 0, 6));
	fprintf(out,
		"Monitoring: %s campaigns (2025 published, 2026 open) with %s indicators in "
		"their catalogs, %s submissions (%s approved), %s values.\n",
		PQgetvalue(counts, 0, 7), PQgetvalue(counts, 0, 8), PQgetvalue(counts, 0, 9),
		PQgetvalue(counts, 0, 10), PQgetvalue(counts, 0, 11));
	fprintf(out,
		"Cycle: %s competencies, %s attestations, %s recommendations (%s statuses), %s "
		"decisions (%s types), %s milestones in progress or done.\n",
		PQgetvalue(counts, 0, 12), PQgetvalue(counts, 0, 13), PQgetvalue(counts, 0, 14),
		PQgetvalue(counts, 0, 15), PQgetvalue(counts, 0, 16), PQgetvalue(counts, 0, 17),
		PQgetvalue(counts, 0, 18));
	for (size_t k = 0; k < DEMO_NUSERS; k++)
		created += !made[k].existed;
	fprintf(out, "\nDemo users (%zu created; their passwords are shown only here):\n", created);
	fprintf(out, "  %-16s %-20s %-20s %s\n", "login", "role", "password", "scope");
	for (size_t k = 0; k < DEMO_NUSERS; k++) {
		fprintf(out, "  %-16s %-20s %-20s ", DEMO_USERS[k].login, DEMO_USERS[k].role,
			made[k].existed ? "(exists: unchanged)" : made[k].password);
		switch (DEMO_USERS[k].scope) {
		case DEMO_SCOPE_REGION:
			fprintf(out, "region %s «%s»\n", PQgetvalue(t, 0, T_REGION),
				PQgetvalue(t, 0, T_REGION_NAME));
			break;
		case DEMO_SCOPE_MUNICIPALITY:
			fprintf(out, "municipality %s «%s»\n", PQgetvalue(t, 0, T_MUNI),
				PQgetvalue(t, 0, T_MUNI_NAME));
			break;
		case DEMO_SCOPE_ORGANIZATION:
			fprintf(out, "organization %s %s, manager %s %s\n", PQgetvalue(t, 0, T_ORG),
				PQgetvalue(t, 0, T_ORG_NAME), PQgetvalue(t, 0, T_MANAGER),
				PQgetvalue(t, 0, T_MANAGER_NAME));
			break;
		}
	}
	fflush(out);
}

/* The parts of a load after the checks: the registry unless an older effmond
 * loaded it, the monitoring, the users (on a fresh registry only), the
 * roadmaps and the rest of the cycle. *targets gets the users' scope. */
static enum em_err demo_fill(PGconn *pg, bool has_registry, FILE *out, PGresult **targets,
			     struct demo_user_result *made, char *err, size_t errlen)
{
	const char *code[1] = {DEMO_REGION_CODE};
	enum em_err rc;

	/* A database loaded by an older effmond has the registry: only the
	 * monitoring part is added, and its users stay as they are. */
	if (!has_registry && !demo_exec(pg, "cannot load demo/registry.sql", EM_DEMO_REGISTRY_SQL,
					0, NULL, NULL, err, errlen))
		return EM_EDB;
	if (!demo_exec(pg, "cannot load demo/monitoring.sql", EM_DEMO_MONITORING_SQL, 0, NULL, NULL,
		       err, errlen))
		return EM_EDB;
	if (!demo_exec(pg, "cannot find the demo users' scope", DEMO_TARGETS, 1, code, targets, err,
		       errlen))
		return EM_EDB;
	if (PQntuples(*targets) != 1 || PQgetisnull(*targets, 0, T_ORG)) {
		snprintf(err, errlen,
			 "the demo data has no school with a head in its first "
			 "municipality, for demo-head");
		return EM_EINTERNAL;
	}
	for (size_t k = 0; k < DEMO_NUSERS; k++) {
		made[k].existed = has_registry;
		if (!has_registry &&
		    (rc = demo_user(pg, k, *targets, &made[k], err, errlen)) != EM_OK)
			return rc;
	}
	if ((rc = roadmaps_seed_demo(pg, out, err, errlen)) != EM_OK)
		return rc;
	if (!demo_exec(pg, "cannot load demo/cycle.sql", EM_DEMO_CYCLE_SQL, 0, NULL, NULL, err,
		       errlen))
		return EM_EDB;
	return EM_OK;
}

/* An earlier load is complete: say so, and add what later versions added
 * (the roadmaps, each once); commits (*in_tx false from then on). */
static enum em_err demo_top_up(PGconn *pg, FILE *out, bool *in_tx, char *err, size_t errlen)
{
	enum em_err rc;

	fprintf(out,
		"Demo data already loaded: region %s «%s» exists with its campaigns; "
		"nothing changed.\n",
		DEMO_REGION_CODE, DEMO_REGION_NAME);
	fflush(out);
	if ((rc = roadmaps_seed_demo(pg, out, err, errlen)) != EM_OK)
		return rc;
	*in_tx = false; /* COMMIT ends the transaction, whether it succeeds or not */
	return demo_exec(pg, "cannot commit the demo roadmaps", "COMMIT", 0, NULL, NULL, err,
			 errlen)
		       ? EM_OK
		       : EM_EDB;
}

enum em_err demo_load(PGconn *pg, FILE *out, char *err, size_t errlen)
{
	struct demo_user_result made[DEMO_NUSERS];
	const char *code[1] = {DEMO_REGION_CODE}, *region[1];
	PGresult *res = NULL, *targets = NULL, *counts = NULL;
	enum em_err rc = EM_EDB;
	bool in_tx = false, has_registry, has_monitoring;

	memset(made, 0, sizeof(made));
	if (!demo_exec(pg, "cannot configure the session", "SET client_min_messages TO warning", 0,
		       NULL, NULL, err, errlen))
		goto out;
	if ((rc = demo_schema_ready(pg, err, errlen)) != EM_OK)
		goto out;
	rc = EM_EDB;
	if (!demo_exec(pg, "cannot begin", "BEGIN", 0, NULL, NULL, err, errlen))
		goto out;
	in_tx = true;
	/* Two loaders at once: the second waits here, then finds the region. */
	if (!demo_exec(pg, "cannot take the demo lock",
		       "SELECT pg_advisory_xact_lock(" DEMO_LOCK_KEY ")", 0, NULL, NULL, err,
		       errlen))
		goto out;
	if (!demo_exec(pg, "cannot look for the demo region",
		       "SELECT id, name FROM regions WHERE code = $1", 1, code, &res, err, errlen))
		goto out;
	has_registry = PQntuples(res) > 0;
	if (has_registry && strcmp(PQgetvalue(res, 0, 1), DEMO_REGION_NAME) != 0) {
		snprintf(err, errlen,
			 "region code %s belongs to «%s», not to the demo region; nothing loaded",
			 DEMO_REGION_CODE, PQgetvalue(res, 0, 1));
		rc = EM_ECONFLICT;
		goto out;
	}
	PQclear(res);
	res = NULL;
	if (!demo_exec(pg, "cannot look for the demo campaigns", DEMO_HAS_MONITORING, 1, code, &res,
		       err, errlen))
		goto out;
	has_monitoring = has_registry && PQgetvalue(res, 0, 0)[0] == 't';
	if (has_monitoring) {
		rc = demo_top_up(pg, out, &in_tx, err, errlen);
		goto out;
	}

	if ((rc = demo_fill(pg, has_registry, out, &targets, made, err, errlen)) != EM_OK)
		goto out;
	rc = EM_EDB;
	region[0] = PQgetvalue(targets, 0, T_REGION);
	if (!demo_exec(pg, "cannot count the demo data", DEMO_COUNTS, 1, region, &counts, err,
		       errlen))
		goto out;
	in_tx = false; /* COMMIT ends the transaction, whether it succeeds or not */
	if (!demo_exec(pg, "cannot commit the demo data", "COMMIT", 0, NULL, NULL, err, errlen))
		goto out;
	demo_report(out, targets, counts, made);
	rc = EM_OK;
out:
	if (in_tx)
		PQclear(PQexec(pg, "ROLLBACK"));
	sodium_memzero(made, sizeof(made));
	PQclear(res);
	PQclear(targets);
	PQclear(counts);
	return rc;
}
