/*
 * ctl_cmds.c - the commands of cetbyodctl: status, sessions, revoke,
 * reinstate, sync and confirm.
 *
 * Each command parses its own arguments (ctl_parse), checks every one of
 * them before it opens the store, and then makes one change, in one store
 * transaction where it changes anything: a failed command has changed
 * nothing.  Commands that only read never create the store.
 *
 * The running module learns of a change through the store: a revocation
 * queues an "enforce" command in the same transaction (cb_store_revoke);
 * sync and confirm queue their commands; the module takes them every
 * second.  Whether the module is running is judged from the heartbeat it
 * writes (CB_STATUS_MODULE_HEARTBEAT); without one, cetbyodctl says it
 * does not know rather than guess.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "enforce/exreg.h"
#include "sources/snapshot.h"

#include "ctl.h"
#include "ctl_audit.h"
#include "ctl_classkey.h"
#include "ctl_metrics.h"
#include "ctl_migrate.h"
#include "ctl_people.h"

#define STATUS_LIST_MAX		20	/* Rows of each list in `status`. */
#define STATUS_ATTENTION_MAX	10
#define STATUS_FAILED_SCAN	1000	/* Latest failed disconnects checked for a session still open. */

/*
 *	Shared helpers
 */

/** module_state - 1 running, 0 not running (heartbeat too old), -1 unknown (none recorded). */
static int module_state(ctl_t *ctl, time_t *heartbeat)
{
	char v[32];
	time_t hb = 0;

	if (cb_store_status_get(ctl->store, CB_STATUS_MODULE_HEARTBEAT, v, sizeof(v), NULL) == 0) hb = ctl_parse_time(v);
	if (heartbeat) *heartbeat = hb;
	if (!hb) return -1;
	return ctl->now - hb <= 3 * CB_HEARTBEAT_INTERVAL ? 1 : 0;
}

static json_object *jrunning(int state)
{
	return state < 0 ? NULL : json_object_new_boolean(state);
}

void ctl_when_effective(ctl_t *ctl, char const *what)
{
	time_t hb;
	char age[32];
	int state = module_state(ctl, &hb);

	if (state == 1) {
		printf("radiusd is running: the module %s within a second.\n", what);
	} else if (state == 0) {
		printf("radiusd is not running (last heartbeat %s ago): the module %s when it starts.\n",
		       ctl_age(hb, ctl->now, age, sizeof(age)), what);
	} else {
		printf("The module %s within a second while radiusd runs, or when it starts.\n", what);
	}
}

/*
 *	status
 */
typedef struct {
	cb_store_statuses_t	st;
	cb_store_counts_t	counts;
	cb_store_sessions_t	sessions;
	cb_store_disconnects_t	pending;
	cb_store_disconnects_t	held;
	cb_store_disconnects_t	failed;
	cb_store_revocations_t	revocations;
	int			running;
	time_t			heartbeat;
	time_t			snapshot;		/* When the persisted snapshot was synced or written. */
	char const		*snapshot_from;		/* "store" (status key) or "file" (its mtime). */
	char			store_error[512];	/* Why the store cannot be written now; "" when it can. */
	char			attention[STATUS_ATTENTION_MAX][1024];
	size_t			nattention;
} status_t;

/* Keys shown in their own place; others are listed as they are. */
static char const *const known_keys[] = {
	CB_STATUS_MODULE_STARTED, CB_STATUS_MODULE_HEARTBEAT, CB_STATUS_MODULE_VERSION, CB_STATUS_SOURCE,
	CB_STATUS_SYNC_ATTEMPT, CB_STATUS_SYNC_SUCCESS, CB_STATUS_SYNC_ERROR, CB_STATUS_SYNC_PEOPLE,
	CB_STATUS_SYNC_AGREED, CB_STATUS_SYNC_HELD, CB_STATUS_SYNC_HELD_KIND, CB_STATUS_SYNC_SKIPPED,
	CB_STATUS_SNAPSHOT_SYNCED,
	CB_STATUS_ENFORCER_ERROR, CB_STATUS_SYNC_RATE_LIMITED, CB_STATUS_SYNC_NEXT_TRY, CB_STATUS_SYNC_DEFERRED,
	CB_STATUS_IDENTITY_STRIP_REALMS, CB_STATUS_IDENTITY_STRIP_DOMAINS, CB_STATUS_IDENTITY_MAX_LENGTH,
	CB_STATUS_PURGE_LAST, CB_STATUS_PURGE_DAYS, CB_STATUS_AUDIT_FAILING, CB_STATUS_AUDIT_ERROR,
	CB_STATUS_AUDIT_QUEUED, CB_STATUS_AUDIT_DROPPED, CB_STATUS_AUDIT_REFUSED, CB_STATUS_AUDIT_INDEX_LAG,
	CB_STATUS_AUDIT_INDEX_LAG_MS, CB_STATUS_PEOPLE_LISTED,
	CB_STATUS_PEOPLE_COUNT, CB_STATUS_PEOPLE_ERROR, CB_STATUS_REMINDERS_MODE, CB_STATUS_REMINDERS_ERROR,
	CB_EXREG_AUDIT_GRANTED, CB_EXREG_AUDIT_ENDED
};

static bool is_known_key(char const *key)
{
	size_t i;

	for (i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++) {
		if (strcmp(known_keys[i], key) == 0) return true;
	}
	return false;
}

/** st_get - a status value from the list, or NULL when unset. */
static char const *st_get(status_t const *s, char const *key)
{
	size_t i;

	for (i = 0; i < s->st.count; i++) {
		if (strcmp(s->st.items[i].key, key) == 0) return s->st.items[i].value;
	}
	return NULL;
}

static time_t st_time(status_t const *s, char const *key)
{
	return ctl_parse_time(st_get(s, key));
}

static void attention(status_t *s, char const *fmt, ...) __attribute__((format(printf, 2, 3)));

static void attention(status_t *s, char const *fmt, ...)
{
	va_list ap;

	if (s->nattention >= STATUS_ATTENTION_MAX) return;
	va_start(ap, fmt);
	vsnprintf(s->attention[s->nattention++], sizeof(s->attention[0]), fmt, ap);
	va_end(ap);
}

/** snapshot_time - from the status key, else the snapshot file's mtime in the state directory. */
static void snapshot_time(ctl_t *ctl, status_t *s)
{
	char path[CTL_STATE_PATH_MAX];
	struct stat st;

	s->snapshot = st_time(s, CB_STATUS_SNAPSHOT_SYNCED);
	if (s->snapshot) {
		s->snapshot_from = "store";
		return;
	}
	if (!ctl->state_dir && strcmp(ctl->db, CB_STORE_DEFAULT_DIR "/" CB_STORE_FILE) != 0) return;
	snprintf(path, sizeof(path), "%s/%s", ctl->state_dir ? ctl->state_dir : CB_STORE_DEFAULT_DIR,
		 CB_SNAPSHOT_FILE);
	if (stat(path, &st) == 0) {
		s->snapshot = st.st_mtime;
		s->snapshot_from = "file";
	}
}

/** undone_revocation - d was sent for a revocation that IT has since ended (reinstate): nothing to enforce. */
static bool undone_revocation(ctl_t *ctl, cb_store_disconnect_t const *d)
{
	cb_store_revocation_t rev;

	return strncmp(d->reason, "revoked_by_admin", strlen("revoked_by_admin")) == 0 &&
	       cb_store_is_revoked(ctl->store, d->identity, &rev) == 0;
}

/**
 * unenforced - failed disconnects (retries exhausted, or a NAK other than
 * 503) whose session is still open: a revocation or expiry the network does
 * not follow (a revocation since reinstated is not).  Looks at the latest STATUS_FAILED_SCAN failures.
 */
static void unenforced(ctl_t *ctl, status_t *s)
{
	cb_store_disconnects_t failed = { 0 };
	cb_store_session_t *ses = calloc(1, sizeof(*ses));
	char list[400] = "", who[CTL_SAFE_LEN(CB_STORE_TEXT_MAX)], sid[CTL_SAFE_LEN(CB_STORE_TEXT_MAX)];
	char nas[CTL_SAFE_LEN(CB_STORE_TEXT_MAX)], why[CTL_SAFE_LEN(CB_STORE_DETAIL_MAX)];
	size_t n = 0, len = 0;

	if (!ses || cb_store_disconnects(ctl->store, CB_DISC_FAILED, STATUS_FAILED_SCAN, &failed) < 0) {
		free(ses);
		return;
	}
	for (size_t i = 0; i < failed.count; i++) {
		cb_store_disconnect_t const *d = &failed.items[i];

		if (cb_store_session_get(ctl->store, d->nas, d->acct_session_id, ses) != 0 || ses->stopped) continue;
		if (undone_revocation(ctl, d)) continue;
		if (n++ < 3 && len < sizeof(list) - 1) {
			int w = snprintf(list + len, sizeof(list) - len, "%s%s (session %s on %s: %s)", len ? ", " : "",
					 ctl_safe(d->identity, who, sizeof(who)), ctl_safe(d->acct_session_id, sid, sizeof(sid)),
					 ctl_safe(d->nas, nas, sizeof(nas)),
					 ctl_safe(d->detail[0] ? d->detail : cb_disc_result_name(d->last_result), why,
						  sizeof(why)));

			if (w > 0) len = (size_t) w < sizeof(list) - len ? len + (size_t) w : sizeof(list) - 1;
		}
	}
	if (n) {
		attention(s, "%zu disconnect%s could not be enforced and the session%s still open: %s%s; the NAS did "
			  "not carry it out (check it is on and its DAS secret), the person is refused at the next "
			  "authentication", n, n == 1 ? "" : "s", n == 1 ? " is" : "s are", list, n > 3 ? ", ..." : "");
	}
	cb_store_disconnects_free(&failed);
	free(ses);
}

/** held_rebind - whether the held sync waits for `confirm --rebind` (older modules say nothing: the guard's). */
static bool held_rebind(status_t const *s)
{
	char const *kind = st_get(s, CB_STATUS_SYNC_HELD_KIND);

	return kind && strcmp(kind, "rebind") == 0;
}

/** status_attention - what an admin must look at; decides exit code 4. */
static void status_attention(ctl_t *ctl, status_t *s)
{
	char const *v;
	char safe[CTL_SAFE_LEN(CB_STORE_VALUE_MAX)];

	if (s->store_error[0]) {
		attention(s, "the state store cannot be written: %s; radiusd goes on deciding from what it holds in "
			  "memory, but sessions, revocations and its heartbeat cannot be recorded until there is room",
			  ctl_safe(s->store_error, safe, sizeof(safe)));
	}
	unenforced(ctl, s);
	if (s->revocations.skipped) {
		attention(s, "%zu revocation row%s in the store cannot be read (first: row id %lld; was the database "
			  "edited?) and %s left out: the other revocations hold; remove or repair the row",
			  s->revocations.skipped, s->revocations.skipped == 1 ? "" : "s",
			  (long long) s->revocations.first_skipped, s->revocations.skipped == 1 ? "is" : "are");
	}

	if (s->counts.disc_held) {
		attention(s, "%zu disconnect%s held as a burst: `cetbyodctl confirm` sends them, "
			  "`cetbyodctl confirm --discard` drops them", s->counts.disc_held,
			  s->counts.disc_held == 1 ? " is" : "s are");
	}
	v = st_get(s, CB_STATUS_SYNC_HELD);
	if (v && *v && held_rebind(s)) {
		attention(s, "a sync is held because a question of the form was re-created (%s)",
			  ctl_safe(v, safe, sizeof(safe)));
	} else if (v && *v) {
		attention(s, "a sync is held by the mass-removal guard (%s): `cetbyodctl confirm --mass-removal` "
			  "applies it", ctl_safe(v, safe, sizeof(safe)));
	}
	v = st_get(s, CB_STATUS_SYNC_ERROR);
	if (v && *v) attention(s, "the last sync failed: %s", ctl_safe(v, safe, sizeof(safe)));
	v = st_get(s, CB_STATUS_ENFORCER_ERROR);
	if (v && *v) attention(s, "the enforcer reported: %s", ctl_safe(v, safe, sizeof(safe)));
	v = st_get(s, CB_STATUS_AUDIT_FAILING);
	if (s->running == 1 && v && strcmp(v, "yes") == 0) {
		attention(s, "the audit trail cannot be written (%s): %s records wait in memory",
			  ctl_safe(st_get(s, CB_STATUS_AUDIT_ERROR), safe, sizeof(safe)),
			  st_get(s, CB_STATUS_AUDIT_QUEUED) ? st_get(s, CB_STATUS_AUDIT_QUEUED) : "?");
	}
	v = st_get(s, CB_STATUS_AUDIT_DROPPED);
	if (s->running == 1 && v && strcmp(v, "0") != 0) {
		attention(s, "%s audit records were dropped since radiusd started (the queue was full while the trail "
			  "failed); the trail has an audit_gap record for them", ctl_safe(v, safe, sizeof(safe)));
	}
	v = st_get(s, CB_STATUS_PEOPLE_ERROR);
	if (v && *v) attention(s, "the module cannot list the directory for the reports: %s", ctl_safe(v, safe, sizeof(safe)));
	v = st_get(s, CB_STATUS_REMINDERS_ERROR);
	if (v && *v) attention(s, "reminder emails cannot be sent: %s", ctl_safe(v, safe, sizeof(safe)));
	if (s->running == 0 && !s->store_error[0]) {
		char age[32];

		attention(s, "radiusd is not running: the module's last heartbeat was %s ago",
			  ctl_age(s->heartbeat, ctl->now, age, sizeof(age)));
	}
}

static void status_free(status_t *s)
{
	cb_store_statuses_free(&s->st);
	cb_store_sessions_free(&s->sessions);
	cb_store_disconnects_free(&s->pending);
	cb_store_disconnects_free(&s->held);
	cb_store_disconnects_free(&s->failed);
	cb_store_revocations_free(&s->revocations);
}

/** status_collect - read everything status shows; 0, or -1 (store error, logged). */
static int status_collect(ctl_t *ctl, status_t *s)
{
	cb_store_filter_t f = { .limit = STATUS_LIST_MAX };

	if (cb_store_statuses(ctl->store, &s->st) < 0 || cb_store_counts(ctl->store, &s->counts) < 0 ||
	    cb_store_sessions_active(ctl->store, &f, &s->sessions) < 0 ||
	    cb_store_disconnects(ctl->store, CB_DISC_PENDING, STATUS_LIST_MAX, &s->pending) < 0 ||
	    cb_store_disconnects(ctl->store, CB_DISC_HELD, STATUS_LIST_MAX, &s->held) < 0 ||
	    cb_store_disconnects(ctl->store, CB_DISC_FAILED, STATUS_LIST_MAX, &s->failed) < 0 ||
	    cb_store_revocations(ctl->store, false, &s->revocations) < 0) return -1;
	s->running = module_state(ctl, &s->heartbeat);
	if (cb_store_check_writable(ctl->store, s->store_error, sizeof(s->store_error)) == 0) s->store_error[0] = '\0';
	snapshot_time(ctl, s);
	status_attention(ctl, s);
	return 0;
}

/** kv - one "  label   value" line; value made safe. */
static void kv(char const *label, char const *value)
{
	char safe[CTL_SAFE_LEN(CB_STORE_VALUE_MAX)];

	printf("  %-20s %s\n", label, value && *value ? ctl_safe(value, safe, sizeof(safe)) : "-");
}

/** kv_time - a time and how long ago. */
static void kv_time(ctl_t *ctl, char const *label, time_t t)
{
	char buf[96], when[32], age[32];

	if (!t) {
		kv(label, NULL);
		return;
	}
	snprintf(buf, sizeof(buf), "%s (%s ago)", ctl_time(t, when, sizeof(when)), ctl_age(t, ctl->now, age, sizeof(age)));
	kv(label, buf);
}

static void status_human_module(ctl_t *ctl, status_t const *s)
{
	char buf[128], age[32];

	printf("Store                  %s\n", ctl_store_name(ctl));
	if (s->running == 1) {
		snprintf(buf, sizeof(buf), "running (heartbeat %s ago)", ctl_age(s->heartbeat, ctl->now, age, sizeof(age)));
	} else if (s->running == 0 && s->store_error[0]) {
		snprintf(buf, sizeof(buf), "unknown (last heartbeat %s ago; the store cannot be written)",
			 ctl_age(s->heartbeat, ctl->now, age, sizeof(age)));
	} else if (s->running == 0) {
		snprintf(buf, sizeof(buf), "not running (last heartbeat %s ago)",
			 ctl_age(s->heartbeat, ctl->now, age, sizeof(age)));
	} else {
		snprintf(buf, sizeof(buf), "unknown (the module has recorded no heartbeat)");
	}
	printf("radiusd                %s\n", buf);
	kv_time(ctl, "module started", st_time(s, CB_STATUS_MODULE_STARTED));
	kv("module version", st_get(s, CB_STATUS_MODULE_VERSION));
}

/** status_human_quota - Google's quota refusals and the request budget's deferrals, when there are any. */
static void status_human_quota(ctl_t *ctl, status_t const *s)
{
	char const *n = st_get(s, CB_STATUS_SYNC_RATE_LIMITED);
	time_t next = st_time(s, CB_STATUS_SYNC_NEXT_TRY), until = st_time(s, CB_STATUS_SYNC_DEFERRED);
	char buf[160], when[32], next_s[64] = "";

	if (next > ctl->now) {
		snprintf(next_s, sizeof(next_s), ", next try at %s (in %lld s)", ctl_time(next, when, sizeof(when)),
			 (long long) (next - ctl->now));
	} else if (next) {
		snprintf(next_s, sizeof(next_s), ", next try at %s (due)", ctl_time(next, when, sizeof(when)));
	}
	if (n && strcmp(n, "0") != 0 && strlen(n) < 12) {
		snprintf(buf, sizeof(buf), "rate limited by Google: %s in the last hour%s", n, next_s);
		kv("quota", buf);
	}
	if (until > ctl->now) {
		snprintf(buf, sizeof(buf), "request budget used up (google.max_requests_per_minute): next request at %s "
			 "(in %lld s)", ctl_time(until, when, sizeof(when)), (long long) (until - ctl->now));
		kv("request budget", buf);
	}
}

static void status_human_sync(ctl_t *ctl, status_t const *s)
{
	char buf[2 * CB_STORE_VALUE_MAX + 32];
	char const *people = st_get(s, CB_STATUS_SYNC_PEOPLE), *agreed = st_get(s, CB_STATUS_SYNC_AGREED);

	printf("\nAcknowledgements\n");
	kv("source", st_get(s, CB_STATUS_SOURCE));
	kv_time(ctl, "last sync", st_time(s, CB_STATUS_SYNC_SUCCESS));
	kv_time(ctl, "last attempt", st_time(s, CB_STATUS_SYNC_ATTEMPT));
	kv("last error", st_get(s, CB_STATUS_SYNC_ERROR));
	if (people) {
		snprintf(buf, sizeof(buf), "%s, of whom %s agreed", people, agreed ? agreed : "?");
		kv("people", buf);
	} else {
		kv("people", NULL);
	}
	kv_time(ctl, s->snapshot_from && strcmp(s->snapshot_from, "file") == 0 ? "snapshot written" : "snapshot synced",
		s->snapshot);
	kv("held sync", st_get(s, CB_STATUS_SYNC_HELD));
	kv("skipped records", st_get(s, CB_STATUS_SYNC_SKIPPED));
	status_human_quota(ctl, s);
}

static void status_human_audit(ctl_t *ctl, status_t const *s)
{
	char buf[CB_STORE_VALUE_MAX + 64];
	char const *failing = st_get(s, CB_STATUS_AUDIT_FAILING), *days = st_get(s, CB_STATUS_PURGE_DAYS);

	printf("\nAudit trail\n");
	if (!failing) {
		kv("state", "not reported (no audit { filename }, or radiusd has not started)");
	} else {
		char const *err = st_get(s, CB_STATUS_AUDIT_ERROR);

		if (strcmp(failing, "yes") == 0) snprintf(buf, sizeof(buf), "FAILING: %s", err ? err : "?");
		else snprintf(buf, sizeof(buf), "written");
		kv("state", buf);
		snprintf(buf, sizeof(buf), "%.20s queued, %.20s dropped, %.20s admissions refused",
			 st_get(s, CB_STATUS_AUDIT_QUEUED) ? st_get(s, CB_STATUS_AUDIT_QUEUED) : "?",
			 st_get(s, CB_STATUS_AUDIT_DROPPED) ? st_get(s, CB_STATUS_AUDIT_DROPPED) : "?",
			 st_get(s, CB_STATUS_AUDIT_REFUSED) ? st_get(s, CB_STATUS_AUDIT_REFUSED) : "?");
		kv("records", buf);
		snprintf(buf, sizeof(buf), "%.20s records behind the file, for %.20s ms (copied at low priority, after a burst)",
			 st_get(s, CB_STATUS_AUDIT_INDEX_LAG) ? st_get(s, CB_STATUS_AUDIT_INDEX_LAG) : "?",
			 st_get(s, CB_STATUS_AUDIT_INDEX_LAG_MS) ? st_get(s, CB_STATUS_AUDIT_INDEX_LAG_MS) : "?");
		kv("index", buf);
	}
	if (days && strcmp(days, "0") != 0) {
		snprintf(buf, sizeof(buf), "%.20s days, purged daily", days);
		kv("retention", buf);
	} else {
		kv("retention", "no scheduled purge (audit { retention_days = 0 })");
	}
	kv_time(ctl, "last purge", st_time(s, CB_STATUS_PURGE_LAST));
}

static void status_human_people(ctl_t *ctl, status_t const *s)
{
	printf("\nPeople and reminders\n");
	kv_time(ctl, "people listed", st_time(s, CB_STATUS_PEOPLE_LISTED));
	kv("people", st_get(s, CB_STATUS_PEOPLE_COUNT));
	kv("listing error", st_get(s, CB_STATUS_PEOPLE_ERROR));
	kv("reminders", st_get(s, CB_STATUS_REMINDERS_MODE));
	kv("reminder error", st_get(s, CB_STATUS_REMINDERS_ERROR));
}

static void status_human_counts(status_t const *s)
{
	char buf[160];
	cb_store_counts_t const *c = &s->counts;

	printf("\nStore contents\n");
	snprintf(buf, sizeof(buf), "%zu (%zu %s)", c->sessions_active, c->people_active,
		 c->people_active == 1 ? "person" : "people");
	kv("active sessions", buf);
	snprintf(buf, sizeof(buf), "%zu", c->sessions);
	kv("recorded sessions", buf);
	snprintf(buf, sizeof(buf), "%zu", c->decisions);
	kv("recorded decisions", buf);
	snprintf(buf, sizeof(buf), "%zu in force", c->revocations);
	kv("revocations", buf);
	snprintf(buf, sizeof(buf), "%zu pending, %zu held, %zu failed", c->disc_pending, c->disc_held, c->disc_failed);
	kv("disconnects", buf);
	snprintf(buf, sizeof(buf), "%zu", c->commands);
	kv("queued commands", buf);
}

/** list_heading - a heading with the number shown and, when cut, the total. */
static void list_heading(char const *title, size_t shown, size_t total)
{
	if (shown < total) {
		printf("\n%s (%zu of %zu)\n", title, shown, total);
	} else {
		printf("\n%s (%zu)\n", title, total);
	}
}

static void status_human_other(status_t const *s)
{
	char val[CTL_SAFE_LEN(CB_STORE_VALUE_MAX)];
	bool heading = false;
	size_t i;

	for (i = 0; i < s->st.count; i++) {
		if (is_known_key(s->st.items[i].key)) continue;
		if (!heading) printf("\nOther status\n");
		heading = true;
		printf("  %-20s %s\n", s->st.items[i].key, ctl_safe(s->st.items[i].value, val, sizeof(val)));
	}
}

static int status_human(ctl_t *ctl, status_t const *s)
{
	size_t i;

	status_human_module(ctl, s);
	status_human_sync(ctl, s);
	status_human_audit(ctl, s);
	status_human_people(ctl, s);
	status_human_counts(s);
	if (s->counts.sessions_active) {
		list_heading("Active sessions", s->sessions.count, s->counts.sessions_active);
		ctl_sessions_table(ctl, &s->sessions, "  ");
	}
	if (s->held.count) {
		list_heading("Held disconnects", s->held.count, s->counts.disc_held);
		ctl_disconnects_table(ctl, &s->held, "  ");
	}
	if (s->pending.count) {
		list_heading("Pending disconnects", s->pending.count, s->counts.disc_pending);
		ctl_disconnects_table(ctl, &s->pending, "  ");
	}
	if (s->failed.count) {
		list_heading("Failed disconnects, latest first", s->failed.count, s->counts.disc_failed);
		ctl_disconnects_table(ctl, &s->failed, "  ");
	}
	if (s->revocations.count) {
		list_heading("Revocations in force", s->revocations.count, s->counts.revocations);
		ctl_revocations_table(ctl, &s->revocations, "  ");
	}
	status_human_other(s);
	if (s->nattention) {
		printf("\nNeeds attention\n");
		for (i = 0; i < s->nattention; i++) printf("  - %s\n", s->attention[i]);
	}
	return s->nattention ? CTL_EXIT_ATTENTION : CTL_EXIT_OK;
}

static json_object *jcount(size_t n)
{
	return json_object_new_int64((int64_t) n);
}

/** jstatus_num - a status value that should be a count: number, or null. */
static json_object *jstatus_num(status_t const *s, char const *key)
{
	char const *v = st_get(s, key);

	if (!v || !*v) return NULL;
	return json_object_new_int64((int64_t) ctl_parse_time(v));
}

static json_object *jstatus_str(status_t const *s, char const *key)
{
	char const *v = st_get(s, key);

	return v ? ctl_jstr(v) : NULL;
}

static json_object *status_json_module(status_t const *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "running", jrunning(s->running == 0 && s->store_error[0] ? -1 : s->running));
	json_object_object_add(o, "heartbeat", ctl_jtime(s->heartbeat));
	json_object_object_add(o, "started_at", ctl_jtime(st_time(s, CB_STATUS_MODULE_STARTED)));
	json_object_object_add(o, "version", jstatus_str(s, CB_STATUS_MODULE_VERSION));
	return o;
}

static json_object *status_json_sync(ctl_t *ctl, status_t const *s)
{
	json_object *o = json_object_new_object(), *snap = json_object_new_object();

	json_object_object_add(o, "source", jstatus_str(s, CB_STATUS_SOURCE));
	json_object_object_add(o, "last_success", ctl_jtime(st_time(s, CB_STATUS_SYNC_SUCCESS)));
	json_object_object_add(o, "last_attempt", ctl_jtime(st_time(s, CB_STATUS_SYNC_ATTEMPT)));
	json_object_object_add(o, "last_error", jstatus_str(s, CB_STATUS_SYNC_ERROR));
	json_object_object_add(o, "people", jstatus_num(s, CB_STATUS_SYNC_PEOPLE));
	json_object_object_add(o, "agreed", jstatus_num(s, CB_STATUS_SYNC_AGREED));
	json_object_object_add(o, "held", jstatus_str(s, CB_STATUS_SYNC_HELD));
	json_object_object_add(o, "held_kind", jstatus_str(s, CB_STATUS_SYNC_HELD_KIND));
	json_object_object_add(o, "rate_limited_last_hour", jstatus_num(s, CB_STATUS_SYNC_RATE_LIMITED));
	json_object_object_add(o, "next_try", st_time(s, CB_STATUS_SYNC_NEXT_TRY) ?
			       ctl_jtime(st_time(s, CB_STATUS_SYNC_NEXT_TRY)) : NULL);
	json_object_object_add(o, "deferred_until", st_time(s, CB_STATUS_SYNC_DEFERRED) ?
			       ctl_jtime(st_time(s, CB_STATUS_SYNC_DEFERRED)) : NULL);
	json_object_object_add(snap, "synced_at", ctl_jtime(s->snapshot));
	json_object_object_add(snap, "age", s->snapshot ? json_object_new_int64((int64_t) (ctl->now - s->snapshot)) : NULL);
	json_object_object_add(snap, "from", s->snapshot_from ? json_object_new_string(s->snapshot_from) : NULL);
	json_object_object_add(o, "snapshot", snap);
	return o;
}

static json_object *status_json_audit(status_t const *s)
{
	json_object *o = json_object_new_object();
	char const *failing = st_get(s, CB_STATUS_AUDIT_FAILING);

	json_object_object_add(o, "failing", failing ? json_object_new_boolean(strcmp(failing, "yes") == 0) : NULL);
	json_object_object_add(o, "last_error", jstatus_str(s, CB_STATUS_AUDIT_ERROR));
	json_object_object_add(o, "queued", jstatus_num(s, CB_STATUS_AUDIT_QUEUED));
	json_object_object_add(o, "dropped", jstatus_num(s, CB_STATUS_AUDIT_DROPPED));
	json_object_object_add(o, "refused", jstatus_num(s, CB_STATUS_AUDIT_REFUSED));
	json_object_object_add(o, "index_lag", jstatus_num(s, CB_STATUS_AUDIT_INDEX_LAG));
	json_object_object_add(o, "index_lag_ms", jstatus_num(s, CB_STATUS_AUDIT_INDEX_LAG_MS));
	json_object_object_add(o, "retention_days", jstatus_num(s, CB_STATUS_PURGE_DAYS));
	json_object_object_add(o, "last_purge", ctl_jtime(st_time(s, CB_STATUS_PURGE_LAST)));
	return o;
}

static json_object *status_json_people(status_t const *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "listed_at", ctl_jtime(st_time(s, CB_STATUS_PEOPLE_LISTED)));
	json_object_object_add(o, "count", jstatus_num(s, CB_STATUS_PEOPLE_COUNT));
	json_object_object_add(o, "last_error", jstatus_str(s, CB_STATUS_PEOPLE_ERROR));
	json_object_object_add(o, "reminders", jstatus_str(s, CB_STATUS_REMINDERS_MODE));
	json_object_object_add(o, "reminders_last_error", jstatus_str(s, CB_STATUS_REMINDERS_ERROR));
	return o;
}

static json_object *status_json_counts(cb_store_counts_t const *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "decisions", jcount(c->decisions));
	json_object_object_add(o, "sessions", jcount(c->sessions));
	json_object_object_add(o, "sessions_active", jcount(c->sessions_active));
	json_object_object_add(o, "people_active", jcount(c->people_active));
	json_object_object_add(o, "revocations", jcount(c->revocations));
	json_object_object_add(o, "disconnects_pending", jcount(c->disc_pending));
	json_object_object_add(o, "disconnects_held", jcount(c->disc_held));
	json_object_object_add(o, "disconnects_failed", jcount(c->disc_failed));
	json_object_object_add(o, "commands", jcount(c->commands));
	return o;
}

static json_object *jdisconnects(cb_store_disconnects_t const *l)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < l->count; i++) json_object_array_add(a, ctl_jdisconnect(&l->items[i]));
	return a;
}

static json_object *jsessions(cb_store_sessions_t const *l)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < l->count; i++) json_object_array_add(a, ctl_jsession(&l->items[i]));
	return a;
}

static int status_json(ctl_t *ctl, status_t const *s)
{
	json_object *o = json_object_new_object(), *d = json_object_new_object(), *raw = json_object_new_object();
	json_object *revs = json_object_new_array(), *att = json_object_new_array();
	size_t i;

	json_object_object_add(o, "store", ctl_jstr(ctl_store_name(ctl)));
	json_object_object_add(o, "now", ctl_jtime(ctl->now));
	json_object_object_add(o, "module", status_json_module(s));
	json_object_object_add(o, "sync", status_json_sync(ctl, s));
	json_object_object_add(o, "audit", status_json_audit(s));
	json_object_object_add(o, "people", status_json_people(s));
	json_object_object_add(o, "counts", status_json_counts(&s->counts));
	json_object_object_add(o, "sessions", jsessions(&s->sessions));
	json_object_object_add(d, "pending", jdisconnects(&s->pending));
	json_object_object_add(d, "held", jdisconnects(&s->held));
	json_object_object_add(d, "failed", jdisconnects(&s->failed));
	json_object_object_add(o, "disconnects", d);
	for (i = 0; i < s->revocations.count; i++) json_object_array_add(revs, ctl_jrevocation(&s->revocations.items[i]));
	json_object_object_add(o, "revocations", revs);
	for (i = 0; i < s->st.count; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "value", ctl_jstr(s->st.items[i].value));
		json_object_object_add(e, "updated_at", ctl_jtime(s->st.items[i].updated_at));
		json_object_object_add(raw, s->st.items[i].key, e);
	}
	json_object_object_add(o, "status", raw);
	for (i = 0; i < s->nattention; i++) json_object_array_add(att, ctl_jstr(s->attention[i]));
	json_object_object_add(o, "attention", att);
	ctl_print_json(o);
	return s->nattention ? CTL_EXIT_ATTENTION : CTL_EXIT_OK;
}

static int run_status(ctl_t *ctl, int argc, char **argv)
{
	status_t s;
	size_t n;
	int rc;

	rc = ctl_parse(ctl, ctl_cmd_find("status"), argc, argv, NULL, NULL, 0, &n);
	if (rc) return rc;
	rc = ctl_open(ctl, false);
	if (rc) return rc;
	memset(&s, 0, sizeof(s));
	if (status_collect(ctl, &s) < 0) {
		status_free(&s);
		return ctl_err(ctl, CTL_EXIT_STORE, "cannot read the store %s", ctl_store_name(ctl));
	}
	rc = ctl->json ? status_json(ctl, &s) : status_human(ctl, &s);
	status_free(&s);
	return rc;
}

/*
 *	sessions
 */
static int run_sessions(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = ctl_cmd_find("sessions");
	char const *user = NULL;
	char identity[CB_IDENTITY_MAX + 1];
	ctl_opt_t const opts[] = { { "user", &user, NULL }, { NULL, NULL, NULL } };
	cb_store_filter_t f = { 0 };
	cb_store_sessions_t list;
	size_t n;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	if (user && (rc = ctl_identity(ctl, cmd, user, identity)) != 0) return rc;
	rc = ctl_open(ctl, false);
	if (rc) return rc;
	if (user) {
		if ((rc = ctl_identity(ctl, cmd, user, identity)) != 0) return rc;
		f.identity = identity;
	}
	if (cb_store_sessions_active(ctl->store, &f, &list) < 0) {
		return ctl_err(ctl, CTL_EXIT_STORE, "cannot read the sessions from %s", ctl_store_name(ctl));
	}
	rc = (user && list.count == 0) ? CTL_EXIT_NOT_FOUND : CTL_EXIT_OK;
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "user", user ? ctl_jstr(identity) : NULL);
		json_object_object_add(o, "count", jcount(list.count));
		json_object_object_add(o, "sessions", jsessions(&list));
		ctl_print_json(o);
	} else if (list.count == 0) {
		char safe[CTL_SAFE_LEN(CB_IDENTITY_MAX)];

		if (user) {
			printf("No active sessions for %s.\n", ctl_safe(identity, safe, sizeof(safe)));
		} else {
			printf("No active sessions.\n");
		}
	} else {
		ctl_sessions_table(ctl, &list, "");
	}
	cb_store_sessions_free(&list);
	return rc;
}

/*
 *	revoke and reinstate
 */
static int run_revoke(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = ctl_cmd_find("revoke");
	char const *reason = NULL, *by_arg = NULL;
	ctl_opt_t const opts[] = { { "reason", &reason, NULL }, { "by", &by_arg, NULL }, { NULL, NULL, NULL } };
	char identity[CB_IDENTITY_MAX + 1], by[CB_STORE_BY_MAX + 1], safe[CTL_SAFE_LEN(CB_STORE_REASON_MAX)];
	char *pos[1];
	cb_store_sessions_t list;
	size_t n;
	int rc, prior;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, pos, 1, &n);
	if (rc) return rc;
	if (n == 0) return ctl_usage_err(ctl, cmd, "which user? Give the identity they sign in with");
	if (!reason) return ctl_usage_err(ctl, cmd, "a reason is required (--reason TEXT); it is recorded and logged");
	if ((rc = ctl_identity(ctl, cmd, pos[0], identity)) != 0) return rc;
	if ((rc = ctl_text(ctl, cmd, "reason", reason, CB_STORE_REASON_MAX)) != 0) return rc;
	if ((rc = ctl_by(ctl, cmd, by_arg, by, sizeof(by))) != 0) return rc;
	if ((rc = ctl_open(ctl, true)) != 0) return rc;
	if ((rc = ctl_identity(ctl, cmd, pos[0], identity)) != 0) return rc;

	prior = cb_store_revoke(ctl->store, identity, reason, by, ctl->now);
	if (prior < 0) return ctl_err(ctl, CTL_EXIT_STORE, "could not record the revocation in %s; nothing was changed", ctl_store_name(ctl));
	if (cb_store_active_for_user(ctl->store, identity, &list) < 0) list.count = 0;

	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "identity", ctl_jstr(identity));
		json_object_object_add(o, "revoked", json_object_new_boolean(1));
		json_object_object_add(o, "already_revoked", json_object_new_boolean(prior == 1));
		json_object_object_add(o, "reason", ctl_jstr(reason));
		json_object_object_add(o, "by", ctl_jstr(by));
		json_object_object_add(o, "revoked_at", ctl_jtime(ctl->now));
		json_object_object_add(o, "active_sessions", jcount(list.count));
		json_object_object_add(o, "module_running", jrunning(module_state(ctl, NULL)));
		ctl_print_json(o);
	} else {
		char sid[CTL_SAFE_LEN(CB_IDENTITY_MAX)];

		printf("%s %s: %s (by %s)\n", prior == 1 ? "Already revoked; reason updated for" : "Revoked",
		       ctl_safe(identity, sid, sizeof(sid)), ctl_safe(reason, safe, sizeof(safe)), by);
		printf("Their next authentication is refused (revoked_by_admin).\n");
		if (list.count) {
			printf("%zu active session%s:\n", list.count, list.count == 1 ? "" : "s");
			ctl_sessions_table(ctl, &list, "  ");
			ctl_when_effective(ctl, "disconnects them");
		} else {
			printf("No active sessions on record.\n");
		}
	}
	cb_store_sessions_free(&list);
	return CTL_EXIT_OK;
}

static int run_reinstate(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = ctl_cmd_find("reinstate");
	char const *by_arg = NULL;
	ctl_opt_t const opts[] = { { "by", &by_arg, NULL }, { NULL, NULL, NULL } };
	char identity[CB_IDENTITY_MAX + 1], by[CB_STORE_BY_MAX + 1], safe[CTL_SAFE_LEN(CB_IDENTITY_MAX)];
	char *pos[1];
	size_t n;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, pos, 1, &n);
	if (rc) return rc;
	if (n == 0) return ctl_usage_err(ctl, cmd, "which user? Give the identity they sign in with");
	if ((rc = ctl_identity(ctl, cmd, pos[0], identity)) != 0) return rc;
	if ((rc = ctl_by(ctl, cmd, by_arg, by, sizeof(by))) != 0) return rc;
	if ((rc = ctl_open(ctl, true)) != 0) return rc;
	if ((rc = ctl_identity(ctl, cmd, pos[0], identity)) != 0) return rc;

	rc = cb_store_reinstate(ctl->store, identity, by, ctl->now);
	if (rc < 0) return ctl_err(ctl, CTL_EXIT_STORE, "could not record the reinstatement in %s; nothing was changed", ctl_store_name(ctl));
	if (rc == 1) {
		if (ctl->json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "identity", ctl_jstr(identity));
			json_object_object_add(o, "reinstated", json_object_new_boolean(0));
			json_object_object_add(o, "error", json_object_new_string("not revoked"));
			ctl_print_json(o);
		}
		fprintf(stderr, "%s: %s is not revoked; nothing to do\n", ctl->prog, ctl_safe(identity, safe, sizeof(safe)));
		return CTL_EXIT_NOT_FOUND;
	}
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "identity", ctl_jstr(identity));
		json_object_object_add(o, "reinstated", json_object_new_boolean(1));
		json_object_object_add(o, "by", ctl_jstr(by));
		json_object_object_add(o, "reinstated_at", ctl_jtime(ctl->now));
		ctl_print_json(o);
	} else {
		printf("Reinstated %s (by %s): the policy decides their next authentication again.\n",
		       ctl_safe(identity, safe, sizeof(safe)), by);
	}
	return CTL_EXIT_OK;
}

/*
 *	sync and confirm
 */

/** queue - enqueue cmd; 0 or a store error. */
static int queue(ctl_t *ctl, cb_cmd_t c, char const *by)
{
	if (cb_store_command_enqueue(ctl->store, c, NULL, by, ctl->now) < 0) {
		return ctl_err(ctl, CTL_EXIT_STORE, "could not queue '%s' in %s; nothing was changed", cb_cmd_name(c), ctl_store_name(ctl));
	}
	return 0;
}

/** queued_json - {"queued": name, "module_running": ...} plus extra fields. */
static json_object *queued_json(ctl_t *ctl, cb_cmd_t c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "queued", json_object_new_string(cb_cmd_name(c)));
	json_object_object_add(o, "module_running", jrunning(module_state(ctl, NULL)));
	return o;
}

static int run_sync(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = ctl_cmd_find("sync");
	bool full = false;
	ctl_opt_t const opts[] = { { "full", NULL, &full }, { NULL, NULL, NULL } };
	char by[CB_STORE_BY_MAX + 1];
	cb_cmd_t c;
	size_t n;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	ctl_by(ctl, cmd, NULL, by, sizeof(by));
	if ((rc = ctl_open(ctl, true)) != 0) return rc;
	c = full ? CB_CMD_SYNC_FULL : CB_CMD_SYNC;
	if ((rc = queue(ctl, c, by)) != 0) return rc;
	if (ctl->json) return ctl_print_json(queued_json(ctl, c));
	printf("%s requested.\n", full ? "A full sync" : "A sync");
	ctl_when_effective(ctl, "starts it");
	return CTL_EXIT_OK;
}

/**
 * confirm_sync - queue accept-mass-removal (arg "rebind" with rebind) when a
 * sync of that kind is held by a running module.  A held result lives in
 * the module's memory only: when radiusd is not running the status is old
 * and nothing is held, and a queued acceptance must not wait there for some
 * later sync (the module ignores an acceptance with nothing held, or with a
 * hold of the other kind, too).
 */
static int confirm_sync(ctl_t *ctl, bool rebind, char const *by)
{
	char held[CB_STORE_VALUE_MAX + 1], kind[64] = "", safe[CTL_SAFE_LEN(CB_STORE_VALUE_MAX)];
	char const *opt = rebind ? "--rebind" : "--mass-removal";
	int rc = cb_store_status_get(ctl->store, CB_STATUS_SYNC_HELD, held, sizeof(held), NULL);

	if (rc < 0 || cb_store_status_get(ctl->store, CB_STATUS_SYNC_HELD_KIND, kind, sizeof(kind), NULL) < 0) {
		return ctl_err(ctl, CTL_EXIT_STORE, "cannot read the store %s", ctl_store_name(ctl));
	}
	if (rc == 1 || !held[0]) {
		return ctl_err(ctl, CTL_EXIT_NOT_FOUND, "no sync is held %s; nothing to do", rebind ?
			       "for a re-created question" : "by the mass-removal guard");
	}
	if (rebind != (strcmp(kind, "rebind") == 0)) {
		return ctl_err(ctl, CTL_EXIT_NOT_FOUND, "the sync is held %s, not %s: %s; nothing done", rebind ?
			       "by the mass-removal guard" : "for a re-created question", rebind ? "for a re-created "
			       "question" : "by the mass-removal guard", rebind ? "`cetbyodctl confirm --mass-removal` "
			       "applies it" : "`cetbyodctl confirm --rebind` accepts the new question");
	}
	if (module_state(ctl, NULL) != 1) {
		return ctl_err(ctl, CTL_EXIT_NOT_FOUND, "radiusd is not running, and a held sync does not outlive it: "
			       "nothing is held now; when radiusd starts, a sync that is still held can be confirmed then "
			       "(%s)", opt);
	}
	if (cb_store_command_enqueue(ctl->store, CB_CMD_ACCEPT_MASS_REMOVAL, rebind ? "rebind" : NULL, by, ctl->now) < 0) {
		return ctl_err(ctl, CTL_EXIT_STORE, "could not queue '%s' in %s; nothing was changed",
			       cb_cmd_name(CB_CMD_ACCEPT_MASS_REMOVAL), ctl_store_name(ctl));
	}
	if (ctl->json) {
		json_object *o = queued_json(ctl, CB_CMD_ACCEPT_MASS_REMOVAL);

		json_object_object_add(o, "held", ctl_jstr(held));
		json_object_object_add(o, "kind", ctl_jstr(rebind ? "rebind" : "mass-removal"));
		return ctl_print_json(o);
	}
	printf("Accepted the held sync: %s\n", ctl_safe(held, safe, sizeof(safe)));
	ctl_when_effective(ctl, "applies it");
	return CTL_EXIT_OK;
}

/** confirm_held - release (or discard) the held disconnects. */
static int confirm_held(ctl_t *ctl, bool discard, char const *by)
{
	cb_store_disconnects_t held;
	size_t count;
	int rc;

	if (cb_store_list_held(ctl->store, &held) < 0) return ctl_err(ctl, CTL_EXIT_STORE, "cannot read the store %s", ctl_store_name(ctl));
	rc = discard ? cb_store_disconnect_discard_held(ctl->store, ctl->now, &count) :
		       cb_store_disconnect_confirm_held(ctl->store, ctl->now, &count);
	if (rc < 0) {
		cb_store_disconnects_free(&held);
		return ctl_err(ctl, CTL_EXIT_STORE, "could not update the disconnect queue in %s; nothing was changed", ctl_store_name(ctl));
	}
	if (rc == 1) {
		cb_store_disconnects_free(&held);
		return ctl_err(ctl, CTL_EXIT_NOT_FOUND, "no disconnects are held; nothing to do");
	}
	/* The released entries are due now: the module sends them at its next look at the queue either way. */
	if (!discard && cb_store_command_enqueue(ctl->store, CB_CMD_CONFIRM, NULL, by, ctl->now) < 0) {
		fprintf(stderr, "%s: warning: could not notify the module; it sends them at its next look at the queue\n",
			ctl->prog);
	}
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, discard ? "discarded" : "released", jcount(count));
		json_object_object_add(o, "disconnects", jdisconnects(&held));
		json_object_object_add(o, "module_running", jrunning(module_state(ctl, NULL)));
		ctl_print_json(o);
	} else {
		printf("%s %zu held disconnect%s:\n", discard ? "Discarded" : "Released", count, count == 1 ? "" : "s");
		ctl_disconnects_table(ctl, &held, "  ");
		if (!discard) ctl_when_effective(ctl, "sends them");
	}
	cb_store_disconnects_free(&held);
	return CTL_EXIT_OK;
}

static int run_confirm(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = ctl_cmd_find("confirm");
	bool discard = false, mass = false, rebind = false;
	ctl_opt_t const opts[] = { { "discard", NULL, &discard }, { "mass-removal", NULL, &mass },
				   { "rebind", NULL, &rebind }, { NULL, NULL, NULL } };
	char by[CB_STORE_BY_MAX + 1];
	size_t n;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	if (discard + mass + rebind > 1) {
		return ctl_usage_err(ctl, cmd, "--discard, --mass-removal and --rebind do not go together");
	}
	ctl_by(ctl, cmd, NULL, by, sizeof(by));
	if ((rc = ctl_open(ctl, true)) != 0) return rc;
	return mass || rebind ? confirm_sync(ctl, rebind, by) : confirm_held(ctl, discard, by);
}

/*
 *	The table of commands
 */
ctl_cmd_t const ctl_cmds[] = {
	{ "status", "status", "show the module, sync, store and queue state",
	  "Shows whether radiusd is running (from the module's heartbeat), the last\n"
	  "sync of the acknowledgements and its error, the snapshot's age, counts,\n"
	  "active sessions, pending, held and failed disconnects, revocations in\n"
	  "force, and what needs attention.  Exits 4 when something does: a store\n"
	  "that cannot be written (its disk full), held disconnects or a held\n"
	  "sync, a failed sync, radiusd not running.\n",
	  false, run_status },
	{ "sessions", "sessions [--user USER]", "list active sessions",
	  "Lists the open sessions (from accounting), oldest first: user, device\n"
	  "(Calling-Station-Id), AP and SSID, address, NAS, Acct-Session-Id, status\n"
	  "at admission, start, last accounting, bytes in and out.\n"
	  "  --user USER  only this person's; exits 2 when they have none\n",
	  false, run_sessions },
	{ "revoke", "revoke USER --reason TEXT [--by NAME]", "revoke a person's BYOD access and disconnect them",
	  "Records the revocation in the store: the module refuses the person's\n"
	  "next authentication (revoked_by_admin) and disconnects their active\n"
	  "sessions: within a second while radiusd runs, or when it starts.\n"
	  "Revoking someone already revoked replaces the reason.\n"
	  "  --reason TEXT  why (required; 1 to 200 bytes, no control characters)\n"
	  "  --by NAME      who (default: $SUDO_USER, else $USER, else the login name)\n",
	  true, run_revoke },
	{ "reinstate", "reinstate USER [--by NAME]", "end a revocation",
	  "Ends the revocation in force (it stays in the history); the policy\n"
	  "decides the person's next authentication again.  Exits 2 when the\n"
	  "person is not revoked.\n"
	  "  --by NAME  who (default as for revoke)\n",
	  true, run_reinstate },
	{ "sync", "sync [--full]", "ask the running module to sync the acknowledgements now",
	  "Queues a sync for the module, which takes it within a second while\n"
	  "radiusd runs (or when it starts).  The result shows in `status`.\n"
	  "  --full  a complete re-read rather than the changes since the last sync\n",
	  true, run_sync },
	{ "confirm", "confirm [--discard | --mass-removal | --rebind]", "release held disconnects (or a held sync)",
	  "Without options: sends the disconnects held as a burst (the module held\n"
	  "them because they would have disconnected more people at once than\n"
	  "configured).  Exits 2 when none are held.\n"
	  "  --discard       drop the held disconnects instead of sending them\n"
	  "  --mass-removal  apply the sync held by the mass-removal guard (it\n"
	  "                  would remove many acknowledgements at once); exits 2\n"
	  "                  when no sync is held or radiusd is not running (a\n"
	  "                  held sync lives in radiusd only).  Nothing is kept\n"
	  "                  for a later sync.\n"
	  "  --rebind        accept the question that replaced a deleted one of\n"
	  "                  the form (same title, new id): the sync held for it\n"
	  "                  is applied, and answers to the deleted question are\n"
	  "                  discarded (people acknowledge again); exits 2 as\n"
	  "                  --mass-removal does.\n",
	  true, run_confirm },
	{ "metrics", ctl_metrics_usage, ctl_metrics_summary, ctl_metrics_help, false, ctl_metrics_main },
	{ "audit", ctl_audit_usage, ctl_audit_summary, ctl_audit_help, false, ctl_audit_main },
	{ "export", ctl_export_usage, ctl_export_summary, ctl_export_help, false, ctl_export_main },
	{ "purge", ctl_purge_usage, ctl_purge_summary, ctl_purge_help, true, ctl_purge_main },
	{ "exception", ctl_exception_usage, ctl_exception_summary, ctl_exception_help, true, ctl_exception_main },
	{ "report", ctl_report_usage, ctl_report_summary, ctl_report_help, false, ctl_report_main },
	{ "devices", ctl_devices_usage, ctl_devices_summary, ctl_devices_help, false, ctl_devices_main },
	{ "class-key", ctl_classkey_usage, ctl_classkey_summary, ctl_classkey_help, false, ctl_classkey_main },
	{ "migrate", ctl_migrate_usage, ctl_migrate_summary, ctl_migrate_help, false, ctl_migrate_main },
	{ "help", "help [COMMAND]", "show help for all commands or one", "", false, NULL },
	{ NULL, NULL, NULL, NULL, false, NULL }
};

ctl_cmd_t const *ctl_cmd_find(char const *name)
{
	ctl_cmd_t const *c;

	for (c = ctl_cmds; c->name; c++) {
		if (strcmp(c->name, name) == 0) return c;
	}
	return NULL;
}
