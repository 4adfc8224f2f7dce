/*
 * writer.c - the audit trail's writer: the bounded queue request threads
 * put records on, the thread that chains them (chain.c), appends them to
 * the file and only then acknowledges them, its handling of a failing
 * disk, rotation, and the copy of each acknowledged line to the store's
 * audit index.
 *
 * The writer.  cb_audit_record() runs on radiusd's request threads and
 * must not wait for a disk.  It copies the event and its strings into one
 * allocation (cb_audit_event_copy: no JSON is built on a request thread),
 * takes the mutex for a moment to append it to a bounded ring, wakes the
 * writer thread (base/worker.h), and returns.  The writer takes up to
 * AUDIT_BATCH records from the head of the ring (leaving them there),
 * builds each record, numbers and chains them in order, appends the
 * lines with one write() loop to the file (opened O_APPEND), fsyncs
 * (policy "batch"), and only then removes them from the ring: that is the
 * acknowledgement.  After it,
 * the lines go to syslog, and the index thread (indexer.c, at nice 19, on
 * the writer's own cb_store_t) is told how far the file goes: it copies
 * the new lines from the file into the store's index, off this thread.  A
 * failure of the index loses nothing, the file being the record of
 * authority: the index lags, and the index thread retries.  At start-up
 * one bounded pass of the catch-up runs before the first record.
 *
 * When a write or fsync fails (ENOSPC, EIO), the file is cut back to the
 * length it had before the batch (so it never holds half a line or a
 * record that was not acknowledged), the records stay at the head of the
 * ring, the failure is logged as an error (the first one, then once a
 * minute while it lasts), and the writer retries after retry_ms, doubling
 * up to retry_max_ms.  Meanwhile:
 *   fail_open    cb_audit_record keeps queuing until the ring is full and
 *                then drops new records, counting them; when writing
 *                resumes, an "audit_gap" record says how many were dropped
 *                and when, so the gap is itself in the chain;
 *   fail_closed  cb_audit_admit_ok() is false, and cb_audit_record answers
 *                CB_AUDIT_REFUSE, so the module refuses admissions it
 *                cannot record; an admission refused so is not queued
 *                (the trail must not say someone was let on who was not),
 *                the reject the module records instead is, while there is
 *                room.
 * New records do not hurry a retry: the writer sleeps out its delay (1 s,
 * doubling to retry_max_ms, 5 s by default) unless stopped or reopened, so
 * writing resumes within that long after the disk recovers.
 * No acknowledged record is lost: acknowledgement follows the write (and
 * fsync), and nothing after it can undo the write.
 *
 * Rotation.  logrotate moves the file away and sends SIGHUP; the module
 * calls cb_audit_reopen(), and the writer, between batches, closes and
 * reopens the path, creating a new file.  Without a SIGHUP the writer
 * notices on its own: before each batch it compares the path's inode with
 * the open file's and reopens when they differ.  The chain state (last seq
 * and hash) is in memory, so the new file continues the chain.  Use
 * logrotate's "nocompress" or "delaycompress" if verify is to read the
 * previous file (it cannot read .gz files).  At start-up the chain
 * continues from the file's last line, else (an empty, just-rotated file)
 * the index's last row, else the last line of <path>.1.  When the index
 * is ahead of the file (lines were removed from its end), the chain
 * continues from the index, so the removal stays visible.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "audit/audit_int.h"
#include "base/clock.h"
#include "base/worker.h"
#include "core/tz.h"

#define AUDIT_BATCH		256		/* Records per write. */
#define AUDIT_PATH_MAX		4096
#define AUDIT_LOUD_EVERY	60		/* Seconds between repeated failure messages. */
#define AUDIT_TAIL_READ		(2 * CB_AUDIT_LINE_MAX)
#define AUDIT_CATCHUP_MAX	4096		/* Records the start-up pass of the index's catch-up copies. */

struct cb_audit {
	cb_audit_conf_t		conf;
	char			path[AUDIT_PATH_MAX];
	char			db_path[AUDIT_PATH_MAX];
	cb_store_conf_t		db_conf;	/* conf->db_conf's copy; backend SQLite: open db_path. */
	cb_audit_key_t		key;		/* conf.key points here when keyed. */

	pthread_mutex_t		mu;		/* Guards the ring, the flags and the stats. */
	pthread_cond_t		acked;		/* Flush waiters (on the monotonic clock). */
	cb_audit_event_t	**ring;		/* Event copies (cb_audit_event_copy); the writer builds the records. */
	size_t			cap, head, len;
	char			**refs;		/* cb_audit_record_once: queued, not yet in the index. */
	size_t			nrefs, refs_cap;
	uint64_t		enqueued;	/* Ever put on the ring. */
	uint64_t		acknowledged;	/* Ever taken off it, written. */
	uint64_t		dropped_unreported;
	time_t			first_dropped;
	bool			stop, reopen, failing;
	int64_t			stop_deadline;	/* cb_clock_ms() by which close gives up on a failing file. */
	cb_audit_stats_t	stats;
	cb_worker_t		*worker;
	cb_audit_runs_t		*runs;		/* Refusal coalescing (runs.c); NULL: off. */
	time_t			last_sweep;	/* The writer's last cb_audit_runs_sweep. */
	bool			emitted;	/* A summary went on the ring (enqueue wakes the writer). */

	/* The writer thread's own, once started. */
	int			fd;
	uint64_t		seq;
	char			prev[CB_AUDIT_HASH_HEX + 1];
	cb_store_t		*store;		/* Its own handle on the store, for the index; NULL: none. */
	char			store_err[512];	/* The store's last complaint, for the messages here. */
	cb_audit_indexer_t	*ix;		/* The index thread (indexer.c); NULL: no store. */
	time_t			last_loud;
	unsigned int		delay_ms;
	int64_t			last_write_ms;	/* cb_clock_ms() of the last batch written (batch_wait_ms). */
};

#define A_LOG(a, lvl, ...) do { if ((a)->conf.log) (a)->conf.log((a)->conf.log_ctx, (lvl), __VA_ARGS__); } while (0)

static ssize_t sys_write(void *ctx, int fd, void const *buf, size_t len)
{
	(void) ctx;
	return write(fd, buf, len);
}

static int sys_fsync(void *ctx, int fd)
{
	(void) ctx;
	return fsync(fd);
}

/** write_all - len bytes or -1 (errno set; ENOSPC for a write that wrote nothing). */
static int write_all(cb_audit_t *a, char const *buf, size_t len)
{
	while (len) {
		ssize_t n = a->conf.io.write(a->conf.io.ctx, a->fd, buf, len);

		if (n < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		buf += n;
		len -= (size_t) n;
	}
	return 0;
}

static int open_file(cb_audit_t *a, char *err, size_t errlen)
{
	int fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		      a->conf.mode ? a->conf.mode : 0600);

	if (fd < 0) {
		char eb[128];

		snprintf(err, errlen, "audit file %s: %s", a->path, cb_audit_strerror(errno, eb, sizeof(eb)));
		return -1;
	}
	a->fd = fd;
	return 0;
}

/**
 * last_record - seq and hash of the last complete line in fd.  *cut gets
 * the length the file should have (the end of that line; the size when it
 * ends with a newline).  Returns 0 (found), 1 (no complete line), -1 (err).
 */
static int last_record(int fd, uint64_t *seq, char hash[CB_AUDIT_HASH_HEX + 1], off_t *cut, char *err, size_t errlen)
{
	struct stat st;
	off_t start;
	char *buf, eb[128];
	ssize_t got;
	size_t n, end, b;
	json_object *o, *v;
	int rc = 1;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "fstat: %s", cb_audit_strerror(errno, eb, sizeof(eb)));
		return -1;
	}
	*cut = st.st_size;
	if (st.st_size == 0) return 1;
	start = st.st_size > AUDIT_TAIL_READ ? st.st_size - AUDIT_TAIL_READ : 0;
	buf = malloc(AUDIT_TAIL_READ + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	got = pread(fd, buf, (size_t) (st.st_size - start), start);
	if (got != st.st_size - start) {
		snprintf(err, errlen, "read: %s", got < 0 ? cb_audit_strerror(errno, eb, sizeof(eb)) : "short read");
		free(buf);
		return -1;
	}
	n = (size_t) got;
	end = n;
	while (end > 0 && buf[end - 1] != '\n') end--;	/* Drop a partial last line. */
	*cut = start + (off_t) end;
	if (end == 0) {
		free(buf);
		if (start > 0) {
			snprintf(err, errlen, "no complete line in the last %d bytes", AUDIT_TAIL_READ);
			return -1;
		}
		return 1;
	}
	b = end - 1;
	while (b > 0 && buf[b - 1] != '\n') b--;
	buf[end - 1] = '\0';
	o = json_tokener_parse(buf + b);
	if (o && json_object_object_get_ex(o, "seq", &v) && json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) > 0) {
		*seq = (uint64_t) json_object_get_int64(v);
		if (json_object_object_get_ex(o, "hash", &v) && cb_store_hash_valid(json_object_get_string(v))) {
			memcpy(hash, json_object_get_string(v), CB_AUDIT_HASH_HEX + 1);
			rc = 0;
		}
	}
	if (rc != 0) {
		snprintf(err, errlen, "the last line is not an audit record");
		rc = -1;
	}
	json_object_put(o);
	free(buf);
	return rc;
}

/** recover - where the chain continues: file, database or path.1; 0 or -1 (err). */
static int recover(cb_audit_t *a, char *err, size_t errlen)
{
	char e[256], rotated[AUDIT_PATH_MAX + 8], hash[CB_AUDIT_HASH_HEX + 1], eb[128];
	uint64_t seq = 0, dseq = 0;
	off_t cut;
	int rc, fd;
	struct stat st;

	a->seq = 0;
	memcpy(a->prev, CB_AUDIT_ZERO_HASH, sizeof(CB_AUDIT_ZERO_HASH));
	rc = last_record(a->fd, &seq, hash, &cut, e, sizeof(e));
	if (rc < 0) {
		snprintf(err, errlen, "audit file %s: %s; move it aside to start a new trail", a->path, e);
		return -1;
	}
	if (fstat(a->fd, &st) == 0 && cut < st.st_size) {
		A_LOG(a, CB_LOG_ERROR, "audit: %s ended with %lld bytes of an unfinished line (a crash during a "
		      "write; that record was never acknowledged): cut off", a->path, (long long) (st.st_size - cut));
		if (ftruncate(a->fd, cut) < 0) {
			snprintf(err, errlen, "audit file %s: cannot cut the unfinished line: %s", a->path,
				 cb_audit_strerror(errno, eb, sizeof(eb)));
			return -1;
		}
	}
	if (rc == 0) {
		a->seq = seq;
		memcpy(a->prev, hash, sizeof(hash));
	}
	if (a->store && cb_store_audit_last(a->store, &dseq, hash) == 0 && dseq > a->seq) {
		if (a->seq) {
			A_LOG(a, CB_LOG_ERROR, "audit: the database holds records up to seq %" PRIu64 " but %s ends at "
			      "seq %" PRIu64 ": lines were removed from the file; continuing after the database's",
			      dseq, a->path, a->seq);
		}
		a->seq = dseq;
		memcpy(a->prev, hash, sizeof(hash));
		return 0;
	}
	if (rc == 0) return 0;
	snprintf(rotated, sizeof(rotated), "%s.1", a->path);
	fd = open(rotated, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (last_record(fd, &seq, hash, &cut, e, sizeof(e)) == 0) {
			a->seq = seq;
			memcpy(a->prev, hash, sizeof(hash));
		}
		close(fd);
	}
	return 0;
}

/** loud - log a write failure: the first, then once a minute. */
static void loud(cb_audit_t *a, char const *what, int e, size_t queued)
{
	time_t now = time(NULL);
	char eb[128];

	if (a->last_loud && now - a->last_loud < AUDIT_LOUD_EVERY) return;
	a->last_loud = now;
	A_LOG(a, CB_LOG_ERROR, "audit: cannot %s %s: %s; %zu record%s waiting in memory (at most %zu), %s",
	      what, a->path, cb_audit_strerror(e, eb, sizeof(eb)), queued, queued == 1 ? "" : "s", a->cap,
	      a->conf.on_failure == CB_AUDIT_FAIL_CLOSED ? "refusing admissions (on_failure = fail_closed)" :
	      "still admitting (on_failure = fail_open)");
}

/** gap_json - the audit_gap record for n dropped records since first. */
static json_object *gap_json(uint64_t n, time_t first, time_t now)
{
	cb_audit_event_t ev = { .type = CB_AUDIT_AUDIT_GAP, .time = now,
				.detail = "records dropped: the trail could not be written and the queue was full" };
	json_object *o = cb_audit_event_json(&ev, now);
	char buf[32];

	if (!o) return NULL;
	if (json_object_object_add(o, "dropped", json_object_new_int64((int64_t) n)) != 0 ||
	    json_object_object_add(o, "dropped_since", json_object_new_string(cb_tz_format_utc(first, buf, sizeof(buf)))) != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

typedef struct {
	char		*buf;
	size_t		len, alloc;
	size_t		*ends;		/* Where each line ends in buf. */
	size_t		n;
	cb_audit_mark_t	at;		/* Where its first line is in the file. */
} batch_t;

#define BATCH_KEEP	(256 * 1024)	/* A batch's buffer up to this size is kept for the next. */

/** batch_release - b emptied, to take lines again; its buffer kept when no larger than BATCH_KEEP, or with all, freed. */
static void batch_release(batch_t *b, bool all)
{
	if (all || b->alloc > BATCH_KEEP) {
		free(b->buf);
		b->buf = NULL;
		b->alloc = 0;
	}
	b->len = b->n = 0;
}

/** batch_add - line's bytes at the end of b (write_batch notes where it ends); 0 or -1. */
static int batch_add(batch_t *b, char const *line, size_t len)
{
	if (b->len + len > b->alloc || !b->alloc) {
		size_t na = (b->alloc ? b->alloc : 65536);
		char *nb;

		while (na < b->len + len) na *= 2;
		nb = realloc(b->buf, na);
		if (!nb) return -1;
		b->buf = nb;
		b->alloc = na;
	}
	memcpy(b->buf + b->len, line, len);
	b->len += len;
	return 0;
}

static void do_reopen(cb_audit_t *a);

/** rotated_away - whether the path no longer names the open file (moved by logrotate without a HUP). */
static bool rotated_away(cb_audit_t *a)
{
	struct stat p, f;

	if (fstat(a->fd, &f) < 0) return false;
	if (stat(a->path, &p) < 0) return errno == ENOENT;
	return p.st_ino != f.st_ino || p.st_dev != f.st_dev;
}

/**
 * write_batch - chain items[0..n) (after a gap record when gap) and append
 * them.  On 0 the chain state has advanced and b holds the lines; on -1
 * the file is as it was and *e holds errno.
 */
static int write_batch(cb_audit_t *a, cb_audit_scratch_t *sc, cb_audit_event_t **items, size_t n, json_object *gap,
		       batch_t *b, int *e)
{
	uint64_t seq = a->seq;
	char prev[CB_AUDIT_HASH_HEX + 1], hash[CB_AUDIT_HASH_HEX + 1];
	struct stat st;
	size_t i;

	memcpy(prev, a->prev, sizeof(prev));
	if (!b->alloc && batch_add(b, "", 0) < 0) {	/* Room for a batch's lines at once. */
		*e = ENOMEM;
		return -1;
	}
	for (i = 0; i < n + (gap ? 1 : 0); i++) {
		cb_audit_event_t const *ev = gap ? (i == 0 ? NULL : items[i - 1]) : items[i];
		char *line = NULL;
		size_t len;
		int rc;

		/* An event's line goes straight into the batch; the rare gap record is built from its object. */
		if (ev) {
			rc = cb_audit_chain_event(ev, seq + 1, prev, a->conf.key, sc, &b->buf, &b->len, &b->alloc, hash);
		} else {
			rc = cb_audit_chain_line(gap, seq + 1, prev, a->conf.key, &line, &len, hash, NULL) < 0 ||
			     batch_add(b, line, len) < 0 ? -1 : 0;
			free(line);
		}
		if (rc < 0) {
			*e = ENOMEM;
			return -1;
		}
		b->ends[b->n++] = b->len;
		seq++;
		memcpy(prev, hash, sizeof(prev));
	}
	if (a->fd >= 0 && rotated_away(a)) do_reopen(a);
	if (a->fd < 0) {
		char err[256];

		if (open_file(a, err, sizeof(err)) < 0) {
			*e = errno;
			return -1;
		}
	}
	if (fstat(a->fd, &st) < 0) {
		*e = errno;
		return -1;
	}
	b->at = (cb_audit_mark_t) { .set = true, .dev = st.st_dev, .ino = st.st_ino, .off = st.st_size, .seq = a->seq + 1 };
	if (write_all(a, b->buf, b->len) < 0 ||
	    (a->conf.fsync == CB_AUDIT_FSYNC_BATCH && a->conf.io.fsync(a->conf.io.ctx, a->fd) < 0)) {
		*e = errno;
		/* Never leave half a line, or a line not acknowledged, behind. */
		if (ftruncate(a->fd, st.st_size) < 0) {
			char eb[128];

			A_LOG(a, CB_LOG_ERROR, "audit: cannot cut %s back after a failed write: %s; verify will show a "
			      "broken line there", a->path, cb_audit_strerror(errno, eb, sizeof(eb)));
		}
		return -1;
	}
	a->seq = seq;
	memcpy(a->prev, prev, sizeof(prev));
	return 0;
}

/*
 *	The copy in the store's index
 */

static void store_log(void *ctx, cb_log_level_t level, char const *fmt, ...) __attribute__((format(printf, 3, 4)));

/** store_log - the store's complaints about the index, kept for the messages here (which say what is lost). */
static void store_log(void *ctx, cb_log_level_t level, char const *fmt, ...)
{
	cb_audit_t *a = ctx;
	va_list ap;

	(void) level;
	va_start(ap, fmt);
	vsnprintf(a->store_err, sizeof(a->store_err), fmt, ap);
	va_end(ap);
}

/** index_open - the writer's own handle on the store at db_path, ready for audit records; 0 or -1 (err). */
static int index_open(cb_audit_t *a, char *err, size_t errlen)
{
	cb_store_conf_t sc = a->db_conf;
	char e[1024];

	if (sc.backend == CB_STORE_SQLITE) sc.path = a->db_path;
	sc.create = false;
	sc.defer_decisions = false;
	/* No fsync per index commit: the file (fsynced) is the record; what a power cut takes from the
	 * index's last commits, the catch-up copies back from the file at start-up, before anything new. */
	sc.fast_sync = true;
	sc.log = store_log;
	sc.log_ctx = a;
	a->store = cb_store_open(&sc, e, sizeof(e));
	if (!a->store) {
		snprintf(err, errlen, "audit database: %s", e);
		return -1;
	}
	if (cb_store_audit_attach(a->store) < 0) {
		snprintf(err, errlen, "audit database %s: %s", a->db_path, a->store_err);
		return -1;
	}
	return 0;
}

/** ref_find - where ref is in a->refs, or a->nrefs (mutex held). */
static size_t ref_find(cb_audit_t const *a, char const *ref)
{
	size_t i;

	for (i = 0; i < a->nrefs && strcmp(a->refs[i], ref) != 0; i++) continue;
	return i;
}

/** ref_forget - the index holds these records now: the memory of their references goes. */
static void ref_forget(void *ctx, cb_store_audit_entry_t const *e, size_t n)
{
	cb_audit_t *a = ctx;

	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < n && a->nrefs; i++) {
		size_t k;

		if (!e[i].ref || !*e[i].ref || (k = ref_find(a, e[i].ref)) == a->nrefs) continue;
		free(a->refs[k]);
		a->refs[k] = a->refs[--a->nrefs];
	}
	pthread_mutex_unlock(&a->mu);
}

/** after_ack - the acknowledged lines to syslog, and their end to the index thread. */
static void after_ack(cb_audit_t *a, batch_t const *b)
{
	cb_audit_mark_t end = b->at;
	size_t i, start = 0;

	end.off += (off_t) b->len;
	end.seq = a->seq + 1;
	cb_audit_indexer_note(a->ix, a->seq, &end);
	if (a->conf.syslog) {
		for (i = 0; i < b->n; i++) {
			syslog((a->conf.syslog_facility ? a->conf.syslog_facility : LOG_AUTHPRIV) | LOG_INFO,
			       "cetbyod-audit: %.*s", (int) (b->ends[i] - start - 1), b->buf + start);
			start = b->ends[i];
		}
	}
}

static void do_reopen(cb_audit_t *a)
{
	char err[AUDIT_PATH_MAX + 128];

	if (a->fd >= 0) close(a->fd);
	a->fd = -1;
	if (open_file(a, err, sizeof(err)) < 0) {
		A_LOG(a, CB_LOG_ERROR, "audit: reopen: %s (retrying at the next write)", err);
	} else {
		A_LOG(a, CB_LOG_INFO, "audit: reopened %s; the chain continues at seq %" PRIu64, a->path, a->seq + 1);
	}
}

/**
 * writer_failed - after a failed batch (mutex held): log, then wait before
 * the retry.  false: give up (stopping, and the close deadline passed).
 */
static bool writer_failed(cb_audit_t *a, cb_worker_t *w, int e)
{
	unsigned int max = a->conf.retry_max_ms ? a->conf.retry_max_ms : CB_AUDIT_RETRY_MAX_MS;
	int64_t until;
	char eb[128];

	a->failing = true;
	a->stats.failing = true;
	a->stats.write_failures++;
	snprintf(a->stats.last_error, sizeof(a->stats.last_error), "%.180s: %s", a->path,
		 cb_audit_strerror(e, eb, sizeof(eb)));
	loud(a, "write", e, a->len);
	if (a->stop && cb_clock_ms() >= a->stop_deadline) return false;
	/* New records wake the thread too: they must not hurry the retry (a busy
	 * server would hammer the failing disk), only stop and reopen may.  While
	 * stopping, retry at once until the close deadline. */
	until = cb_clock_ms() + a->delay_ms;
	while (!a->stop && !a->reopen) {
		int64_t left = until - cb_clock_ms();

		if (left <= 0) break;
		pthread_mutex_unlock(&a->mu);
		cb_worker_wait(w, left);
		pthread_mutex_lock(&a->mu);
	}
	a->delay_ms = a->delay_ms * 2 > max ? max : a->delay_ms * 2;
	return true;
}

/** a_now - the trail's clock. */
static time_t a_now(cb_audit_t const *a)
{
	return a->conf.now ? a->conf.now(a->conf.now_ctx) : time(NULL);
}

/** ring_put - o onto the ring (mutex held); false: full (o freed, counted as dropped at now). */
static bool ring_put(cb_audit_t *a, cb_audit_event_t *o, time_t now)
{
	if (a->len >= a->cap) {
		if (!a->dropped_unreported) a->first_dropped = now;
		a->dropped_unreported++;
		a->stats.dropped++;
		free(o);
		return false;
	}
	a->ring[(a->head + a->len) % a->cap] = o;
	a->len++;
	a->enqueued++;
	return true;
}

/** emit - a run's summary onto the ring (mutex held; runs.c calls it). */
static void emit(void *ctx, cb_audit_event_t *rec, uint64_t count)
{
	cb_audit_t *a = ctx;

	if (!rec) {
		A_LOG(a, CB_LOG_ERROR, "audit: cannot build the summary of %" PRIu64 " repeated refusals (out of memory)",
		      count);
		if (!a->dropped_unreported) a->first_dropped = a_now(a);
		a->dropped_unreported++;
		a->stats.dropped++;
		return;
	}
	a->emitted |= ring_put(a, rec, a_now(a));
}

/** runs_tick - the writer's sweep of the runs (mutex held): once a second, and all of them when stopping. */
static void runs_tick(cb_audit_t *a)
{
	time_t now;

	if (!a->runs || !cb_audit_runs_count(a->runs)) return;
	now = a_now(a);
	if (!a->stop && now == a->last_sweep) return;
	a->last_sweep = now;
	cb_audit_runs_sweep(a->runs, now, a->stop, emit, a);
	a->emitted = false;
}

/** idle_ms - how long the idle writer may sleep: at most 1 s while runs are open, else until woken. */
static int64_t idle_ms(cb_audit_t const *a)
{
	return a->runs && cb_audit_runs_count(a->runs) ? 1000 : -1;
}

static void writer_acked(cb_audit_t *a, size_t n, uint64_t gap)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(a->ring[a->head]);
		a->ring[a->head] = NULL;
		a->head = (a->head + 1) % a->cap;
	}
	a->len -= n;
	a->acknowledged += n;
	a->stats.written += n + (gap ? 1 : 0);
	a->stats.last_seq = a->seq;
	a->dropped_unreported -= gap;
	if (a->failing) A_LOG(a, CB_LOG_INFO, "audit: writing %s again", a->path);
	a->failing = false;
	a->stats.failing = false;
	a->last_loud = 0;
	a->delay_ms = a->conf.retry_ms ? a->conf.retry_ms : 1000;
	pthread_cond_broadcast(&a->acked);
}

/**
 * log_summaries - after a write: each run's summary among items[0..n) as
 * one INFO line (conf.log_summaries), naming its seq in the trail.
 * Outside the mutex: the items stay on the ring until writer_acked.
 */
static void log_summaries(cb_audit_t *a, cb_audit_event_t * const *items, size_t n)
{
	char line[2048];

	if (!a->conf.log_summaries) return;
	for (size_t i = 0; i < n; i++) {
		if (items[i]->type != CB_AUDIT_DECISION || !items[i]->count) continue;
		A_LOG(a, CB_LOG_INFO, "%s, seq %" PRIu64, cb_audit_runs_describe(items[i], line, sizeof(line)),
		      a->seq - n + i + 1);
	}
}

/**
 * gather_ms - how much longer the writer should let records gather before
 * writing them (conf.batch_wait_ms after its last write, under fsync
 * batch): 0 once that has passed, or when a whole batch waits, or when
 * stopping or reopening.  Nobody waits for it but the records: radiusd's
 * answers never do.
 */
static int64_t gather_ms(cb_audit_t const *a)
{
	int64_t left;

	if (!a->conf.batch_wait_ms || a->conf.fsync != CB_AUDIT_FSYNC_BATCH || a->stop || a->reopen ||
	    a->len >= AUDIT_BATCH || a->failing) {
		return 0;
	}
	left = a->last_write_ms + (int64_t) a->conf.batch_wait_ms - cb_clock_ms();
	return left > 0 ? left : 0;
}

/** writer_main - the writer thread: batches off the ring until stopped and drained. */
static void writer_main(cb_worker_t *w, void *arg)
{
	cb_audit_t *a = arg;
	cb_audit_event_t *items[AUDIT_BATCH];
	size_t ends[AUDIT_BATCH + 1];
	batch_t b = { .ends = ends };
	cb_audit_scratch_t *sc = cb_audit_scratch_new();	/* NULL: each record makes its own. */

	pthread_mutex_lock(&a->mu);
	for (;;) {
		json_object *gap = NULL;
		int64_t left;
		uint64_t ngap;
		size_t n, i;
		int e = 0, rc;

		/* Idle: wait for records; while runs are open, a second at most (their summaries). */
		runs_tick(a);
		while (!a->stop && !a->reopen && a->len == 0 && !a->dropped_unreported && idle_ms(a) != 0) {
			pthread_mutex_unlock(&a->mu);
			cb_worker_wait(w, idle_ms(a));
			pthread_mutex_lock(&a->mu);
			runs_tick(a);
		}
		if (a->reopen) {
			a->reopen = false;
			pthread_mutex_unlock(&a->mu);
			do_reopen(a);
			pthread_mutex_lock(&a->mu);
			continue;
		}
		if (a->len == 0 && !a->dropped_unreported) {
			if (a->stop) break;				/* Stopping, all written. */
			continue;
		}
		if ((left = gather_ms(a)) > 0) {		/* Busy: more records to the same fsync. */
			pthread_mutex_unlock(&a->mu);
			cb_clock_sleep_ms(left);
			pthread_mutex_lock(&a->mu);
			continue;
		}
		n = a->len < AUDIT_BATCH ? a->len : AUDIT_BATCH;
		for (i = 0; i < n; i++) items[i] = a->ring[(a->head + i) % a->cap];
		ngap = a->dropped_unreported;
		if (ngap) gap = gap_json(ngap, a->first_dropped, time(NULL));
		pthread_mutex_unlock(&a->mu);

		rc = (ngap && !gap) ? (e = ENOMEM, -1) : write_batch(a, sc, items, n, gap, &b, &e);
		a->last_write_ms = cb_clock_ms();
		json_object_put(gap);
		if (rc == 0) after_ack(a, &b);
		if (rc == 0) log_summaries(a, items, n);
		batch_release(&b, false);

		pthread_mutex_lock(&a->mu);
		if (rc == 0) {
			writer_acked(a, n, ngap);
		} else if (!writer_failed(a, w, e)) {
			break;
		}
	}
	if (a->len) {
		A_LOG(a, CB_LOG_ERROR, "audit: stopping with %zu record%s never written to %s (never acknowledged)",
		      a->len, a->len == 1 ? "" : "s", a->path);
	}
	pthread_mutex_unlock(&a->mu);
	batch_release(&b, true);
	cb_audit_scratch_free(sc);
}

static int ref_note(cb_audit_t *a, char const *ref);

/** ref_remember - a reference the file holds and the index not yet (refscan.c), for cb_audit_record_once. */
static void ref_remember(void *ctx, char const *ref)
{
	cb_audit_t *a = ctx;

	pthread_mutex_lock(&a->mu);
	if (ref_note(a, ref) < 0) A_LOG(a, CB_LOG_ERROR, "audit: out of memory noting the reference %s", ref);
	pthread_mutex_unlock(&a->mu);
}

/** refs_left - after a start-up pass that left records out of the index: their references remembered. */
static void refs_left(cb_audit_t *a, cb_audit_mark_t const *mark)
{
	char err[4096];
	size_t found = 0;

	if (cb_audit_refs_unindexed(a->path, mark, ref_remember, a, &found, err, sizeof(err)) < 0) {
		A_LOG(a, CB_LOG_WARN, "audit: cannot read the references of the records %s holds and the database %s "
		      "not yet: %s (an action among them may be recorded twice)", a->path, a->db_path, err);
	}
	if (found) {
		A_LOG(a, CB_LOG_INFO, "audit: %zu action%s among the records not yet in the database %s: each is "
		      "recorded once", found, found == 1 ? "" : "s", a->db_path);
	}
}

/**
 * startup_catch_up - an index behind the file (closed while it lagged or
 * the store failed, or a crash between the file's write and the index's
 * commit): one bounded pass before the first record, so that
 * cb_audit_record_once finds the references there; the index thread
 * copies what it leaves, and the references among what it leaves are
 * read from the file now (refscan.c).
 */
static void startup_catch_up(cb_audit_t *a, cb_audit_mark_t *mark)
{
	char hash[CB_AUDIT_HASH_HEX + 1], err[4096];
	uint64_t dseq = 0, copied = 0;
	struct stat st;
	int rc = cb_store_audit_last(a->store, &dseq, hash);

	if (rc < 0) return;
	if (rc == 1 || dseq >= a->seq) {
		/* Nothing to copy (an index without rows starts with the file's next record): the thread
		 * starts reading at the file's end, not by a search from its first line. */
		if (fstat(a->fd, &st) == 0) {
			*mark = (cb_audit_mark_t) { .set = true, .dev = st.st_dev, .ino = st.st_ino, .off = st.st_size,
						    .seq = a->seq + 1 };
		}
		return;
	}
	A_LOG(a, CB_LOG_INFO, "audit: the database %s holds records up to seq %" PRIu64 ", %s up to %" PRIu64 ": "
	      "copying the missing ones from the file", a->db_path, dseq, a->path, a->seq);
	rc = cb_audit_index_catch_up(a->store, a->path, a->conf.key, mark, AUDIT_CATCHUP_MAX, NULL, NULL, &copied, err,
				     sizeof(err));
	if (rc < 0) {
		A_LOG(a, CB_LOG_WARN, "audit: cannot copy the missing records to the database %s yet: %s (the index "
		      "thread retries)", a->db_path, err);
	}
	if (rc != 0) refs_left(a, mark);
}

/** index_start - the index thread on the writer's store handle; 0 or -1 (err). */
static int index_start(cb_audit_t *a, cb_audit_mark_t const *mark, char *err, size_t errlen)
{
	cb_audit_indexer_conf_t ic = { .mark = *mark,
		.store = a->store, .path = a->path, .db_path = a->db_path, .key = a->conf.key, .fn = ref_forget,
		.ctx = a, .retry_ms = a->conf.retry_ms, .retry_max_ms = a->conf.retry_max_ms,
		.defer_ms = a->conf.index_defer * 1000u, .busy_rate = a->conf.index_busy_rate ?
		a->conf.index_busy_rate : CB_AUDIT_INDEX_BUSY_RATE_DEFAULT, .yield_ms = a->conf.index_yield_ms,
		.log = a->conf.log,
		.log_ctx = a->conf.log_ctx,
	};

	a->ix = cb_audit_indexer_start(&ic, a->seq, err, errlen);
	return a->ix ? 0 : -1;
}

/** writer_free - what cb_audit_open allocated, once the thread is gone (or never started). */
static void writer_free(cb_audit_t *a)
{
	cb_store_close(a->store);
	if (a->fd >= 0) close(a->fd);
	for (size_t i = 0; i < a->nrefs; i++) free(a->refs[i]);
	free(a->refs);
	cb_audit_key_wipe(&a->key);
	cb_audit_runs_free(a->runs);
	free(a->ring);
	free(a);
}

/** writer_sync - the mutex and the flush waiters' condition (on the monotonic clock); 0 or -1. */
static int writer_sync(cb_audit_t *a)
{
	pthread_condattr_t ca;
	int rc;

	if (pthread_mutex_init(&a->mu, NULL) != 0) return -1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&a->acked, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		pthread_mutex_destroy(&a->mu);
		return -1;
	}
	return 0;
}

cb_audit_t *cb_audit_open(cb_audit_conf_t const *conf, char *err, size_t errlen)
{
	cb_audit_t *a;
	cb_audit_event_t start = { .type = CB_AUDIT_AUDIT_START, .detail = "audit trail opened" };
	cb_audit_mark_t mark = { .set = false };
	char werr[256];

	if (!conf || !conf->path || !*conf->path || strlen(conf->path) >= AUDIT_PATH_MAX ||
	    (conf->db_path && strlen(conf->db_path) >= AUDIT_PATH_MAX)) {
		snprintf(err, errlen, "audit: a file path (shorter than %d bytes) is required", AUDIT_PATH_MAX);
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) goto oom;
	a->conf = *conf;
	if (!a->conf.io.write) a->conf.io.write = sys_write;
	if (!a->conf.io.fsync) a->conf.io.fsync = sys_fsync;
	memcpy(a->path, conf->path, strlen(conf->path) + 1);
	if (conf->db_path) memcpy(a->db_path, conf->db_path, strlen(conf->db_path) + 1);
	a->conf.path = a->path;
	a->conf.db_path = conf->db_path ? a->db_path : NULL;
	if (conf->db_conf) a->db_conf = *conf->db_conf;
	a->conf.db_conf = NULL;
	if (conf->key) {
		a->key = *conf->key;
		a->conf.key = &a->key;
	}
	a->cap = conf->queue_max ? conf->queue_max : CB_AUDIT_QUEUE_DEFAULT;
	a->delay_ms = conf->retry_ms ? conf->retry_ms : 1000;
	a->fd = -1;
	a->ring = calloc(a->cap, sizeof(*a->ring));
	if (!a->ring) goto oom;
	if (conf->coalesce_window &&
	    !(a->runs = cb_audit_runs_new(conf->coalesce_window, conf->coalesce_every, conf->coalesce_max))) goto oom;
	if (open_file(a, err, errlen) < 0) goto fail;
	if (conf->db_path && index_open(a, err, errlen) < 0) goto fail;
	if (recover(a, err, errlen) < 0) goto fail;
	a->stats.last_seq = a->seq;
	if (a->store) startup_catch_up(a, &mark);
	if (writer_sync(a) < 0) goto oom;
	if (a->store && index_start(a, &mark, werr, sizeof(werr)) < 0) {
		snprintf(err, errlen, "audit: cannot start the index thread: %s", werr);
		pthread_cond_destroy(&a->acked);
		pthread_mutex_destroy(&a->mu);
		goto fail;
	}

	cb_audit_record(a, &start);
	a->worker = cb_worker_start("audit-writer", writer_main, a, werr, sizeof(werr));
	if (!a->worker) {
		snprintf(err, errlen, "audit: cannot start the writer thread");
		free(a->ring[a->head]);
		cb_audit_indexer_stop(a->ix, 0);
		pthread_cond_destroy(&a->acked);
		pthread_mutex_destroy(&a->mu);
		goto fail;
	}
	return a;
oom:
	snprintf(err, errlen, "audit: out of memory");
fail:
	if (a) writer_free(a);
	return NULL;
}

void cb_audit_close(cb_audit_t *a, unsigned int timeout_ms)
{
	size_t i;

	if (!a) return;
	pthread_mutex_lock(&a->mu);
	a->stop = true;
	a->stop_deadline = cb_clock_ms() + timeout_ms;
	pthread_mutex_unlock(&a->mu);
	cb_worker_stop(a->worker);	/* Wakes it; it writes what it can by the deadline, then returns. */
	/* Then the index: what it can copy by the same deadline (a restart copies the rest). */
	cb_audit_indexer_stop(a->ix, (unsigned int) (a->stop_deadline > cb_clock_ms() ? a->stop_deadline - cb_clock_ms() : 0));

	for (i = 0; i < a->len; i++) free(a->ring[(a->head + i) % a->cap]);
	pthread_cond_destroy(&a->acked);
	pthread_mutex_destroy(&a->mu);
	writer_free(a);
}

/** must_refuse - whether fail_closed must refuse now (mutex held). */
static bool must_refuse(cb_audit_t const *a)
{
	return a->conf.on_failure == CB_AUDIT_FAIL_CLOSED && (a->failing || a->len >= a->cap);
}

/** repeat - ev a repeat of an open run (mutex held): counted, *rc set; false: write it. */
static bool repeat(cb_audit_t *a, char const *key, time_t t, cb_audit_rc_t *rc)
{
	if (cb_audit_runs_repeat(a->runs, key, t, emit, a) != 1) return false;
	a->stats.coalesced++;
	*rc = must_refuse(a) ? CB_AUDIT_REFUSE : CB_AUDIT_COUNTED;
	return true;
}

/** enqueue_rc - o (NULL: it could not be built) onto the ring (mutex held); *queued when it went on. */
static cb_audit_rc_t enqueue_rc(cb_audit_t *a, cb_audit_event_t const *ev, cb_audit_event_t *o, time_t now,
				bool *queued)
{
	cb_audit_rc_t fail = a->conf.on_failure == CB_AUDIT_FAIL_CLOSED ? CB_AUDIT_REFUSE : CB_AUDIT_DROPPED;

	*queued = false;
	if (!o) {
		A_LOG(a, CB_LOG_ERROR, "audit: cannot build a record (%s)", ev ? "out of memory" : "no event");
		return fail;
	}
	if (a->len < a->cap && must_refuse(a) && ev->admission) {
		free(o);	/* The caller refuses instead, and records that. */
		return CB_AUDIT_REFUSE;
	}
	if (!ring_put(a, o, now)) return fail;
	*queued = true;
	return must_refuse(a) ? CB_AUDIT_REFUSE : CB_AUDIT_QUEUED;
}

/**
 * enqueue - cb_audit_record; *queued: the record is on the ring.  A
 * refusal repeating an open run is only counted (runs.c): looked up
 * before the record is built, and again once it is (another thread may
 * have opened the run meanwhile).
 */
static cb_audit_rc_t enqueue(cb_audit_t *a, cb_audit_event_t const *ev, bool *queued)
{
	time_t now = a_now(a), t = ev && ev->time ? ev->time : now;
	cb_audit_event_t *o = NULL, *tmpl = NULL;
	char key[CB_AUDIT_RUNS_KEY_MAX];
	bool runs = a->runs && cb_audit_runs_key(ev, key, sizeof(key)), wake;
	cb_audit_rc_t rc;

	*queued = false;
	if (runs) {
		pthread_mutex_lock(&a->mu);
		if (repeat(a, key, t, &rc)) goto out;
		pthread_mutex_unlock(&a->mu);	/* A summary of an ended run goes with the record. */
	}
	if (ev && (unsigned int) ev->type < CB_AUDIT_TYPE_MAX) o = cb_audit_event_copy(ev, now);
	if (o && runs) tmpl = cb_audit_event_copy(ev, now);
	pthread_mutex_lock(&a->mu);
	if (runs && repeat(a, key, t, &rc)) {
		free(o);
		free(tmpl);
		goto out;
	}
	rc = enqueue_rc(a, ev, o, now, queued);
	a->emitted |= *queued;
	if (*queued && tmpl) {
		if (cb_audit_runs_start(a->runs, key, t, tmpl) == 2) a->stats.runs_full++;
	} else {
		free(tmpl);
	}
out:
	if (rc == CB_AUDIT_REFUSE) a->stats.refused++;
	wake = a->emitted;
	a->emitted = false;
	pthread_mutex_unlock(&a->mu);
	if (wake) cb_worker_wake(a->worker);	/* NULL (not started yet) is fine. */
	return rc;
}

cb_audit_rc_t cb_audit_record(cb_audit_t *a, cb_audit_event_t const *ev)
{
	bool queued;

	return enqueue(a, ev, &queued);
}

/** ref_note - remember ref as queued (mutex held); 0, 1 already there, -1 out of memory. */
static int ref_note(cb_audit_t *a, char const *ref)
{
	if (ref_find(a, ref) < a->nrefs) return 1;
	if (a->nrefs == a->refs_cap) {
		size_t cap = a->refs_cap ? 2 * a->refs_cap : 16;
		char **n = realloc(a->refs, cap * sizeof(*n));

		if (!n) return -1;
		a->refs = n;
		a->refs_cap = cap;
	}
	if (!(a->refs[a->nrefs] = strdup(ref))) return -1;
	a->nrefs++;
	return 0;
}

int cb_audit_record_once(cb_audit_t *a, cb_store_t *store, cb_audit_event_t const *ev)
{
	bool queued;
	int known;

	if (!a || !ev || !ev->ref || !*ev->ref) return -1;
	pthread_mutex_lock(&a->mu);
	known = ref_find(a, ev->ref) < a->nrefs;
	pthread_mutex_unlock(&a->mu);
	if (known) return 0;
	known = store ? cb_store_audit_has_ref(store, ev->ref) : 0;
	if (known) return known > 0 ? 0 : -1;
	/* Noted before it is queued: the writer forgets it once the index has it. */
	pthread_mutex_lock(&a->mu);
	known = ref_note(a, ev->ref);
	pthread_mutex_unlock(&a->mu);
	if (known) return known > 0 ? 0 : -1;
	enqueue(a, ev, &queued);
	if (queued) return 1;
	pthread_mutex_lock(&a->mu);
	known = (int) ref_find(a, ev->ref);
	if ((size_t) known < a->nrefs) {
		free(a->refs[known]);
		a->refs[known] = a->refs[--a->nrefs];
	}
	pthread_mutex_unlock(&a->mu);
	return -1;
}

void cb_audit_session_closed(cb_audit_t *audit, cb_store_session_t const *s)
{
	cb_audit_event_t ev = {
		.type = CB_AUDIT_SESSION_STOP, .time = s->stopped, .identity = s->identity[0] ? s->identity : NULL,
		.outer_identity = s->outer_identity, .calling_station = s->calling_station,
		.called_station = s->called_station, .nas = s->nas, .class_id = s->class_id[0] ? s->class_id : NULL,
		.acct_session_id = s->acct_session_id, .framed_ip = s->framed_ip[0] ? s->framed_ip : NULL,
		.session_started = s->started, .session_stopped = s->stopped, .stop_cause = s->stop_cause,
		.has_octets = true, .in_octets = s->in_octets, .out_octets = s->out_octets,
	};

	if (audit) cb_audit_record(audit, &ev);
}

bool cb_audit_admit_ok(cb_audit_t *a)
{
	bool ok;

	pthread_mutex_lock(&a->mu);
	ok = !must_refuse(a);
	pthread_mutex_unlock(&a->mu);
	return ok;
}

void cb_audit_reopen(cb_audit_t *a)
{
	if (!a) return;
	pthread_mutex_lock(&a->mu);
	a->reopen = true;
	pthread_mutex_unlock(&a->mu);
	cb_worker_wake(a->worker);
}

int cb_audit_flush(cb_audit_t *a, unsigned int timeout_ms)
{
	struct timespec ts;
	int64_t deadline = cb_clock_ms() + timeout_ms;
	uint64_t target;
	int rc = 0;

	cb_clock_after_ms(&ts, timeout_ms);
	pthread_mutex_lock(&a->mu);
	target = a->enqueued;
	while (a->acknowledged < target || a->dropped_unreported) {
		if (pthread_cond_timedwait(&a->acked, &a->mu, &ts) != 0 && cb_clock_ms() >= deadline) {
			rc = -1;
			break;
		}
	}
	target = a->stats.last_seq;
	pthread_mutex_unlock(&a->mu);
	if (rc == 0 && a->ix) {
		int64_t left = deadline - cb_clock_ms();

		rc = cb_audit_indexer_wait(a->ix, target, left > 0 ? (unsigned int) left : 0);
	}
	return rc;
}

void cb_audit_stats(cb_audit_t *a, cb_audit_stats_t *out)
{
	pthread_mutex_lock(&a->mu);
	*out = a->stats;
	out->queued = a->len;
	out->runs = cb_audit_runs_count(a->runs);
	pthread_mutex_unlock(&a->mu);
	cb_audit_indexer_lag(a->ix, &out->index_lag, &out->index_lag_ms);
}

