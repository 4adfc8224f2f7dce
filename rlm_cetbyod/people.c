/*
 * people.c - the module's list of people (for `cetbyodctl report` and
 * `exception list`) and the reminder emails, on a thread of their own.
 *
 * Rounds: the thread wakes every second; it lists the directory when
 * refresh_interval has passed (or at start), recomputes the table and
 * writes it (one transaction, on the thread's own store connection) only
 * after a listing or when the acknowledgements changed, and runs the
 * reminders once a minute (and after each recompute) from the rows in
 * memory.
 *
 * Memory: the listed people are an array of person_t owned by the thread,
 * replaced whole by each listing; nothing is shared with other threads
 * except the poke flag under the mutex.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cetbyod/identity.h>
#include <cetbyod/people.h>
#include <cetbyod/tz.h>

#define DAY			86400
#define REMINDER_ROUND		60	/* Seconds between reminder rounds. */
#define LIST_RETRY		60	/* Seconds before a failed listing is tried again. */

/** One person as the directory (or the acknowledgements) gave them. */
typedef struct {
	char		identity[CB_STORE_TEXT_MAX + 1];
	cb_role_t	role;
	bool		known_role;		/* From the directory. */
	bool		disabled;
	size_t		num_emails;
	char		emails[CB_DIR_EMAILS_MAX][CB_DIR_EMAIL_MAX];
	cb_dir_exception_t exception;
} person_t;

struct cb_people {
	cb_people_conf_t	conf;
	pthread_t		thread;
	pthread_mutex_t		mutex;		/* Guards stop and poked. */
	pthread_cond_t		cond;
	bool			stop;
	bool			poked;

	person_t		*people;	/* Thread only. */
	size_t			num_people;
	bool			listed;		/* A listing has succeeded. */
	cb_store_person_t	*rows;		/* The table as last written (thread only). */
	size_t			num_rows;
	time_t			next_listing;
	time_t			next_reminders;
	time_t			minute_start;	/* Rate limit: the current minute ... */
	unsigned int		sent_this_minute; /* ... and what it has sent. */
};

static void plog(cb_people_t *p, cb_log_level_t level, char const *fmt, ...) __attribute__((format(printf, 3, 4)));

static void plog(cb_people_t *p, cb_log_level_t level, char const *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!p->conf.log) return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->conf.log(p->conf.log_ctx, level, "%s", msg);
}

unsigned int cb_reminder_window(unsigned int const *windows, size_t n, time_t expiry, time_t now)
{
	unsigned int best = 0;

	if (expiry <= now) return 0;
	for (size_t i = 0; i < n; i++) {
		if (windows[i] && expiry - now <= (time_t) windows[i] * DAY && (!best || windows[i] < best)) {
			best = windows[i];
		}
	}
	return best;
}

/*
 *	Listing
 */
typedef struct {
	cb_people_t		*p;
	cb_ldap_conn_t		*conn;
	person_t		*list;
	size_t			count, alloc;
	size_t			not_found;
	bool			failed;
	char			err[1024];
} listing_t;

static person_t *listing_add(listing_t *l)
{
	if (l->count == l->alloc) {
		size_t n = l->alloc ? l->alloc * 2 : 64;
		person_t *grown;

		if (n > CB_PEOPLE_MAX) n = CB_PEOPLE_MAX;
		if (l->count >= n) return NULL;
		grown = realloc(l->list, n * sizeof(*grown));
		if (!grown) return NULL;
		l->list = grown;
		l->alloc = n;
	}
	memset(&l->list[l->count], 0, sizeof(l->list[0]));
	return &l->list[l->count++];
}

/** one_listed - cb_ldap_list_people's callback: look the person up for their facts. */
static int one_listed(void *ctx, char const *identity)
{
	listing_t *l = ctx;
	cb_dir_entry_t entry;
	person_t *who;
	char err[512];

	switch (cb_ldap_lookup(l->conn, l->p->conf.ldap, identity, &entry, err, sizeof(err))) {
	case CB_DIR_FOUND:
		break;
	case CB_DIR_NOT_FOUND:
		l->not_found++;
		return 0;
	case CB_DIR_UNAVAILABLE:
		snprintf(l->err, sizeof(l->err), "looking up %.253s: %.700s", identity, err);
		l->failed = true;
		return 1;
	}
	who = listing_add(l);
	if (!who) {
		snprintf(l->err, sizeof(l->err), "more than %d people, or out of memory", CB_PEOPLE_MAX);
		l->failed = true;
		return 1;
	}
	snprintf(who->identity, sizeof(who->identity), "%s", identity);
	who->role = entry.facts.role;
	who->known_role = true;
	who->disabled = entry.facts.disabled;
	who->num_emails = entry.num_emails;
	memcpy(who->emails, entry.emails, sizeof(who->emails));
	if (!who->num_emails && l->p->conf.email_domain &&
	    cb_identity_email(identity, l->p->conf.email_domain, who->emails[0], sizeof(who->emails[0]))) {
		who->num_emails = 1;
	}
	who->exception = entry.exception;
	return 0;
}

static int list_directory(cb_people_t *p, listing_t *l)
{
	size_t count = 0, skipped = 0;
	char err[512];

	l->conn = cb_ldap_connect(p->conf.ldap, err, sizeof(err));
	if (!l->conn) {
		snprintf(l->err, sizeof(l->err), "%s", err);
		return -1;
	}
	if (cb_ldap_list_people(l->conn, p->conf.ldap, one_listed, l, &count, &skipped, err, sizeof(err)) < 0 &&
	    !l->failed) {
		snprintf(l->err, sizeof(l->err), "%s", err);
		l->failed = true;
	}
	cb_ldap_close(l->conn);
	l->conn = NULL;
	if (l->failed) return -1;
	plog(p, CB_LOG_INFO, "people: the directory lists %zu staff and exception holders (%zu gone between "
	     "listing and lookup, %zu with an unusable identity)", l->count, l->not_found, skipped);
	return 0;
}

/** list_acknowledgements - without a directory: everyone with an acknowledgement on record. */
static int list_acknowledgements(cb_people_t *p, listing_t *l)
{
	cb_ack_index_t *idx = cb_ack_current_get(p->conf.acks);
	size_t n = cb_ack_index_count(idx);

	for (size_t i = 0; i < n; i++) {
		cb_ack_record_t const *r = cb_ack_index_at(idx, i);
		person_t *who;

		if (!r || strlen(r->email) > CB_STORE_TEXT_MAX) continue;
		who = listing_add(l);
		if (!who) break;
		snprintf(who->identity, sizeof(who->identity), "%s", r->email);
		snprintf(who->emails[0], sizeof(who->emails[0]), "%s", r->email);
		who->num_emails = 1;
	}
	cb_ack_index_unref(idx);
	return 0;
}

/** list_people - a new listing; false when it failed (the last good one is kept). */
static bool list_people(cb_people_t *p, time_t now)
{
	listing_t l = { .p = p };
	int rc;

	rc = p->conf.ldap ? list_directory(p, &l) : list_acknowledgements(p, &l);
	if (rc < 0) {
		plog(p, CB_LOG_ERROR, "people: cannot list the directory (%s); the reports keep the list of the last "
		     "listing, tried again in %d s", l.err, LIST_RETRY);
		cb_store_status_put(p->conf.store, CB_STATUS_PEOPLE_ERROR, l.err, now);
		free(l.list);
		p->next_listing = now + LIST_RETRY;
		return false;
	}
	{
		char count[32];

		snprintf(count, sizeof(count), "%zu", l.count);
		cb_store_status_put(p->conf.store, CB_STATUS_PEOPLE_COUNT, count, now);
		cb_store_status_put_time(p->conf.store, CB_STATUS_PEOPLE_LISTED, now, now);
		cb_store_status_put(p->conf.store, CB_STATUS_PEOPLE_ERROR, "", now);
	}
	free(p->people);
	p->people = l.list;
	p->num_people = l.count;
	p->listed = true;
	p->next_listing = now + (p->conf.refresh_interval ? p->conf.refresh_interval : 3600);
	return true;
}

/*
 *	The table
 */
static char const *role_name(person_t const *who)
{
	if (!who->known_role) return "";
	switch (who->role) {
	case CB_ROLE_STAFF:	return "staff";
	case CB_ROLE_PUPIL:	return "pupil";
	case CB_ROLE_OTHER:	break;
	}
	return "other";
}

/** person_row - the table row for who, with the acknowledgements of idx and the policy at now. */
static void person_row(cb_people_t *p, person_t const *who, cb_ack_index_t const *idx, time_t now,
		       cb_store_person_t *row)
{
	char const *emails[CB_DIR_EMAILS_MAX];
	cb_ack_record_t const *ack;
	cb_policy_input_t in;
	cb_decision_t d;

	memset(row, 0, sizeof(*row));
	for (size_t i = 0; i < who->num_emails; i++) emails[i] = who->emails[i];
	ack = cb_ack_index_find_latest(idx, emails, who->num_emails);
	snprintf(row->identity, sizeof(row->identity), "%s", who->identity);
	if (ack) snprintf(row->email, sizeof(row->email), "%s", ack->email);
	else if (who->num_emails) snprintf(row->email, sizeof(row->email), "%s", who->emails[0]);
	snprintf(row->role, sizeof(row->role), "%s", role_name(who));
	row->disabled = who->disabled;
	if (who->exception.present) {
		snprintf(row->exception_reason, sizeof(row->exception_reason), "%.*s", CB_STORE_REASON_MAX,
			 who->exception.reason[0] ? who->exception.reason : "(no reason recorded)");
		snprintf(row->exception_approved_by, sizeof(row->exception_approved_by), "%.*s", CB_STORE_BY_MAX,
			 who->exception.approved_by[0] ? who->exception.approved_by : "(not recorded)");
		row->exception_until = who->exception.until;
	}
	memset(&in, 0, sizeof(in));
	in.dir.result = CB_DIR_FOUND;
	in.dir.role = who->known_role ? who->role : CB_ROLE_STAFF;
	in.dir.disabled = who->disabled;
	in.exception.present = who->exception.present;
	in.exception.until = who->exception.until;
	if (ack) {
		row->ack_time = ack->ack_time;
		row->ack_revoked = ack->revoked;
		row->ack_expiry = cb_ack_expiry(p->conf.policy, ack->ack_time);
		snprintf(row->policy_version, sizeof(row->policy_version), "%.*s", CB_STORE_NAME_MAX,
			 ack->policy_version);
		in.ack.present = true;
		in.ack.revoked = ack->revoked;
		in.ack.ack_time = ack->ack_time;
		in.ack.policy_version = ack->policy_version;
	}
	cb_policy_decide(p->conf.policy, &in, now, &d);
	snprintf(row->status, sizeof(row->status), "%s", cb_status_name(d.status));
	snprintf(row->reason, sizeof(row->reason), "%s", cb_reason_name(d.reason));
	row->refreshed_at = now;
	/* Whatever the directory held that the store refuses is dropped, not the person. */
	if (!cb_store_text_valid(row->email, CB_STORE_TEXT_MAX)) row->email[0] = '\0';
	if (row->exception_reason[0] && !cb_store_text_valid(row->exception_reason, CB_STORE_REASON_MAX)) {
		snprintf(row->exception_reason, sizeof(row->exception_reason), "(unprintable reason)");
	}
	if (row->exception_approved_by[0] && !cb_store_text_valid(row->exception_approved_by, CB_STORE_BY_MAX)) {
		snprintf(row->exception_approved_by, sizeof(row->exception_approved_by), "(unprintable)");
	}
	if (row->policy_version[0] && !cb_store_text_valid(row->policy_version, CB_STORE_NAME_MAX)) {
		row->policy_version[0] = '\0';
	}
}

/** write_table - the people table from the people listed and the acknowledgements in force. */
static cb_store_person_t *write_table(cb_people_t *p, time_t now)
{
	cb_ack_index_t *idx = cb_ack_current_get(p->conf.acks);
	cb_store_person_t *rows = calloc(p->num_people ? p->num_people : 1, sizeof(*rows));

	if (!rows) {
		cb_ack_index_unref(idx);
		return NULL;
	}
	for (size_t i = 0; i < p->num_people; i++) person_row(p, &p->people[i], idx, now, &rows[i]);
	cb_ack_index_unref(idx);
	if (cb_store_people_replace(p->conf.store, rows, p->num_people) < 0) {
		plog(p, CB_LOG_ERROR, "people: cannot write the list of people to the store (see the store's error)");
	}
	return rows;
}

/*
 *	Reminders
 */

/** rate_ok - whether one more email fits this minute's allowance. */
static bool rate_ok(cb_people_t *p, time_t now)
{
	if (now - p->minute_start >= 60) {
		p->minute_start = now;
		p->sent_this_minute = 0;
	}
	return !p->conf.reminders.per_minute || p->sent_this_minute < p->conf.reminders.per_minute;
}

static void audit_reminder(cb_people_t *p, cb_store_person_t const *row, unsigned int window, char const *result,
			   char const *detail)
{
	cb_audit_event_t ev = {
		.type = CB_AUDIT_REMINDER, .identity = row->identity, .why = row->email, .until = row->ack_expiry,
		.attempt = window, .result = result, .detail = detail,
	};

	if (p->conf.audit) cb_audit_record(p->conf.audit, &ev);
}

static void remember(cb_people_t *p, cb_store_person_t const *row, unsigned int window, char const *result,
		     char const *detail, time_t now)
{
	cb_store_reminder_t r;

	memset(&r, 0, sizeof(r));
	snprintf(r.identity, sizeof(r.identity), "%s", row->identity);
	snprintf(r.email, sizeof(r.email), "%s", row->email);
	r.ack_expiry = row->ack_expiry;
	r.window_days = window;
	r.sent_at = now;
	snprintf(r.result, sizeof(r.result), "%s", result);
	snprintf(r.detail, sizeof(r.detail), "%.*s", CB_STORE_DETAIL_MAX, detail);
	if (!cb_store_text_valid(r.detail, CB_STORE_DETAIL_MAX)) r.detail[0] = '\0';
	if (cb_store_reminder_put(p->conf.store, &r) < 0) {
		plog(p, CB_LOG_ERROR, "reminders: cannot record the reminder to %s: it may be sent again", row->email);
	}
}

/** compose - the message for row in window; NULL with err set. */
static char *compose(cb_people_t *p, cb_store_person_t const *row, unsigned int window, time_t now, char *err,
		     size_t errlen)
{
	cb_reminders_conf_t const *rc = &p->conf.reminders;
	char expires[64], days[24];
	char *subject = NULL, *body = NULL, *msg;
	cb_mail_var_t vars[] = {
		{ "name", row->identity }, { "identity", row->identity }, { "email", row->email },
		{ "expires", expires }, { "days", days }, { "window", NULL }, { "form_url", rc->form_url },
		{ "school", rc->school },
	};
	char wbuf[16];

	if (p->conf.policy->tz) cb_tz_format_local(p->conf.policy->tz, row->ack_expiry, expires, sizeof(expires));
	else cb_time_format(row->ack_expiry, expires, sizeof(expires));
	snprintf(days, sizeof(days), "%lld", (long long) ((row->ack_expiry - now + DAY - 1) / DAY));
	snprintf(wbuf, sizeof(wbuf), "%u", window);
	vars[5].value = wbuf;
	if (cb_mail_render(rc->template_text, vars, sizeof(vars) / sizeof(vars[0]), &subject, &body, err, errlen) < 0) {
		return NULL;
	}
	msg = cb_mail_build(&rc->mail, row->email, subject, body, now, err, errlen);
	free(subject);
	free(body);
	return msg;
}

/** show_dry_run - the message that would be sent, one log line per line of it. */
static void show_dry_run(cb_people_t *p, cb_store_person_t const *row, unsigned int window, char const *msg)
{
	plog(p, CB_LOG_INFO, "reminders (dry run): would send to %s (%s, %u-day window):", row->email, row->identity,
	     window);
	while (*msg) {
		char const *eol = strstr(msg, "\r\n");
		size_t n = eol ? (size_t) (eol - msg) : strlen(msg);

		plog(p, CB_LOG_INFO, "reminders (dry run): | %.*s", (int) (n > 900 ? 900 : n), msg);
		msg += n + (eol ? 2 : 0);
	}
}

/** remind_one - send (or in dry run, show) row's reminder for window.  false: stop this round. */
static bool remind_one(cb_people_t *p, cb_store_person_t const *row, unsigned int window, time_t now)
{
	char err[1024];
	char *msg;
	int rc;

	msg = compose(p, row, window, now, err, sizeof(err));
	if (!msg) {
		plog(p, CB_LOG_ERROR, "reminders: cannot compose the reminder to %s: %s", row->email, err);
		return true;
	}
	if (p->conf.reminders.dry_run) {
		show_dry_run(p, row, window, msg);
		free(msg);
		return true;
	}
	p->sent_this_minute++;
	rc = cb_mail_send(&p->conf.reminders.mail, row->email, msg, err, sizeof(err));
	free(msg);
	switch (rc) {
	case CB_MAIL_SENT:
		cb_store_status_put(p->conf.store, CB_STATUS_REMINDERS_ERROR, "", now);
		plog(p, CB_LOG_INFO, "reminders: sent to %s (%s): acknowledgement lapses in at most %u days", row->email,
		     row->identity, window);
		remember(p, row, window, "sent", "", now);
		audit_reminder(p, row, window, "sent", NULL);
		return true;
	case CB_MAIL_RCPT_REFUSED:
		plog(p, CB_LOG_WARN, "reminders: the relay refused %s for good (%s): not tried again for this window",
		     row->email, err);
		remember(p, row, window, "failed", err, now);
		audit_reminder(p, row, window, "refused", err);
		return true;
	default:
		plog(p, CB_LOG_ERROR, "reminders: cannot send to %s: %s (tried again in a minute)", row->email, err);
		cb_store_status_put(p->conf.store, CB_STATUS_REMINDERS_ERROR, err, now);
		return false;
	}
}

static bool wants_reminder(cb_store_person_t const *row)
{
	return row->email[0] && row->ack_time && !row->ack_revoked && !row->disabled &&
	       (!row->role[0] || strcmp(row->role, "staff") == 0);
}

static void run_reminders(cb_people_t *p, cb_store_person_t const *rows, size_t n, time_t now)
{
	cb_reminders_conf_t const *rc = &p->conf.reminders;

	for (size_t i = 0; i < n; i++) {
		cb_store_person_t const *row = &rows[i];
		unsigned int window;

		if (!wants_reminder(row)) continue;
		window = cb_reminder_window(rc->windows, rc->num_windows, row->ack_expiry, now);
		if (!window) continue;
		if (!rc->dry_run && cb_store_reminder_sent(p->conf.store, row->email, row->ack_expiry, window) != 0) {
			continue;	/* Sent (1), or the store cannot say (-1): not twice. */
		}
		if (!rate_ok(p, now)) {
			plog(p, CB_LOG_INFO, "reminders: %u sent this minute (per_minute): the rest follow", rc->per_minute);
			return;
		}
		if (!remind_one(p, row, window, now)) return;
	}
}

/*
 *	The thread
 */
static void one_round(cb_people_t *p, bool poked)
{
	time_t now = time(NULL);
	bool listed = false;

	/* Without a directory the list is the acknowledgements: a change re-lists. */
	if (now >= p->next_listing || (poked && !p->conf.ldap)) listed = list_people(p, now);
	if (!p->listed) return;
	if (listed || poked || !p->rows) {
		/* The table changes only with the list or the acknowledgements. */
		cb_store_person_t *rows = write_table(p, now);

		if (rows) {
			free(p->rows);
			p->rows = rows;
			p->num_rows = p->num_people;
		}
	}
	if (p->conf.reminders.enabled && p->rows && (listed || poked || now >= p->next_reminders)) {
		run_reminders(p, p->rows, p->num_rows, now);
		p->next_reminders = now + REMINDER_ROUND;
	}
}

static void *people_thread(void *arg)
{
	cb_people_t *p = arg;

	pthread_mutex_lock(&p->mutex);
	while (!p->stop) {
		struct timespec deadline;
		bool poked;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 1;
		while (!p->stop && !p->poked) {
			if (pthread_cond_timedwait(&p->cond, &p->mutex, &deadline) == ETIMEDOUT) break;
		}
		if (p->stop) break;
		poked = p->poked;
		p->poked = false;
		pthread_mutex_unlock(&p->mutex);
		one_round(p, poked);
		pthread_mutex_lock(&p->mutex);
	}
	pthread_mutex_unlock(&p->mutex);
	return NULL;
}

cb_people_t *cb_people_start(cb_people_conf_t const *conf, char *err, size_t errlen)
{
	cb_people_t *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->conf = *conf;
	cb_store_status_put(p->conf.store, CB_STATUS_REMINDERS_MODE, !conf->reminders.enabled ? "off" :
			    conf->reminders.dry_run ? "dry_run" : "on", time(NULL));
	pthread_mutex_init(&p->mutex, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->thread, NULL, people_thread, p) != 0) {
		snprintf(err, errlen, "cannot start the people thread: %s", strerror(errno));
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->mutex);
		free(p);
		return NULL;
	}
	return p;
}

void cb_people_poke(cb_people_t *p)
{
	if (!p) return;
	pthread_mutex_lock(&p->mutex);
	p->poked = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->mutex);
}

void cb_people_stop(cb_people_t *p)
{
	if (!p) return;
	pthread_mutex_lock(&p->mutex);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mutex);
	pthread_join(p->thread, NULL);
	free(p->people);
	free(p->rows);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->mutex);
	free(p);
}
