/*
 * embedded.h — files compiled into the binary by tools/embed.py: the
 * migrations in order, the function files of sql/, the OpenAPI document served at run time, and the
 * demo data of `effmond load-demo`.
 */
#ifndef EFFMON_EMBEDDED_H
#define EFFMON_EMBEDDED_H

#include <stddef.h>

struct em_migration {
	int version;
	const char *name;
	const char *sql;
	size_t len;
};

extern const struct em_migration EM_MIGRATIONS[];
extern const size_t EM_NMIGRATIONS;

/* sql/NN_name.sql: the current definitions of the SQL functions, in name order. */
struct em_sqlfile {
	const char *name;
	const char *sql;
	size_t len;
};

extern const struct em_sqlfile EM_FUNCTIONS[];
extern const size_t EM_NFUNCTIONS;
extern const char EM_OPENAPI[];
extern const size_t EM_OPENAPI_LEN;
/* demo/registry.sql: statements run in one transaction by load-demo. */
extern const char EM_DEMO_REGISTRY_SQL[];
/* demo/monitoring.sql: the catalog and campaigns, run after it (or alone, on a
 * database whose demo region predates them). */
extern const char EM_DEMO_MONITORING_SQL[];
/* GET /docs: the API reference page built from the OpenAPI document
 * (tools/openapi/build_docs.sh, tools/embed_docs.py), its strong ETag (quoted)
 * and the Content-Security-Policy that lets its inline scripts run. */
extern const char EM_DOCS_HTML[];
extern const size_t EM_DOCS_HTML_LEN;
extern const char EM_DOCS_ETAG[];
extern const char EM_DOCS_CSP[];
/* demo/cycle.sql: attestations, recommendations, decisions and roadmap
 * progress, run after the monitoring and the roadmaps, in the same load. */
extern const char EM_DEMO_CYCLE_SQL[];

#endif
