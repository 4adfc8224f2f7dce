/*
 * summary.c - the daily sharing summary to IT (summary.h): the report of
 * sharing.c as a plain-text email through the reminders' relay, once a
 * local day, remembered in the store's status keys and audited.
 *
 * Everything in the body that came from outside (identities, MACs, NAS
 * names) passes cb_utf8_escape, so no control character or line break of
 * a hostile value reaches the message; the subject holds only numbers and
 * the admin's reminders { school }; cb_mail_build refuses anything else.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "core/tz.h"
#include "people/sharing.h"
#include "people/summary.h"

#define VALUE_MAX	256	/* Bytes of one escaped value in the body. */

static void slog(cb_people_conf_t const *conf, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void slog(cb_people_conf_t const *conf, cb_log_level_t level, char const *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cb_log_vprefixed(conf->log, conf->log_ctx, level, NULL, fmt, ap);
	va_end(ap);
}

/** esc - s made safe for the body (controls and invalid bytes as \xHH, at most VALUE_MAX bytes). */
static char const *esc(char const *s, char out[VALUE_MAX])
{
	return cb_utf8_escape(s && *s ? s : "-", out, VALUE_MAX);
}

static char const *when(cb_people_conf_t const *conf, time_t t, char *buf, size_t len)
{
	if (conf->policy && conf->policy->tz) return cb_tz_format_local(conf->policy->tz, t, buf, len);
	return cb_tz_format_utc(t, buf, len);
}

static void body_person(cb_people_conf_t const *conf, FILE *f, cb_sharing_t const *r, cb_sharing_person_t const *p)
{
	char a[VALUE_MAX], b[VALUE_MAX], c[VALUE_MAX], d[VALUE_MAX], t1[64], t2[64];

	fprintf(f, "%s: %zu device%s\n", esc(p->identity, a), p->dev_count, p->dev_count == 1 ? "" : "s");
	for (size_t k = p->dev_first; k < p->dev_first + p->dev_count; k++) {
		cb_store_known_device_t const *dv = &r->devs.items[k];

		fprintf(f, "  %s  %s  last NAS %s  first seen %s  last seen %s\n", esc(dv->mac, a),
			dv->counted ? "counted" : "held back", esc(dv->nas, b), when(conf, dv->first_seen, t1, sizeof(t1)),
			when(conf, dv->last_seen, t2, sizeof(t2)));
	}
	for (size_t k = p->ov_first; k < p->ov_first + p->ov_count; k++) {
		cb_sharing_overlap_t const *v = &r->ovs[k];

		fprintf(f, "  at two NASes at once: %s (%s) and %s (%s) from %s until %s\n",
			esc(cb_sharing_session_nas(v->a), a), esc(v->a->calling_station, b),
			esc(cb_sharing_session_nas(v->b), c), esc(v->b->calling_station, d),
			when(conf, v->from, t1, sizeof(t1)), v->until ? when(conf, v->until, t2, sizeof(t2)) : "still open");
	}
}

/** body - the message's text; NULL when out of memory. */
static char *body(cb_people_conf_t const *conf, cb_sharing_t const *r)
{
	char *text = NULL, since[64], utc[32];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f) return NULL;
	fprintf(f, "Since %s, %zu %s had more than %lu devices, or sessions at two NASes at once.\n"
		"The policy: \"Staff are not permitted to share access details to the network or Wi-Fi password "
		"with anyone else.\"\n\n", when(conf, r->since, since, sizeof(since)), r->num_people,
		r->num_people == 1 ? "person" : "people", r->threshold);
	for (size_t i = 0; i < r->num_people && i < CB_SUMMARY_PEOPLE_MAX; i++) body_person(conf, f, r, &r->people[i]);
	if (r->num_people > CB_SUMMARY_PEOPLE_MAX) {
		fprintf(f, "... and %zu more people.\n", r->num_people - CB_SUMMARY_PEOPLE_MAX);
	}
	fprintf(f, "\nThe whole report: cetbyodctl report sharing --since %s\n"
		"Clear a person's devices: cetbyodctl devices forget USER --reason TEXT\n",
		cb_tz_format_utc(r->since, utc, sizeof(utc)));
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/** names - the people named, for the audit record and the log ("2 people: bob, carol"; cut to len). */
static void names(cb_sharing_t const *r, char *out, size_t len)
{
	int n0 = snprintf(out, len, "%zu %s: ", r->num_people, r->num_people == 1 ? "person" : "people");
	size_t o = n0 > 0 && (size_t) n0 < len ? (size_t) n0 : 0;

	for (size_t i = 0; i < r->num_people && o + 1 < len; i++) {
		int n = snprintf(out + o, len - o, "%s%s", i ? ", " : "", r->people[i].identity);

		if (n < 0) break;
		o += (size_t) n;
	}
}

/** send_summary - compose and send (or show, in dry run); true when sent and to be remembered. */
static bool send_summary(cb_people_conf_t const *conf, cb_sharing_t const *r, time_t now)
{
	char subject[CB_MAIL_SUBJECT_MAX], err[1024], who[1024];
	char const *school = conf->reminders.school;
	char *text = body(conf, r), *msg = NULL;
	int rc;

	snprintf(subject, sizeof(subject), "Wi-Fi: %zu %s may be sharing their access%s%s", r->num_people,
		 r->num_people == 1 ? "person" : "people", school && *school ? " - " : "", school ? school : "");
	if (text) msg = cb_mail_build(&conf->reminders.mail, conf->sharing_summary_to, subject, text, now, err, sizeof(err));
	else snprintf(err, sizeof(err), "out of memory");
	free(text);
	names(r, who, sizeof(who));
	if (!msg) {
		slog(conf, CB_LOG_ERROR, "sharing summary: cannot compose the email to %s: %s", conf->sharing_summary_to, err);
		return false;
	}
	if (conf->reminders.dry_run) {
		slog(conf, CB_LOG_INFO, "sharing summary (dry run): would send to %s: %s", conf->sharing_summary_to, who);
		free(msg);
		return false;
	}
	rc = cb_mail_send(&conf->reminders.mail, conf->sharing_summary_to, msg, err, sizeof(err));
	free(msg);
	if (rc != CB_MAIL_SENT) {
		slog(conf, CB_LOG_ERROR, "sharing summary: cannot send to %s: %s (tried again later today)",
		     conf->sharing_summary_to, err);
		return false;
	}
	slog(conf, CB_LOG_INFO, "sharing summary: sent to %s: %s", conf->sharing_summary_to, who);
	if (conf->audit) {
		cb_audit_event_t ev = { .type = CB_AUDIT_SHARING, .reason = "summary", .result = "sent",
					.why = conf->sharing_summary_to, .detail = who };

		cb_audit_record(conf->audit, &ev);
	}
	return true;
}

void cb_summary_run(cb_people_conf_t const *conf, time_t now)
{
	char today[11], last[CB_STORE_VALUE_MAX + 1];
	cb_sharing_t r = { .threshold = 0 };
	time_t last_at = 0;
	int hour, rc;

	if (cb_tz_local_day(conf->policy ? conf->policy->tz : NULL, now, today, &hour) < 0) return;
	if (hour < (int) conf->sharing_summary_hour) return;
	rc = cb_store_status_get(conf->store, CB_STATUS_SHARING_SUMMARY_DAY, last, sizeof(last), &last_at);
	if (rc < 0) return;
	if (rc == 0 && strcmp(last, today) == 0) {
		slog(conf, CB_LOG_INFO, "sharing summary: today's (%s) already sent", today);
		return;
	}
	cb_sharing_defaults(conf->store, now, &r.threshold, &r.since);
	if (rc == 0 && last_at > r.since) r.since = last_at;
	if ((rc = cb_sharing_read(conf->store, &r)) < 0) {
		slog(conf, CB_LOG_ERROR, "sharing summary: cannot read the devices and sessions (%s); tried again later",
		     rc == -1 ? "see the store's error" : "out of memory");
	} else if (r.num_people == 0) {
		slog(conf, CB_LOG_INFO, "sharing summary: nobody over %lu devices or at two NASes at once: nothing sent",
		     r.threshold);
	} else if (send_summary(conf, &r, now) &&
		   cb_store_status_put(conf->store, CB_STATUS_SHARING_SUMMARY_DAY, today, now) < 0) {
		slog(conf, CB_LOG_ERROR, "sharing summary: cannot record today's as sent: it may be sent again");
	}
	cb_sharing_free(&r);
}
