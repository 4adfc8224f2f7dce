/*
 * test_tz_table.c - the zone's transition table against ICU (issue 13).
 *
 * cb_tz_new reads a zone's UTC-offset transitions from ICU once and answers
 * from that table afterwards; the cb_tz_icu_* functions still ask ICU.  For
 * six zones (whole-hour, half-hour and 45-minute offsets, 30-minute DST,
 * southern hemisphere, no DST) and about every day (23 h 13 min apart, so
 * every hour of the day in turn) over now +/- 20 years,
 * plus every transition +/- 1 s, the table's answers must equal ICU's: the
 * local fields of an instant, an instant plus calendar days (the expiry),
 * and the instant of a local time, gaps and overlaps included.  Prints the
 * speed of both paths (calls a second) for bench/README.md.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/tz.h"

#define YEAR		(INT64_C(365) * 86400)
#define STEP		(23 * 3600 + 13 * 60)	/* About daily, at every hour of the day in turn, odd minutes too. */

static char const *const zones[] = {
	"Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham", "UTC",
	"GMT-07:00",
};

static int const day_steps[] = { 365, -365, 1, -1, 7, 30, 183, 366, 730 };

static unsigned long compared;

static void same_fields(cb_tz_t *tz, time_t t)
{
	cb_tz_fields_t a, b;

	ck_assert_int_eq(cb_tz_icu_local_fields(tz, t, &a), 0);
	ck_assert_int_eq(cb_tz_local_fields(tz, t, &b), 0);
	ck_assert_msg(a.year == b.year && a.month == b.month && a.day == b.day && a.hour == b.hour &&
		      a.min == b.min && a.sec == b.sec && a.wday == b.wday,
		      "%s at %lld: ICU %04d-%02d-%02d %02d:%02d:%02d w%d, table %04d-%02d-%02d %02d:%02d:%02d w%d",
		      cb_tz_name(tz), (long long) t, a.year, a.month, a.day, a.hour, a.min, a.sec, a.wday,
		      b.year, b.month, b.day, b.hour, b.min, b.sec, b.wday);
	compared++;
}

static void same_add(cb_tz_t *tz, time_t t, int days)
{
	time_t a = cb_tz_icu_add_days(tz, t, days), b = cb_tz_add_days(tz, t, days);

	ck_assert_msg(a == b, "%s: %lld + %d days: ICU %lld, table %lld", cb_tz_name(tz), (long long) t, days,
		      (long long) a, (long long) b);
	compared++;
}

static void same_local(cb_tz_t *tz, int y, int mo, int d, int h, int mi, int s)
{
	time_t a = cb_tz_icu_local_to_utc(tz, y, mo, d, h, mi, s), b = cb_tz_local_to_utc(tz, y, mo, d, h, mi, s);

	ck_assert_msg(a == b, "%s: local %04d-%02d-%02d %02d:%02d:%02d: ICU %lld, table %lld", cb_tz_name(tz),
		      y, mo, d, h, mi, s, (long long) a, (long long) b);
	compared++;
}

/** same_local_at - the local times around local time `wall` (seconds, as if UTC). */
static void same_local_at(cb_tz_t *tz, int64_t wall)
{
	static int const around[] = { -3601, -3600, -1801, -1800, -1, 0, 1, 1799, 1800, 3599, 3600, 3601 };

	for (size_t i = 0; i < sizeof(around) / sizeof(around[0]); i++) {
		time_t w = (time_t) (wall + around[i]);
		char day[11];
		int hour;

		/* The fields of w read in UTC are the local fields to convert. */
		ck_assert_int_eq(cb_tz_local_day(NULL, w, day, &hour), 0);
		same_local(tz, (int) strtol(day, NULL, 10), (int) strtol(day + 5, NULL, 10),
			   (int) strtol(day + 8, NULL, 10), hour, (int) ((w / 60) % 60), (int) (w % 60));
	}
}

/** icu_offset - seconds ahead of UTC at t, through ICU. */
static int64_t icu_offset(cb_tz_t *tz, time_t t)
{
	cb_tz_fields_t f;

	ck_assert_int_eq(cb_tz_icu_local_fields(tz, t, &f), 0);
	return cb_tz_days_from_civil(f.year, (unsigned) f.month, (unsigned) f.day) * 86400 + f.hour * 3600 +
	       f.min * 60 + f.sec - (int64_t) t;
}

/** check_transition - the offset changes between lo and hi: find the second, compare around it. */
static void check_transition(cb_tz_t *tz, time_t lo, time_t hi, int64_t off_lo)
{
	int64_t off_hi = icu_offset(tz, hi);

	for (int i = 0; i < 64 && hi - lo > 1; i++) {	/* Bisect to the exact second. */
		time_t mid = lo + (hi - lo) / 2;

		if (icu_offset(tz, mid) == off_lo) lo = mid;
		else hi = mid;
	}
	ck_assert_int_eq(hi - lo, 1);
	for (int k = -2; k <= 2; k++) same_fields(tz, hi + k);
	for (size_t i = 0; i < sizeof(day_steps) / sizeof(day_steps[0]); i++) {
		same_add(tz, hi - 1, day_steps[i]);
		same_add(tz, hi, day_steps[i]);
		same_add(tz, hi + 1, day_steps[i]);
		same_add(tz, hi - 1 - (time_t) day_steps[i] * 86400, day_steps[i]);	/* Landing on it. */
		same_add(tz, hi - (time_t) day_steps[i] * 86400, day_steps[i]);
		same_add(tz, hi + 1800 - (time_t) day_steps[i] * 86400, day_steps[i]);
	}
	same_local_at(tz, (int64_t) hi + off_lo);	/* The wall times either side of the change. */
	same_local_at(tz, (int64_t) hi + off_hi);
}

/*
 * span_years - now +/- this many years: 20, or 1 under check-valgrind
 * (CB_UNDER_VALGRIND set), which looks for memory errors, not for another
 * zone rule: the full comparison runs in the normal and sanitizer builds.
 */
static time_t span_years(void)
{
	return getenv("CB_UNDER_VALGRIND") ? 1 : 20;
}

START_TEST(test_table_equals_icu)
{
	char const *err = NULL;
	cb_tz_t *tz = cb_tz_new(zones[_i], &err);
	time_t now = time(NULL), from = now - span_years() * YEAR, to = now + span_years() * YEAR, prev = from;
	int64_t prev_off;
	unsigned long transitions = 0, n = 0;

	ck_assert_msg(tz != NULL, "%s: %s", zones[_i], err ? err : "?");
	prev_off = icu_offset(tz, from);
	for (time_t t = from; t < to; t += STEP, n++) {
		int64_t off = icu_offset(tz, t);

		same_fields(tz, t);
		same_add(tz, t, day_steps[n % (sizeof(day_steps) / sizeof(day_steps[0]))]);
		if (n % 2 == 0) same_local_at(tz, (int64_t) t + off);
		if (off != prev_off) {
			check_transition(tz, prev, t, prev_off);
			transitions++;
		}
		prev = t;
		prev_off = off;
	}
	printf("%s: %lu transitions, %lu comparisons\n", zones[_i], transitions, compared);
	cb_tz_free(tz);
}
END_TEST

/** rate - calls a second of the expiry computation (ack time + 365 days) through fn. */
static double rate(cb_tz_t *tz, time_t (*fn)(cb_tz_t const *, time_t, int), long calls)
{
	struct timespec a, b;
	time_t base = time(NULL) - 200 * 86400, sink = 0;
	double secs;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < calls; i++) sink ^= fn(tz, base + i * 37, 365);
	clock_gettime(CLOCK_MONOTONIC, &b);
	secs = (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9;
	ck_assert_int_ne(sink, 1);
	return secs > 0 ? (double) calls / secs : 0;
}

START_TEST(test_speed)
{
	char const *err = NULL;
	cb_tz_t *tz = cb_tz_new("Europe/London", &err);
	double icu, table;

	ck_assert_ptr_nonnull(tz);
	icu = rate(tz, cb_tz_icu_add_days, getenv("CB_UNDER_VALGRIND") ? 200 : 20000);
	table = rate(tz, cb_tz_add_days, getenv("CB_UNDER_VALGRIND") ? 20000 : 2000000);
	printf("expiry (Europe/London, +365 days): ICU calendar per call %.0f calls/s, table %.0f calls/s (x%.0f)\n",
	       icu, table, icu > 0 ? table / icu : 0);
	ck_assert(table > icu);
	cb_tz_free(tz);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tz_table");
	TCase *tc = tcase_create("tz_table");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_table_equals_icu, 0, (int) (sizeof(zones) / sizeof(zones[0])));
	tcase_add_test(tc, test_speed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
