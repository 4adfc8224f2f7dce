/*
 * enforcer.h - the thread that makes the network follow the decisions:
 * it disconnects (RFC 5176) the sessions of people who were revoked, whose
 * acknowledgement or exception lapsed, or whose acknowledgement changed the
 * decision (withdrawn: refused; given: promoted from onboarding to staff),
 * or whose exception ended, and applies the admin's commands from
 * cetbyodctl.
 *
 * It knows sessions only through the store, and NASes only through the
 * table it is given; the DAS sender (das.c) does the protocol.
 */
#ifndef CETBYOD_ENFORCER_H
#define CETBYOD_ENFORCER_H

#include <stdbool.h>
#include <stddef.h>

#include "audit/audit.h"
#include "base/log.h"
#include "core/ack.h"
#include "core/decide.h"
#include "directory/dirwatch.h"
#include "enforce/das.h"
#include "core/policy.h"
#include "core/metrics.h"
#include "core/roles.h"
#include "store/store.h"
#include "sources/sync.h"

/** One NAS whose sessions can be disconnected. */
typedef struct {
	char const	*name;		/* For logs: the nas { } section's name. */
	char const	*ip;		/* The address its accounting comes from; NULL/"": match by identifier. */
	char const	*identifier;	/* NAS-Identifier it sends (with das.address = that address). */
	cb_das_nas_t	das;		/* Where its DAS listens, its secret and profile. */
} cb_enforcer_nas_t;

typedef struct {
	cb_store_t		*store;		/* Shared with the caller; must outlive the enforcer. */
	cb_audit_t		*audit;		/* Revocations and disconnect attempts are recorded here; may be NULL. */
	cb_das_conf_t		das;
	cb_enforcer_nas_t const	*nas;		/* Borrowed; must outlive the enforcer. */
	size_t			num_nas;
	unsigned int		burst_limit;	/* More people than this disconnected at once: held for
						 * `cetbyodctl confirm`.  0: no limit. */
	unsigned int		stale_after;	/* Close sessions without accounting for this long (s); 0: never. */
	unsigned int		retry_interval;	/* Seconds before an unanswered disconnect is tried again. */
	unsigned int		max_attempts;	/* Attempts before a disconnect is given up. */
	cb_policy_conf_t const	*policy;	/* To re-decide when an acknowledgement changes. */
	cb_roles_t const	*roles;		/* The roles beyond employees, each with its policy; NULL: none. */
	/**
	 * directory - the directory watcher's facts provider (the module sets
	 * it up from the core's LDAP configuration and cache): every
	 * watch_interval seconds each person with an active session is
	 * decided again (cb_decide) with fresh directory facts.  Borrowed;
	 * must outlive the enforcer.  NULL: no watcher.
	 */
	cb_dirwatch_t		*directory;
	unsigned int		watch_interval;	/* Seconds between watcher rounds. */
	unsigned int		retention_days;	/* Purge records older than this, at start and daily; 0: never. */
	char const		*db_path;	/* The store's database file (for the audit rows' purge). */
	cb_metrics_t		*metrics;	/* Attempts' outcomes are counted here; may be NULL. */
	cb_log_fn_t		log;
	void			*log_ctx;
} cb_enforcer_conf_t;

typedef struct cb_enforcer cb_enforcer_t;

/**
 * cb_enforcer_start - start the enforcer thread.  conf is copied (its
 * pointers are borrowed).  Returns NULL with the reason in err.
 */
cb_enforcer_t *cb_enforcer_start(cb_enforcer_conf_t const *conf, char *err, size_t errlen);

/** cb_enforcer_attach_sync - the sync whose commands (sync, accept) it applies; NULL detaches. */
void cb_enforcer_attach_sync(cb_enforcer_t *e, cb_sync_t *sync, cb_ack_current_t *acks);

/**
 * cb_enforcer_ack_changed - a sync put a new index in force: re-decide the
 * active sessions whose acknowledgement changed and queue a disconnect where
 * the decision is now different.  Called on the sync thread (a
 * cb_sync_change_fn_t with the enforcer as uctx).
 */
void cb_enforcer_ack_changed(void *e, cb_ack_index_t const *old_idx, cb_ack_index_t const *new_idx);

/**
 * cb_enforcer_is_revoked - whether IT revoked identity (from memory, kept
 * in step with the store every pass).  The reason is copied to reason.
 */
bool cb_enforcer_is_revoked(cb_enforcer_t *e, char const *identity, char *reason, size_t len);

/**
 * cb_enforcer_exception - the exception from the register (cetbyodctl
 * exception add) in force at now for identity on the device calling_station
 * ("" or not a MAC: only one for any device; NULL: about the person, any
 * of theirs; see cb_exreg_find), from memory kept in step with the store
 * every pass.  True and out (may be NULL) filled when there is one.
 */
bool cb_enforcer_exception(cb_enforcer_t *e, char const *identity, char const *calling_station, time_t now,
			   cb_store_exception_t *out);

/**
 * cb_enforcer_decide_state - the revocation set and the exceptions register
 * as cb_decide() reads them (cb_enforcer_is_revoked, cb_enforcer_exception
 * with e as the context); e NULL: all zero, neither is consulted.  Valid
 * while e runs.
 */
cb_decide_state_t cb_enforcer_decide_state(cb_enforcer_t *e);

/** cb_enforcer_poke - run a pass now (new session, new revocation).  NULL-safe. */
void cb_enforcer_poke(cb_enforcer_t *e);

/**
 * cb_enforcer_halt - end a DAS send in progress at once and join the thread;
 * the enforcer stays allocated, so a sync thread still running may call
 * cb_enforcer_ack_changed() or cb_enforcer_poke() on it harmlessly (queued,
 * not sent) until it is halted too.  NULL is fine; a second call does nothing.
 */
void cb_enforcer_halt(cb_enforcer_t *e);

/** cb_enforcer_stop - cb_enforcer_halt(), then free it (NULL is fine). */
void cb_enforcer_stop(cb_enforcer_t *e);

#endif
