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
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/worker.h"
#include "store/store_int.h"

struct cb_store_batch {
	cb_store_t		*store;
	pthread_mutex_t		qmu;		/* Guards q and qlen. */
	cb_store_decision_t	*q;		/* CB_STORE_DEFER_MAX places, oldest first. */
	cb_store_decision_t	*spare;		/* The batch being committed (store->mutex held). */
	size_t			qlen;
	cb_worker_t		*worker;
};

void cb_store_batch_flush(cb_store_t *store)
{
	cb_store_batch_t *b = store->batch;
	cb_store_decision_t *batch;
	size_t n;

	if (!b) return;
	pthread_mutex_lock(&b->qmu);
	n = b->qlen;
	batch = b->q;
	b->q = b->spare;
	b->spare = batch;
	b->qlen = 0;
	pthread_mutex_unlock(&b->qmu);
	if (n && store->ops->decisions_put(store->be, batch, n) < 0 && store->log) {
		store->log(store->log_ctx, CB_LOG_ERROR, "store: %zu decision(s) could not be recorded: their sessions "
			   "will not be tied to them", n);
	}
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
		cb_store_batch_flush(b->store);
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
	store->batch = NULL;
	pthread_mutex_unlock(&store->mutex);
	pthread_mutex_destroy(&b->qmu);
	batch_free(b);
}
