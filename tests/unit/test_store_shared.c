/*
 * test_store_shared.c - two store handles on one PostgreSQL database, as
 * two RADIUS servers hold them: a change committed through one reaches a
 * watcher on the other at once (LISTEN/NOTIFY), also after the listening
 * connection was cut; two servers taking due disconnects never take the
 * same one, a claim lasts its lease and is then taken over; the same
 * disconnect queued by both is one row, without an error; a reminder is
 * claimed by one server; one server keeps the list of people.
 *
 * Runs on the fixture named by CB_TEST_PG_CONNINFO, CB_TEST_PG_PASSWORD_FILE
 * and CB_TEST_PG_ADMIN (tests/unit/test_store_shared.sh sets them from
 * tests/pg/pg-fixture.sh); without them only the SQLite case runs (no
 * watch: the enforcer's pass re-reads).
 */
#include <check.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "store/store.h"
#include "test_state.h"
#include "test_tmp.h"

#define T0		((time_t) 1788249600)
#define NUM_QUEUED	400

static char const *pg_conninfo;
static char last_error[1024];
static atomic_int changes;

static void test_log(void *uctx, cb_log_level_t level, char const *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void test_log(void *uctx, cb_log_level_t level, char const *fmt, ...)
{
	va_list ap;

	(void) uctx;
	if (level != CB_LOG_ERROR) return;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

static cb_store_t *open_server(char const *id)
{
	cb_store_conf_t conf = { .backend = CB_STORE_POSTGRESQL, .pg_conninfo = pg_conninfo,
				 .pg_password = test_state_pg_password(), .server_id = id, .create = true, .log = test_log };
	char err[512] = "";
	cb_store_t *s = cb_store_open(&conf, err, sizeof(err));

	ck_assert_msg(s != NULL, "open: %s", err);
	return s;
}

static void setup(void)
{
	test_state_pg_admin("DROP SCHEMA IF EXISTS cetbyod CASCADE; CREATE SCHEMA cetbyod AUTHORIZATION cetbyod");
	last_error[0] = '\0';
	atomic_store(&changes, 0);
}

/** one_person - a people_update source of one row (ctx: rows given so far). */
static bool one_person(void *ctx, cb_store_person_t *row)
{
	int *n = ctx;

	if (*n > 0) return false;
	(*n)++;
	memset(row, 0, sizeof(*row));
	snprintf(row->identity, sizeof(row->identity), "alice");
	snprintf(row->email, sizeof(row->email), "alice@school.example");
	row->refreshed_at = T0;
	return true;
}

static void changed(void *ctx)
{
	(void) ctx;
	atomic_fetch_add(&changes, 1);
}

/** wait_change - ms until changes passes from, or -1 after limit_ms. */
static int64_t wait_change(int from, int64_t limit_ms)
{
	int64_t start = cb_clock_ms();

	while (cb_clock_ms() - start < limit_ms) {
		if (atomic_load(&changes) > from) return cb_clock_ms() - start;
		usleep(2000);
	}
	return -1;
}

START_TEST(test_watch)
{
	cb_store_t *a = open_server("radius-a"), *b = open_server("radius-b");
	char err[256];
	cb_store_watch_t *w = cb_store_watch_start(a, changed, NULL, err, sizeof(err));
	int64_t ms;
	int n;

	ck_assert_msg(w != NULL, "watch: %s", err);
	ck_assert_int_ge(wait_change(0, 3000), 0);	/* Called once listening: re-read everything. */
	n = atomic_load(&changes);
	ck_assert_int_eq(cb_store_revoke(b, "alice", "lost phone", "it", T0), 0);
	ms = wait_change(n, 250);
	ck_assert_msg(ms >= 0, "a revocation through B did not reach A's watch within 250 ms");
	printf("revocation through B -> A's watch: %lld ms\n", (long long) ms);
	n = atomic_load(&changes);
	ck_assert_int_eq(cb_store_reinstate(b, "alice", "it", T0 + 1), 0);
	ck_assert_int_ge(wait_change(n, 250), 0);
	n = atomic_load(&changes);
	ck_assert_int_eq(cb_store_exception_add(b, "bob", NULL, "trip", "head", "it", T0 + 3600, T0, NULL), 0);
	ck_assert_int_ge(wait_change(n, 250), 0);
	n = atomic_load(&changes);
	ck_assert_int_eq(cb_store_command_enqueue(b, CB_CMD_SYNC, NULL, "it", T0), 0);
	ck_assert_int_ge(wait_change(n, 250), 0);

	/* The listening connection is cut: it comes back by itself and says so (re-read everything). */
	n = atomic_load(&changes);
	test_state_pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cetbyod-listen'");
	ck_assert_int_ge(wait_change(n, 5000), 0);
	usleep(100000);
	n = atomic_load(&changes);
	ck_assert_int_eq(cb_store_revoke(b, "carol", "left", "it", T0 + 2), 0);
	ck_assert_msg(wait_change(n, 250) >= 0, "no notice after the listening connection came back");

	/* A rolled-back change sends nothing: a reinstatement of nobody changes nothing (1) and notifies no one. */
	usleep(100000);
	n = atomic_load(&changes);
	ck_assert_int_eq(cb_store_reinstate(b, "nobody", "it", T0 + 3), 1);
	ck_assert_int_eq(wait_change(n, 300), -1);

	cb_store_watch_stop(w);
	cb_store_close(a);
	cb_store_close(b);
}
END_TEST

typedef struct {
	cb_store_t	*s;
	int64_t		ids[NUM_QUEUED];
	size_t		n;
} taker_t;

static pthread_barrier_t both_ready;

static void *take_all(void *arg)
{
	taker_t *t = arg;

	pthread_barrier_wait(&both_ready);
	for (int round = 0; round < NUM_QUEUED; round++) {	/* One at a time: the two interleave. */
		cb_store_disconnects_t got = { 0 };

		ck_assert_int_eq(cb_store_disconnect_take(t->s, T0 + 1, T0 + 60, 1 + round % 2, &got), 0);
		for (size_t i = 0; i < got.count && t->n < NUM_QUEUED; i++) t->ids[t->n++] = got.items[i].id;
		cb_store_disconnects_free(&got);
	}
	return NULL;
}

START_TEST(test_take_shared)
{
	cb_store_t *a = open_server("radius-a"), *b = open_server("radius-b");
	taker_t ta = { .s = a }, tb = { .s = b };
	pthread_t th;
	cb_store_disconnects_t got = { 0 };
	char sid[32];
	int64_t id, first;

	for (int i = 0; i < NUM_QUEUED; i++) {
		snprintf(sid, sizeof(sid), "S%d", i);
		ck_assert_int_eq(cb_store_disconnect_enqueue(a, "10.0.0.2", sid, "alice", "revoked_by_admin",
							     CB_DISC_DISCONNECT, false, T0, &id), 0);
	}
	pthread_barrier_init(&both_ready, NULL, 2);
	ck_assert_int_eq(pthread_create(&th, NULL, take_all, &tb), 0);
	take_all(&ta);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&both_ready);
	ck_assert_uint_eq(ta.n + tb.n, NUM_QUEUED);		/* Every one taken ... */
	for (size_t i = 0; i < ta.n; i++) {			/* ... by one server only. */
		for (size_t j = 0; j < tb.n; j++) ck_assert_int_ne(ta.ids[i], tb.ids[j]);
	}
	printf("taken concurrently: %zu by A, %zu by B, none by both\n", ta.n, tb.n);

	/* A's claims last their lease; then B takes them over, and A's late claim is refused. */
	first = ta.n ? ta.ids[0] : tb.ids[0];
	ck_assert_int_eq(cb_store_disconnect_take(b, T0 + 59, T0 + 120, 0, &got), 0);
	ck_assert_uint_eq(got.count, 0);
	cb_store_disconnects_free(&got);
	ck_assert_int_eq(cb_store_disconnect_take(b, T0 + 60, T0 + 120, 0, &got), 0);
	ck_assert_uint_eq(got.count, NUM_QUEUED);
	cb_store_disconnects_free(&got);
	ck_assert_int_eq(cb_store_disconnect_claim(a, first, T0 + 200), 1);
	ck_assert_int_eq(cb_store_disconnect_claim(b, first, T0 + 200), 0);
	cb_store_close(a);
	cb_store_close(b);
}
END_TEST

START_TEST(test_enqueue_twice)
{
	cb_store_t *a = open_server("radius-a"), *b = open_server("radius-b");
	cb_store_disconnects_t got = { 0 };
	int64_t id_a, id_b;

	ck_assert_int_eq(cb_store_disconnect_enqueue(a, "10.0.0.2", "S1", "alice", "revoked_by_admin: x",
						     CB_DISC_DISCONNECT, false, T0, &id_a), 0);
	ck_assert_int_eq(cb_store_disconnect_enqueue(b, "10.0.0.2", "S1", "alice", "revoked_by_admin: x",
						     CB_DISC_DISCONNECT, false, T0, &id_b), 1);
	ck_assert_int_eq(id_a, id_b);
	/* Sent and acknowledged by A: B, late to see the same revocation, does not queue it again. */
	ck_assert_int_eq(cb_store_disconnect_take(a, T0, T0 + 30, 0, &got), 0);
	ck_assert_uint_eq(got.count, 1);
	cb_store_disconnects_free(&got);
	ck_assert_int_eq(cb_store_disconnect_mark(a, id_a, CB_DISC_ACKED, 0, NULL, 0, T0 + 1), 0);
	ck_assert_int_eq(cb_store_disconnect_enqueue(b, "10.0.0.2", "S1", "alice", "revoked_by_admin: x",
						     CB_DISC_DISCONNECT, false, T0 + 2, &id_b), 1);
	ck_assert_int_eq(id_b, id_a);
	/* Another reason (a new decision), or long after: queued. */
	ck_assert_int_eq(cb_store_disconnect_enqueue(b, "10.0.0.2", "S1", "alice", "expired",
						     CB_DISC_DISCONNECT, false, T0 + 3, &id_b), 0);
	ck_assert_int_ne(id_b, id_a);
	ck_assert_msg(last_error[0] == '\0', "an error was logged: %s", last_error);
	cb_store_close(a);
	cb_store_close(b);
}
END_TEST

START_TEST(test_reminder_claim)
{
	cb_store_t *a = open_server("radius-a"), *b = open_server("radius-b");
	cb_store_reminder_t r = { .identity = "alice", .email = "alice@school.example", .ack_expiry = T0 + 5 * 86400,
				  .window_days = 7, .sent_at = T0 };
	cb_store_reminders_t list = { 0 };

	ck_assert_int_eq(cb_store_reminder_claim(a, &r), 0);		/* A sends it ... */
	ck_assert_int_eq(cb_store_reminder_claim(b, &r), 1);		/* ... B does not. */
	ck_assert_int_eq(cb_store_reminder_sent(b, r.email, r.ack_expiry, 7), 1);
	/* A's relay fails for now: the claim goes back, and B may claim it. */
	ck_assert_int_eq(cb_store_reminder_unclaim(a, r.email, r.ack_expiry, 7), 0);
	ck_assert_int_eq(cb_store_reminder_sent(b, r.email, r.ack_expiry, 7), 0);
	ck_assert_int_eq(cb_store_reminder_claim(b, &r), 0);
	/* B dies while sending: ten minutes later A takes the claim over, and records it sent. */
	r.sent_at = T0 + 599;
	ck_assert_int_eq(cb_store_reminder_claim(a, &r), 1);
	r.sent_at = T0 + 601;
	ck_assert_int_eq(cb_store_reminder_claim(a, &r), 0);
	snprintf(r.result, sizeof(r.result), "sent");
	ck_assert_int_eq(cb_store_reminder_put(a, &r), 0);
	ck_assert_int_eq(cb_store_reminder_put(b, &r), 1);		/* Recorded once. */
	r.sent_at = T0 + 9999;
	ck_assert_int_eq(cb_store_reminder_claim(b, &r), 1);		/* Sent: never claimed again. */
	ck_assert_int_eq(cb_store_reminders(a, 0, &list), 0);
	ck_assert_uint_eq(list.count, 1);
	ck_assert_str_eq(list.items[0].result, "sent");
	ck_assert_str_eq(list.items[0].detail, "");
	cb_store_reminders_free(&list);
	ck_assert_msg(last_error[0] == '\0', "an error was logged: %s", last_error);
	cb_store_close(a);
	cb_store_close(b);
}
END_TEST

START_TEST(test_people_keeper)
{
	cb_store_t *a = open_server("radius-a"), *b = open_server("radius-b");
	int rows = 0, rc;

	ck_assert_int_eq(cb_store_people_update(a, true, NULL, 0, one_person, &rows), 0);	/* A keeps it ... */
	rows = 0;
	ck_assert_int_eq(cb_store_people_update(b, true, NULL, 0, one_person, &rows), 1);	/* ... B leaves it. */
	ck_assert_int_eq(rows, 0);
	cb_store_close(a);	/* A stops: B takes the list over once A's session has ended on the server. */
	for (int i = 0; i < 200 && (rc = cb_store_people_update(b, true, NULL, 0, one_person, &rows)) == 1; i++) {
		usleep(10000);
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(rows, 1);
	cb_store_close(b);
}
END_TEST

START_TEST(test_sqlite_no_watch)
{
	char dir[200], path[600], err[256] = "x";
	cb_store_conf_t conf = { .path = path, .create = true, .log = test_log };
	cb_store_t *s;
	cb_store_disconnects_t got = { 0 };

	test_tmp_dir("test_store_shared", dir, sizeof(dir));
	ck_assert(cb_store_path(dir, path, sizeof(path)));
	s = cb_store_open(&conf, err, sizeof(err));
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(cb_store_watch_start(s, changed, NULL, err, sizeof(err)));
	ck_assert_str_eq(err, "");	/* Nothing to watch, not a failure. */
	/* take: due and claimed in one step, here too. */
	ck_assert_int_eq(cb_store_disconnect_enqueue(s, "n", "S1", "a", "r", CB_DISC_DISCONNECT, false, T0, NULL), 0);
	ck_assert_int_eq(cb_store_disconnect_take(s, T0, T0 + 30, 0, &got), 0);
	ck_assert_uint_eq(got.count, 1);
	cb_store_disconnects_free(&got);
	ck_assert_int_eq(cb_store_disconnect_take(s, T0 + 29, T0 + 60, 0, &got), 0);
	ck_assert_uint_eq(got.count, 0);
	ck_assert_int_eq(cb_store_disconnect_take(s, T0, T0, 0, &got), -1);	/* A lease that ends at once. */
	cb_store_close(s);
	snprintf(err, sizeof(err), "rm -rf %s", dir);
	ck_assert_int_eq(system(err), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store-shared");
	TCase *tc = tcase_create("shared");

	pg_conninfo = getenv("CB_TEST_PG_CONNINFO");
	if (pg_conninfo && !*pg_conninfo) pg_conninfo = NULL;
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sqlite_no_watch);
	if (pg_conninfo) {
		tcase_add_checked_fixture(tc, setup, NULL);
		tcase_add_test(tc, test_watch);
		tcase_add_test(tc, test_take_shared);
		tcase_add_test(tc, test_enqueue_twice);
		tcase_add_test(tc, test_reminder_claim);
		tcase_add_test(tc, test_people_keeper);
	}
	suite_add_tcase(s, tc);
	return test_state_run(s);
}
