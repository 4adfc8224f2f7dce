/*
 * test_base.c - lib/base/: the MAC-address rule, the monotonic clock, the
 * worker thread (wakes never lost, stop while waiting, timeouts) and names
 * of enum values.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/mac.h"
#include "base/name.h"
#include "base/worker.h"

START_TEST(test_mac_accepted)
{
	static char const *const good[] = {
		"aa-bb-cc-dd-ee-ff", "AA:BB:CC:DD:EE:FF", "aabb.ccdd.eeff", "aabbccddeeff", "Aa-bB-cc-dd-ee-ff",
	};
	char out[CB_MAC_LEN + 1];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(cb_mac_normalise(good[i], out), "%s refused", good[i]);
		ck_assert_str_eq(out, "AA-BB-CC-DD-EE-FF");
	}
}
END_TEST

START_TEST(test_mac_refused)
{
	static char const *const bad[] = {
		"", "aa-bb-cc-dd-ee", "aa-bb-cc-dd-ee-ff-00", "aa:bb-cc:dd-ee:ff", "aa-bb-cc-dd-ee-fg",
		"aabb.ccdd.eeff.0011", "aabbccddeef", "aabbccddeeff0", "aa--bb-cc-dd-ee-ff", " aa-bb-cc-dd-ee-ff",
		"aa-bb-cc-dd-ee-ff ", "aab.bccd.deeff", "-aa-bb-cc-dd-ee-ff",
	};
	char out[CB_MAC_LEN + 1];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!cb_mac_normalise(bad[i], out), "%s accepted", bad[i]);
		ck_assert_str_eq(out, "");
	}
	ck_assert(!cb_mac_normalise(NULL, out));
}
END_TEST

START_TEST(test_mac_at_prefix)
{
	char digits[12], out[CB_MAC_LEN + 1];

	ck_assert_uint_eq(cb_mac_at("00-11-22-33-44-55:Staff WiFi", digits), 17);
	cb_mac_format(digits, out);
	ck_assert_str_eq(out, "00-11-22-33-44-55");
	ck_assert_uint_eq(cb_mac_at("001122334455:x", digits), 12);
	ck_assert_uint_eq(cb_mac_at("0011.2233.4455", digits), 14);
	ck_assert_uint_eq(cb_mac_at("Staff", digits), 0);
}
END_TEST

START_TEST(test_clock)
{
	int64_t a = cb_clock_ms(), b;
	struct timespec ts, later;

	usleep(20000);
	b = cb_clock_ms();
	ck_assert_int_ge(b - a, 19);
	ck_assert_int_lt(b - a, 5000);
	cb_clock_mono(&ts);
	cb_clock_after_ms(&later, 1500);
	ck_assert(later.tv_sec > ts.tv_sec || (later.tv_sec == ts.tv_sec && later.tv_nsec > ts.tv_nsec));
	ck_assert_int_lt(later.tv_nsec, 1000000000L);
}
END_TEST

typedef struct {
	int	rounds;
	int	timeouts_ms;
} counter_t;

static void count_rounds(cb_worker_t *w, void *arg)
{
	counter_t *c = arg;

	while (cb_worker_wait(w, c->timeouts_ms)) __atomic_add_fetch(&c->rounds, 1, __ATOMIC_SEQ_CST);
}

START_TEST(test_worker_wake_not_lost)
{
	counter_t c = { .rounds = 0, .timeouts_ms = -1 };
	char err[128];
	cb_worker_t *w = cb_worker_start("test", count_rounds, &c, err, sizeof(err));
	int64_t until;

	ck_assert_msg(w != NULL, "%s", err);
	cb_worker_wake(w);	/* Possibly before the thread first waits: remembered. */
	until = cb_clock_ms() + 2000;
	while (__atomic_load_n(&c.rounds, __ATOMIC_SEQ_CST) < 1 && cb_clock_ms() < until) usleep(1000);
	ck_assert_int_eq(__atomic_load_n(&c.rounds, __ATOMIC_SEQ_CST), 1);
	usleep(50000);	/* No timeout: no round without a wake. */
	ck_assert_int_eq(__atomic_load_n(&c.rounds, __ATOMIC_SEQ_CST), 1);
	cb_worker_stop(w);	/* Stops a thread waiting with no limit. */
	ck_assert_int_eq(c.rounds, 1);
}
END_TEST

START_TEST(test_worker_timeout)
{
	counter_t c = { .rounds = 0, .timeouts_ms = 10 };
	char err[128];
	cb_worker_t *w = cb_worker_start("test", count_rounds, &c, err, sizeof(err));

	ck_assert_msg(w != NULL, "%s", err);
	usleep(200000);
	cb_worker_stop(w);
	ck_assert_int_ge(c.rounds, 3);
	ck_assert_int_le(c.rounds, 40);
	cb_worker_stop(NULL);
	cb_worker_wake(NULL);
}
END_TEST

static void wait_for_stop(cb_worker_t *w, void *arg)
{
	bool *seen = arg;

	while (!cb_worker_stopping(w)) usleep(1000);
	*seen = true;
}

START_TEST(test_worker_stopping)
{
	bool seen = false;
	char err[128];
	cb_worker_t *w = cb_worker_start("test", wait_for_stop, &seen, err, sizeof(err));

	ck_assert_msg(w != NULL, "%s", err);
	cb_worker_stop(w);
	ck_assert(seen);
}
END_TEST

enum { RED = 1, GREEN = 2 };
static cb_name_t const colours[] = { { "red", RED }, { "green", GREEN }, { NULL, -1 } };

START_TEST(test_names)
{
	char buf[32];

	ck_assert_int_eq(cb_name_value(colours, "green", 0), GREEN);
	ck_assert_int_eq(cb_name_value(colours, "Green", 0), 0);
	ck_assert_int_eq(cb_name_value(colours, NULL, -7), -7);
	ck_assert_str_eq(cb_name_of(colours, RED, "?"), "red");
	ck_assert_str_eq(cb_name_of(colours, 9, "?"), "?");
	ck_assert_str_eq(cb_name_list(colours, buf, sizeof(buf)), "red, green");
	ck_assert_str_eq(cb_name_list(colours, buf, 6), "red, ");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("base");
	TCase *tc = tcase_create("base");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_mac_accepted);
	tcase_add_test(tc, test_mac_refused);
	tcase_add_test(tc, test_mac_at_prefix);
	tcase_add_test(tc, test_clock);
	tcase_add_test(tc, test_worker_wake_not_lost);
	tcase_add_test(tc, test_worker_timeout);
	tcase_add_test(tc, test_worker_stopping);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
