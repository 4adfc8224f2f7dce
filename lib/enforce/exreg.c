/*
 * exreg.c - the module's copy of the exceptions register: what the
 * request threads consult, what the enforcer learns has ended, and the
 * register's grant and end events in the audit trail.
 *
 * Memory: the copy is an array owned by the cb_exreg_t, replaced whole on
 * each refresh under its mutex; finders copy the record out.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mac.h"
#include "enforce/exreg.h"

struct cb_exreg {
	cb_store_t		*store;
	cb_audit_t		*audit;
	pthread_mutex_t		mutex;		/* Guards in_force and num_in_force. */
	cb_store_exception_t	*in_force;
	size_t			num_in_force;
	bool			loaded;		/* A refresh has succeeded. */
	time_t			granted_until;	/* Grants up to here were recorded before issue 15. */
	time_t			ended_until;	/* Ends up to here were, too. */
};

cb_exreg_t *cb_exreg_new(cb_store_t *store, cb_audit_t *audit)
{
	cb_exreg_t *reg = calloc(1, sizeof(*reg));

	if (!reg) return NULL;
	reg->store = store;
	reg->audit = audit;
	pthread_mutex_init(&reg->mutex, NULL);
	return reg;
}

void cb_exreg_free(cb_exreg_t *reg)
{
	if (!reg) return;
	free(reg->in_force);
	pthread_mutex_destroy(&reg->mutex);
	free(reg);
}

/** end_instant - when x stopped being in force at now (ended by IT or lapsed); 0 while in force. */
static time_t end_instant(cb_store_exception_t const *x, time_t now)
{
	if (x->ended_at) return x->ended_at < x->until ? x->ended_at : x->until;
	return x->until <= now ? x->until : 0;
}

static void audit_one(cb_exreg_t *reg, cb_store_exception_t const *x, cb_audit_type_t type, time_t when)
{
	char ref[96];
	cb_audit_event_t ev = {
		.type = type, .time = when, .identity = x->identity, .why = x->reason, .ref = ref,
		.approved_by = x->approved_by, .until = x->until, .calling_station = x->mac[0] ? x->mac : NULL,
	};

	if (type == CB_AUDIT_EXCEPTION_GRANT) {
		ev.by = x->granted_by;
	} else {
		ev.by = x->ended_at && x->ended_at < x->until ? x->ended_by : "expired";
	}
	snprintf(ref, sizeof(ref), "exception:%" PRId64 ":%s:%lld", x->id,
		 type == CB_AUDIT_EXCEPTION_GRANT ? "grant" : "end", (long long) when);
	cb_audit_record_once(reg->audit, reg->store, &ev);
}

/**
 * audit_changes - grants and ends the trail does not hold yet, oldest
 * first (all holds the history, newest grant first).  Each is named by its
 * row and instant, and the index says which the trail holds
 * (cb_audit_record_once), so none is skipped (two in one second) or
 * repeated, across restarts.  Those at or before the time watermarks older
 * versions kept (granted_until, ended_until) were recorded by them.
 */
static void audit_changes(cb_exreg_t *reg, cb_store_exceptions_t const *all, time_t now)
{
	if (!reg->audit) return;
	for (size_t i = all->count; i-- > 0;) {
		cb_store_exception_t const *x = &all->items[i];
		time_t end = end_instant(x, now);

		if (x->granted_at > reg->granted_until) audit_one(reg, x, CB_AUDIT_EXCEPTION_GRANT, x->granted_at);
		if (end && end > reg->ended_until && end >= x->granted_at) {
			audit_one(reg, x, CB_AUDIT_EXCEPTION_END, end);
		}
	}
}

static bool in_list(cb_store_exception_t const *list, size_t n, int64_t id, time_t until)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i].id == id && list[i].until == until) return true;
	}
	return false;
}

/** collect_gone - the exceptions in before[] (in force at the previous refresh) that are not in after[]. */
static int collect_gone(cb_store_exception_t const *before, size_t nb, cb_store_exception_t const *after,
			size_t na, cb_store_exceptions_t *gone)
{
	gone->items = NULL;
	gone->count = 0;
	if (!nb) return 0;
	gone->items = calloc(nb, sizeof(*gone->items));
	if (!gone->items) return -1;
	for (size_t i = 0; i < nb; i++) {
		if (!in_list(after, na, before[i].id, before[i].until)) gone->items[gone->count++] = before[i];
	}
	if (!gone->count) cb_store_exceptions_free(gone);
	return 0;
}

int cb_exreg_refresh(cb_exreg_t *reg, time_t now, cb_store_exceptions_t *gone)
{
	cb_store_exceptions_t all = { 0 };
	cb_store_exception_t *set;
	size_t n = 0;
	int rc = 0;

	gone->items = NULL;
	gone->count = 0;
	if (cb_store_exceptions(reg->store, true, &all) < 0) return -1;
	set = all.count ? calloc(all.count, sizeof(*set)) : NULL;
	if (all.count && !set) {
		cb_store_exceptions_free(&all);
		return -1;
	}
	for (size_t i = 0; i < all.count; i++) {
		if (cb_store_exception_in_force(&all.items[i], now)) set[n++] = all.items[i];
	}
	if (!reg->loaded) {
		reg->granted_until = cb_store_status_time(reg->store, CB_EXREG_AUDIT_GRANTED);
		reg->ended_until = cb_store_status_time(reg->store, CB_EXREG_AUDIT_ENDED);
	}
	audit_changes(reg, &all, now);
	cb_store_exceptions_free(&all);

	pthread_mutex_lock(&reg->mutex);
	if (reg->loaded) rc = collect_gone(reg->in_force, reg->num_in_force, set, n, gone);
	free(reg->in_force);
	reg->in_force = set;
	reg->num_in_force = n;
	reg->loaded = true;
	pthread_mutex_unlock(&reg->mutex);
	return rc;
}

bool cb_exreg_find(cb_exreg_t *reg, char const *identity, char const *calling_station, time_t now,
		   cb_store_exception_t *out)
{
	char mac[CB_MAC_LEN + 1] = "";
	cb_store_exception_t const *any = NULL, *device = NULL;
	bool person = calling_station == NULL;	/* About the person, not a request (watcher, reports). */

	if (!reg || !identity) return false;
	/* A request without Calling-Station-Id, or with one that is no MAC: no device-bound exception matches. */
	if (!person && !cb_mac_normalise(calling_station, mac)) mac[0] = '\0';
	pthread_mutex_lock(&reg->mutex);
	for (size_t i = 0; i < reg->num_in_force; i++) {
		cb_store_exception_t const *x = &reg->in_force[i];

		if (strcmp(x->identity, identity) != 0 || !cb_store_exception_in_force(x, now)) continue;
		if (!x->mac[0]) {
			any = x;
		} else if (person || (mac[0] && strcmp(x->mac, mac) == 0)) {
			device = x;
		}
	}
	if (device && out) *out = *device;
	else if (any && out) *out = *any;
	pthread_mutex_unlock(&reg->mutex);
	return device || any;
}
