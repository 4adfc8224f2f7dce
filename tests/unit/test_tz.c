/*
 * test_tz.c - time zones, RFC 3339 and spreadsheet serials: the last Sundays
 * of March and October in Europe/London, gaps and overlaps, leap days,
 * "GMT-07:00" zones, and strictness against malformed input.  Also the
 * acknowledgements file parser and the acknowledgement index.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/ackfile.h"
#include "core/ack.h"
#include "core/tz.h"

static cb_tz_t *london;

static time_t parse(char const *s, cb_tz_t const *tz)
{
	time_t t = -1;

	if (cb_tz_parse_time(s, strlen(s), tz, &t) < 0) return -1;
	return t;
}

START_TEST(test_rfc3339)
{
	char buf[32];

	ck_assert_int_eq(parse("2026-09-01T07:00:00Z", NULL), 1788246000);
	ck_assert_int_eq(parse("2026-09-01T08:00:00+01:00", NULL), 1788246000);
	ck_assert_int_eq(parse("2026-09-01T07:00:00.123456789Z", NULL), 1788246000);
	ck_assert_int_eq(parse("2028-02-29T00:00:00Z", NULL), 1835395200);
	ck_assert_int_eq(parse("2027-02-29T00:00:00Z", NULL), -1);
	ck_assert_int_eq(parse("2026-13-01T00:00:00Z", NULL), -1);
	ck_assert_int_eq(parse("2026-09-01T24:00:00Z", NULL), -1);
	ck_assert_int_eq(parse("2026-09-01T07:00:00", NULL), -1);	/* local needs a zone */
	ck_assert_int_eq(parse("2026-09-01T07:00:00Zjunk", NULL), -1);
	ck_assert_int_eq(parse("2026-9-1", london), -1);
	ck_assert_int_eq(parse("", NULL), -1);
	ck_assert_str_eq(cb_tz_format_utc(1788246000, buf, sizeof(buf)), "2026-09-01T07:00:00Z");
	ck_assert_str_eq(cb_tz_format_utc(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
	ck_assert_str_eq(cb_tz_format_utc(-1, buf, sizeof(buf)), "1969-12-31T23:59:59Z");
	ck_assert_str_eq(cb_tz_format_utc(253402300799, buf, sizeof(buf)), "9999-12-31T23:59:59Z");
	ck_assert_str_eq(cb_tz_format_utc(253402300800, buf, sizeof(buf)), "10000-01-01T00:00:00Z");
	ck_assert_str_eq(cb_tz_format_utc(1788246000, buf, 11), "2026-09-01");	/* Cut to the buffer. */
	/* Formatted and parsed back, every 9,973 s over 1970-2100. */
	for (time_t t = 0; t < 4102444800; t += 9973) {
		ck_assert_int_eq(parse(cb_tz_format_utc(t, buf, sizeof(buf)), NULL), t);
	}
}
END_TEST

START_TEST(test_london_clock_changes)
{
	/* 2026-03-29: 01:00 GMT -> 02:00 BST. */
	ck_assert_int_eq(parse("2026-03-29 00:59", london), parse("2026-03-29T00:59:00Z", NULL));
	ck_assert_int_eq(parse("2026-03-29 02:00", london), parse("2026-03-29T01:00:00Z", NULL));
	/* 01:30 does not exist: read with the offset before the change (GMT). */
	ck_assert_int_eq(parse("2026-03-29 01:30", london), parse("2026-03-29T01:30:00Z", NULL));
	/* 2026-10-25: 02:00 BST -> 01:00 GMT; 01:30 happens twice, the first (BST) counts. */
	ck_assert_int_eq(parse("2026-10-25 01:30", london), parse("2026-10-25T00:30:00Z", NULL));
	ck_assert_int_eq(parse("2026-10-25 02:00", london), parse("2026-10-25T02:00:00Z", NULL));
	ck_assert_int_eq(parse("2026-09-01", london), parse("2026-08-31T23:00:00Z", NULL));
	ck_assert_int_eq(parse("2026-12-01", london), parse("2026-12-01T00:00:00Z", NULL));
}
END_TEST

START_TEST(test_serials)
{
	char const *err = NULL;
	cb_tz_t *gmt7 = cb_tz_new("GMT-07:00", &err);

	ck_assert_ptr_nonnull(gmt7);
	/* 46000 = 2025-12-09; in winter London is UTC. */
	ck_assert_int_eq(cb_tz_serial_to_utc(london, 46000.5), parse("2025-12-09T12:00:00Z", NULL));
	/* 2026-03-29 12:00 BST (serial 46110.5) = 11:00Z. */
	ck_assert_int_eq(cb_tz_serial_to_utc(london, 46110.5), parse("2026-03-29T11:00:00Z", NULL));
	/* 2026-10-25 12:00 GMT (serial 46320.5) = 12:00Z. */
	ck_assert_int_eq(cb_tz_serial_to_utc(london, 46320.5), parse("2026-10-25T12:00:00Z", NULL));
	/* A time stored as a binary fraction still lands on the second. */
	ck_assert_int_eq(cb_tz_serial_to_utc(london, 46000.0 + 13.0 / 24 + 5.0 / 1440), parse("2025-12-09T13:05:00Z", NULL));
	ck_assert_int_eq(cb_tz_serial_to_utc(gmt7, 46000.5), parse("2025-12-09T19:00:00Z", NULL));
	ck_assert_int_eq(cb_tz_serial_to_utc(london, -1), -1);
	ck_assert_int_eq(cb_tz_serial_to_utc(london, 1e12), -1);
	ck_assert_ptr_null(cb_tz_new("Mars/Olympus_Mons", &err));
	ck_assert_ptr_null(cb_tz_new("", &err));
	cb_tz_free(gmt7);
}
END_TEST

static unsigned int logged;
static char last_log[512];

static void test_log(void *uctx, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void test_log(void *uctx, cb_log_level_t level, char const *fmt, ...)
{
	va_list ap;

	(void) uctx;
	(void) level;
	logged++;
	va_start(ap, fmt);
	vsnprintf(last_log, sizeof(last_log), fmt, ap);
	va_end(ap);
}

START_TEST(test_ackfile_and_index)
{
	static char const file[] =
		"# comment\n"
		"\n"
		"Alice@School.Example  2026-09-03T08:15:00Z  version=2026-1\n"
		"bob@school.example 2026-09-01 by=office\n"
		"not-an-email 2026-09-01\n"
		"carol@school.example 2026-10-02 14:30\n"
		"carol@school.example 2026-10-05 revoked\n"
		"dave@school.example 2026-10-05 bogus-option\n"
		"erin@school.example yesterday\n"
		"alice@school.example 2026-09-01T00:00:00Z\n";	/* older: does not replace */
	cb_ack_builder_t *b = cb_ack_builder_new();
	cb_ack_index_t *idx;
	cb_ack_record_t const *r;
	char const *emails[] = { "nobody@school.example", "carol@school.example" };

	logged = 0;
	ck_assert_uint_eq(cb_ackfile_parse("acks", file, sizeof(file) - 1, london, b, test_log, NULL), 3);
	ck_assert_uint_eq(logged, 3);
	ck_assert_ptr_nonnull(strstr(last_log, "line 9"));
	idx = cb_ack_builder_finish(b, 1);
	ck_assert_uint_eq(cb_ack_index_count(idx), 3);
	ck_assert_uint_eq(cb_ack_index_agreed(idx), 2);

	r = cb_ack_index_find(idx, "alice@school.example");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->ack_time, parse("2026-09-03T08:15:00Z", NULL));
	ck_assert_str_eq(r->policy_version, "2026-1");
	ck_assert_str_eq(r->origin, "acks:3");
	r = cb_ack_index_find(idx, "bob@school.example");
	ck_assert_int_eq(r->ack_time, parse("2026-08-31T23:00:00Z", NULL));
	r = cb_ack_index_find_latest(idx, emails, 2);
	ck_assert(r && r->revoked);
	ck_assert_ptr_null(cb_ack_index_find(idx, "dave@school.example"));
	cb_ack_index_unref(idx);
}
END_TEST

START_TEST(test_index_many_and_holder)
{
	cb_ack_builder_t *b = cb_ack_builder_new();
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_ack_index_t *idx, *held;
	char email[64];

	for (int i = 0; i < 20000; i++) {
		snprintf(email, sizeof(email), "user%d@school.example", i);
		ck_assert_int_eq(cb_ack_builder_add(b, email, 1000 + i, "", (i % 10) == 0, "t"), 0);
	}
	/* At equal times a withdrawal wins. */
	ck_assert_int_eq(cb_ack_builder_add(b, "user1@school.example", 1001, "", true, "t"), 0);
	idx = cb_ack_builder_finish(b, 5);
	ck_assert_uint_eq(cb_ack_index_count(idx), 20000);
	ck_assert_uint_eq(cb_ack_index_agreed(idx), 20000 - 2000 - 1);
	for (int i = 0; i < 20000; i += 997) {
		snprintf(email, sizeof(email), "user%d@school.example", i);
		ck_assert_int_eq(cb_ack_index_find(idx, email)->ack_time, 1000 + i);
	}
	cb_ack_current_set(cur, idx);
	held = cb_ack_current_get(cur);
	cb_ack_current_set(cur, NULL);		/* The reader's reference keeps it alive. */
	ck_assert_uint_eq(cb_ack_index_count(held), 20000);
	cb_ack_index_unref(held);
	ck_assert_ptr_null(cb_ack_current_get(cur));
	cb_ack_current_free(cur);
}
END_TEST

/* The local day and hour the daily sharing summary goes by: BST and GMT, and UTC without a zone. */
START_TEST(test_local_day)
{
	char day[11];
	int hour = -1;

	/* 2026-07-01T23:30:00Z is 00:30 on 2 July in London (BST). */
	ck_assert_int_eq(cb_tz_local_day(london, 1782948600, day, &hour), 0);
	ck_assert_str_eq(day, "2026-07-02");
	ck_assert_int_eq(hour, 0);
	ck_assert_int_eq(cb_tz_local_day(NULL, 1782948600, day, &hour), 0);
	ck_assert_str_eq(day, "2026-07-01");
	ck_assert_int_eq(hour, 23);
	/* 2026-12-02T07:15:00Z is 07:15 in London (GMT). */
	ck_assert_int_eq(cb_tz_local_day(london, 1796195700, day, &hour), 0);
	ck_assert_str_eq(day, "2026-12-02");
	ck_assert_int_eq(hour, 7);
}
END_TEST

int main(void)
{
	char const *err = NULL;
	Suite *s = suite_create("tz");
	TCase *tc = tcase_create("tz");
	SRunner *sr;
	int failed;

	london = cb_tz_new("Europe/London", &err);
	if (!london) return 1;
	tcase_add_test(tc, test_rfc3339);
	tcase_add_test(tc, test_london_clock_changes);
	tcase_add_test(tc, test_serials);
	tcase_add_test(tc, test_ackfile_and_index);
	tcase_add_test(tc, test_index_many_and_holder);
	tcase_add_test(tc, test_local_day);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	cb_tz_free(london);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
