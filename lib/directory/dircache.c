/*
 * dircache.c - the bounded, thread-safe cache of directory answers.
 *
 * Design
 * ------
 * A chained hash table indexes the entries by key, and a doubly linked list
 * orders them from most to least recently used.  Every entry is a node that
 * sits in both at once:
 *
 *	buckets[h & mask] -> node -> node		(hnext chains)
 *	lru_head <-> node <-> node <-> lru_tail		(prev/next)
 *
 * get moves the node to the head; put inserts at the head and, when the
 * cache holds max_entries already, drops the tail first.  The hash is FNV-1a
 * over the key, started from a random seed, so a client that picks
 * identities cannot aim them all at one bucket.
 *
 * Each node records when it was stored and when it stops being fresh
 * (stored + found_ttl or not_found_ttl).  It is deleted once it is older
 * than its TTL plus keep_stale, when it is next looked at, or earlier by LRU.
 *
 * Locking: one mutex.  Nodes are allocated before and freed after the
 * critical section, which holds only the table walk and one entry copy
 * (a few kilobytes of memcpy).
 *
 * Worked example: found_ttl 300, not_found_ttl 30, keep_stale 3600.
 * "alice" found at t=1000: get returns it until t=1299; from t=1300 get
 * misses (the caller asks the directory again), and get_stale with max_age
 * 900 returns it until t=1899; at t=4900 it is gone.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "directory/dircache.h"

typedef struct node {
	struct node	*hnext;		/* Next in the bucket. */
	struct node	*prev;		/* Towards the most recently used. */
	struct node	*next;		/* Towards the least recently used. */
	uint64_t	hash;
	time_t		stored;
	time_t		fresh_until;	/* Exclusive. */
	time_t		keep_until;	/* Exclusive: deleted from here on. */
	char		key[CB_IDENTITY_MAX + 1];
	cb_dir_entry_t	entry;
} node_t;

struct cb_dircache {
	pthread_mutex_t		mutex;
	cb_dircache_conf_t	conf;
	uint64_t		seed;
	node_t			**buckets;
	size_t			mask;		/* Number of buckets - 1 (a power of two). */
	node_t			*lru_head;
	node_t			*lru_tail;
	cb_dircache_stats_t	stats;		/* entries is the live count. */
};

static uint64_t key_hash(uint64_t seed, char const *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char) key[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

static uint64_t random_seed(void)
{
	uint64_t seed = 0;
	struct timespec ts;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t) sizeof(seed)) return seed;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t) ts.tv_nsec << 32) ^ (uint64_t) ts.tv_sec ^ ((uint64_t) getpid() << 16);
}

cb_dircache_t *cb_dircache_create(cb_dircache_conf_t const *conf, char *err, size_t errlen)
{
	cb_dircache_t *cache;
	size_t nbuckets = 16;

	if (!conf || conf->max_entries < 1 || conf->max_entries > CB_DIRCACHE_MAX_ENTRIES) {
		if (err && errlen) snprintf(err, errlen, "cache max_entries must be 1 to %d", CB_DIRCACHE_MAX_ENTRIES);
		return NULL;
	}
	while (nbuckets < conf->max_entries) nbuckets <<= 1;

	cache = calloc(1, sizeof(*cache));
	if (!cache) goto oom;
	cache->buckets = calloc(nbuckets, sizeof(*cache->buckets));
	if (!cache->buckets) goto oom;
	if (pthread_mutex_init(&cache->mutex, NULL) != 0) goto oom;
	cache->conf = *conf;
	cache->mask = nbuckets - 1;
	cache->seed = random_seed();
	return cache;

oom:
	if (cache) free(cache->buckets);
	free(cache);
	if (err && errlen) snprintf(err, errlen, "out of memory for a cache of %zu entries", conf->max_entries);
	return NULL;
}

/*
 *	Table and list operations.  The caller holds the mutex.
 */

static node_t **bucket_of(cb_dircache_t *cache, uint64_t hash)
{
	return &cache->buckets[hash & cache->mask];
}

static node_t *find(cb_dircache_t *cache, char const *key, uint64_t hash)
{
	node_t *n;

	for (n = *bucket_of(cache, hash); n; n = n->hnext) {
		if (n->hash == hash && strcmp(n->key, key) == 0) return n;
	}
	return NULL;
}

static void lru_unlink(cb_dircache_t *cache, node_t *n)
{
	if (n->prev) n->prev->next = n->next;
	else cache->lru_head = n->next;
	if (n->next) n->next->prev = n->prev;
	else cache->lru_tail = n->prev;
	n->prev = n->next = NULL;
}

static void lru_push_head(cb_dircache_t *cache, node_t *n)
{
	n->prev = NULL;
	n->next = cache->lru_head;
	if (cache->lru_head) cache->lru_head->prev = n;
	cache->lru_head = n;
	if (!cache->lru_tail) cache->lru_tail = n;
}

/** unlink_node - take n out of the table and the list; the caller frees it. */
static void unlink_node(cb_dircache_t *cache, node_t *n)
{
	node_t **pp = bucket_of(cache, n->hash);

	while (*pp && *pp != n) pp = &(*pp)->hnext;
	if (*pp) *pp = n->hnext;
	n->hnext = NULL;
	lru_unlink(cache, n);
	cache->stats.entries--;
}

static void insert_node(cb_dircache_t *cache, node_t *n)
{
	node_t **pp = bucket_of(cache, n->hash);

	n->hnext = *pp;
	*pp = n;
	lru_push_head(cache, n);
	cache->stats.entries++;
}

/** expired - past keep_until, or stored after now (the clock went back). */
static bool expired(node_t const *n, time_t now)
{
	return now >= n->keep_until || now < n->stored;
}

/*
 *	Public functions.
 */

static bool key_ok(char const *key, size_t *len)
{
	if (!key) return false;
	*len = strnlen(key, CB_IDENTITY_MAX + 1);
	return *len > 0 && *len <= CB_IDENTITY_MAX;
}

bool cb_dircache_put(cb_dircache_t *cache, char const *key, cb_dir_entry_t const *entry, time_t now)
{
	node_t *n, *old, *evicted = NULL;
	unsigned int ttl;
	size_t len;

	if (!cache || !entry || !key_ok(key, &len) || entry->refused) return false;
	switch (entry->facts.result) {
	case CB_DIR_FOUND:
		ttl = cache->conf.found_ttl;
		break;
	case CB_DIR_NOT_FOUND:
		ttl = cache->conf.not_found_ttl;
		break;
	default:
		return false;	/* Never remember "unavailable". */
	}
	if (ttl == 0) return false;

	n = calloc(1, sizeof(*n));
	if (!n) return false;
	memcpy(n->key, key, len + 1);
	n->hash = key_hash(cache->seed, key, len);
	n->stored = now;
	n->fresh_until = now + (time_t) ttl;
	n->keep_until = n->fresh_until + (time_t) cache->conf.keep_stale;
	cb_dir_entry_copy(&n->entry, entry);

	pthread_mutex_lock(&cache->mutex);
	old = find(cache, key, n->hash);
	if (old) {
		unlink_node(cache, old);
	} else if (cache->stats.entries >= cache->conf.max_entries && cache->lru_tail) {
		evicted = cache->lru_tail;
		unlink_node(cache, evicted);
		cache->stats.evictions++;
	}
	insert_node(cache, n);
	cache->stats.inserts++;
	pthread_mutex_unlock(&cache->mutex);

	free(old);
	free(evicted);
	return true;
}

/**
 * lookup - the node for key usable at now with the given test, moved to the
 * head and copied to out.  Removes the node when it has expired.
 */
static bool lookup(cb_dircache_t *cache, char const *key, time_t now, unsigned int max_age, bool stale,
		   cb_dir_entry_t *out, time_t *stored_at)
{
	node_t *n, *dead = NULL;
	bool ok = false;
	uint64_t hash;
	size_t len;

	if (!cache || !out || !key_ok(key, &len)) return false;
	hash = key_hash(cache->seed, key, len);

	pthread_mutex_lock(&cache->mutex);
	n = find(cache, key, hash);
	if (n && expired(n, now)) {
		unlink_node(cache, n);
		dead = n;
		n = NULL;
	}
	if (n) {
		ok = stale ? (now - n->stored < (time_t) max_age) : (now < n->fresh_until);
	}
	if (ok) {
		lru_unlink(cache, n);
		lru_push_head(cache, n);
		cb_dir_entry_copy(out, &n->entry);
		if (stored_at) *stored_at = n->stored;
	}
	if (stale) {
		if (ok) cache->stats.stale_hits++;
	} else if (ok) {
		cache->stats.hits++;
	} else {
		cache->stats.misses++;
	}
	pthread_mutex_unlock(&cache->mutex);

	free(dead);
	return ok;
}

bool cb_dircache_get(cb_dircache_t *cache, char const *key, time_t now, cb_dir_entry_t *out)
{
	return lookup(cache, key, now, 0, false, out, NULL);
}

bool cb_dircache_get_stale(cb_dircache_t *cache, char const *key, time_t now, unsigned int max_age,
			   cb_dir_entry_t *out, time_t *stored_at)
{
	return lookup(cache, key, now, max_age, true, out, stored_at);
}

void cb_dircache_remove(cb_dircache_t *cache, char const *key)
{
	node_t *n;
	size_t len;

	if (!cache || !key_ok(key, &len)) return;
	pthread_mutex_lock(&cache->mutex);
	n = find(cache, key, key_hash(cache->seed, key, len));
	if (n) unlink_node(cache, n);
	pthread_mutex_unlock(&cache->mutex);
	free(n);
}

/** detach_all - empty the cache; returns the old LRU list for the caller to free unlocked. */
static node_t *detach_all(cb_dircache_t *cache)
{
	node_t *list = cache->lru_head;

	memset(cache->buckets, 0, (cache->mask + 1) * sizeof(*cache->buckets));
	cache->lru_head = cache->lru_tail = NULL;
	cache->stats.entries = 0;
	return list;
}

static void free_list(node_t *n)
{
	while (n) {
		node_t *next = n->next;

		free(n);
		n = next;
	}
}

void cb_dircache_clear(cb_dircache_t *cache)
{
	node_t *list;

	if (!cache) return;
	pthread_mutex_lock(&cache->mutex);
	list = detach_all(cache);
	pthread_mutex_unlock(&cache->mutex);
	free_list(list);
}

void cb_dircache_stats(cb_dircache_t *cache, cb_dircache_stats_t *out)
{
	if (!cache || !out) return;
	pthread_mutex_lock(&cache->mutex);
	*out = cache->stats;
	pthread_mutex_unlock(&cache->mutex);
}

void cb_dircache_free(cb_dircache_t *cache)
{
	if (!cache) return;
	free_list(detach_all(cache));
	pthread_mutex_destroy(&cache->mutex);
	free(cache->buckets);
	free(cache);
}
