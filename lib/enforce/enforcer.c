/*
 * enforcer.c - the enforcement thread: from decisions that stopped holding
 * to RFC 5176 requests on the wire.
 *
 * Everything it acts on goes through the store's disconnect queue first, so
 * a disconnect survives a restart and cetbyodctl can see it:
 *
 *   revocation (cetbyodctl, store)  ─┐
 *   decision expired (valid_until)  ─┼─> enqueue ──> due ──> DAS (das.c) ──> mark
 *   acknowledgement changed (sync)  ─┘     │                    ACK: done
 *                                          │                    NAK/timeout: retry later,
 *        more people than burst_limit ─────┘ held                then failed
 *        until `cetbyodctl confirm`
 *
 * A pass runs every 100 ms (sooner when poked: the thread is a cb_worker)
 * and is cheap when there is nothing to do: it takes the CLI's commands,
 * refreshes the revocation set the request path reads, and sends what is
 * due.  Expired decisions are looked for once a second, stale sessions
 * closed once a minute.
 *
 * Worked example: IT runs `cetbyodctl revoke alice --reason "lost phone"`.
 * The store records the revocation and queues an "enforce" command in one
 * transaction.  Within 100 ms the enforcer sees the new revocation, queues
 * a Disconnect-Request for each of alice's active sessions, and sends them
 * in one batch (one poll loop, retransmitted per RFC 5080).  hostapd drops
 * the station and answers Disconnect-ACK; its accounting Stop closes the
 * session.  alice's next authentication is refused with revoked_by_admin,
 * because the request path checks the same revocation set.
 *
 * Re-deciding on a new acknowledgement index: for each active session whose
 * acknowledgement record changed, cb_decide() is run again with the new
 * record (the facts are those that admitted the session: staff); if the
 * status differs from the one the session was admitted with, it is disconnected, and the device's automatic re-authentication
 * lands it where it now belongs: an onboarded device that acknowledged goes
 * to the staff VLAN (promotion), an admitted device whose acknowledgement
 * was withdrawn is refused.
 *
 * The directory watcher (directory = ldap) decides again, every
 * watch_interval, for each person with an active session, with facts from the
 * directory's provider (cb_dirwatch_facts, on a connection of its own and the
 * module's cache) and the revocations and exceptions
 * held here; a changed status disconnects, an unavailable directory never.
 */
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mac.h"
#include "base/worker.h"
#include "core/decide.h"
#include "core/tz.h"
#include "enforce/das_queue.h"
#include "enforce/enforcer.h"
#include "enforce/exreg.h"
#include "enforce/moves.h"

#define PASS_MS			100
#define DUE_BATCH		256
#define SCAN_LIMIT		100000
#define LANE_MAX		1024	/* Requests one NAS may have queued or in flight. */
#define COLLECT_BATCH		64
#define UNKNOWN_REASON		"the revocation list could not be read from the store: nobody is admitted until it is"

typedef struct {
	char	identity[CB_STORE_TEXT_MAX + 1];
	char	reason[CB_STORE_REASON_MAX + 1];
} revoked_t;

struct cb_enforcer {
	cb_enforcer_conf_t	conf;
	cb_das_t		*das;
	cb_worker_t		*worker;	/* The enforcer thread: one_pass() every PASS_MS, or when woken.
						 * Set under mutex (a lane's notify reads it). */

	pthread_mutex_t		mutex;		/* Guards sync, acks, revoked and num_revoked. */
	cb_sync_t		*sync;
	cb_ack_current_t	*acks;
	cb_exreg_t		*exceptions;	/* The exceptions register; has its own lock. */
	revoked_t		*revoked;	/* Sorted by identity. */
	size_t			num_revoked;
	bool			revocations_known;	/* Read at least once: until then everyone counts as revoked. */
	size_t			revocations_skipped;	/* Unreadable rows at the last read (reported on change). */

	cb_store_watch_t	*watch;		/* Changes by other servers wake the thread (PostgreSQL). */
	cb_das_queue_t		*queue;		/* One lane per NAS: sending never blocks a pass. */
	void			**inflight;	/* pending_t of the requests handed to the queue. */
	atomic_bool		halting;	/* cb_enforcer_halt began: an outcome now is the cancellation's. */
	size_t			num_inflight;
	size_t			inflight_alloc;
	time_t			last_full_log;
	time_t			last_unknown_log;

	char			**expired;	/* "nas/session" keys already queued for expiry. */
	size_t			num_expired;
	time_t			last_expiry_scan;
	time_t			last_stale_scan;
	time_t			last_watch;
	time_t			audit_revoked_until;	/* Recorded by versions before issue 15 up to here. */
	time_t			audit_reinstated_until;
	bool			audit_loaded;
	int64_t			forgets_after;		/* Device forgets up to this id are in the trail. */
	time_t			last_heartbeat;
	time_t			next_purge;
};

static void elog(cb_enforcer_t *e, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void elog(cb_enforcer_t *e, cb_log_level_t level, char const *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cb_log_vprefixed(e->conf.log, e->conf.log_ctx, level, "enforcer: ", fmt, ap);
	va_end(ap);
}

static int revoked_cmp(void const *a, void const *b)
{
	return strcmp(((revoked_t const *) a)->identity, ((revoked_t const *) b)->identity);
}

bool cb_enforcer_is_revoked(cb_enforcer_t *e, char const *identity, char *reason, size_t len)
{
	revoked_t key, *hit;
	bool found = false;

	if (!e || strlen(identity) > CB_STORE_TEXT_MAX) return false;
	snprintf(key.identity, sizeof(key.identity), "%s", identity);
	pthread_mutex_lock(&e->mutex);
	if (!e->revocations_known) {
		/* Never fail open: a list not read yet may hold this person. */
		pthread_mutex_unlock(&e->mutex);
		if (reason && len) snprintf(reason, len, "%s", UNKNOWN_REASON);
		return true;
	}
	hit = e->num_revoked ? bsearch(&key, e->revoked, e->num_revoked, sizeof(*e->revoked), revoked_cmp) : NULL;
	if (hit) {
		found = true;
		if (reason && len) snprintf(reason, len, "%s", hit->reason);
	}
	pthread_mutex_unlock(&e->mutex);
	return found;
}

/*
 *	Queueing.
 */

/** enqueue_sessions - queue a disconnect for each session; held when the burst is too large. */
static void enqueue_sessions(cb_enforcer_t *e, cb_store_session_t const *s, size_t n, char const *const *reasons,
			     char const *what)
{
	size_t people = 0;
	bool held;
	time_t now = time(NULL);

	/* Distinct identities (the list is short, or sorted by the store). */
	for (size_t i = 0; i < n; i++) {
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++) seen = (strcmp(s[i].identity, s[j].identity) == 0);
		if (!seen) people++;
	}
	held = e->conf.burst_limit && people > e->conf.burst_limit;
	if (held) {
		elog(e, CB_LOG_ERROR, "%s would disconnect %zu people at once (more than burst_limit %u): "
		     "%zu disconnects held until an admin runs 'cetbyodctl confirm'", what, people,
		     e->conf.burst_limit, n);
	}
	for (size_t i = 0; i < n; i++) {
		int64_t id;

		if (cb_store_disconnect_enqueue(e->conf.store, s[i].nas, s[i].acct_session_id, s[i].identity,
						reasons[i], CB_DISC_DISCONNECT, held, now, &id) < 0) {
			elog(e, CB_LOG_ERROR, "cannot queue the disconnect of %s's session %s on %s", s[i].identity,
			     s[i].acct_session_id, s[i].nas);
			continue;
		}
		if (!held) {
			elog(e, CB_LOG_INFO, "queued disconnect of %s (session %s on %s%s%s): %s", s[i].identity,
			     s[i].acct_session_id, s[i].nas, s[i].calling_station[0] ? ", device " : "",
			     s[i].calling_station, reasons[i]);
		}
	}
}

/** disconnect_matching - queue disconnects for the active sessions the filter selects. */
static void disconnect_matching(cb_enforcer_t *e, cb_store_filter_t const *filter, char const *reason,
				char const *what)
{
	cb_store_sessions_t list = { 0 };
	char const **reasons;

	if (cb_store_sessions_active(e->conf.store, filter, &list) < 0 || list.count == 0) {
		cb_store_sessions_free(&list);
		return;
	}
	reasons = calloc(list.count, sizeof(*reasons));
	if (reasons) {
		for (size_t i = 0; i < list.count; i++) reasons[i] = reason;
		enqueue_sessions(e, list.items, list.count, reasons, what);
		free(reasons);
	}
	cb_store_sessions_free(&list);
}

/*
 *	Revocations: keep the in-memory set in step with the store, and
 *	disconnect the people who are newly in it.
 */
#define AUDIT_REVOKED_UNTIL	"audit.revocations_until"	/* Before issue 15: a time watermark. */
#define AUDIT_REINSTATED_UNTIL	"audit.reinstatements_until"

/** audit_action - one revoke or reinstate, unless the trail holds it (cb_audit_record_once). */
static void audit_action(cb_enforcer_t *e, cb_store_revocation_t const *r, bool reinstate)
{
	char ref[96];
	cb_audit_event_t ev = {
		.type = reinstate ? CB_AUDIT_REINSTATE : CB_AUDIT_REVOKE, .identity = r->identity, .ref = ref,
		.time = reinstate ? r->reinstated_at : r->revoked_at, .by = reinstate ? r->reinstated_by : r->by,
		.why = reinstate ? NULL : r->reason,
	};

	snprintf(ref, sizeof(ref), "revocation:%" PRId64 ":%s:%lld", r->id, reinstate ? "reinstate" : "revoke",
		 (long long) ev.time);
	cb_audit_record_once(e->conf.audit, e->conf.store, &ev);
}

/**
 * audit_revocations - record revocations and reinstatements (made by
 * cetbyodctl, which does not write the trail) that the trail does not hold
 * yet, oldest first.  Each is named by its row and instant, and the index
 * says which the trail holds (cb_audit_record_once), so none is skipped
 * (ten in one second) or repeated, across restarts and for actions made
 * while radiusd was down.  Those at or before the time watermark older
 * versions kept were recorded by them.
 */
static void audit_revocations(cb_enforcer_t *e)
{
	cb_store_revocations_t all = { 0 };

	if (!e->conf.audit) return;
	if (!e->audit_loaded) {
		e->audit_revoked_until = cb_store_status_time(e->conf.store, AUDIT_REVOKED_UNTIL);
		e->audit_reinstated_until = cb_store_status_time(e->conf.store, AUDIT_REINSTATED_UNTIL);
		e->audit_loaded = true;
	}
	if (cb_store_revocations(e->conf.store, true, &all) < 0) return;
	for (size_t i = all.count; i-- > 0;) {	/* Oldest first. */
		cb_store_revocation_t const *r = &all.items[i];

		if (r->revoked_at > e->audit_revoked_until) audit_action(e, r, false);
		if (r->reinstated_at && r->reinstated_at > e->audit_reinstated_until) audit_action(e, r, true);
	}
	cb_store_revocations_free(&all);
}

/**
 * audit_forgets - `cetbyodctl devices forget` (which does not write the
 * trail) into the trail, once each (cb_audit_record_once: by the row's
 * id), including those made while radiusd was down.
 */
static void audit_forgets(cb_enforcer_t *e)
{
	cb_store_device_forgets_t list = { 0 };

	if (!e->conf.audit || cb_store_device_forgets(e->conf.store, e->forgets_after, &list) < 0) return;
	for (size_t i = 0; i < list.count; i++) {
		cb_store_device_forget_t const *f = &list.items[i];
		char ref[64], detail[64];
		cb_audit_event_t ev = {
			.type = CB_AUDIT_DEVICES_FORGET, .time = f->at, .identity = f->identity, .by = f->by,
			.why = f->reason, .calling_station = f->mac[0] ? f->mac : NULL, .detail = detail, .ref = ref,
		};

		snprintf(ref, sizeof(ref), "devices_forget:%" PRId64, f->id);
		snprintf(detail, sizeof(detail), "%zu device(s) forgotten", f->removed);
		if (cb_audit_record_once(e->conf.audit, e->conf.store, &ev) < 0) break;
		e->forgets_after = f->id;
	}
	cb_store_device_forgets_free(&list);
}

/** revocations_read - the list in force; -1 (logged while the list is still unknown) when it cannot be read. */
static int revocations_read(cb_enforcer_t *e, cb_store_revocations_t *list)
{
	bool known;

	pthread_mutex_lock(&e->mutex);
	known = e->revocations_known;
	pthread_mutex_unlock(&e->mutex);
	if (cb_store_revocations(e->conf.store, false, list) < 0) {
		if (!known && time(NULL) - e->last_unknown_log >= 10) {
			e->last_unknown_log = time(NULL);
			elog(e, CB_LOG_ERROR, "cannot read the revocations from the store: every admission is refused "
			     "until they are read (tried again every %d ms)", PASS_MS);
		}
		return -1;
	}
	if (list->skipped != e->revocations_skipped) {
		e->revocations_skipped = list->skipped;
		if (list->skipped) {
			elog(e, CB_LOG_ERROR, "%zu revocation row(s) in the store cannot be read (first: row id %" PRId64
			     ", an identity cetbyod never writes: was the database edited?): left out, the other %zu "
			     "revocations hold", list->skipped, list->first_skipped, list->count);
		}
	}
	if (!known) elog(e, CB_LOG_INFO, "%zu revocation(s) in force read from the store", list->count);
	return 0;
}

/**
 * refresh_revocations - the set the request path reads, from the store;
 * the people newly in it are disconnected.  Returns 0, or -1 when the
 * store could not be read (the set is kept as it was).
 */
static int refresh_revocations(cb_enforcer_t *e)
{
	cb_store_revocations_t list = { 0 };
	revoked_t *set;
	size_t n;

	if (revocations_read(e, &list) < 0) return -1;
	n = list.count;
	set = n ? calloc(n, sizeof(*set)) : NULL;
	if (n && !set) {
		cb_store_revocations_free(&list);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(set[i].identity, sizeof(set[i].identity), "%s", list.items[i].identity);
		snprintf(set[i].reason, sizeof(set[i].reason), "%s", list.items[i].reason);
	}
	cb_store_revocations_free(&list);
	if (n) qsort(set, n, sizeof(*set), revoked_cmp);

	for (size_t i = 0; i < n; i++) {
		char reason[CB_STORE_REASON_MAX + 1];
		cb_store_filter_t filter = { .identity = set[i].identity };
		bool known;

		pthread_mutex_lock(&e->mutex);
		known = e->num_revoked && bsearch(&set[i], e->revoked, e->num_revoked, sizeof(*set), revoked_cmp);
		pthread_mutex_unlock(&e->mutex);
		if (known) continue;
		/* New revocation (or the first pass after start): its sessions go. */
		snprintf(reason, sizeof(reason), "revoked_by_admin: %.150s", set[i].reason);
		disconnect_matching(e, &filter, reason, "a revocation");
	}
	pthread_mutex_lock(&e->mutex);
	free(e->revoked);
	e->revoked = set;
	e->num_revoked = n;
	e->revocations_known = true;
	pthread_mutex_unlock(&e->mutex);
	audit_revocations(e);	/* Every pass: a revoke and a reinstate between two leave the set as it was. */
	return 0;
}

/*
 *	Exceptions register: when one stops being in force, the sessions it
 *	admitted (restricted, on its device) go, unless another exception
 *	still covers them.
 */
bool cb_enforcer_exception(cb_enforcer_t *e, char const *identity, char const *calling_station, time_t now,
			   cb_store_exception_t *out)
{
	return e && cb_exreg_find(e->exceptions, identity, calling_station, now, out);
}

/*
 *	The state cb_decide() reads: the register's row is copied into the
 *	core's view of it, whose limits are the store's.
 */
_Static_assert(sizeof(((cb_decide_exception_t *) 0)->mac) == sizeof(((cb_store_exception_t *) 0)->mac), "mac");
_Static_assert(sizeof(((cb_decide_exception_t *) 0)->reason) == sizeof(((cb_store_exception_t *) 0)->reason),
	       "reason");
_Static_assert(sizeof(((cb_decide_exception_t *) 0)->approved_by) ==
	       sizeof(((cb_store_exception_t *) 0)->approved_by), "approved_by");
_Static_assert(CB_DECIDE_REASON_MAX == CB_STORE_REASON_MAX, "revocation reason");

static bool state_is_revoked(void *ctx, char const *identity, char *reason, size_t len)
{
	return cb_enforcer_is_revoked(ctx, identity, reason, len);
}

static bool state_exception(void *ctx, char const *identity, char const *device, time_t now,
			    cb_decide_exception_t *out)
{
	cb_store_exception_t x;

	if (!cb_enforcer_exception(ctx, identity, device, now, &x)) return false;
	out->id = x.id;
	snprintf(out->mac, sizeof(out->mac), "%s", x.mac);
	snprintf(out->reason, sizeof(out->reason), "%s", x.reason);
	snprintf(out->approved_by, sizeof(out->approved_by), "%s", x.approved_by);
	out->until = x.until;
	return true;
}

cb_decide_state_t cb_enforcer_decide_state(cb_enforcer_t *e)
{
	if (!e) return (cb_decide_state_t) { 0 };
	return (cb_decide_state_t) { .is_revoked = state_is_revoked, .exception = state_exception, .ctx = e };
}

/** covered_by_gone - whether session s ran under exception x (its device, or any device). */
static bool covered_by_gone(cb_store_session_t const *s, cb_store_exception_t const *x)
{
	char mac[CB_MAC_LEN + 1];

	if (strcmp(s->identity, x->identity) != 0 || strcmp(s->status, "restricted") != 0) return false;
	if (!x->mac[0]) return true;
	return cb_mac_normalise(s->calling_station, mac) && strcmp(mac, x->mac) == 0;
}

static void end_exception_sessions(cb_enforcer_t *e, cb_store_exception_t const *x, time_t now)
{
	cb_store_sessions_t list = { 0 };
	char why[CB_STORE_REASON_MAX + 1];
	char const *reason = why;

	snprintf(why, sizeof(why), "exception %s: %.120s", x->ended_at ? "ended by IT" : "lapsed", x->reason);
	if (cb_store_active_for_user(e->conf.store, x->identity, &list) < 0) return;
	for (size_t i = 0; i < list.count; i++) {
		cb_store_session_t const *s = &list.items[i];

		if (!covered_by_gone(s, x)) continue;
		if (cb_enforcer_exception(e, s->identity, s->calling_station, now, NULL)) continue;
		enqueue_sessions(e, s, 1, &reason, "the end of an exception");
	}
	cb_store_sessions_free(&list);
}

static void refresh_exceptions(cb_enforcer_t *e, time_t now)
{
	cb_store_exceptions_t gone = { 0 };

	if (cb_exreg_refresh(e->exceptions, now, &gone) < 0) return;
	for (size_t i = 0; i < gone.count; i++) {
		elog(e, CB_LOG_INFO, "exception of %s%s%s (%s) is no longer in force", gone.items[i].identity,
		     gone.items[i].mac[0] ? " for device " : "", gone.items[i].mac, gone.items[i].reason);
		end_exception_sessions(e, &gone.items[i], now);
	}
	cb_store_exceptions_free(&gone);
}

static char *session_key(cb_store_session_t const *s)
{
	size_t len = strlen(s->nas) + strlen(s->acct_session_id) + 2;
	char *key = malloc(len);

	if (key) snprintf(key, len, "%s/%s", s->nas, s->acct_session_id);
	return key;
}

static bool key_in(char **keys, size_t n, char const *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(keys[i], key) == 0) return true;
	}
	return false;
}

static void free_keys(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++) free(keys[i]);
	free(keys);
}

/**
 * scan_expired - sessions whose admitting decision stopped holding.  Each
 * is queued once: the keys of those already queued are remembered for as
 * long as the session stays active (until the NAS's accounting Stop).
 */
static void scan_expired(cb_enforcer_t *e, time_t now)
{
	cb_store_filter_t filter = { .expired_by = now, .limit = SCAN_LIMIT };
	cb_store_sessions_t list = { 0 };
	char **keys;
	char const *reason = "decision expired: acknowledgement or exception lapsed";
	size_t n = 0;

	if (cb_store_sessions_active(e->conf.store, &filter, &list) < 0) return;
	keys = list.count ? calloc(list.count, sizeof(*keys)) : NULL;
	for (size_t i = 0; keys && i < list.count; i++) {
		keys[n] = session_key(&list.items[i]);
		if (!keys[n]) continue;
		if (!key_in(e->expired, e->num_expired, keys[n])) enqueue_sessions(e, &list.items[i], 1, &reason, "expiry");
		n++;
	}
	free_keys(e->expired, e->num_expired);
	e->expired = keys;
	e->num_expired = n;
	cb_store_sessions_free(&list);
}

/**
 * watch_decide - what identity would get now, with fresh directory facts
 * (cb_decide); *role (CB_STORE_NAME_MAX + 1 bytes) gets their role's name.
 */
static cb_status_t watch_decide(cb_enforcer_t *e, char const *identity, cb_reason_t *reason, char *role)
{
	cb_decide_env_t env = { .policy = e->conf.policy, .roles = e->conf.roles,
				.state = cb_enforcer_decide_state(e) };
	cb_decide_result_t res;
	cb_dir_entry_t entry;
	cb_facts_t facts;
	cb_ack_index_t *idx = NULL;
	cb_sync_t *sync;
	time_t now = time(NULL);

	pthread_mutex_lock(&e->mutex);
	sync = e->sync;
	if (e->acks) idx = cb_ack_current_get(e->acks);
	pthread_mutex_unlock(&e->mutex);
	env.acks = idx;
	env.source_stale = sync && cb_sync_is_stale(sync, now);
	cb_dirwatch_facts(e->conf.directory, identity, now, &entry, &facts);
	cb_decide(&env, identity, &facts, now, &res);
	cb_ack_index_unref(idx);
	*reason = res.decision.reason;
	snprintf(role, CB_STORE_NAME_MAX + 1, "%s", cb_roles_name(e->conf.roles, &facts.dir));
	return res.decision.status;
}

/**
 * watch_directory - the directory watcher: people with active sessions are
 * decided again with fresh directory facts; a session whose decision
 * changed (account disabled, removed from the staff groups, revocation
 * flag set), or who is admitted under another role now (their VLAN may
 * differ), is disconnected.  A directory outage disconnects nobody.
 */
static void watch_directory(cb_enforcer_t *e)
{
	cb_store_filter_t filter = { .limit = SCAN_LIMIT };
	cb_store_sessions_t list = { 0 };

	if (cb_store_sessions_active(e->conf.store, &filter, &list) < 0) return;
	for (size_t i = 0; i < list.count; i++) {
		cb_store_session_t const *s = &list.items[i];
		bool seen = false;
		cb_reason_t reason;
		cb_status_t status;
		char why[CB_STORE_REASON_MAX + 1], role[CB_STORE_NAME_MAX + 1], was[CB_STORE_NAME_MAX + 1];
		cb_store_filter_t person;

		if (!s->identity[0] || !s->status[0]) continue;
		for (size_t j = 0; j < i && !seen; j++) seen = (strcmp(list.items[j].identity, s->identity) == 0);
		if (seen) continue;

		status = watch_decide(e, s->identity, &reason, role);
		if (reason == CB_REASON_DIRECTORY_UNAVAILABLE) continue;
		if (strcmp(cb_status_name(status), s->status) != 0) {
			if (status != CB_STATUS_REJECT && cb_moves_held_by_limit(e->conf.store, s)) continue;
			snprintf(why, sizeof(why), "directory watcher: %s -> %s (%s)", s->status, cb_status_name(status),
				 cb_reason_name(reason));
		} else if (cb_moves_role_moved(e->conf.store, s, role, was, sizeof(was))) {
			snprintf(why, sizeof(why), "directory watcher: role %s -> %s", was, role);
		} else {
			continue;
		}
		person = (cb_store_filter_t) { .identity = s->identity };
		disconnect_matching(e, &person, why, "the directory watcher");
	}
	cb_store_sessions_free(&list);
}

/*
 *	Acknowledgement changes (runs on the sync thread).
 */
static bool same_record(cb_ack_record_t const *a, cb_ack_record_t const *b)
{
	if (!a || !b) return a == b;
	return a->ack_time == b->ack_time && a->revoked == b->revoked &&
	       strcmp(a->policy_version, b->policy_version) == 0;
}

/**
 * redecide - the status a session's person gets now with the acknowledgements
 * of idx: the facts are those that admitted the session (staff of the role
 * it was decided under, in the directory), the acknowledgement the one of
 * the address it was decided on.  A role no longer configured is decided
 * as employees.
 */
static cb_status_t redecide(cb_enforcer_t *e, cb_ack_index_t const *idx, cb_store_decision_t const *dec, time_t now,
			    cb_reason_t *reason)
{
	cb_facts_t facts = { .origin = CB_FACTS_SESSION, .dir = { .result = CB_DIR_FOUND, .role = CB_ROLE_STAFF } };
	cb_decide_env_t env = { .policy = e->conf.policy, .roles = e->conf.roles, .acks = idx };
	cb_decide_result_t res;

	if (!cb_roles_lookup(e->conf.roles, dec->role, &facts.dir) || facts.dir.role != CB_ROLE_STAFF) {
		facts.dir.role = CB_ROLE_STAFF;
		facts.dir.role_id = 0;
	}
	cb_facts_add_email(&facts, dec->ack_email);
	cb_decide(&env, dec->identity, &facts, now, &res);
	*reason = res.decision.reason;
	return res.decision.status;
}

void cb_enforcer_ack_changed(void *uctx, cb_ack_index_t const *old_idx, cb_ack_index_t const *new_idx)
{
	cb_enforcer_t *e = uctx;
	cb_store_filter_t filter = { .limit = SCAN_LIMIT };
	cb_store_sessions_t list = { 0 }, pick = { 0 };
	char (*why)[CB_STORE_REASON_MAX + 1] = NULL;
	char const **reasons = NULL;
	time_t now = time(NULL);

	if (!e || cb_store_sessions_active(e->conf.store, &filter, &list) < 0 || list.count == 0) goto done;
	pick.items = calloc(list.count, sizeof(*pick.items));
	why = calloc(list.count, sizeof(*why));
	reasons = calloc(list.count, sizeof(*reasons));
	if (!pick.items || !why || !reasons) goto done;

	for (size_t i = 0; i < list.count; i++) {
		cb_store_session_t const *s = &list.items[i];
		cb_store_decision_t dec;
		cb_ack_record_t const *before, *after;
		cb_status_t status;
		cb_reason_t reason;

		/* Only sessions admitted on an acknowledgement (not exceptions) follow it. */
		if (strcmp(s->status, "admit") != 0 && strcmp(s->status, "onboard") != 0) continue;
		if (!s->class_id[0] || cb_store_decision_get(e->conf.store, s->class_id, &dec) != 0) continue;
		if (!dec.ack_email[0]) continue;
		before = cb_ack_index_find(old_idx, dec.ack_email);
		after = cb_ack_index_find(new_idx, dec.ack_email);
		if (old_idx && same_record(before, after)) continue;

		status = redecide(e, new_idx, &dec, now, &reason);
		if (strcmp(cb_status_name(status), s->status) == 0) continue;
		if (status != CB_STATUS_REJECT && cb_moves_limit_reason(dec.reason)) continue;	/* See moves.h. */
		snprintf(why[pick.count], sizeof(why[0]), "%s: %s -> %s (%s)",
			 status == CB_STATUS_ADMIT ? "promotion" : "acknowledgement changed",
			 s->status, cb_status_name(status), cb_reason_name(reason));
		reasons[pick.count] = why[pick.count];
		pick.items[pick.count++] = *s;
	}
	if (pick.count) {
		enqueue_sessions(e, pick.items, pick.count, reasons, "an acknowledgement sync");
		cb_enforcer_poke(e);
	}
done:
	free(pick.items);
	free(why);
	free(reasons);
	cb_store_sessions_free(&list);
}

/*
 *	Sending.
 */
/**
 * find_nas - the nas { } entry of the RADIUS client that sent the session's
 * accounting (s->nas, its source address), never one the packet merely
 * names: by ipaddr; an entry with only an identifier also needs its DAS at
 * that address.
 */
static cb_enforcer_nas_t const *find_nas(cb_enforcer_t *e, cb_store_session_t const *s)
{
	for (size_t i = 0; i < e->conf.num_nas; i++) {
		cb_enforcer_nas_t const *nas = &e->conf.nas[i];

		if (nas->ip && *nas->ip) {
			if (strcmp(nas->ip, s->nas) == 0) return nas;
		} else if (nas->identifier && *nas->identifier && strcmp(nas->identifier, s->nas_identifier) == 0 &&
			   nas->das.address && strcmp(nas->das.address, s->nas) == 0) {
			return nas;
		}
	}
	return NULL;
}

/**
 * One queued disconnect handed to the DAS queue: the copy of the store's
 * row, the session it names, and the request, which points into this.
 * Owned by the enforcer (e->inflight) from submit until its outcome is
 * recorded.
 */
typedef struct {
	cb_store_disconnect_t	job;
	cb_store_session_t	session;
	cb_das_session_t	das_session;
	cb_enforcer_nas_t const	*nas;
	cb_das_request_t	req;
} pending_t;

static void audit_attempt(cb_enforcer_t *e, pending_t const *p, cb_das_request_t const *req, char const *result,
			  char const *detail)
{
	cb_audit_event_t ev = {
		.type = CB_AUDIT_DISCONNECT, .identity = p->job.identity, .nas = p->job.nas,
		.acct_session_id = p->job.acct_session_id, .calling_station = p->session.calling_station,
		.kind = cb_das_code_name(req->last_request), .result = result, .attempt = p->job.attempts + 1,
		.error_cause = req->error_cause, .detail = detail, .why = p->job.reason,
	};

	if (e->conf.audit) cb_audit_record(e->conf.audit, &ev);
}

/**
 * session_gone - the NAS answered Session Context Not Found: the store
 * closed the session with the mark (nothing is left to disconnect); its
 * session_stop record goes to the trail.
 */
static void session_gone(cb_enforcer_t *e, pending_t const *p)
{
	cb_store_session_t *s = calloc(1, sizeof(*s));

	elog(e, CB_LOG_INFO, "%s no longer has %s's session %s: closed, nothing left to disconnect", p->nas->name,
	     p->job.identity, p->job.acct_session_id);
	if (s && cb_store_session_get(e->conf.store, p->job.nas, p->job.acct_session_id, s) == 0 && s->stopped &&
	    strcmp(s->stop_cause, "Session-Context-Not-Found") == 0) {
		cb_audit_session_closed(e->conf.audit, s);
	}
	free(s);
}

static void record_outcome(cb_enforcer_t *e, pending_t const *p, cb_das_request_t const *req, time_t now)
{
	cb_store_disconnect_t const *job = &p->job;
	bool last = job->attempts + 1 >= e->conf.max_attempts;
	bool gone = req->result == CB_DAS_NAK && req->error_cause == 503;
	time_t next = last || gone ? 0 : now + (time_t) e->conf.retry_interval;
	char detail[CB_STORE_DETAIL_MAX + 1];

	cb_metrics_disc_t outcome = req->result == CB_DAS_ACK ? CB_METRICS_DISC_ACKED :
				    req->result == CB_DAS_NAK ? CB_METRICS_DISC_NAK :
				    last ? CB_METRICS_DISC_FAILED : CB_METRICS_DISC_TIMEOUT;

	audit_attempt(e, p, req, cb_metrics_disc_name(outcome), req->error);
	cb_metrics_disconnect(e->conf.metrics, outcome);

	switch (req->result) {
	case CB_DAS_ACK:
		elog(e, CB_LOG_INFO, "%s for %s (session %s on %s) acknowledged: %s", cb_das_code_name(req->last_request),
		     job->identity, job->acct_session_id, p->nas->name, cb_das_code_name(req->response_code));
		cb_store_disconnect_mark(e->conf.store, job->id, CB_DISC_ACKED, 0, "", 0, now);
		return;

	case CB_DAS_NAK:
		snprintf(detail, sizeof(detail), "%s from %s: Error-Cause %u (%s)", cb_das_code_name(req->response_code),
			 p->nas->name, req->error_cause, cb_das_error_cause_name(req->error_cause));
		elog(e, gone ? CB_LOG_INFO : CB_LOG_WARN, "%s for %s (session %s): %s; %s",
		     cb_das_code_name(req->last_request), job->identity, job->acct_session_id, detail,
		     gone ? "done" : next ? "will retry" : "giving up: not enforced");
		/* 503: the store marks it done and closes the session (cb_store_disconnect_mark). */
		if (cb_store_disconnect_mark(e->conf.store, job->id, CB_DISC_NAK, req->error_cause, detail, next, now) == 0 &&
		    gone) {
			session_gone(e, p);
		}
		return;

	case CB_DAS_TIMEOUT:
	case CB_DAS_ERROR:
		break;
	}
	snprintf(detail, sizeof(detail), "%s", req->error[0] ? req->error : cb_das_result_name(req->result));
	elog(e, CB_LOG_ERROR, "disconnect of %s (session %s on %s) failed after %u transmission(s): %s; %s",
	     job->identity, job->acct_session_id, p->nas->name, req->transmissions, detail,
	     next ? "will retry" : "giving up: not enforced");
	cb_store_disconnect_mark(e->conf.store, job->id, CB_DISC_TIMEOUT, 0, detail, next, now);
}

/** prepare - the DAS request for one queued disconnect; false when it cannot be sent. */
static bool prepare(cb_enforcer_t *e, pending_t *p, time_t now)
{
	cb_store_disconnect_t *job = &p->job;
	cb_store_session_t *s = &p->session;

	if (cb_store_session_get(e->conf.store, job->nas, job->acct_session_id, s) != 0) {
		cb_store_disconnect_mark(e->conf.store, job->id, CB_DISC_NAK, 0, "session no longer known", 0, now);
		return false;
	}
	p->nas = find_nas(e, s);
	if (!p->nas) {
		elog(e, CB_LOG_ERROR, "no enforce { nas { } } entry matches NAS %s: cannot disconnect %s's session %s",
		     s->nas, job->identity, job->acct_session_id);
		cb_store_disconnect_mark(e->conf.store, job->id, CB_DISC_NAK, 0, "no DAS configured for this NAS", 0, now);
		return false;
	}
	p->das_session = (cb_das_session_t) {
		.nas_ip_address = s->nas_ip[0] ? s->nas_ip : NULL,
		.nas_identifier = s->nas_identifier[0] ? s->nas_identifier : NULL,
		.user_name = s->outer_identity[0] ? s->outer_identity : (s->identity[0] ? s->identity : NULL),
		.acct_session_id = s->acct_session_id,
		.calling_station_id = s->calling_station[0] ? s->calling_station : NULL,
		.called_station_id = s->called_station[0] ? s->called_station : NULL,
		.framed_ip_address = (s->framed_ip[0] && !strchr(s->framed_ip, ':')) ? s->framed_ip : NULL,
	};
	p->req = (cb_das_request_t) { .nas = &p->nas->das, .session = &p->das_session, .uctx = p };
	return true;
}

/*
 *	In flight: what was handed to the DAS queue.  The store's row is
 *	claimed (not due, and not taken by another server sharing the store)
 *	for claim_window from when send_due took it; if the outcome has not come by
 *	then (a long queue behind a silent NAS), the row is due again, seen
 *	here as in flight, and claimed again.  A restart finds the row pending
 *	and sends it at once (cb_enforcer_stop gives the claims back).
 */
static time_t claim_window(cb_enforcer_t *e)
{
	return (time_t) e->conf.retry_interval + 2 * (time_t) (e->conf.das.mrd_ms / 1000 + 1) + 5;
}

static bool inflight_has(cb_enforcer_t *e, int64_t id)
{
	for (size_t i = 0; i < e->num_inflight; i++) {
		if (((pending_t *) e->inflight[i])->job.id == id) return true;
	}
	return false;
}

/** inflight_reserve - room for one more; false when memory runs out. */
static bool inflight_reserve(cb_enforcer_t *e)
{
	void **more;
	size_t n;

	if (e->num_inflight < e->inflight_alloc) return true;
	n = e->inflight_alloc ? e->inflight_alloc * 2 : 64;
	more = realloc(e->inflight, n * sizeof(*more));
	if (!more) return false;
	e->inflight = more;
	e->inflight_alloc = n;
	return true;
}

static void inflight_remove(cb_enforcer_t *e, pending_t const *p)
{
	for (size_t i = 0; i < e->num_inflight; i++) {
		if (e->inflight[i] != p) continue;
		e->inflight[i] = e->inflight[--e->num_inflight];
		return;
	}
}

/** collect_outcomes - record what the DAS queue finished since the last pass. */
static void collect_outcomes(cb_enforcer_t *e)
{
	cb_das_request_t *done[COLLECT_BATCH];
	size_t n, rounds = 0;

	/* Bounded: everything collected was in flight, and nothing new is submitted meanwhile. */
	while (rounds++ <= e->num_inflight / COLLECT_BATCH && (n = cb_das_queue_collect(e->queue, done, COLLECT_BATCH))) {
		time_t now = time(NULL);

		for (size_t i = 0; i < n; i++) {
			pending_t *p = done[i]->uctx;

			if (atomic_load(&e->halting) && p->req.result == CB_DAS_ERROR) continue;	/* Cut short: halt's. */
			record_outcome(e, p, &p->req, now);
			inflight_remove(e, p);
			free(p);
		}
	}
}

/** submit_one - hand one due disconnect to its NAS's lane. */
static void submit_one(cb_enforcer_t *e, cb_store_disconnect_t const *job, time_t now)
{
	pending_t *p;
	char err[160];
	size_t lane;

	if (inflight_has(e, job->id)) {
		cb_store_disconnect_claim(e->conf.store, job->id, now + claim_window(e));
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !inflight_reserve(e)) {
		free(p);
		return;
	}
	p->job = *job;
	if (!prepare(e, p, now)) {
		free(p);
		return;
	}
	lane = (size_t) (p->nas - e->conf.nas);
	if (cb_das_queue_submit(e->queue, lane, &p->req, err, sizeof(err)) < 0) {
		if (now - e->last_full_log >= 60) {
			e->last_full_log = now;
			elog(e, CB_LOG_WARN, "disconnect of %s (session %s on %s) postponed: %s", job->identity,
			     job->acct_session_id, p->nas->name, err);
		}
		cb_store_disconnect_claim(e->conf.store, job->id, now + 1);
		free(p);
		return;
	}
	e->inflight[e->num_inflight++] = p;	/* Claimed until now + claim_window by send_due's take. */
}

/**
 * send_due - record the outcomes that came back, then hand what is due to
 * the DAS queue.  Never waits on a NAS: a silent one holds only its own
 * lane.
 */
static void send_due(cb_enforcer_t *e)
{
	cb_store_disconnects_t due = { 0 };
	time_t now = time(NULL);

	collect_outcomes(e);
	/* Taken and claimed in one step: a server sharing the store never takes the same request. */
	if (cb_store_disconnect_take(e->conf.store, now, now + claim_window(e), DUE_BATCH, &due) < 0) return;
	for (size_t i = 0; i < due.count; i++) submit_one(e, &due.items[i], now);
	cb_das_queue_flush(e->queue);	/* What one pass found due to a NAS goes out as one batch. */
	cb_store_disconnects_free(&due);
}

/*
 *	Commands from cetbyodctl, heartbeat and status.
 */
static void run_commands(cb_enforcer_t *e)
{
	cb_store_commands_t cmds = { 0 };
	cb_sync_t *sync;

	if (cb_store_commands_take(e->conf.store, &cmds) < 0) return;
	pthread_mutex_lock(&e->mutex);
	sync = e->sync;
	pthread_mutex_unlock(&e->mutex);
	for (size_t i = 0; i < cmds.count; i++) {
		cb_store_command_t const *c = &cmds.items[i];

		elog(e, CB_LOG_INFO, "command from %s: %s%s%s", c->by, cb_cmd_name(c->cmd), c->arg[0] ? " " : "", c->arg);
		switch (c->cmd) {
		case CB_CMD_SYNC:
		case CB_CMD_SYNC_FULL:
			if (sync) cb_sync_request(sync, c->cmd == CB_CMD_SYNC_FULL);
			break;
		case CB_CMD_ACCEPT_MASS_REMOVAL:
			/* arg names the kind of hold accepted: "" the guard's, "rebind" a re-created question. */
			if (sync) cb_sync_accept_held(sync, c->created_at, strcmp(c->arg, "rebind") == 0 ?
						      CB_SYNC_HOLD_REBIND : CB_SYNC_HOLD_MASS_REMOVAL);
			break;
		case CB_CMD_CONFIRM:	/* The store released the held entries: they are due now. */
		case CB_CMD_ENFORCE:	/* Revocations are re-read on every pass. */
		case CB_CMD_MAX:
			break;
		}
	}
	cb_store_commands_free(&cmds);
}

static void put_time(cb_enforcer_t *e, char const *key, time_t t, time_t now)
{
	cb_store_status_put_time(e->conf.store, key, t, now);
}

/** audit_health - the audit trail's state, for cetbyodctl status. */
static void audit_health(cb_enforcer_t *e, time_t now)
{
	cb_audit_stats_t st;
	char buf[32];

	if (!e->conf.audit) return;
	cb_audit_stats(e->conf.audit, &st);
	cb_store_status_put(e->conf.store, CB_STATUS_AUDIT_FAILING, st.failing ? "yes" : "no", now);
	cb_store_status_put(e->conf.store, CB_STATUS_AUDIT_ERROR, st.failing ? st.last_error : "", now);
	snprintf(buf, sizeof(buf), "%" PRIu64, st.queued);
	cb_store_status_put(e->conf.store, CB_STATUS_AUDIT_QUEUED, buf, now);
	snprintf(buf, sizeof(buf), "%" PRIu64, st.dropped);
	cb_store_status_put(e->conf.store, CB_STATUS_AUDIT_DROPPED, buf, now);
	snprintf(buf, sizeof(buf), "%" PRIu64, st.refused);
	cb_store_status_put(e->conf.store, CB_STATUS_AUDIT_REFUSED, buf, now);
	snprintf(buf, sizeof(buf), "%" PRIu64, st.index_lag);
	cb_store_status_put(e->conf.store, CB_STATUS_AUDIT_INDEX_LAG, buf, now);
	snprintf(buf, sizeof(buf), "%" PRIu64, st.index_lag_ms);
	cb_store_status_put(e->conf.store, CB_STATUS_AUDIT_INDEX_LAG_MS, buf, now);
}

static void heartbeat(cb_enforcer_t *e, time_t now)
{
	cb_sync_status_t st;
	cb_sync_t *sync;
	char buf[32], skipped[CB_SOURCE_PROBLEM_MAX + 64];

	put_time(e, CB_STATUS_MODULE_HEARTBEAT, now, now);
	audit_health(e, now);
	audit_forgets(e);
	pthread_mutex_lock(&e->mutex);
	sync = e->sync;
	pthread_mutex_unlock(&e->mutex);
	if (!sync) return;
	cb_sync_status(sync, &st);
	put_time(e, CB_STATUS_SYNC_ATTEMPT, st.last_attempt, now);
	put_time(e, CB_STATUS_SYNC_SUCCESS, st.last_success, now);
	cb_store_status_put(e->conf.store, CB_STATUS_SYNC_ERROR, st.last_error, now);
	snprintf(skipped, sizeof(skipped), "%zu (the first: %s)", st.problems, st.first_problem);
	snprintf(buf, sizeof(buf), "%zu", st.people);
	cb_store_status_put(e->conf.store, CB_STATUS_SYNC_PEOPLE, buf, now);
	snprintf(buf, sizeof(buf), "%zu", st.agreed);
	cb_store_status_put(e->conf.store, CB_STATUS_SYNC_AGREED, buf, now);
	cb_store_status_put(e->conf.store, CB_STATUS_SYNC_HELD, st.held ? st.held_reason : "", now);
	cb_store_status_put(e->conf.store, CB_STATUS_SYNC_HELD_KIND, cb_sync_hold_name(st.held_kind), now);
	cb_store_status_put(e->conf.store, CB_STATUS_SYNC_SKIPPED, st.problems ? skipped : "", now);
	snprintf(buf, sizeof(buf), "%u", st.rate_limited);
	cb_store_status_put(e->conf.store, CB_STATUS_SYNC_RATE_LIMITED, buf, now);
	put_time(e, CB_STATUS_SYNC_NEXT_TRY, st.next_try, now);
	put_time(e, CB_STATUS_SYNC_DEFERRED, st.deferred_until, now);
	if (st.snapshot_synced_at) put_time(e, CB_STATUS_SNAPSHOT_SYNCED, st.snapshot_synced_at, now);
}

/**
 * retention_purge - what is older than audit { retention_days } (calendar
 * days in the school's zone) goes: at start, then daily.  The time of the
 * last purge is in the status table for cetbyodctl status.
 */
static void retention_purge(cb_enforcer_t *e, time_t now)
{
	size_t store_removed, audit_removed;
	char err[512];
	time_t before;

	e->next_purge = now + 86400;
	before = e->conf.policy && e->conf.policy->tz ?
		 cb_tz_add_days(e->conf.policy->tz, now, -(int) e->conf.retention_days) :
		 now - (time_t) e->conf.retention_days * 86400;
	if (before <= 0) return;
	if (cb_store_retention_purge(e->conf.store, before, &store_removed, &audit_removed, err, sizeof(err)) < 0) {
		elog(e, CB_LOG_ERROR, "retention purge (older than %u days): %s; tried again tomorrow",
		     e->conf.retention_days, err);
		return;
	}
	cb_store_status_put_time(e->conf.store, CB_STATUS_PURGE_LAST, now, now);
	elog(e, CB_LOG_INFO, "retention purge: removed %zu store rows and %zu audit rows older than %u days",
	     store_removed, audit_removed, e->conf.retention_days);
}

static void one_pass(cb_enforcer_t *e)
{
	time_t now = time(NULL);
	size_t closed = 0;

	run_commands(e);
	refresh_revocations(e);
	refresh_exceptions(e, now);
	if (now != e->last_expiry_scan) {
		e->last_expiry_scan = now;
		scan_expired(e, now);
	}
	if (e->conf.stale_after && now - e->last_stale_scan >= 60) {
		e->last_stale_scan = now;
		cb_store_sessions_t gone = { 0 };

		if (cb_store_close_stale(e->conf.store, e->conf.stale_after, now, &closed, &gone) == 0 && closed) {
			elog(e, CB_LOG_INFO, "closed %zu session(s) without accounting for %u s", closed,
			     e->conf.stale_after);
		}
		for (size_t i = 0; i < gone.count; i++) cb_audit_session_closed(e->conf.audit, &gone.items[i]);
		cb_store_sessions_free(&gone);
	}
	if (e->conf.directory && e->conf.watch_interval && now - e->last_watch >= (time_t) e->conf.watch_interval) {
		e->last_watch = now;
		watch_directory(e);
	}
	send_due(e);
	if (e->conf.retention_days && e->conf.db_path && now >= e->next_purge) retention_purge(e, now);

	if (now - e->last_heartbeat >= CB_HEARTBEAT_INTERVAL) {
		e->last_heartbeat = now;
		heartbeat(e, now);
	}
}

static void enforcer_main(cb_worker_t *w, void *arg)
{
	while (cb_worker_wait(w, PASS_MS)) one_pass(arg);
}

/** notify - a lane finished requests: collect them now (on a lane's thread). */
static void notify(void *ctx)
{
	cb_enforcer_t *e = ctx;

	/* Under the lock: cb_enforcer_stop() takes the worker away before it frees it. */
	pthread_mutex_lock(&e->mutex);
	cb_worker_wake(e->worker);
	pthread_mutex_unlock(&e->mutex);
}

static void enforcer_free(cb_enforcer_t *e)
{
	cb_das_queue_free(e->queue);	/* After cb_das_cancel(): the lanes end at once. */
	for (size_t i = 0; i < e->num_inflight; i++) free(e->inflight[i]);
	free(e->inflight);
	cb_das_deinit(e->das);
	cb_exreg_free(e->exceptions);
	free(e->revoked);
	free_keys(e->expired, e->num_expired);
	pthread_mutex_destroy(&e->mutex);
	free(e);
}

static void changed_elsewhere(void *e)
{
	cb_enforcer_poke(e);
}

cb_enforcer_t *cb_enforcer_start(cb_enforcer_conf_t const *conf, char *err, size_t errlen)
{
	cb_enforcer_t *e = calloc(1, sizeof(*e));
	cb_worker_t *w;
	char days[16];

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->conf = *conf;
	if (e->conf.max_attempts == 0) e->conf.max_attempts = 1;
	pthread_mutex_init(&e->mutex, NULL);
	e->exceptions = cb_exreg_new(e->conf.store, e->conf.audit);
	e->das = e->exceptions ? cb_das_init(&e->conf.das, err, errlen) : NULL;
	if (e->das) e->queue = cb_das_queue_new(e->das, e->conf.num_nas, LANE_MAX, notify, e, err, errlen);
	if (!e->queue) {
		if (!e->exceptions) snprintf(err, errlen, "out of memory");
		enforcer_free(e);
		return NULL;
	}
	snprintf(days, sizeof(days), "%u", e->conf.db_path ? e->conf.retention_days : 0);
	cb_store_status_put(e->conf.store, CB_STATUS_PURGE_DAYS, days, time(NULL));
	/*
	 * The revocations are read here, before the module answers its first
	 * request; if the store cannot be read now, everyone counts as
	 * revoked until a pass reads them (cb_enforcer_is_revoked).
	 */
	refresh_revocations(e);
	w = cb_worker_start("enforcer", enforcer_main, e, err, errlen);
	if (!w) {
		enforcer_free(e);
		return NULL;
	}
	pthread_mutex_lock(&e->mutex);
	e->worker = w;
	pthread_mutex_unlock(&e->mutex);
	e->watch = cb_store_watch_start(e->conf.store, changed_elsewhere, e, err, errlen);
	if (!e->watch && err[0]) elog(e, CB_LOG_WARN, "not listening for changes made on other servers (%s): they "
				      "arrive with the pass every %d ms", err, PASS_MS);
	return e;
}

void cb_enforcer_attach_sync(cb_enforcer_t *e, cb_sync_t *sync, cb_ack_current_t *acks)
{
	pthread_mutex_lock(&e->mutex);
	e->sync = sync;
	e->acks = acks;
	pthread_mutex_unlock(&e->mutex);
}

void cb_enforcer_poke(cb_enforcer_t *e)
{
	if (!e) return;
	pthread_mutex_lock(&e->mutex);
	cb_worker_wake(e->worker);
	pthread_mutex_unlock(&e->mutex);
}

void cb_enforcer_halt(cb_enforcer_t *e)
{
	time_t now = time(NULL);

	if (!e) return;
	cb_store_watch_stop(e->watch);	/* Before the worker: it wakes it. */
	e->watch = NULL;
	atomic_store(&e->halting, true);	/* The cancel's outcomes stay in flight: not failed attempts. */
	cb_das_cancel(e->das);		/* A send in progress ends at once, and so does any later one. */
	cb_worker_halt(e->worker);	/* Joined, not freed: a lane's notify stays harmless. */
	/* What was in flight is due again at once for the next start (its outcome is not known). */
	for (size_t i = 0; i < e->num_inflight; i++) {
		cb_store_disconnect_claim(e->conf.store, ((pending_t *) e->inflight[i])->job.id, now);
	}
}

void cb_enforcer_stop(cb_enforcer_t *e)
{
	cb_worker_t *w;

	if (!e) return;
	cb_enforcer_halt(e);
	/* The lanes still run until enforcer_free(): their notify must not wake a freed worker. */
	pthread_mutex_lock(&e->mutex);
	w = e->worker;
	e->worker = NULL;
	pthread_mutex_unlock(&e->mutex);
	cb_worker_stop(w);
	enforcer_free(e);
}
