/*
 * sync.h - the background thread that keeps the acknowledgement index
 * current.
 *
 * It calls its source's fetch() every interval (or at once when asked),
 * builds a new index and swaps it into the holder, so request threads never
 * wait on the source.  Its state (last attempt, last success, last error,
 * counts) is readable at any time for logs, `cetbyodctl status` and the
 * staleness check of the policy.
 */
#ifndef CETBYOD_SOURCES_SYNC_H
#define CETBYOD_SOURCES_SYNC_H

#include <stdbool.h>
#include <time.h>

#include "core/ack.h"
#include "audit/audit.h"
#include "sources/source.h"
#include "sources/guard.h"

typedef struct cb_sync cb_sync_t;

/** Why a sync result is held (the values keep the CB_SYNC_HOLD_ prefix; names: cb_sync_hold_name). */
typedef enum {
	CB_SYNC_HOLD_NONE = 0,
	CB_SYNC_HOLD_MASS_REMOVAL,	/* "mass-removal": the guard (guard.h). */
	CB_SYNC_HOLD_REBIND		/* "rebind": the source's question was re-created (source.h, hold). */
} cb_sync_hold_t;

/**
 * cb_sync_change_fn_t - called on the sync thread after a new index is put
 * in force (old may be NULL).  Both indexes are valid for the call only.
 * The enforcer uses it to find promotions and revocations.
 */
typedef void (*cb_sync_change_fn_t)(void *uctx, cb_ack_index_t const *old_idx, cb_ack_index_t const *new_idx);

typedef struct {
	unsigned int	interval;		/* Seconds between syncs (each wait varies by +-10 %, so that servers
						 * sharing a service account do not keep asking Google together). */
	unsigned int	full_interval;		/* Seconds between full syncs (sources with increments). */
	unsigned int	stale_after;		/* Seconds without success before the source is stale; 0 = never. */
	bool		initial_blocking;	/* First fetch in cb_sync_start itself (local sources). */
	char const	*snapshot_path;		/* Last good index, saved and loaded here; NULL: not persisted. */
	cb_guard_conf_t	guard;			/* Mass-removal guard; max_removal_percent 100 = off. */
	unsigned int	future_skew;		/* Records dated more than this many seconds ahead are refused. */
	uint32_t	backoff_max_ms;		/* Cap of the retry backoff after temporary failures. */
	uint32_t	rejected_backoff_max_ms; /* Cap of the backoff after refused credentials (at least the interval). */
	cb_sync_change_fn_t on_change;		/* May be NULL. */
	cb_audit_t	*audit;			/* Syncs that change something or fail are recorded; may be NULL. */
	void		*on_change_ctx;
} cb_sync_conf_t;

typedef struct {
	time_t		last_attempt;
	time_t		last_success;		/* Last fetch that returned OK or UNCHANGED. */
	time_t		last_change;		/* Last time a new index was put in force. */
	unsigned int	consecutive_failures;
	size_t		people;			/* Records in the index in force. */
	size_t		agreed;
	char		last_error[512];	/* "" when the last attempt succeeded. */
	bool		held;			/* A sync result is held (by the guard or the source). */
	cb_sync_hold_t	held_kind;		/* Why; CB_SYNC_HOLD_NONE when not held. */
	char		held_reason[768];
	time_t		held_since;		/* When the guard began holding (passes in a row); 0: not held. */
	time_t		snapshot_synced_at;	/* Sync time of the snapshot loaded at start-up; 0: none. */
	size_t		problems;		/* Records the last complete read skipped (bad rows, blank answers). */
	char		first_problem[CB_SOURCE_PROBLEM_MAX];	/* The first of them; "" when none. */
	unsigned int	rate_limited;		/* Passes refused by Google's quota (429) in the last hour. */
	time_t		next_try;		/* When a failed or deferred pass is tried again; 0: on the interval. */
	time_t		deferred_until;		/* The request budget deferred the last pass until then; 0: it did not. */
} cb_sync_status_t;

/**
 * cb_sync_start - start syncing src into cur.  Takes ownership of src (freed
 * by cb_sync_stop, or here on failure).  Returns NULL and fills err on
 * failure (thread creation, or a failed blocking first fetch is NOT a
 * failure: it is logged and retried).
 */
cb_sync_t *cb_sync_start(cb_sync_conf_t const *conf, cb_source_t *src, cb_ack_current_t *cur,
			 char *err, size_t errlen);

/** cb_sync_request - ask for a sync now (full: a complete re-read). */
void cb_sync_request(cb_sync_t *sync, bool full);

/**
 * cb_sync_accept_held - an admin accepts, at asked_at, the held result of
 * the kind named (the mass-removal guard's, or a source's re-bound
 * question): it is applied now, and a source's hold is passed on to the
 * source at the next sync (which it requests).  With nothing held (the
 * source was fixed meanwhile), a hold of another kind, or a hold that began
 * after asked_at (radiusd restarted, or the hold changed, and the hold the
 * admin saw went with it), it does nothing: an acceptance is never kept
 * for, or applied to, a later hold.
 */
void cb_sync_accept_held(cb_sync_t *sync, time_t asked_at, cb_sync_hold_t kind);

/** cb_sync_hold_name - "mass-removal", "rebind", or "" for none. */
char const *cb_sync_hold_name(cb_sync_hold_t kind);

/** cb_sync_hold_from_name - the kind named, or -1. */
int cb_sync_hold_from_name(char const *name);

/** cb_sync_status - a consistent copy of the state. */
void cb_sync_status(cb_sync_t *sync, cb_sync_status_t *out);

/** cb_sync_is_stale - whether decisions must treat the source as stale at now. */
bool cb_sync_is_stale(cb_sync_t *sync, time_t now);

/**
 * cb_sync_halt - stop the thread and wait for it; the object stays usable
 * (status, staleness; a request is remembered, never served) for the
 * threads still running until cb_sync_stop().  NULL is fine; once is enough.
 */
void cb_sync_halt(cb_sync_t *sync);

/** cb_sync_stop - cb_sync_halt(), then free everything (NULL is fine). */
void cb_sync_stop(cb_sync_t *sync);

#endif
