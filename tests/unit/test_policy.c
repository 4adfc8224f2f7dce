/*
 * test_policy.c - the policy engine as a table: each row is a situation
 * (directory, acknowledgement, exception, source, configuration, instant)
 * and the decision it must give.  Boundaries: exactly at expiry, one second
 * before, grace, the Europe/London clock changes, leap days.
 */
#include <check.h>
#include <stdlib.h>

#include "core/policy.h"

static cb_tz_t *london;

/* 2026-09-01T07:00:00Z = 08:00 BST */
#define SEP1_2026	((time_t) 1788246000)
#define DAY		((time_t) 86400)

typedef struct {
	char const		*name;
	cb_dir_facts_t		dir;
	cb_ack_facts_t		ack;
	cb_exception_t		exc;
	bool			stale;
	unsigned int		validity_days;
	time_t			effective_from;
	char const		*version;
	unsigned int		grace;
	cb_unack_action_t	unack;
	bool			admit_when_stale;
	time_t			now;
	cb_status_t		status;
	cb_reason_t		reason;
	time_t			valid_until;	/* -1: don't check */
} row_t;

#define STAFF	{ .result = CB_DIR_FOUND, .role = CB_ROLE_STAFF }
#define PUPIL	{ .result = CB_DIR_FOUND, .role = CB_ROLE_PUPIL }
#define ACK(t)	{ .present = true, .ack_time = (t) }

static row_t const rows[] = {
	{ "admitted", STAFF, ACK(SEP1_2026), {0}, false, 365, 0, NULL, 0, CB_UNACK_ONBOARD, false,
	  SEP1_2026 + DAY, CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED, SEP1_2026 + 365 * DAY },
	{ "one second before expiry", STAFF, ACK(SEP1_2026), {0}, false, 365, 0, NULL, 0, CB_UNACK_ONBOARD, false,
	  SEP1_2026 + 365 * DAY - 1, CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED, SEP1_2026 + 365 * DAY },
	{ "exactly at expiry", STAFF, ACK(SEP1_2026), {0}, false, 365, 0, NULL, 0, CB_UNACK_ONBOARD, false,
	  SEP1_2026 + 365 * DAY, CB_STATUS_ONBOARD, CB_REASON_ACKNOWLEDGEMENT_EXPIRED, 0 },
	{ "expired, reject configured", STAFF, ACK(SEP1_2026), {0}, false, 365, 0, NULL, 0, CB_UNACK_REJECT, false,
	  SEP1_2026 + 400 * DAY, CB_STATUS_REJECT, CB_REASON_ACKNOWLEDGEMENT_EXPIRED, 0 },
	{ "in grace", STAFF, ACK(SEP1_2026), {0}, false, 365, 0, NULL, 3600, CB_UNACK_ONBOARD, false,
	  SEP1_2026 + 365 * DAY + 10, CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED_IN_GRACE, SEP1_2026 + 365 * DAY + 3600 },
	{ "grace over", STAFF, ACK(SEP1_2026), {0}, false, 365, 0, NULL, 3600, CB_UNACK_ONBOARD, false,
	  SEP1_2026 + 365 * DAY + 3600, CB_STATUS_ONBOARD, CB_REASON_ACKNOWLEDGEMENT_EXPIRED, 0 },
	{ "never lapses", STAFF, ACK(SEP1_2026), {0}, false, 0, 0, NULL, 0, CB_UNACK_ONBOARD, false,
	  SEP1_2026 + 4000 * DAY, CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED, 0 },
	{ "no acknowledgement: onboard", STAFF, {0}, {0}, false, 365, 0, NULL, 0, CB_UNACK_ONBOARD, false,
	  SEP1_2026, CB_STATUS_ONBOARD, CB_REASON_NO_ACKNOWLEDGEMENT, 0 },
	{ "no acknowledgement: reject", STAFF, {0}, {0}, false, 365, 0, NULL, 0, CB_UNACK_REJECT, false,
	  SEP1_2026, CB_STATUS_REJECT, CB_REASON_NO_ACKNOWLEDGEMENT, 0 },
	{ "withdrawn", STAFF, { .present = true, .revoked = true, .ack_time = SEP1_2026 }, {0}, false, 365, 0, NULL, 0,
	  CB_UNACK_ONBOARD, false, SEP1_2026 + DAY, CB_STATUS_REJECT, CB_REASON_ACKNOWLEDGEMENT_REVOKED, 0 },
	{ "predates effective_from", STAFF, ACK(SEP1_2026 - 1), {0}, false, 365, SEP1_2026, NULL, 0, CB_UNACK_ONBOARD,
	  false, SEP1_2026 + DAY, CB_STATUS_ONBOARD, CB_REASON_ACKNOWLEDGEMENT_PREDATES_POLICY, 0 },
	{ "at effective_from counts", STAFF, ACK(SEP1_2026), {0}, false, 365, SEP1_2026, NULL, 0, CB_UNACK_ONBOARD,
	  false, SEP1_2026 + DAY, CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED, -1 },
	{ "other version", STAFF, { .present = true, .ack_time = SEP1_2026, .policy_version = "2025-1" }, {0}, false,
	  365, 0, "2026-1", 0, CB_UNACK_ONBOARD, false, SEP1_2026 + DAY, CB_STATUS_ONBOARD,
	  CB_REASON_ACKNOWLEDGEMENT_PREDATES_POLICY, 0 },
	{ "same version", STAFF, { .present = true, .ack_time = SEP1_2026, .policy_version = "2026-1" }, {0}, false,
	  365, 0, "2026-1", 0, CB_UNACK_ONBOARD, false, SEP1_2026 + DAY, CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED, -1 },
	{ "stale source fails closed", STAFF, ACK(SEP1_2026), {0}, true, 365, 0, NULL, 0, CB_UNACK_ONBOARD, false,
	  SEP1_2026 + DAY, CB_STATUS_REJECT, CB_REASON_SOURCE_STALE, 0 },
	{ "stale source, fail open", STAFF, ACK(SEP1_2026), {0}, true, 365, 0, NULL, 0, CB_UNACK_ONBOARD, true,
	  SEP1_2026 + DAY, CB_STATUS_ADMIT, CB_REASON_ACKNOWLEDGED, -1 },
	{ "directory down", { .result = CB_DIR_UNAVAILABLE }, ACK(SEP1_2026), {0}, false, 365, 0, NULL, 0,
	  CB_UNACK_ONBOARD, false, SEP1_2026, CB_STATUS_REJECT, CB_REASON_DIRECTORY_UNAVAILABLE, 0 },
	{ "not in directory", { .result = CB_DIR_NOT_FOUND }, ACK(SEP1_2026), {0}, false, 365, 0, NULL, 0,
	  CB_UNACK_ONBOARD, false, SEP1_2026, CB_STATUS_REJECT, CB_REASON_NOT_IN_DIRECTORY, 0 },
	{ "disabled beats acknowledged", { .result = CB_DIR_FOUND, .role = CB_ROLE_STAFF, .disabled = true },
	  ACK(SEP1_2026), {0}, false, 365, 0, NULL, 0, CB_UNACK_ONBOARD, false, SEP1_2026,
	  CB_STATUS_REJECT, CB_REASON_ACCOUNT_DISABLED, 0 },
	{ "revoked by IT beats acknowledged", { .result = CB_DIR_FOUND, .role = CB_ROLE_STAFF, .revoked = true },
	  ACK(SEP1_2026), {0}, false, 365, 0, NULL, 0, CB_UNACK_ONBOARD, false, SEP1_2026,
	  CB_STATUS_REJECT, CB_REASON_REVOKED_BY_ADMIN, 0 },
	{ "other is not staff", { .result = CB_DIR_FOUND, .role = CB_ROLE_OTHER }, ACK(SEP1_2026), {0}, false, 365,
	  0, NULL, 0, CB_UNACK_ONBOARD, false, SEP1_2026, CB_STATUS_REJECT, CB_REASON_NOT_STAFF, 0 },
	{ "pupil, no exception", PUPIL, ACK(SEP1_2026), {0}, false, 365, 0, NULL, 0, CB_UNACK_ONBOARD, false,
	  SEP1_2026, CB_STATUS_REJECT, CB_REASON_PUPIL_WITHOUT_EXCEPTION, 0 },
	{ "pupil, exception running", PUPIL, {0}, { .present = true, .until = SEP1_2026 + 10 }, false, 365, 0, NULL, 0,
	  CB_UNACK_ONBOARD, false, SEP1_2026 + 9, CB_STATUS_RESTRICTED, CB_REASON_EXCEPTION_ACTIVE, SEP1_2026 + 10 },
	{ "pupil, exception ends exactly now", PUPIL, {0}, { .present = true, .until = SEP1_2026 + 10 }, false, 365, 0,
	  NULL, 0, CB_UNACK_ONBOARD, false, SEP1_2026 + 10, CB_STATUS_REJECT, CB_REASON_EXCEPTION_EXPIRED, 0 },
	{ "pupil, open-ended exception", PUPIL, {0}, { .present = true, .until = 0 }, false, 365, 0, NULL, 0,
	  CB_UNACK_ONBOARD, false, SEP1_2026, CB_STATUS_RESTRICTED, CB_REASON_EXCEPTION_ACTIVE, 0 },
	{ "stale source does not matter to an exception", PUPIL, {0}, { .present = true }, true, 365, 0, NULL, 0,
	  CB_UNACK_ONBOARD, false, SEP1_2026, CB_STATUS_RESTRICTED, CB_REASON_EXCEPTION_ACTIVE, 0 },
};

START_TEST(test_table)
{
	row_t const *r = &rows[_i];
	cb_policy_conf_t conf = {
		.validity_days = r->validity_days, .effective_from = r->effective_from, .policy_version = r->version,
		.grace_seconds = r->grace, .unacknowledged = r->unack, .admit_when_stale = r->admit_when_stale,
		.tz = london,
	};
	cb_policy_input_t in = { .dir = r->dir, .ack = r->ack, .exception = r->exc, .source = { .stale = r->stale } };
	cb_decision_t d;

	cb_policy_decide(&conf, &in, r->now, &d);
	ck_assert_msg(d.status == r->status, "%s: status %s, expected %s", r->name, cb_status_name(d.status),
		      cb_status_name(r->status));
	ck_assert_msg(d.reason == r->reason, "%s: reason %s, expected %s", r->name, cb_reason_name(d.reason),
		      cb_reason_name(r->reason));
	if (r->valid_until != -1) {
		ck_assert_msg(d.valid_until == r->valid_until, "%s: valid_until %ld, expected %ld", r->name,
			      (long) d.valid_until, (long) r->valid_until);
	}
}
END_TEST

/*
 *	Calendar days in the school's zone, across the clock changes: an
 *	acknowledgement given at 10:00 local lapses at 10:00 local.
 */
START_TEST(test_expiry_across_clock_change)
{
	cb_policy_conf_t conf = { .validity_days = 1, .tz = london };
	time_t sat = 1774692000;	/* 2026-03-28T10:00:00Z = 10:00 GMT, the day before BST starts */
	time_t sat_oct = 1792832400;	/* 2026-10-24T09:00:00Z = 10:00 BST, the day before GMT returns */

	/* 2026-03-29 10:00 BST = 09:00Z: a 23-hour day. */
	ck_assert_int_eq(cb_ack_expiry(&conf, sat), sat + 23 * 3600);
	/* 2026-10-25 10:00 GMT = 10:00Z: a 25-hour day. */
	ck_assert_int_eq(cb_ack_expiry(&conf, sat_oct), sat_oct + 25 * 3600);

	/* One year from 10:00 GMT on 2026-03-28 is 10:00 GMT on 2027-03-28 (BST starts that day at 01:00). */
	conf.validity_days = 365;
	ck_assert_int_eq(cb_ack_expiry(&conf, sat), 1774692000 + 365 * DAY - 3600);
}
END_TEST

START_TEST(test_expiry_leap_day)
{
	cb_policy_conf_t conf = { .validity_days = 365, .tz = london };
	time_t leap = 1835395200;	/* 2028-02-29T00:00:00Z (GMT) */
	time_t feb28 = 1803772800;	/* 2027-02-28T00:00:00Z */

	/* 365 calendar days after 29 Feb 2028 is 28 Feb 2029. */
	ck_assert_int_eq(cb_ack_expiry(&conf, leap), leap + 365 * DAY);
	/* 365 days after 28 Feb 2027 crosses 29 Feb 2028: lands on 28 Feb 2028. */
	ck_assert_int_eq(cb_ack_expiry(&conf, feb28), feb28 + 365 * DAY);
	conf.validity_days = 366;
	ck_assert_int_eq(cb_ack_expiry(&conf, feb28), feb28 + 366 * DAY);
}
END_TEST

START_TEST(test_reason_names_round_trip)
{
	for (int i = 0; i < CB_REASON_MAX; i++) {
		ck_assert_int_eq(cb_reason_from_name(cb_reason_name((cb_reason_t) i)), i);
		ck_assert_ptr_nonnull(cb_reason_message((cb_reason_t) i));
	}
	ck_assert_int_eq(cb_reason_from_name("no_such_reason"), -1);
	ck_assert_str_eq(cb_reason_name(CB_REASON_MAX), "unknown");
}
END_TEST

int main(void)
{
	char const *err = NULL;
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");
	SRunner *sr;
	int failed;

	london = cb_tz_new("Europe/London", &err);
	if (!london) return 1;
	tcase_add_loop_test(tc, test_table, 0, (int) (sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_expiry_across_clock_change);
	tcase_add_test(tc, test_expiry_leap_day);
	tcase_add_test(tc, test_reason_names_round_trip);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	cb_tz_free(london);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
