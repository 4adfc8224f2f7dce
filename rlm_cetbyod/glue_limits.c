/*
 * glue_limits.c - post-auth's device limits and sharing flags (policy {
 * max_devices, max_concurrent }): after the decision, for an admission,
 * the person's devices and open sessions from the store, the core's
 * verdict (cb_limits_check, lib/core/limits.h), what radiusd -X says about
 * it, a "sharing" audit record for each limit passed and for the same
 * identity at two NASes at once, and a device a limit refused recorded
 * (an admitted one is recorded with its decision, by the store).  With
 * no limit set nothing is read: the request path costs what it did.
 *
 * The store failing does not refuse anyone: the limits are then not
 * applied to that request, and radiusd -X says so.
 *
 * Requests of one person at once (a burst of new devices, each in its own
 * radiusd thread): a check holds the person's lock (one of PERSON_LOCKS,
 * by a hash of the identity) from its read of the store until it has
 * noted the new device it admitted; the store has that device only after
 * the devices writer's next round (about 10 ms), so the next check also
 * counts the devices admitted in the last ADMITTED_MS that it did not find
 * in the store.  Without both, each of eight devices asking together read
 * "no device known" and all were let in.  Across two radiusd servers
 * sharing a store the window remains.
 */
#include "rlm_cetbyod.h"

#include "base/clock.h"
#include "base/mac.h"
#include "core/limits.h"
#include "store/spool.h"

#define SESSIONS_MAX	256	/* Open sessions of one person considered at most. */
#define PERSON_LOCKS	64	/* One person's checks one at a time: a lock per hash of the identity. */
#define ADMITTED_MAX	256	/* New devices admitted lately, counted by the next checks ... */
#define ADMITTED_MS	5000	/* ... this long: far past the writers' 10 ms rounds, even loaded. */
#define ADMITTED_PER_PERSON 64	/* Of one person's, at most this many counted (max_devices is at most 50). */

/** A new device a check admitted (counted), until the store surely has it. */
typedef struct {
	char		identity[CB_IDENTITY_MAX + 1];
	char		mac[CB_MAC_LEN + 1];
	int64_t		at_ms;		/* cb_clock_ms() when admitted; 0: a free slot. */
} admitted_t;

struct cetbyod_limits {
	pthread_mutex_t	person[PERSON_LOCKS];
	pthread_mutex_t	mu;			/* Guards admitted and next. */
	admitted_t	admitted[ADMITTED_MAX];
	size_t		next;			/* The slot the next admission takes (a ring: the oldest goes). */
};

/** request_nas - the request's NAS as sessions name theirs: NAS-IP-Address, else NAS-Identifier, else the client. */
static void request_nas(REQUEST *request, char *buf, size_t len)
{
	VALUE_PAIR *vp = cetbyod_packet_attr(request, PW_NAS_IP_ADDRESS);
	fr_ipaddr_t const *ip = &request->packet->src_ipaddr;

	if (!vp) vp = cetbyod_packet_attr(request, PW_NAS_IDENTIFIER);
	cetbyod_value(vp, buf, len);
	if (buf[0] || (ip->af != AF_INET && ip->af != AF_INET6)) return;
	if (!inet_ntop(ip->af, &ip->ipaddr, buf, (socklen_t) len)) buf[0] = '\0';
}

/** session_nas - a session's NAS: its NAS-IP-Address, else NAS-Identifier, else the client it came from. */
static char const *session_nas(cb_store_session_t const *s)
{
	return s->nas_ip[0] ? s->nas_ip : s->nas_identifier[0] ? s->nas_identifier : s->nas;
}

/** What one request's limits were decided from, held for the call. */
typedef struct {
	cb_store_known_devices_t	known;
	cb_store_sessions_t		open;
	cb_limits_device_t		*devices;
	cb_limits_session_t		*sessions;
	char				(*macs)[CB_MAC_LEN + 1];
	char				recent[ADMITTED_PER_PERSON][CB_MAC_LEN + 1];	/* Admitted lately. */
} limits_ctx_t;

/** person_lock - the lock of identity's checks. */
static pthread_mutex_t *person_lock(struct cetbyod_limits *l, char const *identity)
{
	return &l->person[cetbyod_fnv1a(CETBYOD_FNV_BASIS, identity) % PERSON_LOCKS];
}

/** in_store - whether the store's list of the person's devices has mac, counted. */
static bool in_store(cb_store_known_devices_t const *known, char const *mac)
{
	for (size_t i = 0; i < known->count; i++) {
		if (known->items[i].counted && strcmp(known->items[i].mac, mac) == 0) return true;
	}
	return false;
}

/**
 * recent_devices - identity's devices admitted within ADMITTED_MS that the
 * store does not have yet, into c->recent; how many.  One the store has is
 * forgotten here: from then on the store says (cetbyodctl devices forget).
 */
static size_t recent_devices(struct cetbyod_limits *l, char const *identity, limits_ctx_t *c)
{
	int64_t now = cb_clock_ms();
	size_t n = 0;

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < ADMITTED_MAX && n < ADMITTED_PER_PERSON; i++) {
		admitted_t *a = &l->admitted[i];

		if (!a->at_ms || now - a->at_ms >= ADMITTED_MS || strcmp(a->identity, identity) != 0) continue;
		if (in_store(&c->known, a->mac)) {
			a->at_ms = 0;
			continue;
		}
		strlcpy(c->recent[n++], a->mac, sizeof(c->recent[0]));
	}
	pthread_mutex_unlock(&l->mu);
	return n;
}

/** note_admitted - identity's new device, admitted and counted: the next checks count it at once. */
static void note_admitted(struct cetbyod_limits *l, char const *identity, char const *device)
{
	admitted_t *a;

	pthread_mutex_lock(&l->mu);
	a = &l->admitted[l->next];
	l->next = (l->next + 1) % ADMITTED_MAX;
	strlcpy(a->identity, identity, sizeof(a->identity));
	strlcpy(a->mac, device, sizeof(a->mac));
	a->at_ms = cb_clock_ms();
	pthread_mutex_unlock(&l->mu);
}

static void ctx_free(limits_ctx_t *c)
{
	cb_store_known_devices_free(&c->known);
	cb_store_sessions_free(&c->open);
	free(c->devices);
	free(c->sessions);
	free(c->macs);
}

/**
 * ctx_load - the person's devices (those the store has, then those admitted
 * lately, seen at now) and open sessions into c and in; false when the
 * store cannot say.
 */
static bool ctx_load(rlm_cetbyod_t *inst, char const *identity, time_t now, limits_ctx_t *c, cb_limits_input_t *in)
{
	size_t n, recent = 0;

	if (cb_store_person_now(inst->limits_store, identity, inst->lconf.max_devices ? &c->known : NULL, &c->open) < 0) {
		return false;
	}
	if (inst->lconf.max_devices) recent = recent_devices(inst->limits, identity, c);
	n = c->open.count < SESSIONS_MAX ? c->open.count : SESSIONS_MAX;
	c->devices = calloc(c->known.count + recent + 1, sizeof(*c->devices));
	c->sessions = calloc(n + 1, sizeof(*c->sessions));
	c->macs = calloc(n + 1, sizeof(*c->macs));
	if (!c->devices || !c->sessions || !c->macs) return false;
	for (size_t i = 0; i < c->known.count; i++) {
		cb_store_known_device_t const *d = &c->known.items[i];

		c->devices[i] = (cb_limits_device_t) { .mac = d->mac, .last_seen = d->last_seen, .counted = d->counted };
	}
	for (size_t i = 0; i < recent; i++) {	/* The same device twice counts once (cb_limits_check). */
		c->devices[c->known.count + i] = (cb_limits_device_t) { .mac = c->recent[i], .last_seen = now, .counted = true };
	}
	for (size_t i = 0; i < n; i++) {
		cb_mac_normalise(c->open.items[i].calling_station, c->macs[i]);
		c->sessions[i] = (cb_limits_session_t) { .mac = c->macs[i], .nas = session_nas(&c->open.items[i]) };
	}
	in->devices = c->devices;
	in->num_devices = c->known.count + recent;
	in->sessions = c->sessions;
	in->num_sessions = n;
	return true;
}

/** audit_sharing - one "sharing" record: reason, the action configured for it, what the person got, in words. */
static void audit_sharing(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, char const *nas,
			  char const *reason, char const *action, cb_status_t status, char const *detail)
{
	char calling[CB_STORE_TEXT_MAX + 1], called[CB_STORE_TEXT_MAX + 1];
	cb_audit_event_t ev = {
		.type = CB_AUDIT_SHARING, .identity = identity, .calling_station = calling, .called_station = called,
		.nas = nas, .reason = reason, .result = action, .status = cb_status_name(status), .detail = detail,
	};

	if (!inst->audit) return;
	cetbyod_value(cetbyod_packet_attr(request, PW_CALLING_STATION_ID), calling, sizeof(calling));
	cetbyod_value(cetbyod_packet_attr(request, PW_CALLED_STATION_ID), called, sizeof(called));
	cb_audit_record(inst->audit, &ev);
}

/** explain - what radiusd -X says, and the audit records of the limits passed. */
static void explain(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, char const *nas,
		    cb_limits_result_t const *r, cb_status_t status)
{
	cb_limits_conf_t const *lc = &inst->lconf;
	char detail[256];

	if (lc->max_devices && r->has_device) {
		RDEBUG2("Devices of %s: %s device, %zu other known within %u days (max_devices %u)", identity,
			r->known ? "a known" : "a new", r->known_devices, lc->device_window_days, lc->max_devices);
	} else if (lc->max_devices) {
		RDEBUG2("No Calling-Station-Id MAC in the request: max_devices cannot apply");
	}
	RDEBUG2("Sessions of %s open on other devices: %zu (max_concurrent %u)", identity, r->concurrent,
		lc->max_concurrent);
	if (r->over_devices) {
		snprintf(detail, sizeof(detail), "a new device beyond %u known within %u days (max_devices %u)",
			 (unsigned int) r->known_devices, lc->device_window_days, lc->max_devices);
		RDEBUG2("Beyond policy { max_devices }: %s; max_devices_action = %s", detail,
			cb_limit_action_name(lc->devices_action));
		audit_sharing(inst, request, identity, nas, cb_reason_name(CB_REASON_DEVICE_LIMIT),
			      cb_limit_action_name(lc->devices_action), status, detail);
	}
	if (r->over_concurrent) {
		snprintf(detail, sizeof(detail), "%zu session(s) already open on other devices (max_concurrent %u)",
			 r->concurrent, lc->max_concurrent);
		RDEBUG2("Beyond policy { max_concurrent }: %s; max_concurrent_action = %s", detail,
			cb_limit_action_name(lc->concurrent_action));
		audit_sharing(inst, request, identity, nas, cb_reason_name(CB_REASON_CONCURRENT_LIMIT),
			      cb_limit_action_name(lc->concurrent_action), status, detail);
	}
	if (r->other_nas) {
		snprintf(detail, sizeof(detail), "a session of another device is open at NAS %s", r->other_nas);
		RDEBUG2("Same identity at two NASes at once: %s (flagged for the sharing report)", detail);
		audit_sharing(inst, request, identity, nas, "two_nases", "report", status, detail);
	}
}

/**
 * remember - a device a limit refused, into the store (held back).  An
 * admission's device is recorded by glue_class.c (or with its decision row,
 * when the decision does not fit in a Class), not here.
 */
static void remember(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, char const *device, char const *nas,
		     time_t now)
{
	if (cb_store_device_seen(inst->limits_store, identity, device, nas, false, now) < 0) {
		RWDEBUG("Cannot record device %s of %s in the state store", device, identity);
	}
}

int cetbyod_limits_start(rlm_cetbyod_t *inst, CONF_SECTION *conf)
{
	struct cetbyod_limits *l;

	if (!inst->store) return 0;
	if (!(l = calloc(1, sizeof(*l)))) {
		cf_log_err_cs(conf, "Out of memory for the device limits");
		return -1;
	}
	for (size_t i = 0; i < PERSON_LOCKS; i++) pthread_mutex_init(&l->person[i], NULL);
	pthread_mutex_init(&l->mu, NULL);
	inst->limits = l;
	/* Its own connection: the request threads' reads must not wait while the batch commits decisions. */
	inst->limits_store = cetbyod_store_connection(inst, conf, "the device limits", CB_SPOOL_LIMITS_FILE);
	return inst->limits_store ? 0 : -1;
}

void cetbyod_limits_stop(rlm_cetbyod_t *inst)
{
	cb_store_close(inst->limits_store);
	inst->limits_store = NULL;
	if (!inst->limits) return;
	for (size_t i = 0; i < PERSON_LOCKS; i++) pthread_mutex_destroy(&inst->limits->person[i]);
	pthread_mutex_destroy(&inst->limits->mu);
	free(inst->limits);
	inst->limits = NULL;
}

bool cetbyod_request_limits(rlm_cetbyod_t *inst, REQUEST *request, char const *identity, cb_decide_result_t *res,
			    time_t now)
{
	char device[CB_MAC_LEN + 1], nas[CB_STORE_TEXT_MAX + 1], calling[CB_STORE_TEXT_MAX + 1];
	cb_limits_input_t in = { .device = device, .nas = nas };
	limits_ctx_t c = { .macs = NULL };
	cb_limits_result_t r;
	cb_decision_t *d = &res->decision;
	pthread_mutex_t *lock;
	bool applied;

	/* No limit set: nothing to read; the decision still records the device (the store does). */
	if (!inst->limits_store || d->status == CB_STATUS_REJECT || !cb_limits_enabled(&inst->lconf)) return false;
	cetbyod_value(cetbyod_packet_attr(request, PW_CALLING_STATION_ID), calling, sizeof(calling));
	cb_mac_normalise(calling, device);
	request_nas(request, nas, sizeof(nas));
	lock = person_lock(inst->limits, identity);
	pthread_mutex_lock(lock);
	if (!ctx_load(inst, identity, now, &c, &in)) {
		pthread_mutex_unlock(lock);
		RWDEBUG("Cannot read the devices and sessions of %s from the state store: no device limit applied",
			identity);
		ctx_free(&c);
		return false;
	}
	cb_limits_check(&inst->lconf, &in, now, &r);
	applied = cb_limits_apply(&r, d);
	if (inst->lconf.max_devices && device[0] && !r.known && d->status != CB_STATUS_REJECT &&
	    d->reason != CB_REASON_DEVICE_LIMIT && d->reason != CB_REASON_CONCURRENT_LIMIT) {
		note_admitted(inst->limits, identity, device);	/* Counted: recorded by cetbyod_class_device. */
	}
	pthread_mutex_unlock(lock);
	if (applied) {
		RDEBUG2("Limit %s: %s instead of admitting as the policy decided", cb_reason_name(d->reason),
			cb_status_name(d->status));
	}
	explain(inst, request, identity, nas, &r, d->status);
	if (device[0] && d->status == CB_STATUS_REJECT) remember(inst, request, identity, device, nas, now);
	ctx_free(&c);
	return device[0] && !r.known;
}
