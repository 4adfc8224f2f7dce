/*
 * test_audit_runs.c - refusal coalescing (lib/audit/runs.c) through the
 * writer: a run's first refusal written at once, its repeats summarised
 * with count, first and last; different reason, NAS or MAC not merged;
 * admissions never coalesced; summaries on quiet, every M seconds and on
 * close; the chain verifies; the index finds a run by a moment inside it;
 * each summary written is also one log line (log_summaries), escaped.
 * The writer's clock is the test's (cb_audit_conf_t.now).
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "store/store.h"
#include "test_tmp.h"

#define T0	1795515240	/* 2026-11-24T10:14:00Z */

static char dir[256], file[512], dbpath[512];
static time_t clock_now;

static time_t t_now(void *ctx)
{
	(void) ctx;
	return __atomic_load_n(&clock_now, __ATOMIC_SEQ_CST);
}

static void set_now(time_t t)
{
	__atomic_store_n(&clock_now, t, __ATOMIC_SEQ_CST);
}

static void setup(void)
{
	test_tmp_dir("test_audit_runs", dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/audit.jsonl", dir);
	snprintf(dbpath, sizeof(dbpath), "%s/cetbyod.db", dir);
	set_now(T0);
}

static void teardown(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static cb_audit_t *open_trail(unsigned int window, unsigned int every, size_t max, bool db)
{
	cb_audit_conf_t conf = {
		.path = file, .coalesce_window = window, .coalesce_every = every, .coalesce_max = max,
		.now = t_now, .db_path = db ? dbpath : NULL,
	};
	char err[512];
	cb_audit_t *a;

	if (db) {
		cb_store_conf_t sc = { .path = dbpath, .create = true };
		cb_store_t *s = cb_store_open(&sc, err, sizeof(err));

		ck_assert_msg(s != NULL, "cb_store_open: %s", err);
		cb_store_close(s);
	}
	a = cb_audit_open(&conf, err, sizeof(err));
	ck_assert_msg(a != NULL, "cb_audit_open: %s", err);
	return a;
}

/** refuse - a refusal at the test clock's now + 0 (the event's time is the clock's). */
static void refuse(cb_audit_t *a, char const *who, char const *mac, char const *nas, char const *reason)
{
	cb_audit_event_t ev = { .type = CB_AUDIT_DECISION, .identity = who, .calling_station = mac,
				.called_station = "00-11-22-33-44-55:Staff", .nas = nas, .status = "reject",
				.reason = reason };
	cb_audit_rc_t rc = cb_audit_record(a, &ev);

	ck_assert(rc == CB_AUDIT_QUEUED || rc == CB_AUDIT_COUNTED);
}

static void admit(cb_audit_t *a, char const *who, char const *mac)
{
	cb_audit_event_t ev = { .type = CB_AUDIT_DECISION, .identity = who, .calling_station = mac, .nas = "10.0.0.2",
				.status = "admit", .reason = "acknowledged", .admission = true };

	ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_QUEUED);
}

/** grep_count - lines of the trail holding every one of needles (NULL-terminated). */
static size_t grep_count(char const *const *needles)
{
	FILE *f = fopen(file, "r");
	char line[8192];
	size_t n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		bool all = true;

		for (size_t i = 0; needles[i]; i++) all = all && strstr(line, needles[i]);
		n += all;
	}
	fclose(f);
	return n;
}

static size_t lines_with(char const *a, char const *b)
{
	char const *n[] = { a, b, NULL };

	return grep_count(n);
}

static void verify_ok(void)
{
	char const *paths[1] = { file };
	cb_audit_verify_t v;

	ck_assert_msg(cb_audit_verify_files(paths, 1, &v) == 0, "verify: %s", v.message);
}

START_TEST(test_count_first_last)
{
	cb_audit_t *a = open_trail(300, 3600, 0, false);
	cb_audit_event_t ev = { .type = CB_AUDIT_DECISION, .identity = "pupil1", .calling_station = "aa-bb-cc-00-00-01",
				.nas = "10.0.0.2", .status = "reject", .reason = "not_staff" };
	cb_audit_stats_t st;

	ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_QUEUED);	/* The first: written. */
	ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_COUNTED);	/* A repeat: counted. */
	cb_audit_close(a, 2000);
	ck_assert_uint_eq(lines_with("\"pupil1\"", "\"count\":1,"), 1);
	unlink(file);
	a = open_trail(300, 3600, 0, false);
	for (int i = 0; i < 100; i++) {		/* 10:14:00, then every 30 s: 99 repeats. */
		set_now(T0 + 30 * i);
		refuse(a, "pupil1", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");
	}
	ck_assert_int_eq(cb_audit_flush(a, 5000), 0);
	ck_assert_uint_eq(lines_with("\"pupil1\"", "\"reject\""), 1);	/* The first, at once. */
	cb_audit_stats(a, &st);
	ck_assert_uint_eq(st.coalesced, 99);
	ck_assert_uint_eq(st.runs, 1);
	cb_audit_close(a, 2000);		/* A clean stop summarises the run. */
	ck_assert_uint_eq(lines_with("\"pupil1\"", "\"reject\""), 2);
	{
		char const *n[] = { "\"count\":99", "\"first\":\"2026-11-24T10:14:30Z\"",
				    "\"last\":\"2026-11-24T11:03:30Z\"", "\"time\":\"2026-11-24T11:03:30Z\"", NULL };

		ck_assert_uint_eq(grep_count(n), 1);
	}
	verify_ok();
}
END_TEST

START_TEST(test_not_merged)
{
	cb_audit_t *a = open_trail(300, 3600, 0, false);

	for (int i = 0; i < 3; i++) {
		set_now(T0 + i);
		refuse(a, "p", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");
		refuse(a, "p", "aa-bb-cc-00-00-01", "10.0.0.2", "no_acknowledgement");	/* Other reason. */
		refuse(a, "p", "aa-bb-cc-00-00-01", "10.0.0.3", "not_staff");		/* Other NAS. */
		refuse(a, "p", "aa-bb-cc-00-00-02", "10.0.0.2", "not_staff");		/* Other device. */
		refuse(a, "q", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");		/* Other person. */
	}
	cb_audit_close(a, 2000);
	/* Five runs: five first records and five summaries of 2 repeats each. */
	ck_assert_uint_eq(lines_with("\"reject\"", "\"decision\""), 10);
	ck_assert_uint_eq(lines_with("\"count\":2,", "\"reject\""), 5);
	verify_ok();
}
END_TEST

START_TEST(test_admissions_never)
{
	cb_audit_t *a = open_trail(300, 3600, 0, false);

	for (int i = 0; i < 5; i++) {
		set_now(T0 + i);
		refuse(a, "p", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");
		admit(a, "p", "aa-bb-cc-00-00-01");
	}
	ck_assert_int_eq(cb_audit_flush(a, 5000), 0);
	ck_assert_uint_eq(lines_with("\"admit\"", "\"decision\""), 5);
	ck_assert_uint_eq(lines_with("\"reject\"", "\"decision\""), 1);
	cb_audit_close(a, 2000);
	ck_assert_uint_eq(lines_with("\"admit\"", "\"count\""), 0);
	ck_assert_uint_eq(lines_with("\"reject\"", "\"count\":4,"), 1);
	verify_ok();
}
END_TEST

START_TEST(test_quiet_and_period)
{
	cb_audit_t *a = open_trail(60, 600, 0, false);

	/* A run of 30 s retries for 25 minutes: a summary at each 10 minutes. */
	for (int i = 0; i <= 50; i++) {
		set_now(T0 + 30 * i);
		refuse(a, "p", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");
	}
	ck_assert_int_eq(cb_audit_flush(a, 5000), 0);
	ck_assert_uint_eq(lines_with("\"count\":20,", "\"reject\""), 2);	/* At 10 and 20 minutes. */
	/* Quiet for more than the window: the next refusal opens a new run, written at once,
	 * after the old run's summary. */
	set_now(T0 + 30 * 50 + 61);
	refuse(a, "p", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");
	ck_assert_int_eq(cb_audit_flush(a, 5000), 0);
	ck_assert_uint_eq(lines_with("\"count\":10,", "\"reject\""), 1);
	ck_assert_uint_eq(lines_with("\"reject\"", "\"decision\""), 5);	/* 2 firsts + 3 summaries. */
	cb_audit_close(a, 2000);
	ck_assert_uint_eq(lines_with("\"reject\"", "\"decision\""), 5);	/* The new run has no repeats. */
	verify_ok();
}
END_TEST

START_TEST(test_writer_sweeps)
{
	cb_audit_t *a = open_trail(60, 3600, 0, false);
	cb_audit_stats_t st;
	int i;

	refuse(a, "p", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");
	set_now(T0 + 30);
	refuse(a, "p", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");
	set_now(T0 + 200);			/* Quiet: the writer ends the run within a second or so. */
	for (i = 0; i < 50; i++) {
		cb_audit_stats(a, &st);
		if (st.runs == 0 && st.queued == 0) break;
		usleep(100 * 1000);
	}
	ck_assert_int_lt(i, 50);
	ck_assert_int_eq(cb_audit_flush(a, 5000), 0);
	ck_assert_uint_eq(lines_with("\"count\":1,", "\"reject\""), 1);
	cb_audit_close(a, 2000);
	verify_ok();
}
END_TEST

START_TEST(test_cap)
{
	cb_audit_t *a = open_trail(300, 3600, 2, false);
	cb_audit_stats_t st;

	for (int i = 0; i < 2; i++) {
		set_now(T0 + i);
		refuse(a, "p1", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");
		refuse(a, "p2", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");
		refuse(a, "p3", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");	/* Beyond the cap: written. */
	}
	cb_audit_stats(a, &st);
	ck_assert_uint_eq(st.runs, 2);
	ck_assert_uint_eq(st.runs_full, 2);
	ck_assert_int_eq(cb_audit_flush(a, 5000), 0);
	ck_assert_uint_eq(lines_with("\"p3\"", "\"reject\""), 2);
	cb_audit_close(a, 2000);
	verify_ok();
}
END_TEST

static void tally(void *ctx, char const *first, char const *second, uint64_t n)
{
	if (strcmp(first, "reject") == 0 && strcmp(second, "not_staff") == 0) *(uint64_t *) ctx += n;
}

START_TEST(test_index_finds_run)
{
	cb_audit_t *a = open_trail(300, 3600, 0, true);
	cb_store_conf_t sc = { .path = dbpath };
	cb_audit_query_t q = { .mac = "AA:BB:CC:00:00:01", .from = T0 + 600, .to = T0 + 600, .any_type = true,
			       .type = -1 };
	cb_audit_rows_t rows = { 0 };
	char err[512];
	cb_store_t *db;

	for (int i = 0; i < 60; i++) {		/* 10:14:00 to 10:43:30. */
		set_now(T0 + 30 * i);
		refuse(a, "p", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");
	}
	cb_audit_close(a, 2000);
	db = cb_store_open(&sc, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_msg(cb_audit_query(db, &q, &rows, err, sizeof(err)) == 0, "%s", err);	/* 10:24:00 */
	ck_assert_uint_eq(rows.count, 1);
	ck_assert_ptr_nonnull(strstr(rows.items[0].record, "\"count\":59"));
	cb_audit_rows_free(&rows);
	{
		uint64_t n = 0;					/* Metrics count the refusals, not the records. */

		ck_assert_int_eq(cb_store_audit_tally(db, "decision", tally, &n), 0);
		ck_assert_uint_eq(n, 60);
	}
	q.from = q.to = T0 - 60;			/* Before the run: nothing. */
	ck_assert_int_eq(cb_audit_query(db, &q, &rows, err, sizeof(err)), 0);
	ck_assert_uint_eq(rows.count, 0);
	cb_audit_rows_free(&rows);
	cb_store_close(db);
	verify_ok();
}
END_TEST

START_TEST(test_off)
{
	cb_audit_t *a = open_trail(0, 0, 0, false);
	cb_audit_event_t ev = { .type = CB_AUDIT_DECISION, .identity = "p", .status = "reject", .reason = "x" };

	for (int i = 0; i < 10; i++) ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_QUEUED);
	for (int i = 0; i < 10; i++) refuse(a, "p", "aa-bb-cc-00-00-01", "10.0.0.2", "not_staff");
	cb_audit_close(a, 2000);
	ck_assert_uint_eq(lines_with("\"reject\"", "\"decision\""), 20);
}
END_TEST

/* cb_audit_record copies the event: the caller's buffers may change once it returns. */
START_TEST(test_event_copied)
{
	cb_audit_t *a = open_trail(0, 0, 0, false);
	char who[32] = "carol", mac[32] = "aa-bb-cc-00-00-09", why[64] = "first reason";
	cb_audit_event_t ev = { .type = CB_AUDIT_REVOKE, .identity = who, .calling_station = mac, .by = "it",
				.why = why };

	ck_assert_int_eq(cb_audit_record(a, &ev), CB_AUDIT_QUEUED);
	memset(who, 'x', sizeof(who) - 1);
	memset(why, 'y', sizeof(why) - 1);
	snprintf(mac, sizeof(mac), "overwritten");
	cb_audit_close(a, 2000);
	{
		char const *n[] = { "\"identity\":\"carol\"", "\"why\":\"first reason\"", "\"revoke\"", NULL };

		ck_assert_uint_eq(grep_count(n), 1);
	}
	verify_ok();
}
END_TEST

/* What the writer logged (log_summaries): the INFO lines, one after the other. */
static char logged[4096];

static void capture(void *ctx, cb_log_level_t level, char const *fmt, ...) __attribute__((format(printf, 3, 4)));

static void capture(void *ctx, cb_log_level_t level, char const *fmt, ...)
{
	va_list ap;
	size_t used = strlen(logged);

	(void) ctx;
	if (level != CB_LOG_INFO || used + 2 >= sizeof(logged)) return;
	va_start(ap, fmt);
	vsnprintf(logged + used, sizeof(logged) - used - 1, fmt, ap);
	va_end(ap);
	strcat(logged, "\n");
}

/** summaries_logged - a run of 1 + repeats refusals from mac, closed; what the writer logged. */
static char const *summaries_logged(bool log_summaries, char const *mac, int repeats)
{
	cb_audit_conf_t conf = { .path = file, .coalesce_window = 300, .now = t_now, .log = capture,
				 .log_summaries = log_summaries };
	char err[512];
	cb_audit_t *a;

	logged[0] = '\0';	/* Before the writer thread starts: it is the only one that writes here. */
	a = cb_audit_open(&conf, err, sizeof(err));
	ck_assert_msg(a != NULL, "cb_audit_open: %s", err);
	for (int i = 0; i <= repeats; i++) {
		set_now(T0 + 30 * i);
		refuse(a, "pupil1", mac, "10.0.0.2", "not_staff");
	}
	admit(a, "alice", "aa-bb-cc-00-00-09");
	cb_audit_close(a, 2000);
	return logged;
}

START_TEST(test_summary_logged)
{
	char const *l = summaries_logged(true, "aa-bb-cc-00-00-01", 4);

	/* One line per summary written, with what an admin reads in radius.log; none for the admission. */
	ck_assert_msg(strstr(l, "pupil1 -> reject (not_staff): refused 4 more times, device aa-bb-cc-00-00-01, "
			     "NAS 10.0.0.2, 2026-11-24T10:14:30Z to 2026-11-24T10:16:00Z (one audit summary record") &&
		      strstr(l, ", seq 4\n"), "logged: %s", l);
	ck_assert_uint_eq(lines_with("\"seq\":4,", "\"count\":4,"), 1);	/* The seq named is the summary's. */
	ck_assert_ptr_null(strstr(l, "alice"));
	unlink(file);

	/* A device id from the packet (hostile) cannot break the line. */
	l = summaries_logged(true, "aa\nInfo: forged", 1);
	ck_assert_msg(strstr(l, "refused 1 more time, device aa\\012Info: forged, NAS"), "logged: %s", l);
	ck_assert_int_eq((int) (strchr(l, '\n') - l), (int) strlen(l) - 1);	/* One line. */
	unlink(file);

	/* Not asked (log_decisions = none): the summary is in the trail, not in the log. */
	l = summaries_logged(false, "aa-bb-cc-00-00-01", 4);
	ck_assert_ptr_null(strstr(l, "more time"));
	ck_assert_uint_eq(lines_with("\"count\":4,", "\"pupil1\""), 1);
}
END_TEST

static Suite *runs_suite(void)
{
	Suite *s = suite_create("audit_runs");
	TCase *tc = tcase_create("runs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_count_first_last);
	tcase_add_test(tc, test_not_merged);
	tcase_add_test(tc, test_admissions_never);
	tcase_add_test(tc, test_quiet_and_period);
	tcase_add_test(tc, test_writer_sweeps);
	tcase_add_test(tc, test_cap);
	tcase_add_test(tc, test_index_finds_run);
	tcase_add_test(tc, test_off);
	tcase_add_test(tc, test_event_copied);
	tcase_add_test(tc, test_summary_logged);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(runs_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
