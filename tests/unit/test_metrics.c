/*
 * test_metrics.c - the Prometheus text of core/metrics.h: escaping, the
 * HELP/TYPE lines and samples, families left out, a too-small buffer, the
 * atomic file write and its directory check, and the writer's thread.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/metrics.h"
#include "test_tmp.h"

static char buf[CB_METRICS_TEXT_MAX];

START_TEST(test_escape)
{
	char out[32];

	ck_assert(cb_metrics_escape("plain", out, sizeof(out)));
	ck_assert_str_eq(out, "plain");
	ck_assert(cb_metrics_escape("a\"b\\c\nd", out, sizeof(out)));
	ck_assert_str_eq(out, "a\\\"b\\\\c\\nd");
	/* Too small: truncated before an escape, never in the middle of one. */
	ck_assert(!cb_metrics_escape("ab\"", out, 4));
	ck_assert_str_eq(out, "ab");
	ck_assert(cb_metrics_escape(NULL, out, sizeof(out)));
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_counters_and_text)
{
	cb_metrics_t m = { 0 };
	cb_metrics_view_t v = { 0 };
	int n;

	cb_metrics_decision(&m, CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED);
	cb_metrics_decision(&m, CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED);
	cb_metrics_decision(&m, CB_STATUS_REJECT, CB_REASON_NOT_STAFF);
	cb_metrics_decision(&m, CB_STATUS_REJECT, CB_REASON_MAX);	/* Out of range: ignored. */
	cb_metrics_decision(NULL, CB_STATUS_REJECT, CB_REASON_NOT_STAFF);
	cb_metrics_disconnect(&m, CB_METRICS_DISC_ACKED);
	cb_metrics_disconnect(&m, CB_METRICS_DISC_MAX);
	cb_metrics_store_error(&m);
	cb_metrics_directory_error(&m);
	cb_metrics_directory_error(&m);
	cb_metrics_snapshot(&m, &v);
	v.has_sync = true;
	v.now = 1000;
	v.sync_last_success = 940;
	v.sync_last_attempt = 990;
	v.sync_ok = false;
	v.sync_held = true;
	v.sync_held_kind = "mass-removal";
	v.sync_source = "fi\"le";
	v.has_audit = true;
	v.audit_queued = 3;
	v.audit_dropped = 1;
	v.audit_index_lag = 42;
	v.audit_index_lag_ms = 1234;
	n = cb_metrics_format(&v, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq((int) strlen(buf), n);
	ck_assert(buf[n - 1] == '\n');
	ck_assert_ptr_nonnull(strstr(buf, "# HELP cetbyod_decisions_total "));
	ck_assert_ptr_nonnull(strstr(buf, "# TYPE cetbyod_decisions_total counter\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_decisions_total{status=\"admit\",reason=\"acknowledged\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_decisions_total{status=\"reject\",reason=\"not_staff\"} 1\n"));
	ck_assert_ptr_null(strstr(buf, "reason=\"no_acknowledgement\""));	/* Zero: not written. */
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_sync_info{source=\"fi\\\"le\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_sync_age_seconds 60\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_sync_last_success_timestamp_seconds 940\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_sync_last_ok 0\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_sync_held{kind=\"mass-removal\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(buf, "# TYPE cetbyod_disconnects_total counter\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_disconnects_total{outcome=\"acked\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_disconnects_total{outcome=\"failed\"} 0\n"));
	ck_assert_ptr_null(strstr(buf, "cetbyod_disconnects_queued"));	/* Not in this view. */
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_audit_queued 3\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_audit_dropped_total 1\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_audit_index_lag_records 42\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_audit_index_lag_seconds 1.234\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_store_errors_total 1\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_directory_errors_total 2\n"));
	/* Every line: a comment, or NAME[{...}] VALUE; every family's TYPE before its samples. */
	for (char *line = buf, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		ck_assert_ptr_nonnull(nl);
		ck_assert(strncmp(line, "cetbyod_", 8) == 0 || strncmp(line, "# HELP cetbyod_", 15) == 0 ||
			  strncmp(line, "# TYPE cetbyod_", 15) == 0);
	}
	/* Too small a buffer: -1 and an empty string. */
	ck_assert_int_eq(cb_metrics_format(&v, buf, 100), -1);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_views_leave_out)
{
	cb_metrics_view_t v = { 0 };

	v.has_sync = true;		/* Never read: no age, no last_ok; held 0. */
	v.has_disc_queue = true;
	v.disc_held = 4;
	ck_assert_int_gt(cb_metrics_format(&v, buf, sizeof(buf)), 0);
	ck_assert_ptr_null(strstr(buf, "cetbyod_sync_age_seconds"));
	ck_assert_ptr_null(strstr(buf, "cetbyod_sync_last_ok"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_sync_held 0\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\ncetbyod_disconnects_queued{state=\"held\"} 4\n"));
	ck_assert_ptr_null(strstr(buf, "cetbyod_decisions_total"));
	ck_assert_ptr_null(strstr(buf, "cetbyod_store_errors_total"));
}
END_TEST

static int collected;

static void collect(void *ctx, cb_metrics_view_t *v)
{
	(void) ctx;
	collected++;
	v->has_audit = true;
	v->audit_queued = 7;
}

START_TEST(test_file)
{
	char dir[128], path[256], err[512], bad[300];
	char got[256] = "";
	FILE *f;
	cb_metrics_writer_t *w;

	test_tmp_dir("test_metrics", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/cetbyod.prom", dir);
	ck_assert(cb_metrics_check_dir(path, err, sizeof(err)));
	snprintf(bad, sizeof(bad), "%s/missing/cetbyod.prom", dir);
	ck_assert(!cb_metrics_check_dir(bad, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "does not exist"));
	snprintf(bad, sizeof(bad), "%s/", dir);
	ck_assert(!cb_metrics_check_dir(bad, err, sizeof(err)));
	ck_assert_int_eq(cb_metrics_write_file(bad, "x\n", 2, err, sizeof(err)), -1);

	ck_assert_int_eq(cb_metrics_write_file(path, "a 1\n", 4, err, sizeof(err)), 0);
	w = cb_metrics_writer_start(path, 3600, collect, NULL, NULL, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(w);
	cb_metrics_writer_stop(w);	/* At least the first write and the last. */
	ck_assert_int_ge(collected, 2);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_gt(fread(got, 1, sizeof(got) - 1, f), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(got, "\ncetbyod_audit_queued 7\n"));
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);	/* No temporary file left behind. */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("text");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_counters_and_text);
	tcase_add_test(tc, test_views_leave_out);
	tcase_add_test(tc, test_file);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
