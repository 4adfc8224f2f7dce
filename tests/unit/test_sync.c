/*
 * test_sync.c - lib/sources/sync.c: the sync thread, driven by an in-memory
 * acknowledgement source written here (cb_source_t is our own interface).
 *
 * The fake source answers each fetch() from a script of steps (a result and
 * how many people agree), counts its calls and can be made slow.  Each test
 * starts a sync with a long interval, so that nothing happens unless the
 * test (or a retry) asks for it, and waits for what it expects with a
 * bounded poll.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "sources/snapshot.h"
#include "sources/sync.h"
#include "test_tmp.h"

#define LONG_INTERVAL	3600	/* Seconds: no timed pass during a test. */
#define WAIT_MS		5000	/* Longest wait for something the thread must do. */

typedef struct {
	cb_source_result_t	result;
	size_t			agreed;		/* People agreeing (a@, b@, ...); only for OK. */
	unsigned int		retry_after;
} fake_step_t;

static cb_source_retry_t const *fake_whys;	/* Why each step's RETRY is (by step); NULL: all OTHER. */

typedef struct {
	pthread_mutex_t		mutex;
	fake_step_t const	*steps;
	size_t			nsteps;
	unsigned int		calls;
	unsigned int		full_calls;
	bool			in_fetch;
	unsigned int		delay_ms;	/* Each fetch takes this long. */
	unsigned int		accepted;	/* Fetches told that an admin accepted the hold. */
	unsigned int		hold_from;	/* OK fetches from this call on (1, 2, ...) ask for a hold; 0: none. */
} fake_t;

static fake_t fake;
static unsigned int changes;

static cb_source_result_t fake_fetch(cb_source_t *src, cb_ack_builder_t *b, cb_ack_index_t const *prev, bool full,
				     unsigned int *retry_after, char *err, size_t errlen)
{
	fake_t *f = *(fake_t **) src->ctx;
	fake_step_t step;
	bool hold;

	(void) prev;
	pthread_mutex_lock(&f->mutex);
	step = f->steps[f->calls < f->nsteps ? f->calls : f->nsteps - 1];
	src->retry_why = fake_whys ? fake_whys[f->calls < f->nsteps ? f->calls : f->nsteps - 1] : CB_SOURCE_RETRY_OTHER;
	f->calls++;
	hold = f->hold_from && f->calls >= f->hold_from;
	f->full_calls += full;
	f->accepted += src->accept_hold;
	f->in_fetch = true;
	pthread_mutex_unlock(&f->mutex);

	if (f->delay_ms) usleep(f->delay_ms * 1000U);
	if (step.result == CB_FETCH_OK) {
		for (size_t i = 0; i < step.agreed; i++) {
			char email[64];

			snprintf(email, sizeof(email), "p%zu@school.example", i);
			if (cb_ack_builder_add(b, email, 1788249600, "", false, "test") < 0) return CB_FETCH_ERROR;
		}
	}
	if (step.result == CB_FETCH_OK && hold && !src->accept_hold) {
		snprintf(src->hold, sizeof(src->hold), "the agreement question was re-created");
	}
	if (step.result == CB_FETCH_RETRY || step.result == CB_FETCH_ERROR || step.result == CB_FETCH_REJECTED) {
		snprintf(err, errlen, "fake failure");
	}
	*retry_after = step.retry_after;

	pthread_mutex_lock(&f->mutex);
	f->in_fetch = false;
	pthread_mutex_unlock(&f->mutex);
	return step.result;
}

static void fake_free(cb_source_t *src)
{
	free(src->ctx);
	free(src);
}

static cb_source_t *fake_source(fake_step_t const *steps, size_t nsteps, unsigned int delay_ms)
{
	cb_source_t *src = cb_source_new("fake", fake_fetch, fake_free, sizeof(fake_t *), NULL, NULL);

	ck_assert_ptr_nonnull(src);
	pthread_mutex_init(&fake.mutex, NULL);
	fake.steps = steps;
	fake.nsteps = nsteps;
	fake.calls = fake.full_calls = fake.accepted = fake.hold_from = 0;
	fake.in_fetch = false;
	fake.delay_ms = delay_ms;
	*(fake_t **) src->ctx = &fake;
	return src;
}

static unsigned int fake_calls(void)
{
	unsigned int n;

	pthread_mutex_lock(&fake.mutex);
	n = fake.calls;
	pthread_mutex_unlock(&fake.mutex);
	return n;
}

static void on_change(void *uctx, cb_ack_index_t const *old_idx, cb_ack_index_t const *new_idx)
{
	(void) uctx;
	(void) old_idx;
	(void) new_idx;
	__atomic_add_fetch(&changes, 1, __ATOMIC_SEQ_CST);
}

/* Poll until the thread has made at least n fetch calls and finished them; false on timeout. */
static bool wait_calls(unsigned int n)
{
	int64_t until = cb_clock_ms() + WAIT_MS;

	while (cb_clock_ms() < until) {
		bool done;

		pthread_mutex_lock(&fake.mutex);
		done = fake.calls >= n && !fake.in_fetch;
		pthread_mutex_unlock(&fake.mutex);
		if (done) {
			usleep(20000);	/* Let the pass finish what follows the fetch (swap, status). */
			return true;
		}
		usleep(5000);
	}
	return false;
}

static size_t current_agreed(cb_ack_current_t *cur)
{
	cb_ack_index_t *idx = cb_ack_current_get(cur);
	size_t n = idx ? cb_ack_index_agreed(idx) : (size_t) -1;

	cb_ack_index_unref(idx);
	return n;
}

static cb_sync_conf_t base_conf(void)
{
	cb_sync_conf_t conf = {
		.interval = LONG_INTERVAL,
		.guard = { .max_removal_percent = 100 },
		.on_change = on_change,
	};

	changes = 0;
	return conf;
}

static cb_sync_t *start(cb_sync_conf_t const *conf, cb_source_t *src, cb_ack_current_t *cur)
{
	char err[256] = "";
	cb_sync_t *sync = cb_sync_start(conf, src, cur, err, sizeof(err));

	ck_assert_msg(sync != NULL, "cb_sync_start: %s", err);
	return sync;
}

START_TEST(test_first_fetch_swaps)
{
	static fake_step_t const steps[] = { { CB_FETCH_OK, 3, 0 } };
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_conf_t conf = base_conf();
	cb_sync_t *sync = start(&conf, fake_source(steps, 1, 0), cur);
	cb_sync_status_t st;

	ck_assert(wait_calls(1));
	ck_assert_uint_eq(current_agreed(cur), 3);
	cb_sync_status(sync, &st);
	ck_assert_uint_eq(st.people, 3);
	ck_assert_uint_eq(st.agreed, 3);
	ck_assert(st.last_success > 0);
	ck_assert_str_eq(st.last_error, "");
	ck_assert_uint_eq(changes, 1);
	ck_assert_uint_eq(fake.full_calls, 1);		/* The first pass is a full one. */
	cb_sync_stop(sync);
	cb_ack_current_free(cur);
}
END_TEST

START_TEST(test_retry_backs_off)
{
	static fake_step_t const steps[] = { { CB_FETCH_RETRY, 0, 0 }, { CB_FETCH_OK, 2, 0 } };
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_conf_t conf = base_conf();
	cb_sync_t *sync;
	cb_sync_status_t st;
	int64_t t0;

	conf.backoff_max_ms = 300;	/* The retry comes after the backoff, not the hour's interval. */
	sync = start(&conf, fake_source(steps, 2, 0), cur);
	ck_assert(wait_calls(1));
	t0 = cb_clock_ms();
	cb_sync_status(sync, &st);
	ck_assert_uint_eq(st.consecutive_failures, 1);
	ck_assert_str_eq(st.last_error, "fake failure");
	ck_assert_uint_eq(current_agreed(cur), (size_t) -1);	/* Nothing in force yet. */

	ck_assert(wait_calls(2));
	ck_assert(cb_clock_ms() - t0 < 2000);
	cb_sync_status(sync, &st);
	ck_assert_uint_eq(st.consecutive_failures, 0);
	ck_assert_str_eq(st.last_error, "");
	ck_assert_uint_eq(current_agreed(cur), 2);
	cb_sync_stop(sync);
	cb_ack_current_free(cur);
}
END_TEST

/* Issue 14: a pass the request budget defers is no failure and waits what the budget says; Google's 429s are counted. */
START_TEST(test_budget_and_quota)
{
	static fake_step_t const steps[] = { { CB_FETCH_RETRY, 0, 1 }, { CB_FETCH_RETRY, 0, 0 }, { CB_FETCH_OK, 2, 0 } };
	static cb_source_retry_t const whys[] = { CB_SOURCE_RETRY_BUDGET, CB_SOURCE_RETRY_QUOTA, CB_SOURCE_RETRY_OTHER };
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_conf_t conf = base_conf();
	cb_sync_t *sync;
	cb_sync_status_t st;
	int64_t t0;

	conf.backoff_max_ms = 300;
	fake_whys = whys;
	sync = start(&conf, fake_source(steps, 3, 0), cur);
	ck_assert(wait_calls(1));
	t0 = cb_clock_ms();
	cb_sync_status(sync, &st);
	ck_assert_uint_eq(st.consecutive_failures, 0);		/* Deferred: nothing was sent, nothing failed. */
	ck_assert_str_eq(st.last_error, "");
	ck_assert(st.deferred_until >= time(NULL));
	ck_assert_uint_eq(st.rate_limited, 0);

	ck_assert(wait_calls(2));
	ck_assert_msg(cb_clock_ms() - t0 >= 900, "%lld ms", (long long) (cb_clock_ms() - t0));	/* The budget's wait. */
	cb_sync_status(sync, &st);
	ck_assert_uint_eq(st.consecutive_failures, 1);
	ck_assert_uint_eq(st.rate_limited, 1);
	ck_assert_int_eq(st.deferred_until, 0);
	ck_assert(st.next_try >= time(NULL) - 1);

	ck_assert(wait_calls(3));
	cb_sync_status(sync, &st);
	ck_assert_str_eq(st.last_error, "");
	ck_assert_uint_eq(st.rate_limited, 1);			/* Counted for the hour. */
	ck_assert_int_eq(st.next_try, 0);
	ck_assert_uint_eq(current_agreed(cur), 2);
	cb_sync_stop(sync);
	fake_whys = NULL;
	cb_ack_current_free(cur);
}
END_TEST

START_TEST(test_error_waits_interval)
{
	static fake_step_t const steps[] = { { CB_FETCH_ERROR, 0, 0 } };
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_conf_t conf = base_conf();
	cb_sync_t *sync;

	conf.backoff_max_ms = 100;	/* Not used: an error an admin must fix waits the interval. */
	sync = start(&conf, fake_source(steps, 1, 0), cur);
	ck_assert(wait_calls(1));
	usleep(500000);
	ck_assert_uint_eq(fake_calls(), 1);
	cb_sync_stop(sync);
	cb_ack_current_free(cur);
}
END_TEST

/* A sync whose guard holds removals of more than 20 %, after its first fetch (10 people agreeing). */
static cb_sync_t *start_guarded(fake_step_t const *steps, size_t nsteps, cb_ack_current_t *cur)
{
	cb_sync_conf_t conf = base_conf();
	cb_sync_t *sync;

	conf.guard.max_removal_percent = 20;
	conf.guard.min_removals = 1;
	sync = start(&conf, fake_source(steps, nsteps, 0), cur);
	ck_assert(wait_calls(1));
	ck_assert_uint_eq(current_agreed(cur), 10);
	return sync;
}

/* Refused credentials: interval, then doubled, capped (issue 15, item 19); an admin's request tries at once. */
START_TEST(test_rejected_backs_off)
{
	static fake_step_t const steps[] = { { CB_FETCH_REJECTED, 0, 0 } };
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_conf_t conf = base_conf();
	cb_sync_t *sync;
	cb_sync_status_t st;
	int64_t t0;

	conf.interval = 1;
	conf.rejected_backoff_max_ms = 2000;
	sync = start(&conf, fake_source(steps, 1, 0), cur);
	ck_assert(wait_calls(1));
	t0 = cb_clock_ms();
	ck_assert(wait_calls(3));			/* 1 s, then 2 s later. */
	ck_assert_int_ge(cb_clock_ms() - t0, 2800);
	cb_sync_status(sync, &st);
	ck_assert_msg(strstr(st.last_error, "fake failure (refused 3 times in a row: backing off, next try in 2 s") != NULL,
		      "%s", st.last_error);
	usleep(1000000);
	ck_assert_uint_eq(fake_calls(), 3);		/* Capped at 2 s: the next is not due yet ... */
	ck_assert(wait_calls(4));			/* ... and comes. */
	cb_sync_request(sync, false);			/* `cetbyodctl sync`: at once. */
	t0 = cb_clock_ms();
	ck_assert(wait_calls(5));
	ck_assert_int_lt(cb_clock_ms() - t0, 1000);
	cb_sync_stop(sync);
	cb_ack_current_free(cur);
}
END_TEST

START_TEST(test_guard_holds_mass_removal)
{
	static fake_step_t const steps[] = { { CB_FETCH_OK, 10, 0 }, { CB_FETCH_OK, 0, 0 } };
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_t *sync = start_guarded(steps, 2, cur);
	cb_sync_status_t st;

	cb_sync_request(sync, false);
	ck_assert(wait_calls(2));
	cb_sync_status(sync, &st);
	ck_assert(st.held);
	ck_assert_msg(strstr(st.held_reason, "remove 10 of the 10 agreements") != NULL, "%s", st.held_reason);
	ck_assert_uint_eq(current_agreed(cur), 10);	/* The old index stays in force. */
	ck_assert_uint_eq(changes, 1);

	/* An acceptance from before this hold began (an earlier run of radiusd) applies nothing. */
	cb_sync_accept_held(sync, st.held_since - 1, CB_SYNC_HOLD_MASS_REMOVAL);
	cb_sync_status(sync, &st);
	ck_assert(st.held);
	ck_assert_uint_eq(current_agreed(cur), 10);

	cb_sync_accept_held(sync, time(NULL), CB_SYNC_HOLD_MASS_REMOVAL);
	cb_sync_status(sync, &st);
	ck_assert(!st.held);
	ck_assert_uint_eq(current_agreed(cur), 0);
	ck_assert_uint_eq(changes, 2);
	cb_sync_stop(sync);
	cb_ack_current_free(cur);
}
END_TEST

/*
 * A source's own hold (a re-created question, issue 14): held whatever the
 * guard says, with the source's reason; only an acceptance of that kind
 * applies it, and the source hears of it at the next fetch.
 */
START_TEST(test_source_hold_rebind)
{
	static fake_step_t const steps[] = { { CB_FETCH_OK, 10, 0 }, { CB_FETCH_OK, 9, 0 } };
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_t *sync = start_guarded(steps, 2, cur);
	cb_sync_status_t st;

	pthread_mutex_lock(&fake.mutex);
	fake.hold_from = 2;
	pthread_mutex_unlock(&fake.mutex);
	cb_sync_request(sync, false);
	ck_assert(wait_calls(2));
	cb_sync_status(sync, &st);
	ck_assert(st.held);					/* 1 of 10 removed: the guard alone would apply it. */
	ck_assert_int_eq(st.held_kind, CB_SYNC_HOLD_REBIND);
	ck_assert_msg(strstr(st.held_reason, "the agreement question was re-created") != NULL, "%s", st.held_reason);
	ck_assert_str_eq(cb_sync_hold_name(st.held_kind), "rebind");
	ck_assert_int_eq(cb_sync_hold_from_name("mass-removal"), CB_SYNC_HOLD_MASS_REMOVAL);
	ck_assert_uint_eq(current_agreed(cur), 10);
	ck_assert(st.last_success > 0 && st.consecutive_failures == 0);	/* A held read is a successful one. */

	cb_sync_accept_held(sync, time(NULL), CB_SYNC_HOLD_MASS_REMOVAL);	/* The wrong kind: nothing. */
	cb_sync_status(sync, &st);
	ck_assert(st.held);
	ck_assert_uint_eq(current_agreed(cur), 10);

	cb_sync_accept_held(sync, time(NULL), CB_SYNC_HOLD_REBIND);		/* Applied, and a sync requested. */
	ck_assert_uint_eq(current_agreed(cur), 9);
	ck_assert(wait_calls(3));
	cb_sync_status(sync, &st);
	ck_assert(!st.held);
	ck_assert_int_eq(st.held_kind, CB_SYNC_HOLD_NONE);
	pthread_mutex_lock(&fake.mutex);
	ck_assert_uint_eq(fake.accepted, 1);			/* The source was told, once. */
	pthread_mutex_unlock(&fake.mutex);
	cb_sync_stop(sync);
	cb_ack_current_free(cur);
}
END_TEST

/* An acceptance with nothing held is not kept for a later sync (issue 15, item 10). */
START_TEST(test_accept_with_nothing_held_arms_nothing)
{
	static fake_step_t const steps[] = { { CB_FETCH_OK, 10, 0 }, { CB_FETCH_UNCHANGED, 0, 0 }, { CB_FETCH_OK, 0, 0 } };
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_t *sync = start_guarded(steps, 3, cur);
	cb_sync_status_t st;

	cb_sync_accept_held(sync, time(NULL), CB_SYNC_HOLD_MASS_REMOVAL);			/* Nothing is held. */
	cb_sync_request(sync, false);			/* Unchanged. */
	ck_assert(wait_calls(2));
	cb_sync_request(sync, false);			/* Later, a real mass removal: held. */
	ck_assert(wait_calls(3));
	cb_sync_status(sync, &st);
	ck_assert(st.held);
	ck_assert_uint_eq(current_agreed(cur), 10);
	ck_assert_uint_eq(changes, 1);
	cb_sync_stop(sync);
	cb_ack_current_free(cur);
}
END_TEST

START_TEST(test_wake_forces_fetch)
{
	static fake_step_t const steps[] = { { CB_FETCH_OK, 1, 0 }, { CB_FETCH_UNCHANGED, 0, 0 } };
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_conf_t conf = base_conf();
	cb_sync_t *sync = start(&conf, fake_source(steps, 2, 0), cur);

	ck_assert(wait_calls(1));
	usleep(200000);
	ck_assert_uint_eq(fake_calls(), 1);		/* Nothing more until asked. */

	cb_sync_request(sync, false);
	ck_assert(wait_calls(2));
	ck_assert_uint_eq(fake.full_calls, 1);
	cb_sync_request(sync, true);
	ck_assert(wait_calls(3));
	ck_assert_uint_eq(fake.full_calls, 2);
	ck_assert_uint_eq(changes, 1);			/* UNCHANGED swaps nothing. */
	ck_assert_uint_eq(current_agreed(cur), 1);
	cb_sync_stop(sync);
	cb_ack_current_free(cur);
}
END_TEST

START_TEST(test_snapshot_round_trip)
{
	static fake_step_t const good[] = { { CB_FETCH_OK, 4, 0 } };
	static fake_step_t const down[] = { { CB_FETCH_RETRY, 0, 0 } };
	char dir[256], path[512];
	cb_ack_current_t *cur = cb_ack_current_new(), *cur2 = cb_ack_current_new();
	cb_sync_conf_t conf = base_conf();
	cb_sync_t *sync;
	cb_sync_status_t st;
	struct stat sb;

	test_tmp_dir("test_sync", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, CB_SNAPSHOT_FILE);
	conf.snapshot_path = path;
	sync = start(&conf, fake_source(good, 1, 0), cur);
	ck_assert(wait_calls(1));
	cb_sync_stop(sync);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);

	/* A restart while the source is down: the snapshot is in force at once. */
	conf.backoff_max_ms = 60000;
	sync = start(&conf, fake_source(down, 1, 0), cur2);
	ck_assert_uint_eq(current_agreed(cur2), 4);
	cb_sync_status(sync, &st);
	ck_assert(st.snapshot_synced_at > 0);
	ck_assert(st.last_success == st.snapshot_synced_at);
	ck_assert(wait_calls(1));
	ck_assert_uint_eq(current_agreed(cur2), 4);	/* The failed fetch keeps it. */
	cb_sync_stop(sync);

	unlink(path);
	rmdir(dir);
	cb_ack_current_free(cur);
	cb_ack_current_free(cur2);
}
END_TEST

/* Run a sync with interval 1 s over steps until it has made calls fetches, then stop it. */
static void run_for_calls(cb_sync_conf_t *conf, fake_step_t const *steps, size_t nsteps, unsigned int calls)
{
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_t *sync;

	conf->interval = 1;
	sync = start(conf, fake_source(steps, nsteps, 0), cur);
	ck_assert(wait_calls(calls));
	cb_sync_stop(sync);
	cb_ack_current_free(cur);
}

/* Restart with the source down: the snapshot (agreed people) in force, last success two reads after its time. */
static void restart_after_reads(cb_sync_conf_t *conf, cb_ack_current_t *cur, size_t agreed)
{
	static fake_step_t const down[] = { { CB_FETCH_RETRY, 0, 0 } };
	time_t before = time(NULL);
	cb_sync_status_t st;
	cb_sync_t *sync;

	conf->interval = LONG_INTERVAL;
	sync = start(conf, fake_source(down, 1, 0), cur);
	cb_sync_status(sync, &st);
	ck_assert_uint_eq(current_agreed(cur), agreed);
	ck_assert_msg(st.last_success >= st.snapshot_synced_at + 2 && st.last_success <= before,
		      "last success %lld, snapshot %lld, now %lld", (long long) st.last_success,
		      (long long) st.snapshot_synced_at, (long long) before);
	cb_sync_stop(sync);
}

/* After a restart, the last success is the last successful read, not the last change (issue 15, item 16). */
START_TEST(test_restart_counts_from_last_read)
{
	static fake_step_t const good[] = { { CB_FETCH_OK, 4, 0 }, { CB_FETCH_UNCHANGED, 0, 0 } };
	static fake_step_t const held[] = { { CB_FETCH_OK, 10, 0 }, { CB_FETCH_OK, 0, 0 } };
	static fake_step_t const down[] = { { CB_FETCH_RETRY, 0, 0 } };
	char dir[256], path[512], mark[600];
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_conf_t conf = base_conf();
	cb_sync_t *sync;
	cb_sync_status_t st;
	FILE *fp;

	test_tmp_dir("test_sync", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, CB_SNAPSHOT_FILE);
	snprintf(mark, sizeof(mark), "%s%s", path, CB_SNAPSHOT_MARK_SUFFIX);
	conf.snapshot_path = path;
	conf.backoff_max_ms = 60000;

	/* One change, then unchanged reads for over two seconds. */
	run_for_calls(&conf, good, 2, 4);
	restart_after_reads(&conf, cur, 4);

	/* A mark that cannot be trusted: the snapshot's own time counts. */
	fp = fopen(mark, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("{\"format\":\"cetbyod-read-mark\",\"version\":1,\"snapshot_synced_at\":1,", fp);
	fclose(fp);
	sync = start(&conf, fake_source(down, 1, 0), cur);
	cb_sync_status(sync, &st);
	ck_assert(st.last_success == st.snapshot_synced_at);
	cb_sync_stop(sync);

	/* While a mass removal is held the snapshot is not rewritten, but the reads still count. */
	unlink(path);
	unlink(mark);
	conf.guard.max_removal_percent = 20;
	conf.guard.min_removals = 1;
	run_for_calls(&conf, held, 2, 4);
	restart_after_reads(&conf, cur, 10);

	unlink(path);
	unlink(mark);
	rmdir(dir);
	cb_ack_current_free(cur);
}
END_TEST

START_TEST(test_stop_during_slow_fetch)
{
	static fake_step_t const steps[] = { { CB_FETCH_OK, 1, 0 } };
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_conf_t conf = base_conf();
	cb_sync_t *sync = start(&conf, fake_source(steps, 1, 600), cur);
	int64_t until = cb_clock_ms() + WAIT_MS, t0;
	bool in = false;

	while (!in && cb_clock_ms() < until) {
		pthread_mutex_lock(&fake.mutex);
		in = fake.in_fetch;
		pthread_mutex_unlock(&fake.mutex);
		if (!in) usleep(2000);
	}
	ck_assert(in);
	t0 = cb_clock_ms();
	cb_sync_stop(sync);				/* Waits for the fetch, no longer. */
	ck_assert_int_lt(cb_clock_ms() - t0, 2000);
	ck_assert_uint_eq(fake_calls(), 1);
	cb_ack_current_free(cur);
}
END_TEST

START_TEST(test_stop_while_waiting)
{
	static fake_step_t const steps[] = { { CB_FETCH_OK, 1, 0 } };
	cb_ack_current_t *cur = cb_ack_current_new();
	cb_sync_conf_t conf = base_conf();
	cb_sync_t *sync;
	int64_t t0;

	conf.initial_blocking = true;			/* The first pass happens in cb_sync_start. */
	sync = start(&conf, fake_source(steps, 1, 0), cur);
	ck_assert_uint_eq(fake_calls(), 1);
	ck_assert_uint_eq(current_agreed(cur), 1);
	t0 = cb_clock_ms();
	cb_sync_stop(sync);
	ck_assert_int_lt(cb_clock_ms() - t0, 1000);
	ck_assert_uint_eq(fake_calls(), 1);
	cb_ack_current_free(cur);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = tcase_create("sync");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_first_fetch_swaps);
	tcase_add_test(tc, test_retry_backs_off);
	tcase_add_test(tc, test_error_waits_interval);
	tcase_add_test(tc, test_budget_and_quota);
	tcase_add_test(tc, test_rejected_backs_off);
	tcase_add_test(tc, test_guard_holds_mass_removal);
	tcase_add_test(tc, test_source_hold_rebind);
	tcase_add_test(tc, test_accept_with_nothing_held_arms_nothing);
	tcase_add_test(tc, test_wake_forces_fetch);
	tcase_add_test(tc, test_snapshot_round_trip);
	tcase_add_test(tc, test_restart_counts_from_last_read);
	tcase_add_test(tc, test_stop_during_slow_fetch);
	tcase_add_test(tc, test_stop_while_waiting);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
