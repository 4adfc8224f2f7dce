/*
 * ctl_people.c - cetbyodctl's commands about people: the exceptions
 * register and the reports a safeguarding lead or an auditor asks for.
 *
 * exception add|list|end reads and writes the register in the store; the
 * running module picks a change up within a second (it admits the person
 * to the restricted VLAN, or disconnects them when the exception ends) and
 * records it in the audit trail.  Exceptions held in the directory appear
 * in `exception list` from the module's list of people, which also feeds
 * the reports: the module rebuilds that list from the directory (staff and
 * exception holders) and the acknowledgements every reports {
 * refresh_interval } and whenever the acknowledgements change.  Reports
 * say how old the list is.
 *
 * Every argument is checked before the store is opened, as in the other
 * commands; the store's own checks are the second line.
 */
#include <stdlib.h>
#include <string.h>

#include "base/mac.h"
#include "core/policy.h"
#include "core/tz.h"

#include "ctl_people.h"

#define DAY		86400
#define WITHIN_MAX	3650	/* Days report due looks ahead at most. */

char const ctl_exception_usage[] = "exception add|list|end [OPTIONS]";
char const ctl_exception_summary[] = "the exceptions register: grant, list and end documented exceptions";
char const ctl_exception_help[] =
	"exception add --user USER --reason TEXT --approved-by NAME --until TIME\n"
	"              [--mac MAC] [--by NAME] [--tz ZONE]\n"
	"  Grants a documented exception (for example a pupil's medical monitoring\n"
	"  phone): the module admits the person to the restricted VLAN (reply {\n"
	"  restricted_vlan }) until TIME, on any device or, with --mac, on that\n"
	"  device only.  TIME is a date (the exception lasts to the end of that day\n"
	"  in the module's time zone), local \"YYYY-MM-DD HH:MM\" or RFC 3339.  Adding\n"
	"  one for a person and device that already has one replaces it.\n"
	"exception list [--user USER] [--all]\n"
	"  The register and the exceptions held in the directory, in one list.\n"
	"  --all also shows ended and lapsed ones.  Exits 2 when there are none.\n"
	"exception end --user USER [--mac MAC] [--by NAME]\n"
	"  Ends the person's exceptions in the register (only the one for MAC with\n"
	"  --mac); their restricted sessions are disconnected.  Exits 2 when none\n"
	"  is open.  Exceptions held in the directory end there.\n";

char const ctl_report_usage[] = "report due|unacknowledged|devices|reminders|sharing [OPTIONS]";
char const ctl_report_summary[] = "who must re-acknowledge, who has not, devices, reminders, sharing";
char const ctl_report_help[] =
	"report due [--within DAYS] [--role ROLE]\n"
	"  People whose acknowledgement lapses within DAYS (default 30; \"30d\" is\n"
	"  accepted), soonest first, with their role and the reminders already sent\n"
	"  to them.\n"
	"report unacknowledged [--role ROLE]\n"
	"  Staff in the directory's staff groups and in the groups of roles { }\n"
	"  (governors, volunteers, contractors; accounts not disabled) with no\n"
	"  acknowledgement that counts under their role's policy: none, withdrawn,\n"
	"  lapsed, or older than the policy.  Grouped by role, employees (staff)\n"
	"  first.  Needs the directory (ldap { }): exits 2 without it.\n"
	"  --role ROLE: only that role (\"staff\" for employees, or a roles { } name).\n"
	"report devices [--user USER] [--since TIME] [--tz ZONE]\n"
	"  Devices (Calling-Station-Id) seen per person, from accounting: sessions,\n"
	"  open now, first and last seen.  --since: only devices seen since TIME.\n"
	"report reminders [--since TIME] [--tz ZONE]\n"
	"  Reminder emails sent (or refused for good), newest first.\n"
	"report sharing [--threshold N] [--since TIME] [--tz ZONE]\n"
	"  Signs of shared credentials: people with more than N devices (default:\n"
	"  the module's policy { max_devices }, else 3) seen since TIME (default:\n"
	"  policy { device_window } days ago, else 90), with each device, where and\n"
	"  when it was seen and whether the device limit holds it back; and the\n"
	"  same identity with sessions open at two NASes at the same time.  Exits\n"
	"  2 when there is nobody to report.\n"
	"The people in `due` and `unacknowledged` are the module's list, rebuilt\n"
	"every reports { refresh_interval }; the report says when it was made.\n";

static ctl_cmd_t const exception_cmd = {
	"exception", ctl_exception_usage, ctl_exception_summary, ctl_exception_help, true, NULL
};
static ctl_cmd_t const report_cmd = {
	"report", ctl_report_usage, ctl_report_summary, ctl_report_help, false, NULL
};

/*
 *	Shared helpers
 */

/*
 * A table filled a row at a time: ctl_table_row copies each row's cells,
 * so they may live in the caller's local buffers.  Allocation failures are
 * remembered and reported once, by table_print.
 */
typedef struct {
	ctl_table_t	*t;
	bool		failed;
} table_t;

static void table_start(table_t *tb, size_t ncols, char const *const *headers)
{
	tb->t = ctl_table_new(ncols, headers);
	tb->failed = !tb->t;
}

static void table_add(table_t *tb, char const *const *cells)
{
	if (!tb->failed && ctl_table_row(tb->t, cells) < 0) tb->failed = true;
}

/** table_print - print and free the table; CTL_EXIT_OK, or a store error when memory ran out. */
static int table_print(ctl_t *ctl, table_t *tb)
{
	int rc = CTL_EXIT_OK;

	if (tb->failed) rc = ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
	else ctl_table_print(tb->t, stdout, "");
	ctl_table_free(tb->t);
	return rc;
}

/** mac_arg - --mac in any usual spelling, as the store keeps it. */
static int mac_arg(ctl_t *ctl, ctl_cmd_t const *cmd, char const *arg, char out[CB_STORE_MAC_MAX + 1])
{
	char safe[CTL_SAFE_LEN(32)];

	out[0] = '\0';
	if (!arg) return 0;
	if (cb_mac_normalise(arg, out)) return 0;
	return ctl_usage_err(ctl, cmd, "--mac: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, "
			     "aabb.ccdd.eeff or aabbccddeeff)", ctl_safe(strlen(arg) > 32 ? "(too long)" : arg, safe,
									  sizeof(safe)));
}

/**
 * subcommand - which of names argv[0] is (*which).  Returns 0, or
 * CTL_HELP_SHOWN for -h/--help, or a usage error (reported).
 */
static int subcommand(ctl_t *ctl, ctl_cmd_t const *cmd, int argc, char **argv, char const *const *names,
		      size_t n, char const *choices, size_t *which)
{
	char safe[CTL_SAFE_LEN(64)];

	if (argc == 0) return ctl_usage_err(ctl, cmd, "%s what? %s", cmd->name, choices);
	if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
		printf("Usage: cetbyodctl [OPTIONS] %s\n\n%s\n\n%s", cmd->usage, cmd->summary, cmd->help);
		return CTL_HELP_SHOWN;
	}
	for (*which = 0; *which < n; (*which)++) {
		if (strcmp(argv[0], names[*which]) == 0) return 0;
	}
	return ctl_usage_err(ctl, cmd, "unknown %s command '%s': %s", cmd->name,
			     ctl_safe(strlen(argv[0]) > 64 ? "(too long)" : argv[0], safe, sizeof(safe)), choices);
}

/*
 *	exception add
 */
static int exception_add(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = &exception_cmd;
	char const *user = NULL, *reason = NULL, *approved = NULL, *until_arg = NULL, *mac_opt = NULL, *by_arg = NULL,
		   *tz_arg = NULL;
	ctl_opt_t const opts[] = {
		{ "user", &user, NULL }, { "reason", &reason, NULL }, { "approved-by", &approved, NULL },
		{ "until", &until_arg, NULL }, { "mac", &mac_opt, NULL }, { "by", &by_arg, NULL },
		{ "tz", &tz_arg, NULL }, { NULL, NULL, NULL }
	};
	char identity[CB_IDENTITY_MAX + 1], by[CB_STORE_BY_MAX + 1], mac[CB_STORE_MAC_MAX + 1], when[32];
	char sid[CTL_SAFE_LEN(CB_IDENTITY_MAX)], sreason[CTL_SAFE_LEN(CB_STORE_REASON_MAX)];
	cb_tz_t *tz = NULL;
	time_t start, end;
	int64_t id = 0;
	size_t n;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	if (!user) return ctl_usage_err(ctl, cmd, "whose exception? --user USER is required");
	if (!reason) return ctl_usage_err(ctl, cmd, "--reason TEXT is required: the register records why");
	if (!approved) return ctl_usage_err(ctl, cmd, "--approved-by NAME is required: who approved the exception");
	if (!until_arg) return ctl_usage_err(ctl, cmd, "--until TIME is required: exceptions end");
	if ((rc = ctl_identity(ctl, cmd, user, identity)) != 0 ||
	    (rc = ctl_text(ctl, cmd, "reason", reason, CB_STORE_REASON_MAX)) != 0 ||
	    (rc = ctl_text(ctl, cmd, "approved-by", approved, CB_STORE_BY_MAX)) != 0 ||
	    (rc = mac_arg(ctl, cmd, mac_opt, mac)) != 0 || (rc = ctl_by(ctl, cmd, by_arg, by, sizeof(by))) != 0) {
		return rc;
	}
	if ((rc = ctl_open(ctl, true)) != 0) return rc;
	if ((rc = ctl_identity(ctl, cmd, user, identity)) != 0) return rc;
	if ((rc = ctl_tz(ctl, cmd, tz_arg, &tz)) != 0) return rc;
	rc = ctl_when(ctl, cmd, "until", until_arg, tz, &start, &end);
	cb_tz_free(tz);
	if (rc) return rc;
	if (strlen(until_arg) == 10) end++;	/* A date: to the end of that day. */
	else end = start;
	if (end <= ctl->now) {
		return ctl_usage_err(ctl, cmd, "--until %s is not in the future", ctl_time(end, when, sizeof(when)));
	}

	rc = cb_store_exception_add(ctl->store, identity, mac, reason, approved, by, end, ctl->now, &id);
	if (rc < 0) return ctl_err(ctl, CTL_EXIT_STORE, "could not record the exception in %s; nothing was changed", ctl->db);
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_int64(id));
		json_object_object_add(o, "identity", ctl_jstr(identity));
		json_object_object_add(o, "mac", mac[0] ? ctl_jstr(mac) : NULL);
		json_object_object_add(o, "reason", ctl_jstr(reason));
		json_object_object_add(o, "approved_by", ctl_jstr(approved));
		json_object_object_add(o, "granted_by", ctl_jstr(by));
		json_object_object_add(o, "until", ctl_jtime(end));
		json_object_object_add(o, "replaced", json_object_new_boolean(rc == 1));
		return ctl_print_json(o);
	}
	printf("%s exception #%lld for %s%s%s until %s: %s (approved by %s, granted by %s)\n",
	       rc == 1 ? "Replaced" : "Granted", (long long) id, ctl_safe(identity, sid, sizeof(sid)),
	       mac[0] ? " on device " : " on any device", mac, ctl_time(end, when, sizeof(when)),
	       ctl_safe(reason, sreason, sizeof(sreason)), approved, by);
	printf("Their next authentication is admitted to the restricted VLAN (exception_active).\n");
	ctl_when_effective(ctl, "takes it up");
	return CTL_EXIT_OK;
}

/*
 *	exception end
 */
static int exception_end(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = &exception_cmd;
	char const *user = NULL, *mac_opt = NULL, *by_arg = NULL;
	ctl_opt_t const opts[] = { { "user", &user, NULL }, { "mac", &mac_opt, NULL }, { "by", &by_arg, NULL },
				   { NULL, NULL, NULL } };
	char identity[CB_IDENTITY_MAX + 1], by[CB_STORE_BY_MAX + 1], mac[CB_STORE_MAC_MAX + 1];
	char sid[CTL_SAFE_LEN(CB_IDENTITY_MAX)];
	size_t n, ended = 0;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	if (!user) return ctl_usage_err(ctl, cmd, "whose exception? --user USER is required");
	if ((rc = ctl_identity(ctl, cmd, user, identity)) != 0 || (rc = mac_arg(ctl, cmd, mac_opt, mac)) != 0 ||
	    (rc = ctl_by(ctl, cmd, by_arg, by, sizeof(by))) != 0) {
		return rc;
	}
	if ((rc = ctl_open(ctl, true)) != 0) return rc;
	if ((rc = ctl_identity(ctl, cmd, user, identity)) != 0) return rc;

	rc = cb_store_exception_end(ctl->store, identity, mac, by, ctl->now, &ended);
	if (rc < 0) return ctl_err(ctl, CTL_EXIT_STORE, "could not end the exception in %s; nothing was changed", ctl->db);
	if (rc == 1) {
		return ctl_err(ctl, CTL_EXIT_NOT_FOUND, "%s has no open exception in the register%s%s; nothing to do "
			       "(an exception held in the directory ends there)", ctl_safe(identity, sid, sizeof(sid)),
			       mac[0] ? " for device " : "", mac);
	}
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "identity", ctl_jstr(identity));
		json_object_object_add(o, "mac", mac[0] ? ctl_jstr(mac) : NULL);
		json_object_object_add(o, "ended", json_object_new_int64((int64_t) ended));
		json_object_object_add(o, "by", ctl_jstr(by));
		json_object_object_add(o, "ended_at", ctl_jtime(ctl->now));
		return ctl_print_json(o);
	}
	printf("Ended %zu exception%s of %s%s%s (by %s).\n", ended, ended == 1 ? "" : "s",
	       ctl_safe(identity, sid, sizeof(sid)), mac[0] ? " for device " : "", mac, by);
	printf("Their restricted sessions are disconnected; the policy decides their next authentication.\n");
	ctl_when_effective(ctl, "disconnects them");
	return CTL_EXIT_OK;
}

/*
 *	exception list
 */

/** A row of the merged list: the register's or the directory's. */
typedef struct {
	char const	*source;	/* "register", "directory". */
	int64_t		id;
	char const	*identity, *mac, *reason, *approved_by, *granted_by;
	time_t		granted_at, until, ended_at;
	char const	*ended_by;
} xrow_t;

static char const *xrow_state(xrow_t const *x, time_t now)
{
	if (x->ended_at) return "ended";
	if (x->until && x->until <= now) return "lapsed";
	return "in force";
}

static json_object *xrow_json(xrow_t const *x, time_t now)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "source", json_object_new_string(x->source));
	json_object_object_add(o, "id", x->id ? json_object_new_int64(x->id) : NULL);
	json_object_object_add(o, "identity", ctl_jstr(x->identity));
	json_object_object_add(o, "mac", x->mac && x->mac[0] ? ctl_jstr(x->mac) : NULL);
	json_object_object_add(o, "reason", ctl_jstr(x->reason));
	json_object_object_add(o, "approved_by", ctl_jstr(x->approved_by));
	json_object_object_add(o, "granted_by", x->granted_by ? ctl_jstr(x->granted_by) : NULL);
	json_object_object_add(o, "granted_at", ctl_jtime(x->granted_at));
	json_object_object_add(o, "until", ctl_jtime(x->until));
	json_object_object_add(o, "state", json_object_new_string(xrow_state(x, now)));
	json_object_object_add(o, "ended_by", x->ended_at ? ctl_jstr(x->ended_by) : NULL);
	json_object_object_add(o, "ended_at", ctl_jtime(x->ended_at));
	return o;
}

static int xrows_print(ctl_t *ctl, xrow_t const *rows, size_t n)
{
	static char const *const headers[] = {
		"SOURCE", "USER", "DEVICE", "REASON", "APPROVED BY", "UNTIL", "STATE", "GRANTED"
	};
	table_t tb;

	table_start(&tb, 8, headers);
	for (size_t i = 0; i < n; i++) {
		xrow_t const *x = &rows[i];
		char source[48], until[32], granted[32];
		char const *c[8] = {
			source, x->identity, x->mac && x->mac[0] ? x->mac : "any", x->reason, x->approved_by,
			x->until ? ctl_time(x->until, until, sizeof(until)) : "open-ended", xrow_state(x, ctl->now),
			ctl_time(x->granted_at, granted, sizeof(granted)),
		};

		if (x->id) snprintf(source, sizeof(source), "%s #%lld", x->source, (long long) x->id);
		else snprintf(source, sizeof(source), "%s", x->source);
		table_add(&tb, c);
	}
	return table_print(ctl, &tb);
}

/** register_rows / directory_rows - the two halves of the list, as rows; return how many were added. */
static size_t register_rows(cb_store_exceptions_t const *reg, char const *identity, bool all, time_t now,
			    xrow_t *rows)
{
	size_t n = 0;

	for (size_t i = 0; i < reg->count; i++) {
		cb_store_exception_t const *x = &reg->items[i];

		if (identity && strcmp(identity, x->identity) != 0) continue;
		if (!all && !cb_store_exception_in_force(x, now)) continue;
		rows[n++] = (xrow_t) {
			.source = "register", .id = x->id, .identity = x->identity, .mac = x->mac, .reason = x->reason,
			.approved_by = x->approved_by, .granted_by = x->granted_by, .granted_at = x->granted_at,
			.until = x->until, .ended_at = x->ended_at, .ended_by = x->ended_by,
		};
	}
	return n;
}

static size_t directory_rows(cb_store_people_t const *people, char const *identity, bool all, time_t now,
			     xrow_t *rows)
{
	size_t n = 0;

	for (size_t i = 0; i < people->count; i++) {
		cb_store_person_t const *p = &people->items[i];

		if (!p->exception_reason[0]) continue;
		if (identity && strcmp(identity, p->identity) != 0) continue;
		if (!all && p->exception_until && p->exception_until <= now) continue;
		rows[n++] = (xrow_t) {
			.source = "directory", .identity = p->identity, .reason = p->exception_reason,
			.approved_by = p->exception_approved_by, .until = p->exception_until,
		};
	}
	return n;
}

static int exception_list(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = &exception_cmd;
	char const *user = NULL;
	bool all = false;
	ctl_opt_t const opts[] = { { "user", &user, NULL }, { "all", NULL, &all }, { NULL, NULL, NULL } };
	char identity[CB_IDENTITY_MAX + 1];
	cb_store_exceptions_t reg = { 0 };
	cb_store_people_t people = { 0 };
	xrow_t *rows;
	size_t n;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	if (user && (rc = ctl_identity(ctl, cmd, user, identity)) != 0) return rc;
	if ((rc = ctl_open(ctl, false)) != 0) return rc;
	if (user && (rc = ctl_identity(ctl, cmd, user, identity)) != 0) return rc;
	if (cb_store_exceptions(ctl->store, all, &reg) < 0 || cb_store_people(ctl->store, &people) < 0) {
		cb_store_exceptions_free(&reg);
		return ctl_err(ctl, CTL_EXIT_STORE, "could not read the register from %s", ctl->db);
	}
	rows = calloc(reg.count + people.count + 1, sizeof(*rows));
	if (!rows) {
		rc = ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
		goto done;
	}
	n = register_rows(&reg, user ? identity : NULL, all, ctl->now, rows);
	n += directory_rows(&people, user ? identity : NULL, all, ctl->now, rows + n);
	if (ctl->json) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; i < n; i++) json_object_array_add(a, xrow_json(&rows[i], ctl->now));
		rc = ctl_print_json(a);
	} else if (n) {
		rc = xrows_print(ctl, rows, n);
	} else {
		printf("No exceptions%s%s.\n", all ? "" : " in force", user ? " for that person" : "");
	}
	if (rc == CTL_EXIT_OK && n == 0) rc = CTL_EXIT_NOT_FOUND;
done:
	free(rows);
	cb_store_exceptions_free(&reg);
	cb_store_people_free(&people);
	return rc;
}

int ctl_exception_main(ctl_t *ctl, int argc, char **argv)
{
	static char const *const names[] = { "add", "list", "end" };
	static int (*const run[])(ctl_t *, int, char **) = { exception_add, exception_list, exception_end };
	size_t which;
	int rc = subcommand(ctl, &exception_cmd, argc, argv, names, 3, "add, list or end", &which);

	return rc ? rc : run[which](ctl, argc - 1, argv + 1);
}

/*
 *	Reports
 */

/** load_people - the module's list; CTL_EXIT_NOT_FOUND (reported) when it has not made one. */
static int load_people(ctl_t *ctl, cb_store_people_t *people, time_t *as_of, bool *have_roles)
{
	*as_of = 0;
	*have_roles = false;
	if (cb_store_people(ctl->store, people) < 0) {
		return ctl_err(ctl, CTL_EXIT_STORE, "could not read the list of people from %s", ctl->db);
	}
	for (size_t i = 0; i < people->count; i++) {
		if (people->items[i].refreshed_at > *as_of) *as_of = people->items[i].refreshed_at;
		if (people->items[i].role[0]) *have_roles = true;
	}
	/* Rows are written when they change; the listing itself is newer. */
	if (cb_store_status_time(ctl->store, CB_STATUS_PEOPLE_LISTED) > *as_of) {
		*as_of = cb_store_status_time(ctl->store, CB_STATUS_PEOPLE_LISTED);
	}
	if (people->count == 0) {
		cb_store_people_free(people);
		return ctl_err(ctl, CTL_EXIT_NOT_FOUND, "the module has not listed anyone yet: it does so when it "
			       "starts and every reports { refresh_interval } (is radiusd running?)");
	}
	return 0;
}

static void as_of_line(ctl_t *ctl, time_t as_of, bool have_roles)
{
	char when[32], age[32];

	printf("People as the module listed them %s ago (%s), from %s.\n", ctl_age(as_of, ctl->now, age, sizeof(age)),
	       ctl_time(as_of, when, sizeof(when)),
	       have_roles ? "the directory and the acknowledgements" : "the acknowledgements only (no directory)");
}

/** reminded - the windows (days) already reminded for this address and expiry, "30,7" or "-". */
static char const *reminded(cb_store_reminders_t const *sent, cb_store_person_t const *p, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sent->count && o + 12 < len; i++) {
		cb_store_reminder_t const *r = &sent->items[i];

		if (strcmp(r->email, p->email) != 0 || r->ack_expiry != p->ack_expiry) continue;
		o += (size_t) snprintf(buf + o, len - o, "%s%ud%s", o ? "," : "", r->window_days,
				       strcmp(r->result, "sent") == 0 ? "" : "(failed)");
	}
	return o ? buf : "-";
}

static bool is_due(cb_store_person_t const *p, time_t now, time_t within)
{
	return p->ack_time && !p->ack_revoked && p->ack_expiry > now && p->ack_expiry <= now + within &&
	       !p->disabled;
}

static int cmp_expiry(void const *a, void const *b)
{
	time_t x = (*(cb_store_person_t const *const *) a)->ack_expiry;
	time_t y = (*(cb_store_person_t const *const *) b)->ack_expiry;

	return (x > y) - (x < y);
}

static json_object *person_json(cb_store_person_t const *p, time_t now)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "identity", ctl_jstr(p->identity));
	json_object_object_add(o, "email", p->email[0] ? ctl_jstr(p->email) : NULL);
	json_object_object_add(o, "role", p->role[0] ? ctl_jstr(p->role) : NULL);
	json_object_object_add(o, "acknowledged_at", ctl_jtime(p->ack_time));
	json_object_object_add(o, "acknowledgement_withdrawn", json_object_new_boolean(p->ack_revoked));
	json_object_object_add(o, "expires", ctl_jtime(p->ack_expiry));
	if (p->ack_expiry) {
		json_object_object_add(o, "days_left", json_object_new_int64((int64_t) ((p->ack_expiry - now) / DAY)));
	}
	json_object_object_add(o, "policy_version", p->policy_version[0] ? ctl_jstr(p->policy_version) : NULL);
	json_object_object_add(o, "status", ctl_jstr(p->status));
	json_object_object_add(o, "reason", ctl_jstr(p->reason));
	return o;
}

/** within_arg - "30" or "30d", 1 to WITHIN_MAX days. */
static int within_arg(ctl_t *ctl, char const *arg, unsigned long *days)
{
	char buf[16];
	size_t len = strlen(arg);

	if (len > 0 && len < sizeof(buf) && arg[len - 1] == 'd') {
		memcpy(buf, arg, len - 1);
		buf[len - 1] = '\0';
		arg = buf;
	}
	return ctl_count(ctl, &report_cmd, "within", arg, 1, WITHIN_MAX, days);
}

/** role_arg - --role: "staff" or a role's name (checked as the store checks them). */
static int role_arg(ctl_t *ctl, char const *arg)
{
	if (!arg) return 0;
	if (!*arg || !cb_store_role_valid(arg) || strcmp(arg, "pupil") == 0 || strcmp(arg, "other") == 0) {
		return ctl_usage_err(ctl, &report_cmd, "--role \"%s\": expected \"staff\" (employees) or the name of a "
				     "roles { } entry (e.g. governors)", arg);
	}
	return 0;
}

/**
 * is_staff - staff as the school's policy means it: employees and the roles
 * beyond them (governors, volunteers, contractors), not pupils or others.
 * Without a directory (no roles known, role "") everyone listed is staff.
 */
static bool is_staff(cb_store_person_t const *p, bool have_roles)
{
	if (!have_roles) return true;
	return p->role[0] && strcmp(p->role, "pupil") != 0 && strcmp(p->role, "other") != 0;
}

/** shown_role - the ROLE column: the role's name, "staff" for employees and without a directory. */
static char const *shown_role(cb_store_person_t const *p)
{
	return p->role[0] ? p->role : "staff";
}

/** role_matches - no --role, or the person's role is it. */
static bool role_matches(cb_store_person_t const *p, char const *role)
{
	return !role || strcmp(shown_role(p), role) == 0;
}

/** cmp_role - employees (staff) first, then the roles by name, then by identity. */
static int cmp_role(void const *a, void const *b)
{
	cb_store_person_t const *x = *(cb_store_person_t const *const *) a, *y = *(cb_store_person_t const *const *) b;
	bool xs = strcmp(shown_role(x), "staff") == 0, ys = strcmp(shown_role(y), "staff") == 0;
	int c;

	if (xs != ys) return xs ? -1 : 1;
	c = strcmp(shown_role(x), shown_role(y));
	return c ? c : strcmp(x->identity, y->identity);
}

static int report_due(ctl_t *ctl, int argc, char **argv)
{
	char const *within_opt = NULL, *role = NULL;
	ctl_opt_t const opts[] = { { "within", &within_opt, NULL }, { "role", &role, NULL }, { NULL, NULL, NULL } };
	static char const *const headers[] = {
		"USER", "ROLE", "EMAIL", "ACKNOWLEDGED", "EXPIRES", "DAYS LEFT", "REMINDED"
	};
	cb_store_people_t people = { 0 };
	cb_store_reminders_t sent = { 0 };
	cb_store_person_t const **due = NULL;
	table_t tb;
	unsigned long days = 30;
	time_t as_of;
	bool roles;
	size_t n = 0;
	int rc;

	rc = ctl_parse(ctl, &report_cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	if (within_opt && (rc = within_arg(ctl, within_opt, &days)) != 0) return rc;
	if ((rc = role_arg(ctl, role)) != 0) return rc;
	if ((rc = ctl_open(ctl, false)) != 0) return rc;
	if ((rc = load_people(ctl, &people, &as_of, &roles)) != 0) return rc;
	if (cb_store_reminders(ctl->store, 0, &sent) < 0) sent.count = 0;

	due = calloc(people.count, sizeof(*due));
	if (!due) {
		rc = ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
		goto done;
	}
	n = 0;
	for (size_t i = 0; i < people.count; i++) {
		cb_store_person_t const *p = &people.items[i];

		if (!is_staff(p, roles) || !role_matches(p, role)) continue;
		if (is_due(p, ctl->now, (time_t) days * DAY)) due[n++] = p;
	}
	qsort(due, n, sizeof(*due), cmp_expiry);
	if (ctl->json) {
		json_object *o = json_object_new_object(), *a = json_object_new_array();

		for (size_t i = 0; i < n; i++) json_object_array_add(a, person_json(due[i], ctl->now));
		json_object_object_add(o, "as_of", ctl_jtime(as_of));
		json_object_object_add(o, "within_days", json_object_new_int64((int64_t) days));
		json_object_object_add(o, "people", a);
		rc = ctl_print_json(o);
		goto done;
	}
	as_of_line(ctl, as_of, roles);
	if (!n) {
		printf("Nobody's acknowledgement lapses within %lu days.\n", days);
		goto done;
	}
	printf("%zu %s must re-acknowledge within %lu days:\n", n, n == 1 ? "person" : "people", days);
	table_start(&tb, 7, headers);
	for (size_t i = 0; i < n; i++) {
		char acked[32], expires[32], left[24], windows[64];
		char const *c[7] = {
			due[i]->identity, shown_role(due[i]), due[i]->email[0] ? due[i]->email : "-",
			ctl_time(due[i]->ack_time, acked, sizeof(acked)), ctl_time(due[i]->ack_expiry, expires, sizeof(expires)),
			left, reminded(&sent, due[i], windows, sizeof(windows)),
		};

		snprintf(left, sizeof(left), "%lld", (long long) ((due[i]->ack_expiry - ctl->now) / DAY));
		table_add(&tb, c);
	}
	rc = table_print(ctl, &tb);
done:
	free(due);
	cb_store_people_free(&people);
	cb_store_reminders_free(&sent);
	return rc;
}

/** counts_as_unacknowledged - staff (of any role), account enabled, and no acknowledgement that counts now. */
static bool counts_as_unacknowledged(cb_store_person_t const *p, time_t now)
{
	if (!is_staff(p, true) || p->disabled) return false;
	if (!p->ack_time || p->ack_revoked) return true;
	if (p->ack_expiry && p->ack_expiry <= now) return true;
	return strcmp(p->reason, cb_reason_name(CB_REASON_ACKNOWLEDGEMENT_PREDATES_POLICY)) == 0;
}

static char const *unack_why(cb_store_person_t const *p, time_t now)
{
	if (!p->ack_time) return "no acknowledgement on record";
	if (p->ack_revoked) return "withdrawn";
	if (p->ack_expiry && p->ack_expiry <= now) return "lapsed";
	return "older than the policy";
}

/** role_counts - "2 staff, 1 governors": how many of list (sorted by role) each role has. */
static char const *role_counts(cb_store_person_t const *const *list, size_t n, char *buf, size_t len)
{
	size_t o = 0, run = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o + 1 < len; i++) {
		run++;
		if (i + 1 < n && strcmp(shown_role(list[i]), shown_role(list[i + 1])) == 0) continue;
		o += (size_t) snprintf(buf + o, len - o, "%s%zu %s", o ? ", " : "", run, shown_role(list[i]));
		run = 0;
	}
	return buf;
}

/** unack_print - the report's rows (sorted by role), as JSON or a table. */
static int unack_print(ctl_t *ctl, cb_store_person_t const *const *list, size_t n, time_t as_of, char const *role)
{
	static char const *const headers[] = { "USER", "ROLE", "EMAIL", "WHY", "LAST ACKNOWLEDGED" };
	char counts[256];
	table_t tb;

	if (ctl->json) {
		json_object *o = json_object_new_object(), *a = json_object_new_array();

		for (size_t i = 0; i < n; i++) {
			json_object *p = person_json(list[i], ctl->now);

			json_object_object_add(p, "why", json_object_new_string(unack_why(list[i], ctl->now)));
			json_object_array_add(a, p);
		}
		json_object_object_add(o, "as_of", ctl_jtime(as_of));
		json_object_object_add(o, "people", a);
		return ctl_print_json(o);
	}
	as_of_line(ctl, as_of, true);
	if (!n) {
		printf("Every member of staff%s%s%s has an acknowledgement that counts.\n", role ? " (role " : "",
		       role ? role : "", role ? ")" : "");
		return CTL_EXIT_OK;
	}
	printf("%zu member%s of staff without an acknowledgement that counts (%s):\n", n, n == 1 ? "" : "s",
	       role_counts(list, n, counts, sizeof(counts)));
	table_start(&tb, 5, headers);
	for (size_t i = 0; i < n; i++) {
		char acked[32];
		char const *c[5] = {
			list[i]->identity, shown_role(list[i]), list[i]->email[0] ? list[i]->email : "-",
			unack_why(list[i], ctl->now), ctl_time(list[i]->ack_time, acked, sizeof(acked)),
		};

		table_add(&tb, c);
	}
	return table_print(ctl, &tb);
}

static int report_unacknowledged(ctl_t *ctl, int argc, char **argv)
{
	char const *role = NULL;
	ctl_opt_t const opts[] = { { "role", &role, NULL }, { NULL, NULL, NULL } };
	cb_store_people_t people = { 0 };
	cb_store_person_t const **list;
	time_t as_of;
	bool roles;
	size_t n = 0;
	int rc;

	rc = ctl_parse(ctl, &report_cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	if ((rc = role_arg(ctl, role)) != 0) return rc;
	if ((rc = ctl_open(ctl, false)) != 0) return rc;
	if ((rc = load_people(ctl, &people, &as_of, &roles)) != 0) return rc;
	if (!roles) {
		cb_store_people_free(&people);
		return ctl_err(ctl, CTL_EXIT_NOT_FOUND, "this report needs the directory: the module lists staff from "
			       "ldap { staff_group } and roles { }, and it has no directory configured");
	}
	list = calloc(people.count, sizeof(*list));
	if (!list) {
		cb_store_people_free(&people);
		return ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
	}
	n = 0;
	for (size_t i = 0; i < people.count; i++) {
		cb_store_person_t const *p = &people.items[i];

		if (counts_as_unacknowledged(p, ctl->now) && role_matches(p, role)) list[n++] = p;
	}
	qsort(list, n, sizeof(*list), cmp_role);
	rc = unack_print(ctl, list, n, as_of, role);
	free(list);
	cb_store_people_free(&people);
	return rc;
}

/** since_arg - --since TIME (in --tz or the module's zone) into *since; unchanged without it. */
static int since_arg(ctl_t *ctl, char const *since_opt, char const *tz_arg, time_t *since)
{
	cb_tz_t *tz = NULL;
	time_t ignore;
	int rc;

	if (!since_opt) return 0;
	if ((rc = ctl_tz(ctl, &report_cmd, tz_arg, &tz)) != 0) return rc;
	rc = ctl_when(ctl, &report_cmd, "since", since_opt, tz, since, &ignore);
	cb_tz_free(tz);
	return rc;
}

static int report_devices(ctl_t *ctl, int argc, char **argv)
{
	char const *user = NULL, *since_opt = NULL, *tz_arg = NULL;
	ctl_opt_t const opts[] = { { "user", &user, NULL }, { "since", &since_opt, NULL }, { "tz", &tz_arg, NULL },
				   { NULL, NULL, NULL } };
	static char const *const headers[] = { "USER", "DEVICE", "SESSIONS", "OPEN", "FIRST SEEN", "LAST SEEN" };
	char identity[CB_IDENTITY_MAX + 1];
	cb_store_devices_t list = { 0 };
	time_t since = 0;
	size_t n;
	int rc;

	rc = ctl_parse(ctl, &report_cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	if (user && (rc = ctl_identity(ctl, &report_cmd, user, identity)) != 0) return rc;
	if ((rc = ctl_open(ctl, false)) != 0) return rc;
	if (user && (rc = ctl_identity(ctl, &report_cmd, user, identity)) != 0) return rc;
	if ((rc = since_arg(ctl, since_opt, tz_arg, &since)) != 0) return rc;
	if (cb_store_devices(ctl->store, user ? identity : NULL, since, &list) < 0) {
		return ctl_err(ctl, CTL_EXIT_STORE, "could not read the sessions from %s", ctl->db);
	}
	if (ctl->json) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; i < list.count; i++) {
			json_object *o = json_object_new_object();
			cb_store_device_t const *d = &list.items[i];

			json_object_object_add(o, "identity", ctl_jstr(d->identity));
			json_object_object_add(o, "device", ctl_jstr(d->device));
			json_object_object_add(o, "sessions", json_object_new_int64((int64_t) d->sessions));
			json_object_object_add(o, "open", json_object_new_int64((int64_t) d->active));
			json_object_object_add(o, "first_seen", ctl_jtime(d->first_seen));
			json_object_object_add(o, "last_seen", ctl_jtime(d->last_seen));
			json_object_array_add(a, o);
		}
		rc = ctl_print_json(a);
	} else if (list.count == 0) {
		printf("No devices seen%s.\n", user ? " for that person" : "");
	} else {
		table_t tb;

		table_start(&tb, 6, headers);
		for (size_t i = 0; i < list.count; i++) {
			cb_store_device_t const *d = &list.items[i];
			char sessions[24], open[24], first[32], last[32];
			char const *c[6] = {
				d->identity, d->device, sessions, open, ctl_time(d->first_seen, first, sizeof(first)),
				ctl_time(d->last_seen, last, sizeof(last)),
			};

			snprintf(sessions, sizeof(sessions), "%zu", d->sessions);
			snprintf(open, sizeof(open), "%zu", d->active);
			table_add(&tb, c);
		}
		rc = table_print(ctl, &tb);
	}
	if (rc == CTL_EXIT_OK && list.count == 0 && user) rc = CTL_EXIT_NOT_FOUND;
	cb_store_devices_free(&list);
	return rc;
}

static int report_reminders(ctl_t *ctl, int argc, char **argv)
{
	char const *since_opt = NULL, *tz_arg = NULL;
	ctl_opt_t const opts[] = { { "since", &since_opt, NULL }, { "tz", &tz_arg, NULL }, { NULL, NULL, NULL } };
	static char const *const headers[] = { "SENT", "USER", "EMAIL", "WINDOW", "EXPIRES", "RESULT", "DETAIL" };
	cb_store_reminders_t list = { 0 };
	time_t since = 0;
	size_t n;
	int rc;

	rc = ctl_parse(ctl, &report_cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	if ((rc = ctl_open(ctl, false)) != 0) return rc;
	if ((rc = since_arg(ctl, since_opt, tz_arg, &since)) != 0) return rc;
	if (cb_store_reminders(ctl->store, since, &list) < 0) {
		return ctl_err(ctl, CTL_EXIT_STORE, "could not read the reminders from %s", ctl->db);
	}
	if (ctl->json) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; i < list.count; i++) {
			json_object *o = json_object_new_object();
			cb_store_reminder_t const *r = &list.items[i];

			json_object_object_add(o, "sent_at", ctl_jtime(r->sent_at));
			json_object_object_add(o, "identity", ctl_jstr(r->identity));
			json_object_object_add(o, "email", ctl_jstr(r->email));
			json_object_object_add(o, "window_days", json_object_new_int64(r->window_days));
			json_object_object_add(o, "expires", ctl_jtime(r->ack_expiry));
			json_object_object_add(o, "result", ctl_jstr(r->result));
			json_object_object_add(o, "detail", r->detail[0] ? ctl_jstr(r->detail) : NULL);
			json_object_array_add(a, o);
		}
		rc = ctl_print_json(a);
	} else if (list.count == 0) {
		printf("No reminders recorded.\n");
	} else {
		table_t tb;

		table_start(&tb, 7, headers);
		for (size_t i = 0; i < list.count; i++) {
			cb_store_reminder_t const *r = &list.items[i];
			char sent[32], window[24], expires[32];
			char const *c[7] = {
				ctl_time(r->sent_at, sent, sizeof(sent)), r->identity, r->email, window,
				ctl_time(r->ack_expiry, expires, sizeof(expires)), r->result, r->detail[0] ? r->detail : "-",
			};

			snprintf(window, sizeof(window), "%u days", r->window_days);
			table_add(&tb, c);
		}
		rc = table_print(ctl, &tb);
	}
	cb_store_reminders_free(&list);
	return rc;
}

int ctl_report_main(ctl_t *ctl, int argc, char **argv)
{
	static char const *const names[] = { "due", "unacknowledged", "devices", "reminders", "sharing" };
	static int (*const run[])(ctl_t *, int, char **) = {
		report_due, report_unacknowledged, report_devices, report_reminders, NULL
	};
	size_t which;
	int rc = subcommand(ctl, &report_cmd, argc, argv, names, 5,
			    "due, unacknowledged, devices, reminders or sharing", &which);

	if (rc) return rc;
	if (!run[which]) return ctl_report_sharing(ctl, &report_cmd, argc - 1, argv + 1);
	return run[which](ctl, argc - 1, argv + 1);
}
