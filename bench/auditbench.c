/*
 * auditbench.c - the audit trail's CPU per record, by thread, through
 * libcetbyod-core alone (a diagnostic of `make bench`, issue 13).
 *
 * It opens a trail (a file and its index in a new SQLite store, in a
 * temporary directory it removes), queues N decisions as fast as the ring
 * takes them (a nearly full ring: it waits for the writer), waits
 * until the file holds them, then until the index does, and reads each
 * thread's CPU time from /proc/self/task/TID/schedstat (nanoseconds on the
 * CPU).  The writer thread is "audit-writer"; the index thread, where the
 * tree has one, "audit-index" (before it, the writer copied to the index
 * itself, and its figure holds both).
 *
 * Output, one line of key=value pairs:
 *   records       N
 *   writer_us     the writer thread's CPU per record (build, hash, write, fsync; the index too when it has no thread)
 *   index_us      the index thread's CPU per record (0: no such thread)
 *   caller_us     the queuing thread's CPU per record (what a request thread pays)
 *   file_ms       wall time until the file held every record
 *   index_ms      wall time until the index did too
 *
 * Usage: auditbench [-n N] [-d DIR]   (DIR: where the temporary directory goes; default /tmp)
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "bench_trail.h"
#include "store/store.h"

#define NAME_MAX_LEN	64

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/** thread_cpu_ns - the CPU time of this process's thread named name (0: none). */
static uint64_t thread_cpu_ns(char const *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	uint64_t total = 0;

	if (!d) return 0;
	while ((e = readdir(d))) {
		char path[300], comm[NAME_MAX_LEN] = "";
		unsigned long long ns = 0;
		FILE *fp;

		if (e->d_name[0] == '.') continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		if (!(fp = fopen(path, "r"))) continue;
		if (!fgets(comm, sizeof(comm), fp)) comm[0] = '\0';
		fclose(fp);
		comm[strcspn(comm, "\n")] = '\0';
		if (strcmp(comm, name) != 0) continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", e->d_name);
		if (!(fp = fopen(path, "r"))) continue;
		if (fscanf(fp, "%llu", &ns) != 1) ns = 0;	/* The file's own format: numbers only. */
		fclose(fp);
		total += ns;
	}
	closedir(d);
	return total;
}

static uint64_t self_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/** index_count - rows in the index (-1: unreadable). */
static int64_t index_count(cb_store_t *db)
{
	uint64_t seq = 0;
	char hash[CB_AUDIT_HASH_HEX + 1];

	return cb_store_audit_last(db, &seq, hash) == 0 ? (int64_t) seq : -1;
}

int main(int argc, char **argv)
{
	char tmpl[4096], file[4200], dbp[4200], err[1024];
	char const *dir = "/tmp";
	unsigned long n = 20000;
	int64_t t0, t_file, t_index;
	uint64_t c0, c1;
	cb_audit_t *a;
	cb_store_t *db;
	int opt;

	while ((opt = getopt(argc, argv, "n:d:")) != -1) {
		if (opt == 'n') n = strtoul(optarg, NULL, 10);
		else if (opt == 'd') dir = optarg;
		else {
			fprintf(stderr, "usage: auditbench [-n N] [-d DIR]\n");
			return 1;
		}
	}
	if (n == 0 || n > 10000000) {
		fprintf(stderr, "auditbench: -n must be 1 to 10000000\n");
		return 1;
	}
	snprintf(tmpl, sizeof(tmpl), "%s/auditbench.XXXXXX", dir);
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "auditbench: mkdtemp %s: %s\n", tmpl, strerror(errno));
		return 1;
	}
	snprintf(file, sizeof(file), "%s/audit.jsonl", tmpl);
	snprintf(dbp, sizeof(dbp), "%s/store.db", tmpl);
	{
		cb_store_conf_t sc = { .path = dbp, .create = true };

		db = cb_store_open(&sc, err, sizeof(err));
		if (!db) {
			fprintf(stderr, "auditbench: store: %s\n", err);
			return 1;
		}
	}
	{
		cb_audit_conf_t ac = { .path = file, .db_path = dbp, .queue_max = 4096 };

		a = cb_audit_open(&ac, err, sizeof(err));
		if (!a) {
			fprintf(stderr, "auditbench: %s\n", err);
			return 1;
		}
	}
	cb_audit_flush(a, 10000);
	t0 = now_ms();
	c0 = self_cpu_ns();
	for (unsigned long i = 0; i < n; i++) {
		if (i % 256 == 0) bench_trail_room(a);
		if (bench_trail_decision(a, i) != CB_AUDIT_QUEUED) {
			fprintf(stderr, "auditbench: record %lu not queued\n", i);
			return 2;
		}
	}
	c1 = self_cpu_ns();
	/* The file first (the writer's work), then the index. */
	{
		cb_audit_stats_t st;

		do {
			cb_audit_stats(a, &st);
			if (st.queued) usleep(1000);
		} while (st.queued);
	}
	t_file = now_ms();
	while (index_count(db) < (int64_t) n + 1 && now_ms() - t0 < 600000) usleep(2000);
	t_index = now_ms();
	printf("records=%lu writer_us=%.1f index_us=%.1f caller_us=%.2f file_ms=%" PRId64 " index_ms=%" PRId64 "\n", n,
	       (double) thread_cpu_ns("audit-writer") / 1000.0 / (double) n,
	       (double) thread_cpu_ns("audit-index") / 1000.0 / (double) n, (double) (c1 - c0) / 1000.0 / (double) n,
	       t_file - t0, t_index - t0);
	cb_audit_close(a, 10000);
	cb_store_close(db);
	unlink(file);
	unlink(dbp);
	{
		char p[4300];

		snprintf(p, sizeof(p), "%s-wal", dbp);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", dbp);
		unlink(p);
	}
	rmdir(tmpl);
	return 0;
}
