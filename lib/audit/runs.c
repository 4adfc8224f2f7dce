/*
 * runs.c - refusal coalescing: identical refusals repeated within a
 * window become one run, whose first refusal is a record of its own
 * (written at once, like any other) and whose repeats are summarised in
 * records carrying a count and the first and last times (audit {
 * coalesce_window, coalesce_summary_every, coalesce_max_runs }).
 *
 * Identical: a decision that is not an admission, with the same identity,
 * Calling-Station-Id, NAS, status and reason (the other fields, such as
 * the SSID, are those of the run's first refusal).  Admissions are never
 * coalesced.  The rules, with W = coalesce_window and M =
 * coalesce_summary_every (seconds):
 *   - a refusal with no run open for it is written at once and opens a run;
 *   - a refusal at most W seconds after the run's last one is a repeat:
 *     counted, not written;
 *   - a run with repeats gets a summary record once M seconds have passed
 *     since the run's first refusal or its last summary (checked at each
 *     repeat and once a second by the writer), and its count starts again;
 *   - a run that has seen no refusal for more than W seconds ends: its
 *     summary (when it has uncounted repeats) is written; the next
 *     refusal opens a new run, written at once;
 *   - cb_audit_close ends every run (summaries written before the file is
 *     closed: a clean stop or a reload loses nothing).
 * A summary is a decision record like the first one, with "time" the last
 * repeat's, and "count" (the repeats it stands for), "first" and "last"
 * (RFC 3339 UTC, the first and last of them).  A crash loses only the
 * counts of repeats not yet summarised (at most M seconds' worth per run),
 * never a first refusal.  At most coalesce_max_runs runs are followed at
 * once (a copy of the first record each, about 2 KB); a refusal that
 * would open one more is written as its own record, as without
 * coalescing (more disk, nothing lost), and counted in the stats.
 *
 * Everything here runs under the writer's mutex (writer.c): runs hold
 * copies of events (cb_audit_event_copy), the writer thread builds the
 * records.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_int.h"
#include "core/identity.h"
#include "core/tz.h"

#define RUNS_BUCKETS	4096		/* A power of two. */

typedef struct run {
	struct run	*next;
	uint64_t	h;
	char		*key;
	cb_audit_event_t *tmpl;		/* The first refusal (cb_audit_event_copy). */
	time_t		last;		/* The last refusal seen. */
	time_t		period;		/* Since the first refusal, or the last summary. */
	time_t		rep_first, rep_last;
	uint64_t	count;		/* Repeats not yet summarised. */
} run_t;

struct cb_audit_runs {
	unsigned int	window, every;
	size_t		max, n;
	run_t		*b[RUNS_BUCKETS];
};

cb_audit_runs_t *cb_audit_runs_new(unsigned int window, unsigned int every, size_t max)
{
	cb_audit_runs_t *r;

	if (!window) return NULL;
	r = calloc(1, sizeof(*r));
	if (!r) return NULL;
	r->window = window;
	r->every = every ? every : CB_AUDIT_COALESCE_EVERY_DEFAULT;
	r->max = max ? max : CB_AUDIT_COALESCE_MAX_DEFAULT;
	return r;
}

static void run_free(run_t *x)
{
	free(x->tmpl);
	free(x->key);
	free(x);
}

void cb_audit_runs_free(cb_audit_runs_t *r)
{
	if (!r) return;
	for (size_t i = 0; i < RUNS_BUCKETS; i++) {
		while (r->b[i]) {
			run_t *x = r->b[i];

			r->b[i] = x->next;
			run_free(x);
		}
	}
	free(r);
}

size_t cb_audit_runs_count(cb_audit_runs_t const *r)
{
	return r ? r->n : 0;
}

/** key_add - s and a separator (0x1f, which no normalised field holds) onto the key; false: too long. */
static bool key_add(char *buf, size_t len, size_t *at, char const *s)
{
	size_t n = s ? strlen(s) : 0;

	if (*at + n + 2 > len) return false;
	if (n) memcpy(buf + *at, s, n);
	*at += n;
	buf[(*at)++] = '\x1f';
	buf[*at] = '\0';
	return true;
}

bool cb_audit_runs_key(cb_audit_event_t const *ev, char *buf, size_t len)
{
	size_t at = 0;

	if (!ev || ev->type != CB_AUDIT_DECISION || ev->admission || !len) return false;
	buf[0] = '\0';
	return key_add(buf, len, &at, ev->identity) && key_add(buf, len, &at, ev->calling_station) &&
	       key_add(buf, len, &at, ev->nas) && key_add(buf, len, &at, ev->status) &&
	       key_add(buf, len, &at, ev->reason);
}

static uint64_t key_hash(char const *k)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *k; k++) h = (h ^ (unsigned char) *k) * 1099511628211ULL;
	return h;
}

static run_t **run_find(cb_audit_runs_t *r, char const *key, uint64_t h)
{
	run_t **p = &r->b[h & (RUNS_BUCKETS - 1)];

	for (; *p; p = &(*p)->next) {
		if ((*p)->h == h && strcmp((*p)->key, key) == 0) return p;
	}
	return p;
}

/** summary - the run's repeats as a record, handed to emit; the count starts again at t. */
static void summary(run_t *x, time_t t, cb_audit_emit_fn emit, void *ctx)
{
	cb_audit_event_t *o;

	if (!x->count) return;
	o = cb_audit_event_copy(x->tmpl, x->rep_last);
	if (o) {
		o->time = o->last = x->rep_last;
		o->first = x->rep_first;
		o->count = x->count;
	}
	emit(ctx, o, x->count);		/* NULL (out of memory): the writer counts the repeats as dropped. */
	x->count = 0;
	x->period = t;
}

int cb_audit_runs_repeat(cb_audit_runs_t *r, char const *key, time_t t, cb_audit_emit_fn emit, void *ctx)
{
	uint64_t h = key_hash(key);
	run_t **p = run_find(r, key, h), *x = *p;

	if (!x) return 0;
	if (t > x->last + (time_t) r->window || t < x->period) {	/* Quiet too long (or the clock went back): ends. */
		summary(x, t, emit, ctx);
		*p = x->next;
		run_free(x);
		r->n--;
		return 0;
	}
	if (!x->count) x->rep_first = t;
	x->count++;
	x->rep_last = t > x->rep_last ? t : x->rep_last;
	x->last = t > x->last ? t : x->last;
	if (t >= x->period + (time_t) r->every) summary(x, t, emit, ctx);
	return 1;
}

int cb_audit_runs_start(cb_audit_runs_t *r, char const *key, time_t t, cb_audit_event_t *tmpl)
{
	uint64_t h = key_hash(key);
	run_t **p = run_find(r, key, h), *x;

	if (*p || r->n >= r->max) {
		free(tmpl);
		return *p ? 1 : 2;
	}
	x = calloc(1, sizeof(*x));
	if (!x || !(x->key = strdup(key))) {
		free(x);
		free(tmpl);
		return -1;
	}
	x->h = h;
	x->tmpl = tmpl;
	x->last = x->period = t;
	*p = x;
	r->n++;
	return 0;
}

void cb_audit_runs_sweep(cb_audit_runs_t *r, time_t now, bool all, cb_audit_emit_fn emit, void *ctx)
{
	for (size_t i = 0; r && r->n && i < RUNS_BUCKETS; i++) {
		run_t **p = &r->b[i];

		while (*p) {
			run_t *x = *p;

			if (all || now > x->last + (time_t) r->window) {
				summary(x, now, emit, ctx);
				*p = x->next;
				run_free(x);
				r->n--;
				continue;
			}
			if (x->count && now > x->period + (time_t) r->every) summary(x, now, emit, ctx);
			p = &x->next;
		}
	}
}

/** escaped - text from a packet (hostile), or "-" when there is none, as cb_identity_escape shows it. */
static char const *escaped(char const *text, char *buf, size_t len)
{
	return text && *text ? cb_identity_escape(text, strlen(text), buf, len) : "-";
}

char const *cb_audit_runs_describe(cb_audit_event_t const *ev, char *buf, size_t len)
{
	char who[CB_IDENTITY_ESCAPED_MAX], dev[128], nas[128], first[32], last[32];

	snprintf(buf, len, "%s -> %s (%s): refused %" PRIu64 " more time%s, device %s, NAS %s, %s to %s "
		 "(one audit summary record; audit { coalesce_window })", escaped(ev->identity, who, sizeof(who)),
		 ev->status ? ev->status : "-", ev->reason ? ev->reason : "-", ev->count, ev->count == 1 ? "" : "s",
		 escaped(ev->calling_station, dev, sizeof(dev)), escaped(ev->nas, nas, sizeof(nas)),
		 cb_tz_format_utc(ev->first, first, sizeof(first)), cb_tz_format_utc(ev->last, last, sizeof(last)));
	return buf;
}
