/*
 * people.c - the module's list of people (for `cetbyodctl report` and
 * `exception list`) and the reminder emails, on a thread of their own.
 *
 * Rounds: the thread wakes every second; it lists the directory when
 * refresh_interval has passed (or at start), and brings the table up to
 * date after a listing or when the acknowledgements changed (at most every
 * TABLE_MIN_INTERVAL seconds): each person's row is computed again, and
 * only rows that differ from what was written last (a hash per person)
 * are written, with the people who left, in one transaction on the
 * thread's own store connection.  A school of 100,000 acknowledgements
 * costs one full write at start and a few rows per change after that.
 * Reminders run once a minute, computed from the same rows.
 *
 * Each row's status and reason are cb_decide()'s, with the facts of the
 * listing (CB_FACTS_PEOPLE): the directory's role, disabled flag and
 * exception, or, without a directory, staff.
 *
 * Memory: the listed people are a sorted array of person_t owned by the
 * thread, each with its strings allocated to size, replaced whole by each
 * listing; nothing is shared with other threads except the poke flag
 * under the mutex.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/worker.h"
#include "core/decide.h"
#include "core/identity.h"
#include "core/tz.h"
#include "people/people.h"
#include "people/summary.h"

#define DAY			86400
#define REMINDER_ROUND		60	/* Seconds between reminder rounds. */
#define LIST_RETRY		60	/* Seconds before a failed listing is tried again. */
#define TABLE_MIN_INTERVAL	5	/* Seconds between table updates caused by acknowledgement changes. */
#define SUMMARY_CHECK		600	/* Seconds between checks for the day's sharing summary. */
#define ROUND_MS		1000	/* The thread wakes this often, and when poked. */

/** A directory-held exception (few people have one). */
typedef struct {
	time_t		until;
	char		*reason;		/* NULL when none recorded. */
	char		*approved_by;
} held_exception_t;

/**
 * One person as the directory (or the acknowledgements) gave them; kept
 * small, as a school without a directory lists everyone who acknowledged.
 * Strings are malloc'd.
 */
typedef struct {
	char		*identity;
	char		*emails;		/* num_emails strings back to back; NULL: the identity is the email. */
	held_exception_t *exception;		/* NULL when none. */
	uint64_t	written;		/* Hash of the row last written; 0: not written. */
	uint8_t		num_emails;
	uint8_t		role;			/* cb_role_t. */
	uint8_t		role_id;		/* With CB_ROLE_STAFF: 0 employees, k roles { }'s k-th. */
	bool		known_role;		/* From the directory. */
	bool		disabled;
} person_t;

struct cb_people {
	cb_people_conf_t	conf;
	cb_worker_t		*worker;
	pthread_mutex_t		mutex;		/* Guards poked. */
	bool			poked;		/* The acknowledgements changed since the last round. */

	person_t		*people;	/* Thread only. */
	size_t			num_people;
	bool			listed;		/* A listing has succeeded. */
	bool			dirty;		/* The acknowledgements changed since the table was written. */
	bool			table_written;	/* The table was replaced once since start. */
	time_t			next_table;	/* Not before this, unless after a listing. */
	char			**removed;	/* People in the last listing but not this one. */
	size_t			num_removed;
	time_t			next_listing;
	time_t			next_reminders;
	time_t			next_summary;	/* The next check for the day's sharing summary. */
	time_t			minute_start;	/* Rate limit: the current minute ... */
	unsigned int		sent_this_minute; /* ... and what it has sent. */
};

static void plog(cb_people_t *p, cb_log_level_t level, char const *fmt, ...) __attribute__((format(printf, 3, 4)));

static void plog(cb_people_t *p, cb_log_level_t level, char const *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cb_log_vprefixed(p->conf.log, p->conf.log_ctx, level, NULL, fmt, ap);
	va_end(ap);
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
 *	People in memory
 */
static void person_clear(person_t *who)
{
	free(who->identity);
	free(who->emails);
	if (who->exception) {
		free(who->exception->reason);
		free(who->exception->approved_by);
		free(who->exception);
	}
	memset(who, 0, sizeof(*who));
}

static void people_free(person_t *list, size_t n)
{
	for (size_t i = 0; i < n; i++) person_clear(&list[i]);
	free(list);
}

static void strings_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++) free(list[i]);
	free(list);
}

/** person_set_emails - copy n addresses into who->emails (one allocation).  false: out of memory. */
static bool person_set_emails(person_t *who, char const *const *emails, size_t n)
{
	size_t len = 0, o = 0;

	if (n > CB_DIR_EMAILS_MAX) n = CB_DIR_EMAILS_MAX;
	for (size_t i = 0; i < n; i++) len += strlen(emails[i]) + 1;
	who->emails = malloc(len ? len : 1);
	if (!who->emails) return false;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(emails[i]) + 1;

		memcpy(who->emails + o, emails[i], l);
		o += l;
	}
	who->num_emails = (uint8_t) n;
	return true;
}

/** person_emails - who's addresses as pointers into who (or its identity); returns how many. */
static size_t person_emails(person_t const *who, char const *out[CB_DIR_EMAILS_MAX])
{
	char const *e = who->emails;

	if (!e) {
		out[0] = who->identity;
		return 1;
	}
	for (size_t i = 0; i < who->num_emails; i++) {
		out[i] = e;
		e += strlen(e) + 1;
	}
	return who->num_emails;
}

static int person_cmp(void const *a, void const *b)
{
	return strcmp(((person_t const *) a)->identity, ((person_t const *) b)->identity);
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

/** listing_add - a new, empty person at the end of the list with identity set; NULL (err set) when full. */
static person_t *listing_add(listing_t *l, char const *identity)
{
	person_t *who;

	if (l->count == l->alloc) {
		size_t n = l->alloc ? l->alloc * 2 : 64;
		person_t *grown;

		if (n > CB_PEOPLE_MAX) n = CB_PEOPLE_MAX;
		grown = l->count < n ? realloc(l->list, n * sizeof(*grown)) : NULL;
		if (!grown) {
			snprintf(l->err, sizeof(l->err), "more than %d people, or out of memory", CB_PEOPLE_MAX);
			return NULL;
		}
		l->list = grown;
		l->alloc = n;
	}
	who = &l->list[l->count];
	memset(who, 0, sizeof(*who));
	who->identity = strdup(identity);
	if (!who->identity) {
		snprintf(l->err, sizeof(l->err), "out of memory");
		return NULL;
	}
	l->count++;
	return who;
}

/** dup_or_null - a copy of s, or NULL for "" (and on allocation failure). */
static char *dup_or_null(char const *s)
{
	return s && *s ? strdup(s) : NULL;
}

/** one_listed - cb_ldap_list_people's callback: look the person up for their facts. */
static int one_listed(void *ctx, char const *identity)
{
	listing_t *l = ctx;
	cb_dir_entry_t entry;
	char const *emails[CB_DIR_EMAILS_MAX];
	char domain_email[CB_DIR_EMAIL_MAX];
	person_t *who;
	char err[512];
	size_t n;

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
	who = listing_add(l, identity);
	if (!who) {
		l->failed = true;
		return 1;
	}
	who->role = (uint8_t) entry.facts.role;
	who->role_id = (uint8_t) entry.facts.role_id;
	who->known_role = true;
	who->disabled = entry.facts.disabled;
	for (n = 0; n < entry.num_emails && n < CB_DIR_EMAILS_MAX; n++) emails[n] = entry.emails[n];
	if (!n && l->p->conf.email_domain &&
	    cb_identity_email(identity, l->p->conf.email_domain, domain_email, sizeof(domain_email))) {
		emails[n++] = domain_email;
	}
	if (entry.exception.present) {
		who->exception = calloc(1, sizeof(*who->exception));
		if (who->exception) {
			who->exception->until = entry.exception.until;
			who->exception->reason = dup_or_null(entry.exception.reason);
			who->exception->approved_by = dup_or_null(entry.exception.approved_by);
		}
	}
	if (!person_set_emails(who, emails, n)) {
		snprintf(l->err, sizeof(l->err), "out of memory");
		l->failed = true;
		return 1;
	}
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
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		cb_ack_record_t const *r = cb_ack_index_at(idx, i);
		person_t *who;

		if (!r || strlen(r->email) > CB_STORE_TEXT_MAX) continue;
		who = listing_add(l, r->email);	/* Identity and address are one: emails stays NULL. */
		if (!who) rc = -1;
	}
	cb_ack_index_unref(idx);
	return rc;
}

/**
 * carry_over - what was written for each person of the old list follows
 * them into the new one (both sorted by identity); the identities of the
 * old list that the new one lacks go to p->removed, to be deleted.
 */
static void carry_over(cb_people_t *p, person_t *new_list, size_t n_new)
{
	size_t i = 0, j = 0;

	strings_free(p->removed, p->num_removed);
	p->removed = NULL;
	p->num_removed = 0;
	while (i < p->num_people) {
		int c = j < n_new ? strcmp(p->people[i].identity, new_list[j].identity) : -1;

		if (c == 0) {
			new_list[j++].written = p->people[i++].written;
		} else if (c > 0) {
			j++;
		} else {
			if (!p->removed) p->removed = calloc(p->num_people, sizeof(*p->removed));
			if (p->removed && p->people[i].written) {
				p->removed[p->num_removed++] = p->people[i].identity;
				p->people[i].identity = NULL;	/* Moved. */
			}
			i++;
		}
	}
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
		people_free(l.list, l.count);
		p->next_listing = now + LIST_RETRY;
		return false;
	}
	if (l.count) qsort(l.list, l.count, sizeof(*l.list), person_cmp);
	carry_over(p, l.list, l.count);
	people_free(p->people, p->num_people);
	p->people = l.list;
	p->num_people = l.count;
	p->listed = true;
	p->next_listing = now + (p->conf.refresh_interval ? p->conf.refresh_interval : 3600);
	{
		char count[32];

		snprintf(count, sizeof(count), "%zu", l.count);
		cb_store_status_put(p->conf.store, CB_STATUS_PEOPLE_COUNT, count, now);
		cb_store_status_put_time(p->conf.store, CB_STATUS_PEOPLE_LISTED, now, now);
		cb_store_status_put(p->conf.store, CB_STATUS_PEOPLE_ERROR, "", now);
	}
	return true;
}

/*
 *	The table
 */

/** copy_text - src into dst[size] when it is text the store accepts (max bytes), else fallback. */
static void copy_text(char *dst, size_t size, char const *src, size_t max, char const *fallback)
{
	snprintf(dst, size, "%s", src ? src : "");
	if (dst[0] && (strlen(src) > max || !cb_store_text_valid(dst, max))) snprintf(dst, size, "%s", fallback);
}

/** person_facts - who as the listing gave them: staff unless the directory says otherwise. */
static void person_facts(person_t const *who, cb_facts_t *facts)
{
	char const *emails[CB_DIR_EMAILS_MAX] = { NULL };
	size_t n = person_emails(who, emails);

	memset(facts, 0, sizeof(*facts));
	facts->origin = CB_FACTS_PEOPLE;
	facts->dir.result = CB_DIR_FOUND;
	facts->dir.role = who->known_role ? (cb_role_t) who->role : CB_ROLE_STAFF;
	facts->dir.role_id = who->known_role ? who->role_id : 0;
	facts->dir.disabled = who->disabled;
	facts->exception.present = who->exception != NULL;
	facts->exception.until = who->exception ? who->exception->until : 0;
	for (size_t i = 0; i < n; i++) cb_facts_add_email(facts, emails[i]);
}

/** person_row - the table row for who, with the acknowledgements of idx and the policy at now. */
static void person_row(cb_people_t *p, person_t const *who, cb_ack_index_t const *idx, time_t now,
		       cb_store_person_t *row)
{
	cb_decide_env_t env = { .policy = p->conf.policy, .roles = p->conf.roles, .acks = idx };
	cb_decide_result_t res;
	cb_facts_t facts;
	cb_ack_record_t const *ack;

	person_facts(who, &facts);
	cb_decide(&env, who->identity, &facts, now, &res);
	ack = res.ack;
	memset(row, 0, sizeof(*row));
	snprintf(row->identity, sizeof(row->identity), "%s", who->identity);
	copy_text(row->email, sizeof(row->email), res.ack_email, CB_STORE_TEXT_MAX, "");
	/* The role's name ("staff", "governors"); "" without a directory, which knows no roles. */
	snprintf(row->role, sizeof(row->role), "%s", who->known_role ? cb_roles_name(p->conf.roles, &facts.dir) : "");
	row->disabled = who->disabled;
	if (who->exception) {
		copy_text(row->exception_reason, sizeof(row->exception_reason),
			  who->exception->reason ? who->exception->reason : "(no reason recorded)", CB_STORE_REASON_MAX,
			  "(unprintable reason)");
		copy_text(row->exception_approved_by, sizeof(row->exception_approved_by),
			  who->exception->approved_by ? who->exception->approved_by : "(not recorded)",
			  CB_STORE_BY_MAX, "(unprintable)");
		row->exception_until = who->exception->until;
	}
	if (ack) {
		row->ack_time = ack->ack_time;
		row->ack_revoked = ack->revoked;
		row->ack_expiry = cb_ack_expiry(res.policy, ack->ack_time);	/* Under the person's role's validity. */
		copy_text(row->policy_version, sizeof(row->policy_version), ack->policy_version, CB_STORE_NAME_MAX, "");
	}
	snprintf(row->status, sizeof(row->status), "%s", cb_status_name(res.decision.status));
	snprintf(row->reason, sizeof(row->reason), "%s", cb_reason_name(res.decision.reason));
}

/** row_hash - FNV-1a of what a row says (refreshed_at aside); never 0. */
static uint64_t row_hash(cb_store_person_t const *row)
{
	unsigned char const *b = (unsigned char const *) row;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < offsetof(cb_store_person_t, refreshed_at); i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

/** The writer's cursor: the next person whose row changed. */
typedef struct {
	cb_people_t		*p;
	cb_ack_index_t		*idx;
	time_t			now;
	size_t			next;
	size_t			changed;
	uint64_t		*pending;	/* The hash of each person's row being written. */
} table_cursor_t;

static bool next_changed_row(void *ctx, cb_store_person_t *row)
{
	table_cursor_t *c = ctx;

	while (c->next < c->p->num_people) {
		person_t *who = &c->p->people[c->next++];

		person_row(c->p, who, c->idx, c->now, row);
		c->pending[c->next - 1] = row_hash(row);
		if (c->pending[c->next - 1] == who->written && c->p->table_written) continue;
		row->refreshed_at = c->now;
		c->changed++;
		return true;
	}
	return false;
}

/** update_table - write the rows that changed, and remove the people who left, in one transaction. */
static void update_table(cb_people_t *p, time_t now)
{
	table_cursor_t c = { .p = p, .now = now, .pending = calloc(p->num_people + 1, sizeof(uint64_t)) };
	bool replace = !p->table_written;
	int rc;

	if (!c.pending) {
		plog(p, CB_LOG_ERROR, "people: out of memory writing the list of people; tried again later");
		return;
	}
	c.idx = cb_ack_current_get(p->conf.acks);
	rc = cb_store_people_update(p->conf.store, replace, (char const *const *) p->removed,
				    replace ? 0 : p->num_removed, next_changed_row, &c);
	if (rc < 0) {
		plog(p, CB_LOG_ERROR, "people: cannot write the list of people to the store (see the store's error); "
		     "tried again at the next change");
	} else if (rc > 0) {
		/* Another server sharing the store keeps it; should this one take over, it writes it all. */
		p->table_written = false;
		plog(p, CB_LOG_DEBUG, "people: another server keeps the list of people in the shared store");
	} else {
		for (size_t i = 0; i < p->num_people; i++) p->people[i].written = c.pending[i];
		strings_free(p->removed, p->num_removed);
		p->removed = NULL;
		p->num_removed = 0;
		p->table_written = true;
		p->dirty = false;
		plog(p, CB_LOG_DEBUG, "people: %zu row(s) of %zu written", c.changed, p->num_people);
	}
	cb_ack_index_unref(c.idx);
	free(c.pending);
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

/** reminder_row - the store's row of row's reminder for window at now (result and detail empty). */
static void reminder_row(cb_store_person_t const *row, unsigned int window, time_t now, cb_store_reminder_t *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->identity, sizeof(r->identity), "%s", row->identity);
	snprintf(r->email, sizeof(r->email), "%s", row->email);
	r->ack_expiry = row->ack_expiry;
	r->window_days = window;
	r->sent_at = now;
}

static void remember(cb_people_t *p, cb_store_person_t const *row, unsigned int window, char const *result,
		     char const *detail, time_t now)
{
	cb_store_reminder_t r;

	reminder_row(row, window, now, &r);
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
	else cb_tz_format_utc(row->ack_expiry, expires, sizeof(expires));
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

/**
 * claim - whether this server sends row's reminder for window: of the
 * servers sharing the store, the one that claims it first (the others
 * skip it, and so does this one when it was sent already).
 */
static bool claim(cb_people_t *p, cb_store_person_t const *row, unsigned int window, time_t now)
{
	cb_store_reminder_t r;
	int rc;

	reminder_row(row, window, now, &r);
	rc = cb_store_reminder_claim(p->conf.store, &r);
	if (rc > 0) plog(p, CB_LOG_DEBUG, "reminders: %s's reminder (%u-day window) is sent by another server",
			 row->email, window);
	return rc == 0;	/* -1: the store cannot say; not sent rather than twice. */
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
	if (!claim(p, row, window, now)) {
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
		cb_store_reminder_unclaim(p->conf.store, row->email, row->ack_expiry, window);
		cb_store_status_put(p->conf.store, CB_STATUS_REMINDERS_ERROR, err, now);
		return false;
	}
}

static bool wants_reminder(cb_store_person_t const *row)
{
	/* Staff as the policy means it: employees and the roles beyond them, not pupils or others. */
	return row->email[0] && row->ack_time && !row->ack_revoked && !row->disabled &&
	       strcmp(row->role, "pupil") != 0 && strcmp(row->role, "other") != 0;
}

static void run_reminders(cb_people_t *p, time_t now)
{
	cb_reminders_conf_t const *rc = &p->conf.reminders;
	cb_ack_index_t *idx = cb_ack_current_get(p->conf.acks);
	cb_store_person_t row;

	for (size_t i = 0; i < p->num_people; i++) {
		unsigned int window;

		person_row(p, &p->people[i], idx, now, &row);
		if (!wants_reminder(&row)) continue;
		window = cb_reminder_window(rc->windows, rc->num_windows, row.ack_expiry, now);
		if (!window) continue;
		if (!rc->dry_run && cb_store_reminder_sent(p->conf.store, row.email, row.ack_expiry, window) != 0) {
			continue;	/* Sent (1), or the store cannot say (-1): not twice. */
		}
		if (!rate_ok(p, now)) {
			plog(p, CB_LOG_INFO, "reminders: %u sent this minute (per_minute): the rest follow", rc->per_minute);
			break;
		}
		if (!remind_one(p, &row, window, now)) break;
	}
	cb_ack_index_unref(idx);
}

/*
 *	The thread
 */
static void one_round(cb_people_t *p, bool poked)
{
	time_t now = time(NULL);
	bool listed = false;

	/* Without a directory the list is the acknowledgements: a change re-lists. */
	if (poked) p->dirty = true;
	if (p->conf.sharing_summary_to && now >= p->next_summary) {
		cb_summary_run(&p->conf, now);		/* Independent of the listing: the store's devices and sessions. */
		p->next_summary = now + SUMMARY_CHECK;
	}
	if (now >= p->next_listing || (p->dirty && !p->conf.ldap && now >= p->next_table)) {
		listed = list_people(p, now);
	}
	if (!p->listed) return;
	if (listed || (p->dirty && now >= p->next_table)) {
		update_table(p, now);
		p->next_table = now + TABLE_MIN_INTERVAL;
	}
	if (p->conf.reminders.enabled && (listed || now >= p->next_reminders)) {
		run_reminders(p, now);
		p->next_reminders = now + REMINDER_ROUND;
	}
}

static void people_main(cb_worker_t *w, void *arg)
{
	cb_people_t *p = arg;

	while (cb_worker_wait(w, ROUND_MS)) {
		bool poked;

		pthread_mutex_lock(&p->mutex);
		poked = p->poked;
		p->poked = false;
		pthread_mutex_unlock(&p->mutex);
		one_round(p, poked);
	}
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
	p->worker = cb_worker_start("people", people_main, p, err, errlen);
	if (!p->worker) {
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
	pthread_mutex_unlock(&p->mutex);
	cb_worker_wake(p->worker);
}

void cb_people_halt(cb_people_t *p)
{
	if (p) cb_worker_halt(p->worker);
}

void cb_people_stop(cb_people_t *p)
{
	if (!p) return;
	cb_worker_stop(p->worker);
	people_free(p->people, p->num_people);
	strings_free(p->removed, p->num_removed);
	pthread_mutex_destroy(&p->mutex);
	free(p);
}
