/*
 * budget.c - per-service-account request budgets (see budget.h).
 *
 * Each budget is a ring of the send times of the last `limit` requests.
 * A request fits when the ring is not full, or when its oldest entry left
 * the window (now - oldest >= window); it then takes the oldest's place.
 * Otherwise the wait is window - (now - oldest): exactly when the oldest
 * leaves.  Example, limit 3, window 60 s: requests at 0, 1 and 2 s fit;
 * one at 5 s waits 55 s; at 60 s it fits and replaces the one from 0 s.
 *
 * The registry is a short list (one entry per service account in use),
 * guarded, with the windows, by one mutex: requests are a few a minute.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sources/budget.h"

struct cb_budget {
	cb_budget_t	*next;
	char		*user;
	unsigned int	refs;
	uint32_t	limit;
	uint32_t	window_ms;
	int64_t		*sent;		/* Ring of send times, capacity limit. */
	uint32_t	count;		/* Entries in the ring. */
	uint32_t	head;		/* Oldest entry. */
};

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static cb_budget_t *registry;

/* Keep the newest `limit` entries only (a smaller limit from another instance). */
static void shrink(cb_budget_t *b, uint32_t limit)
{
	uint32_t keep = b->count < limit ? b->count : limit, skip = b->count - keep;

	for (uint32_t i = 0; i < keep; i++) {
		b->sent[i] = b->sent[(b->head + skip + i) % b->limit];
	}
	b->head = 0;
	b->count = keep;
	b->limit = limit;
}

cb_budget_t *cb_budget_get(char const *user, uint32_t limit, uint32_t window_ms)
{
	cb_budget_t *b;

	if (limit == 0 || !user) return NULL;
	if (limit > CB_BUDGET_MAX) limit = CB_BUDGET_MAX;
	pthread_mutex_lock(&registry_mutex);
	for (b = registry; b; b = b->next) {
		if (strcmp(b->user, user) != 0) continue;
		if (limit < b->limit) shrink(b, limit);
		b->refs++;
		pthread_mutex_unlock(&registry_mutex);
		return b;
	}
	b = calloc(1, sizeof(*b));
	if (b) {
		b->user = strdup(user);
		b->sent = calloc(limit, sizeof(*b->sent));
		if (!b->user || !b->sent) {
			free(b->user);
			free(b->sent);
			free(b);
			b = NULL;
		}
	}
	if (b) {
		b->refs = 1;
		b->limit = limit;
		b->window_ms = window_ms ? window_ms : CB_BUDGET_WINDOW_MS;
		b->next = registry;
		registry = b;
	}
	pthread_mutex_unlock(&registry_mutex);
	return b;
}

void cb_budget_put(cb_budget_t *b)
{
	cb_budget_t **p;

	if (!b) return;
	pthread_mutex_lock(&registry_mutex);
	if (--b->refs > 0) {
		pthread_mutex_unlock(&registry_mutex);
		return;
	}
	for (p = &registry; *p; p = &(*p)->next) {
		if (*p == b) {
			*p = b->next;
			break;
		}
	}
	pthread_mutex_unlock(&registry_mutex);
	free(b->user);
	free(b->sent);
	free(b);
}

/* Drop the entries that left the window ending at now. */
static void expire(cb_budget_t *b, int64_t now_ms)
{
	while (b->count > 0 && now_ms - b->sent[b->head] >= (int64_t) b->window_ms) {
		b->head = (b->head + 1) % b->limit;
		b->count--;
	}
}

bool cb_budget_take(cb_budget_t *b, int64_t now_ms, uint32_t *wait_ms)
{
	bool ok;

	pthread_mutex_lock(&registry_mutex);
	expire(b, now_ms);
	ok = b->count < b->limit;
	if (ok) {
		b->sent[(b->head + b->count) % b->limit] = now_ms;
		b->count++;
	} else if (wait_ms) {
		int64_t w = (int64_t) b->window_ms - (now_ms - b->sent[b->head]);

		*wait_ms = w < 1 ? 1 : (uint32_t) w;
	}
	pthread_mutex_unlock(&registry_mutex);
	return ok;
}

uint32_t cb_budget_used(cb_budget_t *b, int64_t now_ms)
{
	uint32_t n;

	pthread_mutex_lock(&registry_mutex);
	expire(b, now_ms);
	n = b->count;
	pthread_mutex_unlock(&registry_mutex);
	return n;
}

uint32_t cb_budget_limit(cb_budget_t *b)
{
	uint32_t n;

	pthread_mutex_lock(&registry_mutex);
	n = b->limit;
	pthread_mutex_unlock(&registry_mutex);
	return n;
}
