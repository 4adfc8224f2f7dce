/*
 * test_limits.c - device limits and shared credentials (core/limits.h) as a
 * table: the person's devices and open sessions, the request's device and
 * NAS, the limits, and what must come of it; and what each action does to
 * the policy's decision; and the store's devices table (a temporary store):
 * seen, held back, counted only upwards, forgotten with a record of who and
 * why, migrated from a version 2 store.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mac.h"
#include "core/limits.h"
#include "store/store.h"
#include "test_state.h"
#include "test_tmp.h"

#define NOW	((time_t) 1788246000)	/* 2026-09-01T07:00:00Z */
#define DAY	((time_t) 86400)

#define A	"AA-AA-AA-AA-AA-01"
#define B	"AA-AA-AA-AA-AA-02"
#define C	"AA-AA-AA-AA-AA-03"
#define D	"AA-AA-AA-AA-AA-04"

/* Three devices let in this week, one held back, one seen long ago. */
static cb_limits_device_t const three[] = {
	{ A, NOW - DAY, true }, { B, NOW - 2 * DAY, true }, { C, NOW - 3 * DAY, true },
	{ D, NOW - DAY, false }, { "AA-AA-AA-AA-AA-09", NOW - 200 * DAY, true },
};

/* Sessions open: A at nas1, B at nas2, one without a MAC at nas1. */
static cb_limits_session_t const open2[] = { { A, "nas1" }, { B, "nas2" } };
static cb_limits_session_t const open3[] = { { A, "nas1" }, { B, "nas2" }, { "", "nas1" } };

typedef struct {
	char const			*name;
	unsigned int			max_devices, window, max_concurrent;
	cb_limit_action_t		dev_action, conc_action;
	char const			*device, *nas;
	cb_limits_device_t const	*devices;
	size_t				num_devices;
	cb_limits_session_t const	*sessions;
	size_t				num_sessions;
	/* Expected. */
	bool				known;
	size_t				known_devices, concurrent;
	cb_limit_kind_t			applied;
	cb_limit_action_t		action;
	char const			*other_nas;
} row_t;

#define N(a) (a), (sizeof(a) / sizeof((a)[0]))
#define NONE NULL, 0

static row_t const rows[] = {
	{ "no limits", 0, 90, 0, CB_LIMIT_REJECT, CB_LIMIT_REJECT, "AA-AA-AA-AA-AA-05", "nas1", N(three), NONE,
	  false, 3, 0, CB_LIMIT_NONE, CB_LIMIT_REPORT, NULL },
	{ "fourth new device, onboard", 3, 90, 0, CB_LIMIT_ONBOARD, CB_LIMIT_REPORT, "AA-AA-AA-AA-AA-05", "nas1",
	  N(three), NONE, false, 3, 0, CB_LIMIT_DEVICES, CB_LIMIT_ONBOARD, NULL },
	{ "held-back device comes back: still over", 3, 90, 0, CB_LIMIT_REJECT, CB_LIMIT_REPORT, D, "nas1", N(three),
	  NONE, false, 3, 0, CB_LIMIT_DEVICES, CB_LIMIT_REJECT, NULL },
	{ "known device is never held back", 3, 90, 0, CB_LIMIT_REJECT, CB_LIMIT_REPORT, B, "nas1", N(three), NONE,
	  true, 2, 0, CB_LIMIT_NONE, CB_LIMIT_REPORT, NULL },
	{ "report only: admitted, counted, flagged", 3, 90, 0, CB_LIMIT_REPORT, CB_LIMIT_REPORT, "AA-AA-AA-AA-AA-05",
	  "nas1", N(three), NONE, false, 3, 0, CB_LIMIT_DEVICES, CB_LIMIT_REPORT, NULL },
	{ "under the limit", 4, 90, 0, CB_LIMIT_REJECT, CB_LIMIT_REPORT, "AA-AA-AA-AA-AA-05", "nas1", N(three), NONE,
	  false, 3, 0, CB_LIMIT_NONE, CB_LIMIT_REPORT, NULL },
	{ "window 0: the old device counts too", 4, 0, 0, CB_LIMIT_REJECT, CB_LIMIT_REPORT, "AA-AA-AA-AA-AA-05",
	  "nas1", N(three), NONE, false, 4, 0, CB_LIMIT_DEVICES, CB_LIMIT_REJECT, NULL },
	{ "short window: only A and B count", 3, 2, 0, CB_LIMIT_REJECT, CB_LIMIT_REPORT, "AA-AA-AA-AA-AA-05",
	  "nas1", N(three), NONE, false, 2, 0, CB_LIMIT_NONE, CB_LIMIT_REPORT, NULL },
	{ "no device: the device limit cannot apply", 1, 90, 0, CB_LIMIT_REJECT, CB_LIMIT_REPORT, "", "nas1",
	  N(three), NONE, false, 0, 0, CB_LIMIT_NONE, CB_LIMIT_REPORT, NULL },
	{ "concurrent: two open elsewhere, limit 2", 0, 90, 2, CB_LIMIT_REPORT, CB_LIMIT_ONBOARD, C, "nas1", N(three),
	  N(open2), true, 2, 2, CB_LIMIT_CONCURRENT, CB_LIMIT_ONBOARD, "nas2" },
	{ "concurrent: own device's session not counted", 0, 90, 2, CB_LIMIT_REPORT, CB_LIMIT_REJECT, A, "nas1",
	  N(three), N(open2), true, 2, 1, CB_LIMIT_NONE, CB_LIMIT_REPORT, "nas2" },
	{ "concurrent: a session without a MAC counts", 0, 90, 2, CB_LIMIT_REPORT, CB_LIMIT_REJECT, A, "nas1",
	  N(three), N(open3), true, 2, 2, CB_LIMIT_CONCURRENT, CB_LIMIT_REJECT, "nas2" },
	{ "two NASes flagged without any limit", 0, 90, 0, CB_LIMIT_REPORT, CB_LIMIT_REPORT, C, "nas1", N(three),
	  N(open2), true, 2, 2, CB_LIMIT_NONE, CB_LIMIT_REPORT, "nas2" },
	{ "same NAS is not two places", 0, 90, 0, CB_LIMIT_REPORT, CB_LIMIT_REPORT, B, "nas1", N(three),
	  N(open2) - 1, true, 2, 1, CB_LIMIT_NONE, CB_LIMIT_REPORT, NULL },
	{ "both over: the stronger action wins", 3, 90, 1, CB_LIMIT_ONBOARD, CB_LIMIT_REJECT, "AA-AA-AA-AA-AA-05",
	  "nas1", N(three), N(open2), false, 3, 2, CB_LIMIT_CONCURRENT, CB_LIMIT_REJECT, "nas2" },
	{ "both over, tie: the device limit is named", 3, 90, 1, CB_LIMIT_REJECT, CB_LIMIT_REJECT,
	  "AA-AA-AA-AA-AA-05", "nas1", N(three), N(open2), false, 3, 2, CB_LIMIT_DEVICES, CB_LIMIT_REJECT,
	  "nas2" },
};

START_TEST(test_table)
{
	row_t const *r = &rows[_i];
	cb_limits_conf_t conf = {
		.max_devices = r->max_devices, .device_window_days = r->window, .devices_action = r->dev_action,
		.max_concurrent = r->max_concurrent, .concurrent_action = r->conc_action,
	};
	cb_limits_input_t in = {
		.device = r->device, .nas = r->nas, .devices = r->devices, .num_devices = r->num_devices,
		.sessions = r->sessions, .num_sessions = r->num_sessions,
	};
	cb_limits_result_t res;

	cb_limits_check(&conf, &in, NOW, &res);
	ck_assert_msg(res.known == r->known, "%s: known", r->name);
	ck_assert_msg(res.known_devices == r->known_devices, "%s: %zu known devices", r->name, res.known_devices);
	ck_assert_msg(res.concurrent == r->concurrent, "%s: %zu concurrent", r->name, res.concurrent);
	ck_assert_msg(res.applied == r->applied, "%s: applied %d", r->name, (int) res.applied);
	ck_assert_msg(res.action == r->action, "%s: action %d", r->name, (int) res.action);
	if (r->other_nas) ck_assert_str_eq(res.other_nas ? res.other_nas : "(none)", r->other_nas);
	else ck_assert_msg(res.other_nas == NULL, "%s: other NAS %s", r->name, res.other_nas);
}
END_TEST

START_TEST(test_apply)
{
	cb_limits_result_t res = { .applied = CB_LIMIT_DEVICES, .action = CB_LIMIT_ONBOARD };
	cb_decision_t d = { .status = CB_STATUS_ADMIT, .reason = CB_REASON_ACKNOWLEDGED, .valid_until = NOW + DAY };

	ck_assert(cb_limits_apply(&res, &d));
	ck_assert_int_eq(d.status, CB_STATUS_ONBOARD);
	ck_assert_int_eq(d.reason, CB_REASON_DEVICE_LIMIT);
	ck_assert_int_eq(d.valid_until, 0);
	ck_assert_str_eq(cb_reason_name(d.reason), "device_limit");

	res = (cb_limits_result_t) { .applied = CB_LIMIT_CONCURRENT, .action = CB_LIMIT_REJECT };
	d = (cb_decision_t) { .status = CB_STATUS_RESTRICTED, .reason = CB_REASON_EXCEPTION_ACTIVE };
	ck_assert(cb_limits_apply(&res, &d));
	ck_assert_int_eq(d.status, CB_STATUS_REJECT);
	ck_assert_str_eq(cb_reason_name(d.reason), "concurrent_limit");

	/* A refusal stays the policy's refusal; report changes nothing. */
	d = (cb_decision_t) { .status = CB_STATUS_REJECT, .reason = CB_REASON_ACCOUNT_DISABLED };
	ck_assert(!cb_limits_apply(&res, &d));
	ck_assert_int_eq(d.reason, CB_REASON_ACCOUNT_DISABLED);
	res.action = CB_LIMIT_REPORT;
	d = (cb_decision_t) { .status = CB_STATUS_ADMIT, .reason = CB_REASON_ACKNOWLEDGED };
	ck_assert(!cb_limits_apply(&res, &d));
	ck_assert_int_eq(d.status, CB_STATUS_ADMIT);

	ck_assert_int_eq(cb_limit_action_from_name("onboard"), CB_LIMIT_ONBOARD);
	ck_assert_int_eq(cb_limit_action_from_name("drop"), -1);
	ck_assert_str_eq(cb_limit_action_name(CB_LIMIT_REJECT), "reject");
	ck_assert(cb_reason_message(CB_REASON_DEVICE_LIMIT)[0] != '\0');
	ck_assert_int_eq(cb_reason_from_name("concurrent_limit"), CB_REASON_CONCURRENT_LIMIT);
}
END_TEST

static char tmpdir[256], dbpath[300];

static void store_setup(void)
{
	test_tmp_dir("test_limits", tmpdir, sizeof(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/cetbyod.db", tmpdir);
}

static void store_teardown(void)
{
	char p[400];
	static char const *const files[] = { "cetbyod.db", "cetbyod.db-wal", "cetbyod.db-shm" };

	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpdir, files[i]);
		unlink(p);
	}
	rmdir(tmpdir);
}

START_TEST(test_store_devices)
{
	cb_store_t *s = test_state_open();	/* SQLite, or PostgreSQL under tests/unit/test_state_pg.sh. */
	cb_store_known_devices_t list = { 0 };
	cb_store_device_forgets_t forgets = { 0 };
	size_t removed = 9;

	ck_assert_int_eq(cb_store_device_seen(s, "alice", A, "nas1", true, NOW - 3 * DAY), 0);
	ck_assert_int_eq(cb_store_device_seen(s, "alice", B, "nas1", true, NOW - 2 * DAY), 0);
	ck_assert_int_eq(cb_store_device_seen(s, "alice", D, "nas2", false, NOW - DAY), 0);
	ck_assert_int_eq(cb_store_device_seen(s, "bob", A, "", true, NOW), 0);
	/* Seen again: last_seen and nas move on, first_seen stays; counted never goes back to false. */
	ck_assert_int_eq(cb_store_device_seen(s, "alice", A, "nas3", false, NOW), 0);
	/* Refused: not a MAC in the store's form, not an identity. */
	ck_assert_int_eq(cb_store_device_seen(s, "alice", "aa:aa:aa:aa:aa:01", "nas1", true, NOW), -1);
	ck_assert_int_eq(cb_store_device_seen(s, "", A, "nas1", true, NOW), -1);

	ck_assert_int_eq(cb_store_devices_known(s, "alice", 0, &list), 0);
	ck_assert_uint_eq(list.count, 3);
	ck_assert_str_eq(list.items[0].mac, A);
	ck_assert_str_eq(list.items[0].nas, "nas3");
	ck_assert_int_eq(list.items[0].first_seen, NOW - 3 * DAY);
	ck_assert_int_eq(list.items[0].last_seen, NOW);
	ck_assert(list.items[0].counted);
	ck_assert_str_eq(list.items[1].mac, D);
	ck_assert(!list.items[1].counted);
	cb_store_known_devices_free(&list);
	ck_assert_int_eq(cb_store_devices_known(s, NULL, NOW - DAY, &list), 0);
	ck_assert_uint_eq(list.count, 3);	/* alice's A and D, bob's A. */
	cb_store_known_devices_free(&list);
	{
		cb_store_acct_t a = { .nas = "192.0.2.1", .acct_session_id = "s1", .identity = "alice",
				      .calling_station = "aa:aa:aa:aa:aa:01", .event_time = NOW };
		cb_store_sessions_t open = { 0 };

		ck_assert_int_eq(cb_store_session_start(s, &a), 0);
		ck_assert_int_eq(cb_store_person_now(s, "alice", &list, &open), 0);
		ck_assert_uint_eq(list.count, 3);
		ck_assert_uint_eq(open.count, 1);
		ck_assert_str_eq(open.items[0].calling_station, "aa:aa:aa:aa:aa:01");
		cb_store_known_devices_free(&list);
		cb_store_sessions_free(&open);
		ck_assert_int_eq(cb_store_person_now(s, "", &list, &open), -1);
	}

	/* Forget one device, then the rest; nothing left: 1, and nothing recorded. */
	ck_assert_int_eq(cb_store_devices_forget(s, "alice", B, "sold it", "it-admin", NOW, &removed), 0);
	ck_assert_uint_eq(removed, 1);
	ck_assert_int_eq(cb_store_devices_forget(s, "alice", NULL, "shared password", "it-admin", NOW + 1, &removed), 0);
	ck_assert_uint_eq(removed, 2);
	ck_assert_int_eq(cb_store_devices_forget(s, "alice", NULL, "again", "it-admin", NOW + 2, &removed), 1);
	ck_assert_int_eq(cb_store_devices_forget(s, "alice", NULL, "", "it-admin", NOW + 2, &removed), -1);
	ck_assert_int_eq(cb_store_devices_known(s, "alice", 0, &list), 0);
	ck_assert_uint_eq(list.count, 0);
	cb_store_known_devices_free(&list);
	ck_assert_int_eq(cb_store_device_forgets(s, 0, &forgets), 0);
	ck_assert_uint_eq(forgets.count, 2);
	ck_assert_str_eq(forgets.items[0].mac, B);
	ck_assert_str_eq(forgets.items[0].reason, "sold it");
	ck_assert_str_eq(forgets.items[1].by, "it-admin");
	ck_assert_str_eq(forgets.items[1].mac, "");
	ck_assert_uint_eq(forgets.items[1].removed, 2);
	{
		int64_t first = forgets.items[0].id;

		cb_store_device_forgets_free(&forgets);
		ck_assert_int_eq(cb_store_device_forgets(s, first, &forgets), 0);
	}
	ck_assert_uint_eq(forgets.count, 1);
	cb_store_device_forgets_free(&forgets);

	/* An admission's decision records its device: counted, unless its reason is a limit's. */
	{
		cb_store_decision_t d = { .identity = "carol", .status = "admit", .reason = "acknowledged",
					  .decided_at = NOW, .nas = "nas1", .calling_station = "aa:aa:aa:aa:aa:07" };
		cb_store_decision_t held = d;

		ck_assert_int_eq(cb_store_new_class_id(d.class_id), 0);
		ck_assert_int_eq(cb_store_decision_put(s, &d), 0);
		ck_assert_int_eq(cb_store_new_class_id(held.class_id), 0);
		snprintf(held.reason, sizeof(held.reason), "device_limit");
		snprintf(held.calling_station, sizeof(held.calling_station), "aabb.ccdd.ee08");
		snprintf(held.status, sizeof(held.status), "onboard");
		ck_assert_int_eq(cb_store_decision_put(s, &held), 0);
		ck_assert_int_eq(cb_store_devices_known(s, "carol", 0, &list), 0);
		ck_assert_uint_eq(list.count, 2);
		ck_assert_str_eq(list.items[0].mac, "AA-AA-AA-AA-AA-07");
		ck_assert(list.items[0].counted);
		ck_assert_str_eq(list.items[0].nas, "nas1");
		ck_assert_str_eq(list.items[1].mac, "AA-BB-CC-DD-EE-08");
		ck_assert(!list.items[1].counted);
		cb_store_known_devices_free(&list);
	}
	/* At most CB_STORE_DEVICES_PER_PERSON rows per person: the least recently seen goes. */
	for (int i = 0; i < CB_STORE_DEVICES_PER_PERSON + 5; i++) {
		char m[CB_MAC_LEN + 1];

		snprintf(m, sizeof(m), "02-00-00-00-%02X-%02X", i / 256, i % 256);
		ck_assert_int_eq(cb_store_device_seen(s, "dave", m, "nas1", true, NOW - 1000 + i), 0);
	}
	ck_assert_int_eq(cb_store_devices_known(s, "dave", 0, &list), 0);
	ck_assert_uint_eq(list.count, CB_STORE_DEVICES_PER_PERSON);
	ck_assert_str_eq(list.items[list.count - 1].mac, "02-00-00-00-00-05");
	cb_store_known_devices_free(&list);
	{
		/* The same in one batch (the devices writer's): a person at the bound with one new device
		 * (PostgreSQL: room made in a pipeline), one with two new ones, a known device, one seen twice. */
		cb_store_seen_t seen[] = {
			{ .identity = "dave", .mac = "02-00-00-00-01-00", .nas = "nas2", .counted = true, .when = NOW },
			{ .identity = "erin", .mac = "02-00-00-00-0E-01", .nas = "nas1", .counted = true, .when = NOW },
			{ .identity = "erin", .mac = "02-00-00-00-0E-02", .nas = "nas1", .counted = true, .when = NOW },
			{ .identity = "dave", .mac = "02-00-00-00-00-68", .nas = "nas3", .counted = true, .when = NOW },
			{ .identity = "fred", .mac = "02-00-00-00-0F-01", .nas = "nas1", .counted = false, .when = NOW },
			{ .identity = "fred", .mac = "02-00-00-00-0F-01", .nas = "nas2", .counted = true, .when = NOW + 1 },
		};

		ck_assert_int_eq(cb_store_devices_seen(s, seen, sizeof(seen) / sizeof(seen[0])), 0);
		ck_assert_int_eq(cb_store_devices_known(s, "dave", 0, &list), 0);
		ck_assert_uint_eq(list.count, CB_STORE_DEVICES_PER_PERSON);
		ck_assert_str_eq(list.items[0].mac, "02-00-00-00-00-68");	/* Known: seen now, at nas3. */
		ck_assert_str_eq(list.items[0].nas, "nas3");
		ck_assert_str_eq(list.items[1].mac, "02-00-00-00-01-00");	/* New: in place of the oldest. */
		ck_assert_str_eq(list.items[list.count - 1].mac, "02-00-00-00-00-06");
		cb_store_known_devices_free(&list);
		ck_assert_int_eq(cb_store_devices_known(s, "erin", 0, &list), 0);
		ck_assert_uint_eq(list.count, 2);
		cb_store_known_devices_free(&list);
		ck_assert_int_eq(cb_store_devices_known(s, "fred", 0, &list), 0);
		ck_assert_uint_eq(list.count, 1);
		ck_assert(list.items[0].counted);
		ck_assert_int_eq(list.items[0].last_seen, NOW + 1);
		ck_assert_str_eq(list.items[0].nas, "nas2");
		cb_store_known_devices_free(&list);
	}

	/* The retention purge takes devices last seen, and forgets made, before the cut. */
	ck_assert_int_eq(cb_store_purge(s, NOW + 10, &removed), 0);
	ck_assert_int_eq(cb_store_devices_known(s, NULL, 0, &list), 0);
	ck_assert_uint_eq(list.count, 0);
	cb_store_known_devices_free(&list);
	test_state_close(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("limits");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_table, 0, (int) (sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_apply);
	suite_add_tcase(s, tc);
	tc = tcase_create("store");
	tcase_add_checked_fixture(tc, store_setup, store_teardown);
	tcase_add_test(tc, test_store_devices);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
