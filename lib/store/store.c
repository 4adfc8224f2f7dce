/*
 * store.c - the front of the state store: the checks of every argument
 * that all backends rely on, the store's mutex, and the dispatch through
 * cb_store_ops_t to the backend (today the SQLite one, sqlite*.c).
 *
 * The front owns a cb_store_t: a mutex, the backend's operations and
 * handle, the log callback, with defer_decisions the batch of queued
 * decisions and with group_commit the queue of accounting's session
 * writes (both batch.c).  Each public function checks its arguments
 * (lengths, UTF-8, names, class ids), so that no backend ever sees
 * invalid input, then takes the mutex, commits any queued decisions, and
 * calls the backend.  One mutex per cb_store_t makes every call
 * thread-safe; a process that wants parallel writers opens several
 * stores.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mac.h"
#include "core/policy.h"
#include "store/store_int.h"

static bool empty(char const *s)
{
	return !s || !*s;
}

static void front_log(void *ctx, cb_log_level_t level, char const *fmt, ...) __attribute__((format(printf, 3, 4)));

/** front_log - the backend's complaints, passed on to the store's log unless store->quiet. */
static void front_log(void *ctx, cb_log_level_t level, char const *fmt, ...)
{
	cb_store_t *store = ctx;
	va_list ap;

	if (store->quiet) return;
	va_start(ap, fmt);
	cb_log_vprefixed(store->log, store->log_ctx, level, NULL, fmt, ap);
	va_end(ap);
}

cb_store_t *cb_store_open(cb_store_conf_t const *conf, char *err, size_t errlen)
{
	cb_store_conf_t bconf;
	cb_store_t *store;

	if (!conf || (conf->backend == CB_STORE_SQLITE && !conf->path) ||
	    (conf->backend == CB_STORE_POSTGRESQL && (!conf->pg_conninfo || !*conf->pg_conninfo))) {
		snprintf(err, errlen, conf && conf->backend == CB_STORE_POSTGRESQL ? "no PostgreSQL conninfo" :
			 "no store path");
		return NULL;
	}
	store = calloc(1, sizeof(*store));
	if (!store || pthread_mutex_init(&store->mutex, NULL) != 0) {
		free(store);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	store->log = conf->log;
	store->log_ctx = conf->log_ctx;
	bconf = *conf;
	bconf.log = front_log;
	bconf.log_ctx = store;
	if (conf->backend == CB_STORE_POSTGRESQL) {
		store->be = cb_store_pg_open(&bconf, &store->ops, err, errlen);
	} else {
		store->be = cb_store_sqlite_open(&bconf, &store->ops, err, errlen);
	}
	if (!store->be) {
		pthread_mutex_destroy(&store->mutex);
		free(store);
		return NULL;
	}
	if (conf->spool_path && cb_store_spool_start(store, conf, err, errlen) < 0) {
		cb_store_close(store);
		return NULL;
	}
	if (conf->defer_decisions && !cb_store_batch_start(store, err, errlen)) {
		cb_store_close(store);
		return NULL;
	}
	if (conf->group_commit && !cb_store_group_start(store, err, errlen)) {
		cb_store_close(store);
		return NULL;
	}
	return store;
}

char const *cb_store_name(cb_store_t *store)
{
	return store->ops->where(store->be);
}

void cb_store_close(cb_store_t *store)
{
	if (!store) return;
	cb_store_group_stop(store->group);	/* A commit still under way flushes the decisions: first. */
	cb_store_batch_stop(store->batch);
	cb_store_spool_stop(store);
	store->ops->close(store->be);
	pthread_mutex_destroy(&store->mutex);
	free(store);
}

#define LOCKED(store, call) do { \
		int _rc; \
		pthread_mutex_lock(&(store)->mutex); \
		cb_store_batch_flush(store); \
		_rc = (call); \
		pthread_mutex_unlock(&(store)->mutex); \
		return _rc; \
	} while (0)

/*
 * SPOOLED - a write that waits in the spool (a store opened with
 * spool_path) while the database is unreachable: straight into it while
 * records wait there (order), or after call failed for a reason that
 * passes; spool_call (store->mutex held) writes it there.
 */
#define SPOOLED(store, call, spool_call) do { \
		int _rc; \
		pthread_mutex_lock(&(store)->mutex); \
		cb_store_batch_flush(store); \
		if ((store)->spool && cb_store_spool_waiting(store)) { \
			_rc = (spool_call); \
		} else { \
			_rc = (call); \
			if (_rc < 0 && (store)->spool && (store)->ops->transient((store)->be)) _rc = (spool_call); \
		} \
		pthread_mutex_unlock(&(store)->mutex); \
		return _rc; \
	} while (0)

/* The *_free function of a list type: frees its items; the list is empty after. */
#define LIST_FREE(fn, type) \
	void fn(type *list) \
	{ \
		if (!list) return; \
		free(list->items); \
		list->items = NULL; \
		list->count = 0; \
	}

/** bad - log a refused argument; returns -1. */
static int bad(cb_store_t *store, char const *fn, char const *what)
{
	if (store && store->log) store->log(store->log_ctx, CB_LOG_ERROR, "store: %s: %s", fn, what);
	return -1;
}

int cb_store_check_writable(cb_store_t *store, char *why, size_t len)
{
	if (!why || !len) return bad(store, "check_writable", "no buffer");
	why[0] = '\0';
	LOCKED(store, store->ops->check_writable(store->be, why, len));
}

bool cb_store_write_contended(cb_store_t *store, unsigned int within_ms)
{
	return store && store->ops->write_contended && store->ops->write_contended(store->be, within_ms);
}

/** opt_len_ok - NULL, or at most max bytes. */
static bool opt_len_ok(char const *s, size_t max)
{
	return !s || strlen(s) <= max;
}

/** opt_text_ok - NULL, "", or cb_store_text_valid. */
static bool opt_text_ok(char const *s, size_t max)
{
	return empty(s) || cb_store_text_valid(s, max);
}

static bool identity_ok(char const *s)
{
	return cb_store_text_valid(s, CB_STORE_TEXT_MAX);
}

/** key_ok - a session key: nas and acct_session_id, both 1..253 bytes. */
static bool key_ok(char const *nas, char const *acct_session_id)
{
	return !empty(nas) && !empty(acct_session_id) && opt_len_ok(nas, CB_STORE_TEXT_MAX) &&
	       opt_len_ok(acct_session_id, CB_STORE_TEXT_MAX);
}

static bool status_name_ok(char const *s)
{
	int i;

	if (!s) return false;
	for (i = CB_STATUS_REJECT; i <= CB_STATUS_RESTRICTED; i++) {
		if (strcmp(s, cb_status_name((cb_status_t) i)) == 0) return true;
	}
	return false;
}

/** decision_why - what is wrong with a decision to record; NULL when nothing. */
static char const *decision_why(cb_store_decision_t const *d)
{
	if (!d || !cb_store_class_id_valid(d->class_id)) return "invalid class id";
	if (!identity_ok(d->identity)) return "invalid identity";
	if (!status_name_ok(d->status)) return "unknown status";
	if (cb_reason_from_name(d->reason) < 0) return "unknown reason";
	if (!cb_store_role_valid(d->role)) return "invalid role";
	return NULL;
}

static bool decision_ok(cb_store_decision_t const *d)
{
	return decision_why(d) == NULL;
}

int cb_store_decision_put(cb_store_t *store, cb_store_decision_t const *d)
{
	char const *why = decision_why(d);

	if (why) return bad(store, "decision_put", why);
	if (store->batch && cb_store_batch_put(store->batch, d)) return 0;
	SPOOLED(store, store->ops->decisions_put(store->be, d, 1), cb_store_spool_decisions(store, d, 1));
}

int cb_store_decision_get(cb_store_t *store, char const *class_id, cb_store_decision_t *out)
{
	if (!cb_store_class_id_valid(class_id) || !out) return bad(store, "decision_get", "invalid class id");
	LOCKED(store, store->ops->decision_get(store->be, class_id, out));
}

/** acct_ok - an accounting request's fields are within bounds; NULL, or what is wrong. */
static char const *acct_ok(cb_store_acct_t const *a)
{
	if (!a || !key_ok(a->nas, a->acct_session_id)) return "NAS and Acct-Session-Id are required, 1..253 bytes";
	if (!empty(a->class_id) && !cb_store_class_id_valid(a->class_id)) return "invalid class id";
	if (!empty(a->identity) && !identity_ok(a->identity)) return "invalid identity";
	if (!opt_len_ok(a->outer_identity, CB_STORE_TEXT_MAX) || !opt_len_ok(a->calling_station, CB_STORE_TEXT_MAX) ||
	    !opt_len_ok(a->called_station, CB_STORE_TEXT_MAX) || !opt_len_ok(a->nas_identifier, CB_STORE_TEXT_MAX))
		return "an attribute is longer than 253 bytes";
	if (!opt_len_ok(a->framed_ip, CB_STORE_IP_MAX) || !opt_len_ok(a->nas_ip, CB_STORE_IP_MAX))
		return "an address is longer than 45 bytes";
	if (!opt_text_ok(a->stop_cause, CB_STORE_CAUSE_MAX)) return "invalid stop cause";
	if (a->decision && (empty(a->class_id) || strcmp(a->decision->class_id, a->class_id) != 0 ||
			    !decision_ok(a->decision))) return "invalid decision";
	return NULL;
}

/** session_call - the backend's single op, in its own transaction. */
static int session_call(cb_store_t *store, cb_spool_op_t op, cb_store_acct_t const *a)
{
	switch (op) {
	case CB_SPOOL_START:
		return store->ops->session_start(store->be, a);
	case CB_SPOOL_UPDATE:
		return store->ops->session_update(store->be, a);
	case CB_SPOOL_STOP:
		return store->ops->session_stop(store->be, a);
	case CB_SPOOL_DECISION:
	case CB_SPOOL_DEVICE:
		break;		/* Spool records, never session writes. */
	}
	return -1;
}

/**
 * session_write - (store->mutex held) one session write in its own
 * transaction, or to the spool while records wait there (order) or when
 * the write failed because the database is unreachable; a->result filled
 * by the backend's write itself (its RETURNING), or from a by the spool.
 */
static int session_write(cb_store_t *store, cb_spool_op_t op, cb_store_acct_t const *a)
{
	int rc;

	if (store->spool && cb_store_spool_waiting(store)) return cb_store_spool_session(store, op, a);
	rc = session_call(store, op, a);
	if (rc < 0 && store->spool && store->ops->transient(store->be)) return cb_store_spool_session(store, op, a);
	return rc;
}

void cb_store_sessions_commit(cb_store_t *store, cb_store_sw_t *w, size_t n)
{
	size_t i;

	if (n == 1 || (store->spool && cb_store_spool_waiting(store))) {
		for (i = 0; i < n; i++) w[i].rc = session_write(store, w[i].op, w[i].a);
		return;
	}
	if (store->ops->sessions_write(store->be, w, n) == 0) return;
	if (store->ops->transient(store->be)) {
		/* A full disk, an I/O error, a lock held too long: every request of the batch fails (the NAS
		 * retries), none is answered unrecorded; PostgreSQL unreachable: all go to the spool. */
		for (i = 0; i < n; i++) w[i].rc = store->spool ? cb_store_spool_session(store, w[i].op, w[i].a) : -1;
		return;
	}
	/* One write refused for good: each alone, so that one bad request does not fail the others. */
	for (i = 0; i < n; i++) w[i].rc = session_write(store, w[i].op, w[i].a);
}

/** session_op - a checked session write: through the group commit, or alone under the lock. */
static int session_op(cb_store_t *store, cb_spool_op_t op, cb_store_acct_t const *a)
{
	int rc;

	if (store->group) return cb_store_group_write(store->group, op, a);
	pthread_mutex_lock(&store->mutex);
	cb_store_batch_flush(store);
	rc = session_write(store, op, a);
	pthread_mutex_unlock(&store->mutex);
	return rc;
}

int cb_store_session_start(cb_store_t *store, cb_store_acct_t const *a)
{
	char const *why = acct_ok(a);

	if (why) return bad(store, "session_start", why);
	return session_op(store, CB_SPOOL_START, a);
}

int cb_store_session_update(cb_store_t *store, cb_store_acct_t const *a)
{
	char const *why = acct_ok(a);

	if (why) return bad(store, "session_update", why);
	return session_op(store, CB_SPOOL_UPDATE, a);
}

int cb_store_session_stop(cb_store_t *store, cb_store_acct_t const *a)
{
	char const *why = acct_ok(a);

	if (why) return bad(store, "session_stop", why);
	return session_op(store, CB_SPOOL_STOP, a);
}

int cb_store_session_get(cb_store_t *store, char const *nas, char const *acct_session_id, cb_store_session_t *out)
{
	if (!key_ok(nas, acct_session_id) || !out) return bad(store, "session_get", "invalid session key");
	LOCKED(store, store->ops->session_get(store->be, nas, acct_session_id, out));
}

int cb_store_nas_reboot(cb_store_t *store, char const *nas, char const *cause, time_t now, size_t *closed,
			cb_store_sessions_t *list)
{
	cb_store_sessions_t mine = { 0 };
	size_t dummy;
	int rc;

	if (!closed) closed = &dummy;
	*closed = 0;
	if (list) *list = mine;
	if (empty(nas) || !opt_len_ok(nas, CB_STORE_TEXT_MAX)) return bad(store, "nas_reboot", "invalid NAS");
	if (!opt_text_ok(cause, CB_STORE_CAUSE_MAX)) return bad(store, "nas_reboot", "invalid cause");
	pthread_mutex_lock(&store->mutex);
	cb_store_batch_flush(store);
	rc = store->ops->nas_reboot(store->be, nas, empty(cause) ? "NAS-Reboot" : cause, now, closed,
				    list ? list : &mine);
	pthread_mutex_unlock(&store->mutex);
	cb_store_sessions_free(&mine);
	return rc;
}

int cb_store_close_stale(cb_store_t *store, unsigned int max_age, time_t now, size_t *closed,
			 cb_store_sessions_t *list)
{
	cb_store_sessions_t mine = { 0 };
	size_t dummy;
	int rc;

	if (!closed) closed = &dummy;
	*closed = 0;
	if (list) *list = mine;
	if (max_age == 0) return bad(store, "close_stale", "max_age must be positive");
	pthread_mutex_lock(&store->mutex);
	cb_store_batch_flush(store);
	rc = store->ops->close_stale(store->be, now - (time_t) max_age, now, closed, list ? list : &mine);
	pthread_mutex_unlock(&store->mutex);
	cb_store_sessions_free(&mine);
	return rc;
}

int cb_store_sessions_active(cb_store_t *store, cb_store_filter_t const *filter, cb_store_sessions_t *out)
{
	cb_store_filter_t all = { 0 };

	if (!out) return bad(store, "sessions_active", "no output list");
	out->items = NULL;
	out->count = 0;
	if (!filter) filter = &all;
	if (!empty(filter->identity) && !identity_ok(filter->identity))
		return bad(store, "sessions_active", "invalid identity");
	if (!empty(filter->status) && !status_name_ok(filter->status))
		return bad(store, "sessions_active", "unknown status");
	LOCKED(store, store->ops->sessions_active(store->be, filter, out));
}

int cb_store_active_for_user(cb_store_t *store, char const *identity, cb_store_sessions_t *out)
{
	cb_store_filter_t f = { .identity = identity };

	if (!identity_ok(identity)) {
		if (out) {
			out->items = NULL;
			out->count = 0;
		}
		return bad(store, "active_for_user", "invalid identity");
	}
	return cb_store_sessions_active(store, &f, out);
}

LIST_FREE(cb_store_sessions_free, cb_store_sessions_t)

int cb_store_revoke(cb_store_t *store, char const *identity, char const *reason, char const *by, time_t now)
{
	if (!identity_ok(identity)) return bad(store, "revoke", "invalid identity");
	if (!cb_store_text_valid(reason, CB_STORE_REASON_MAX)) return bad(store, "revoke", "invalid reason");
	if (!cb_store_text_valid(by, CB_STORE_BY_MAX)) return bad(store, "revoke", "invalid name of who revoked");
	LOCKED(store, store->ops->revoke(store->be, identity, reason, by, now));
}

int cb_store_reinstate(cb_store_t *store, char const *identity, char const *by, time_t now)
{
	if (!identity_ok(identity)) return bad(store, "reinstate", "invalid identity");
	if (!cb_store_text_valid(by, CB_STORE_BY_MAX)) return bad(store, "reinstate", "invalid name of who reinstated");
	LOCKED(store, store->ops->reinstate(store->be, identity, by, now));
}

int cb_store_is_revoked(cb_store_t *store, char const *identity, cb_store_revocation_t *out)
{
	if (!identity_ok(identity)) return bad(store, "is_revoked", "invalid identity");
	LOCKED(store, store->ops->is_revoked(store->be, identity, out));
}

int cb_store_revocations(cb_store_t *store, bool history, cb_store_revocations_t *out)
{
	if (!out) return bad(store, "revocations", "no output list");
	out->items = NULL;
	out->count = 0;
	out->skipped = 0;
	out->first_skipped = 0;
	LOCKED(store, store->ops->revocations(store->be, history, out));
}

LIST_FREE(cb_store_revocations_free, cb_store_revocations_t)

int cb_store_disconnect_enqueue(cb_store_t *store, char const *nas, char const *acct_session_id,
				char const *identity, char const *reason, cb_disc_kind_t kind, bool held,
				time_t now, int64_t *id)
{
	int64_t dummy;

	if (!key_ok(nas, acct_session_id)) return bad(store, "disconnect_enqueue", "invalid session key");
	if (!empty(identity) && !identity_ok(identity)) return bad(store, "disconnect_enqueue", "invalid identity");
	if (!opt_text_ok(reason, CB_STORE_REASON_MAX)) return bad(store, "disconnect_enqueue", "invalid reason");
	if (kind != CB_DISC_DISCONNECT && kind != CB_DISC_COA) return bad(store, "disconnect_enqueue", "unknown kind");
	if (!id) id = &dummy;
	*id = 0;
	LOCKED(store, store->ops->disconnect_enqueue(store->be, nas, acct_session_id, identity, reason, kind, held,
						      now, id));
}

int cb_store_disconnect_due(cb_store_t *store, time_t now, size_t limit, cb_store_disconnects_t *out)
{
	if (!out) return bad(store, "disconnect_due", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->disconnect_due(store->be, now, limit, out));
}

int cb_store_disconnect_claim(cb_store_t *store, int64_t id, time_t until)
{
	if (until <= 0) return bad(store, "disconnect_claim", "invalid time");
	LOCKED(store, store->ops->disconnect_claim(store->be, id, until));
}

cb_store_watch_t *cb_store_watch_start(cb_store_t *store, cb_store_change_fn fn, void *ctx, char *err,
				       size_t errlen)
{
	cb_store_watch_t *w;

	if (errlen) err[0] = '\0';
	if (!store || !fn || !store->ops->watch_start) return NULL;
	pthread_mutex_lock(&store->mutex);
	w = store->ops->watch_start(store->be, fn, ctx, err, errlen);
	pthread_mutex_unlock(&store->mutex);
	return w;
}

void cb_store_watch_stop(cb_store_watch_t *w)
{
	if (w) w->stop(w);
}

/** take_each - disconnect_due and a claim of each, under the front's lock: one server, so nobody else takes them. */
static int take_each(cb_store_t *store, time_t now, time_t until, size_t limit, cb_store_disconnects_t *out)
{
	int rc = store->ops->disconnect_due(store->be, now, limit, out);

	for (size_t i = 0; rc == 0 && i < out->count; i++) {
		if (store->ops->disconnect_claim(store->be, out->items[i].id, until) < 0) rc = -1;
	}
	if (rc < 0) cb_store_disconnects_free(out);
	return rc;
}

int cb_store_disconnect_take(cb_store_t *store, time_t now, time_t until, size_t limit,
			     cb_store_disconnects_t *out)
{
	if (!out) return bad(store, "disconnect_take", "no output list");
	out->items = NULL;
	out->count = 0;
	if (until <= now) return bad(store, "disconnect_take", "the lease must end after now");
	LOCKED(store, store->ops->disconnect_take ? store->ops->disconnect_take(store->be, now, until, limit, out) :
		      take_each(store, now, until, limit, out));
}

int cb_store_disconnect_mark(cb_store_t *store, int64_t id, cb_disc_result_t result, unsigned int error_cause,
			     char const *detail, time_t next_attempt, time_t now)
{
	if (result != CB_DISC_ACKED && result != CB_DISC_NAK && result != CB_DISC_TIMEOUT)
		return bad(store, "disconnect_mark", "result must be acked, nak or timeout");
	if (!opt_text_ok(detail, CB_STORE_DETAIL_MAX)) return bad(store, "disconnect_mark", "invalid detail");
	if (next_attempt < 0) return bad(store, "disconnect_mark", "invalid next attempt");
	LOCKED(store, store->ops->disconnect_mark(store->be, id, result, error_cause, detail, next_attempt, now));
}

int cb_store_disconnect_hold(cb_store_t *store, int64_t const *ids, size_t n, size_t *held)
{
	size_t dummy;

	if (!held) held = &dummy;
	*held = 0;
	if (n == 0) return 1;
	if (!ids) return bad(store, "disconnect_hold", "no ids");
	LOCKED(store, store->ops->disconnect_hold(store->be, ids, n, held));
}

int cb_store_disconnect_confirm_held(cb_store_t *store, time_t now, size_t *released)
{
	size_t dummy;

	if (!released) released = &dummy;
	*released = 0;
	LOCKED(store, store->ops->disconnect_release(store->be, true, now, released));
}

int cb_store_disconnect_discard_held(cb_store_t *store, time_t now, size_t *discarded)
{
	size_t dummy;

	if (!discarded) discarded = &dummy;
	*discarded = 0;
	LOCKED(store, store->ops->disconnect_release(store->be, false, now, discarded));
}

int cb_store_disconnects(cb_store_t *store, cb_disc_state_t state, size_t limit, cb_store_disconnects_t *out)
{
	if (!out) return bad(store, "disconnects", "no output list");
	out->items = NULL;
	out->count = 0;
	if (!cb_name_of(cb_store_disc_state_names, (int) state, NULL)) return bad(store, "disconnects", "unknown state");
	LOCKED(store, store->ops->disconnects(store->be, state, limit, out));
}

int cb_store_list_held(cb_store_t *store, cb_store_disconnects_t *out)
{
	return cb_store_disconnects(store, CB_DISC_HELD, 0, out);
}

LIST_FREE(cb_store_disconnects_free, cb_store_disconnects_t)

int cb_store_command_enqueue(cb_store_t *store, cb_cmd_t cmd, char const *arg, char const *by, time_t now)
{
	if ((unsigned int) cmd >= CB_CMD_MAX) return bad(store, "command_enqueue", "unknown command");
	if (!opt_text_ok(arg, CB_STORE_TEXT_MAX)) return bad(store, "command_enqueue", "invalid argument");
	if (!opt_text_ok(by, CB_STORE_BY_MAX)) return bad(store, "command_enqueue", "invalid name of who asked");
	LOCKED(store, store->ops->command_enqueue(store->be, cmd, arg, by, now));
}

int cb_store_commands_take(cb_store_t *store, cb_store_commands_t *out)
{
	if (!out) return bad(store, "commands_take", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->commands_take(store->be, out));
}

LIST_FREE(cb_store_commands_free, cb_store_commands_t)

/** key_name_ok - a status key: 1..64 of [a-z0-9._-]. */
static bool key_name_ok(char const *key)
{
	size_t i;

	if (empty(key)) return false;
	for (i = 0; key[i]; i++) {
		char c = key[i];

		if (i >= CB_STORE_KEY_MAX) return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) return false;
	}
	return true;
}

int cb_store_status_put(cb_store_t *store, char const *key, char const *value, time_t now)
{
	if (!key_name_ok(key)) return bad(store, "status_put", "invalid key");
	if (!value || strlen(value) > CB_STORE_VALUE_MAX) return bad(store, "status_put", "value missing or too long");
	LOCKED(store, store->ops->status_put(store->be, key, value, now));
}

/** status_get_locked - one status value into buf; see cb_store_status_get. */
static int status_get_locked(cb_store_t *store, char const *key, char *buf, size_t len, time_t *updated_at)
{
	cb_store_status_t st;
	int rc;

	pthread_mutex_lock(&store->mutex);
	rc = store->ops->status_get(store->be, key, &st);
	pthread_mutex_unlock(&store->mutex);
	if (rc != 0) return rc;
	if (strlen(st.value) >= len) return bad(store, "status_get", "buffer too short");
	memcpy(buf, st.value, strlen(st.value) + 1);
	if (updated_at) *updated_at = st.updated_at;
	return 0;
}

int cb_store_status_get(cb_store_t *store, char const *key, char *buf, size_t len, time_t *updated_at)
{
	if (!buf || len == 0) return bad(store, "status_get", "no buffer");
	buf[0] = '\0';
	if (updated_at) *updated_at = 0;
	if (!key_name_ok(key)) return bad(store, "status_get", "invalid key");
	return status_get_locked(store, key, buf, len, updated_at);
}

time_t cb_store_status_time(cb_store_t *store, char const *key)
{
	char buf[32], *end;
	long long v;

	if (cb_store_status_get(store, key, buf, sizeof(buf), NULL) != 0) return 0;
	v = strtoll(buf, &end, 10);
	return (*end || end == buf || v < 0) ? 0 : (time_t) v;
}

int cb_store_status_put_time(cb_store_t *store, char const *key, time_t t, time_t now)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long) t);
	return cb_store_status_put(store, key, buf, now);
}

int cb_store_statuses(cb_store_t *store, cb_store_statuses_t *out)
{
	if (!out) return bad(store, "statuses", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->statuses(store->be, out));
}

LIST_FREE(cb_store_statuses_free, cb_store_statuses_t)

int cb_store_counts(cb_store_t *store, cb_store_counts_t *out)
{
	if (!out) return bad(store, "counts", "no output");
	memset(out, 0, sizeof(*out));
	LOCKED(store, store->ops->counts(store->be, out));
}

/*
 *	Exceptions register, people, reminders
 */
/** mac_arg_ok - NULL, "", or already in the store's AA-BB-CC-DD-EE-FF form. */
static bool mac_arg_ok(char const *mac)
{
	char norm[CB_MAC_LEN + 1];

	return empty(mac) || (cb_mac_normalise(mac, norm) && strcmp(norm, mac) == 0);
}

int cb_store_exception_add(cb_store_t *store, char const *identity, char const *mac, char const *reason,
			   char const *approved_by, char const *by, time_t until, time_t now, int64_t *id)
{
	if (!identity_ok(identity)) return bad(store, "exception_add", "invalid identity");
	if (!mac_arg_ok(mac)) return bad(store, "exception_add", "invalid MAC (want AA-BB-CC-DD-EE-FF)");
	if (!cb_store_text_valid(reason, CB_STORE_REASON_MAX)) return bad(store, "exception_add", "invalid reason");
	if (!cb_store_text_valid(approved_by, CB_STORE_BY_MAX)) {
		return bad(store, "exception_add", "invalid name of who approved");
	}
	if (!cb_store_text_valid(by, CB_STORE_BY_MAX)) return bad(store, "exception_add", "invalid name of who granted");
	if (until <= now) return bad(store, "exception_add", "the end is not in the future");
	LOCKED(store, store->ops->exception_add(store->be, identity, mac ? mac : "", reason, approved_by, by, until,
						now, id));
}

int cb_store_exception_end(cb_store_t *store, char const *identity, char const *mac, char const *by, time_t now,
			   size_t *ended)
{
	size_t dummy;

	if (!identity_ok(identity)) return bad(store, "exception_end", "invalid identity");
	if (!mac_arg_ok(mac)) return bad(store, "exception_end", "invalid MAC (want AA-BB-CC-DD-EE-FF)");
	if (!cb_store_text_valid(by, CB_STORE_BY_MAX)) return bad(store, "exception_end", "invalid name of who ended it");
	LOCKED(store, store->ops->exception_end(store->be, identity, mac ? mac : "", by, now, ended ? ended : &dummy));
}

int cb_store_exceptions(cb_store_t *store, bool history, cb_store_exceptions_t *out)
{
	if (!out) return bad(store, "exceptions", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->exceptions(store->be, history, out));
}

LIST_FREE(cb_store_exceptions_free, cb_store_exceptions_t)

int cb_store_people_update(cb_store_t *store, bool replace, char const *const *removed, size_t n_removed,
			   cb_store_person_next_fn next, void *ctx)
{
	if (!next) return bad(store, "people_update", "no rows");
	for (size_t i = 0; i < n_removed; i++) {
		if (!identity_ok(removed[i])) return bad(store, "people_update", "an invalid identity to remove");
	}
	LOCKED(store, store->ops->people_update(store->be, replace, removed, n_removed, next, ctx));
}

int cb_store_people(cb_store_t *store, cb_store_people_t *out)
{
	if (!out) return bad(store, "people", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->people(store->be, out));
}

LIST_FREE(cb_store_people_free, cb_store_people_t)

int cb_store_reminder_put(cb_store_t *store, cb_store_reminder_t const *r)
{
	if (!r || !identity_ok(r->identity)) return bad(store, "reminder_put", "invalid identity");
	if (!cb_store_text_valid(r->email, CB_STORE_TEXT_MAX)) return bad(store, "reminder_put", "invalid address");
	if (strcmp(r->result, "sent") != 0 && strcmp(r->result, "failed") != 0) {
		return bad(store, "reminder_put", "result is not sent or failed");
	}
	if (!opt_text_ok(r->detail, CB_STORE_DETAIL_MAX)) return bad(store, "reminder_put", "invalid detail");
	LOCKED(store, store->ops->reminder_put(store->be, r));
}

int cb_store_reminder_claim(cb_store_t *store, cb_store_reminder_t const *r)
{
	if (!r || !identity_ok(r->identity)) return bad(store, "reminder_claim", "invalid identity");
	if (!cb_store_text_valid(r->email, CB_STORE_TEXT_MAX)) return bad(store, "reminder_claim", "invalid address");
	LOCKED(store, store->ops->reminder_claim ? store->ops->reminder_claim(store->be, r) :
		      store->ops->reminder_sent(store->be, r->email, r->ack_expiry, r->window_days));
}

int cb_store_reminder_unclaim(cb_store_t *store, char const *email, time_t ack_expiry, unsigned int window_days)
{
	if (!cb_store_text_valid(email, CB_STORE_TEXT_MAX)) return bad(store, "reminder_unclaim", "invalid address");
	if (!store->ops->reminder_unclaim) return 0;
	LOCKED(store, store->ops->reminder_unclaim(store->be, email, ack_expiry, window_days));
}

int cb_store_reminder_sent(cb_store_t *store, char const *email, time_t ack_expiry, unsigned int window_days)
{
	if (!cb_store_text_valid(email, CB_STORE_TEXT_MAX)) return bad(store, "reminder_sent", "invalid address");
	LOCKED(store, store->ops->reminder_sent(store->be, email, ack_expiry, window_days));
}

int cb_store_reminders(cb_store_t *store, time_t since, cb_store_reminders_t *out)
{
	if (!out) return bad(store, "reminders", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->reminders(store->be, since, out));
}

int cb_store_devices(cb_store_t *store, char const *identity, time_t since, cb_store_devices_t *out)
{
	if (!out) return bad(store, "devices", "no output list");
	out->items = NULL;
	out->count = 0;
	if (!empty(identity) && !identity_ok(identity)) return bad(store, "devices", "invalid identity");
	LOCKED(store, store->ops->devices(store->be, identity ? identity : "", since, out));
}

LIST_FREE(cb_store_devices_free, cb_store_devices_t)

int cb_store_sessions_since(cb_store_t *store, time_t since, size_t limit, cb_store_sessions_t *out)
{
	if (!out) return bad(store, "sessions_since", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->sessions_since(store->be, since, limit, out));
}

/*
 *	Devices known per person, and IT's forgetting of them
 */
int cb_store_device_seen(cb_store_t *store, char const *identity, char const *mac, char const *nas, bool counted,
			 time_t now)
{
	if (!identity_ok(identity)) return bad(store, "device_seen", "invalid identity");
	if (empty(mac) || !mac_arg_ok(mac)) return bad(store, "device_seen", "invalid MAC (want AA-BB-CC-DD-EE-FF)");
	if (!opt_text_ok(nas, CB_STORE_TEXT_MAX)) return bad(store, "device_seen", "invalid NAS");
	cb_store_seen_t one = { .counted = counted, .when = now };

	snprintf(one.identity, sizeof(one.identity), "%s", identity);
	snprintf(one.mac, sizeof(one.mac), "%s", mac);
	snprintf(one.nas, sizeof(one.nas), "%s", nas ? nas : "");
	SPOOLED(store, store->ops->device_seen(store->be, identity, mac, one.nas, counted, now),
		cb_store_spool_devices(store, &one, 1));
}

int cb_store_devices_seen(cb_store_t *store, cb_store_seen_t const *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!identity_ok(items[i].identity) || !mac_arg_ok(items[i].mac) ||
		    !opt_text_ok(items[i].nas, CB_STORE_TEXT_MAX)) return bad(store, "devices_seen", "invalid device");
	}
	if (n == 0) return 0;
	SPOOLED(store, store->ops->devices_seen(store->be, items, n), cb_store_spool_devices(store, items, n));
}

int cb_store_devices_known(cb_store_t *store, char const *identity, time_t since, cb_store_known_devices_t *out)
{
	if (!out) return bad(store, "devices_known", "no output list");
	out->items = NULL;
	out->count = 0;
	if (!empty(identity) && !identity_ok(identity)) return bad(store, "devices_known", "invalid identity");
	LOCKED(store, store->ops->devices_known(store->be, identity ? identity : "", since, out));
}

LIST_FREE(cb_store_known_devices_free, cb_store_known_devices_t)

int cb_store_person_now(cb_store_t *store, char const *identity, cb_store_known_devices_t *devices,
			cb_store_sessions_t *sessions)
{
	cb_store_filter_t filter = { .identity = identity };
	int rc;

	if (!sessions) return bad(store, "person_now", "no output list");
	if (devices) {
		devices->items = NULL;
		devices->count = 0;
	}
	sessions->items = NULL;
	sessions->count = 0;
	if (!identity_ok(identity)) return bad(store, "person_now", "invalid identity");
	pthread_mutex_lock(&store->mutex);	/* No batch flush: see store.h. */
	rc = devices ? store->ops->devices_known(store->be, identity, 0, devices) : 0;
	if (rc == 0) rc = store->ops->sessions_active(store->be, &filter, sessions);
	pthread_mutex_unlock(&store->mutex);
	if (rc < 0) {
		cb_store_known_devices_free(devices);
		cb_store_sessions_free(sessions);
	}
	return rc < 0 ? -1 : 0;
}

int cb_store_devices_forget(cb_store_t *store, char const *identity, char const *mac, char const *reason,
			    char const *by, time_t now, size_t *removed)
{
	size_t dummy;

	if (!identity_ok(identity)) return bad(store, "devices_forget", "invalid identity");
	if (!mac_arg_ok(mac)) return bad(store, "devices_forget", "invalid MAC (want AA-BB-CC-DD-EE-FF)");
	if (!cb_store_text_valid(reason, CB_STORE_REASON_MAX)) return bad(store, "devices_forget", "invalid reason");
	if (!cb_store_text_valid(by, CB_STORE_BY_MAX)) return bad(store, "devices_forget", "invalid name of who did it");
	LOCKED(store, store->ops->devices_forget(store->be, identity, mac ? mac : "", reason, by, now,
						 removed ? removed : &dummy));
}

int cb_store_device_forgets(cb_store_t *store, int64_t after, cb_store_device_forgets_t *out)
{
	if (!out) return bad(store, "device_forgets", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->device_forgets(store->be, after, out));
}

LIST_FREE(cb_store_device_forgets_free, cb_store_device_forgets_t)

LIST_FREE(cb_store_reminders_free, cb_store_reminders_t)

int cb_store_purge(cb_store_t *store, time_t before, size_t *removed)
{
	size_t dummy;

	if (!removed) removed = &dummy;
	*removed = 0;
	LOCKED(store, store->ops->purge(store->be, before, removed));
}

/*
 *	The audit index and the subject access export
 */
int cb_store_audit_attach(cb_store_t *store)
{
	LOCKED(store, store->ops->audit_attach(store->be));
}

/** audit_entry_ok - NULL, or what is wrong with e. */
static char const *audit_entry_ok(cb_store_audit_entry_t const *e)
{
	if (e->seq <= 0) return "seq must be positive";
	if (empty(e->type)) return "no type";
	if (!cb_store_hash_valid(e->hash)) return "invalid hash";
	if (!e->record || e->record_len == 0 || e->record_len > INT32_MAX) return "no record";
	return NULL;
}

int cb_store_audit_put(cb_store_t *store, cb_store_audit_entry_t const *entries, size_t n)
{
	if (n == 0) return 0;
	if (!entries) return bad(store, "audit_put", "no records");
	for (size_t i = 0; i < n; i++) {
		char const *why = audit_entry_ok(&entries[i]);

		if (why) return bad(store, "audit_put", why);
	}
	LOCKED(store, store->ops->audit_put(store->be, entries, n));
}

int cb_store_audit_last(cb_store_t *store, uint64_t *seq, char hash[CB_STORE_HASH_HEX + 1])
{
	if (!seq || !hash) return bad(store, "audit_last", "no output");
	LOCKED(store, store->ops->audit_last(store->be, seq, hash));
}

int cb_store_audit_count(cb_store_t *store, uint64_t from, uint64_t to, uint64_t *count, uint64_t *first)
{
	if (!count || !first) return bad(store, "audit_count", "no output");
	LOCKED(store, store->ops->audit_count(store->be, from, to, count, first));
}

int cb_store_audit_tally(cb_store_t *store, char const *type, cb_store_tally_fn fn, void *ctx)
{
	if (!type || !fn) return bad(store, "audit_tally", "no type or callback");
	LOCKED(store, store->ops->audit_tally(store->be, type, fn, ctx));
}

int cb_store_audit_has_ref(cb_store_t *store, char const *ref)
{
	if (empty(ref)) return bad(store, "audit_has_ref", "no reference");
	LOCKED(store, store->ops->audit_has_ref(store->be, ref));
}

int cb_store_audit_query(cb_store_t *store, cb_store_audit_filter_t const *filter, cb_store_audit_rows_t *out)
{
	char norm[CB_MAC_LEN + 1];

	if (!out) return bad(store, "audit_query", "no output list");
	out->items = NULL;
	out->count = 0;
	if (!filter) return bad(store, "audit_query", "no filter");
	if (filter->mac && (!cb_mac_normalise(filter->mac, norm) || strcmp(norm, filter->mac) != 0)) {
		return bad(store, "audit_query", "invalid MAC (want AA-BB-CC-DD-EE-FF)");
	}
	if (filter->type && empty(filter->type)) return bad(store, "audit_query", "empty type");
	LOCKED(store, store->ops->audit_query(store->be, filter, out));
}

int cb_store_audit_sessions(cb_store_t *store, char const *ip, char const *nas, cb_store_audit_rows_t *out)
{
	if (!out) return bad(store, "audit_sessions", "no output list");
	out->items = NULL;
	out->count = 0;
	if (empty(ip)) return bad(store, "audit_sessions", "no address");
	LOCKED(store, store->ops->audit_sessions(store->be, ip, nas ? nas : "", out));
}

void cb_store_audit_rows_free(cb_store_audit_rows_t *rows)
{
	if (!rows) return;
	for (size_t i = 0; i < rows->count; i++) {
		cb_store_audit_row_t *r = &rows->items[i];

		free(r->identity);
		free(r->outer_identity);
		free(r->calling_station);
		free(r->nas);
		free(r->ssid);
		free(r->framed_ip);
		free(r->acct_session_id);
		free(r->status);
		free(r->reason);
		free(r->by);
		free(r->record);
	}
	free(rows->items);
	rows->items = NULL;
	rows->count = 0;
}

int cb_store_audit_purge(cb_store_t *store, time_t before, size_t *removed)
{
	size_t dummy;

	if (!removed) removed = &dummy;
	*removed = 0;
	LOCKED(store, store->ops->audit_purge(store->be, before, removed));
}

int cb_store_retention_purge(cb_store_t *store, time_t before, size_t *store_removed, size_t *audit_removed,
			     char *err, size_t errlen)
{
	*store_removed = *audit_removed = 0;
	if (cb_store_audit_purge(store, before, audit_removed) < 0) {
		snprintf(err, errlen, "could not purge the audit rows");
		return -1;
	}
	if (cb_store_purge(store, before, store_removed) < 0) {
		snprintf(err, errlen, "purged %zu audit rows, but could not purge the store", *audit_removed);
		return -1;
	}
	return 0;
}

int cb_store_export_person(cb_store_t *store, char const *identity, cb_store_export_fn fn, void *ctx)
{
	if (!cb_store_text_valid(identity, CB_STORE_TEXT_MAX)) return bad(store, "export_person", "invalid identity");
	if (!fn) return bad(store, "export_person", "no callback");
	LOCKED(store, store->ops->export_person(store->be, identity, fn, ctx));
}
