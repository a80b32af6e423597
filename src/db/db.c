/*
 * db.c — the connection pool: one PGconn per worker thread (MHD's thread
 * pool pins a connection's requests to one thread, so no locking is needed
 * on the hot path). A connection the server closed while it sat idle is
 * noticed before use and replaced at once; a connection that cannot be
 * (re)established is retried with backoff up to 1 s while requests get 503,
 * so the daemon recovers without a restart.
 * With EFFMON_DATABASE_READ_URL each worker thread has a second connection,
 * to the read replica (db_thread_read_conn), with the same reconnect and
 * backoff; it does not LISTEN (a hot standby refuses it), so no cache trusts
 * it. When it is used is src/db/replica.c's decision. Statements and
 * transactions run in query.c, notifications are counted in notify.c.
 */
#include "effmon/db.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"
#include "effmon/log.h"

#define MAX_CONNS 512
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
/* The replica's attempts back off further: the primary answers meanwhile, and
 * a host that drops packets costs the request that tries EFFMON_CONNECT_TIMEOUT. */
#define READ_BACKOFF_MAX_MS 30000

static struct {
	char *url;
	char *read_url; /* NULL: no read replica */
	char connect_timeout[16];
	char options[192];
	pthread_mutex_t lock;
	struct db_conn *conns[MAX_CONNS];
	int nconns;
	atomic_long errors;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local struct db_conn *tls_conn, *tls_read_conn;

enum em_err db_init(const struct em_config *cfg)
{
	if (!cfg->database_url)
		return EM_EINVAL;
	pool.url = strdup(cfg->database_url);
	if (cfg->database_read_url && *cfg->database_read_url &&
	    !(pool.read_url = strdup(cfg->database_read_url)))
		return EM_EINTERNAL;
	snprintf(pool.connect_timeout, sizeof(pool.connect_timeout), "%ld", cfg->connect_timeout_s);
	/* JIT compiles a plan for longer than this service's statements run: off. */
	snprintf(pool.options, sizeof(pool.options),
		 "-c statement_timeout=%ld -c idle_in_transaction_session_timeout=%ld "
		 "-c TimeZone=UTC -c jit=off",
		 cfg->statement_timeout_ms, cfg->statement_timeout_ms * 2);
#if EFFMON_TEST_HOOKS
	/* The controlled clock: em_today() reads this setting (config.c checked it). */
	if (cfg->now) {
		size_t n = strlen(pool.options);
		snprintf(pool.options + n, sizeof(pool.options) - n, " -c effmon.today=%s",
			 cfg->now);
	}
#endif
	return pool.url ? EM_OK : EM_EINTERNAL;
}

void db_shutdown(void)
{
	pthread_mutex_lock(&pool.lock);
	for (int i = 0; i < pool.nconns; i++) {
		if (pool.conns[i]->pg)
			PQfinish(pool.conns[i]->pg);
		free(pool.conns[i]->prepared);
		free(pool.conns[i]);
	}
	pool.nconns = 0;
	pthread_mutex_unlock(&pool.lock);
	free(pool.url);
	free(pool.read_url);
	pool.url = NULL;
	pool.read_url = NULL;
}

static struct db_conn *conn_new(bool read)
{
	struct db_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->read = read;
	pthread_mutex_lock(&pool.lock);
	if (pool.nconns < MAX_CONNS)
		pool.conns[pool.nconns++] = c;
	pthread_mutex_unlock(&pool.lock);
	return c;
}

struct db_conn *db_thread_conn(void)
{
	if (!tls_conn)
		tls_conn = conn_new(false);
	return tls_conn;
}

struct db_conn *db_thread_read_conn(void)
{
	if (!pool.read_url)
		return NULL;
	if (!tls_read_conn)
		tls_read_conn = conn_new(true);
	return tls_read_conn;
}

bool db_read_configured(void)
{
	return pool.read_url != NULL;
}

bool db_is_read(const struct db_conn *c)
{
	return c && c->read;
}

static PGconn *connect_pg(const char *url, const char *connect_timeout, const char *options)
{
	/* Entries before dbname may be overridden by the URL; options may not. */
	const char *keys[] = {"connect_timeout",  "keepalives",
			      "keepalives_idle",  "keepalives_interval",
			      "keepalives_count", "application_name",
			      "client_encoding",  "dbname",
			      "options",          NULL};
	const char *vals[] = {connect_timeout, "1",    "30", "10",    "3",
			      "effmond",       "UTF8", url,  options, NULL};
	return PQconnectdbParams(keys, vals, 1);
}

static long ms_until(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

/* Closes the connection; the next attempt waits out the backoff when the
 * last attempt to connect failed, and is immediate when a working connection
 * was lost (a restarted server or a terminated backend). */
void db_conn_mark_down(struct db_conn *c, bool connect_failed)
{
	struct timespec now;

	if (!connect_failed)
		c->backoff_ms = 0;
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	c->nprepared = 0;
	atomic_store(&c->connected, false);
	atomic_store(&c->failed, true);
	clock_gettime(CLOCK_MONOTONIC, &now);
	now.tv_nsec += c->backoff_ms * 1000000L;
	now.tv_sec += now.tv_nsec / 1000000000L;
	now.tv_nsec %= 1000000000L;
	c->next_attempt = now;
	long cap = c->read ? READ_BACKOFF_MAX_MS : BACKOFF_MAX_MS;
	c->backoff_ms = c->backoff_ms * 2 > cap ? cap : c->backoff_ms * 2;
	if (c->backoff_ms < BACKOFF_MIN_MS)
		c->backoff_ms = BACKOFF_MIN_MS;
}

/* libpq hands a message that arrives outside a query (a FATAL before the
 * server closes the connection, an unexpected message) to the notice
 * receiver; flagged here, then passed on to the default one. */
static void notice_receiver(void *arg, const PGresult *res)
{
	struct db_conn *c = arg;

	if (PQtransactionStatus(c->pg) == PQTRANS_IDLE)
		c->idle_notice = true;
	if (c->prev_receiver)
		c->prev_receiver(c->prev_receiver_arg, res);
}

/* An idle connection has nothing to read but notifications (LISTEN): anything
 * else is the server's farewell (57P01 and EOF after pg_terminate_backend, a
 * restart, an idle timeout) or an unsolicited message we never asked for.
 * Either way the connection is not trusted with the next statement. One
 * poll(2), no wait; only when it is readable is the input read and parsed. */
bool db_conn_idle_closed(struct db_conn *c)
{
	struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};

	if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		return false;
	if (p.fd < 0)
		return true;
	if (poll(&p, 1, 0) == 0)
		return false;
	c->idle_notice = false;
	if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK)
		return true;
	/* PQconsumeInput only reads; PQnotifies parses what was read, which
	 * hands a farewell to notice_receiver. */
	db_notify_drain(c);
	return c->idle_notice || PQstatus(c->pg) != CONNECTION_OK;
}

enum em_err db_ensure(struct db_conn *c)
{
	if (c->pg && PQstatus(c->pg) == CONNECTION_OK && !db_conn_idle_closed(c))
		return EM_OK;
	if (c->pg) {
		log_info("%s connection closed by the server while idle; reconnecting",
			 c->read ? "read replica" : "database");
		db_conn_mark_down(c, false);
	}
	if (ms_until(&c->next_attempt) > 0)
		return EM_EUNAVAILABLE;
	c->pg = connect_pg(c->read ? pool.read_url : pool.url, pool.connect_timeout, pool.options);
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
		/* The message names host and port, never the password. */
		const char *msg = c->pg ? PQerrorMessage(c->pg) : "out of memory";
		char first[200];
		snprintf(first, sizeof(first), "%s", msg);
		first[strcspn(first, "\n")] = '\0';
		log_warning("%s connection failed (retry in %ld ms): %s",
			    c->read ? "read replica" : "database", c->backoff_ms, first);
		atomic_fetch_add(&pool.errors, 1);
		db_conn_mark_down(c, true);
		return EM_EUNAVAILABLE;
	}
	c->backoff_ms = BACKOFF_MIN_MS;
	c->nprepared = 0;
	c->prev_receiver = PQsetNoticeReceiver(c->pg, notice_receiver, c);
	c->prev_receiver_arg = NULL; /* libpq's default receiver has none */
	if (!c->read)
		db_notify_listen(c);
	atomic_store(&c->failed, false);
	atomic_store(&c->connected, true);
	return EM_OK;
}

void db_count_error(void)
{
	atomic_fetch_add(&pool.errors, 1);
}

void db_request_begin(struct db_conn *c)
{
	atomic_store(&c->busy, true);
}

void db_request_end(struct db_conn *c)
{
	atomic_store(&c->busy, false);
}

void db_pool_stats(struct db_pool_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->read_configured = pool.read_url != NULL;
	pthread_mutex_lock(&pool.lock);
	for (int i = 0; i < pool.nconns; i++) {
		struct db_conn *c = pool.conns[i];
		struct db_conn_counts *n = c->read ? &out->read : &out->primary;
		/* A worker that has not needed the database yet has no connection,
		 * and none is broken. */
		if (!atomic_load(&c->connected)) {
			if (atomic_load(&c->failed))
				n->broken++;
		} else if (atomic_load(&c->busy))
			n->in_use++;
		else
			n->idle++;
	}
	pthread_mutex_unlock(&pool.lock);
	out->errors = atomic_load(&pool.errors);
	db_notify_counts(out->notifications);
}

enum em_err db_connect_once(const struct em_config *cfg, PGconn **out, char *err, size_t errlen)
{
	char timeout[16];
	PGconn *pg;

	if (!cfg->database_url) {
		snprintf(err, errlen, "EFFMON_DATABASE_URL is required");
		return EM_EINVAL;
	}
	snprintf(timeout, sizeof(timeout), "%ld", cfg->connect_timeout_s);
	pg = connect_pg(cfg->database_url, timeout, "-c TimeZone=UTC");
	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to the database: %s",
			 pg ? PQerrorMessage(pg) : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		PQfinish(pg);
		return EM_EUNAVAILABLE;
	}
	*out = pg;
	return EM_OK;
}
