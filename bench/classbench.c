/*
 * classbench.c - the keyed Class's CPU per seal and per open, through
 * libcetbyod-core alone (a diagnostic of `make bench`, issue 13).
 *
 * It creates a class key file in a temporary directory it removes, then
 * runs T threads, as radiusd's request threads would, each sealing N
 * decisions (an Access-Accept's Class) and opening each token again (an
 * accounting packet's Class), and reads each thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID) around the two loops.  Every token is opened
 * and compared with its decision, so a wrong seal breaks the run (exit 1).
 *
 * Output, one line of key=value pairs:
 *   threads, seals   T, and N per thread
 *   seal_ns          CPU per cb_classtok_seal, median of the threads
 *   open_ns          CPU per cb_classtok_open, median of the threads
 *
 * Usage: classbench [-n N] [-t T]   (defaults 20000 and 4)
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/classtok.h"

#define THREADS_MAX	64

typedef struct {
	cb_classkey_t const	*keys;
	long			n;
	double			seal_ns, open_ns;
	int			failed;
} run_t;

static double thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

static void decision(cb_store_decision_t *d, long i)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->identity, sizeof(d->identity), "user%ld@school.example", i % 5000);
	snprintf(d->ack_email, sizeof(d->ack_email), "%s", d->identity);
	snprintf(d->status, sizeof(d->status), "admit");
	snprintf(d->reason, sizeof(d->reason), "acknowledged");
	snprintf(d->role, sizeof(d->role), "staff");
	snprintf(d->policy_version, sizeof(d->policy_version), "2026-09");
	snprintf(d->calling_station, sizeof(d->calling_station), "02-00-00-%02lX-%02lX-%02lX", (i >> 16) & 255,
		 (i >> 8) & 255, i & 255);
	d->decided_at = 1800000000;
	d->valid_until = 1800086400;
	d->ack_time = 1799996400;
}

/** one_thread - seal run->n decisions, then open each token again. */
static void *one_thread(void *arg)
{
	run_t *run = arg;
	char (*tok)[CB_CLASSTOK_MAX + 1] = malloc((size_t) run->n * sizeof(*tok));
	char id[CB_CLASS_ID_LEN + 1];
	cb_store_decision_t d, out;
	double t0;

	if (!tok) {
		run->failed = 1;
		return NULL;
	}
	t0 = thread_ns();
	for (long i = 0; i < run->n; i++) {
		decision(&d, i);
		if (cb_classtok_seal(run->keys, &d, tok[i], sizeof(tok[i]), id) != CB_CLASSTOK_OK) run->failed = 1;
	}
	run->seal_ns = (thread_ns() - t0) / (double) run->n;
	t0 = thread_ns();
	for (long i = 0; i < run->n; i++) {
		if (cb_classtok_open(run->keys, tok[i], strlen(tok[i]), 1800000000, &out, NULL) != CB_CLASSTOK_OK) {
			run->failed = 1;
		}
	}
	run->open_ns = (thread_ns() - t0) / (double) run->n;
	decision(&d, run->n - 1);
	if (strcmp(out.identity, d.identity) != 0) run->failed = 1;
	free(tok);
	return NULL;
}

static int cmp_double(void const *a, void const *b)
{
	double x = *(double const *) a, y = *(double const *) b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/classbench.XXXXXX", path[64], err[512];
	run_t run[THREADS_MAX];
	pthread_t tid[THREADS_MAX];
	double seal[THREADS_MAX], open[THREADS_MAX];
	long n = 20000;
	int threads = 4, opt, failed = 0;
	cb_classkey_t keys;

	while ((opt = getopt(argc, argv, "n:t:")) != -1) {
		if (opt == 'n') n = strtol(optarg, NULL, 10);
		else if (opt == 't') threads = atoi(optarg);
		else {
			fprintf(stderr, "usage: classbench [-n N] [-t T]\n");
			return 2;
		}
	}
	if (n < 1 || n > 1000000 || threads < 1 || threads > THREADS_MAX) {
		fprintf(stderr, "classbench: -n 1..1000000, -t 1..%d\n", THREADS_MAX);
		return 2;
	}
	if (!mkdtemp(dir)) {
		perror("classbench: mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/class.key", dir);
	if (cb_classkey_load(path, true, &keys, err, sizeof(err)) < 0) {
		fprintf(stderr, "classbench: %s\n", err);
		rmdir(dir);
		return 1;
	}
	unlink(path);
	rmdir(dir);
	for (int i = 0; i < threads; i++) {
		run[i] = (run_t) { .keys = &keys, .n = n };
		if (pthread_create(&tid[i], NULL, one_thread, &run[i]) != 0) {
			fprintf(stderr, "classbench: cannot start thread %d\n", i);
			return 1;
		}
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		seal[i] = run[i].seal_ns;
		open[i] = run[i].open_ns;
		failed |= run[i].failed;
	}
	cb_classkey_wipe(&keys);
	if (failed) {
		fprintf(stderr, "classbench: a Class did not seal, or did not open to its decision\n");
		return 1;
	}
	qsort(seal, (size_t) threads, sizeof(seal[0]), cmp_double);
	qsort(open, (size_t) threads, sizeof(open[0]), cmp_double);
	printf("threads=%d seals=%ld seal_ns=%.0f open_ns=%.0f\n", threads, n, seal[threads / 2], open[threads / 2]);
	return 0;
}
