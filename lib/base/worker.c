/*
 * worker.c - the one way the core runs a background thread (see worker.h).
 */
#define _GNU_SOURCE		/* pthread_setname_np */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/worker.h"

struct cb_worker {
	pthread_t	thread;
	pthread_mutex_t	mutex;
	pthread_cond_t	cond;		/* On CLOCK_MONOTONIC. */
	bool		woken;		/* A wake not yet seen by cb_worker_wait(). */
	bool		stop;
	bool		joined;		/* Only the controlling thread reads and writes it. */
	cb_worker_fn_t	fn;
	void		*arg;
	char		name[16];
};

static void *worker_main(void *p)
{
	cb_worker_t *w = p;

	w->fn(w, w->arg);
	return NULL;
}

static int worker_init_sync(cb_worker_t *w)
{
	if (pthread_mutex_init(&w->mutex, NULL) != 0) return -1;
	if (cb_clock_cond_init(&w->cond) != 0) {
		pthread_mutex_destroy(&w->mutex);
		return -1;
	}
	return 0;
}

cb_worker_t *cb_worker_start(char const *name, cb_worker_fn_t fn, void *arg, char *err, size_t errlen)
{
	cb_worker_t *w = calloc(1, sizeof(*w));
	int rc;

	if (!w) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	if (worker_init_sync(w) < 0) {
		snprintf(err, errlen, "%s: cannot create the thread's mutex", name);
		free(w);
		return NULL;
	}
	w->fn = fn;
	w->arg = arg;
	snprintf(w->name, sizeof(w->name), "%s", name);
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot start a thread: %s", name, strerror(rc));
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->mutex);
		free(w);
		return NULL;
	}
	pthread_setname_np(w->thread, w->name);
	return w;
}

void cb_worker_wake(cb_worker_t *w)
{
	if (!w) return;
	pthread_mutex_lock(&w->mutex);
	w->woken = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mutex);
}

bool cb_worker_wait(cb_worker_t *w, int64_t timeout_ms)
{
	struct timespec until;
	bool go_on;

	if (timeout_ms >= 0) cb_clock_after_ms(&until, timeout_ms);
	pthread_mutex_lock(&w->mutex);
	while (!w->woken && !w->stop) {
		int rc = timeout_ms < 0 ? pthread_cond_wait(&w->cond, &w->mutex)
					: pthread_cond_timedwait(&w->cond, &w->mutex, &until);
		if (rc == ETIMEDOUT) break;
	}
	w->woken = false;
	go_on = !w->stop;
	pthread_mutex_unlock(&w->mutex);
	return go_on;
}

bool cb_worker_stopping(cb_worker_t *w)
{
	bool stop;

	pthread_mutex_lock(&w->mutex);
	stop = w->stop;
	pthread_mutex_unlock(&w->mutex);
	return stop;
}

void cb_worker_halt(cb_worker_t *w)
{
	if (!w || w->joined) return;
	pthread_mutex_lock(&w->mutex);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mutex);
	pthread_join(w->thread, NULL);
	w->joined = true;
}

void cb_worker_stop(cb_worker_t *w)
{
	if (!w) return;
	cb_worker_halt(w);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mutex);
	free(w);
}
