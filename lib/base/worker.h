/*
 * worker.h - the one way the core runs a background thread.
 *
 * Five units keep a thread (the audit writer, the store's decision batcher,
 * the sync thread, the enforcer, the people thread).  Each used to write its
 * own start / poke / stop / join sequence; they now share this one:
 *
 *	w = cb_worker_start("sync", sync_main, sync, err, sizeof(err));
 *	...			// any thread: cb_worker_wake(w) to hurry it
 *	cb_worker_stop(w);	// sets the stop flag, wakes it, joins, frees
 *
 * (or cb_worker_halt(w) first, which joins but does not free, when other
 * threads may still wake w until they are halted too)
 *
 * and the thread's body loops as
 *
 *	static void sync_main(cb_worker_t *w, void *arg)
 *	{
 *		while (cb_worker_wait(w, interval_ms)) do_one_round(arg);
 *	}
 *
 * cb_worker_wait() returns when the thread is woken, when the timeout passes,
 * or when it must stop (then false).  A wake is remembered until the next
 * wait, so a wake that arrives while the thread is working is never lost;
 * several wakes before the next wait count as one.  The worker's own mutex
 * guards only its flags: the unit's data keeps the unit's own lock, and is
 * never held across cb_worker_wait().
 *
 * Timeouts are on the monotonic clock (base/clock.h).
 */
#ifndef CETBYOD_BASE_WORKER_H
#define CETBYOD_BASE_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cb_worker cb_worker_t;

/** The thread's body; it should return soon after cb_worker_wait() returns false. */
typedef void (*cb_worker_fn_t)(cb_worker_t *w, void *arg);

/**
 * cb_worker_start - start a thread running fn(w, arg).
 * name: for messages (and the thread's name, truncated to 15 bytes).
 * Returns: the worker, owned by the caller until cb_worker_stop(); NULL with
 * err set (nothing started) when the thread could not be created.
 */
cb_worker_t *cb_worker_start(char const *name, cb_worker_fn_t fn, void *arg, char *err, size_t errlen);

/** cb_worker_wake - make the thread's current or next cb_worker_wait() return at once.  NULL-safe. */
void cb_worker_wake(cb_worker_t *w);

/**
 * cb_worker_wait - from the thread itself: wait for a wake, at most timeout_ms
 * (< 0: no limit).  Returns: false when the thread must stop, true otherwise.
 */
bool cb_worker_wait(cb_worker_t *w, int64_t timeout_ms);

/** cb_worker_stopping - from the thread itself, inside long work: true once cb_worker_stop() was called. */
bool cb_worker_stopping(cb_worker_t *w);

/**
 * cb_worker_halt - ask the thread to stop, wake it and join it, but keep the
 * worker: a cb_worker_wake() from another thread afterwards is harmless (it
 * wakes nobody).  For units whose threads call each other: halt them all,
 * then free them all.  NULL-safe; a second call does nothing.
 */
void cb_worker_halt(cb_worker_t *w);

/** cb_worker_stop - cb_worker_halt() (unless done), then free the worker.  NULL-safe. */
void cb_worker_stop(cb_worker_t *w);

#endif
