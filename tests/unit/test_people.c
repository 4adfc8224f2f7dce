/*
 * test_people.c - the list of people without a directory (people.c): the
 * thread lists everyone with an acknowledgement on record and writes each
 * row with what cb_decide says for them (staff by default); in dry-run
 * mode the reminders name the smallest window a lapse falls in; and the
 * window choice itself as a table (cb_reminder_window).  The thread's
 * first round comes after one second; every wait is bounded (5 s).
 */
#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "people/people.h"
#include "test_state.h"

#define DAY	((time_t) 86400)
#define WAIT_MS	5000

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[16384];

static void log_capture(void *uctx, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void log_capture(void *uctx, cb_log_level_t level, char const *fmt, ...)
{
	size_t len;
	va_list ap;

	(void) uctx;
	(void) level;
	pthread_mutex_lock(&log_mutex);
	len = strlen(log_buf);
	va_start(ap, fmt);
	if (len + 2 < sizeof(log_buf)) vsnprintf(log_buf + len, sizeof(log_buf) - len - 1, fmt, ap);
	va_end(ap);
	len = strlen(log_buf);
	if (len + 1 < sizeof(log_buf)) memcpy(log_buf + len, "\n", 2);
	pthread_mutex_unlock(&log_mutex);
}

static bool log_has(char const *s)
{
	bool found;

	pthread_mutex_lock(&log_mutex);
	found = strstr(log_buf, s) != NULL;
	pthread_mutex_unlock(&log_mutex);
	return found;
}

static cb_store_person_t const *row_of(cb_store_people_t const *list, char const *identity)
{
	for (size_t i = 0; i < list->count; i++) {
		if (strcmp(list->items[i].identity, identity) == 0) return &list->items[i];
	}
	ck_abort_msg("no row for %s", identity);
	return NULL;
}

START_TEST(test_rows_without_directory)
{
	cb_store_t *store = test_state_open();
	cb_ack_current_t *acks = cb_ack_current_new();
	cb_ack_builder_t *b = cb_ack_builder_new();
	cb_policy_conf_t policy = { .validity_days = 365, .unacknowledged = CB_UNACK_ONBOARD };
	time_t now = time(NULL);
	cb_people_conf_t conf = {
		.store = store, .acks = acks, .policy = &policy, .refresh_interval = 3600, .log = log_capture,
		.reminders = {
			.enabled = true, .dry_run = true, .windows = { 30, 7, 1 }, .num_windows = 3,
			.template_text = "Subject: renew by %{expires}\n\nDear %{name}, %{days} days left.\n",
			.form_url = "https://forms.example/x", .school = "Test School",
			.mail = { .from = "it@s.example" },
		},
	};
	cb_store_people_t list = { 0 };
	cb_store_person_t const *r;
	char err[256];
	cb_people_t *p;

	ck_assert_int_eq(cb_ack_builder_add(b, "alice@s.example", now - DAY, "2026-1", false, "file:1"), 0);
	ck_assert_int_eq(cb_ack_builder_add(b, "wd@s.example", now - DAY, "", true, "file:2"), 0);
	ck_assert_int_eq(cb_ack_builder_add(b, "old@s.example", now - 400 * DAY, "", false, "file:3"), 0);
	ck_assert_int_eq(cb_ack_builder_add(b, "soon@s.example", now - 360 * DAY, "", false, "file:4"), 0);
	cb_ack_current_set(acks, cb_ack_builder_finish(b, now));
	p = cb_people_start(&conf, err, sizeof(err));
	ck_assert_msg(p != NULL, "cb_people_start: %s", err);
	for (int i = 0; i < WAIT_MS / 10; i++) {
		cb_store_people_free(&list);
		ck_assert_int_eq(cb_store_people(store, &list), 0);
		if (list.count == 4 && log_has("would send to soon@s.example")) break;
		usleep(10000);
	}
	cb_people_stop(p);
	ck_assert_uint_eq(list.count, 4);

	r = row_of(&list, "alice@s.example");
	ck_assert_str_eq(r->email, "alice@s.example");
	ck_assert_str_eq(r->role, "");
	ck_assert_str_eq(r->status, "admit");
	ck_assert_str_eq(r->reason, "acknowledged");
	ck_assert_int_eq(r->ack_time, now - DAY);
	ck_assert_int_eq(r->ack_expiry, cb_ack_expiry(&policy, now - DAY));
	ck_assert_str_eq(r->policy_version, "2026-1");
	r = row_of(&list, "wd@s.example");
	ck_assert_str_eq(r->status, "reject");
	ck_assert_str_eq(r->reason, "acknowledgement_revoked");
	ck_assert(r->ack_revoked);
	r = row_of(&list, "old@s.example");
	ck_assert_str_eq(r->status, "onboard");
	ck_assert_str_eq(r->reason, "acknowledgement_expired");

	/* soon@ lapses in 5 days: the 7-day window; alice@ is in none, and the others are not reminded. */
	ck_assert(log_has("reminders (dry run): would send to soon@s.example (soon@s.example, 7-day window)"));
	ck_assert(!log_has("would send to alice@"));
	ck_assert(!log_has("would send to old@"));
	ck_assert(!log_has("would send to wd@"));

	cb_store_people_free(&list);
	cb_ack_current_free(acks);
	test_state_close(store);
}
END_TEST

START_TEST(test_reminder_window)
{
	static struct {
		time_t		in;		/* expiry - now */
		unsigned int	window;
	} const cases[] = {
		{ 31 * DAY, 0 }, { 30 * DAY, 30 }, { 8 * DAY, 30 }, { 7 * DAY, 7 }, { 2 * DAY, 7 },
		{ DAY, 1 }, { 1, 1 }, { 0, 0 }, { -DAY, 0 },
	};
	unsigned int const windows[] = { 7, 30, 1 };	/* Any order. */
	unsigned int const none[] = { 0 };
	time_t now = 1788246000;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(cb_reminder_window(windows, 3, now + cases[i].in, now) == cases[i].window,
			      "expiry in %lld s: want the %u-day window", (long long) cases[i].in, cases[i].window);
	}
	ck_assert_uint_eq(cb_reminder_window(none, 1, now + DAY, now), 0);
	ck_assert_uint_eq(cb_reminder_window(windows, 0, now + DAY, now), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("people");
	TCase *tc = tcase_create("people");
	int failed;

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_rows_without_directory);
	tcase_add_test(tc, test_reminder_window);
	suite_add_tcase(s, tc);
	failed = test_state_run(s);
	return failed;
}
