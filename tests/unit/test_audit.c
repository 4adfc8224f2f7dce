/*
 * test_audit.c - the audit trail: the chain and verify (an edited, deleted,
 * reordered or cut-short line fails at that record), rotation, the writer
 * with injected write and fsync failures (fail_open and fail_closed;
 * nothing acknowledged is lost), the queries (who held an address at a
 * moment across overlapping sessions), CSV neutralisation and purge.
 *
 * Each test works in its own temporary directory.  srcdir (set by make
 * check) locates schema/sql/audit.sql.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit/audit.h"
#include "audit/audit_int.h"
#include "base/clock.h"
#include "base/mac.h"
#include "store/store.h"
#include "test_slack.h"
#include "test_tmp.h"

#define T0	1795515240	/* 2026-11-24T10:14:00Z, a Tuesday. */

#define slack_ms() test_slack_ms(0)	/* Allowance on top of the waits below (test_slack.h). */
#define FLUSH_MS (5000 + (unsigned int) slack_ms())	/* How long a test waits for the writer to catch up. */

static char dir[256];
static char file[512];
static char dbpath[512];

static void setup(void)
{
	test_tmp_dir("test_audit", dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/audit.jsonl", dir);
	snprintf(dbpath, sizeof(dbpath), "%s/cetbyod.db", dir);
}

static void teardown(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/*
 *	Injected I/O
 */
static int fail_write;		/* errno to fail write() with; 0: none. */
static int fail_fsync;
static int partial_once;	/* Write half of the next buffer, then fail. */

static ssize_t t_write(void *ctx, int fd, void const *buf, size_t len)
{
	(void) ctx;
	if (__atomic_load_n(&partial_once, __ATOMIC_SEQ_CST) && len > 1) {
		__atomic_store_n(&partial_once, 0, __ATOMIC_SEQ_CST);
		if (write(fd, buf, len / 2) < 0) return -1;
		errno = ENOSPC;
		return -1;
	}
	if (__atomic_load_n(&fail_write, __ATOMIC_SEQ_CST)) {
		errno = __atomic_load_n(&fail_write, __ATOMIC_SEQ_CST);
		return -1;
	}
	return write(fd, buf, len);
}

static int fsyncs;		/* t_fsync's calls. */

static int t_fsync(void *ctx, int fd)
{
	(void) ctx;
	__atomic_add_fetch(&fsyncs, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&fail_fsync, __ATOMIC_SEQ_CST)) {
		errno = EIO;
		return -1;
	}
	return fsync(fd);
}

static cb_audit_t *open_trail(cb_audit_failure_t on_failure, size_t queue_max, bool with_db)
{
	cb_audit_conf_t conf = {
		.path = file, .on_failure = on_failure, .queue_max = queue_max, .retry_ms = 5, .retry_max_ms = 20,
		.io = { .write = t_write, .fsync = t_fsync }, .db_path = with_db ? dbpath : NULL
	};
	char err[512];
	cb_audit_t *a = cb_audit_open(&conf, err, sizeof(err));

	ck_assert_msg(a != NULL, "cb_audit_open: %s", err);
	return a;
}

static void make_store(void)
{
	cb_store_conf_t conf = { .path = dbpath, .create = true };
	char err[512];
	cb_store_t *s = cb_store_open(&conf, err, sizeof(err));

	ck_assert_msg(s != NULL, "cb_store_open: %s", err);
	cb_store_close(s);
}

static void decision(cb_audit_t *a, char const *who, time_t t)
{
	cb_audit_event_t ev = { .type = CB_AUDIT_DECISION, .time = t, .identity = who, .outer_identity = "anonymous",
				.calling_station = "aa:bb:cc:00:11:22", .called_station = "00-11-22-33-44-55:Staff",
				.nas = "10.0.0.2", .status = "admit", .reason = "acknowledged", .ack_time = t - 86400,
				.policy_version = "2026", .expiry = t + 3600 };

	ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_QUEUED);
}

/** write_trail - a trail of audit_start + n decisions, closed. */
static void write_trail(int n)
{
	cb_audit_t *a = open_trail(CB_AUDIT_FAIL_OPEN, 0, false);
	int i;

	for (i = 0; i < n; i++) decision(a, i % 2 ? "bob" : "alice", T0 + i);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
}

static int verify_one(char const *path, cb_audit_verify_t *v)
{
	char const *paths[1] = { path };

	return cb_audit_verify_files(paths, 1, v);
}

/* Lines of the trail file, for tampering. */
static char lines[64][4096];
static size_t nlines;

static void read_lines(void)
{
	FILE *fp = fopen(file, "r");

	ck_assert_ptr_nonnull(fp);
	nlines = 0;
	while (nlines < 64 && fgets(lines[nlines], sizeof(lines[0]), fp)) nlines++;
	fclose(fp);
}

/** write_lines - lines[0..n) in order given by idx (NULL: as they are); last_nl false cuts the final newline. */
static void write_lines(size_t const *idx, size_t n, bool last_nl)
{
	FILE *fp = fopen(file, "w");
	size_t i;

	ck_assert_ptr_nonnull(fp);
	for (i = 0; i < n; i++) {
		char const *l = lines[idx ? idx[i] : i];

		if (i == n - 1 && !last_nl) fwrite(l, 1, strlen(l) - 5, fp);
		else fputs(l, fp);
	}
	fclose(fp);
}

START_TEST(chain_verifies)
{
	cb_audit_verify_t v;

	write_trail(5);
	ck_assert_int_eq(verify_one(file, &v), 0);
	ck_assert_int_eq(v.bad, CB_AUDIT_OK);
	ck_assert_uint_eq(v.records, 6);
	ck_assert_uint_eq(v.first_seq, 1);
	ck_assert_uint_eq(v.last_seq, 6);
	read_lines();
	ck_assert_uint_eq(nlines, 6);
	ck_assert_ptr_nonnull(strstr(lines[0], "\"type\":\"audit_start\""));
	ck_assert_ptr_nonnull(strstr(lines[0], "\"prev\":\"0000000000000000"));
	ck_assert_ptr_nonnull(strstr(lines[1], "\"ssid\":\"Staff\""));
	ck_assert_ptr_nonnull(strstr(lines[1], "\"ap\":\"00-11-22-33-44-55\""));
	ck_assert_ptr_nonnull(strstr(lines[1], "\"time\":\"2026-11-24T10:14:00Z\""));
}
END_TEST

START_TEST(edited_line_fails_there)
{
	cb_audit_verify_t v;
	char *p;

	write_trail(5);
	read_lines();
	p = strstr(lines[2], "\"bob\"");
	ck_assert_ptr_nonnull(p);
	memcpy(p, "\"eve\"", 5);
	write_lines(NULL, nlines, true);
	ck_assert_int_eq(verify_one(file, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_HASH);
	ck_assert_uint_eq(v.line, 3);
	ck_assert_uint_eq(v.seq, 3);
	ck_assert_uint_eq(v.records, 2);
}
END_TEST

START_TEST(edited_and_rehashed_fails_at_next)
{
	cb_audit_verify_t v;
	json_object *o;
	char hash[CB_AUDIT_HASH_HEX + 1];
	char const *s;

	write_trail(5);
	read_lines();
	o = json_tokener_parse(lines[2]);
	ck_assert_ptr_nonnull(o);
	json_object_object_add(o, "identity", json_object_new_string("eve"));
	ck_assert_int_eq(cb_audit_line_hash(o, hash), 0);
	json_object_object_add(o, "hash", json_object_new_string(hash));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	snprintf(lines[2], sizeof(lines[2]), "%s\n", s);
	json_object_put(o);
	write_lines(NULL, nlines, true);
	ck_assert_int_eq(verify_one(file, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_LINK);
	ck_assert_uint_eq(v.line, 4);
	ck_assert_ptr_nonnull(strstr(v.message, "seq 3 was altered"));
}
END_TEST

/*
 *	Issue 15, item 14: the keyed chain
 */
static cb_audit_key_t test_key(char fill)
{
	cb_audit_key_t k = { .len = 32 };

	memset(k.bytes, fill, k.len);
	return k;
}

/** write_keyed - audit_start + n decisions, keyed under key (NULL: plain), appended to the file. */
static void write_keyed(int n, cb_audit_key_t const *key)
{
	cb_audit_conf_t conf = { .path = file, .key = key };
	char err[512];
	cb_audit_t *a = cb_audit_open(&conf, err, sizeof(err));
	int i;

	ck_assert_msg(a != NULL, "cb_audit_open: %s", err);
	for (i = 0; i < n; i++) decision(a, i % 2 ? "bob" : "alice", T0 + i);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
}

static int verify_key(cb_audit_key_t const *key, cb_audit_verify_t *v)
{
	char const *paths[1] = { file };

	return cb_audit_verify_trail(paths, 1, NULL, false, key, v);
}

START_TEST(keyed_chain_verifies_and_catches_rewrites)
{
	cb_audit_key_t key = test_key('k'), wrong = test_key('w');
	cb_audit_verify_t v;
	json_object *o;
	char hash[CB_AUDIT_HASH_HEX + 1];

	write_keyed(2, NULL);				/* Plain records from before the key... */
	write_keyed(4, &key);				/* ...then keyed ones, continuing the chain. */
	read_lines();
	ck_assert_uint_eq(nlines, 8);
	ck_assert_ptr_null(strstr(lines[2], "\"chain\""));
	ck_assert_ptr_nonnull(strstr(lines[3], "\"chain\":\"hmac-sha256\""));
	ck_assert_int_eq(verify_key(&key, &v), 0);
	ck_assert_uint_eq(v.records, 8);
	ck_assert_uint_eq(v.keyed, 5);
	ck_assert_uint_eq(v.unchecked, 0);

	ck_assert_int_eq(verify_key(NULL, &v), 0);	/* Without the key: order and links only, counted. */
	ck_assert_uint_eq(v.unchecked, 5);

	ck_assert_int_eq(verify_key(&wrong, &v), 1);	/* The wrong key fails at the first keyed record. */
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_HASH);
	ck_assert_uint_eq(v.line, 4);
	ck_assert_ptr_nonnull(strstr(v.message, "HMAC"));

	/* Someone with the service's rights edits line 6 and recomputes its hash
	 * (without the key the best is a plain hash, with "chain" dropped)... */
	o = json_tokener_parse(lines[5]);
	ck_assert_ptr_nonnull(o);
	json_object_object_add(o, "identity", json_object_new_string("eve"));
	json_object_object_del(o, "chain");
	ck_assert_int_eq(cb_audit_line_hash(o, hash), 0);
	json_object_object_add(o, "hash", json_object_new_string(hash));
	snprintf(lines[5], sizeof(lines[5]), "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	write_lines(NULL, nlines, true);
	ck_assert_int_eq(verify_key(&key, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_KEY);
	ck_assert_uint_eq(v.line, 6);
	/* ...or keeps "chain" and guesses: the HMAC does not match. */
	read_lines();
	o = json_tokener_parse(lines[5]);
	json_object_object_add(o, "chain", json_object_new_string("hmac-sha256"));
	json_object_object_add(o, "hash", json_object_new_string(hash));
	snprintf(lines[5], sizeof(lines[5]), "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	write_lines(NULL, nlines, true);
	ck_assert_int_eq(verify_key(&key, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_HASH);
	ck_assert_uint_eq(v.line, 6);
}
END_TEST

START_TEST(keyed_chain_rewritten_plain_fails)
{
	cb_audit_key_t key = test_key('k');
	cb_audit_verify_t v;

	write_keyed(3, NULL);			/* A whole history written (or rewritten) without the key. */
	ck_assert_int_eq(verify_key(NULL, &v), 0);
	ck_assert_int_eq(verify_key(&key, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_KEY);
	ck_assert_ptr_nonnull(strstr(v.message, "is not keyed"));
	write_keyed(1, &key);			/* Keyed, then plain again: the plain tail is refused. */
	write_keyed(1, NULL);
	ck_assert_int_eq(verify_key(&key, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_KEY);
	ck_assert_uint_eq(v.line, 7);
}
END_TEST

START_TEST(key_file_checks)
{
	char path[600], err[1024];
	cb_audit_key_t key;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/key", dir);
	ck_assert_int_eq(cb_audit_key_load(path, false, &key, err, sizeof(err)), -1);	/* Missing. */
	ck_assert_ptr_nonnull(strstr(err, "cannot read the key"));
	fp = fopen(path, "w");
	fputs("short\n", fp);
	fclose(fp);
	ck_assert_int_eq(cb_audit_key_load(path, false, &key, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "16 to 1023"));
	fp = fopen(path, "w");
	fputs("0123456789abcdef0123456789abcdef\n", fp);
	fclose(fp);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(cb_audit_key_load(path, false, &key, err, sizeof(err)), 0);	/* cetbyodctl: any readable file. */
	ck_assert_uint_eq(key.len, 33);
	ck_assert_int_eq(cb_audit_key_load(path, true, &key, err, sizeof(err)), -1);	/* The module: not world-readable. */
	ck_assert_ptr_nonnull(strstr(err, "readable by everyone"));
	ck_assert_uint_eq(key.len, 0);
	ck_assert_int_eq(chmod(path, 0640), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(cb_audit_key_load(path, true, &key, err, sizeof(err)), 1);
		ck_assert_ptr_nonnull(strstr(err, "runs as root"));
	} else {
		ck_assert_int_eq(cb_audit_key_load(path, true, &key, err, sizeof(err)), -1);	/* Owned by this user. */
		ck_assert_ptr_nonnull(strstr(err, "owned by the user radiusd runs as"));
	}
}
END_TEST

START_TEST(deleted_line_fails_there)
{
	size_t idx[] = { 0, 1, 3, 4, 5 };
	cb_audit_verify_t v;

	write_trail(5);
	read_lines();
	write_lines(idx, 5, true);
	ck_assert_int_eq(verify_one(file, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_GAP);
	ck_assert_uint_eq(v.line, 3);
	ck_assert_uint_eq(v.seq, 3);
	ck_assert_uint_eq(v.found_seq, 4);
}
END_TEST

START_TEST(reordered_line_fails_there)
{
	size_t idx[] = { 0, 1, 3, 2, 4, 5 };
	cb_audit_verify_t v;

	write_trail(5);
	read_lines();
	write_lines(idx, 6, true);
	ck_assert_int_eq(verify_one(file, &v), 1);
	ck_assert_uint_eq(v.line, 3);
	ck_assert_uint_eq(v.seq, 3);
	ck_assert(v.bad == CB_AUDIT_BAD_GAP || v.bad == CB_AUDIT_BAD_ORDER);
}
END_TEST

START_TEST(truncated_last_line_fails_there)
{
	cb_audit_verify_t v;

	write_trail(5);
	read_lines();
	write_lines(NULL, nlines, false);
	ck_assert_int_eq(verify_one(file, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_TRUNCATED);
	ck_assert_uint_eq(v.line, 6);
	ck_assert_uint_eq(v.seq, 6);
	ck_assert_uint_eq(v.records, 5);
}
END_TEST

/* Issue 15, item 11: a line being written, and the store's copy read before the files. */
START_TEST(live_trail_pending_line_and_anchor)
{
	char const *paths[1] = { file };
	cb_audit_anchor_t anchor = { .seq = 3 };
	cb_audit_line_t l;
	cb_audit_verify_t v;

	write_trail(5);
	read_lines();
	ck_assert_int_eq(cb_audit_line_parse(lines[2], strlen(lines[2]) - 1, &l), CB_AUDIT_OK);
	memcpy(anchor.hash, l.hash, sizeof(anchor.hash));
	write_lines(NULL, nlines, false);		/* The writer in the middle of line 6. */
	ck_assert_int_eq(cb_audit_verify_trail(paths, 1, &anchor, true, NULL, &v), 0);
	ck_assert(v.pending);
	ck_assert(v.anchored);
	ck_assert_uint_eq(v.pending_line, 6);
	ck_assert_uint_eq(v.records, 5);
	ck_assert_int_eq(cb_audit_verify_trail(paths, 1, &anchor, false, NULL, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_TRUNCATED);

	write_lines(NULL, nlines, true);
	anchor.hash[0] = anchor.hash[0] == '0' ? '1' : '0';	/* The store's copy of seq 3 differs. */
	ck_assert_int_eq(cb_audit_verify_trail(paths, 1, &anchor, true, NULL, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_TAIL);
	ck_assert_uint_eq(v.line, 3);
	anchor.seq = 8;					/* The store is ahead: lines removed from the end. */
	ck_assert_int_eq(cb_audit_verify_trail(paths, 1, &anchor, true, NULL, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_TAIL);
	ck_assert_uint_eq(v.seq, 7);
	ck_assert_ptr_nonnull(strstr(v.message, "records 7 to 8 were removed"));
	anchor.seq = 0;					/* No copy in the store: the chain alone. */
	ck_assert_int_eq(cb_audit_verify_trail(paths, 1, &anchor, true, NULL, &v), 0);
	ck_assert(!v.anchored);
}
END_TEST

START_TEST(restart_cuts_unfinished_line_and_continues)
{
	cb_audit_verify_t v;
	cb_audit_t *a;

	write_trail(3);
	read_lines();
	write_lines(NULL, nlines, false);	/* A crash in the middle of seq 4. */
	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, false);
	decision(a, "carol", T0 + 100);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
	ck_assert_int_eq(verify_one(file, &v), 0);
	ck_assert_uint_eq(v.records, 5);	/* 1..3, then audit_start 4 and carol 5. */
}
END_TEST

START_TEST(rotation_continues_the_chain)
{
	char rotated[600], **files;
	size_t n, skipped;
	cb_audit_verify_t v;
	cb_audit_t *a;

	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, false);
	decision(a, "alice", T0);
	decision(a, "bob", T0 + 1);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	snprintf(rotated, sizeof(rotated), "%s.1", file);
	ck_assert_int_eq(rename(file, rotated), 0);		/* logrotate */
	decision(a, "carol", T0 + 2);				/* No SIGHUP: the writer notices. */
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);

	/* Rotated while radiusd was down: the chain continues from file.1's last line. */
	{
		char r2[600];

		snprintf(r2, sizeof(r2), "%s.2", file);
		ck_assert_int_eq(rename(rotated, r2), 0);
		ck_assert_int_eq(rename(file, rotated), 0);
	}
	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, false);
	cb_audit_reopen(a);					/* SIGHUP with nothing rotated: harmless. */
	decision(a, "dave", T0 + 3);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);

	ck_assert_int_eq(cb_audit_rotated_files(file, &files, &n, &skipped), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_nonnull(strstr(files[0], ".2"));
	ck_assert_int_eq(cb_audit_verify_files((char const *const *) files, n, &v), 0);
	ck_assert_uint_eq(v.records, 6);	/* start, alice, bob | carol | start, dave */
	ck_assert_uint_eq(v.files, 3);

	/* The oldest file gone (retention): the chain starts later, still valid. */
	ck_assert_int_eq(cb_audit_verify_files((char const *const *) files + 1, n - 1, &v), 0);
	ck_assert_uint_eq(v.first_seq, 4);

	/* The first line of the newest file removed: caught at the file boundary. */
	read_lines();
	{
		size_t idx[] = { 1 };

		write_lines(idx, 1, true);
	}
	ck_assert_int_eq(cb_audit_verify_files((char const *const *) files, n, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_GAP);
	ck_assert_str_eq(v.file, file);
	ck_assert_uint_eq(v.line, 1);
	ck_assert_uint_eq(v.seq, 5);
	cb_audit_files_free(files, n);
}
END_TEST

/** wait_failing - until the writer has failed at least once. */
static void wait_failing(cb_audit_t *a)
{
	cb_audit_stats_t st;
	int i;

	for (i = 0; i < 500; i++) {
		cb_audit_stats(a, &st);
		if (st.failing) return;
		usleep(2000);
	}
	ck_abort_msg("the writer never failed");
}

static size_t count_lines(void)
{
	read_lines();
	return nlines;
}

/** count_matching - lines of the trail file holding needle. */
static size_t count_matching(char const *needle)
{
	size_t n = 0;

	read_lines();
	for (size_t i = 0; i < nlines; i++) n += strstr(lines[i], needle) != NULL;
	return n;
}

START_TEST(fail_open_keeps_admitting_and_loses_nothing_acknowledged)
{
	cb_audit_stats_t st;
	cb_audit_verify_t v;
	cb_audit_t *a;

	__atomic_store_n(&fail_write, ENOSPC, __ATOMIC_SEQ_CST);
	a = open_trail(CB_AUDIT_FAIL_OPEN, 4, false);		/* audit_start takes one place. */
	wait_failing(a);
	ck_assert(cb_audit_admit_ok(a));
	decision(a, "alice", T0);
	decision(a, "bob", T0 + 1);
	decision(a, "carol", T0 + 2);
	{
		cb_audit_event_t ev = { .type = CB_AUDIT_DECISION, .time = T0 + 3, .identity = "dave" };

		ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_DROPPED);
	}
	ck_assert(cb_audit_admit_ok(a));
	ck_assert_int_eq(cb_audit_flush(a, 50), -1);
	cb_audit_stats(a, &st);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_uint_eq(st.queued, 4);
	ck_assert_uint_eq(st.dropped, 1);
	ck_assert(st.failing);
	ck_assert_uint_eq(count_lines(), 0);			/* Nothing half-written. */

	__atomic_store_n(&fail_write, 0, __ATOMIC_SEQ_CST);	/* Space again. */
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_stats(a, &st);
	ck_assert(!st.failing);
	ck_assert_uint_eq(st.written, 5);			/* audit_gap + the four queued. */
	cb_audit_close(a, 1000);
	ck_assert_int_eq(verify_one(file, &v), 0);
	ck_assert_uint_eq(v.records, 5);
	read_lines();
	ck_assert_ptr_nonnull(strstr(lines[0], "\"type\":\"audit_gap\""));
	ck_assert_ptr_nonnull(strstr(lines[0], "\"dropped\":1"));
	ck_assert_ptr_nonnull(strstr(lines[4], "carol"));
}
END_TEST

START_TEST(partial_write_and_fsync_failure_leave_no_trace)
{
	cb_audit_verify_t v;
	cb_audit_stats_t st;
	cb_audit_t *a;

	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, false);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	__atomic_store_n(&partial_once, 1, __ATOMIC_SEQ_CST);
	decision(a, "alice", T0);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);		/* Half written, cut back, retried. */
	__atomic_store_n(&fail_fsync, 1, __ATOMIC_SEQ_CST);
	decision(a, "bob", T0 + 1);
	wait_failing(a);
	__atomic_store_n(&fail_fsync, 0, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_stats(a, &st);
	ck_assert_uint_ge(st.write_failures, 2);
	ck_assert_uint_eq(st.written, 3);
	cb_audit_close(a, 1000);
	ck_assert_int_eq(verify_one(file, &v), 0);
	ck_assert_uint_eq(v.records, 3);
	ck_assert_uint_eq(count_lines(), 3);
}
END_TEST

START_TEST(fail_closed_refuses_while_failing)
{
	cb_audit_event_t ev = { .type = CB_AUDIT_DECISION, .time = T0, .identity = "alice", .status = "reject",
				.reason = "audit_unavailable" };
	cb_audit_verify_t v;
	cb_audit_t *a;

	a = open_trail(CB_AUDIT_FAIL_CLOSED, 3, false);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	ck_assert(cb_audit_admit_ok(a));
	__atomic_store_n(&fail_write, EIO, __ATOMIC_SEQ_CST);
	decision(a, "alice", T0);				/* Healthy when queued. */
	wait_failing(a);
	ck_assert(!cb_audit_admit_ok(a));
	{
		/* An admission the trail cannot take is refused and NOT queued:
		 * the trail must never say someone was let on who was refused. */
		cb_audit_event_t admit = ev;

		admit.status = "admit";
		admit.reason = "acknowledged";
		admit.admission = true;
		ck_assert_int_eq(cb_audit_record(a, &admit), CB_AUDIT_REFUSE);
	}
	ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_REFUSE);	/* A reject: queued all the same. */
	ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_REFUSE);
	ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_REFUSE);	/* Full: not queued. */
	__atomic_store_n(&fail_write, 0, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	ck_assert(cb_audit_admit_ok(a));
	cb_audit_close(a, 1000);
	ck_assert_int_eq(verify_one(file, &v), 0);
	ck_assert_uint_eq(v.records, 5);			/* start, alice, 2 rejects, gap */
	ck_assert_uint_eq(count_matching("\"status\":\"admit\""), 1);	/* alice's, queued while healthy. */
}
END_TEST

START_TEST(close_reports_unwritten)
{
	cb_audit_t *a;
	cb_audit_stats_t st;

	__atomic_store_n(&fail_write, ENOSPC, __ATOMIC_SEQ_CST);
	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, false);
	decision(a, "alice", T0);
	wait_failing(a);
	cb_audit_stats(a, &st);
	ck_assert_uint_eq(st.written, 0);
	cb_audit_close(a, 30);				/* Gives up; never acknowledged, so not "lost". */
	__atomic_store_n(&fail_write, 0, __ATOMIC_SEQ_CST);
	ck_assert_uint_eq(count_lines(), 0);
}
END_TEST

/*
 *	Queries
 */
static void session(cb_audit_t *a, char const *who, char const *mac, char const *id, char const *ip, time_t start,
		    time_t stop)
{
	cb_audit_event_t ev = { .type = CB_AUDIT_SESSION_START, .time = start, .identity = who,
				.calling_station = mac, .called_station = "00-11-22-33-44-55:Staff", .nas = "10.0.0.2",
				.acct_session_id = id, .framed_ip = ip, .session_started = start };

	ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_QUEUED);
	if (!stop) return;
	ev.type = CB_AUDIT_SESSION_STOP;
	ev.time = stop;
	ev.session_stopped = stop;
	ev.stop_cause = "User-Request";
	ev.has_octets = true;
	ev.in_octets = 1000;
	ev.out_octets = 5000000000ULL;
	ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_QUEUED);
}

static cb_store_t *query_db(void)
{
	cb_store_conf_t conf = { .path = dbpath };
	char err[512];
	cb_store_t *db = cb_store_open(&conf, err, sizeof(err));

	ck_assert_msg(db != NULL, "%s", err);
	return db;
}

static void holders(cb_store_t *db, char const *ip, time_t at, time_t end, cb_audit_holders_t *h)
{
	char err[512];

	ck_assert_msg(cb_audit_ip_at(db, ip, NULL, at, end, h, err, sizeof(err)) == 0, "%s", err);
}

static void build_sessions(void)
{
	cb_audit_t *a;

	make_store();
	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, true);
	/* 10.20.30.40: alice until 10:10, then bob from 10:12. */
	session(a, "alice", "aa:bb:cc:00:00:01", "S1", "10.20.30.40", T0 - 74 * 60, T0 - 4 * 60);
	session(a, "bob", "aa-bb-cc-00-00-02", "S2", "10.20.30.40", T0 - 2 * 60, T0 + 46 * 60);
	/* 10.20.30.41: carol's Stop was lost; dave got the address at 09:30. */
	session(a, "carol", "aabb.cc00.0003", "S3", "10.20.30.41", T0 - 134 * 60, 0);
	session(a, "dave", "aabbcc000004", "S4", "10.20.30.41", T0 - 44 * 60, T0 + 60 * 60);
	/* 10.20.30.42: two sessions at once (a roaming device and a stale one). */
	session(a, "erin", "aa:bb:cc:00:00:05", "S5", "10.20.30.42", T0 - 74 * 60, T0 + 46 * 60);
	session(a, "frank", "aa:bb:cc:00:00:06", "S6", "10.20.30.42", T0 - 14 * 60, T0 + 16 * 60);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
}

START_TEST(ip_at_a_moment)
{
	cb_audit_holders_t h;
	cb_store_t *db;

	build_sessions();
	db = query_db();

	holders(db, "10.20.30.40", T0, T0 + 59, &h);		/* 10:14 */
	ck_assert_uint_eq(h.count, 1);
	ck_assert_str_eq(h.items[0].identity, "bob");
	ck_assert(h.items[0].certain);
	ck_assert_int_eq(h.items[0].started, T0 - 120);
	ck_assert_int_eq(h.items[0].stopped, T0 + 46 * 60);
	cb_audit_holders_free(&h);

	holders(db, "10.20.30.40", T0 - 4 * 60, 0, &h);	/* 10:10:00, alice's last second */
	ck_assert_uint_eq(h.count, 1);
	ck_assert_str_eq(h.items[0].identity, "alice");
	cb_audit_holders_free(&h);

	holders(db, "10.20.30.40", T0 - 3 * 60, 0, &h);	/* 10:11: nobody */
	ck_assert_uint_eq(h.count, 0);
	cb_audit_holders_free(&h);

	holders(db, "10.20.30.41", T0 - 30 * 60, 0, &h);	/* 09:44: dave, not carol */
	ck_assert_uint_eq(h.count, 1);
	ck_assert_str_eq(h.items[0].identity, "dave");
	cb_audit_holders_free(&h);

	holders(db, "10.20.30.41", T0 - 60 * 60, 0, &h);	/* 09:14: carol, superseded later */
	ck_assert_uint_eq(h.count, 1);
	ck_assert_str_eq(h.items[0].identity, "carol");
	ck_assert_int_eq(h.items[0].stopped, 0);
	ck_assert_int_eq(h.items[0].superseded, T0 - 44 * 60);
	ck_assert(!h.items[0].certain);
	cb_audit_holders_free(&h);

	holders(db, "10.20.30.42", T0, 0, &h);			/* both, latest start first */
	ck_assert_uint_eq(h.count, 2);
	ck_assert_str_eq(h.items[0].identity, "frank");
	ck_assert_str_eq(h.items[1].identity, "erin");
	ck_assert(!h.items[0].certain);
	cb_audit_holders_free(&h);

	holders(db, "10.99.99.99", T0, 0, &h);
	ck_assert_uint_eq(h.count, 0);
	cb_audit_holders_free(&h);
	cb_store_close(db);
}
END_TEST

START_TEST(query_filters_export_and_purge)
{
	cb_audit_query_t q = { .any_type = true, .type = -1 };
	cb_audit_rows_t rows;
	cb_store_t *db;
	json_object *o, *arr;
	char err[512];
	size_t removed;

	build_sessions();
	db = query_db();
	q.mac = "AA:BB:CC:00:00:04";
	ck_assert_int_eq(cb_audit_query(db, &q, &rows, err, sizeof(err)), 0);
	ck_assert_uint_eq(rows.count, 2);
	ck_assert_str_eq(rows.items[0].identity, "dave");
	ck_assert_str_eq(rows.items[0].type, "session_start");
	ck_assert_str_eq(rows.items[1].type, "session_stop");
	ck_assert_ptr_nonnull(strstr(rows.items[1].record, "\"out_octets\":5000000000"));
	cb_audit_rows_free(&rows);

	memset(&q, 0, sizeof(q));
	q.any_type = true;
	q.identity = "erin";
	q.ssid = "Staff";
	q.nas = "10.0.0.2";
	q.from = T0;
	ck_assert_int_eq(cb_audit_query(db, &q, &rows, err, sizeof(err)), 0);
	ck_assert_uint_eq(rows.count, 1);				/* the stop only */
	cb_audit_rows_free(&rows);

	memset(&q, 0, sizeof(q));
	q.type = CB_AUDIT_SESSION_STOP;
	ck_assert_int_eq(cb_audit_query(db, &q, &rows, err, sizeof(err)), 0);
	ck_assert_uint_eq(rows.count, 5);
	cb_audit_rows_free(&rows);

	q.mac = "not-a-mac";
	ck_assert_int_eq(cb_audit_query(db, &q, &rows, err, sizeof(err)), -1);

	o = cb_audit_export_person(db, "carol", err, sizeof(err));
	ck_assert_msg(o != NULL, "%s", err);
	ck_assert(json_object_object_get_ex(o, "audit", &arr));
	ck_assert_uint_eq(json_object_array_length(arr), 1);
	ck_assert(json_object_object_get_ex(o, "decisions", &arr));
	ck_assert(json_object_object_get_ex(o, "sessions", &arr));
	ck_assert(json_object_object_get_ex(o, "revocations", &arr));
	json_object_put(o);
	cb_store_close(db);

	/* Purge: everything that happened before 09:30 goes. */
	{
		cb_store_t *w = query_db();
		uint64_t seq;
		char hash[CB_AUDIT_HASH_HEX + 1];

		ck_assert_int_eq(cb_store_audit_purge(w, T0 - 44 * 60, &removed), 0);
		ck_assert_uint_eq(removed, 3);	/* alice's and erin's starts, carol's start */
		ck_assert_int_eq(cb_store_audit_purge(w, T0 - 44 * 60, &removed), 1);
		ck_assert_uint_eq(removed, 0);
		ck_assert_int_eq(cb_store_audit_last(w, &seq, hash), 0);
		ck_assert_uint_eq(seq, 12);	/* audit_start + 11 */
		cb_store_close(w);
	}
	/* The file is untouched by purge: the chain still verifies. */
	{
		cb_audit_verify_t v;

		ck_assert_int_eq(verify_one(file, &v), 0);
		ck_assert_uint_eq(v.records, 12);
	}
}
END_TEST

START_TEST(db_ahead_of_file_keeps_the_gap_visible)
{
	cb_audit_verify_t v;
	cb_audit_t *a;

	make_store();
	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, true);
	decision(a, "alice", T0);
	decision(a, "bob", T0 + 1);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
	read_lines();
	write_lines(NULL, 2, true);		/* bob's line removed from the end */
	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, true);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
	ck_assert_int_eq(verify_one(file, &v), 1);
	ck_assert_int_eq(v.bad, CB_AUDIT_BAD_GAP);
	ck_assert_uint_eq(v.line, 3);
	ck_assert_uint_eq(v.seq, 3);
}
END_TEST

/* Issue 15, item 6: an action is recorded once, by its reference, across restarts. */
START_TEST(record_once_by_reference)
{
	cb_audit_event_t ev = { .type = CB_AUDIT_REVOKE, .time = T0, .identity = "alice", .by = "it",
				.ref = "revocation:1:revoke:1795515240" };
	cb_store_conf_t conf = { .path = dbpath };
	char err[512];
	cb_store_t *db;
	cb_audit_t *a;

	make_store();
	db = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(db != NULL, "cb_store_open: %s", err);
	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, true);
	ck_assert_int_eq(cb_audit_record_once(a, db, &ev), 1);
	ck_assert_int_eq(cb_audit_record_once(a, db, &ev), 0);	/* Queued, maybe not yet in the index. */
	ev.identity = "bob";
	ev.ref = "revocation:2:revoke:1795515240";		/* Same second, another row. */
	ck_assert_int_eq(cb_audit_record_once(a, db, &ev), 1);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	ck_assert_int_eq(cb_audit_record_once(a, db, &ev), 0);
	ev.ref = NULL;
	ck_assert_int_eq(cb_audit_record_once(a, db, &ev), -1);
	cb_audit_close(a, 1000);
	ck_assert_int_eq(cb_store_audit_has_ref(db, "revocation:1:revoke:1795515240"), 1);
	ck_assert_int_eq(cb_store_audit_has_ref(db, "revocation:3:revoke:1795515240"), 0);

	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, true);	/* A restart: the index remembers. */
	ev.ref = "revocation:1:revoke:1795515240";
	ck_assert_int_eq(cb_audit_record_once(a, db, &ev), 0);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
	cb_store_close(db);
	ck_assert_uint_eq(count_matching("\"type\":\"revoke\""), 2);
	ck_assert_uint_eq(count_matching("\"ref\":\"revocation:1:revoke:1795515240\""), 1);
}
END_TEST

START_TEST(csv_cells_are_neutralised)
{
	char out[64];

	ck_assert(cb_audit_csv_cell("alice", out, sizeof(out)));
	ck_assert_str_eq(out, "alice");
	ck_assert(cb_audit_csv_cell("=HYPERLINK(\"http://x\")", out, sizeof(out)));
	ck_assert_str_eq(out, "\"'=HYPERLINK(\"\"http://x\"\")\"");
	ck_assert(cb_audit_csv_cell("+1", out, sizeof(out)));
	ck_assert_str_eq(out, "'+1");
	ck_assert(cb_audit_csv_cell("-2+3", out, sizeof(out)));
	ck_assert_str_eq(out, "'-2+3");
	ck_assert(cb_audit_csv_cell("@SUM(A1)", out, sizeof(out)));
	ck_assert_str_eq(out, "'@SUM(A1)");
	ck_assert(cb_audit_csv_cell("\tx", out, sizeof(out)));
	ck_assert_str_eq(out, "\\x09x");
	ck_assert(cb_audit_csv_cell("a,b", out, sizeof(out)));
	ck_assert_str_eq(out, "\"a,b\"");
	ck_assert(cb_audit_csv_cell("line\nbreak\r", out, sizeof(out)));
	ck_assert_str_eq(out, "line\\x0abreak\\x0d");
	ck_assert(cb_audit_csv_cell("", out, sizeof(out)));
	ck_assert_str_eq(out, "");
	ck_assert(cb_audit_csv_cell("a=b", out, sizeof(out)));
	ck_assert_str_eq(out, "a=b");
	ck_assert(!cb_audit_csv_cell("=\"\"\"\"", out, 8));
	ck_assert_str_eq(out, "");
}
END_TEST

/* Issue 15, item 12: no control byte reaches a CSV file (and the terminal that shows it). */
START_TEST(csv_cells_hold_no_control_bytes)
{
	char const *hostile = "\x1b[2J\x1b]0;owned\x07" "anon\x7f\xc2\x9b" "6n\x9b\x01\r\n=1+1";
	char out[CB_AUDIT_CSV_LEN(64)];

	ck_assert(cb_audit_csv_cell(hostile, out, sizeof(out)));
	ck_assert_str_eq(out, "\\x1b[2J\\x1b]0;owned\\x07anon\\x7f\\xc2\\x9b" "6n\\x9b\\x01\\x0d\\x0a=1+1");
	for (char const *p = out; *p; p++) {
		unsigned char c = (unsigned char) *p;

		ck_assert_msg(c >= 0x20 && c != 0x7f && c < 0x80, "control or high byte 0x%02x in %s", c, out);
	}
	ck_assert(cb_audit_csv_cell("\x1b=cmd", out, sizeof(out)));	/* Escaped first: no longer starts with '='. */
	ck_assert_str_eq(out, "\\x1b=cmd");
	ck_assert(cb_audit_csv_cell("=\x1b", out, sizeof(out)));
	ck_assert_str_eq(out, "'=\\x1b");
	ck_assert(cb_audit_csv_cell("\xc3\x89lise", out, sizeof(out)));	/* Printable UTF-8 stays. */
	ck_assert_str_eq(out, "\xc3\x89lise");
	ck_assert(!cb_audit_csv_cell("\x1b\x1b", out, 8));		/* 8 escaped bytes + NUL do not fit in 8. */
	ck_assert(cb_audit_csv_cell("\x1b\x1b", out, CB_AUDIT_CSV_LEN(2)));
}
END_TEST

START_TEST(macs_normalise)
{
	char m[18];

	/* audit query --mac uses the one MAC rule of base/mac.h. */
	ck_assert(cb_mac_normalise("aa:bb:cc:dd:ee:ff", m));
	ck_assert_str_eq(m, "AA-BB-CC-DD-EE-FF");
	ck_assert(cb_mac_normalise("AABB.CCDD.EEFF", m));
	ck_assert_str_eq(m, "AA-BB-CC-DD-EE-FF");
	ck_assert(cb_mac_normalise("aabbccddeeff", m));
	ck_assert(!cb_mac_normalise("aabbccddeef", m));
	ck_assert(!cb_mac_normalise("aabbccddeeff00", m));
	ck_assert(!cb_mac_normalise(":aabbccddeeff", m));
	ck_assert(!cb_mac_normalise("aa::bbccddeeff", m));
	ck_assert(!cb_mac_normalise("gg:bb:cc:dd:ee:ff", m));
}
END_TEST

START_TEST(hostile_text_is_recorded_safely)
{
	cb_audit_event_t ev = { .type = CB_AUDIT_DECISION, .time = T0, .identity = "bad\xff\xfe\"}\n{\"seq\":1",
				.reason = "x" };
	char big[3000];
	cb_audit_verify_t v;
	cb_audit_t *a;

	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev.detail = big;
	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, false);
	ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_QUEUED);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
	ck_assert_int_eq(verify_one(file, &v), 0);
	ck_assert_uint_eq(count_lines(), 2);
	ck_assert_ptr_nonnull(strstr(lines[1], "\"truncated\":true"));
	ck_assert_ptr_nonnull(strstr(lines[1], "bad\xef\xbf\xbd\xef\xbf\xbd\\\"}\\n{\\\"seq\\\":1"));
}
END_TEST

START_TEST(schema_matches_file)
{
	char const *srcdir = getenv("srcdir");
	char path[1024], *buf;
	FILE *fp;
	long len;

	snprintf(path, sizeof(path), "%s/schema/sql/audit.sql", srcdir ? srcdir : ".");
	fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = calloc(1, (size_t) len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t) len, fp), (size_t) len);
	fclose(fp);
	ck_assert_str_eq(cb_store_audit_schema(), buf);
	free(buf);
}
END_TEST

START_TEST(line_parse_alone)
{
	cb_audit_line_t l;
	char *p;

	write_trail(1);
	read_lines();
	ck_assert_int_eq(cb_audit_line_parse(lines[1], strlen(lines[1]) - 1, &l), CB_AUDIT_OK);
	ck_assert_uint_eq(l.seq, 2);
	ck_assert(strstr(lines[1], l.hash) != NULL);
	ck_assert(strstr(lines[0], l.prev) != NULL);	/* seq 1's hash. */
	p = strstr(lines[1], "\"alice\"");
	ck_assert_ptr_nonnull(p);
	memcpy(p, "\"eve\"  ", 7);
	ck_assert_int_eq(cb_audit_line_parse(lines[1], strlen(lines[1]) - 1, &l), CB_AUDIT_BAD_HASH);
	ck_assert_uint_eq(l.seq, 2);
	ck_assert_int_eq(cb_audit_line_parse("[1]", 3, &l), CB_AUDIT_BAD_SYNTAX);
	ck_assert(!l.is_object);
	ck_assert_int_eq(cb_audit_line_parse("{\"seq\":1}", 9, &l), CB_AUDIT_BAD_SYNTAX);
	ck_assert(l.is_object);
	ck_assert_int_eq(cb_audit_line_parse("{\"seq\":1}x", 10, &l), CB_AUDIT_BAD_SYNTAX);
	ck_assert(!l.is_object);
}
END_TEST

/*
 *	The index catches up with the file (issue 15, item 11)
 */

/** file_records - complete lines in path (0 when it does not exist). */
static uint64_t file_records(char const *path)
{
	FILE *fp = fopen(path, "r");
	uint64_t n = 0;
	int c;

	if (!fp) return 0;
	while ((c = getc(fp)) != EOF) n += c == '\n';
	fclose(fp);
	return n;
}

/** sql - run one statement on dbpath from a connection of the test's own (another process's view). */
static void sql(char const *stmt)
{
	sqlite3 *db;
	char *msg = NULL;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_msg(sqlite3_exec(db, stmt, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", stmt, msg ? msg : "?");
	sqlite3_close(db);
}

/** index_rows - the index's rows, distinct seqs, lowest and highest seq. */
static void index_rows(uint64_t out[4])
{
	sqlite3 *db;
	sqlite3_stmt *st;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM audit",
					    -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	for (int i = 0; i < 4; i++) out[i] = (uint64_t) sqlite3_column_int64(st, i);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/** wait_indexed - until the index holds want rows (the catch-up is bounded per pass); its rows then. */
static void wait_indexed(uint64_t want, uint64_t out[4])
{
	for (int i = 0; i < 1000; i++) {
		index_rows(out);
		if (out[0] >= want) return;
		usleep(5000);
	}
}

/* The database refuses audit rows (as a full disk does) while the file takes them. */
#define REFUSE_ROWS	"CREATE TRIGGER test_full BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
#define ACCEPT_ROWS	"DROP TRIGGER test_full"

START_TEST(index_catches_up_after_the_database_fails)
{
	char rotated[600];
	uint64_t r[4], in_files;
	cb_audit_t *a;
	int i;

	make_store();
	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, true);
	for (i = 0; i < 5; i++) decision(a, "alice", T0 + i);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	index_rows(r);
	ck_assert_uint_eq(r[0], 6);

	sql(REFUSE_ROWS);
	for (i = 0; i < 300; i++) decision(a, "bob", T0 + 10 + i);	/* More than one batch. */
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	/* Rotated meanwhile: the records the index lacks are in <file>.1 and in the new file. */
	snprintf(rotated, sizeof(rotated), "%s.1", file);
	ck_assert_int_eq(rename(file, rotated), 0);
	cb_audit_reopen(a);
	for (i = 0; i < 20; i++) decision(a, "carol", T0 + 400 + i);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	index_rows(r);
	ck_assert_uint_eq(r[0], 6);

	sql(ACCEPT_ROWS);					/* The disk has room again. */
	for (i = 0; i < 700; i++) decision(a, "dave", T0 + 500 + i);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	in_files = file_records(rotated) + file_records(file);
	ck_assert_uint_eq(in_files, 1026);
	wait_indexed(in_files, r);
	ck_assert_uint_eq(r[0], in_files);			/* Every record, */
	ck_assert_uint_eq(r[1], in_files);			/* once, */
	ck_assert_uint_eq(r[2], 1);				/* in the order of the chain. */
	ck_assert_uint_eq(r[3], in_files);

	/* Idle: the periodic retry catches up without new records. */
	sql(REFUSE_ROWS);
	for (i = 0; i < 10; i++) decision(a, "erin", T0 + 1300 + i);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	sql(ACCEPT_ROWS);
	wait_indexed(in_files + 10, r);
	ck_assert_uint_eq(r[0], in_files + 10);
	ck_assert_uint_eq(r[1], in_files + 10);

	/* Closed while behind (or a crash between the file's write and the
	 * index's commit): the next start catches up before its first record. */
	sql(REFUSE_ROWS);
	for (i = 0; i < 10; i++) decision(a, "frank", T0 + 1400 + i);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
	sql(ACCEPT_ROWS);
	index_rows(r);
	ck_assert_uint_eq(r[0], in_files + 10);
	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, true);
	index_rows(r);
	/* Caught up at start-up: the 10 records the index refused; the new
	 * writer's audit_start may already be indexed too (its thread runs). */
	ck_assert_uint_ge(r[0], in_files + 20);
	ck_assert_uint_le(r[0], in_files + 21);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
	in_files = file_records(rotated) + file_records(file);
	index_rows(r);
	ck_assert_uint_eq(r[0], in_files);
	ck_assert_uint_eq(r[1], in_files);
	ck_assert_uint_eq(r[3], in_files);
}
END_TEST

/*
 *	The index thread (indexer.c): it reads the file, so a lagging index is
 *	a number in the stats, not records held in memory; cb_audit_index_update
 *	(what cetbyodctl runs before a query) copies what the index lacks.
 */
/** paced - n decisions from t0 on, flushed every 50 (a ring of 64; the index failing is not waited for). */
static void paced(cb_audit_t *a, char const *who, time_t t0, int n)
{
	for (int i = 0; i < n; i++) {
		if (i % 50 == 0) ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
		decision(a, who, t0 + i);
	}
}

/** alter_last_line - the file's last line with from replaced by to (the same length): its hash no longer matches. */
static void alter_last_line(char const *from, char const *to)
{
	FILE *fp = fopen(file, "r+");
	static char buf[1 << 20];
	size_t n;
	char *last, *at;

	ck_assert_ptr_nonnull(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	ck_assert(n > 1 && buf[n - 1] == '\n');
	buf[n - 1] = '\0';
	last = strrchr(buf, '\n');
	last = last ? last + 1 : buf;
	at = strstr(last, from);
	ck_assert_ptr_nonnull(at);
	memcpy(at, to, strlen(to));
	ck_assert_int_eq(fseek(fp, at - buf, SEEK_SET), 0);
	ck_assert_uint_eq(fwrite(to, 1, strlen(to), fp), strlen(to));
	fclose(fp);
}

/** lag_gone - until the index thread has copied everything (5 s at most); the stats then say so. */
static void lag_gone(cb_audit_t *a)
{
	cb_audit_stats_t st;

	for (int i = 0; i < 1000; i++) {
		cb_audit_stats(a, &st);
		if (st.index_lag == 0) break;
		usleep(5000);
	}
	ck_assert_uint_eq(st.index_lag, 0);
	ck_assert_uint_eq(st.index_lag_ms, 0);
}

START_TEST(index_lag_is_counted_not_queued)
{
	cb_store_conf_t conf = { .path = dbpath };
	cb_audit_stats_t st;
	char err[4096];
	uint64_t r[4], copied = 0, in_file;
	cb_store_t *db;
	cb_audit_t *a;
	int64_t t0;
	int i;

	make_store();
	a = open_trail(CB_AUDIT_FAIL_OPEN, 64, true);		/* A ring of 64: the lag is not held in it. */
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_stats(a, &st);
	ck_assert_uint_eq(st.index_lag, 0);
	ck_assert_uint_eq(st.index_lag_ms, 0);

	sql(REFUSE_ROWS);
	paced(a, "storm", T0, 1000);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	usleep(20000);
	cb_audit_stats(a, &st);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_eq(st.index_lag, 1000);
	ck_assert_uint_ge(st.index_lag_ms, 20);
	index_rows(r);
	ck_assert_uint_eq(r[0], 1);

	sql(ACCEPT_ROWS);
	lag_gone(a);
	index_rows(r);
	ck_assert_uint_eq(r[0], 1001);

	/* Another copier (cetbyodctl audit query) racing the thread: each record once, no lag left. */
	sql(REFUSE_ROWS);
	paced(a, "race", T0 + 1500, 200);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	sql(ACCEPT_ROWS);
	db = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(db != NULL, "cb_store_open: %s", err);
	i = cb_audit_index_update(db, file, NULL, 100000, &copied, err, sizeof(err));
	ck_assert_msg(i == 0 || i == -1, "%d: %s", i, err);	/* -1: the thread took the same rows first. */
	cb_store_close(db);
	lag_gone(a);
	index_rows(r);
	ck_assert_uint_eq(r[0], 1201);
	ck_assert_uint_eq(r[1], 1201);

	/* A line altered before the index took it: the copy stops there, then takes new records again. */
	sql(REFUSE_ROWS);
	paced(a, "alt", T0 + 1800, 10);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	alter_last_line("\"admit\"", "\"ADMIT\"");
	/* A retry pass of the index may have read the line before it was altered: it ends, refused, before the
	 * store takes rows again (else it would copy the line as written, which is sound but not this test). */
	cb_clock_sleep_ms(test_slack_ms(200));
	sql(ACCEPT_ROWS);
	lag_gone(a);						/* Past the altered last line: no lag left, */
	t0 = cb_clock_ms();
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	ck_assert_int_lt(cb_clock_ms() - t0, 1000 + slack_ms());	/* and a flush does not wait for it. */
	index_rows(r);
	ck_assert_uint_eq(r[0], 1201 + 9);
	paced(a, "after", T0 + 1900, 5);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	lag_gone(a);
	index_rows(r);
	ck_assert_uint_eq(r[3], file_records(file));		/* The newest record is in the index, */
	ck_assert_uint_eq(r[0], 1201 + 9 + 5);			/* the altered one is not. */

	/* Closed while the index refuses: cetbyodctl's update copies the rest from the file. */
	sql(REFUSE_ROWS);
	paced(a, "late", T0 + 2000, 300);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 200);
	sql(ACCEPT_ROWS);
	in_file = file_records(file);
	index_rows(r);
	ck_assert_uint_lt(r[0], in_file);
	db = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(db != NULL, "cb_store_open: %s", err);
	ck_assert_int_eq(cb_audit_index_update(db, file, NULL, 100, &copied, err, sizeof(err)), 1);	/* Bounded. */
	ck_assert_uint_eq(copied, 100);
	ck_assert_msg(cb_audit_index_update(db, file, NULL, 100000, &copied, err, sizeof(err)) == 0, "%s", err);
	cb_store_close(db);
	index_rows(r);
	ck_assert_uint_eq(r[0], in_file - 1);			/* All but the altered record, */
	ck_assert_uint_eq(r[1], in_file - 1);			/* each once, */
	ck_assert_uint_eq(r[3], in_file);			/* up to the last. */
}
END_TEST

/** burst - decisions for ms milliseconds, about one a millisecond (far above the test's busy rate). */
static void burst(cb_audit_t *a, char const *who, int ms)
{
	int64_t end = cb_clock_ms() + ms;

	for (int i = 0; cb_clock_ms() < end; i++) {
		decision(a, who, T0 + i);
		usleep(1000);
	}
}

static uint64_t lag_of(cb_audit_t *a)
{
	cb_audit_stats_t st;

	cb_audit_stats(a, &st);
	return st.index_lag;
}

/*
 * audit { index_defer }: while the trail is written faster than the busy
 * rate, the index waits (the file has every record); a flush ends the
 * wait at once; when the burst is over, the index catches up by itself.
 */
START_TEST(index_waits_while_busy)
{
	cb_audit_conf_t conf = {
		.path = file, .db_path = dbpath, .retry_ms = 5, .retry_max_ms = 20, .index_defer = 10,
		.index_busy_rate = 20,	/* A burst well above it even under valgrind. */
	};
	char err[512];
	uint64_t r[4], lag;
	int64_t t0, waited;
	cb_audit_t *a;

	make_store();
	a = cb_audit_open(&conf, err, sizeof(err));
	ck_assert_msg(a != NULL, "cb_audit_open: %s", err);

	burst(a, "busy", 1500);			/* The rate is known after 100 ms: the rest waits. */
	t0 = cb_clock_ms();
	lag = lag_of(a);
	ck_assert_uint_gt(lag, 20);
	usleep(300000);
	if (cb_clock_ms() - t0 < 900) {		/* Unless this thread was held up past the writer's quiet second: */
		ck_assert_uint_ge(lag_of(a), lag);	/* still waiting, the writer was busy less than a second ago. */
	}
	ck_assert_uint_ge(file_records(file), lag);

	/* A waiter does not wait for the deferral, which ends index_defer (10 s) after the burst began,
	 * 8.5 s from here: the copy itself, at nice 19, may take seconds beside a CPU hog under ASan. */
	t0 = cb_clock_ms();
	ck_assert_int_eq(cb_audit_flush(a, 7000 + (unsigned int) slack_ms()), 0);
	waited = cb_clock_ms() - t0;
	ck_assert_msg(waited < 7000 + slack_ms(), "the flush waited %" PRId64 " ms for a deferred index", waited);
	ck_assert_uint_eq(lag_of(a), 0);
	index_rows(r);
	ck_assert_uint_eq(r[0], file_records(file));

	burst(a, "again", 1500);
	ck_assert_uint_gt(lag_of(a), 20);
	t0 = cb_clock_ms();
	/* The copy runs at nice 19: a loaded machine (the CI's package and fuzzing jobs) may give it
	 * little of a core, so the wait is long; it normally ends about a second after the burst. */
	while (lag_of(a) && cb_clock_ms() - t0 < 20000 + slack_ms()) usleep(10000);
	waited = cb_clock_ms() - t0;
	ck_assert_uint_eq(lag_of(a), 0);		/* Caught up once the burst was over, */
	ck_assert_msg(waited >= 300, "the index copied at once after the burst (%" PRId64 " ms)", waited);
	index_rows(r);
	ck_assert_uint_eq(r[0], file_records(file));	/* every record, */
	ck_assert_uint_eq(r[1], r[0]);			/* each once. */
	cb_audit_close(a, 1000);
}
END_TEST

/** rollback_after - end the raw connection's transaction after 300 ms (a store writer holding the lock). */
static void *rollback_after(void *arg)
{
	usleep(300000);
	sqlite3_exec(arg, "ROLLBACK", NULL, NULL, NULL);
	return NULL;
}

/** backlog - n decisions in the file that the index lacks: written by a trail without the index. */
static void backlog(int n)
{
	cb_audit_t *a = open_trail(CB_AUDIT_FAIL_OPEN, 0, true);

	decision(a, "indexed", T0);		/* An index with rows catches up from the file; an empty one does not. */
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
	a = open_trail(CB_AUDIT_FAIL_OPEN, 4096, false);
	for (int i = 0; i < n; i++) {
		decision(a, "burst", T0 + i);
		if (i % 2048 == 2047) ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);	/* The queue holds 4,096. */
	}
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
}

/*
 * The index steps back for the store's writers: opened while another
 * connection holds the store's write lock (as accounting's commits do),
 * the index copies one transaction of its backlog and then waits
 * (index_yield_ms) instead of keeping the lock busy; a caller waiting for
 * the index (a flush) ends the wait, and everything is copied once.
 */
START_TEST(index_steps_back_for_store_writers)
{
	cb_audit_conf_t conf = { .path = file, .db_path = dbpath, .retry_ms = 5, .retry_max_ms = 20,
				 .index_yield_ms = 60000 };
	char err[512];
	uint64_t r[4], lag0, lag1;
	int64_t t0;
	sqlite3 *db;
	pthread_t t;
	cb_audit_t *a;

	make_store();
	backlog(4096 + 1000);		/* The open copies 4096 itself (startup_catch_up); the thread the rest. */
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(pthread_create(&t, NULL, rollback_after, db), 0);
	a = cb_audit_open(&conf, err, sizeof(err));	/* Its copy waits for the lock: contended. */
	ck_assert_msg(a != NULL, "cb_audit_open: %s", err);
	pthread_join(t, NULL);
	lag0 = lag_of(a);
	ck_assert_uint_gt(lag0, 500);
	/* The thread's first pass (one transaction: a writer had waited), at nice 19, then nothing. */
	t0 = cb_clock_ms();
	while ((lag1 = lag_of(a)) >= lag0 && cb_clock_ms() - t0 < 20000 + slack_ms()) usleep(10000);
	ck_assert_msg(lag1 > 0 && lag1 < lag0 && lag0 - lag1 <= 256, "the index copied %" PRIu64 " of %" PRIu64
		      " records while a store writer had waited for it", lag0 - lag1, lag0);
	usleep(500000);
	ck_assert_uint_eq(lag_of(a), lag1);		/* Still stepping back. */

	/* A waiter ends it (the copy is at nice 19: generous beside a CPU hog under ASan). */
	ck_assert_int_eq(cb_audit_flush(a, 30000 + (unsigned int) slack_ms()), 0);
	ck_assert_uint_eq(lag_of(a), 0);
	index_rows(r);
	ck_assert_uint_eq(r[0], file_records(file));	/* Every record, */
	ck_assert_uint_eq(r[1], r[0]);			/* each once. */
	sqlite3_close(db);
	cb_audit_close(a, 1000);
}
END_TEST

/** file_matching - the trail's lines (any number) holding needle. */
static size_t file_matching(char const *needle)
{
	FILE *fp = fopen(file, "r");
	char line[8192];
	size_t n = 0;

	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp)) n += strstr(line, needle) != NULL;
	fclose(fp);
	return n;
}

/*
 * An action among records the index did not take before a restart, beyond
 * the start-up pass's 4,096: still recorded once (refscan.c).
 */
START_TEST(record_once_past_the_startup_pass)
{
	cb_audit_event_t ev = { .type = CB_AUDIT_REVOKE, .time = T0, .identity = "carol", .by = "it",
				.ref = "revocation:7:revoke:1795515240" };
	cb_store_conf_t conf = { .path = dbpath };
	char err[512];
	uint64_t r[4];
	cb_store_t *db;
	cb_audit_t *a;

	make_store();
	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, true);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	sql(REFUSE_ROWS);				/* The index takes nothing: it lags the file. */
	paced(a, "early", T0, 5000);
	db = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(db != NULL, "cb_store_open: %s", err);
	ck_assert_int_eq(cb_audit_record_once(a, db, &ev), 1);
	paced(a, "late", T0 + 6000, 50);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 200);
	sql(ACCEPT_ROWS);
	index_rows(r);
	ck_assert_uint_lt(r[0], 5000);

	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, true);	/* Copies 4,096 at start: the action is after them. */
	ck_assert_int_eq(cb_store_audit_has_ref(db, ev.ref), 0);
	ck_assert_int_eq(cb_audit_record_once(a, db, &ev), 0);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	ck_assert_int_eq(cb_store_audit_has_ref(db, ev.ref), 1);
	ck_assert_int_eq(cb_audit_record_once(a, db, &ev), 0);
	cb_audit_close(a, 1000);
	cb_store_close(db);
	ck_assert_uint_eq(file_matching("\"ref\":\"revocation:7:revoke:1795515240\""), 1);
}
END_TEST

START_TEST(index_count_by_seq)
{
	cb_store_conf_t conf = { .path = dbpath };
	char err[512];
	uint64_t count, first;
	cb_store_t *db;
	cb_audit_t *a;

	make_store();
	a = open_trail(CB_AUDIT_FAIL_OPEN, 0, true);
	for (int i = 0; i < 9; i++) decision(a, "alice", T0 + i);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	cb_audit_close(a, 1000);
	sql("DELETE FROM audit WHERE seq IN (1, 5)");
	db = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(db != NULL, "cb_store_open: %s", err);
	ck_assert_int_eq(cb_store_audit_count(db, 1, 10, &count, &first), 0);
	ck_assert_uint_eq(count, 8);
	ck_assert_uint_eq(first, 2);
	ck_assert_int_eq(cb_store_audit_count(db, 6, 100, &count, &first), 0);
	ck_assert_uint_eq(count, 5);
	ck_assert_uint_eq(first, 6);
	ck_assert_int_eq(cb_store_audit_count(db, 11, 20, &count, &first), 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_uint_eq(first, 0);
	cb_store_close(db);
}
END_TEST

/*
 *	The writer builds the canonical form directly (chain.c chain_rec): the
 *	same bytes and hash as the canonical form verify computes, and the
 *	object it hands to the index holds what the line holds.
 */
static void chain_line_is_canonical_with(cb_audit_key_t const *key)
{
	json_object *f = json_object_new_object(), *rec = NULL, *parsed;
	char *line = NULL, hash[CB_AUDIT_HASH_HEX + 1], again[CB_AUDIT_HASH_HEX + 1];
	size_t len = 0;

	/* Members added out of order, some sorting before and after the writer's own (seq, prev, chain). */
	json_object_object_add(f, "type", json_object_new_string("decision"));
	json_object_object_add(f, "zz_last", json_object_new_int64(-7));
	json_object_object_add(f, "identity", json_object_new_string("al\xc3\xa9 \"q\" \\ /"));
	json_object_object_add(f, "a_first", json_object_new_boolean(1));
	json_object_object_add(f, "ref", json_object_new_string("r"));
	json_object_object_add(f, "seq", json_object_new_int64(999));	/* Replaced, not doubled. */
	json_object_object_add(f, "pra", json_object_new_string("sorts before prev"));
	ck_assert_int_eq(cb_audit_chain_line(f, 42, "abc", key, &line, &len, hash, &rec), 0);
	ck_assert_uint_eq(strlen(line), len);
	ck_assert(line[len - 1] == '\n');
	parsed = json_tokener_parse(line);
	ck_assert_ptr_nonnull(parsed);
	ck_assert_int_eq(cb_audit_line_mac(parsed, key, again), 0);
	ck_assert_str_eq(again, hash);
	ck_assert(json_object_equal(parsed, rec));
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(rec, "seq")), 42);
	ck_assert(strncmp(line, "{\"a_first\":true,", strlen("{\"a_first\":true,")) == 0);
	ck_assert_ptr_nonnull(strstr(line, "\"zz_last\":-7,\"hash\":\""));
	ck_assert_int_eq(json_object_object_length(f), 7);		/* fields not changed. */
	json_object_put(parsed);
	json_object_put(rec);
	free(line);
	/* A value the canonical form refuses is refused here too. */
	json_object_object_add(f, "d", json_object_new_double(1.5));
	ck_assert_int_eq(cb_audit_chain_line(f, 43, "abc", key, &line, &len, hash, NULL), -1);
	json_object_put(f);
}

START_TEST(chain_line_is_canonical)
{
	cb_audit_key_t k = test_key('k');

	chain_line_is_canonical_with(NULL);
	chain_line_is_canonical_with(&k);
}
END_TEST

/*
 *	The writer's line for an event (cb_audit_chain_event: one object built
 *	in sorted order) is the line cb_audit_chain_line makes from
 *	cb_audit_event_json's object, byte for byte, appended after what the
 *	buffer held: with an object of its own, and through one scratch kept
 *	across records as the writer keeps it (a rich record, a sparse one,
 *	the rich one again, the sparse one again: nothing of one is left in
 *	the next).
 */
static void chain_event_is_chain_line_with(cb_audit_key_t const *key)
{
	char long_text[CB_AUDIT_FIELD_MAX + 50];
	cb_audit_event_t const rich = {
		.type = CB_AUDIT_SESSION_STOP, .time = T0, .identity = "al\xc3\xa9\xff \"q\" \\ /",
		.outer_identity = "anonymous", .calling_station = "aa:bb:cc:00:11:22",
		.called_station = "00-11-22-33-44-55:Staff", .nas = "10.0.0.2", .class_id = "c1",
		.acct_session_id = "s1", .framed_ip = "10.20.30.40", .status = "admit", .reason = "acknowledged",
		.ack_time = T0 - 60, .policy_version = "2026", .expiry = T0 + 60, .role = "staff", .vlan = "20",
		.vlan_why = "role", .session_started = T0 - 10, .stop_cause = "User-Request", .has_octets = true,
		.in_octets = 1ULL << 40, .out_octets = 7, .by = "admin", .why = long_text, .approved_by = "head",
		.until = T0 + 3600, .result = "ack", .has_counts = true, .people = 3, .agreed = 2, .added = 1,
		.removed = 0, .errors = 1, .kind = "k", .attempt = 2, .error_cause = 503, .detail = "d", .ref = "r:1",
		.count = 4, .first = T0 - 5, .last = T0,
	};
	/* A sparse event too: a decision with the fields of a refusal only. */
	cb_audit_event_t const sparse = { .type = CB_AUDIT_DECISION, .time = T0, .identity = "bob", .status = "reject" };
	cb_audit_event_t const *evs[] = { &rich, &sparse, &rich, &sparse };
	cb_audit_scratch_t *sc = cb_audit_scratch_new();

	ck_assert_ptr_nonnull(sc);
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		json_object *f = cb_audit_event_json(evs[i], T0);
		char *line = NULL, hash[CB_AUDIT_HASH_HEX + 1];
		size_t len = 0;

		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(cb_audit_chain_line(f, 77, "abc", key, &line, &len, hash, NULL), 0);
		ck_assert(evs[i] != &rich || strstr(line, "\"truncated\":true") != NULL);
		for (int kept = 0; kept < 2; kept++) {
			char *buf = malloc(4), hash2[CB_AUDIT_HASH_HEX + 1];
			size_t blen = 3, alloc = 4;

			ck_assert_ptr_nonnull(buf);
			memcpy(buf, "old", 3);
			ck_assert_int_eq(cb_audit_chain_event(evs[i], 77, "abc", key, kept ? sc : NULL, &buf, &blen, &alloc,
							      hash2), 0);
			ck_assert_str_eq(hash2, hash);
			ck_assert_uint_eq(blen, 3 + len);
			ck_assert(memcmp(buf, "old", 3) == 0);
			ck_assert(memcmp(buf + 3, line, len) == 0);
			free(buf);
		}
		free(line);
		json_object_put(f);
	}
	cb_audit_scratch_free(sc);
}

/*
 *	audit { batch_wait_ms }: a record after an idle spell is written at
 *	once; records that follow within the wait go to one write and one
 *	fsync (without it the writer takes them as they come, an fsync each
 *	few).
 */
START_TEST(batch_wait_gathers)
{
	cb_audit_conf_t conf = { .path = file, .batch_wait_ms = 1000, .io = { .write = t_write, .fsync = t_fsync } };
	char err[512];
	cb_audit_t *a = cb_audit_open(&conf, err, sizeof(err));
	int64_t t0;
	int before;

	ck_assert_msg(a != NULL, "cb_audit_open: %s", err);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);		/* audit_start written. */
	cb_clock_sleep_ms(1100);					/* Idle, past the wait. */
	t0 = cb_clock_ms();
	decision(a, "alice", T0);
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	ck_assert_int_lt(cb_clock_ms() - t0, 1000);			/* Not held for the wait. */
	before = __atomic_load_n(&fsyncs, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 20; i++) {
		decision(a, "bob", T0 + 1 + i);
		cb_clock_sleep_ms(2);
	}
	ck_assert_int_eq(cb_audit_flush(a, FLUSH_MS), 0);
	ck_assert_int_eq(__atomic_load_n(&fsyncs, __ATOMIC_SEQ_CST) - before, 1);
	cb_audit_close(a, 1000);
	ck_assert_uint_eq(count_lines(), 22);
}
END_TEST

START_TEST(chain_event_is_chain_line)
{
	cb_audit_key_t k = test_key('k');

	chain_event_is_chain_line_with(NULL);
	chain_event_is_chain_line_with(&k);
}
END_TEST

/*
 *	A record read back in the writer's order is hashed from its own text
 *	(chain.c in_order); in any other order through a sorted copy: the same
 *	hash either way, and the same refusal of a value the form refuses.
 */
START_TEST(line_hash_any_order)
{
	json_object *o, *r;
	char want[CB_AUDIT_HASH_HEX + 1], got[CB_AUDIT_HASH_HEX + 1];
	char const *orders[][6] = {
		{ "zeta", "seq", "hash", "alpha", "prev", NULL },	/* Unsorted, "hash" inside. */
		{ "hash", "alpha", "prev", "seq", "zeta", NULL },	/* Sorted, "hash" first. */
		{ "alpha", "prev", "seq", "zeta", NULL, NULL },	/* Sorted, no "hash". */
		{ "alpha", "prev", "seq", "zeta", "hash", NULL },	/* Sorted, "hash" last: its own text. */
	};

	write_trail(3);
	read_lines();
	lines[1][strcspn(lines[1], "\n")] = '\0';
	o = json_tokener_parse(lines[1]);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(cb_audit_line_hash(o, want), 0);
	ck_assert_str_eq(want, json_object_get_string(json_object_object_get(o, "hash")));
	json_object_put(o);
	/* Members of chosen names, in several orders. */
	o = json_object_new_object();
	json_object_object_add(o, "alpha", json_object_new_string("a\"\\/\xc3\xa9"));
	json_object_object_add(o, "prev", json_object_new_string(CB_AUDIT_ZERO_HASH));
	json_object_object_add(o, "seq", json_object_new_int64(5));
	json_object_object_add(o, "zeta", json_object_new_boolean(0));
	ck_assert_int_eq(cb_audit_line_hash(o, want), 0);
	for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		r = json_object_new_object();
		for (size_t j = 0; orders[i][j]; j++) {
			json_object *v = strcmp(orders[i][j], "hash") == 0 ?
					 json_object_new_string("0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF") :
					 json_object_get(json_object_object_get(o, orders[i][j]));

			json_object_object_add(r, orders[i][j], v);
		}
		ck_assert_int_eq(cb_audit_line_hash(r, got), 0);
		ck_assert_str_eq(got, want);
		/* "hash" last but not hex digits: through the sorted copy, same hash. */
		json_object_object_add(r, "hash", json_object_new_string("not \"hex\""));
		ck_assert_int_eq(cb_audit_line_hash(r, got), 0);
		ck_assert_str_eq(got, want);
		json_object_put(r);
	}
	/* Only "hash": the canonical form is {}. */
	r = json_object_new_object();
	json_object_object_add(r, "hash", json_object_new_string(CB_AUDIT_ZERO_HASH));
	ck_assert_int_eq(cb_audit_line_hash(r, got), 0);
	json_object_put(r);
	r = json_object_new_object();
	ck_assert_int_eq(cb_audit_line_hash(r, want), 0);
	ck_assert_str_eq(got, want);
	/* A double, in order or not, is refused. */
	json_object_object_add(r, "d", json_object_new_double(1.5));
	ck_assert_int_eq(cb_audit_line_hash(r, got), -1);
	json_object_object_add(r, "a", json_object_new_int(1));
	ck_assert_int_eq(cb_audit_line_hash(r, got), -1);
	json_object_put(r);
	json_object_put(o);
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("audit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 90);	/* Each test; index_waits_while_busy and index_steps_back_for_store_writers may
					 * wait 20 s and more on a loaded machine. */
	tcase_add_test(tc, chain_verifies);
	tcase_add_test(tc, batch_wait_gathers);
	tcase_add_test(tc, edited_line_fails_there);
	tcase_add_test(tc, edited_and_rehashed_fails_at_next);
	tcase_add_test(tc, deleted_line_fails_there);
	tcase_add_test(tc, reordered_line_fails_there);
	tcase_add_test(tc, truncated_last_line_fails_there);
	tcase_add_test(tc, line_parse_alone);
	tcase_add_test(tc, chain_line_is_canonical);
	tcase_add_test(tc, chain_event_is_chain_line);
	tcase_add_test(tc, line_hash_any_order);
	tcase_add_test(tc, keyed_chain_verifies_and_catches_rewrites);
	tcase_add_test(tc, keyed_chain_rewritten_plain_fails);
	tcase_add_test(tc, key_file_checks);
	tcase_add_test(tc, live_trail_pending_line_and_anchor);
	tcase_add_test(tc, restart_cuts_unfinished_line_and_continues);
	tcase_add_test(tc, rotation_continues_the_chain);
	tcase_add_test(tc, fail_open_keeps_admitting_and_loses_nothing_acknowledged);
	tcase_add_test(tc, partial_write_and_fsync_failure_leave_no_trace);
	tcase_add_test(tc, fail_closed_refuses_while_failing);
	tcase_add_test(tc, close_reports_unwritten);
	tcase_add_test(tc, ip_at_a_moment);
	tcase_add_test(tc, query_filters_export_and_purge);
	tcase_add_test(tc, db_ahead_of_file_keeps_the_gap_visible);
	tcase_add_test(tc, record_once_by_reference);
	tcase_add_test(tc, record_once_past_the_startup_pass);
	tcase_add_test(tc, index_catches_up_after_the_database_fails);
	tcase_add_test(tc, index_count_by_seq);
	tcase_add_test(tc, index_lag_is_counted_not_queued);
	tcase_add_test(tc, index_waits_while_busy);
	tcase_add_test(tc, index_steps_back_for_store_writers);
	tcase_add_test(tc, csv_cells_are_neutralised);
	tcase_add_test(tc, csv_cells_hold_no_control_bytes);
	tcase_add_test(tc, macs_normalise);
	tcase_add_test(tc, hostile_text_is_recorded_safely);
	tcase_add_test(tc, schema_matches_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(audit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
