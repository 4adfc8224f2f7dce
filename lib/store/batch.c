/*
 * batch.c - deferred decisions (cb_store_conf_t.defer_decisions): an
 * Access-Accept must not wait for a commit, so cb_store_decision_put only
 * queues the decision, and a thread of the store commits the queue in one
 * transaction every CB_STORE_DEFER_MS.
 *
 * Design.  The queue is two arrays of CB_STORE_DEFER_MAX decisions: q,
 * filled by request threads under qmu, and spare, the batch being
 * committed.  A flush swaps them under qmu, so request threads wait for
 * the swap only, never for the disk, and commits the full one under the
 * store's mutex.  Every other call on the handle flushes first (the
 * front's LOCKED), so the handle always sees its own decisions; other
 * handles see them within CB_STORE_DEFER_MS.  When the queue is half
 * full the thread is woken early; when it is full, cb_store_batch_put
 * refuses and the caller commits its decision itself.  Lock order: the
 * store's mutex, then qmu, never the other way round.
 *
 * Write failures.  A batch whose commit fails for a reason that may pass
 * by itself (the backend's transient: a full disk, an I/O error, a lock)
 * is not dropped: it goes back to the front of the queue, ahead of what
 * arrived meanwhile, as far as the queue has room (what does not fit is
 * dropped and logged), and the handle is "failing".  While failing, the
 * thread retries every CB_STORE_RETRY_MS, and every other call on the
 * handle still tries first (so that an accounting Start that arrives once
 * the disk has room finds its decision); a retry commits one decision at
 * a time, so that one already written (a commit that failed half-way) or
 * refused for good is dropped alone.  The failure is logged once when it
 * starts and once when the queue is written again, not on every retry.
 * A failure that will not pass (a constraint) drops the batch, logged, as
 * before.  The Class the Access-Accept carried meanwhile stays valid: its
 * decision is written late, not lost, unless radiusd stops first.
 *
 * The group commit of accounting (cb_store_conf_t.group_commit) has the
 * same shape with one difference: an Accounting-Response may only be sent
 * once the session is recorded (RFC 2866), so the request thread waits for
 * its commit instead of returning at once.  It queues an item on its own
 * stack (the write, a state, a result) under qmu, wakes the committer when
 * the queue was empty, and waits on done until the item is DONE.  The
 * committer takes up to CB_STORE_GROUP_MAX items (TAKEN), and under the
 * store's mutex commits the deferred decisions, then the items in one
 * transaction (cb_store_sessions_commit), marks them DONE and wakes them
 * all; what arrived meanwhile is the next transaction.  So 64 requests in
 * flight make a few commits, not 64, and each is answered only once its
 * write is durable or has failed.  Worked example: Starts A, B, C arrive
 * while the committer writes batch 1; they wait queued; batch 1 done, the
 * committer takes A, B, C, one BEGIN .. COMMIT, and A, B, C answer.  If
 * that COMMIT fails (a full disk), A, B and C all return -1 and are not
 * answered: the NAS retries them.  The wait is bounded: an item still
 * QUEUED after CB_STORE_GROUP_WAIT_MS is unlinked and fails; a TAKEN one
 * is in a commit, which the backend's own timeouts bound, and is waited
 * for (its memory is the waiter's stack).
 *
 * A store with a spool (PostgreSQL, store_spool.c) keeps the queued decisions on disk
 * instead: while records wait in the spool, or when a commit fails for a
 * reason that passes, the batch goes to the spool (in order, ahead of the
 * accounting that names them) and is replayed once; only when the spool is
 * full do they wait in memory as above.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/worker.h"
#include "store/store_int.h"

struct cb_store_batch {
	cb_store_t		*store;
	pthread_mutex_t		qmu;		/* Guards q and qlen. */
	cb_store_decision_t	*q;		/* CB_STORE_DEFER_MAX places, oldest first. */
	cb_store_decision_t	*spare;		/* The batch being committed (store->mutex held). */
	size_t			qlen;
	cb_worker_t		*worker;
	/* Write failures (store->mutex held). */
	bool			failing;	/* The last commit failed transiently; the queue holds its decisions. */
	int64_t			retry_at;	/* Monotonic ms: the thread's next retry while failing. */
	size_t			late;		/* Decisions written late since the failure started. */
	size_t			lost;		/* ... dropped since then (no room, or refused for good). */
};

#define CB_STORE_RETRY_MS	1000	/* While failing, the thread retries this often. */

static void blog(cb_store_t *store, cb_log_level_t level, char const *fmt, ...) __attribute__((format(printf, 3, 4)));

static void blog(cb_store_t *store, cb_log_level_t level, char const *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cb_log_vprefixed(store->log, store->log_ctx, level, NULL, fmt, ap);
	va_end(ap);
}

/**
 * requeue - put failed[0..n) back at the front of the queue, ahead of what
 * arrived since the swap, as far as there is room; returns how many did not
 * fit (the newest arrivals are the ones dropped).  failed is b->spare.
 */
static size_t requeue(cb_store_batch_t *b, cb_store_decision_t *failed, size_t n)
{
	cb_store_decision_t *tmp;
	size_t keep;

	pthread_mutex_lock(&b->qmu);
	keep = b->qlen;
	if (n + keep > CB_STORE_DEFER_MAX) keep = CB_STORE_DEFER_MAX - n;
	memcpy(failed + n, b->q, keep * sizeof(*failed));
	n += keep;
	keep = b->qlen - keep;		/* Now: how many were dropped. */
	tmp = b->q;
	b->q = failed;
	b->spare = tmp;
	b->qlen = n;
	pthread_mutex_unlock(&b->qmu);
	return keep;
}

/**
 * commit_failing - while failing: commit batch[0..n) one decision at a
 * time; a transient failure puts the rest back.  Returns true when all are
 * done (written, or dropped for good).
 */
static bool commit_failing(cb_store_t *store, cb_store_batch_t *b, cb_store_decision_t *batch, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int rc;

		store->quiet = true;	/* Reported once, when the failure starts and when it ends. */
		rc = store->ops->decisions_put(store->be, &batch[i], 1);
		store->quiet = false;
		if (rc == 0) {
			b->late++;
			continue;
		}
		if (store->ops->transient(store->be)) break;
		b->lost++;	/* Already written by a commit that failed half-way, or refused for good. */
	}
	if (i == n) return true;
	memmove(batch, batch + i, (n - i) * sizeof(*batch));
	b->lost += requeue(b, batch, n - i);
	b->retry_at = cb_clock_ms() + CB_STORE_RETRY_MS;
	return false;
}

void cb_store_batch_flush(cb_store_t *store)
{
	cb_store_batch_t *b = store->batch;
	cb_store_decision_t *batch;
	size_t n, dropped;

	if (!b) return;
	pthread_mutex_lock(&b->qmu);
	n = b->qlen;
	batch = b->q;
	b->q = b->spare;
	b->spare = batch;
	b->qlen = 0;
	pthread_mutex_unlock(&b->qmu);
	if (!n) return;
	if (store->spool && cb_store_spool_waiting(store) && cb_store_spool_decisions(store, batch, n) == 0) return;
	if (b->failing) {
		if (!commit_failing(store, b, batch, n)) return;
		b->failing = false;
		blog(store, CB_LOG_INFO, "store: decisions are written again: %zu that waited in memory are recorded "
		     "(%zu dropped)", b->late, b->lost);
		return;
	}
	if (store->ops->decisions_put(store->be, batch, n) == 0) return;
	if (store->spool && store->ops->transient(store->be) && cb_store_spool_decisions(store, batch, n) == 0) return;
	if (!store->ops->transient(store->be)) {
		blog(store, CB_LOG_ERROR, "store: %zu decision(s) could not be recorded: their sessions will not be "
		     "tied to them", n);
		return;
	}
	dropped = requeue(b, batch, n);
	b->failing = true;
	b->retry_at = cb_clock_ms() + CB_STORE_RETRY_MS;
	b->late = 0;
	b->lost = dropped;
	blog(store, CB_LOG_ERROR, "store: decisions cannot be written now: %zu wait in memory (at most %d), retried "
	     "every %d ms; admissions go on, and accounting for them is not answered until it can be recorded",
	     n - dropped, CB_STORE_DEFER_MAX, CB_STORE_RETRY_MS);
}

static void batch_main(cb_worker_t *w, void *arg)
{
	cb_store_batch_t *b = arg;

	while (cb_worker_wait(w, CB_STORE_DEFER_MS)) {
		size_t n;

		pthread_mutex_lock(&b->qmu);
		n = b->qlen;
		pthread_mutex_unlock(&b->qmu);
		if (!n) continue;
		pthread_mutex_lock(&b->store->mutex);
		if (!b->failing || cb_clock_ms() >= b->retry_at) cb_store_batch_flush(b->store);
		pthread_mutex_unlock(&b->store->mutex);
	}
}

static void batch_free(cb_store_batch_t *b)
{
	free(b->q);
	free(b->spare);
	free(b);
}

cb_store_batch_t *cb_store_batch_start(cb_store_t *store, char *err, size_t errlen)
{
	cb_store_batch_t *b = calloc(1, sizeof(*b));
	char werr[256];

	if (!b) goto oom;
	b->store = store;
	b->q = calloc(CB_STORE_DEFER_MAX, sizeof(*b->q));
	b->spare = calloc(CB_STORE_DEFER_MAX, sizeof(*b->spare));
	if (!b->q || !b->spare || pthread_mutex_init(&b->qmu, NULL) != 0) goto oom;
	/* The thread may flush as soon as it runs: store->batch must be set first. */
	store->batch = b;
	b->worker = cb_worker_start("store-batch", batch_main, b, werr, sizeof(werr));
	if (!b->worker) {
		snprintf(err, errlen, "cannot start the store's decision writer: %s", werr);
		store->batch = NULL;
		pthread_mutex_destroy(&b->qmu);
		batch_free(b);
		return NULL;
	}
	return b;
oom:
	snprintf(err, errlen, "out of memory");
	if (b) batch_free(b);
	return NULL;
}

bool cb_store_batch_put(cb_store_batch_t *b, cb_store_decision_t const *d)
{
	bool queued = false, wake = false;

	pthread_mutex_lock(&b->qmu);
	if (b->qlen < CB_STORE_DEFER_MAX) {
		b->q[b->qlen++] = *d;
		queued = true;
		wake = b->qlen == CB_STORE_DEFER_MAX / 2;
	}
	pthread_mutex_unlock(&b->qmu);
	if (wake) cb_worker_wake(b->worker);
	return queued;
}

void cb_store_batch_stop(cb_store_batch_t *b)
{
	cb_store_t *store;

	if (!b) return;
	store = b->store;
	cb_worker_stop(b->worker);
	pthread_mutex_lock(&store->mutex);
	cb_store_batch_flush(store);
	if (b->qlen) {
		blog(store, CB_LOG_ERROR, "store: %zu decision(s) that waited in memory are lost: the store still "
		     "cannot be written as it closes", b->qlen);
	}
	store->batch = NULL;
	pthread_mutex_unlock(&store->mutex);
	pthread_mutex_destroy(&b->qmu);
	batch_free(b);
}

/*
 *	The group commit of accounting.
 */
typedef enum { ITEM_QUEUED, ITEM_TAKEN, ITEM_DONE } item_state_t;

typedef struct group_item {
	cb_store_sw_t		w;
	item_state_t		state;		/* Guarded by qmu. */
	pthread_cond_t		done;		/* Signalled when DONE: only its waiter wakes (monotonic clock). */
	struct group_item	*next;
} group_item_t;

struct cb_store_group {
	cb_store_t		*store;
	pthread_mutex_t		qmu;		/* Guards the queue and every item's state and rc. */
	group_item_t		*head;		/* Oldest first. */
	group_item_t		**tail;
	cb_worker_t		*worker;
	/* The committer's (one thread at a time: the worker, or stop after it). */
	group_item_t		*taken[CB_STORE_GROUP_MAX];
	cb_store_sw_t		w[CB_STORE_GROUP_MAX];
};

/** group_take - move up to CB_STORE_GROUP_MAX queued items to g->taken; how many. */
static size_t group_take(cb_store_group_t *g)
{
	size_t n = 0;

	pthread_mutex_lock(&g->qmu);
	while (g->head && n < CB_STORE_GROUP_MAX) {
		group_item_t *it = g->head;

		g->head = it->next;
		it->state = ITEM_TAKEN;
		g->taken[n] = it;
		g->w[n++] = it->w;
	}
	if (!g->head) g->tail = &g->head;
	pthread_mutex_unlock(&g->qmu);
	return n;
}

/** group_drain - commit what is queued, a transaction per CB_STORE_GROUP_MAX items, until none is. */
static void group_drain(cb_store_group_t *g)
{
	size_t n;

	while ((n = group_take(g)) > 0) {
		pthread_mutex_lock(&g->store->mutex);
		cb_store_batch_flush(g->store);
		cb_store_sessions_commit(g->store, g->w, n);
		pthread_mutex_unlock(&g->store->mutex);
		pthread_mutex_lock(&g->qmu);
		for (size_t i = 0; i < n; i++) {
			g->taken[i]->w.rc = g->w[i].rc;
			g->taken[i]->state = ITEM_DONE;
			pthread_cond_signal(&g->taken[i]->done);
		}
		pthread_mutex_unlock(&g->qmu);
	}
}

static void group_main(cb_worker_t *w, void *arg)
{
	while (cb_worker_wait(w, -1)) group_drain(arg);
}

/** group_unlink - (qmu held) take the QUEUED item out of the queue. */
static void group_unlink(cb_store_group_t *g, group_item_t *it)
{
	group_item_t **pp = &g->head;

	while (*pp != it) pp = &(*pp)->next;
	*pp = it->next;
	if (g->tail == &it->next) g->tail = pp;
}

int cb_store_group_write(cb_store_group_t *g, cb_spool_op_t op, cb_store_acct_t const *a)
{
	group_item_t it = { .w = { .op = op, .a = a, .rc = -1 }, .state = ITEM_QUEUED };
	struct timespec deadline;
	bool wake;

	if (cb_clock_cond_init(&it.done) != 0) {
		blog(g->store, CB_LOG_ERROR, "store: a session write cannot wait for its commit (out of memory): "
		     "not recorded (the NAS retries)");
		return -1;
	}
	cb_clock_after_ms(&deadline, CB_STORE_GROUP_WAIT_MS);
	pthread_mutex_lock(&g->qmu);
	wake = !g->head;
	*g->tail = &it;
	g->tail = &it.next;
	pthread_mutex_unlock(&g->qmu);
	if (wake) cb_worker_wake(g->worker);

	pthread_mutex_lock(&g->qmu);
	while (it.state != ITEM_DONE) {
		if (it.state == ITEM_TAKEN) {
			pthread_cond_wait(&it.done, &g->qmu);	/* In a commit: the backend's timeouts bound it. */
			continue;
		}
		if (pthread_cond_timedwait(&it.done, &g->qmu, &deadline) != ETIMEDOUT || it.state != ITEM_QUEUED) {
			continue;
		}
		group_unlink(g, &it);
		pthread_mutex_unlock(&g->qmu);
		pthread_cond_destroy(&it.done);
		blog(g->store, CB_LOG_ERROR, "store: a session write waited %d ms for its commit and was not taken: "
		     "not recorded (the NAS retries)", CB_STORE_GROUP_WAIT_MS);
		return -1;
	}
	pthread_mutex_unlock(&g->qmu);
	pthread_cond_destroy(&it.done);
	return it.w.rc;
}

static void group_free(cb_store_group_t *g)
{
	pthread_mutex_destroy(&g->qmu);
	free(g);
}

cb_store_group_t *cb_store_group_start(cb_store_t *store, char *err, size_t errlen)
{
	cb_store_group_t *g = calloc(1, sizeof(*g));
	char werr[256];

	if (!g || pthread_mutex_init(&g->qmu, NULL) != 0) {
		free(g);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->store = store;
	g->tail = &g->head;
	g->worker = cb_worker_start("store-group", group_main, g, werr, sizeof(werr));
	if (!g->worker) {
		snprintf(err, errlen, "cannot start the store's accounting committer: %s", werr);
		group_free(g);
		return NULL;
	}
	store->group = g;
	return g;
}

void cb_store_group_stop(cb_store_group_t *g)
{
	if (!g) return;
	cb_worker_halt(g->worker);	/* Kept until the end: a late cb_store_group_write may still wake it. */
	group_drain(g);			/* What was queued as it stopped: its waiters get their answer. */
	cb_worker_stop(g->worker);
	g->store->group = NULL;
	group_free(g);
}
