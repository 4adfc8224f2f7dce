/*
 * ctl_audit.c - cetbyodctl's audit commands: verify the hash chain, query
 * the trail (by person, device, address at a moment, NAS, SSID, time),
 * export everything held about one person, and purge by retention.
 *
 * The trail itself is written by the module (lib/audit/, whose chain.c
 * explains the chain); these commands only read it, except purge, which
 * deletes old rows from the store and from its audit index (never from
 * the files: logrotate owns their retention).  Everything in the database
 * is reached through the store (cb_store_audit_*).
 *
 * Every argument is checked before the store is opened: identities as the
 * module normalises them, MACs in any common notation, times as RFC 3339
 * or local "2026-11-24 10:14" in the module's zone (the status key
 * module.timezone, else --tz, else Europe/London), days as a bounded
 * decimal.  CSV output shows control characters as \xHH and neutralises
 * cells a spreadsheet would run as formulas (cb_audit_csv_cell).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "base/mac.h"
#include "core/tz.h"

#include "ctl_audit.h"

#define DAYS_MAX	36500

char const ctl_audit_usage[] = "audit verify|query [OPTIONS]";
char const ctl_audit_summary[] = "verify the audit trail's hash chain, or query it";
char const ctl_audit_help[] =
	"audit verify [--key-file KEY] [--server ID] [--file FILE | FILE...] [--server ID ...]\n"
	"  Checks the hash chain of the audit trail: every record intact, in order,\n"
	"  none removed, across rotated files.  Without FILE arguments it reads\n"
	"  --file (default: the file the module reports, else "
	CB_AUDIT_DEFAULT_FILE ")\n"
	"  and its rotated copies FILE.N ... FILE.1 (compressed ones are skipped),\n"
	"  and compares them with the store's copy, read first, so that records\n"
	"  radiusd writes meanwhile are not taken for removed ones; a last line\n"
	"  still being written is looked at again a second later.  Exits 5 and\n"
	"  names the first bad record when the chain is broken; exits 3 with a\n"
	"  warning when the store cannot be read (the end was not compared), and\n"
	"  exits 4 with a warning when the store's copy (what audit query reads)\n"
	"  lacks records the files hold, with how many.\n"
	"  FILE arguments (copies, archives) are checked on their own.  A keyed\n"
	"  trail (audit { hmac_key_file }) is authenticated with --key-file, else\n"
	"  with the module's key when this user can read it; without a key its\n"
	"  records are checked for order and links only, and verify exits 4.\n"
	"  With a PostgreSQL store shared by several servers, each server keeps its\n"
	"  own chain: --server ID names the server (its store { postgresql {\n"
	"  server_id } }) whose trail the files that follow are, and they are\n"
	"  compared with that server's rows of the store's copy (FILE arguments\n"
	"  too).  Give --server once per server, each followed by its files; each\n"
	"  result names its server, and the exit code is the worst of them (with\n"
	"  --json: an array, one object per server).\n"
	"\n"
	"audit query [--user USER] [--mac MAC] [--ip ADDRESS [--at TIME]] [--nas NAS]\n"
	"            [--ssid SSID] [--from TIME] [--to TIME] [--type TYPE]\n"
	"            [--format table|json|csv] [--tz ZONE] [--limit N]\n"
	"  Lists matching records, oldest first.  With --ip and --at: who held the\n"
	"  address at that moment, from session start and stop records (a session\n"
	"  whose stop never arrived holds it until another session takes it); a\n"
	"  TIME without seconds covers that minute, a date that day.  TIME is RFC\n"
	"  3339 (2026-11-24T10:14:00Z) or local (2026-11-24 10:14) in the module's\n"
	"  time zone (--tz overrides).  In tables and CSV, control characters\n"
	"  (ESC, CR, LF, TAB, ...) and invalid UTF-8 are shown as \\xHH; CSV cells\n"
	"  starting with = + - @ are prefixed with ' so that spreadsheets do not\n"
	"  run them.  A summary of coalesced refusals has the refusals it stands\n"
	"  for in the count, first and last columns; --from/--to find it when they\n"
	"  meet its first..last span.  radiusd copies its file into the index at\n"
	"  low priority, after a burst (audit { index_defer }); with the SQLite\n"
	"  store, query first copies what the index lacks from the module's file\n"
	"  (when it can read it), so a record just written is found; otherwise it\n"
	"  notes how far behind radiusd last reported the index.  Exits 2 when\n"
	"  nothing matches.\n";

char const ctl_export_usage[] = "export --person USER";
char const ctl_export_summary[] = "everything held about one person, as JSON (subject access)";
char const ctl_export_help[] =
	"Prints, as JSON, what the store holds for USER (normalised as the module\n"
	"does): their row in the module's list of people, every decision,\n"
	"session, revocation, disconnect, exception, reminder, device recorded and\n"
	"device forgotten, and every audit record.  The audit files may hold older\n"
	"records than the store keeps.\n";

char const ctl_purge_usage[] = "purge --older-than DAYS [--tz ZONE]";
char const ctl_purge_summary[] = "delete records older than the retention period";
char const ctl_purge_help[] =
	"Deletes closed sessions, decisions no open session needs, finished\n"
	"disconnects, ended revocations, ended or lapsed exceptions, reminders,\n"
	"devices last seen, devices forgotten and audit rows older than DAYS\n"
	"calendar days (1 to 36500) in the module's time zone.  The audit files\n"
	"are rotated and expired by logrotate, not here.  The module does this\n"
	"daily by itself with audit { retention_days } (400 by default).\n";

static ctl_cmd_t const verify_cmd = {
	"audit", "audit verify [--key-file KEY] [--server ID] [--file FILE | FILE...] [--server ID ...]", "verify the audit trail's hash chain", ctl_audit_help,
	false, NULL
};
static ctl_cmd_t const query_cmd = {
	"audit", "audit query [--user U] [--mac M] [--ip A [--at TIME]] [--nas N] [--ssid S] [--from T] [--to T] "
	"[--type TYPE] [--format table|json|csv] [--tz ZONE] [--limit N]", "query the audit trail", ctl_audit_help,
	false, NULL
};
static ctl_cmd_t const audit_cmd = {
	"audit", ctl_audit_usage, ctl_audit_summary, ctl_audit_help, false, NULL
};
static ctl_cmd_t const export_cmd = {
	"export", ctl_export_usage, ctl_export_summary, ctl_export_help, false, NULL
};
static ctl_cmd_t const purge_cmd = {
	"purge", ctl_purge_usage, ctl_purge_summary, ctl_purge_help, true, NULL
};

/*
 *	Shared helpers
 */

/** text_opt - an optional bounded text argument. */
static int text_opt(ctl_t *ctl, ctl_cmd_t const *cmd, char const *what, char const *arg)
{
	return arg ? ctl_text(ctl, cmd, what, arg, CB_STORE_TEXT_MAX) : 0;
}

/*
 *	audit verify
 */
static json_object *verify_json(cb_audit_verify_t const *v, size_t skipped)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(v->bad == CB_AUDIT_OK));
	json_object_object_add(o, "files", json_object_new_int64((int64_t) v->files));
	json_object_object_add(o, "skipped_compressed", json_object_new_int64((int64_t) skipped));
	json_object_object_add(o, "records", json_object_new_int64((int64_t) v->records));
	json_object_object_add(o, "first_seq", json_object_new_int64((int64_t) v->first_seq));
	json_object_object_add(o, "last_seq", json_object_new_int64((int64_t) v->last_seq));
	if (v->bad != CB_AUDIT_OK) {
		json_object *b = json_object_new_object();

		json_object_object_add(b, "file", ctl_jstr(v->file));
		json_object_object_add(b, "line", json_object_new_int64((int64_t) v->line));
		json_object_object_add(b, "seq", json_object_new_int64((int64_t) v->seq));
		json_object_object_add(b, "found_seq", json_object_new_int64((int64_t) v->found_seq));
		json_object_object_add(b, "message", ctl_jstr(v->message));
		json_object_object_add(o, "bad", b);
	}
	return o;
}

/**
 * read_anchor - the store's last audit record, read before the files (see
 * cb_audit_verify_trail); seq 0 when the store holds no copy.  0, or -1
 * with why set when the store cannot be opened or read.
 */
static int read_anchor(ctl_t *ctl, cb_audit_anchor_t *anchor, char *why, size_t whylen)
{
	cb_store_conf_t conf = ctl_store_conf(ctl);
	cb_store_t *store = ctl->server_id ? NULL : ctl->store;	/* --server: that server's rows only. */
	int rc;

	memset(anchor, 0, sizeof(*anchor));
	if (!store) store = cb_store_open(&conf, why, whylen);
	if (!store) return -1;
	rc = cb_store_audit_last(store, &anchor->seq, anchor->hash);
	if (rc < 0) snprintf(why, whylen, "cannot read the audit records in %.900s", ctl_store_name(ctl));
	if (rc == 1) anchor->seq = 0;
	if (store != ctl->store) cb_store_close(store);
	return rc < 0 ? -1 : 0;
}

/**
 * verify_live - verify files[0..n) against the store's copy while radiusd
 * may be writing: the store first, then the files; a last line still being
 * written is looked at again a second later, and only one that has not
 * moved by then is reported as cut short.  *store_ok: the store was read;
 * *a: its last record.
 */
static int verify_live(ctl_t *ctl, char const *const *files, size_t n, cb_audit_key_t const *key, cb_audit_verify_t *res,
		       cb_audit_anchor_t *a, bool *store_ok, char *why, size_t whylen)
{
	uint64_t line = 0;
	size_t len = 0;
	int rc;

	for (int pass = 0; pass < 2; pass++) {
		*store_ok = read_anchor(ctl, a, why, whylen) == 0;
		rc = cb_audit_verify_trail(files, n, *store_ok ? a : NULL, true, key, res);
		if (rc != 0 || !res->pending) return rc;
		if (pass == 1 && (res->pending_line != line || res->pending_len != len)) return 0;	/* It moved on. */
		line = res->pending_line;
		len = res->pending_len;
		if (pass == 0) nanosleep(&(struct timespec) { .tv_sec = 1 }, NULL);
	}
	/* The same unfinished line a second later: cut short (a crash mid-write, or an edit). */
	return cb_audit_verify_trail(files, n, *store_ok ? a : NULL, false, key, res);
}

/**
 * index_missing - how many records of the files, from the first checked to
 * the store's last (anchor), its index lacks (what 'audit query' misses):
 * a count over that range of seq.  The range starts at the index's first
 * record in it, so rows the retention purge removed are not counted.  0
 * when the store cannot say.
 */
static uint64_t index_missing(ctl_t *ctl, cb_audit_verify_t const *res, cb_audit_anchor_t const *anchor,
			      uint64_t range[2])
{
	cb_store_conf_t conf = ctl_store_conf(ctl);
	cb_store_t *store = ctl->server_id ? NULL : ctl->store;
	uint64_t to = anchor->seq < res->last_seq ? anchor->seq : res->last_seq, count = 0, first = 0, missing = 0;
	char e[1024];

	if (!anchor->seq || !res->first_seq || to < res->first_seq) return 0;
	if (!store) store = cb_store_open(&conf, e, sizeof(e));
	if (!store) return 0;
	if (cb_store_audit_count(store, res->first_seq, to, &count, &first) == 0 && first) {
		range[0] = first;
		range[1] = to;
		if (to - first + 1 > count) missing = to - first + 1 - count;
	}
	if (store != ctl->store) cb_store_close(store);
	return missing;
}

/** verify_report - what the admin reads, and the exit code. */
static int verify_report(ctl_t *ctl, cb_audit_verify_t const *res, size_t skipped, bool tail, char const *why,
			 uint64_t missing, uint64_t const range[2])
{
	char safe[CTL_SAFE_LEN(600)], srv[CTL_SAFE_LEN(CB_STORE_NAME_MAX) + 16] = "";

	if (ctl->server_id) {
		char id[CTL_SAFE_LEN(CB_STORE_NAME_MAX)];

		snprintf(srv, sizeof(srv), "%s: ", ctl_safe(ctl->server_id, id, sizeof(id)));
	}
	if (ctl->json) {
		json_object *o = verify_json(res, skipped);

		if (ctl->server_id) json_object_object_add(o, "server", ctl_jstr(ctl->server_id));
		json_object_object_add(o, "store_compared", json_object_new_boolean(res->anchored));
		json_object_object_add(o, "last_line_being_written", json_object_new_boolean(res->pending));
		if (tail && why) json_object_object_add(o, "store_error", ctl_jstr(why));
		if (tail && !why) json_object_object_add(o, "store_missing", json_object_new_int64((int64_t) missing));
		ctl_print_json(o);
	} else if (res->bad == CB_AUDIT_OK) {
		printf("%s%sChain intact: %llu record%s, seq %llu to %llu, in %zu file%s.\n",
		       ctl->server_id ? "Server " : "", ctl->server_id ? srv : "", (unsigned long long) res->records, res->records == 1 ? "" : "s", (unsigned long long) res->first_seq,
		       (unsigned long long) res->last_seq, res->files, res->files == 1 ? "" : "s");
		if (res->first_seq > 1) printf("Records before seq %llu are in files no longer present.\n",
					       (unsigned long long) res->first_seq);
		if (skipped) printf("%zu compressed rotated file%s not checked.\n", skipped, skipped == 1 ? "" : "s");
		if (res->pending) printf("Line %llu, the last, was being written: not checked.\n",
					 (unsigned long long) res->pending_line);
	}
	if (res->bad != CB_AUDIT_OK) {
		fprintf(stderr, "%s: %saudit chain BROKEN", ctl->prog, srv);
		if (res->line) fprintf(stderr, " at %s line %llu", ctl_safe(res->file, safe, sizeof(safe)),
				       (unsigned long long) res->line);
		fprintf(stderr, " (seq %llu): %s\n", (unsigned long long) res->seq, res->message);
		return CTL_EXIT_AUDIT_BROKEN;
	}
	if (tail && why) {
		fprintf(stderr, "%s: %sWARNING: %s: the end of the trail was NOT compared with the store's copy, so "
			"records removed from the end would go unnoticed\n", ctl->prog, srv, ctl_safe(why, safe, sizeof(safe)));
		return CTL_EXIT_STORE;
	}
	if (missing) {
		fprintf(stderr, "%s: %sWARNING: the store's copy of the trail (what 'audit query' reads) lacks %llu of the "
			"records seq %llu to %llu that the files hold: queries miss them\n", ctl->prog, srv,
			(unsigned long long) missing, (unsigned long long) range[0], (unsigned long long) range[1]);
		return CTL_EXIT_ATTENTION;
	}
	if (res->unchecked) {
		fprintf(stderr, "%s: WARNING: %llu keyed record%s (hmac-sha256) checked for order and links only: give "
			"--key-file to authenticate them\n", ctl->prog, (unsigned long long) res->unchecked,
			res->unchecked == 1 ? "" : "s");
		return CTL_EXIT_ATTENTION;
	}
	return CTL_EXIT_OK;
}

/**
 * verify_key - the key for verify: --key-file, else the module's audit {
 * hmac_key_file } (from --raddb, else as it reported it) when this user can
 * read it.  0 (*have set when there is
 * one), or CTL_EXIT_USAGE (reported) when --key-file cannot be used.
 */
static int verify_key(ctl_t *ctl, char const *key_file, cb_audit_key_t *key, bool *have)
{
	char v[CB_STORE_VALUE_MAX + 1], err[CB_STORE_VALUE_MAX + 256], safe[CTL_SAFE_LEN(600)];

	*have = false;
	if (!key_file && ctl->conf.audit_key_file) {		/* The module's, from --raddb. */
		if (cb_audit_key_load(ctl->conf.audit_key_file, false, key, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: note: the module keys the trail, but %s\n", ctl->prog, ctl_safe(err, safe, sizeof(safe)));
			return 0;
		}
	} else if (!key_file) {
		if (!ctl->store || cb_store_status_get(ctl->store, CB_AUDIT_STATUS_KEY, v, sizeof(v), NULL) != 0 || !v[0]) {
			return 0;
		}
		if (cb_audit_key_load(v, false, key, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: note: the module keys the trail, but %s\n", ctl->prog, ctl_safe(err, safe, sizeof(safe)));
			return 0;
		}
	} else if (cb_audit_key_load(key_file, false, key, err, sizeof(err)) < 0) {
		return ctl_err(ctl, CTL_EXIT_USAGE, "--key-file: %s", ctl_safe(err, safe, sizeof(safe)));
	}
	*have = true;
	return 0;
}

/** verify_files - the trail's files: FILE arguments, else --file (or the module's) and its rotated copies. */
static int verify_files(ctl_t *ctl, char **pos, size_t n, char const *file, char ***files, size_t *nfiles,
			size_t *skipped)
{
	char v[CB_STORE_VALUE_MAX + 1], safe[CTL_SAFE_LEN(600)];

	if (n) {
		*files = pos;
		*nfiles = n;
		return 0;
	}
	if (!file) file = ctl->conf.audit_file;		/* The module's audit { filename }, from --raddb. */
	if (!file && ctl->store && cb_store_status_get(ctl->store, CB_AUDIT_STATUS_FILE, v, sizeof(v), NULL) == 0 && v[0]) {
		file = v;
	}
	if (!file) file = CB_AUDIT_DEFAULT_FILE;
	if (cb_audit_rotated_files(file, files, nfiles, skipped) < 0) return ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
	if (*nfiles == 0) {
		cb_audit_files_free(*files, *nfiles);
		return ctl_err(ctl, CTL_EXIT_NOT_FOUND, "no audit trail at %s (give --file)", ctl_safe(file, safe, sizeof(safe)));
	}
	return 0;
}

/** verify_one - audit verify for one trail (one --server at most). */
static int verify_one(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = &verify_cmd;
	char const *file = NULL, *key_file = NULL, *server = NULL;
	ctl_opt_t const opts[] = { { "file", &file, NULL }, { "key-file", &key_file, NULL }, { "server", &server, NULL },
				   { NULL, NULL, NULL } };
	char *pos[64], **files = NULL, safe[CTL_SAFE_LEN(600)], why[1024] = "";
	cb_audit_verify_t res;
	cb_audit_anchor_t anchor = { 0 };
	cb_audit_key_t key;
	uint64_t missing = 0, range[2] = { 0, 0 };
	size_t n, nfiles = 0, skipped = 0;
	bool store_ok = true, have_key, alone;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, pos, 64, &n);
	if (rc) return rc;
	if (n && file) return ctl_usage_err(ctl, cmd, "give --file or FILE arguments, not both");
	if (server && (rc = ctl_text(ctl, cmd, "server given with --server", server, CB_STORE_NAME_MAX)) != 0) return rc;
	if (server && !ctl->pg_conninfo) return ctl_usage_err(ctl, cmd, "--server needs the PostgreSQL store (--store)");
	if (server) ctl->server_id = server;	/* Else the module's server_id (--raddb), if any. */
	alone = n && !server;		/* Files named one by one (copies, archives): the chain alone. */
	if (!n && !file) ctl_open(ctl, false);		/* For the file the module reports. */
	if (!ctl->store && !key_file) {			/* Quietly: an unreadable store is reported below. */
		cb_store_conf_t sc = ctl_store_conf(ctl);
		char e[1024];

		ctl->store = cb_store_open(&sc, e, sizeof(e));
	}
	if ((rc = verify_key(ctl, key_file, &key, &have_key)) != 0) return rc;
	if (alone) {
		rc = cb_audit_verify_trail((char const *const *) pos, n, NULL, false, have_key ? &key : NULL, &res);
	} else {
		if ((rc = verify_files(ctl, pos, n, file, &files, &nfiles, &skipped)) != 0) return rc;
		rc = verify_live(ctl, (char const *const *) files, nfiles, have_key ? &key : NULL, &res, &anchor, &store_ok,
				 why, sizeof(why));
		if (rc == 0 && store_ok) missing = index_missing(ctl, &res, &anchor, range);
		if (!n) cb_audit_files_free(files, nfiles);
	}
	cb_audit_key_wipe(&key);
	if (rc < 0) return ctl_err(ctl, CTL_EXIT_NOT_FOUND, "%s", ctl_safe(res.message, safe, sizeof(safe)));
	return verify_report(ctl, &res, skipped, !alone, store_ok ? NULL : why, missing, range);
}

/** is_server_opt - whether arg is --server or --server=ID. */
static bool is_server_opt(char const *arg)
{
	return strcmp(arg, "--server") == 0 || strncmp(arg, "--server=", 9) == 0;
}

/**
 * audit_verify - one trail, or with several --server one per server: the
 * options before the first --server apply to each; each --server starts a
 * group of its own.  The exit code is the worst of the groups'.
 */
static int audit_verify(ctl_t *ctl, int argc, char **argv)
{
	char *group[160];
	int i, nservers = 0, common = argc, worst = CTL_EXIT_OK;

	for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (!is_server_opt(argv[i])) continue;
		if (nservers++ == 0) common = i;
	}
	if (nservers < 2) return verify_one(ctl, argc, argv);
	if (argc + common > (int) (sizeof(group) / sizeof(group[0]))) {
		return ctl_usage_err(ctl, &verify_cmd, "too many arguments");
	}
	if (ctl->json) fputs("[\n", stdout);
	for (i = common; i < argc;) {
		int end = i + 1, n = common, rc;

		while (end < argc && !is_server_opt(argv[end])) end++;
		memcpy(group, argv, (size_t) common * sizeof(*group));
		memcpy(group + n, argv + i, (size_t) (end - i) * sizeof(*group));
		n += end - i;
		if (ctl->json && i > common) fputs(",\n", stdout);
		cb_store_close(ctl->store);
		ctl->store = NULL;
		rc = verify_one(ctl, n, group);
		if (rc == CTL_EXIT_USAGE || rc == CTL_HELP_SHOWN) return rc;
		if (rc > worst) worst = rc;
		i = end;
	}
	if (ctl->json) fputs("]\n", stdout);
	return worst;
}

/*
 *	audit query
 */
typedef enum { FMT_TABLE = 0, FMT_JSON, FMT_CSV } fmt_t;

static void csv_row(char const *const *cells, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		size_t need = CB_AUDIT_CSV_LEN(strlen(cells[i]));
		char *c = malloc(need);

		if (c && cb_audit_csv_cell(cells[i], c, need)) fputs(c, stdout);
		if (i + 1 < n) fputc(',', stdout);
		free(c);
	}
	fputs("\r\n", stdout);
}

static char const *const row_headers[] = {
	"seq", "time", "type", "user", "outer", "device", "nas", "ssid", "ip", "session", "status", "reason", "by",
	"detail", "count", "first", "last"
};
#define ROW_COLS (sizeof(row_headers) / sizeof(row_headers[0]))

/** Cells read from the record itself: its detail, and a coalesced run's count, first and last. */
typedef struct {
	char	detail[CB_AUDIT_FIELD_MAX + 1];
	char	count[32], first[32], last[32];
} row_extra_t;

/** row_time - the record's RFC 3339 member key as the table shows times, into buf ("" when absent). */
static void row_time(json_object *o, char const *key, char *buf, size_t len)
{
	json_object *v;
	time_t t;

	buf[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return;
	if (cb_tz_parse_time(json_object_get_string(v), strlen(json_object_get_string(v)), NULL, &t) == 0) {
		ctl_time(t, buf, len);
	}
}

/**
 * row_extra - the record's why, else detail, else stop_cause, else result;
 * and for a summary of coalesced refusals (lib/audit/runs.c) the count of
 * refusals it stands for and the first and last of them.
 */
static void row_extra(cb_audit_row_t const *r, row_extra_t *x)
{
	static char const *const keys[] = { "why", "detail", "stop_cause", "result" };
	json_object *o = json_tokener_parse(r->record), *v;
	size_t i;

	memset(x, 0, sizeof(*x));
	for (i = 0; o && i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (json_object_object_get_ex(o, keys[i], &v) && json_object_is_type(v, json_type_string)) {
			snprintf(x->detail, sizeof(x->detail), "%s", json_object_get_string(v));
			break;
		}
	}
	if (o && json_object_object_get_ex(o, "count", &v) && json_object_is_type(v, json_type_int)) {
		snprintf(x->count, sizeof(x->count), "%lld", (long long) json_object_get_int64(v));
		row_time(o, "first", x->first, sizeof(x->first));
		row_time(o, "last", x->last, sizeof(x->last));
	}
	json_object_put(o);
}

static void row_cells(cb_audit_row_t const *r, char const **cells, char *seq, size_t seqlen, char *t, size_t tlen,
		      row_extra_t *x)
{
	snprintf(seq, seqlen, "%lld", (long long) r->seq);
	cells[0] = seq;
	cells[1] = ctl_time(r->time, t, tlen);
	cells[2] = r->type;
	cells[3] = r->identity;
	cells[4] = r->outer_identity;
	cells[5] = r->calling_station;
	cells[6] = r->nas;
	cells[7] = r->ssid;
	cells[8] = r->framed_ip;
	cells[9] = r->acct_session_id;
	cells[10] = r->status;
	cells[11] = r->reason;
	cells[12] = r->by;
	row_extra(r, x);
	cells[13] = x->detail;
	cells[14] = x->count;
	cells[15] = x->first;
	cells[16] = x->last;
}

/** any_server - whether a row names its server (a PostgreSQL store): then a "server" column comes first. */
static bool any_server(cb_audit_rows_t const *rows)
{
	for (size_t i = 0; i < rows->count; i++) {
		if (rows->items[i].server_id[0]) return true;
	}
	return false;
}

/** print_json - the records as written; a record of a named server gets "server" (not part of its hash). */
static int print_json(cb_audit_rows_t const *rows)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < rows->count; i++) {
		json_object *o = json_tokener_parse(rows->items[i].record);

		if (o && json_object_is_type(o, json_type_object) && rows->items[i].server_id[0]) {
			json_object_object_add(o, "server", ctl_jstr(rows->items[i].server_id));
		}
		json_object_array_add(a, o ? o : ctl_jstr(rows->items[i].record));
	}
	return ctl_print_json(a);
}

static int print_rows(ctl_t *ctl, cb_audit_rows_t const *rows, fmt_t fmt)
{
	char const *cells[ROW_COLS + 1], *headers[ROW_COLS + 1];
	char seq[32], t[32];
	row_extra_t x;
	size_t i, off = any_server(rows) ? 1 : 0;
	ctl_table_t *tab;

	if (fmt == FMT_JSON) return print_json(rows);
	headers[0] = "server";
	memcpy(headers + off, row_headers, sizeof(row_headers));
	if (fmt == FMT_CSV) {
		csv_row(headers, ROW_COLS + off);
		for (i = 0; i < rows->count; i++) {
			cells[0] = rows->items[i].server_id;
			row_cells(&rows->items[i], cells + off, seq, sizeof(seq), t, sizeof(t), &x);
			csv_row(cells, ROW_COLS + off);
		}
		return CTL_EXIT_OK;
	}
	if (rows->count == 0) {
		printf("No matching audit records.\n");
		return CTL_EXIT_OK;
	}
	tab = ctl_table_new(ROW_COLS + off, headers);
	if (!tab) return ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
	for (i = 0; i < rows->count; i++) {
		cells[0] = rows->items[i].server_id;
		row_cells(&rows->items[i], cells + off, seq, sizeof(seq), t, sizeof(t), &x);
		ctl_table_row(tab, cells);
	}
	ctl_table_print(tab, stdout, "");
	ctl_table_free(tab);
	return CTL_EXIT_OK;
}

static char const *const holder_headers[] = {
	"user", "outer", "device", "nas", "session", "ssid", "ip", "started", "stopped", "note"
};
#define HOLDER_COLS (sizeof(holder_headers) / sizeof(holder_headers[0]))

static char const *holder_note(cb_audit_holder_t const *h, char *buf, size_t len)
{
	char t[32];

	if (h->stopped) snprintf(buf, len, "%s", h->certain ? "the only session with the address then" : "");
	else if (h->superseded) snprintf(buf, len, "no stop recorded; address reused at %s", ctl_time(h->superseded, t, sizeof(t)));
	else snprintf(buf, len, "no stop recorded (still open?)");
	return buf;
}

static int print_holders(ctl_t *ctl, cb_audit_holders_t const *list, fmt_t fmt)
{
	char const *cells[HOLDER_COLS];
	char t1[32], t2[32], note[128];
	size_t i;
	ctl_table_t *tab = NULL;
	json_object *a = NULL;

	if (fmt == FMT_JSON) a = json_object_new_array();
	if (fmt == FMT_CSV) csv_row(holder_headers, HOLDER_COLS);
	if (fmt == FMT_TABLE) {
		if (list->count == 0) {
			printf("Nobody held that address then, as far as the audit trail shows.\n");
			return CTL_EXIT_OK;
		}
		tab = ctl_table_new(HOLDER_COLS, holder_headers);
		if (!tab) return ctl_err(ctl, CTL_EXIT_STORE, "out of memory");
	}
	for (i = 0; i < list->count; i++) {
		cb_audit_holder_t const *h = &list->items[i];

		if (a) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "identity", ctl_jstr(h->identity));
			json_object_object_add(o, "outer_identity", ctl_jstr(h->outer_identity));
			json_object_object_add(o, "calling_station", ctl_jstr(h->calling_station));
			json_object_object_add(o, "nas", ctl_jstr(h->nas));
			json_object_object_add(o, "acct_session_id", ctl_jstr(h->acct_session_id));
			json_object_object_add(o, "ssid", ctl_jstr(h->ssid));
			json_object_object_add(o, "framed_ip", ctl_jstr(h->framed_ip));
			json_object_object_add(o, "started", ctl_jtime(h->started));
			json_object_object_add(o, "stopped", ctl_jtime(h->stopped));
			json_object_object_add(o, "superseded", ctl_jtime(h->superseded));
			json_object_object_add(o, "certain", json_object_new_boolean(h->certain));
			json_object_array_add(a, o);
			continue;
		}
		cells[0] = h->identity;
		cells[1] = h->outer_identity;
		cells[2] = h->calling_station;
		cells[3] = h->nas;
		cells[4] = h->acct_session_id;
		cells[5] = h->ssid;
		cells[6] = h->framed_ip;
		cells[7] = ctl_time(h->started, t1, sizeof(t1));
		cells[8] = h->stopped || tab ? ctl_time(h->stopped, t2, sizeof(t2)) : "";
		cells[9] = holder_note(h, note, sizeof(note));
		if (tab) ctl_table_row(tab, cells);
		else csv_row(cells, HOLDER_COLS);
	}
	if (a) return ctl_print_json(a);
	if (tab) {
		ctl_table_print(tab, stdout, "");
		ctl_table_free(tab);
	}
	return CTL_EXIT_OK;
}

typedef struct {
	char const	*user, *mac, *ip, *at, *nas, *ssid, *from, *to, *type, *format, *tz, *limit;
} query_args_t;

/** query_check - every argument, before the store is opened. */
static int query_check(ctl_t *ctl, query_args_t const *qa, fmt_t *fmt)
{
	ctl_cmd_t const *cmd = &query_cmd;
	char mac[CB_MAC_LEN + 1], safe[CTL_SAFE_LEN(64)];
	int rc;

	*fmt = ctl->json ? FMT_JSON : FMT_TABLE;
	if (qa->format) {
		if (strcmp(qa->format, "table") == 0) *fmt = FMT_TABLE;
		else if (strcmp(qa->format, "json") == 0) *fmt = FMT_JSON;
		else if (strcmp(qa->format, "csv") == 0) *fmt = FMT_CSV;
		else return ctl_usage_err(ctl, cmd, "--format must be table, json or csv");
	}
	if (qa->mac && !cb_mac_normalise(qa->mac, mac)) {
		return ctl_usage_err(ctl, cmd, "--mac: '%s' is not a MAC address (AA-BB-CC-DD-EE-FF, aa:bb:cc:dd:ee:ff, "
				     "aabb.ccdd.eeff or aabbccddeeff)", ctl_safe(qa->mac, safe, sizeof(safe)));
	}
	if (qa->at && !qa->ip) return ctl_usage_err(ctl, cmd, "--at needs --ip: who held which address at that moment?");
	if (qa->at && (qa->from || qa->to)) return ctl_usage_err(ctl, cmd, "--at does not go with --from or --to");
	if (qa->type && cb_audit_type_from_name(qa->type) < 0) {
		return ctl_usage_err(ctl, cmd, "--type: unknown record type '%s'", ctl_safe(qa->type, safe, sizeof(safe)));
	}
	if ((rc = text_opt(ctl, cmd, "--ip address", qa->ip)) || (rc = text_opt(ctl, cmd, "--nas value", qa->nas)) ||
	    (rc = text_opt(ctl, cmd, "--ssid value", qa->ssid))) return rc;
	if (qa->ip && strlen(qa->ip) > CB_STORE_IP_MAX) return ctl_usage_err(ctl, cmd, "--ip: not an address");
	return 0;
}

#define QUERY_CATCHUP_MAX	1000000		/* Records a query copies from the file at most before it reads. */

/** lag_note - radiusd's last report of its index's lag, as a note on stderr when it lagged. */
static void lag_note(ctl_t *ctl)
{
	char lag[CB_STORE_VALUE_MAX + 1], ms[CB_STORE_VALUE_MAX + 1];

	if (cb_store_status_get(ctl->store, CB_STATUS_AUDIT_INDEX_LAG, lag, sizeof(lag), NULL) != 0 ||
	    strspn(lag, "0123456789") != strlen(lag) || !lag[0] || strcmp(lag, "0") == 0) {
		return;
	}
	if (cb_store_status_get(ctl->store, CB_STATUS_AUDIT_INDEX_LAG_MS, ms, sizeof(ms), NULL) != 0 ||
	    strspn(ms, "0123456789") != strlen(ms)) {
		ms[0] = '\0';
	}
	fprintf(stderr, "%s: note: at its last report radiusd's audit index was %s records behind its file (for %s "
		"ms); the newest records may be missing here\n", ctl->prog, lag, ms[0] ? ms : "?");
}

/**
 * index_fresh - before a query: with the SQLite store, the records the
 * module's file holds and its index not yet (the index thread copies them
 * at idle priority) copied now, so that a record just written is found;
 * with PostgreSQL (each server's file is on its own host), or when the
 * file cannot be read, a note of the lag radiusd last reported.
 */
static void index_fresh(ctl_t *ctl)
{
	char file[CB_STORE_VALUE_MAX + 1], kf[CB_STORE_VALUE_MAX + 1], err[4096], safe[CTL_SAFE_LEN(600)],
	     why[CTL_SAFE_LEN(600)];
	cb_store_conf_t sc = ctl_store_conf(ctl);
	cb_audit_key_t key;
	bool keyed = false;
	uint64_t copied = 0;
	int rc = -1;

	if (sc.backend == CB_STORE_SQLITE && cb_store_status_get(ctl->store, CB_AUDIT_STATUS_FILE, file, sizeof(file), NULL) == 0 &&
	    file[0] && access(file, R_OK) == 0) {
		if (cb_store_status_get(ctl->store, CB_AUDIT_STATUS_KEY, kf, sizeof(kf), NULL) == 0 && kf[0]) {
			keyed = cb_audit_key_load(kf, false, &key, err, sizeof(err)) == 0;
			if (!keyed) goto note;		/* Keyed records cannot be checked: left to radiusd. */
		}
		for (int i = 0; i < 2 && rc == -1; i++) {	/* -1: radiusd's index thread took the same rows. */
			rc = cb_audit_index_update(ctl->store, file, keyed ? &key : NULL, QUERY_CATCHUP_MAX, &copied, err,
						   sizeof(err));
		}
		if (keyed) cb_audit_key_wipe(&key);
		if (rc == 0) return;
		fprintf(stderr, "%s: note: cannot bring the audit index up to date from %s: %s\n", ctl->prog,
			ctl_safe(file, safe, sizeof(safe)), rc == 1 ? "too many records behind" :
			ctl_safe(err, why, sizeof(why)));
	}
note:
	lag_note(ctl);
}

static int audit_query(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = &query_cmd;
	query_args_t qa = { 0 };
	ctl_opt_t const opts[] = {
		{ "user", &qa.user, NULL }, { "mac", &qa.mac, NULL }, { "ip", &qa.ip, NULL }, { "at", &qa.at, NULL },
		{ "nas", &qa.nas, NULL }, { "ssid", &qa.ssid, NULL }, { "from", &qa.from, NULL }, { "to", &qa.to, NULL },
		{ "type", &qa.type, NULL }, { "format", &qa.format, NULL }, { "tz", &qa.tz, NULL },
		{ "limit", &qa.limit, NULL }, { NULL, NULL, NULL }
	};
	char identity[CB_IDENTITY_MAX + 1], err[512];
	cb_audit_query_t q = { .any_type = true, .type = -1 };
	cb_tz_t *tz = NULL;
	unsigned long limit = 0;
	time_t at = 0, at_end = 0, ignore;
	fmt_t fmt;
	size_t n;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	if ((rc = query_check(ctl, &qa, &fmt)) != 0) return rc;
	if (qa.user && (rc = ctl_identity(ctl, cmd, qa.user, identity)) != 0) return rc;
	if (qa.limit && (rc = ctl_count(ctl, cmd, "limit", qa.limit, 1, 100000, &limit)) != 0) return rc;
	if ((rc = ctl_open(ctl, false)) != 0) return rc;
	if ((rc = ctl_tz(ctl, cmd, qa.tz, &tz)) != 0) return rc;
	if ((qa.at && (rc = ctl_when(ctl, cmd, "at", qa.at, tz, &at, &at_end)) != 0) ||
	    (qa.from && (rc = ctl_when(ctl, cmd, "from", qa.from, tz, &q.from, &ignore)) != 0) ||
	    (qa.to && (rc = ctl_when(ctl, cmd, "to", qa.to, tz, &ignore, &q.to)) != 0) ||
	    (qa.user && (rc = ctl_identity(ctl, cmd, qa.user, identity)) != 0)) {
		cb_tz_free(tz);
		return rc;
	}
	cb_tz_free(tz);
	if (q.from && q.to && q.to < q.from) return ctl_usage_err(ctl, cmd, "--to is before --from");
	index_fresh(ctl);
	if (qa.at) {
		cb_audit_holders_t list;

		if (cb_audit_ip_at(ctl->store, qa.ip, qa.nas, at, at_end, &list, err, sizeof(err)) < 0) {
			return ctl_err(ctl, CTL_EXIT_STORE, "%s", err);
		}
		rc = print_holders(ctl, &list, fmt);
		if (rc == CTL_EXIT_OK && list.count == 0) rc = CTL_EXIT_NOT_FOUND;
		cb_audit_holders_free(&list);
	} else {
		cb_audit_rows_t rows;

		q.identity = qa.user ? identity : NULL;
		q.mac = qa.mac;
		q.ip = qa.ip;
		q.nas = qa.nas;
		q.ssid = qa.ssid;
		q.limit = limit;
		if (qa.type) {
			q.any_type = false;
			q.type = cb_audit_type_from_name(qa.type);
		}
		if (cb_audit_query(ctl->store, &q, &rows, err, sizeof(err)) < 0) {
			return ctl_err(ctl, CTL_EXIT_STORE, "%s", err);
		}
		rc = print_rows(ctl, &rows, fmt);
		if (rc == CTL_EXIT_OK && rows.count == 0) rc = CTL_EXIT_NOT_FOUND;
		cb_audit_rows_free(&rows);
	}
	return rc;
}

int ctl_audit_main(ctl_t *ctl, int argc, char **argv)
{
	char safe[CTL_SAFE_LEN(64)];

	if (argc == 0) return ctl_usage_err(ctl, &audit_cmd, "audit what? verify or query");
	if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
		printf("Usage: cetbyodctl [OPTIONS] %s\n\n%s\n\n%s", audit_cmd.usage, audit_cmd.summary, audit_cmd.help);
		return CTL_HELP_SHOWN;
	}
	if (strcmp(argv[0], "verify") == 0) return audit_verify(ctl, argc - 1, argv + 1);
	if (strcmp(argv[0], "query") == 0) return audit_query(ctl, argc - 1, argv + 1);
	return ctl_usage_err(ctl, &audit_cmd, "unknown audit command '%s': verify or query",
			     ctl_safe(strlen(argv[0]) > 64 ? "(too long)" : argv[0], safe, sizeof(safe)));
}

/*
 *	export
 */
int ctl_export_main(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = &export_cmd;
	char const *person = NULL;
	ctl_opt_t const opts[] = { { "person", &person, NULL }, { NULL, NULL, NULL } };
	char identity[CB_IDENTITY_MAX + 1], err[512];
	json_object *o;
	size_t n;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	if (!person) return ctl_usage_err(ctl, cmd, "whose records? Give --person USER");
	if ((rc = ctl_identity(ctl, cmd, person, identity)) != 0) return rc;
	if ((rc = ctl_open(ctl, false)) != 0) return rc;
	if ((rc = ctl_identity(ctl, cmd, person, identity)) != 0) return rc;
	o = cb_audit_export_person(ctl->store, identity, err, sizeof(err));
	if (!o) return ctl_err(ctl, CTL_EXIT_STORE, "%s", err);
	json_object_object_add(o, "exported_at", ctl_jtime(ctl->now));
	return ctl_print_json(o);
}

/*
 *	purge
 */
int ctl_purge_main(ctl_t *ctl, int argc, char **argv)
{
	ctl_cmd_t const *cmd = &purge_cmd;
	char const *days_arg = NULL, *tz_arg = NULL;
	ctl_opt_t const opts[] = { { "older-than", &days_arg, NULL }, { "tz", &tz_arg, NULL }, { NULL, NULL, NULL } };
	char err[512], t[32];
	unsigned long days;
	cb_tz_t *tz;
	size_t n, store_removed = 0, audit_removed = 0;
	time_t before;
	int rc;

	rc = ctl_parse(ctl, cmd, argc, argv, opts, NULL, 0, &n);
	if (rc) return rc;
	if (!days_arg) return ctl_usage_err(ctl, cmd, "how old? Give --older-than DAYS (the retention period)");
	if ((rc = ctl_count(ctl, cmd, "older-than", days_arg, 1, DAYS_MAX, &days)) != 0) return rc;
	if ((rc = ctl_open(ctl, false)) != 0) return rc;
	if ((rc = ctl_tz(ctl, cmd, tz_arg, &tz)) != 0) return rc;
	before = cb_tz_add_days(tz, ctl->now, -(int) days);
	cb_tz_free(tz);
	if (before < 0) return ctl_err(ctl, CTL_EXIT_USAGE, "--older-than %lu reaches before 1970", days);
	if (cb_store_retention_purge(ctl->store, before, &store_removed, &audit_removed, err, sizeof(err)) < 0) {
		return ctl_err(ctl, CTL_EXIT_STORE, "%s", err);
	}
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "before", ctl_jtime(before));
		json_object_object_add(o, "store_rows", json_object_new_int64((int64_t) store_removed));
		json_object_object_add(o, "audit_rows", json_object_new_int64((int64_t) audit_removed));
		return ctl_print_json(o);
	}
	printf("Purged records older than %s: %zu store row%s, %zu audit row%s.\n", ctl_time(before, t, sizeof(t)),
	       store_removed, store_removed == 1 ? "" : "s", audit_removed, audit_removed == 1 ? "" : "s");
	return CTL_EXIT_OK;
}
