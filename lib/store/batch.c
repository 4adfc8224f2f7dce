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
 * stack (the write, a state, a result, a semaphore) under qmu.  There is
 * no committer thread: when no commit is under way the arriving thread is
 * the leader, takes up to CB_STORE_GROUP_MAX items (TAKEN, its own among
 * them), and under the store's mutex commits the deferred decisions, then
 * the items in one transaction (cb_store_sessions_commit), marks them DONE
 * and posts each one's semaphore, outside qmu.  What arrived meanwhile
 * waits queued; the leader, once its own item is DONE, makes the oldest
 * of them the next leader (LEAD, posted) and returns to answer its own
 * request.  So 64 requests in flight make a few commits, not 64, each
 * answered only once its write is durable or has failed, with one wake-up
 * per waiter and none for the leader (a committer thread cost two per
 * request: the hand-off there and back).  Worked example: A arrives with
 * nothing under way and commits [A]; B, C, D arrive meanwhile and wait;
 * A's commit done, A passes the lead to B and answers; B takes B, C, D,
 * one BEGIN .. COMMIT, posts C and D, and answers.  If that COMMIT fails
 * (a full disk), B, C and D all return -1 and are not answered: the NAS
 * retries them.  The wait is bounded: an item still QUEUED after
 * CB_STORE_GROUP_WAIT_MS is unlinked and fails; a TAKEN or LEAD one is
 * posted for sure (a commit, which the backend's own timeouts bound) and
 * is waited for (its memory is the waiter's stack).
 *
 * A store with a spool (PostgreSQL, store_spool.c) keeps the queued decisions on disk
 * instead: while records wait in the spool, or when a commit fails for a
 * reason that passes, the batch goes to the spool (in order, ahead of the
 * accounting that names them) and is replayed once; only when the spool is
 * full do they wait in memory as above.
 */
#define _GNU_SOURCE		/* sem_clockwait */
#include <errno.h>
#include <semaphore.h>
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
 *	The group commit of accounting: the first waiter leads.
 */
typedef enum { ITEM_QUEUED, ITEM_LEAD, ITEM_TAKEN, ITEM_DONE } item_state_t;

typedef struct group_item {
	cb_store_sw_t		w;
	item_state_t		state;		/* Guarded by qmu. */
	sem_t			wake;		/* Posted once: DONE (w.rc set) or LEAD (commit the queue now). */
	struct group_item	*next;
} group_item_t;

struct cb_store_group {
	cb_store_t		*store;
	pthread_mutex_t		qmu;		/* Guards the queue, leading and every item's state. */
	group_item_t		*head;		/* Oldest first. */
	group_item_t		**tail;
	bool			leading;	/* A waiter is the leader: it takes and commits. */
	/* The leader's (one thread at a time). */
	group_item_t		*taken[CB_STORE_GROUP_MAX];
	cb_store_sw_t		w[CB_STORE_GROUP_MAX];
};

/** group_take - (qmu held) move up to CB_STORE_GROUP_MAX queued items to g->taken; how many. */
static size_t group_take(cb_store_group_t *g)
{
	size_t n = 0;

	while (g->head && n < CB_STORE_GROUP_MAX) {
		group_item_t *it = g->head;

		g->head = it->next;
		it->state = ITEM_TAKEN;
		g->taken[n] = it;
		g->w[n++] = it->w;
	}
	if (!g->head) g->tail = &g->head;
	return n;
}

/**
 * group_lead - (qmu held, g->leading set by or for the caller) commit the
 * queue, a transaction per CB_STORE_GROUP_MAX items, until self is DONE;
 * then pass the lead to the oldest waiter, or drop it when none waits.
 * Returns with qmu released.  Each waiter is posted once, outside qmu, so
 * that it wakes to a free mutex (signalling under it let every woken
 * thread preempt the committer and then block on qmu); the next leader is
 * posted last, once g->taken is no longer read.
 */
static void group_lead(cb_store_group_t *g, group_item_t *self)
{
	group_item_t *next = NULL;

	for (;;) {
		size_t n = group_take(g);

		pthread_mutex_unlock(&g->qmu);
		pthread_mutex_lock(&g->store->mutex);
		cb_store_batch_flush(g->store);
		cb_store_sessions_commit(g->store, g->w, n);
		pthread_mutex_unlock(&g->store->mutex);
		pthread_mutex_lock(&g->qmu);
		for (size_t i = 0; i < n; i++) {
			g->taken[i]->w.rc = g->w[i].rc;
			g->taken[i]->state = ITEM_DONE;
		}
		pthread_mutex_unlock(&g->qmu);
		for (size_t i = 0; i < n; i++) {
			if (g->taken[i] != self) sem_post(&g->taken[i]->wake);
		}
		pthread_mutex_lock(&g->qmu);
		if (self->state == ITEM_DONE) break;	/* Else more than CB_STORE_GROUP_MAX were ahead of it. */
	}
	if (g->head) {
		next = g->head;
		next->state = ITEM_LEAD;
	} else {
		g->leading = false;
	}
	pthread_mutex_unlock(&g->qmu);
	if (next) sem_post(&next->wake);
}

/** group_unlink - (qmu held) take the QUEUED item out of the queue. */
static void group_unlink(cb_store_group_t *g, group_item_t *it)
{
	group_item_t **pp = &g->head;

	while (*pp != it) pp = &(*pp)->next;
	*pp = it->next;
	if (g->tail == &it->next) g->tail = pp;
}

/**
 * group_wait - wait for it's post: false when the deadline passed with it
 * still QUEUED (then unlinked: nobody will post it).  Taken or made leader
 * meanwhile, it waits on, for the post that is then sure to come.
 */
static bool group_wait(cb_store_group_t *g, group_item_t *it, struct timespec const *deadline)
{
	while (sem_clockwait(&it->wake, CLOCK_MONOTONIC, deadline) != 0) {
		if (errno != ETIMEDOUT) continue;	/* EINTR. */
		pthread_mutex_lock(&g->qmu);
		if (it->state == ITEM_QUEUED) {
			group_unlink(g, it);
			pthread_mutex_unlock(&g->qmu);
			return false;
		}
		pthread_mutex_unlock(&g->qmu);
		while (sem_wait(&it->wake) != 0) continue;	/* In a commit: the backend's timeouts bound it. */
		break;
	}
	return true;
}

int cb_store_group_write(cb_store_group_t *g, cb_spool_op_t op, cb_store_acct_t const *a)
{
	group_item_t it = { .w = { .op = op, .a = a, .rc = -1 }, .state = ITEM_QUEUED };
	struct timespec deadline;
	bool lead;

	if (sem_init(&it.wake, 0, 0) != 0) {
		blog(g->store, CB_LOG_ERROR, "store: a session write cannot wait for its commit (%s): not recorded "
		     "(the NAS retries)", strerror(errno));
		return -1;
	}
	cb_clock_after_ms(&deadline, CB_STORE_GROUP_WAIT_MS);
	pthread_mutex_lock(&g->qmu);
	*g->tail = &it;
	g->tail = &it.next;
	lead = !g->leading;
	if (lead) {
		g->leading = true;
		group_lead(g, &it);	/* Releases qmu. */
	} else {
		pthread_mutex_unlock(&g->qmu);
		if (!group_wait(g, &it, &deadline)) {
			sem_destroy(&it.wake);
			blog(g->store, CB_LOG_ERROR, "store: a session write waited %d ms for its commit and was not "
			     "taken: not recorded (the NAS retries)", CB_STORE_GROUP_WAIT_MS);
			return -1;
		}
		pthread_mutex_lock(&g->qmu);
		if (it.state == ITEM_LEAD) {
			group_lead(g, &it);	/* Releases qmu. */
		} else {
			pthread_mutex_unlock(&g->qmu);
		}
	}
	sem_destroy(&it.wake);
	return it.w.rc;
}

cb_store_group_t *cb_store_group_start(cb_store_t *store, char *err, size_t errlen)
{
	cb_store_group_t *g = calloc(1, sizeof(*g));

	if (!g || pthread_mutex_init(&g->qmu, NULL) != 0) {
		free(g);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->store = store;
	g->tail = &g->head;
	store->group = g;
	return g;
}

void cb_store_group_stop(cb_store_group_t *g)
{
	bool busy;

	if (!g) return;
	/* No writer is left when the store closes; one still leading is let finish its commit. */
	for (int i = 0; i < CB_STORE_GROUP_WAIT_MS; i++) {
		pthread_mutex_lock(&g->qmu);
		busy = g->leading;
		pthread_mutex_unlock(&g->qmu);
		if (!busy) break;
		nanosleep(&(struct timespec) { .tv_nsec = 1000000 }, NULL);
	}
	g->store->group = NULL;
	pthread_mutex_destroy(&g->qmu);
	free(g);
}
