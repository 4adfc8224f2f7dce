/*
 * sync.c - the sync thread: fetch, build, swap.
 *
 * One thread per source.  It sleeps on a condition variable until the next
 * sync is due, a sync is requested, or it is told to stop, so stopping (on
 * detach and HUP) takes no longer than the fetch in progress, which is
 * bounded by the source's own timeouts.  The index in force is replaced only
 * by a complete, successful fetch; a failure keeps the old index and is
 * recorded in the status.  The status is guarded by the mutex; the index
 * itself is swapped through cb_ack_current_t.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cetbyod/sync.h>

struct cb_sync {
	cb_sync_conf_t		conf;
	cb_source_t		*src;
	cb_ack_current_t	*cur;

	pthread_t		thread;
	pthread_mutex_t		mutex;
	pthread_cond_t		cond;
	bool			stop;
	bool			requested;
	bool			requested_full;
	time_t			last_full;
	cb_sync_status_t	status;
};

static void sync_log(cb_sync_t *sync, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sync_log(cb_sync_t *sync, cb_log_level_t level, char const *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!sync->src->log) return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sync->src->log(sync->src->log_ctx, level, "sync (%s): %s", sync->src->name, msg);
}

static void record_failure(cb_sync_t *sync, time_t now, char const *err)
{
	pthread_mutex_lock(&sync->mutex);
	sync->status.last_attempt = now;
	sync->status.consecutive_failures++;
	snprintf(sync->status.last_error, sizeof(sync->status.last_error), "%s", err);
	pthread_mutex_unlock(&sync->mutex);
}

static void record_success(cb_sync_t *sync, time_t now, cb_ack_index_t const *idx)
{
	pthread_mutex_lock(&sync->mutex);
	sync->status.last_attempt = now;
	sync->status.last_success = now;
	sync->status.consecutive_failures = 0;
	sync->status.last_error[0] = '\0';
	if (idx) {
		sync->status.last_change = now;
		sync->status.people = cb_ack_index_count(idx);
		sync->status.agreed = cb_ack_index_agreed(idx);
	}
	pthread_mutex_unlock(&sync->mutex);
}

/** sync_once - one fetch; on success the new index is in force.  Runs on the sync thread (or in start). */
static void sync_once(cb_sync_t *sync, bool full)
{
	cb_ack_builder_t *b = cb_ack_builder_new();
	cb_ack_index_t *prev, *idx;
	cb_fetch_result_t rcode;
	unsigned int retry_after = 0;
	char err[512] = "";
	time_t now = time(NULL);

	if (!b) {
		record_failure(sync, now, "out of memory");
		return;
	}
	prev = cb_ack_current_get(sync->cur);
	rcode = sync->src->fetch(sync->src, b, prev, full, &retry_after, err, sizeof(err));
	cb_ack_index_unref(prev);

	switch (rcode) {
	case CB_FETCH_UNCHANGED:
		cb_ack_builder_free(b);
		record_success(sync, now, NULL);
		return;

	case CB_FETCH_OK:
		idx = cb_ack_builder_finish(b, now);
		if (!idx) {
			record_failure(sync, now, "out of memory building the index");
			return;
		}
		record_success(sync, now, idx);
		sync_log(sync, CB_LOG_INFO, "%zu people on record, %zu with an agreement in force",
			 cb_ack_index_count(idx), cb_ack_index_agreed(idx));
		cb_ack_current_set(sync->cur, idx);
		if (full) sync->last_full = now;
		return;

	case CB_FETCH_RETRY:
	case CB_FETCH_ERROR:
		break;
	}
	cb_ack_builder_free(b);
	if (!err[0]) snprintf(err, sizeof(err), "fetch failed");
	record_failure(sync, now, err);
	sync_log(sync, CB_LOG_ERROR, "%s; keeping the acknowledgements already loaded", err);
}

static void *sync_thread(void *arg)
{
	cb_sync_t *sync = arg;

	pthread_mutex_lock(&sync->mutex);
	while (!sync->stop) {
		struct timespec deadline;
		bool full;
		int rc = 0;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += sync->conf.interval;
		while (!sync->stop && !sync->requested && rc != ETIMEDOUT) {
			rc = pthread_cond_timedwait(&sync->cond, &sync->mutex, &deadline);
		}
		if (sync->stop) break;
		full = sync->requested_full ||
		       (sync->conf.full_interval && time(NULL) - sync->last_full >= (time_t) sync->conf.full_interval);
		sync->requested = sync->requested_full = false;
		pthread_mutex_unlock(&sync->mutex);

		sync_once(sync, full);

		pthread_mutex_lock(&sync->mutex);
	}
	pthread_mutex_unlock(&sync->mutex);
	return NULL;
}

cb_sync_t *cb_sync_start(cb_sync_conf_t const *conf, cb_source_t *src, cb_ack_current_t *cur,
			 char *err, size_t errlen)
{
	cb_sync_t *sync = calloc(1, sizeof(*sync));

	if (!sync) {
		snprintf(err, errlen, "out of memory");
		if (src->free) src->free(src);
		return NULL;
	}
	sync->conf = *conf;
	if (sync->conf.interval == 0) sync->conf.interval = 1;
	sync->src = src;
	sync->cur = cur;
	pthread_mutex_init(&sync->mutex, NULL);
	pthread_cond_init(&sync->cond, NULL);

	if (conf->initial_blocking) {
		sync_once(sync, true);
	} else {
		sync->requested = sync->requested_full = true;	/* First pass at once, in the thread. */
	}
	if (pthread_create(&sync->thread, NULL, sync_thread, sync) != 0) {
		snprintf(err, errlen, "cannot start the sync thread: %s", strerror(errno));
		pthread_cond_destroy(&sync->cond);
		pthread_mutex_destroy(&sync->mutex);
		if (src->free) src->free(src);
		free(sync);
		return NULL;
	}
	return sync;
}

void cb_sync_request(cb_sync_t *sync, bool full)
{
	pthread_mutex_lock(&sync->mutex);
	sync->requested = true;
	if (full) sync->requested_full = true;
	pthread_cond_signal(&sync->cond);
	pthread_mutex_unlock(&sync->mutex);
}

void cb_sync_status(cb_sync_t *sync, cb_sync_status_t *out)
{
	pthread_mutex_lock(&sync->mutex);
	*out = sync->status;
	pthread_mutex_unlock(&sync->mutex);
}

bool cb_sync_is_stale(cb_sync_t *sync, time_t now)
{
	time_t last;

	if (sync->conf.stale_after == 0) return false;
	pthread_mutex_lock(&sync->mutex);
	last = sync->status.last_success;
	pthread_mutex_unlock(&sync->mutex);
	return now - last > (time_t) sync->conf.stale_after;
}

void cb_sync_stop(cb_sync_t *sync)
{
	if (!sync) return;
	pthread_mutex_lock(&sync->mutex);
	sync->stop = true;
	pthread_cond_broadcast(&sync->cond);
	pthread_mutex_unlock(&sync->mutex);
	pthread_join(sync->thread, NULL);

	if (sync->src->free) sync->src->free(sync->src);
	pthread_cond_destroy(&sync->cond);
	pthread_mutex_destroy(&sync->mutex);
	free(sync);
}
