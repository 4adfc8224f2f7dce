/*
 * sync.c - the sync thread: fetch, check, swap, persist.
 *
 * One thread per source (a base/worker.h worker).  It waits until the next
 * sync is due, a sync is requested (a wake), or it is told to stop, so
 * stopping (on detach and HUP) takes no longer than the fetch in progress,
 * which the source bounds with its own timeouts.  sync->mutex guards the
 * status, the held result and the request flags; it is never held across a
 * fetch or a wait.
 *
 * A pass:
 *
 *   fetch ──UNCHANGED──> success, nothing to swap
 *     │ ──RETRY────────> failure; next pass after a truncated exponential
 *     │                   backoff with jitter (or the server's Retry-After)
 *     │ ──ERROR────────> failure; next pass after the normal interval
 *     │ ──REJECTED─────> our key was refused; next pass after the interval,
 *     │                   doubled for each refusal in a row, up to a cap
 *     OK
 *     │
 *   guard: would the new index remove more than the configured share of the
 *     │    agreements in force?  Or does the source itself ask for a hold
 *     │    (src->hold: a re-created Forms question)?  Then it is HELD: the
 *     │    old index stays, the status says why (and which kind of hold),
 *     │    and only cb_sync_accept_held() of that kind applies it.
 *     ▼
 *   swap into cb_ack_current_t, save the snapshot (atomically, by
 *   snapshot.c), call on_change(old, new) for the enforcer.
 *
 * Worked example: 1,200 staff have agreed; someone renames the agreement
 * column, so the next fetch finds no agreements at all.  The guard (say 20 %)
 * sees 1,200 removals, holds the result, and logs "sync result held: it
 * would remove 1200 of 1200 agreements (100 %, more than 20 %)".  Nobody
 * is disconnected; `cetbyodctl status` shows the hold.  Fixing the column
 * makes the next fetch normal again; a genuine mass change is applied with
 * cb_sync_accept_held().
 *
 * Every pass gives the builder its latest allowed time (now + future_skew):
 * a record dated later is refused (ack.h) and the source reports it.
 *
 * Quotas.  Every wait of the interval is jittered by +-10 % (servers that
 * share one service account and were started together drift apart).  A
 * RETRY because Google refused for its quota (429) backs off like any
 * RETRY, and is counted per minute for `cetbyodctl status` ("rate limited
 * by Google: N in the last hour").  A RETRY because our own request budget
 * is used up (nothing was sent) is no failure: the pass waits exactly until
 * the budget has room, and the status says so.
 *
 * Staleness counts from the last successful read of the source (an
 * unchanged answer and a held one count).  The snapshot is rewritten only
 * when a read changes something, so every successful read also rewrites a
 * small read mark beside it (snapshot.h); after a restart the last
 * successful read is the mark's time (or the snapshot's, without a valid
 * mark), so a Google outage that spans a restart ends in source_stale on
 * time, neither early nor late.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/name.h"
#include "base/worker.h"
#include "sources/backoff.h"
#include "sources/snapshot.h"
#include "sources/sync.h"
#include "core/tz.h"

#define RATE_MINUTES	60	/* Minutes of quota refusals counted for the status. */

struct cb_sync {
	cb_sync_conf_t		conf;
	cb_source_t		*src;
	cb_ack_current_t	*cur;

	cb_worker_t		*worker;
	pthread_mutex_t		mutex;
	bool			requested_full;	/* A full pass was asked for (the wake itself is the worker's). */
	cb_ack_index_t		*held;		/* Result held by the guard, or NULL. */
	uint32_t		next_delay_ms;	/* Wait before the next pass. */
	unsigned int		rejections;	/* Consecutive passes whose credentials were refused. */
	time_t			last_full;
	time_t			snap_synced_at;	/* synced_at of the snapshot on disk; 0: none or unknown. */
	bool			mark_failed;	/* The last read mark could not be written (logged once). */
	bool			accept_rebind;	/* An admin accepted the source's hold: tell it at the next fetch. */
	cb_sync_status_t	status;
	struct {
		time_t		minute;	/* time / 60 of the count; 0: unused. */
		unsigned int	n;
	}			rate[RATE_MINUTES];	/* Quota refusals, by minute (mutex). */
};

static void sync_log(cb_sync_t *sync, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sync_log(cb_sync_t *sync, cb_log_level_t level, char const *fmt, ...)
{
	char prefix[64];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "sync (%s): ", sync->src->name);
	va_start(ap, fmt);
	cb_log_vprefixed(sync->src->log, sync->src->log_ctx, level, prefix, fmt, ap);
	va_end(ap);
}

/** audit_sync - one audit record for a sync that changed something, was held or failed. */
static void audit_sync(cb_sync_t *sync, char const *result, cb_ack_index_t const *idx, char const *detail)
{
	cb_audit_event_t ev = {
		.type = CB_AUDIT_SYNC, .result = result, .detail = detail, .kind = sync->src->name,
	};

	if (!sync->conf.audit) return;
	if (idx) {
		ev.has_counts = true;
		ev.people = (int64_t) cb_ack_index_count(idx);
		ev.agreed = (int64_t) cb_ack_index_agreed(idx);
	}
	cb_audit_record(sync->conf.audit, &ev);
}

static void record_failure(cb_sync_t *sync, time_t now, char const *err)
{
	pthread_mutex_lock(&sync->mutex);
	sync->status.last_attempt = now;
	sync->status.consecutive_failures++;
	snprintf(sync->status.last_error, sizeof(sync->status.last_error), "%s", err);
	pthread_mutex_unlock(&sync->mutex);
}

static void record_success(cb_sync_t *sync, time_t now)
{
	sync->rejections = 0;
	pthread_mutex_lock(&sync->mutex);
	sync->status.last_attempt = now;
	sync->status.last_success = now;
	sync->status.consecutive_failures = 0;
	sync->status.last_error[0] = '\0';
	pthread_mutex_unlock(&sync->mutex);
}

/** apply - put idx in force (takes the caller's reference), persist it, tell the enforcer. */
static void apply(cb_sync_t *sync, cb_ack_index_t *idx, time_t synced_at)
{
	cb_ack_index_t *old = cb_ack_current_get(sync->cur);
	char err[512];

	cb_ack_current_set(sync->cur, cb_ack_index_ref(idx));
	pthread_mutex_lock(&sync->mutex);
	sync->status.last_change = synced_at;
	sync->status.people = cb_ack_index_count(idx);
	sync->status.agreed = cb_ack_index_agreed(idx);
	pthread_mutex_unlock(&sync->mutex);
	sync_log(sync, CB_LOG_INFO, "%zu people on record, %zu with an agreement in force",
		 cb_ack_index_count(idx), cb_ack_index_agreed(idx));
	audit_sync(sync, "ok", idx, "");

	if (sync->conf.snapshot_path) {
		if (cb_snapshot_save(sync->conf.snapshot_path, idx, synced_at, sync->src->name, err, sizeof(err)) < 0) {
			sync_log(sync, CB_LOG_ERROR, "cannot save the snapshot %s: %s (acknowledgements stay in force; "
				 "a restart during an outage would not have them)", sync->conf.snapshot_path, err);
			sync->snap_synced_at = 0;	/* The file on disk no longer matches what is in force. */
		} else {
			sync->snap_synced_at = synced_at;
		}
	}
	if (sync->conf.on_change) sync->conf.on_change(sync->conf.on_change_ctx, old, idx);
	cb_ack_index_unref(old);
	cb_ack_index_unref(idx);
}

/**
 * mark_read - record beside the snapshot that the source was read
 * successfully at now while the snapshot on disk was the index in force, so
 * that after a restart staleness counts from this read (see snapshot.h).
 */
static void mark_read(cb_sync_t *sync, time_t now)
{
	char err[512];

	if (!sync->conf.snapshot_path || sync->snap_synced_at == 0 || now <= sync->snap_synced_at) return;
	if (cb_snapshot_mark_save(sync->conf.snapshot_path, sync->snap_synced_at, now, err, sizeof(err)) < 0) {
		if (!sync->mark_failed) {
			sync_log(sync, CB_LOG_ERROR, "cannot record the time of the last successful read: %s (after a "
				 "restart the source would count as read when the snapshot was saved)", err);
		}
		sync->mark_failed = true;
		return;
	}
	sync->mark_failed = false;
}

static cb_name_t const hold_names[] = {
	{ "", CB_SYNC_HOLD_NONE },
	{ "mass-removal", CB_SYNC_HOLD_MASS_REMOVAL },
	{ "rebind", CB_SYNC_HOLD_REBIND },
	{ NULL, -1 }
};

char const *cb_sync_hold_name(cb_sync_hold_t kind)
{
	return cb_name_of(hold_names, (int) kind, "");
}

int cb_sync_hold_from_name(char const *name)
{
	return cb_name_value(hold_names, name, -1);
}

/**
 * hold_reason - why idx must be held, into msg; the kind, or NONE.  The
 * source's own hold comes first (a re-created question), with what the
 * guard says accepting it would change; then the guard's.
 */
static cb_sync_hold_t hold_reason(cb_sync_t *sync, cb_ack_index_t *idx, char *msg, size_t msglen)
{
	cb_ack_index_t *old = cb_ack_current_get(sync->cur);
	cb_guard_result_t res;
	char what[512] = "";
	bool guard;

	guard = old && cb_guard_check(&sync->conf.guard, old, idx, &res, what, sizeof(what));
	cb_ack_index_unref(old);
	if (sync->src->hold[0]) {
		if (guard) {
			snprintf(msg, msglen, "%s; accepting it would remove %zu of the %zu agreements in force",
				 sync->src->hold, res.removed, res.old_agreed);
		} else {
			snprintf(msg, msglen, "%s", sync->src->hold);
		}
		return CB_SYNC_HOLD_REBIND;
	}
	if (!guard) return CB_SYNC_HOLD_NONE;
	snprintf(msg, msglen, "%s", what);
	return CB_SYNC_HOLD_MASS_REMOVAL;
}

/** guard_holds - whether idx is held (the guard, or the source's hold); if so idx becomes the held result. */
static bool guard_holds(cb_sync_t *sync, cb_ack_index_t *idx)
{
	char msg[sizeof(sync->status.held_reason)];
	cb_sync_hold_t kind = hold_reason(sync, idx, msg, sizeof(msg));

	pthread_mutex_lock(&sync->mutex);
	cb_ack_index_unref(sync->held);
	sync->held = NULL;
	if (kind != CB_SYNC_HOLD_NONE) {
		sync->held = idx;
		/* A hold of another kind or for another reason is a new hold: an older acceptance is not for it. */
		if (!sync->status.held || sync->status.held_kind != kind ||
		    (kind == CB_SYNC_HOLD_REBIND && strcmp(sync->status.held_reason, msg) != 0)) {
			sync->status.held_since = time(NULL);
		}
		snprintf(sync->status.held_reason, sizeof(sync->status.held_reason), "%s", msg);
	} else {
		sync->status.held_since = 0;
		sync->status.held_reason[0] = '\0';
	}
	sync->status.held = kind != CB_SYNC_HOLD_NONE;
	sync->status.held_kind = kind;
	pthread_mutex_unlock(&sync->mutex);

	if (kind == CB_SYNC_HOLD_MASS_REMOVAL) {
		audit_sync(sync, "held", idx, msg);
		sync_log(sync, CB_LOG_ERROR, "sync result held, the acknowledgements in force are kept: %s; "
			 "fix the source, or accept it with 'cetbyodctl confirm --mass-removal'", msg);
	} else if (kind == CB_SYNC_HOLD_REBIND) {
		audit_sync(sync, "held", idx, msg);
		sync_log(sync, CB_LOG_ERROR, "sync result held, the acknowledgements in force are kept: %s", msg);
	}
	return kind != CB_SYNC_HOLD_NONE;
}

/**
 * rejected_delay_ms - the wait after the n-th (1, 2, ...) pass in a row
 * whose credentials were refused: the interval, then twice as long each
 * time, at most rejected_backoff_max_ms (but never less than the interval).
 * Example, interval 60 s and the default cap of an hour: 60, 120, 240, 480,
 * 960, 1920, 3600, 3600, ... s.
 */
static uint32_t rejected_delay_ms(cb_sync_t const *sync, unsigned int n)
{
	uint64_t delay = (uint64_t) sync->conf.interval * 1000U, cap = sync->conf.rejected_backoff_max_ms;

	if (cap < delay) cap = delay;
	for (unsigned int i = 1; i < n && delay < cap; i++) delay *= 2;
	return (uint32_t) (delay < cap ? delay : cap);
}

/** jittered - ms +- 10 %, so that servers sharing a service account spread their requests. */
static uint32_t jittered(uint32_t ms)
{
	uint64_t spread = (uint64_t) ms / 5;	/* 20 % wide, centred on ms. */

	if (spread == 0) return ms;
	return (uint32_t) ((uint64_t) ms - spread / 2 + cb_backoff_random() % (spread + 1));
}

/** failed - record a failed pass; returns how long to wait before the next, in ms. */
static uint32_t failed(cb_sync_t *sync, cb_source_result_t rcode, time_t now, unsigned int retry_after, char *err,
		       size_t errlen)
{
	size_t used;
	uint32_t delay;

	if (!err[0]) snprintf(err, errlen, "fetch failed");
	sync->rejections = rcode == CB_FETCH_REJECTED ? sync->rejections + 1 : 0;
	if (rcode == CB_FETCH_RETRY) {
		delay = cb_backoff_delay_ms(sync->status.consecutive_failures,
					    sync->conf.backoff_max_ms ? sync->conf.backoff_max_ms : sync->conf.interval * 1000U,
					    retry_after, cb_backoff_random());
	} else if (rcode == CB_FETCH_REJECTED) {
		delay = rejected_delay_ms(sync, sync->rejections);
		used = strlen(err);
		if (used < errlen) snprintf(err + used, errlen - used, " (refused %u time%s in a row: backing off, next try in %u s, or at once "
			 "with 'cetbyodctl sync')", sync->rejections, sync->rejections == 1 ? "" : "s", delay / 1000U);
	} else {
		delay = jittered(sync->conf.interval * 1000U);
	}
	record_failure(sync, now, err);
	audit_sync(sync, rcode == CB_FETCH_RETRY ? "retry" : "error", NULL, err);
	sync_log(sync, CB_LOG_ERROR, "%s; keeping the acknowledgements already loaded", err);
	return delay;
}

/** rate_limited - count a quota refusal at now (mutex held). */
static void rate_limited(cb_sync_t *sync, time_t now)
{
	time_t minute = now / 60;
	unsigned int slot = (unsigned int) (minute % RATE_MINUTES);

	if (sync->rate[slot].minute != minute) {
		sync->rate[slot].minute = minute;
		sync->rate[slot].n = 0;
	}
	sync->rate[slot].n++;
}

/** rate_count - quota refusals in the hour before now (mutex held). */
static unsigned int rate_count(cb_sync_t const *sync, time_t now)
{
	unsigned int n = 0;

	for (int i = 0; i < RATE_MINUTES; i++) {
		if (sync->rate[i].minute && now / 60 - sync->rate[i].minute < RATE_MINUTES) n += sync->rate[i].n;
	}
	return n;
}

/**
 * deferred - the request budget had no room: nothing was sent, which is no
 * failure; wait until it has (retry_after, from the budget).
 */
static uint32_t deferred(cb_sync_t *sync, time_t now, unsigned int retry_after, char const *err)
{
	uint32_t delay = (retry_after ? retry_after : 1) * 1000U;

	pthread_mutex_lock(&sync->mutex);
	sync->status.deferred_until = now + (time_t) (delay / 1000U);
	sync->status.next_try = sync->status.deferred_until;
	pthread_mutex_unlock(&sync->mutex);
	sync_log(sync, CB_LOG_INFO, "pass deferred: %s", err);
	return delay;
}

/** sync_once - one pass; returns how long to wait before the next, in ms. */
static uint32_t sync_once(cb_sync_t *sync, bool full)
{
	cb_ack_builder_t *b = cb_ack_builder_new();
	cb_ack_index_t *prev, *idx;
	cb_source_result_t rcode;
	unsigned int retry_after = 0;
	char err[512] = "";
	time_t now = time(NULL);
	uint32_t interval_ms = jittered(sync->conf.interval * 1000U), delay;

	if (!b) {
		record_failure(sync, now, "out of memory");
		return interval_ms;
	}
	cb_ack_builder_set_latest(b, now + (time_t) sync->conf.future_skew, sync->conf.future_skew);
	pthread_mutex_lock(&sync->mutex);
	sync->src->accept_hold = sync->accept_rebind;
	sync->accept_rebind = false;
	pthread_mutex_unlock(&sync->mutex);
	sync->src->hold[0] = '\0';
	prev = cb_ack_current_get(sync->cur);
	sync->src->retry_why = CB_SOURCE_RETRY_OTHER;
	rcode = sync->src->fetch(sync->src, b, prev, full, &retry_after, err, sizeof(err));
	cb_ack_index_unref(prev);
	if (sync->src->accept_hold && rcode != CB_FETCH_OK && rcode != CB_FETCH_UNCHANGED) {
		pthread_mutex_lock(&sync->mutex);
		sync->accept_rebind = true;	/* The source did not hear it: tell it at the next pass. */
		pthread_mutex_unlock(&sync->mutex);
	}
	sync->src->accept_hold = false;
	if (rcode != CB_FETCH_RETRY || sync->src->retry_why != CB_SOURCE_RETRY_BUDGET) {
		pthread_mutex_lock(&sync->mutex);
		sync->status.deferred_until = 0;
		sync->status.next_try = 0;
		pthread_mutex_unlock(&sync->mutex);
	}
	if (sync->src->problems_fresh) {
		pthread_mutex_lock(&sync->mutex);
		sync->status.problems = sync->src->problems;
		snprintf(sync->status.first_problem, sizeof(sync->status.first_problem), "%s", sync->src->first_problem);
		pthread_mutex_unlock(&sync->mutex);
		sync->src->problems_fresh = false;
	}

	switch (rcode) {
	case CB_FETCH_UNCHANGED:
		cb_ack_builder_free(b);
		record_success(sync, now);
		mark_read(sync, now);
		return interval_ms;

	case CB_FETCH_OK:
		idx = cb_ack_builder_finish(b, now);
		if (!idx) {
			record_failure(sync, now, "out of memory building the index");
			return interval_ms;
		}
		record_success(sync, now);
		if (full) sync->last_full = now;
		if (!guard_holds(sync, idx)) apply(sync, idx, now);
		mark_read(sync, now);		/* Also while a result is held: the source did answer. */
		return interval_ms;

	case CB_FETCH_RETRY:
	case CB_FETCH_ERROR:
	case CB_FETCH_REJECTED:
		break;
	}
	cb_ack_builder_free(b);
	if (rcode == CB_FETCH_RETRY && sync->src->retry_why == CB_SOURCE_RETRY_BUDGET) {
		return deferred(sync, now, retry_after, err);
	}
	delay = failed(sync, rcode, now, retry_after, err, sizeof(err));
	pthread_mutex_lock(&sync->mutex);
	if (rcode == CB_FETCH_RETRY && sync->src->retry_why == CB_SOURCE_RETRY_QUOTA) rate_limited(sync, now);
	sync->status.next_try = now + (time_t) ((delay + 999U) / 1000U);
	pthread_mutex_unlock(&sync->mutex);
	return delay;
}

/** take_request - whether this pass must be a full one; clears the request. */
static bool take_request(cb_sync_t *sync)
{
	bool full;

	pthread_mutex_lock(&sync->mutex);
	full = sync->requested_full ||
	       (sync->conf.full_interval && time(NULL) - sync->last_full >= (time_t) sync->conf.full_interval);
	sync->requested_full = false;
	pthread_mutex_unlock(&sync->mutex);
	return full;
}

static void sync_main(cb_worker_t *w, void *arg)
{
	cb_sync_t *sync = arg;

	while (cb_worker_wait(w, sync->next_delay_ms)) {
		sync->next_delay_ms = sync_once(sync, take_request(sync));
	}
}

/** load_snapshot - the last good index from disk, if there is a valid one. */
static void load_snapshot(cb_sync_t *sync)
{
	cb_ack_index_t *idx = NULL;
	cb_snapshot_info_t info;
	char err[512], when[32];
	time_t read_at = 0;
	int rc;

	if (!sync->conf.snapshot_path || access(sync->conf.snapshot_path, F_OK) < 0) return;
	if (cb_snapshot_load(sync->conf.snapshot_path, &idx, &info, err, sizeof(err)) < 0) {
		sync_log(sync, CB_LOG_ERROR, "ignoring the snapshot %s, it cannot be trusted: %s",
			 sync->conf.snapshot_path, err);
		return;
	}
	sync->snap_synced_at = info.synced_at;
	rc = cb_snapshot_mark_load(sync->conf.snapshot_path, info.synced_at, time(NULL), &read_at, err, sizeof(err));
	if (rc < 0) sync_log(sync, CB_LOG_WARN, "%s; staleness counts from the snapshot's own time", err);
	if (rc != 0) read_at = info.synced_at;
	cb_tz_format_utc(read_at, when, sizeof(when));
	sync_log(sync, CB_LOG_INFO, "loaded the last good acknowledgements from %s: %zu people; the source was last "
		 "read successfully at %s", sync->conf.snapshot_path, info.count, when);
	sync->status.last_success = read_at;
	sync->status.snapshot_synced_at = info.synced_at;
	sync->status.people = cb_ack_index_count(idx);
	sync->status.agreed = cb_ack_index_agreed(idx);
	cb_ack_current_set(sync->cur, idx);
}

cb_sync_t *cb_sync_start(cb_sync_conf_t const *conf, cb_source_t *src, cb_ack_current_t *cur,
			 char *err, size_t errlen)
{
	cb_sync_t *sync = calloc(1, sizeof(*sync));
	char why[256];

	if (!sync) {
		snprintf(err, errlen, "out of memory");
		if (src->free) src->free(src);
		return NULL;
	}
	sync->conf = *conf;
	if (sync->conf.interval == 0) sync->conf.interval = 1;
	sync->src = src;
	sync->cur = cur;
	sync->next_delay_ms = sync->conf.interval * 1000U;
	pthread_mutex_init(&sync->mutex, NULL);

	load_snapshot(sync);
	if (conf->initial_blocking) {
		sync->next_delay_ms = sync_once(sync, true);
	} else {
		sync->requested_full = true;
	}
	sync->worker = cb_worker_start("sync", sync_main, sync, why, sizeof(why));
	if (!sync->worker) {
		snprintf(err, errlen, "cannot start the sync thread: %s", why);
		pthread_mutex_destroy(&sync->mutex);
		if (src->free) src->free(src);
		free(sync);
		return NULL;
	}
	if (!conf->initial_blocking) cb_worker_wake(sync->worker);	/* First pass at once, in the thread. */
	return sync;
}

void cb_sync_request(cb_sync_t *sync, bool full)
{
	if (full) {
		pthread_mutex_lock(&sync->mutex);
		sync->requested_full = true;
		pthread_mutex_unlock(&sync->mutex);
	}
	cb_worker_wake(sync->worker);
}

void cb_sync_accept_held(cb_sync_t *sync, time_t asked_at, cb_sync_hold_t kind)
{
	cb_ack_index_t *held;
	time_t since;
	cb_sync_hold_t held_kind;

	pthread_mutex_lock(&sync->mutex);
	held = sync->held;
	since = sync->status.held_since;
	held_kind = sync->status.held_kind;
	if (held && (since > asked_at || held_kind != kind)) {
		pthread_mutex_unlock(&sync->mutex);
		if (held_kind != kind) {
			sync_log(sync, CB_LOG_WARN, "an admin accepted a held sync result of the kind \"%s\", but the "
				 "one held is \"%s\": nothing applied; use 'cetbyodctl confirm --%s'",
				 cb_sync_hold_name(kind), cb_sync_hold_name(held_kind), cb_sync_hold_name(held_kind));
			return;
		}
		sync_log(sync, CB_LOG_WARN, "an admin's acceptance is older than the hold in force (it began %lld s "
			 "after; radiusd was restarted, or the hold changed): nothing applied; confirm again if this is "
			 "intended", (long long) (since - asked_at));
		return;
	}
	sync->held = NULL;
	sync->status.held = false;
	sync->status.held_kind = CB_SYNC_HOLD_NONE;
	sync->status.held_since = 0;
	sync->status.held_reason[0] = '\0';
	if (held && kind == CB_SYNC_HOLD_REBIND) sync->accept_rebind = true;
	pthread_mutex_unlock(&sync->mutex);
	if (!held) {
		/* Never armed for later: a real mass removal days afterwards must be held again. */
		sync_log(sync, CB_LOG_WARN, "an admin accepted a held sync result, but none is held (any more): "
			 "nothing applied; a later sync that removes too much is held again");
		return;
	}
	sync_log(sync, CB_LOG_WARN, "an admin accepted the held sync result (%s): applying it", cb_sync_hold_name(kind));
	apply(sync, held, time(NULL));
	if (kind == CB_SYNC_HOLD_REBIND) cb_sync_request(sync, true);	/* The source takes the new question now. */
}

void cb_sync_status(cb_sync_t *sync, cb_sync_status_t *out)
{
	pthread_mutex_lock(&sync->mutex);
	*out = sync->status;
	out->rate_limited = rate_count(sync, time(NULL));
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

void cb_sync_halt(cb_sync_t *sync)
{
	if (sync) cb_worker_halt(sync->worker);
}

void cb_sync_stop(cb_sync_t *sync)
{
	if (!sync) return;
	cb_worker_stop(sync->worker);

	cb_ack_index_unref(sync->held);
	if (sync->src->free) sync->src->free(sync->src);
	pthread_mutex_destroy(&sync->mutex);
	free(sync);
}
