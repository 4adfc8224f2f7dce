/*
 * acctbench.c - the SQLite store's CPU per accounting write, through
 * libcetbyod-core alone (a diagnostic of `make bench`, figure 8, issue 13):
 * the work every Accounting Start and Stop must finish before radiusd may
 * answer it (RFC 2866: answered only once recorded).
 *
 * It opens a store in a temporary directory it removes, configured as the
 * module's request path opens it (group commit, deferred decisions, WAL
 * with synchronous = NORMAL), and runs T threads, as radiusd's request
 * threads would, each writing P Start/Stop pairs: a Start carrying the
 * decision of its user's keyed Class (U users, as figure 8's accounting
 * users), then the Stop of the same session.  Each write's session, as
 * the store returns it, must name the user, or the run breaks (exit 1).
 * A first tenth of the pairs warms the store up and is not measured.
 *
 * The figure is the process's CPU (every thread: the writers, which commit
 * their groups themselves, and the store's own threads) over the measured
 * writes, divided by their number.
 *
 * With -a N, the same run is made a second time while the audit trail's
 * index (lib/audit/indexer.c, its own connection to the same database, as
 * in radiusd) copies a backlog from the trail's file: what accounting
 * answers while the index catches up after a burst.  The backlog is made
 * by writing N records with the index deferred, closing the trail before
 * it copies them, and opening it again (N - 8,192 or so are then left for
 * the index thread: make_backlog).
 *
 * Output, one line of key=value pairs:
 *   threads, writes   T, and the writes measured (Starts and Stops) per run
 *   write_us          CPU per write, all threads
 *   rate              writes per second of wall time
 *   backlog_rate      -a: the rate while the index copies its backlog
 *   backlog_write_us  -a: the CPU per write then (the index's included)
 *   index_copied      -a: records the index copied during that run
 *
 * Usage: acctbench [-n PAIRS] [-t T] [-u U] [-a N] [-d DIR]
 *        (defaults 20000 pairs in all, 16 threads, 200 users, no backlog, /tmp)
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "bench_trail.h"
#include "store/store.h"

#define THREADS_MAX	64
#define USERS_MAX	100000

typedef struct {
	cb_store_t			*store;
	cb_store_decision_t const	*users;
	long				nusers, pairs, warm, first;
	pthread_barrier_t		*go, *done;
	int				failed;
} run_t;

static double clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

/** user - the decision user i's keyed Class carries. */
static int user(cb_store_decision_t *d, long i)
{
	memset(d, 0, sizeof(*d));
	if (cb_store_new_class_id(d->class_id) < 0) return -1;
	snprintf(d->identity, sizeof(d->identity), "user%ld@school.example", i);
	snprintf(d->ack_email, sizeof(d->ack_email), "%s", d->identity);
	snprintf(d->status, sizeof(d->status), "admit");
	snprintf(d->reason, sizeof(d->reason), "acknowledged");
	snprintf(d->role, sizeof(d->role), "staff");
	snprintf(d->policy_version, sizeof(d->policy_version), "2026-09");
	snprintf(d->nas, sizeof(d->nas), "10.0.0.2");
	snprintf(d->calling_station, sizeof(d->calling_station), "02-00-00-00-%02lX-%02lX", (i >> 8) & 255, i & 255);
	d->decided_at = time(NULL);
	d->valid_until = d->decided_at + 86400;
	d->ack_time = d->decided_at - 3600;
	return 0;
}

/** one_pair - Start and Stop of session k for user d; 0, or -1 when a write failed or answered for someone else. */
static int one_pair(cb_store_t *store, cb_store_decision_t const *d, long k, cb_store_session_t *result)
{
	char sid[64];
	cb_store_acct_t a = {
		.nas = "127.0.0.2", .acct_session_id = sid, .class_id = d->class_id, .outer_identity = "anonymous",
		.calling_station = d->calling_station, .called_station = "00-11-22-33-44-55:Staff",
		.framed_ip = "10.1.2.3", .nas_ip = "10.0.0.2", .decision = d, .result = result,
	};

	snprintf(sid, sizeof(sid), "acctbench-%ld", k);
	a.event_time = time(NULL);
	if (cb_store_session_start(store, &a) != 0 || strcmp(result->identity, d->identity) != 0) return -1;
	a.stop_cause = "User-Request";
	a.has_octets = true;
	a.in_octets = 1000 + (uint64_t) k;
	a.out_octets = 2000 + (uint64_t) k;
	if (cb_store_session_stop(store, &a) != 0 || strcmp(result->identity, d->identity) != 0) return -1;
	return 0;
}

/** one_thread - run->warm pairs, the barrier, then the measured ones, then the barrier. */
static void *one_thread(void *arg)
{
	run_t *run = arg;
	cb_store_session_t *result = malloc(sizeof(*result));	/* About 3 KB, as the module's. */

	if (!result) run->failed = 1;
	for (long i = 0; i < run->pairs && result; i++) {
		long k = run->first + i;

		if (i == run->warm) pthread_barrier_wait(run->go);
		if (!run->failed && one_pair(run->store, &run->users[k % run->nusers], k, result) < 0) run->failed = 1;
	}
	if (!result || run->warm >= run->pairs) pthread_barrier_wait(run->go);
	pthread_barrier_wait(run->done);
	free(result);
	return NULL;
}

/** remove_store - the database, its WAL and shared memory, the trail, and the directory. */
static void remove_store(char const *dir, char const *db, char const *trail)
{
	char const *suffix[] = { "", "-wal", "-shm" };
	char p[4200];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", db, suffix[i]);
		unlink(p);
	}
	unlink(trail);
	rmdir(dir);
}

/** What every run shares. */
typedef struct {
	cb_store_t			*store;
	cb_store_decision_t const	*users;
	long				nusers, pairs;
	int				threads;
} bench_t;

/**
 * measure - b->pairs Start/Stop pairs over b->threads threads, their
 * sessions numbered from base: writes per second and CPU per write of the
 * measured nine tenths.  The number of writes measured, or -1 when one
 * failed.
 */
static long measure(bench_t const *b, long base, double *rate, double *write_us)
{
	run_t run[THREADS_MAX];
	pthread_t tid[THREADS_MAX];
	pthread_barrier_t go, done;
	double w0, c0, w1, c1;
	long measured = 0;
	int failed = 0, started = 0;

	pthread_barrier_init(&go, NULL, (unsigned) b->threads + 1);
	pthread_barrier_init(&done, NULL, (unsigned) b->threads + 1);
	for (int i = 0; i < b->threads; i++) {
		long mine = b->pairs / b->threads + (i < b->pairs % b->threads);

		run[i] = (run_t) { .store = b->store, .users = b->users, .nusers = b->nusers, .pairs = mine,
				   .warm = mine / 10, .first = base + i * (b->pairs / b->threads + 1), .go = &go,
				   .done = &done };
		measured += 2 * (mine - mine / 10);
		if (pthread_create(&tid[i], NULL, one_thread, &run[i]) != 0) {
			fprintf(stderr, "acctbench: cannot start thread %d\n", i);
			exit(1);	/* The others wait at a barrier that cannot be passed now. */
		}
		started++;
	}
	pthread_barrier_wait(&go);
	w0 = clock_ns(CLOCK_MONOTONIC);
	c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	pthread_barrier_wait(&done);
	w1 = clock_ns(CLOCK_MONOTONIC);
	c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (int i = 0; i < started; i++) {
		pthread_join(tid[i], NULL);
		failed |= run[i].failed;
	}
	pthread_barrier_destroy(&go);
	pthread_barrier_destroy(&done);
	*rate = (double) measured * 1e9 / (w1 - w0);
	*write_us = (c1 - c0) / 1000.0 / (double) measured;
	return failed ? -1 : measured;
}

/** open_trail - the trail at path, indexed into the store at db; NULL (said why) on failure. */
static cb_audit_t *open_trail(char const *path, char const *db, unsigned int index_defer)
{
	cb_audit_conf_t ac = { .path = path, .db_path = db, .queue_max = 4096, .index_defer = index_defer };
	char err[1024];
	cb_audit_t *a = cb_audit_open(&ac, err, sizeof(err));

	if (!a) fprintf(stderr, "acctbench: audit trail: %s\n", err);
	return a;
}

/**
 * make_backlog - n records in the trail's file, most of which its index
 * lacks: written while the index waits (a burst, index_defer; an empty
 * index takes a first pass at once), the trail closed before it copies
 * them.  The next open copies 4,096 itself, its thread the rest.  0, or
 * -1 (said why).
 */
static int make_backlog(char const *path, char const *db, unsigned long n)
{
	cb_audit_t *a = open_trail(path, db, 3600);
	cb_audit_stats_t st;

	if (!a) return -1;
	for (unsigned long i = 0; i < n; i++) {
		if (i % 256 == 0) bench_trail_room(a);
		if (bench_trail_decision(a, i) != CB_AUDIT_QUEUED) {
			fprintf(stderr, "acctbench: audit record %lu not queued\n", i);
			cb_audit_close(a, 0);
			return -1;
		}
	}
	do {
		cb_audit_stats(a, &st);
		if (st.queued) usleep(1000);
	} while (st.queued);
	cb_audit_close(a, 0);
	return 0;
}

/** index_lag - records the trail's file holds and its index does not. */
static uint64_t index_lag(cb_audit_t *a)
{
	cb_audit_stats_t st;

	cb_audit_stats(a, &st);
	return st.index_lag;
}

static int usage(void)
{
	fprintf(stderr, "usage: acctbench [-n PAIRS] [-t T] [-u U] [-a N] [-d DIR]   (PAIRS 100..10000000, T 1..%d, "
		"U 1..%d, N 0..10000000)\n", THREADS_MAX, USERS_MAX);
	return 2;
}

int main(int argc, char **argv)
{
	char tmpl[4096], dbp[4200], trail[4200], err[1024];
	char const *dir = "/tmp";
	unsigned long backlog = 0;
	int opt, rc = 1;
	bench_t b = { .pairs = 20000, .nusers = 200, .threads = 16 };
	cb_store_decision_t *users;
	double rate, write_us, brate = 0, bwrite_us = 0;
	uint64_t lag0 = 0, lag1 = 0;
	long measured;

	while ((opt = getopt(argc, argv, "n:t:u:a:d:")) != -1) {
		if (opt == 'n') b.pairs = strtol(optarg, NULL, 10);
		else if (opt == 't') b.threads = atoi(optarg);
		else if (opt == 'u') b.nusers = strtol(optarg, NULL, 10);
		else if (opt == 'a') backlog = strtoul(optarg, NULL, 10);
		else if (opt == 'd') dir = optarg;
		else return usage();
	}
	if (b.pairs < 100 || b.pairs > 10000000 || b.threads < 1 || b.threads > THREADS_MAX || b.nusers < 1 ||
	    b.nusers > USERS_MAX || backlog > 10000000) {
		return usage();
	}
	users = calloc((size_t) b.nusers, sizeof(*users));
	if (!users) return 1;
	for (long i = 0; i < b.nusers; i++) {
		if (user(&users[i], i) < 0) {
			fprintf(stderr, "acctbench: no random class id\n");
			return 1;
		}
	}
	b.users = users;
	snprintf(tmpl, sizeof(tmpl), "%s/acctbench.XXXXXX", dir);
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "acctbench: mkdtemp %s: %s\n", tmpl, strerror(errno));
		return 1;
	}
	snprintf(dbp, sizeof(dbp), "%s/cetbyod.db", tmpl);
	snprintf(trail, sizeof(trail), "%s/audit.jsonl", tmpl);
	{
		cb_store_conf_t sc = { .path = dbp, .create = true, .fast_sync = true, .defer_decisions = true,
				       .group_commit = true };

		b.store = cb_store_open(&sc, err, sizeof(err));
		if (!b.store) {
			fprintf(stderr, "acctbench: store: %s\n", err);
			goto out;
		}
	}
	measured = measure(&b, 0, &rate, &write_us);
	if (measured >= 0 && backlog) {
		cb_audit_t *a;

		if (make_backlog(trail, dbp, backlog) < 0 || !(a = open_trail(trail, dbp, 0))) goto out;
		lag0 = index_lag(a);
		if (measure(&b, 2 * b.pairs, &brate, &bwrite_us) < 0) measured = -1;
		lag1 = index_lag(a);
		cb_audit_close(a, 0);
	}
	if (measured < 0) {
		fprintf(stderr, "acctbench: a write failed, or its session did not name its user\n");
		goto out;
	}
	printf("threads=%d writes=%ld write_us=%.1f rate=%.0f", b.threads, measured, write_us, rate);
	if (backlog) {
		printf(" backlog_rate=%.0f backlog_write_us=%.1f index_copied=%" PRIu64, brate, bwrite_us,
		       lag0 > lag1 ? lag0 - lag1 : 0);
	}
	printf("\n");
	rc = 0;
out:
	cb_store_close(b.store);
	remove_store(tmpl, dbp, trail);
	free(users);
	return rc;
}
