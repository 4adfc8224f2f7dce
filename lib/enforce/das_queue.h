/*
 * das_queue.h - the DAS client's requests kept in flight across the
 * caller's passes, so that the caller never waits on a NAS.
 *
 * cb_das_send() blocks until every request of its batch has an outcome,
 * which for a NAS that never answers is the whole retransmission schedule
 * (max_duration, 30 s by default).  The enforcer must not wait that long:
 * it writes the heartbeat and sends the next revocation.  So it hands each
 * request to a lane of this queue and goes on; it collects the outcomes on
 * a later pass.
 *
 * A lane is a thread (base/worker.h) of its own for one NAS, started when
 * that NAS first gets a request: when flushed, it takes what was queued for
 * it (at most
 * CB_DAS_QUEUE_BATCH at once), runs cb_das_send() on it (RFC 5080
 * retransmission, per-NAS Identifiers: all of das.c as before), puts the
 * finished requests on the done list and calls the notify callback.  A
 * lane waits only on its own NAS: while one NAS is silent, its lane is
 * busy for up to max_duration and requests to it queue behind that call;
 * every other lane goes on.  A lane holds at most max_queued requests
 * (submitted and not collected); cb_das_queue_submit() refuses more, and
 * the caller tries again later.
 *
 * Worked example: two NASes, lane 0 switched off, lane 1 healthy.  At t = 0
 * the enforcer submits a disconnect to lane 0; lane 0's thread sends it and
 * waits for an answer.  At t = 2 s IT revokes bob, whose session is on
 * lane 1: the enforcer submits it at once, lane 1's thread sends it and
 * gets the Disconnect-ACK in a few milliseconds, notify pokes the enforcer,
 * which collects it and marks it done.  At t = 30 s lane 0's request ends
 * as TIMEOUT and is collected in turn.
 */
#ifndef CETBYOD_DAS_QUEUE_H
#define CETBYOD_DAS_QUEUE_H

#include <stddef.h>

#include "enforce/das.h"

#define CB_DAS_QUEUE_BATCH	256	/* Most requests one lane sends in one cb_das_send(). */

typedef struct cb_das_queue cb_das_queue_t;

/** Called on a lane's thread after it put finished requests on the done list. */
typedef void (*cb_das_queue_notify_t)(void *ctx);

/**
 * cb_das_queue_new - a queue of num_lanes lanes (no thread yet) sending with
 * das, which must outlive it.  max_queued: requests one lane may hold.
 * Returns: the queue, or NULL with the reason in err.
 */
cb_das_queue_t *cb_das_queue_new(cb_das_t *das, size_t num_lanes, size_t max_queued, cb_das_queue_notify_t notify,
				 void *ctx, char *err, size_t errlen);

/**
 * cb_das_queue_submit - queue req on lane (starting the lane's thread the
 * first time); it is sent at the next cb_das_queue_flush(), together with
 * what else was queued on that lane by then (one cb_das_send(): one round
 * trip for a burst).  req and everything it points to must stay valid and
 * untouched until cb_das_queue_collect() returns it.
 * Returns: 0; -1 with the reason in err when the lane is full, lane is out
 * of range, or its thread cannot start (req is then not queued).
 */
int cb_das_queue_submit(cb_das_queue_t *q, size_t lane, cb_das_request_t *req, char *err, size_t errlen);

/** cb_das_queue_flush - wake every lane that has requests waiting, to send them. */
void cb_das_queue_flush(cb_das_queue_t *q);

/**
 * cb_das_queue_collect - take up to max finished requests (outputs filled
 * as by cb_das_send()), oldest first, without waiting.
 * Returns: how many were put in out.
 */
size_t cb_das_queue_collect(cb_das_queue_t *q, cb_das_request_t **out, size_t max);

/** cb_das_queue_held - requests submitted on lane and not yet collected. */
size_t cb_das_queue_held(cb_das_queue_t *q, size_t lane);

/**
 * cb_das_queue_free - stop every lane and free the queue (NULL is fine).
 * Call cb_das_cancel() on das first, so that a call in progress ends at
 * once.  Requests never collected are dropped: their memory is the
 * caller's.
 */
void cb_das_queue_free(cb_das_queue_t *q);

#endif
