/*
 * test_spool.c - the store's spool (lib/store/spool.c, store_spool.c).
 *
 * Without PostgreSQL: the record format (header, magic, length, CRC-32 as
 * zlib's), records read back in order, a torn tail and a corrupt record
 * cut off on open (what came before kept), the size cap (1: nothing
 * written), a file that is not a spool refused, a new generation once
 * drained.
 *
 * With the fixture (CB_TEST_PG_CONNINFO, tests/unit/test_spool_pg.sh):
 * the role cetbyod loses its login and its connections (an outage as the
 * module sees it); session Start/Interim/Stop still succeed, into the
 * spool; the login back, the replay writes them in order; the spool file
 * as it was before the replay, put back and replayed again (a crash
 * between commit and consume), changes nothing: each session once.
 * Decisions (deferred, as the module writes them) and devices seen (on a
 * second handle with a spool file of its own, as the devices writer's)
 * wait in the spool too and are replayed once, the sessions tied to their
 * decisions; a crash mid-replay again changes nothing.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/spool.h"
#include "store/store.h"
#include "test_pg.h"
#include "test_tmp.h"

static char tmpdir[96];
static char path[128];
static char const *pg_conninfo;
static char pg_password[256];

static void setup(void)
{
	test_tmp_dir("test_spool", tmpdir, sizeof(tmpdir));
	snprintf(path, sizeof(path), "%s/%s", tmpdir, CB_SPOOL_FILE);
}

static void teardown(void)
{
	char p[200];

	unlink(path);
	snprintf(p, sizeof(p), "%s.copy", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s/%s", tmpdir, CB_SPOOL_DEVICES_FILE);
	unlink(p);
	snprintf(p, sizeof(p), "%s/%s.copy", tmpdir, CB_SPOOL_DEVICES_FILE);
	unlink(p);
	rmdir(tmpdir);
}

static cb_spool_t *open_spool(uint64_t max, size_t *dropped)
{
	char err[256] = "";
	cb_spool_t *sp = cb_spool_open(path, max, dropped, err, sizeof(err));

	ck_assert_msg(sp != NULL, "open: %s", err);
	return sp;
}

static void append(cb_spool_t *sp, char const *s)
{
	char err[256] = "";

	ck_assert_msg(cb_spool_append(sp, s, strlen(s), err, sizeof(err)) == 0, "append: %s", err);
}

static void expect(cb_spool_t *sp, char const *s, uint64_t seq)
{
	void *data = NULL;
	size_t len = 0;
	uint64_t got = 0;

	ck_assert_int_eq(cb_spool_peek(sp, &data, &len, &got), 0);
	ck_assert_uint_eq(len, strlen(s));
	ck_assert_str_eq((char *) data, s);
	ck_assert_uint_eq(got, seq);
	free(data);
	ck_assert_int_eq(cb_spool_consume(sp), 0);
}

static off_t file_size(void)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

START_TEST(test_crc32)
{
	ck_assert_uint_eq(cb_spool_crc32("123456789", 9), 0xCBF43926u);	/* The check value of CRC-32/ISO-HDLC. */
	ck_assert_uint_eq(cb_spool_crc32("", 0), 0);
}
END_TEST

START_TEST(test_format)
{
	cb_spool_t *sp = open_spool(0, NULL);
	unsigned char buf[64];
	int fd;
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(file_size(), CB_SPOOL_HEADER_LEN);
	ck_assert(!cb_spool_pending(sp));
	append(sp, "hello");
	ck_assert_int_eq(file_size(), CB_SPOOL_HEADER_LEN + 12 + 5);
	fd = open(path, O_RDONLY);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), CB_SPOOL_HEADER_LEN + 17);
	close(fd);
	ck_assert(memcmp(buf, "CBSPOOL1", 8) == 0);
	ck_assert(memcmp(buf + 8, cb_spool_generation(sp), CB_SPOOL_GEN_LEN) == 0);
	ck_assert(memcmp(buf + 40, "RSBC", 4) == 0);		/* 0x43425352 little-endian. */
	ck_assert_uint_eq(buf[44], 5);
	ck_assert_uint_eq((uint32_t) buf[48] | (uint32_t) buf[49] << 8 | (uint32_t) buf[50] << 16 |
			  (uint32_t) buf[51] << 24, cb_spool_crc32("hello", 5));
	ck_assert(memcmp(buf + 52, "hello", 5) == 0);
	cb_spool_close(sp);
}
END_TEST

START_TEST(test_order_and_reopen)
{
	cb_spool_t *sp = open_spool(0, NULL);
	char gen[CB_SPOOL_GEN_LEN + 1];
	size_t dropped = 99;

	append(sp, "one");
	append(sp, "two");
	append(sp, "three");
	ck_assert_uint_eq(cb_spool_count(sp), 3);
	snprintf(gen, sizeof(gen), "%s", cb_spool_generation(sp));
	cb_spool_close(sp);
	/* Reopened (a restart): the same generation, every record, from the first. */
	sp = open_spool(0, &dropped);
	ck_assert_uint_eq(dropped, 0);
	ck_assert_str_eq(cb_spool_generation(sp), gen);
	ck_assert_uint_eq(cb_spool_count(sp), 3);
	expect(sp, "one", 1);
	expect(sp, "two", 2);
	/* A failed replay starts again from the first (the database's mark skips what it holds). */
	cb_spool_rewind(sp);
	expect(sp, "one", 1);
	expect(sp, "two", 2);
	expect(sp, "three", 3);
	/* Drained: a header only, a new generation, sequence numbers from 1 again. */
	ck_assert(!cb_spool_pending(sp));
	ck_assert_int_eq(file_size(), CB_SPOOL_HEADER_LEN);
	ck_assert_str_ne(cb_spool_generation(sp), gen);
	append(sp, "four");
	expect(sp, "four", 1);
	cb_spool_close(sp);
}
END_TEST

START_TEST(test_torn_tail)
{
	cb_spool_t *sp = open_spool(0, NULL);
	off_t whole;
	size_t dropped = 0;

	append(sp, "kept");
	append(sp, "torn record");
	cb_spool_close(sp);
	whole = file_size();
	ck_assert_int_eq(truncate(path, whole - 3), 0);	/* A crash in the middle of the second write. */
	sp = open_spool(0, &dropped);
	ck_assert_uint_eq(dropped, 12 + 11 - 3);
	ck_assert_uint_eq(cb_spool_count(sp), 1);
	ck_assert_int_eq(file_size(), CB_SPOOL_HEADER_LEN + 12 + 4);
	append(sp, "after");
	expect(sp, "kept", 1);
	expect(sp, "after", 2);
	cb_spool_close(sp);
}
END_TEST

START_TEST(test_bad_checksum)
{
	cb_spool_t *sp = open_spool(0, NULL);
	size_t dropped = 0;
	int fd;

	append(sp, "first");
	append(sp, "second");
	append(sp, "third");
	cb_spool_close(sp);
	/* One bit of "second" flipped: it and what follows are cut off, "first" kept. */
	fd = open(path, O_RDWR);
	ck_assert_int_eq(pwrite(fd, "S", 1, CB_SPOOL_HEADER_LEN + 12 + 5 + 12), 1);
	close(fd);
	sp = open_spool(0, &dropped);
	ck_assert_uint_eq(dropped, 12 + 6 + 12 + 5);
	ck_assert_uint_eq(cb_spool_count(sp), 1);
	expect(sp, "first", 1);
	cb_spool_close(sp);
}
END_TEST

START_TEST(test_cap)
{
	cb_spool_t *sp = open_spool(CB_SPOOL_HEADER_LEN + 2 * (12 + 10), NULL);
	char err[256] = "";

	append(sp, "0123456789");
	append(sp, "0123456789");
	ck_assert_int_eq(cb_spool_append(sp, "x", 1, err, sizeof(err)), 1);	/* Full: nothing written. */
	ck_assert_int_eq(file_size(), CB_SPOOL_HEADER_LEN + 2 * 22);
	ck_assert_uint_eq(cb_spool_count(sp), 2);
	/* Oversized and empty records are refused. */
	ck_assert_int_eq(cb_spool_append(sp, "", 0, err, sizeof(err)), -1);
	expect(sp, "0123456789", 1);
	expect(sp, "0123456789", 2);
	append(sp, "x");	/* Drained: room again. */
	cb_spool_close(sp);
}
END_TEST

START_TEST(test_appendv)
{
	cb_spool_t *sp = open_spool(CB_SPOOL_HEADER_LEN + 3 * (12 + 5), NULL);
	void const *two[] = { "aaaaa", "bbbbb" }, *three[] = { "ccccc", "ddddd", "eeeee" };
	size_t lens[] = { 5, 5, 5 };
	char err[256] = "";

	ck_assert_int_eq(cb_spool_appendv(sp, two, lens, 2, err, sizeof(err)), 0);
	ck_assert_uint_eq(cb_spool_count(sp), 2);
	/* Two more do not fit under the cap: neither is written (all or none). */
	ck_assert_int_eq(cb_spool_appendv(sp, three, lens, 2, err, sizeof(err)), 1);
	ck_assert_int_eq(file_size(), CB_SPOOL_HEADER_LEN + 2 * 17);
	ck_assert_int_eq(cb_spool_appendv(sp, three, lens, 1, err, sizeof(err)), 0);
	cb_spool_close(sp);
	sp = open_spool(0, NULL);	/* Read back in order, each its own record. */
	expect(sp, "aaaaa", 1);
	expect(sp, "bbbbb", 2);
	expect(sp, "ccccc", 3);
	cb_spool_close(sp);
}
END_TEST

START_TEST(test_not_a_spool)
{
	char err[256] = "";
	char const *text = "this is some other file, long enough to have a header\n";
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_ptr_null(cb_spool_open(path, 0, NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a cetbyod spool") != NULL, "%s", err);
	ck_assert_int_eq(file_size(), (off_t) strlen(text));	/* Untouched. */
}
END_TEST

/*
 *	With PostgreSQL.
 */

static void test_log(void *ctx, cb_log_level_t level, char const *fmt, ...)
{
	(void) ctx;
	(void) level;
	(void) fmt;
}

static cb_store_t *pg_store(void)
{
	cb_store_conf_t conf = { .backend = CB_STORE_POSTGRESQL, .pg_conninfo = pg_conninfo,
				 .pg_password = pg_password, .server_id = "spooltest", .create = true,
				 .spool_path = path, .log = test_log };
	char err[512] = "";
	cb_store_t *s = cb_store_open(&conf, err, sizeof(err));

	ck_assert_msg(s != NULL, "open: %s", err);
	return s;
}

/** wait_drained - the replay thread empties the spool within 10 s. */
static void wait_drained(cb_store_t *s)
{
	cb_store_spool_info_t si;

	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(cb_store_spool_info(s, &si), 0);
		if (si.records == 0 && !si.down) return;
		usleep(100000);
	}
	ck_abort_msg("the spool was not replayed within 10 s (%llu left)", (unsigned long long) si.records);
}

static void session(cb_store_t *s, char const *sid, int op, time_t t)
{
	cb_store_session_t res;
	cb_store_acct_t a = { .nas = "192.0.2.1", .acct_session_id = sid, .identity = "alice@example.org",
			      .calling_station = "AA-BB-CC-DD-EE-01", .event_time = t, .started = 1800000000,
			      .has_octets = op > 0, .in_octets = 10 * (uint64_t) t, .out_octets = 5, .result = &res,
			      .stop_cause = op == 2 ? "User-Request" : NULL };
	int rc = op == 0 ? cb_store_session_start(s, &a) : op == 1 ? cb_store_session_update(s, &a) :
		 cb_store_session_stop(s, &a);

	ck_assert_int_ge(rc, 0);
	ck_assert_str_eq(res.acct_session_id, sid);
}

START_TEST(test_pg_outage_replay)
{
	cb_store_t *s;
	cb_store_spool_info_t si;
	char copy[200], cmd[512];

	if (!pg_conninfo) return;
	test_pg_admin("DROP SCHEMA IF EXISTS cetbyod CASCADE; CREATE SCHEMA cetbyod AUTHORIZATION cetbyod");
	s = pg_store();
	session(s, "before", 0, 1800000000);
	/* The outage: no new connections, the module's ended. */
	test_pg_admin("ALTER ROLE cetbyod NOLOGIN");
	test_pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'cetbyod'");
	for (int i = 0; i < 20; i++) {
		char sid[32];

		snprintf(sid, sizeof(sid), "s%d", i);
		session(s, sid, 0, 1800000010 + i);
		session(s, sid, 1, 1800000100 + i);
		session(s, sid, 2, 1800000200 + i);
	}
	session(s, "before", 2, 1800000300);
	ck_assert_int_eq(cb_store_spool_info(s, &si), 0);
	ck_assert(si.down);
	ck_assert_uint_ge(si.records, 60);
	snprintf(copy, sizeof(copy), "%s.copy", path);
	snprintf(cmd, sizeof(cmd), "cp %s %s", path, copy);
	ck_assert_int_eq(system(cmd), 0);
	/* Back: replayed in order (each session started, updated, stopped once). */
	test_pg_admin("ALTER ROLE cetbyod LOGIN");
	wait_drained(s);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.sessions"), 21);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.sessions WHERE stopped IS NULL"), 0);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.sessions WHERE acct_session_id = 's7' AND "
				  "stopped = 1800000207 AND in_octets = 18000002070 AND stop_cause = 'User-Request'"), 1);
	cb_store_close(s);
	/* A crash before the spool was cut back: the same records again, skipped by the mark. */
	snprintf(cmd, sizeof(cmd), "cp %s %s", copy, path);
	ck_assert_int_eq(system(cmd), 0);
	s = pg_store();
	wait_drained(s);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.sessions"), 21);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.sessions WHERE stopped IS NULL"), 0);
	cb_store_close(s);
}
END_TEST

static cb_store_t *pg_store_at(char const *spool, bool defer)
{
	cb_store_conf_t conf = { .backend = CB_STORE_POSTGRESQL, .pg_conninfo = pg_conninfo,
				 .pg_password = pg_password, .server_id = "spooltest", .create = true,
				 .spool_path = spool, .defer_decisions = defer, .log = test_log };
	char err[512] = "";
	cb_store_t *s = cb_store_open(&conf, err, sizeof(err));

	ck_assert_msg(s != NULL, "open: %s", err);
	return s;
}

/** put_decision - decision i (a class id of its own) as the module records one; its class id into cid. */
static void put_decision(cb_store_t *s, int i, char cid[33])
{
	cb_store_decision_t d = { .decided_at = 1800000000 + i, .valid_until = 1900000000 };

	snprintf(d.class_id, sizeof(d.class_id), "%032x", 0xd0000 + i);
	snprintf(d.identity, sizeof(d.identity), "long-%d@example.org", i);
	snprintf(d.status, sizeof(d.status), "admit");
	snprintf(d.reason, sizeof(d.reason), "acknowledged");
	snprintf(d.nas, sizeof(d.nas), "192.0.2.1");
	snprintf(d.calling_station, sizeof(d.calling_station), "AA-BB-CC-00-00-%02X", i);
	ck_assert_int_eq(cb_store_decision_put(s, &d), 0);
	memcpy(cid, d.class_id, 33);
}

/** outage_decisions - the outage, then 10 decisions, each followed by a session Start (d0..d9) naming it. */
static void outage_decisions(cb_store_t *s)
{
	char cid[33];

	test_pg_admin("ALTER ROLE cetbyod NOLOGIN");
	test_pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'cetbyod'");
	for (int i = 0; i < 10; i++) {
		char sid[32];
		cb_store_acct_t a = { .nas = "192.0.2.1", .acct_session_id = sid, .class_id = cid,
				      .event_time = 1800000100 + i, .started = 1800000100 + i };

		put_decision(s, i, cid);
		snprintf(sid, sizeof(sid), "d%d", i);
		ck_assert_int_eq(cb_store_session_start(s, &a), 0);	/* Flushes the decision first: in order. */
	}
}

static void copy_file(char const *from, char const *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp %s %s", from, to);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_pg_outage_decisions_devices)
{
	char dpath[200], copy[220], dcopy[220];
	cb_store_seen_t seen[10];
	cb_store_t *s, *dev;
	cb_store_spool_info_t si;

	if (!pg_conninfo) return;
	test_pg_admin("DROP SCHEMA IF EXISTS cetbyod CASCADE; CREATE SCHEMA cetbyod AUTHORIZATION cetbyod");
	snprintf(dpath, sizeof(dpath), "%s/%s", tmpdir, CB_SPOOL_DEVICES_FILE);
	s = pg_store_at(path, true);
	dev = pg_store_at(dpath, false);
	outage_decisions(s);
	for (int i = 0; i < 10; i++) {
		memset(&seen[i], 0, sizeof(seen[i]));
		snprintf(seen[i].identity, sizeof(seen[i].identity), "long-%d@example.org", i);
		snprintf(seen[i].mac, sizeof(seen[i].mac), "AA-BB-CC-00-01-%02X", i);
		snprintf(seen[i].nas, sizeof(seen[i].nas), "192.0.2.1");
		seen[i].counted = true;
		seen[i].when = 1800000000 + i;
	}
	ck_assert_int_eq(cb_store_devices_seen(dev, seen, 5), 0);
	ck_assert_int_eq(cb_store_devices_seen(dev, seen + 5, 5), 0);
	ck_assert_int_eq(cb_store_spool_info(s, &si), 0);
	ck_assert(si.down);
	ck_assert_uint_eq(si.records, 20);	/* 10 decisions, 10 Starts. */
	ck_assert_int_eq(cb_store_spool_info(dev, &si), 0);
	ck_assert_uint_eq(si.records, 10);
	snprintf(copy, sizeof(copy), "%s.copy", path);
	snprintf(dcopy, sizeof(dcopy), "%s.copy", dpath);
	copy_file(path, copy);
	copy_file(dpath, dcopy);
	test_pg_admin("ALTER ROLE cetbyod LOGIN");
	wait_drained(s);
	wait_drained(dev);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.decisions WHERE identity LIKE 'long-%'"), 10);
	/* Each session tied to its decision (the decision replayed first). */
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.sessions WHERE acct_session_id LIKE 'd%' AND "
				  "identity LIKE 'long-%'"), 10);
	/* The decisions' devices and the writer's: 20 rows, each once. */
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.devices WHERE identity LIKE 'long-%'"), 20);
	cb_store_close(dev);
	cb_store_close(s);
	/* A crash before either spool was cut back: replayed again, skipped by their own marks. */
	copy_file(copy, path);
	copy_file(dcopy, dpath);
	s = pg_store_at(path, true);
	dev = pg_store_at(dpath, false);
	wait_drained(s);
	wait_drained(dev);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.decisions WHERE identity LIKE 'long-%'"), 10);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.sessions WHERE acct_session_id LIKE 'd%'"), 10);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.devices WHERE identity LIKE 'long-%'"), 20);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.status WHERE key LIKE 'spool.applied:spooltest%'"),
			 2);
	cb_store_close(dev);
	cb_store_close(s);
}
END_TEST

/*
 * A replay that starts inside a run: the mark says records 1..10 are in (a
 * crash after a shorter run committed); the run the replay takes (1..20)
 * applies only 11..20.  Records alternate decision, Start: decisions 5..9
 * and sessions d5..d9.
 */
START_TEST(test_pg_mark_inside_run)
{
	char gen[CB_SPOOL_GEN_LEN + 1], sql[300];
	cb_store_t *s;
	FILE *f;

	if (!pg_conninfo) return;
	test_pg_admin("DROP SCHEMA IF EXISTS cetbyod CASCADE; CREATE SCHEMA cetbyod AUTHORIZATION cetbyod");
	s = pg_store_at(path, true);
	outage_decisions(s);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 8, SEEK_SET), 0);
	ck_assert_uint_eq(fread(gen, 1, CB_SPOOL_GEN_LEN, f), CB_SPOOL_GEN_LEN);
	fclose(f);
	gen[CB_SPOOL_GEN_LEN] = '\0';
	snprintf(sql, sizeof(sql), "INSERT INTO cetbyod.status (key, value, updated_at) VALUES "
		 "('spool.applied:spooltest', '%s:10', 0)", gen);
	test_pg_admin(sql);
	test_pg_admin("ALTER ROLE cetbyod LOGIN");
	wait_drained(s);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.decisions WHERE identity LIKE 'long-%'"), 5);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.decisions WHERE identity = 'long-5@example.org'"), 1);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.sessions WHERE acct_session_id IN "
				  "('d5', 'd6', 'd7', 'd8', 'd9') AND identity LIKE 'long-%'"), 5);
	ck_assert_int_eq(test_pg_count("SELECT count(*) FROM cetbyod.sessions"), 5);
	cb_store_close(s);
}
END_TEST

START_TEST(test_pg_spool_full)
{
	cb_store_conf_t conf = { .backend = CB_STORE_POSTGRESQL, .pg_conninfo = pg_conninfo,
				 .pg_password = pg_password, .server_id = "spooltest", .create = true,
				 .spool_path = path, .spool_max = 600, .log = test_log };
	char err[512] = "";
	cb_store_t *s;
	cb_store_acct_t a = { .nas = "192.0.2.1", .acct_session_id = "x", .identity = "bob@example.org",
			      .event_time = 1800000000 };
	int ok = 0, rc = 0;

	if (!pg_conninfo) return;
	test_pg_admin("DROP SCHEMA IF EXISTS cetbyod CASCADE; CREATE SCHEMA cetbyod AUTHORIZATION cetbyod");
	s = cb_store_open(&conf, err, sizeof(err));
	ck_assert_msg(s != NULL, "open: %s", err);
	test_pg_admin("ALTER ROLE cetbyod NOLOGIN");
	test_pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'cetbyod'");
	for (int i = 0; i < 20 && (rc = cb_store_session_start(s, &a)) == 0; i++) ok++;
	ck_assert_int_eq(rc, -1);	/* Full: the write fails (accounting not answered), never dropped quietly. */
	ck_assert_int_gt(ok, 0);
	test_pg_admin("ALTER ROLE cetbyod LOGIN");
	wait_drained(s);
	ck_assert_int_eq(cb_store_session_start(s, &a), 0);
	cb_store_close(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("spool");
	SRunner *sr;
	int failed;

	pg_conninfo = test_pg_conninfo();
	test_pg_password(pg_password, sizeof(pg_password));
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_crc32);
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_order_and_reopen);
	tcase_add_test(tc, test_torn_tail);
	tcase_add_test(tc, test_bad_checksum);
	tcase_add_test(tc, test_cap);
	tcase_add_test(tc, test_appendv);
	tcase_add_test(tc, test_not_a_spool);
	tcase_add_test(tc, test_pg_outage_replay);
	tcase_add_test(tc, test_pg_outage_decisions_devices);
	tcase_add_test(tc, test_pg_mark_inside_run);
	tcase_add_test(tc, test_pg_spool_full);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
