/*
 * indexer.c - the thread that copies the audit trail's file into the
 * store's index, off the writer, at the lowest CPU priority.
 *
 * The writer (writer.c) only builds, chains, writes and fsyncs the file;
 * after each acknowledged batch it tells the indexer the last seq the file
 * holds (cb_audit_indexer_note), which costs a mutex and a wake.  The
 * indexer reads the file by position (the catch-up of index.c, which keeps
 * a mark: file, inode, offset, next seq) and copies what the index lacks in
 * transactions of up to 256 records, at most AUDIT_INDEX_PASS per pass.  It
 * never holds records in memory: under a refusal storm the file grows, the
 * index lags, and the lag is a number (written seq - indexed seq), not a
 * queue.  When the store refuses (disk full, locked, PostgreSQL down), the
 * next pass waits retry_ms, doubling to retry_max_ms.
 *
 * Priority.  The thread lowers itself to nice 19 (setpriority on its own
 * thread id; Linux applies nice per thread), not SCHED_IDLE: the indexer
 * holds SQLite's write lock during each commit, and the store's writers
 * (decisions, devices, sessions) wait for that lock.  Under SCHED_IDLE a
 * thread preempted inside its transaction on a saturated machine runs
 * again only when a core is idle (its weight is 3 against 1,024), which
 * would stall those writers; at nice 19 (weight 15) it finishes a
 * transaction in a few time slices.  Where nice cannot be set, it runs at
 * normal priority (logged at start).
 *
 * A line that is not a sound record (altered, or not a record) or that
 * does not follow the index's last stops the copy there; the next pass
 * starts past it (index.c skip_at), so that only that line stays out of
 * the index; where it cannot be passed (a line too long, a file that
 * cannot be read) the thread starts again at the end of the writer's last
 * batch.  'cetbyodctl audit verify' finds the line and counts what the
 * index lacks.
 *
 * Busy: the index waits.  While the writer's notes say the trail is being
 * written at busy_rate records a second or more (a burst of
 * authentications, a refusal storm), the indexer does not copy until the
 * index has lagged defer_ms (audit { index_defer }), so that the two cores
 * answer the burst first and the copying (about three times the writer's
 * CPU per record) comes when it is over.  The rate is measured over
 * windows of at least RATE_WINDOW_MS from the writer's notes; a writer that has
 * noted nothing for RATE_STALE_MS is not busy, and one that writes again
 * after such a silence makes the copy wait until its rate is known (two
 * windows at most), so that a burst's first records are not copied
 * before it is seen to be one.  A caller that waits for
 * the index (cb_audit_indexer_wait: cb_audit_flush) ends the wait at once.
 * Under a load that never lets up, the lag stays near defer_ms and the
 * copying runs at nice 19 as it would have without the wait.
 *
 * Stepping back for the store's writers.  The index shares the store's
 * SQLite file, whose write lock admits one transaction at a time: while
 * the copy commits, accounting's group commit, the decisions' batch and
 * the devices writer wait.  Copying a backlog after a burst, transaction
 * after transaction, kept them waiting long enough to cut accounting's
 * rate several times over (one repetition of `make bench`'s figure 8 at
 * 2,413 answers/s instead of about 17,000).  So after each pass, when
 * a connection of the process had to wait for the lock within YIELD_MS
 * (cb_store_write_contended; never on PostgreSQL), the copy waits
 * YIELD_MS and then copies one transaction (YIELD_PASS records) at a
 * time, until a pass leaves nobody waiting; a pass that starts while one
 * waits copies one transaction too.  Under a write load that
 * never lets up the index lags, as the metrics show, and catches up when
 * it eases; a caller waiting for the index ends the stepping back.
 *
 * Readers of the index: cetbyodctl catches the index up from the file
 * itself before a query (cb_audit_index_update), so a refusal is found
 * right after it was written; cb_audit_record_once keeps the references
 * of records not yet indexed in memory (writer.c).  The lag in records and
 * seconds is in cb_audit_stats (the module's metrics).  Stopping: the
 * thread copies what it can until the close deadline; a restart catches
 * up the rest (one bounded pass at open, then this thread).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "audit/audit_int.h"
#include "base/clock.h"
#include "base/worker.h"

#define AUDIT_INDEX_PASS	4096	/* Records one pass copies before it looks at its flags again. */
#define RATE_WINDOW_MS		100	/* The writer's rate is measured over windows at least this long. */
#define RATE_STALE_MS		1000	/* A writer silent this long is not busy. */
#define DEFER_RECHECK_MS	250	/* A deferred index looks at the rate again this often. */
#define DEFER_LOG_EVERY_MS	60000	/* At most one "waits while busy" line this often. */
#define YIELD_MS		50	/* A store writer waited for the lock this recently: the copy steps back ... */
#define YIELD_PASS		256	/* ... this long, then copies at most this many records (a transaction). */

struct cb_audit_indexer {
	cb_audit_indexer_conf_t	conf;
	pthread_mutex_t		mu;		/* Guards written, indexed, behind_ms, failing, deadline. */
	pthread_cond_t		moved;		/* Signalled after each pass (cb_audit_indexer_wait). */
	uint64_t		written;	/* The last seq the file holds (the writer's note). */
	uint64_t		indexed;	/* The last seq the index holds or went past (read after each pass). */
	int64_t			behind_ms;	/* cb_clock_ms() when the index last fell behind. */
	bool			failing;	/* The last pass could not copy (store or file). */
	int64_t			deadline;	/* Stopping: cb_clock_ms() by which to give up. */
	int64_t			rate_at_ms;	/* When the current rate window began (0: no note yet). */
	uint64_t		rate_seq;	/* written when it began. */
	uint64_t		rate;		/* Records a second over the last whole window. */
	bool			rate_known;	/* A whole window has passed since the writer's last silence. */
	unsigned int		hurry;		/* Callers in cb_audit_indexer_wait: no deferring. */
	int64_t			defer_until;	/* The thread's: deferred, look again at this cb_clock_ms(). */
	int64_t			defer_logged;	/* The thread's: when the last "waits" line was logged. */
	int64_t			yield_until;	/* The thread's: stepping back for the store's writers until this
						 * cb_clock_ms(); not 0: the last pass made one wait. */
	cb_audit_mark_t		file_end;	/* Where the file ended after the writer's last batch. */
	cb_audit_mark_t		mark;		/* The thread's: where the next pass reads. */
	unsigned int		delay;		/* The thread's: the wait after a failed pass. */
	char			last_err[512];	/* The thread's: not to repeat a message each pass. */
	cb_worker_t		*worker;
};

#define IX_LOG(ix, lvl, ...) do { \
	if ((ix)->conf.log) (ix)->conf.log((ix)->conf.log_ctx, (lvl), __VA_ARGS__); \
} while (0)

/** lower_priority - this thread to nice 19; false when it cannot be. */
static bool lower_priority(void)
{
#ifdef SYS_gettid
	pid_t tid = (pid_t) syscall(SYS_gettid);

	return setpriority(PRIO_PROCESS, (id_t) tid, 19) == 0;
#else
	return false;
#endif
}

/** indexed_now - the index's last seq (0: none, or unreadable). */
static uint64_t indexed_now(cb_audit_indexer_t *ix)
{
	char hash[CB_AUDIT_HASH_HEX + 1];
	uint64_t seq = 0;

	if (cb_store_audit_last(ix->conf.store, &seq, hash) != 0) return 0;
	return seq;
}

/** failed - a pass that copied nothing: logged once per distinct error, the next one delayed. */
static void failed(cb_audit_indexer_t *ix, int rc, char const *err)
{
	unsigned int max = ix->conf.retry_max_ms ? ix->conf.retry_max_ms : CB_AUDIT_RETRY_MAX_MS;

	if (strcmp(err, ix->last_err) != 0) {
		IX_LOG(ix, rc == -2 ? CB_LOG_ERROR : CB_LOG_WARN, "audit: cannot copy records of %s to the database "
		       "%s: %s; %s", ix->conf.path, ix->conf.db_path, err, rc == -2 ?
		       "the index goes on after it, without it ('cetbyodctl audit verify' finds the line)" :
		       "the file has them; copying them once the database takes them");
		snprintf(ix->last_err, sizeof(ix->last_err), "%s", err);
	}
	ix->delay = ix->delay ? (ix->delay * 2 > max ? max : ix->delay * 2) : (ix->conf.retry_ms ? ix->conf.retry_ms : 1000);
}

/**
 * passed_over - the last seq the copy is done with: the index's last, or
 * the seq before where the copy resumes past a broken line (the line, or
 * the hole, is what verify reports; the index never holds it).  Without
 * it, a broken last line would count as lag, and a flush would wait for
 * it, until the next record.
 */
static uint64_t passed_over(cb_audit_indexer_t const *ix, uint64_t seq)
{
	if (ix->mark.set && ix->mark.resync && ix->mark.seq > seq + 1) return ix->mark.seq - 1;
	return seq;
}

/** pass - one pass of the catch-up, max records at most; true when the index moved on (this pass, or another copier). */
static bool pass(cb_audit_indexer_t *ix, size_t max)
{
	char err[4096] = "";
	uint64_t copied = 0, seq, before;
	int rc;

	pthread_mutex_lock(&ix->mu);
	before = ix->indexed;
	pthread_mutex_unlock(&ix->mu);
	rc = cb_audit_index_catch_up(ix->conf.store, ix->conf.path, ix->conf.key, &ix->mark, max, ix->conf.fn,
				     ix->conf.ctx, &copied, err, sizeof(err));
	seq = indexed_now(ix);
	/* Rows another copier (cetbyodctl audit query) put there first make this pass's insert fail on
	 * their seq: progress all the same, not a failure to report. */
	if (rc == -1 && !copied && seq > before) rc = 1;
	if (copied || rc >= 0) {
		if (ix->last_err[0] && rc >= 0) {
			IX_LOG(ix, CB_LOG_INFO, "audit: the database %s takes the records of %s again", ix->conf.db_path,
			       ix->conf.path);
		}
		if (rc >= 0) ix->last_err[0] = '\0';
		ix->delay = 0;
	}
	if ((!copied && rc < 0) || rc == -2) failed(ix, rc, err);
	if (rc == -2 && ix->mark.resync) {
		ix->delay = 0;			/* The catch-up moved the mark past the broken line. */
	} else if (!copied && rc == -2) {
		/* Where the line cannot be passed (too long, a file unreadable): new records are copied
		 * again from the file's end on, leaving a hole that verify reports. */
		pthread_mutex_lock(&ix->mu);
		if (ix->file_end.set && ix->file_end.seq > seq + 1) {
			ix->mark = ix->file_end;
			ix->mark.resync = true;
			ix->delay = 0;
		}
		pthread_mutex_unlock(&ix->mu);
	}
	if (!copied && rc == 0) ix->delay = ix->conf.retry_ms ? ix->conf.retry_ms : 1000;	/* Not in the file yet. */
	seq = passed_over(ix, seq);
	pthread_mutex_lock(&ix->mu);
	if (seq > ix->indexed) ix->indexed = seq;
	ix->failing = !copied && rc < 0;
	pthread_cond_broadcast(&ix->moved);
	pthread_mutex_unlock(&ix->mu);
	return copied > 0 || seq > before;
}

/** behind - whether the index lacks records the file has. */
static bool behind(cb_audit_indexer_t *ix)
{
	bool b;

	pthread_mutex_lock(&ix->mu);
	b = ix->indexed < ix->written;
	pthread_mutex_unlock(&ix->mu);
	return b;
}

/**
 * deferred - whether the copy waits because the writer is busy (the top
 * comment): the cb_clock_ms() at which to look again, or 0 to copy now.
 */
static int64_t deferred(cb_audit_indexer_t *ix)
{
	int64_t now = cb_clock_ms(), until = 0;
	uint64_t rate = 0;

	pthread_mutex_lock(&ix->mu);
	if (!ix->conf.defer_ms || ix->hurry || now - ix->rate_at_ms >= RATE_STALE_MS || !ix->indexed) {
		/* Not deferring, or the writer is quiet; or the index is empty, which only this thread
		 * (it has the writer's mark) can start: cetbyodctl's copy needs a record to follow. */
		until = 0;
	} else if (!ix->rate_known) {
		until = ix->rate_at_ms + 2 * RATE_WINDOW_MS;	/* Writing again after a silence: how fast? */
		if (until <= now) until = 0;
	} else if (ix->rate >= ix->conf.busy_rate && ix->behind_ms + ix->conf.defer_ms > now) {
		until = ix->behind_ms + ix->conf.defer_ms;
		if (until > now + DEFER_RECHECK_MS) until = now + DEFER_RECHECK_MS;
		rate = ix->rate;
	}
	pthread_mutex_unlock(&ix->mu);
	if (rate && (!ix->defer_logged || now - ix->defer_logged >= DEFER_LOG_EVERY_MS)) {
		IX_LOG(ix, CB_LOG_INFO, "audit: the trail is written at %" PRIu64 " records/s; its index in %s waits "
		       "until the burst is over, %u s at most (audit { index_defer })", rate, ix->conf.db_path,
		       ix->conf.defer_ms / 1000);
		ix->defer_logged = now;
	}
	return until;
}

/** hurried - whether a caller waits for the index (cb_audit_indexer_wait). */
static bool hurried(cb_audit_indexer_t *ix)
{
	bool h;

	pthread_mutex_lock(&ix->mu);
	h = ix->hurry > 0;
	pthread_mutex_unlock(&ix->mu);
	return h;
}

/** yield_wait - while stepping back for the store's writers (the top comment), until that ends; false: stopping. */
static bool yield_wait(cb_audit_indexer_t *ix, cb_worker_t *w)
{
	int64_t left;

	while (ix->yield_until && (left = ix->yield_until - cb_clock_ms()) > 0 && !hurried(ix)) {
		if (!cb_worker_wait(w, left)) return false;	/* The writer's notes wake it: wait on. */
	}
	return true;
}

/** contended - whether a store writer waited for the lock within the step-back time, and nobody waits for the index. */
static bool contended(cb_audit_indexer_t *ix)
{
	return !hurried(ix) && cb_store_write_contended(ix->conf.store, ix->conf.yield_ms);
}

/**
 * copy - a pass (one transaction when the last pass made a writer wait,
 * or one waits now), then whether to step back after it.
 */
static void copy(cb_audit_indexer_t *ix)
{
	pass(ix, ix->yield_until || contended(ix) ? YIELD_PASS : AUDIT_INDEX_PASS);
	ix->yield_until = contended(ix) ? cb_clock_ms() + ix->conf.yield_ms : 0;
}

/**
 * idle_wait - until the next pass: first, while stepping back for the
 * store's writers, until that ends; then after a failed pass, its delay (the
 * writer's wakes do not hurry it: a busy server would hammer a failing
 * store); while deferred, until it looks at the rate again (a wake from
 * the writer or a waiter makes it look sooner); else at once while
 * behind, or until the writer's next batch.  false: stopping.
 */
static bool idle_wait(cb_audit_indexer_t *ix, cb_worker_t *w)
{
	int64_t until, left;

	if (!yield_wait(ix, w)) return false;
	until = ix->delay ? cb_clock_ms() + ix->delay : 0;
	if (!until && ix->defer_until) return cb_worker_wait(w, ix->defer_until - cb_clock_ms());
	if (!until) return cb_worker_wait(w, behind(ix) ? 0 : -1);
	while ((left = until - cb_clock_ms()) > 0) {
		if (!cb_worker_wait(w, left)) return false;
	}
	return true;
}

/** indexer_main - passes while behind and not deferred; a wake, the retry delay or the deferral between them. */
static void indexer_main(cb_worker_t *w, void *arg)
{
	cb_audit_indexer_t *ix = arg;
	int64_t deadline;

	if (!lower_priority()) IX_LOG(ix, CB_LOG_INFO, "audit: the index thread runs at normal priority (nice failed)");
	while (idle_wait(ix, w)) {
		ix->defer_until = 0;
		if (!behind(ix)) continue;
		ix->defer_until = ix->delay ? 0 : deferred(ix);
		if (!ix->defer_until) copy(ix);
	}
	/* Stopping: what it can by the deadline; a pass that copies nothing ends it (a restart catches up). */
	pthread_mutex_lock(&ix->mu);
	deadline = ix->deadline;
	pthread_mutex_unlock(&ix->mu);
	while (behind(ix) && cb_clock_ms() < deadline && pass(ix, AUDIT_INDEX_PASS)) continue;
}

cb_audit_indexer_t *cb_audit_indexer_start(cb_audit_indexer_conf_t const *conf, uint64_t written, char *err,
					   size_t errlen)
{
	cb_audit_indexer_t *ix = calloc(1, sizeof(*ix));
	pthread_condattr_t ca;

	if (!ix) {
		snprintf(err, errlen, "audit: out of memory");
		return NULL;
	}
	ix->conf = *conf;
	if (!ix->conf.yield_ms) ix->conf.yield_ms = YIELD_MS;
	ix->mark = conf->mark;
	ix->written = written;
	ix->indexed = indexed_now(ix);
	ix->behind_ms = cb_clock_ms();
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_mutex_init(&ix->mu, NULL) != 0 || pthread_cond_init(&ix->moved, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		snprintf(err, errlen, "audit: cannot make the index thread's lock");
		free(ix);
		return NULL;
	}
	pthread_condattr_destroy(&ca);
	ix->worker = cb_worker_start("audit-index", indexer_main, ix, err, errlen);
	if (!ix->worker) {
		pthread_cond_destroy(&ix->moved);
		pthread_mutex_destroy(&ix->mu);
		free(ix);
		return NULL;
	}
	return ix;
}

void cb_audit_indexer_note(cb_audit_indexer_t *ix, uint64_t written, cb_audit_mark_t const *end)
{
	if (!ix) return;
	int64_t now = cb_clock_ms();

	pthread_mutex_lock(&ix->mu);
	if (end && end->set) ix->file_end = *end;
	if (ix->indexed >= ix->written) ix->behind_ms = now;
	if (!ix->rate_at_ms || now - ix->rate_at_ms >= RATE_STALE_MS) {
		ix->rate_at_ms = now;		/* The first note, or after a silence: a new window. */
		ix->rate_seq = ix->written;
		ix->rate = 0;
		ix->rate_known = false;
	} else if (now - ix->rate_at_ms >= RATE_WINDOW_MS) {
		ix->rate_known = true;
		ix->rate = (written > ix->rate_seq ? written - ix->rate_seq : 0) * 1000 / (uint64_t) (now - ix->rate_at_ms);
		ix->rate_at_ms = now;
		ix->rate_seq = written;
	}
	if (written > ix->written) ix->written = written;
	pthread_mutex_unlock(&ix->mu);
	cb_worker_wake(ix->worker);
}

void cb_audit_indexer_lag(cb_audit_indexer_t *ix, uint64_t *records, uint64_t *ms)
{
	*records = *ms = 0;
	if (!ix) return;
	pthread_mutex_lock(&ix->mu);
	if (ix->indexed < ix->written) {
		int64_t d = cb_clock_ms() - ix->behind_ms;

		*records = ix->written - ix->indexed;
		*ms = d > 0 ? (uint64_t) d : 0;
	}
	pthread_mutex_unlock(&ix->mu);
}

int cb_audit_indexer_wait(cb_audit_indexer_t *ix, uint64_t seq, unsigned int timeout_ms)
{
	struct timespec ts;
	int64_t deadline = cb_clock_ms() + timeout_ms;
	int rc = 0;

	if (!ix) return 0;
	cb_clock_after_ms(&ts, timeout_ms);
	pthread_mutex_lock(&ix->mu);
	ix->hurry++;
	if (ix->indexed < seq) cb_worker_wake(ix->worker);	/* A deferred copy goes now. */
	while (ix->indexed < seq && !ix->failing) {
		if (pthread_cond_timedwait(&ix->moved, &ix->mu, &ts) != 0 && cb_clock_ms() >= deadline) {
			rc = -1;
			break;
		}
	}
	ix->hurry--;
	pthread_mutex_unlock(&ix->mu);
	return rc;
}

void cb_audit_indexer_stop(cb_audit_indexer_t *ix, unsigned int timeout_ms)
{
	if (!ix) return;
	pthread_mutex_lock(&ix->mu);
	ix->deadline = cb_clock_ms() + timeout_ms;
	pthread_mutex_unlock(&ix->mu);
	cb_worker_stop(ix->worker);
	pthread_cond_destroy(&ix->moved);
	pthread_mutex_destroy(&ix->mu);
	free(ix);
}
