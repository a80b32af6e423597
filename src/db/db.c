/*
 * db.c — the connection pool: one PGconn per worker thread (MHD's thread
 * pool pins a connection's requests to one thread, so no locking is needed
 * on the hot path). A connection the server closed while it sat idle is
 * noticed before use and replaced at once; a connection that cannot be
 * (re)established is retried with backoff up to 1 s while requests get 503,
 * so the daemon recovers without a restart.
 * Every connection LISTENs on the channels the change triggers of migrations
 * 0009 and 0010 notify; notifications are counted into a process-wide
 * generation per channel (db_notify_generation) that the caches of derived
 * answers and of user rows check.
 * With EFFMON_DATABASE_READ_URL each worker thread has a second connection,
 * to the read replica (db_thread_read_conn), with the same reconnect and
 * backoff; it does not LISTEN (a hot standby refuses it), so no cache trusts
 * it. When it is used is src/db/replica.c's decision.
 */
#include "effmon/db.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "effmon/log.h"

#define MAX_CONNS 512
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
/* The replica's attempts back off further: the primary answers meanwhile, and
 * a host that drops packets costs the request that tries EFFMON_CONNECT_TIMEOUT. */
#define READ_BACKOFF_MAX_MS 30000
#define TX_ATTEMPTS 5

struct db_conn {
	PGconn *pg;
	/* The statements prepared on this session (grows: no cap, so no
	 * statement is ever prepared twice, which would fail with 42P05). */
	const struct db_stmt **prepared;
	size_t nprepared, prepared_cap;
	atomic_bool connected;
	atomic_bool failed; /* the last attempt or statement lost the connection */
	atomic_bool busy;
	bool read;        /* a connection to the read replica */
	bool listening;   /* LISTEN succeeded on this connection */
	bool idle_notice; /* a notice or error arrived while the connection was idle */
	PQnoticeReceiver prev_receiver;
	void *prev_receiver_arg;
	long backoff_ms;
	struct timespec next_attempt;
	char sqlstate[6];
	char constraint[64];
};

static struct {
	char *url;
	char *read_url; /* NULL: no read replica */
	char connect_timeout[16];
	char options[192];
	pthread_mutex_t lock;
	struct db_conn *conns[MAX_CONNS];
	int nconns;
	atomic_long errors;
	/* Per channel: bumped per batch of notifications read and per
	 * (re)connect; notifications counts the batches alone (/metrics). */
	atomic_ulong notify_generation[DB_NCHANNELS];
	atomic_ulong notifications[DB_NCHANNELS];
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .notify_generation = {1, 1}};

static const char *const CHANNELS[DB_NCHANNELS] = {
	[DB_CHANNEL_AGGREGATES] = "effmon_aggregates",
	[DB_CHANNEL_USERS] = "effmon_users",
};

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
	const char *keys[] = {"connect_timeout", "keepalives", "keepalives_idle",
			      "keepalives_interval", "keepalives_count", "application_name",
			      "client_encoding", "dbname", "options", NULL};
	const char *vals[] = {connect_timeout, "1", "30", "10", "3", "effmond", "UTF8", url,
			      options, NULL};
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
static void mark_down(struct db_conn *c, bool connect_failed)
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

/* Counts the notifications libpq has read (one generation step per channel
 * and batch: the payload does not matter, only that something changed). */
static void drain_notifies(struct db_conn *c)
{
	PGnotify *n;
	bool any[DB_NCHANNELS] = {false};

	while ((n = PQnotifies(c->pg))) {
		for (int ch = 0; ch < DB_NCHANNELS; ch++)
			if (strcmp(n->relname, CHANNELS[ch]) == 0)
				any[ch] = true;
		PQfreemem(n);
	}
	for (int ch = 0; ch < DB_NCHANNELS; ch++) {
		if (!any[ch])
			continue;
		atomic_fetch_add(&pool.notify_generation[ch], 1);
		atomic_fetch_add(&pool.notifications[ch], 1);
	}
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
static bool idle_conn_closed(struct db_conn *c)
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
	drain_notifies(c);
	return c->idle_notice || PQstatus(c->pg) != CONNECTION_OK;
}

/* LISTEN on a new connection, then a generation step on every channel: what
 * changed while no connection of this process listened was not announced to
 * it. A failed LISTEN (a hot standby refuses it) leaves the connection
 * usable, without the caches (db_notify_current answers false on it). */
static void listen_changes(struct db_conn *c)
{
	char sql[128];
	PGresult *res;

	snprintf(sql, sizeof(sql), "LISTEN %s; LISTEN %s", CHANNELS[DB_CHANNEL_AGGREGATES],
		 CHANNELS[DB_CHANNEL_USERS]);
	res = PQexec(c->pg, sql);
	c->listening = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!c->listening) {
		char msg[200];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
		msg[strcspn(msg, "\n")] = '\0';
		log_warning("LISTEN failed, answer and user caches off on this connection: %s",
			    msg);
	}
	PQclear(res);
	for (int ch = 0; ch < DB_NCHANNELS; ch++)
		atomic_fetch_add(&pool.notify_generation[ch], 1);
}

enum em_err db_ensure(struct db_conn *c)
{
	if (c->pg && PQstatus(c->pg) == CONNECTION_OK && !idle_conn_closed(c))
		return EM_OK;
	if (c->pg) {
		log_info("%s connection closed by the server while idle; reconnecting",
			 c->read ? "read replica" : "database");
		mark_down(c, false);
	}
	if (ms_until(&c->next_attempt) > 0)
		return EM_EUNAVAILABLE;
	c->pg = connect_pg(c->read ? pool.read_url : pool.url, pool.connect_timeout,
			   pool.options);
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
		/* The message names host and port, never the password. */
		const char *msg = c->pg ? PQerrorMessage(c->pg) : "out of memory";
		char first[200];
		snprintf(first, sizeof(first), "%s", msg);
		first[strcspn(first, "\n")] = '\0';
		log_warning("%s connection failed (retry in %ld ms): %s",
			    c->read ? "read replica" : "database", c->backoff_ms, first);
		atomic_fetch_add(&pool.errors, 1);
		mark_down(c, true);
		return EM_EUNAVAILABLE;
	}
	c->backoff_ms = BACKOFF_MIN_MS;
	c->nprepared = 0;
	c->prev_receiver = PQsetNoticeReceiver(c->pg, notice_receiver, c);
	c->prev_receiver_arg = NULL; /* libpq's default receiver has none */
	if (!c->read)
		listen_changes(c);
	atomic_store(&c->failed, false);
	atomic_store(&c->connected, true);
	return EM_OK;
}

unsigned long db_notify_generation(enum db_channel ch)
{
	return atomic_load(&pool.notify_generation[ch]);
}

bool db_notify_current(struct db_conn *c)
{
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK || !c->listening)
		return false;
	if (idle_conn_closed(c)) {
		/* db_ensure would find it closed too: replace it on the next statement. */
		log_info("database connection closed by the server while idle; reconnecting");
		mark_down(c, false);
		return false;
	}
	/* Anything a statement's result brought along after its last drain
	 * (another session's notifications are sent when a transaction ends,
	 * before ReadyForQuery). */
	drain_notifies(c);
	return true;
}

void db_request_begin(struct db_conn *c)
{
	atomic_store(&c->busy, true);
}

void db_request_end(struct db_conn *c)
{
	atomic_store(&c->busy, false);
}

enum em_err db_map_sqlstate(const char *s)
{
	if (!s || strlen(s) != 5)
		return EM_EDB;
	if (!strcmp(s, "23505"))
		return EM_ECONFLICT;
	if (!strcmp(s, "40001") || !strcmp(s, "40P01"))
		return EM_ERETRY;
	if (!strncmp(s, "23", 2) || !strncmp(s, "22", 2))
		return EM_EINVAL; /* 23503, 23502, 23514, 22P02, 22001, ... */
	if (!strcmp(s, "57014") || !strcmp(s, "55P03") || !strncmp(s, "53", 2) ||
	    !strncmp(s, "57P", 3) || !strncmp(s, "08", 2))
		return EM_EUNAVAILABLE;
	return EM_EDB;
}

/* Records and maps the failure of res (may be NULL); clears res. */
static enum em_err fail(struct db_conn *c, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
	enum em_err err;

	snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
	snprintf(c->constraint, sizeof(c->constraint), "%s", cons ? cons : "");
	atomic_fetch_add(&pool.errors, 1);
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
		log_warning("database connection lost during %s", what);
		mark_down(c, false);
		err = EM_EUNAVAILABLE;
	} else {
		err = db_map_sqlstate(state);
		if (err == EM_EDB || err == EM_EUNAVAILABLE) {
			char msg[240];
			snprintf(msg, sizeof(msg), "%s",
				 res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg));
			msg[strcspn(msg, "\n")] = '\0';
			log_warning("%s failed: SQLSTATE %s: %s", what, c->sqlstate, msg);
		}
	}
	PQclear(res);
	return err;
}

#define MAX_PARAMS 32
#define TEXTOID 25

static enum em_err prepare(struct db_conn *c, const struct db_stmt *st)
{
	/* Every parameter is text: statements cast what they use, and may leave
	 * some of a shared layout unused. */
	static const Oid TYPES[MAX_PARAMS] = {
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	PGresult *res;

	for (size_t i = 0; i < c->nprepared; i++)
		if (c->prepared[i] == st)
			return EM_OK;
	if (st->nparams > MAX_PARAMS)
		return EM_EINTERNAL;
	if (c->nprepared == c->prepared_cap) {
		size_t cap = c->prepared_cap ? 2 * c->prepared_cap : 256;
		const struct db_stmt **grown = realloc(c->prepared, cap * sizeof(*grown));
		if (!grown)
			return EM_EINTERNAL;
		c->prepared = grown;
		c->prepared_cap = cap;
	}
	res = PQprepare(c->pg, st->name, st->sql, st->nparams, TYPES);
	drain_notifies(c);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return fail(c, res, st->name);
	PQclear(res);
	c->prepared[c->nprepared++] = st;
	return EM_OK;
}

enum em_err db_exec(struct db_conn *c, const struct db_stmt *st, const char *const *params,
		    PGresult **out)
{
	enum em_err rc;
	PGresult *res;
	ExecStatusType status;

	if ((rc = db_ensure(c)) != EM_OK)
		return rc;
	if ((rc = prepare(c, st)) != EM_OK)
		return rc;
	res = PQexecPrepared(c->pg, st->name, st->nparams, params, NULL, NULL, 0);
	drain_notifies(c);
	status = PQresultStatus(res);
	if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
		return fail(c, res, st->name);
	*out = res;
	return EM_OK;
}

enum em_err db_copy_begin(struct db_conn *c, const char *sql)
{
	enum em_err rc;
	PGresult *res;

	if ((rc = db_ensure(c)) != EM_OK)
		return rc;
	res = PQexec(c->pg, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		return fail(c, res, "COPY");
	PQclear(res);
	return EM_OK;
}

enum em_err db_copy_put(struct db_conn *c, const char *buf, size_t len)
{
	/* PQputCopyData takes an int length: feed big buffers in slices. */
	while (len > 0) {
		int n = len > (1u << 30) ? 1 << 30 : (int)len;
		if (PQputCopyData(c->pg, buf, n) != 1)
			return fail(c, NULL, "COPY data");
		buf += n;
		len -= (size_t)n;
	}
	return EM_OK;
}

enum em_err db_copy_end(struct db_conn *c, const char *abort_reason)
{
	enum em_err rc = EM_OK;
	PGresult *res;

	if (PQputCopyEnd(c->pg, abort_reason) != 1)
		return fail(c, NULL, "COPY end");
	/* Drain every result; the COPY's own comes first. */
	while ((res = PQgetResult(c->pg))) {
		drain_notifies(c);
		if (rc == EM_OK && PQresultStatus(res) != PGRES_COMMAND_OK && !abort_reason) {
			rc = fail(c, res, "COPY");
			continue;
		}
		PQclear(res);
	}
	return rc;
}

static enum em_err simple(struct db_conn *c, const char *sql)
{
	PGresult *res = PQexec(c->pg, sql);
	/* COMMIT: this session's own notifications arrive before its ReadyForQuery,
	 * so the generation moves before the writer answers. */
	drain_notifies(c);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return fail(c, res, sql);
	PQclear(res);
	return EM_OK;
}

enum em_err db_tx(struct db_conn *c, db_tx_fn fn, void *ctx)
{
	enum em_err rc = EM_EUNAVAILABLE;

	for (int attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
		if ((rc = db_ensure(c)) != EM_OK)
			return rc;
		if ((rc = simple(c, "BEGIN")) != EM_OK)
			return rc;
		rc = fn(c, ctx);
		if (rc == EM_OK) {
			rc = simple(c, "COMMIT");
		} else if (c->pg && PQstatus(c->pg) == CONNECTION_OK) {
			PGresult *res = PQexec(c->pg, "ROLLBACK");
			PQclear(res);
		}
		if (rc != EM_ERETRY)
			return rc;
		struct timespec pause = {0, (long)(1 + attempt * 3 + rand() % 5) * 1000000L};
		nanosleep(&pause, NULL);
	}
	return EM_EUNAVAILABLE;
}

const char *db_last_constraint(const struct db_conn *c)
{
	return c->constraint;
}

const char *db_last_sqlstate(const struct db_conn *c)
{
	return c->sqlstate;
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
		}
		else if (atomic_load(&c->busy))
			n->in_use++;
		else
			n->idle++;
	}
	pthread_mutex_unlock(&pool.lock);
	out->errors = atomic_load(&pool.errors);
	for (int ch = 0; ch < DB_NCHANNELS; ch++)
		out->notifications[ch] = atomic_load(&pool.notifications[ch]);
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

int64_t db_int64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool db_bool(const PGresult *r, int row, int col)
{
	return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}
