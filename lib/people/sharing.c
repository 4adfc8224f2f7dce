/*
 * sharing.c - who looks like they share their credentials (sharing.h): the
 * devices per person over a threshold and the sessions of one identity at
 * two NASes at once, read from the store.
 */
#include <stdlib.h>
#include <string.h>

#include "base/mac.h"
#include "people/sharing.h"

#define DAY	86400

char const *cb_sharing_session_nas(cb_store_session_t const *s)
{
	return s->nas_ip[0] ? s->nas_ip : s->nas_identifier[0] ? s->nas_identifier : s->nas;
}

static time_t session_end(cb_store_session_t const *s)
{
	return s->stopped ? s->stopped : 0;
}

/** same_device - both sessions name the same MAC (a roam whose first Stop came late, not sharing). */
static bool same_device(cb_store_session_t const *a, cb_store_session_t const *b)
{
	char ma[CB_MAC_LEN + 1], mb[CB_MAC_LEN + 1];

	return cb_mac_normalise(a->calling_station, ma) && cb_mac_normalise(b->calling_station, mb) &&
	       strcmp(ma, mb) == 0;
}

/** overlaps_of - the overlaps among sessions [first, end) (one identity, by start) into out. */
static size_t overlaps_of(cb_store_sessions_t const *ses, size_t first, size_t end, cb_sharing_overlap_t *out)
{
	size_t n = 0;

	for (size_t i = first; i < end && n < CB_SHARING_OVERLAPS_MAX; i++) {
		cb_store_session_t const *a = &ses->items[i];

		for (size_t j = i + 1; j < end && n < CB_SHARING_OVERLAPS_MAX; j++) {
			cb_store_session_t const *b = &ses->items[j];
			time_t ea = session_end(a), eb = session_end(b);

			if (ea && b->started >= ea) continue;			/* a was over when b began. */
			if (strcmp(cb_sharing_session_nas(a), cb_sharing_session_nas(b)) == 0 || same_device(a, b)) continue;
			out[n++] = (cb_sharing_overlap_t) { .a = a, .b = b, .from = b->started,
						 .until = !ea ? eb : !eb ? ea : ea < eb ? ea : eb };
		}
	}
	return n;
}

void cb_sharing_free(cb_sharing_t *r)
{
	cb_store_known_devices_free(&r->devs);
	cb_store_sessions_free(&r->ses);
	free(r->ovs);
	free(r->people);
}

/** find_overlaps - every identity's overlaps, grouped by identity (as the sessions are). */
static int find_overlaps(cb_sharing_t *r)
{
	size_t cap = 0;

	for (size_t i = 0, end; i < r->ses.count; i = end) {
		for (end = i + 1; end < r->ses.count && strcmp(r->ses.items[end].identity, r->ses.items[i].identity) == 0;
		     end++) continue;
		if (end - i < 2) continue;
		if (r->num_ovs + CB_SHARING_OVERLAPS_MAX > cap) {
			cb_sharing_overlap_t *more = realloc(r->ovs, (cap * 2 + CB_SHARING_OVERLAPS_MAX) * sizeof(*more));

			if (!more) return -1;
			r->ovs = more;
			cap = cap * 2 + CB_SHARING_OVERLAPS_MAX;
		}
		r->num_ovs += overlaps_of(&r->ses, i, end, r->ovs + r->num_ovs);
	}
	return 0;
}

/** group_people - merge the devices (by identity) and the overlaps (by identity): the people who qualify. */
static int group_people(cb_sharing_t *r)
{
	size_t d = 0, o = 0;

	r->people = calloc(r->devs.count + r->num_ovs + 1, sizeof(*r->people));
	if (!r->people) return -1;
	while (d < r->devs.count || o < r->num_ovs) {
		char const *di = d < r->devs.count ? r->devs.items[d].identity : NULL;
		char const *oi = o < r->num_ovs ? r->ovs[o].a->identity : NULL;
		char const *who = !di ? oi : !oi ? di : strcmp(di, oi) <= 0 ? di : oi;
		cb_sharing_person_t p = { .identity = who, .dev_first = d, .ov_first = o };

		while (d < r->devs.count && strcmp(r->devs.items[d].identity, who) == 0) d++;
		while (o < r->num_ovs && strcmp(r->ovs[o].a->identity, who) == 0) o++;
		p.dev_count = d - p.dev_first;
		p.ov_count = o - p.ov_first;
		if (p.dev_count > r->threshold || p.ov_count) r->people[r->num_people++] = p;
	}
	return 0;
}

void cb_sharing_defaults(cb_store_t *store, time_t now, unsigned long *threshold, time_t *since)
{
	char buf[CB_STORE_VALUE_MAX + 1];
	unsigned long v;
	char *end;

	*threshold = CB_SHARING_THRESHOLD;
	if (cb_store_status_get(store, CB_STATUS_LIMITS_MAX_DEVICES, buf, sizeof(buf), NULL) == 0) {
		v = strtoul(buf, &end, 10);
		if (*end == '\0' && v > 0 && v <= CB_STORE_DEVICES_PER_PERSON) *threshold = v;
	}
	*since = now - 90 * DAY;
	if (cb_store_status_get(store, CB_STATUS_LIMITS_WINDOW, buf, sizeof(buf), NULL) == 0) {
		v = strtoul(buf, &end, 10);
		if (*end == '\0' && v <= 3660) *since = v ? now - (time_t) v * DAY : 0;
	}
}

int cb_sharing_read(cb_store_t *store, cb_sharing_t *r)
{
	if (cb_store_devices_known(store, NULL, r->since, &r->devs) < 0 ||
	    cb_store_sessions_since(store, r->since, CB_SHARING_SESSIONS_MAX, &r->ses) < 0) {
		return -1;
	}
	if (find_overlaps(r) < 0 || group_people(r) < 0) return -2;
	return 0;
}
