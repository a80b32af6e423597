/*
 * aggregate.h — what the aggregates handler and its caches share (private to
 * src/monitoring/): aggregates.c parses the query, reads the meta row and the
 * groups and builds the answer; aggregate_cache.c keeps the answers under
 * their ETags and the meta rows per caller and campaign.
 */
#ifndef EFFMON_AGGREGATE_H
#define EFFMON_AGGREGATE_H

#include <stdbool.h>
#include <stdint.h>

#include "effmon/monitoring.h"

#define META_COLS 7

/* AGG_META's row as text ("" for NULL, as PQgetvalue has it), or no row. */
struct agg_meta {
	bool found;
	bool null[META_COLS];
	char col[META_COLS][24]; /* bigints and a bigint sum: at most 20 characters */
};

/* Copies the answer kept under etag into reply; false when there is none. */
bool agg_cache_get(const char *etag, struct em_reply *reply);
/* Keeps a copy of a 200 answer under its ETag (evicting the least recently used). */
void agg_cache_put(const char *etag, const struct em_reply *reply);

/* CLOCK_MONOTONIC milliseconds: when a meta row was read. */
int64_t agg_now_ms(void);
/* The meta cache's key: the caller's scope (what AGG_META reads of the caller)
 * and the campaign; false when it does not fit. */
bool agg_meta_key(const struct em_req *req, int64_t campaign, bool public, char *out,
		  size_t outlen);
/* The meta row kept under key, if still current on the request's connection db. */
bool agg_meta_cache_get(struct db_conn *db, const char *key, struct agg_meta *out);
/* Keeps a meta row read under generation at filled_ms. */
void agg_meta_cache_put(const char *key, const struct agg_meta *meta, unsigned long generation,
			int64_t filled_ms);

#endif
