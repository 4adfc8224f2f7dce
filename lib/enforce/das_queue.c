/*
 * das_queue.c - lanes that keep DAS requests in flight for a caller that
 * must not wait (the enforcer).  Design and worked example: das_queue.h.
 *
 * Locking: one mutex guards every lane's rings and counts; it is never held
 * across cb_das_send() or the notify callback.  A request belongs to the
 * caller until submitted, to its lane until it is on the lane's finished
 * list, and to the caller again once collected; held counts it from submit
 * to collect, so neither ring of a lane (both max_queued long) can
 * overflow.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/worker.h"
#include "enforce/das_queue.h"

typedef struct {
	cb_das_queue_t		*q;
	size_t			index;
	cb_worker_t		*worker;	/* NULL until the lane is first used. */
	cb_das_request_t	**waiting;	/* Ring of max_queued: submitted, not yet sent. */
	size_t			head;
	size_t			nwaiting;
	cb_das_request_t	**finished;	/* max_queued: done, not yet collected. */
	size_t			nfinished;
	size_t			held;		/* Submitted and not yet collected. */
	cb_das_request_t	*batch;		/* CB_DAS_QUEUE_BATCH requests: what one cb_das_send() gets. */
} lane_t;

struct cb_das_queue {
	cb_das_t		*das;
	pthread_mutex_t		mutex;
	lane_t			*lanes;
	size_t			num_lanes;
	size_t			max_queued;
	size_t			rr;		/* Lane collect starts at, for fairness. */
	cb_das_queue_notify_t	notify;
	void			*ctx;
};

cb_das_queue_t *cb_das_queue_new(cb_das_t *das, size_t num_lanes, size_t max_queued, cb_das_queue_notify_t notify,
				 void *ctx, char *err, size_t errlen)
{
	cb_das_queue_t *q;

	if (!das || max_queued == 0) {
		snprintf(err, errlen, "DAS queue: no sender, or no room for a request");
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (q) q->lanes = calloc(num_lanes ? num_lanes : 1, sizeof(*q->lanes));
	if (!q || !q->lanes) {
		if (q) free(q);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&q->mutex, NULL);
	q->das = das;
	q->num_lanes = num_lanes;
	q->max_queued = max_queued;
	q->notify = notify;
	q->ctx = ctx;
	for (size_t i = 0; i < num_lanes; i++) {
		q->lanes[i].q = q;
		q->lanes[i].index = i;
	}
	return q;
}

/** take - move up to CB_DAS_QUEUE_BATCH waiting requests of l into its batch; how many. */
static size_t take(lane_t *l, cb_das_request_t **from)
{
	cb_das_queue_t *q = l->q;
	size_t n = 0;

	pthread_mutex_lock(&q->mutex);
	while (l->nwaiting && n < CB_DAS_QUEUE_BATCH) {
		from[n] = l->waiting[l->head];
		l->batch[n] = *from[n];
		l->head = (l->head + 1) % q->max_queued;
		l->nwaiting--;
		n++;
	}
	pthread_mutex_unlock(&q->mutex);
	return n;
}

/** deliver - the outcomes of a batch back into the caller's requests, and onto the finished list. */
static bool deliver(lane_t *l, cb_das_request_t **to, size_t n)
{
	cb_das_queue_t *q = l->q;
	bool more;

	pthread_mutex_lock(&q->mutex);
	for (size_t i = 0; i < n; i++) {
		*to[i] = l->batch[i];
		l->finished[l->nfinished++] = to[i];
	}
	more = l->nwaiting > 0;
	pthread_mutex_unlock(&q->mutex);
	if (q->notify) q->notify(q->ctx);
	return more;
}

static void lane_main(cb_worker_t *w, void *arg)
{
	lane_t *l = arg;
	cb_das_request_t *from[CB_DAS_QUEUE_BATCH];

	while (cb_worker_wait(w, -1)) {
		size_t n = take(l, from);

		if (n == 0) continue;
		cb_das_send(l->q->das, l->batch, n);
		/* What came in while this batch was out goes next, without waiting for a wake. */
		if (deliver(l, from, n)) cb_worker_wake(w);
	}
}

/** lane_start - the lane's rings and thread, on first use (mutex held).  0, or -1 with err. */
static int lane_start(lane_t *l, char *err, size_t errlen)
{
	cb_das_queue_t *q = l->q;
	char name[16];

	l->waiting = calloc(q->max_queued, sizeof(*l->waiting));
	l->finished = calloc(q->max_queued, sizeof(*l->finished));
	l->batch = calloc(CB_DAS_QUEUE_BATCH, sizeof(*l->batch));
	if (!l->waiting || !l->finished || !l->batch) {
		snprintf(err, errlen, "out of memory");
	} else {
		snprintf(name, sizeof(name), "das-lane-%zu", l->index);
		l->worker = cb_worker_start(name, lane_main, l, err, errlen);
		if (l->worker) return 0;
	}
	free(l->waiting);
	free(l->finished);
	free(l->batch);
	l->waiting = l->finished = NULL;
	l->batch = NULL;
	return -1;
}

int cb_das_queue_submit(cb_das_queue_t *q, size_t lane, cb_das_request_t *req, char *err, size_t errlen)
{
	lane_t *l;
	int rc = 0;

	if (!q || !req || lane >= q->num_lanes) {
		snprintf(err, errlen, "DAS queue: no lane %zu", lane);
		return -1;
	}
	l = &q->lanes[lane];
	pthread_mutex_lock(&q->mutex);
	if (!l->worker) rc = lane_start(l, err, errlen);
	if (rc == 0 && l->held >= q->max_queued) {
		snprintf(err, errlen, "%zu requests to this NAS are already queued or in flight", l->held);
		rc = -1;
	}
	if (rc == 0) {
		l->waiting[(l->head + l->nwaiting) % q->max_queued] = req;
		l->nwaiting++;
		l->held++;
	}
	pthread_mutex_unlock(&q->mutex);
	return rc;
}

void cb_das_queue_flush(cb_das_queue_t *q)
{
	if (!q) return;
	pthread_mutex_lock(&q->mutex);
	for (size_t i = 0; i < q->num_lanes; i++) {
		if (q->lanes[i].nwaiting) cb_worker_wake(q->lanes[i].worker);
	}
	pthread_mutex_unlock(&q->mutex);
}

size_t cb_das_queue_collect(cb_das_queue_t *q, cb_das_request_t **out, size_t max)
{
	size_t n = 0;

	if (!q || q->num_lanes == 0) return 0;
	pthread_mutex_lock(&q->mutex);
	for (size_t k = 0; k < q->num_lanes && n < max; k++) {
		lane_t *l = &q->lanes[(q->rr + k) % q->num_lanes];
		size_t take_n = l->nfinished < max - n ? l->nfinished : max - n;

		for (size_t i = 0; i < take_n; i++) out[n++] = l->finished[i];
		for (size_t i = take_n; i < l->nfinished; i++) l->finished[i - take_n] = l->finished[i];
		l->nfinished -= take_n;
		l->held -= take_n;
	}
	q->rr = (q->rr + 1) % q->num_lanes;
	pthread_mutex_unlock(&q->mutex);
	return n;
}

size_t cb_das_queue_held(cb_das_queue_t *q, size_t lane)
{
	size_t n;

	if (!q || lane >= q->num_lanes) return 0;
	pthread_mutex_lock(&q->mutex);
	n = q->lanes[lane].held;
	pthread_mutex_unlock(&q->mutex);
	return n;
}

void cb_das_queue_free(cb_das_queue_t *q)
{
	if (!q) return;
	for (size_t i = 0; i < q->num_lanes; i++) {
		lane_t *l = &q->lanes[i];

		cb_worker_stop(l->worker);	/* Joins: the lane is out of cb_das_send() (cancelled) and idle. */
		free(l->waiting);
		free(l->finished);
		free(l->batch);
	}
	pthread_mutex_destroy(&q->mutex);
	free(q->lanes);
	free(q);
}
