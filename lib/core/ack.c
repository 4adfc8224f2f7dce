/*
 * ack.c - builder and immutable index of acknowledgements, and the
 * holder that swaps indexes between the sync thread and request threads.
 *
 * Layout: an index is one allocation of records plus one string arena, and
 * an open-addressing hash table (linear probing, power-of-two size, load
 * factor <= 1/2) of record numbers keyed by FNV-1a of the email.  Nothing in
 * it changes after cb_ack_builder_finish(), so any number of threads read it
 * without locks; a reference count (C11 atomics) frees it when the last
 * reader and the holder have let go.
 *
 * The builder uses the same table to keep one record per email while
 * records stream in: a record replaces the kept one when it is later, or
 * equally late and a withdrawal (so "revoked" wins ties).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdio.h>

#include "core/ack.h"
#include "core/tz.h"

#define EMPTY_SLOT UINT32_MAX

typedef struct {
	char	*data;
	size_t	used;
	size_t	size;
} arena_t;

typedef struct {
	uint32_t	*slots;
	size_t		mask;		/* size - 1 */
} table_t;

struct cb_ack_builder {
	cb_ack_record_t	*records;
	size_t		count;
	size_t		alloc;
	table_t		table;
	arena_t		arena;
	bool		has_latest;	/* Records dated after latest are refused. */
	time_t		latest;
	unsigned int	skew;
};

struct cb_ack_index {
	atomic_uint	refs;
	cb_ack_record_t	*records;
	size_t		count;
	size_t		agreed;
	time_t		built_at;
	table_t		table;
	arena_t		arena;
};

struct cb_ack_current {
	pthread_mutex_t	mutex;
	cb_ack_index_t	*idx;
};

static uint64_t hash_email(char const *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s) {
		h ^= (unsigned char) *s++;
		h *= 1099511628211ULL;
	}
	return h;
}

/** arena_strdup - copy s into the arena; returns an offset, or SIZE_MAX on allocation failure. */
static size_t arena_strdup(arena_t *a, char const *s)
{
	size_t len = strlen(s) + 1, off;

	if (a->used + len > a->size) {
		size_t size = a->size ? a->size * 2 : 4096;
		char *data;

		while (size < a->used + len) size *= 2;
		data = realloc(a->data, size);
		if (!data) return SIZE_MAX;
		a->data = data;
		a->size = size;
	}
	off = a->used;
	memcpy(a->data + off, s, len);
	a->used += len;
	return off;
}

/*
 *	While building, record string fields hold arena offsets (the arena
 *	moves when it grows); cb_ack_builder_finish() turns them into pointers.
 */
#define OFF(p)	((size_t) (uintptr_t) (p))
#define PTR(o)	((char const *) (uintptr_t) (o))

static char const *record_email(cb_ack_builder_t const *b, cb_ack_record_t const *r)
{
	return b->arena.data + OFF(r->email);
}

static int table_init(table_t *t, size_t size)
{
	t->slots = malloc(size * sizeof(*t->slots));
	if (!t->slots) return -1;
	memset(t->slots, 0xff, size * sizeof(*t->slots));
	t->mask = size - 1;
	return 0;
}

/** table_find_slot - the slot holding email, or the empty slot where it belongs. */
static size_t builder_find_slot(cb_ack_builder_t const *b, char const *email)
{
	size_t i = (size_t) hash_email(email) & b->table.mask;

	while (b->table.slots[i] != EMPTY_SLOT) {
		if (strcmp(record_email(b, &b->records[b->table.slots[i]]), email) == 0) return i;
		i = (i + 1) & b->table.mask;
	}
	return i;
}

static int builder_grow_table(cb_ack_builder_t *b)
{
	table_t old = b->table;

	if (table_init(&b->table, (old.mask + 1) * 2) < 0) {
		b->table = old;
		return -1;
	}
	for (size_t i = 0; i < b->count; i++) {
		b->table.slots[builder_find_slot(b, record_email(b, &b->records[i]))] = (uint32_t) i;
	}
	free(old.slots);
	return 0;
}

cb_ack_builder_t *cb_ack_builder_new(void)
{
	cb_ack_builder_t *b = calloc(1, sizeof(*b));

	if (!b) return NULL;
	if (table_init(&b->table, 1024) < 0) {
		free(b);
		return NULL;
	}
	return b;
}

void cb_ack_builder_free(cb_ack_builder_t *b)
{
	if (!b) return;
	free(b->records);
	free(b->table.slots);
	free(b->arena.data);
	free(b);
}

size_t cb_ack_builder_count(cb_ack_builder_t const *b)
{
	return b->count;
}

/** supersedes - whether a new record replaces the kept one. */
static bool supersedes(time_t new_time, bool new_revoked, cb_ack_record_t const *kept)
{
	if (new_time != kept->ack_time) return new_time > kept->ack_time;
	return new_revoked && !kept->revoked;
}

static int fill_record(cb_ack_builder_t *b, cb_ack_record_t *r, size_t email_off, time_t ack_time,
		       char const *policy_version, bool revoked, char const *origin)
{
	size_t version_off = arena_strdup(&b->arena, policy_version ? policy_version : "");
	size_t origin_off = arena_strdup(&b->arena, origin ? origin : "");

	if (version_off == SIZE_MAX || origin_off == SIZE_MAX) return -1;
	r->email = PTR(email_off);
	r->ack_time = ack_time;
	r->policy_version = PTR(version_off);
	r->revoked = revoked;
	r->origin = PTR(origin_off);
	return 0;
}

void cb_ack_builder_set_latest(cb_ack_builder_t *b, time_t latest, unsigned int skew)
{
	b->has_latest = true;
	b->latest = latest;
	b->skew = skew;
}

bool cb_ack_builder_future(cb_ack_builder_t const *b, time_t ack_time, char *buf, size_t len)
{
	char when[32];

	if (!b->has_latest || ack_time <= b->latest) return false;
	if (buf && len) {
		snprintf(buf, len, "dated %s, more than %u s in the future (sync { future_skew }); refused",
			 cb_tz_format_utc(ack_time, when, sizeof(when)), b->skew);
	}
	return true;
}

int cb_ack_builder_add(cb_ack_builder_t *b, char const *email, time_t ack_time,
		       char const *policy_version, bool revoked, char const *origin)
{
	size_t slot, email_off, saved_used = b->arena.used;
	cb_ack_record_t rec;

	if (!email || !*email) return -1;
	if (b->has_latest && ack_time > b->latest) return CB_ACK_REFUSED_FUTURE;
	slot = builder_find_slot(b, email);
	if (b->table.slots[slot] != EMPTY_SLOT) {
		cb_ack_record_t *kept = &b->records[b->table.slots[slot]];

		if (!supersedes(ack_time, revoked, kept)) return 0;
		if (fill_record(b, &rec, OFF(kept->email), ack_time, policy_version, revoked, origin) < 0) {
			b->arena.used = saved_used;
			return -1;
		}
		*kept = rec;
		return 0;
	}

	if (b->count >= UINT32_MAX - 1) return -1;
	if (b->count == b->alloc) {
		size_t alloc = b->alloc ? b->alloc * 2 : 256;
		cb_ack_record_t *records = realloc(b->records, alloc * sizeof(*records));

		if (!records) return -1;
		b->records = records;
		b->alloc = alloc;
	}
	email_off = arena_strdup(&b->arena, email);
	if (email_off == SIZE_MAX ||
	    fill_record(b, &rec, email_off, ack_time, policy_version, revoked, origin) < 0) {
		b->arena.used = saved_used;
		return -1;
	}
	b->records[b->count] = rec;
	b->table.slots[slot] = (uint32_t) b->count++;

	if (b->count * 2 > b->table.mask + 1 && builder_grow_table(b) < 0) {
		/* The record is in, but the table is too full to take more: undo. */
		b->table.slots[builder_find_slot(b, email)] = EMPTY_SLOT;
		b->count--;
		b->arena.used = saved_used;
		return -1;
	}
	return 0;
}

cb_ack_index_t *cb_ack_builder_finish(cb_ack_builder_t *b, time_t built_at)
{
	cb_ack_index_t *idx = calloc(1, sizeof(*idx));

	if (!idx) {
		cb_ack_builder_free(b);
		return NULL;
	}
	for (size_t i = 0; i < b->count; i++) {
		cb_ack_record_t *r = &b->records[i];

		r->email = b->arena.data + OFF(r->email);
		r->policy_version = b->arena.data + OFF(r->policy_version);
		r->origin = b->arena.data + OFF(r->origin);
		if (!r->revoked) idx->agreed++;
	}
	atomic_init(&idx->refs, 1);
	idx->records = b->records;
	idx->count = b->count;
	idx->built_at = built_at;
	idx->table = b->table;
	idx->arena = b->arena;
	free(b);
	return idx;
}

cb_ack_record_t const *cb_ack_index_find(cb_ack_index_t const *idx, char const *email)
{
	size_t i;

	if (!idx || !email) return NULL;
	i = (size_t) hash_email(email) & idx->table.mask;
	while (idx->table.slots[i] != EMPTY_SLOT) {
		cb_ack_record_t const *r = &idx->records[idx->table.slots[i]];

		if (strcmp(r->email, email) == 0) return r;
		i = (i + 1) & idx->table.mask;
	}
	return NULL;
}

cb_ack_record_t const *cb_ack_index_find_latest(cb_ack_index_t const *idx, char const *const *emails, size_t n)
{
	cb_ack_record_t const *best = NULL;

	for (size_t i = 0; i < n; i++) {
		cb_ack_record_t const *r = cb_ack_index_find(idx, emails[i]);

		if (r && (!best || supersedes(r->ack_time, r->revoked, best))) best = r;
	}
	return best;
}

size_t cb_ack_index_count(cb_ack_index_t const *idx)
{
	return idx ? idx->count : 0;
}

size_t cb_ack_index_agreed(cb_ack_index_t const *idx)
{
	return idx ? idx->agreed : 0;
}

time_t cb_ack_index_built_at(cb_ack_index_t const *idx)
{
	return idx ? idx->built_at : 0;
}

cb_ack_record_t const *cb_ack_index_at(cb_ack_index_t const *idx, size_t i)
{
	if (!idx || i >= idx->count) return NULL;
	return &idx->records[i];
}

cb_ack_index_t *cb_ack_index_ref(cb_ack_index_t *idx)
{
	if (idx) atomic_fetch_add(&idx->refs, 1);
	return idx;
}

void cb_ack_index_unref(cb_ack_index_t *idx)
{
	if (!idx) return;
	if (atomic_fetch_sub(&idx->refs, 1) != 1) return;
	free(idx->records);
	free(idx->table.slots);
	free(idx->arena.data);
	free(idx);
}

cb_ack_current_t *cb_ack_current_new(void)
{
	cb_ack_current_t *cur = calloc(1, sizeof(*cur));

	if (!cur) return NULL;
	pthread_mutex_init(&cur->mutex, NULL);
	return cur;
}

void cb_ack_current_free(cb_ack_current_t *cur)
{
	if (!cur) return;
	cb_ack_index_unref(cur->idx);
	pthread_mutex_destroy(&cur->mutex);
	free(cur);
}

cb_ack_index_t *cb_ack_current_get(cb_ack_current_t *cur)
{
	cb_ack_index_t *idx;

	pthread_mutex_lock(&cur->mutex);
	idx = cb_ack_index_ref(cur->idx);
	pthread_mutex_unlock(&cur->mutex);
	return idx;
}

void cb_ack_current_set(cb_ack_current_t *cur, cb_ack_index_t *idx)
{
	cb_ack_index_t *old;

	pthread_mutex_lock(&cur->mutex);
	old = cur->idx;
	cur->idx = idx;
	pthread_mutex_unlock(&cur->mutex);
	cb_ack_index_unref(old);	/* Freed outside the lock. */
}
