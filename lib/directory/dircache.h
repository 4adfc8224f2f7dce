/*
 * dircache.h - a bounded, thread-safe cache of directory answers.
 *
 * Keyed by the normalised identity (the caller normalises; the cache compares
 * bytes).  Found and not-found answers have their own TTLs; "unavailable" and
 * refused answers are never stored.  At max_entries the least recently used
 * entry makes room.  An entry past its TTL is no longer returned by
 * cb_dircache_get(), but is kept for keep_stale seconds more so that
 * cb_dircache_get_stale() can offer it when the directory is down and the
 * module is configured to admit on cached facts.
 *
 * Times are whatever clock the caller passes as now (seconds); an entry
 * stored "in the future" (the clock went back) counts as expired.
 */
#ifndef CETBYOD_DIRCACHE_H
#define CETBYOD_DIRCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "directory/ldap.h"

#define CB_DIRCACHE_MAX_ENTRIES 1000000

typedef struct {
	size_t		max_entries;	/* 1 .. CB_DIRCACHE_MAX_ENTRIES. */
	unsigned int	found_ttl;	/* Seconds a FOUND answer is fresh; 0: not cached. */
	unsigned int	not_found_ttl;	/* Seconds a NOT_FOUND answer is fresh; 0: not cached. */
	unsigned int	keep_stale;	/* Seconds an entry is kept past its TTL for get_stale; 0: none. */
} cb_dircache_conf_t;

typedef struct {
	size_t		entries;
	uint64_t	hits;		/* cb_dircache_get found a fresh entry. */
	uint64_t	misses;
	uint64_t	stale_hits;	/* cb_dircache_get_stale found an entry. */
	uint64_t	inserts;
	uint64_t	evictions;	/* Entries dropped to make room. */
} cb_dircache_stats_t;

typedef struct cb_dircache cb_dircache_t;

/**
 * cb_dircache_create - an empty cache.  The caller owns it (cb_dircache_free).
 * Returns NULL with err set when conf is out of range or memory runs out.
 */
cb_dircache_t *cb_dircache_create(cb_dircache_conf_t const *conf, char *err, size_t errlen);

/** cb_dircache_free - free the cache and its entries.  NULL is accepted. */
void cb_dircache_free(cb_dircache_t *cache);

/**
 * cb_dircache_put - remember the answer for key at instant now, replacing any.
 * Returns false (and stores nothing) for UNAVAILABLE or refused answers, when
 * the answer's TTL is 0, for an empty or over-long key, or when out of memory.
 */
bool cb_dircache_put(cb_dircache_t *cache, char const *key, cb_dir_entry_t const *entry, time_t now);

/** cb_dircache_get - copy the fresh answer for key into out; false (out untouched) if none. */
bool cb_dircache_get(cb_dircache_t *cache, char const *key, time_t now, cb_dir_entry_t *out);

/**
 * cb_dircache_get_stale - copy the answer for key, fresh or past its TTL,
 * when it was stored less than max_age seconds before now (and is still
 * kept: see keep_stale).  *stored_at (may be NULL) gets when it was stored.
 * False, with out untouched, if there is none.
 */
bool cb_dircache_get_stale(cb_dircache_t *cache, char const *key, time_t now, unsigned int max_age,
			   cb_dir_entry_t *out, time_t *stored_at);

/** cb_dircache_remove - forget key (e.g. after an administrator's change). */
void cb_dircache_remove(cb_dircache_t *cache, char const *key);

/** cb_dircache_clear - forget everything. */
void cb_dircache_clear(cb_dircache_t *cache);

/** cb_dircache_stats - a consistent snapshot of the counters. */
void cb_dircache_stats(cb_dircache_t *cache, cb_dircache_stats_t *out);

#endif
