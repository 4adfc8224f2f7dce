/*
 * gseen.c - the duplicate table of one Google fetch (see gseen.h).
 *
 * It keys records by (email, ack_time): a person who acknowledges every
 * year has several records, which is normal; two records of one person at
 * the same instant are a copied row or a double submission (a duplicate),
 * or, when one agrees and the other withdraws, a conflict that the index
 * resolves in favour of the withdrawal.  It is an open-addressing hash
 * table whose email strings live in an arena of large blocks, so 100 000
 * records cost two allocations per 64 KiB of addresses rather than one each.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/gseen.h"

#define CB_ARENA_BLOCK	65536

typedef struct {
	uint64_t	hash;		/* 0: empty slot. */
	char const	*email;
	time_t		ack_time;
	long		where;
	bool		revoked;
} gseen_entry_t;

typedef struct arena_block {
	struct arena_block	*next;
	size_t			used;
	char			data[];
} arena_block_t;

struct cb_gseen {
	gseen_entry_t		*slots;
	size_t			size;		/* Power of two. */
	size_t			count;
	arena_block_t	*arena;
};

cb_gseen_t *cb_gseen_new(void)
{
	cb_gseen_t *s = calloc(1, sizeof(*s));

	if (!s) return NULL;
	s->size = 1024;
	s->slots = calloc(s->size, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return NULL;
	}
	return s;
}

void cb_gseen_free(cb_gseen_t *s)
{
	arena_block_t *b, *next;

	if (!s) return;
	for (b = s->arena; b; b = next) {
		next = b->next;
		free(b);
	}
	free(s->slots);
	free(s);
}

static char const *arena_strdup(cb_gseen_t *s, char const *str)
{
	size_t len = strlen(str) + 1;
	arena_block_t *b = s->arena;
	char *out;

	if (!b || CB_ARENA_BLOCK - b->used < len) {
		size_t size = len > CB_ARENA_BLOCK ? len : CB_ARENA_BLOCK;

		b = malloc(sizeof(*b) + size);
		if (!b) return NULL;
		b->next = s->arena;
		b->used = 0;
		s->arena = b;
	}
	out = b->data + b->used;
	memcpy(out, str, len);
	b->used += len;
	return out;
}

/* FNV-1a over the email and the instant; never 0 (0 marks an empty slot). */
static uint64_t seen_hash(char const *email, time_t t)
{
	uint64_t h = 14695981039346656037ULL;
	uint64_t v = (uint64_t) t;

	for (; *email; email++) h = (h ^ (unsigned char) *email) * 1099511628211ULL;
	for (int i = 0; i < 8; i++, v >>= 8) h = (h ^ (v & 0xff)) * 1099511628211ULL;
	return h ? h : 1;
}

static int seen_grow(cb_gseen_t *s)
{
	size_t size = s->size * 2;
	gseen_entry_t *slots = calloc(size, sizeof(*slots));

	if (!slots) return -1;
	for (size_t i = 0; i < s->size; i++) {
		size_t j;

		if (!s->slots[i].hash) continue;
		for (j = s->slots[i].hash & (size - 1); slots[j].hash; j = (j + 1) & (size - 1));
		slots[j] = s->slots[i];
	}
	free(s->slots);
	s->slots = slots;
	s->size = size;
	return 0;
}

cb_gseen_result_t cb_gseen_check(cb_gseen_t *s, char const *email, time_t ack_time, bool revoked, long where, long *first)
{
	uint64_t h = seen_hash(email, ack_time);
	size_t i;
	gseen_entry_t *e;

	if ((s->count + 1) * 4 > s->size * 3 && seen_grow(s) < 0) return CB_GSEEN_ERROR;
	for (i = h & (s->size - 1); s->slots[i].hash; i = (i + 1) & (s->size - 1)) {
		e = &s->slots[i];
		if (e->hash != h || e->ack_time != ack_time || strcmp(e->email, email) != 0) continue;
		*first = e->where;
		if (e->revoked != revoked) {
			e->revoked = true;	/* A third copy is compared with the winner. */
			return CB_GSEEN_CONFLICT;
		}
		return CB_GSEEN_DUPLICATE;
	}
	e = &s->slots[i];
	e->email = arena_strdup(s, email);
	if (!e->email) return CB_GSEEN_ERROR;
	e->hash = h;
	e->ack_time = ack_time;
	e->revoked = revoked;
	e->where = where;
	s->count++;
	return CB_GSEEN_NEW;
}
