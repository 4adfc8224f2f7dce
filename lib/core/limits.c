/*
 * limits.c - device limits and shared credentials (see limits.h).
 *
 * Worked example: max_devices = 3, device_window = 90, max_devices_action
 * = onboard.  Alice's phone, laptop and tablet were let in this term; a
 * fourth device (her partner's phone, with her password) asks.  It is not
 * known, she has 3 known devices: over_devices, applied DEVICES, action
 * onboard; the policy's admit becomes onboard, device_limit, and the
 * store records the device as held back (by that reason), so it stays unknown and
 * is onboarded each time it comes back, until IT forgets one of her
 * devices (cetbyodctl devices forget).  Her laptop coming back is known:
 * admitted as the policy decided.
 */
#include <string.h>

#include "core/limits.h"

#define DAY	86400

cb_name_t const cb_limit_action_names[] = {
	{ "report", CB_LIMIT_REPORT },
	{ "onboard", CB_LIMIT_ONBOARD },
	{ "reject", CB_LIMIT_REJECT },
	{ NULL, -1 }
};

char const *cb_limit_action_name(cb_limit_action_t action)
{
	return cb_name_of(cb_limit_action_names, (int) action, "?");
}

int cb_limit_action_from_name(char const *name)
{
	return cb_name_value(cb_limit_action_names, name, -1);
}

cb_reason_t cb_limit_reason(cb_limit_kind_t kind)
{
	return kind == CB_LIMIT_CONCURRENT ? CB_REASON_CONCURRENT_LIMIT : CB_REASON_DEVICE_LIMIT;
}

bool cb_limits_enabled(cb_limits_conf_t const *conf)
{
	return conf->max_devices || conf->max_concurrent;
}

static bool same_mac(char const *a, char const *b)
{
	return a && b && *a && strcmp(a, b) == 0;
}

/** devices - known devices other than the request's, and whether the request's is known. */
static void devices(cb_limits_conf_t const *conf, cb_limits_input_t const *in, time_t now, cb_limits_result_t *out)
{
	time_t since = conf->device_window_days ? now - (time_t) conf->device_window_days * DAY : 0;

	for (size_t i = 0; i < in->num_devices; i++) {
		cb_limits_device_t const *d = &in->devices[i];
		bool dup = false;

		if (!d->mac || !*d->mac || !d->counted || d->last_seen < since) continue;
		if (same_mac(d->mac, in->device)) {
			out->known = true;
			continue;
		}
		for (size_t j = 0; j < i && !dup; j++) {	/* The store keeps one row per device; be sure. */
			cb_limits_device_t const *e = &in->devices[j];

			dup = e->counted && e->last_seen >= since && same_mac(e->mac, d->mac);
		}
		if (!dup) out->known_devices++;
	}
}

/** sessions - open sessions of other devices, and one of them at another NAS. */
static void sessions(cb_limits_input_t const *in, cb_limits_result_t *out)
{
	for (size_t i = 0; i < in->num_sessions; i++) {
		cb_limits_session_t const *s = &in->sessions[i];

		if (same_mac(s->mac, in->device)) continue;
		out->concurrent++;
		if (!out->other_nas && s->nas && *s->nas && in->nas && *in->nas && strcmp(s->nas, in->nas) != 0) {
			out->other_nas = s->nas;
		}
	}
}

void cb_limits_check(cb_limits_conf_t const *conf, cb_limits_input_t const *in, time_t now, cb_limits_result_t *out)
{
	memset(out, 0, sizeof(*out));
	out->has_device = in->device && *in->device;
	if (out->has_device) devices(conf, in, now, out);
	sessions(in, out);

	out->over_devices = conf->max_devices && out->has_device && !out->known &&
			    out->known_devices >= conf->max_devices;
	out->over_concurrent = conf->max_concurrent && out->concurrent >= conf->max_concurrent;

	if (out->over_devices) {
		out->applied = CB_LIMIT_DEVICES;
		out->action = conf->devices_action;
	}
	if (out->over_concurrent && (!out->over_devices || conf->concurrent_action > out->action)) {
		out->applied = CB_LIMIT_CONCURRENT;
		out->action = conf->concurrent_action;
	}
}

bool cb_limits_apply(cb_limits_result_t const *res, cb_decision_t *d)
{
	if (res->applied == CB_LIMIT_NONE || res->action == CB_LIMIT_REPORT || d->status == CB_STATUS_REJECT) return false;
	d->status = res->action == CB_LIMIT_REJECT ? CB_STATUS_REJECT : CB_STATUS_ONBOARD;
	d->reason = cb_limit_reason(res->applied);
	d->valid_until = 0;
	return true;
}
