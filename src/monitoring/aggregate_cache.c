/*
 * aggregate_cache.c — the two caches of GET /aggregates: the answers, kept
 * under their ETags (a memo: the ETag hashes every input), and AGG_META's
 * rows, kept while no change has been announced (LISTEN/NOTIFY) and for at
 * most META_MAX_AGE_MS, so that an unchanged campaign's 304 or cached 200
 * costs no database round trip.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregate.h"

/* The answer cache (below): bodies kept, the bytes they may take in all, and
 * the largest one kept (a whole region by every grouping is ~6 MB). */
#define AGG_CACHE_SLOTS 32
#define AGG_CACHE_BYTES (8u << 20)
#define AGG_CACHE_MAX_BODY (2u << 20)

/* The meta cache (below): 64 sets of 4 entries, and the age after which an
 * entry is read again even though no change was announced. */
#define META_SETS 64
#define META_WAYS 4
#define META_MAX_AGE_MS 2000

/* --- The answer cache ------------------------------------------------------------------
 * The ETag hashes everything an answer depends on (campaign and previous
 * campaign with their versions and rollup stamps, municipality versions,
 * caller scope, include, format, grouping), so an answer computed once is the
 * answer for as long as its ETag is current: a GET whose ETag was answered
 * before costs what a 304 costs (the meta cache below: no query at all while
 * nothing changed). Keyed by ETag only, it is a
 * memo, not state: any replica computes the same body for the same ETag, and
 * a changed input is a different key (old entries age out, least recently
 * used first). Bounded in entries and bytes. */

struct agg_cached {
	char etag[64];
	char *text;
	size_t len;
	const char *content_type; /* a static string */
	unsigned long used;
};

static struct {
	pthread_mutex_t lock;
	struct agg_cached slot[AGG_CACHE_SLOTS];
	size_t bytes;
	unsigned long tick;
} agg_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

bool agg_cache_get(const char *etag, struct em_reply *reply)
{
	bool hit = false;

	pthread_mutex_lock(&agg_cache.lock);
	for (int i = 0; i < AGG_CACHE_SLOTS; i++) {
		struct agg_cached *e = &agg_cache.slot[i];
		if (!e->text || strcmp(e->etag, etag) != 0)
			continue;
		char *copy = malloc(e->len + 1);
		if (copy) {
			memcpy(copy, e->text, e->len + 1);
			e->used = ++agg_cache.tick;
			reply->status = 200;
			reply->text = copy;
			reply->text_len = e->len;
			reply->content_type = e->content_type;
			hit = true;
		}
		break;
	}
	pthread_mutex_unlock(&agg_cache.lock);
	return hit;
}

void agg_cache_put(const char *etag, const struct em_reply *reply)
{
	char *copy;

	if (reply->status != 200 || !reply->text || reply->text_len > AGG_CACHE_MAX_BODY ||
	    strlen(etag) >= sizeof(agg_cache.slot[0].etag) || !(copy = malloc(reply->text_len + 1)))
		return;
	memcpy(copy, reply->text, reply->text_len);
	copy[reply->text_len] = '\0';
	pthread_mutex_lock(&agg_cache.lock);
	for (int i = 0; i < AGG_CACHE_SLOTS; i++)
		if (agg_cache.slot[i].text && strcmp(agg_cache.slot[i].etag, etag) == 0) {
			/* Another thread computed it meanwhile. */
			pthread_mutex_unlock(&agg_cache.lock);
			free(copy);
			return;
		}
	for (;;) {
		struct agg_cached *free_slot = NULL, *lru = NULL;
		for (int i = 0; i < AGG_CACHE_SLOTS; i++) {
			struct agg_cached *e = &agg_cache.slot[i];
			if (!e->text) {
				free_slot = free_slot ? free_slot : e;
				continue;
			}
			if (!lru || e->used < lru->used)
				lru = e;
		}
		if (free_slot && agg_cache.bytes + reply->text_len <= AGG_CACHE_BYTES) {
			snprintf(free_slot->etag, sizeof(free_slot->etag), "%s", etag);
			free_slot->text = copy;
			free_slot->len = reply->text_len;
			free_slot->content_type = reply->content_type;
			free_slot->used = ++agg_cache.tick;
			agg_cache.bytes += reply->text_len;
			break;
		}
		/* lru is set: the bytes or the slots are taken, so an entry exists. */
		agg_cache.bytes -= lru->len;
		free(lru->text);
		lru->text = NULL;
	}
	pthread_mutex_unlock(&agg_cache.lock);
}

/* --- The meta cache --------------------------------------------------------------------
 * AGG_META's row (or its absence) per value of everything the statement is
 * given — caller role, region, municipality, organization, campaign, public
 * — so that the ETag of an unchanged campaign is known without a round trip.
 * An entry serves while
 * (1) the generation it was filled under is still the process's: the
 *     triggers of migration 0009 NOTIFY on every write to aggregate_stamps,
 *     campaigns and municipalities (all AGG_META reads), every connection
 *     LISTENs, and db.c moves the generation per batch of notifications read
 *     and on every (re)connect, since a connection that was down may have
 *     missed some; and
 * (2) it is younger than META_MAX_AGE_MS, a safety net for a change that no
 *     notification announces (a write with triggers disabled, as under
 *     session_replication_role = replica; a lost connection not yet noticed):
 *     staleness is bounded by 2 s, for at most one meta query per key and
 *     process every 2 s (nothing beside ~10^4 requests/s), and short enough
 *     that no client caches longer than the public feed's max-age anyway.
 * The generation and the clock are read BEFORE the filling query, so a
 * change committed while it runs leaves the entry stale at once. Before an
 * entry is used, the request's own connection is read without blocking
 * (db_notify_current); a connection that is down, closed by the server or
 * not listening uses no entry, and the request takes the normal path, whose
 * meta query answers 503 when the database is gone: the cache never answers
 * for a database it cannot hear from. The read replica's connection does not
 * listen, so it uses no entry, and what it reads fills none. 4-way set associative, the least
 * recently used entry of a set replaced. */

struct meta_entry {
	char key[128];
	struct agg_meta meta;
	unsigned long generation;
	int64_t filled_ms;
	unsigned long used;
};

static struct {
	pthread_mutex_t lock;
	struct meta_entry set[META_SETS][META_WAYS];
	unsigned long tick;
} meta_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

int64_t agg_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static unsigned meta_set(const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % META_SETS;
}

/* The public feed's query ignores the scope: so does its key. */
bool agg_meta_key(const struct em_req *req, int64_t campaign, bool public, char *out, size_t outlen)
{
	const struct em_caller *c = &req->caller;
	int n;

	if (public)
		n = snprintf(out, outlen, "public|%lld", (long long)campaign);
	else
		n = snprintf(out, outlen, "%s|%lld|%lld|%lld|%lld", em_role_name(c->role),
			     (long long)c->region_id, (long long)c->municipality_id,
			     (long long)c->organization_id, (long long)campaign);
	return n > 0 && (size_t)n < outlen;
}

bool agg_meta_cache_get(struct db_conn *db, const char *key, struct agg_meta *out)
{
	struct meta_entry *set = meta_cache.set[meta_set(key)];
	unsigned long generation;
	int64_t now;
	bool hit = false;

	if (!db_notify_current(db))
		return false;
	generation = db_notify_generation(DB_CHANNEL_AGGREGATES);
	now = agg_now_ms();
	pthread_mutex_lock(&meta_cache.lock);
	for (int i = 0; i < META_WAYS; i++) {
		struct meta_entry *e = &set[i];
		if (strcmp(e->key, key) != 0)
			continue;
		if (e->generation == generation && now - e->filled_ms < META_MAX_AGE_MS) {
			*out = e->meta;
			e->used = ++meta_cache.tick;
			hit = true;
		}
		break;
	}
	pthread_mutex_unlock(&meta_cache.lock);
	return hit;
}

void agg_meta_cache_put(const char *key, const struct agg_meta *meta, unsigned long generation,
			int64_t filled_ms)
{
	struct meta_entry *set = meta_cache.set[meta_set(key)], *slot = NULL;

	pthread_mutex_lock(&meta_cache.lock);
	for (int i = 0; i < META_WAYS; i++)
		if (strcmp(set[i].key, key) == 0) {
			slot = &set[i];
			break;
		}
	if (slot && slot->generation > generation) {
		/* Another thread filled it under a later generation meanwhile. */
		pthread_mutex_unlock(&meta_cache.lock);
		return;
	}
	if (!slot) {
		/* An empty way (used 0) or the least recently used one. */
		slot = &set[0];
		for (int i = 1; i < META_WAYS; i++)
			if (set[i].used < slot->used)
				slot = &set[i];
	}
	snprintf(slot->key, sizeof(slot->key), "%s", key);
	slot->meta = *meta;
	slot->generation = generation;
	slot->filled_ms = filled_ms;
	slot->used = ++meta_cache.tick;
	pthread_mutex_unlock(&meta_cache.lock);
}
