/*
 * metrics.c - the module's health as Prometheus text (metrics.h): the
 * counters, the format, the atomic file write and the writer's thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/worker.h"
#include "core/metrics.h"

static char const *const disc_names[CB_METRICS_DISC_MAX] = { "acked", "nak", "timeout", "failed" };

char const *cb_metrics_disc_name(cb_metrics_disc_t outcome)
{
	return (unsigned int) outcome < CB_METRICS_DISC_MAX ? disc_names[outcome] : "unknown";
}

void cb_metrics_decision(cb_metrics_t *m, cb_status_t status, cb_reason_t reason)
{
	if (!m || (unsigned int) status >= CB_METRICS_STATUSES || (unsigned int) reason >= CB_REASON_MAX) return;
	atomic_fetch_add_explicit(&m->decisions[status][reason], 1, memory_order_relaxed);
}

void cb_metrics_disconnect(cb_metrics_t *m, cb_metrics_disc_t outcome)
{
	if (!m || (unsigned int) outcome >= CB_METRICS_DISC_MAX) return;
	atomic_fetch_add_explicit(&m->disconnects[outcome], 1, memory_order_relaxed);
}

void cb_metrics_store_error(cb_metrics_t *m)
{
	if (m) atomic_fetch_add_explicit(&m->store_errors, 1, memory_order_relaxed);
}

void cb_metrics_directory_error(cb_metrics_t *m)
{
	if (m) atomic_fetch_add_explicit(&m->directory_errors, 1, memory_order_relaxed);
}

void cb_metrics_snapshot(cb_metrics_t *m, cb_metrics_view_t *v)
{
	for (unsigned int s = 0; s < CB_METRICS_STATUSES; s++) {
		for (unsigned int r = 0; r < CB_REASON_MAX; r++) {
			v->decisions[s][r] = atomic_load_explicit(&m->decisions[s][r], memory_order_relaxed);
		}
	}
	for (unsigned int d = 0; d < CB_METRICS_DISC_MAX; d++) {
		v->disconnects[d] = atomic_load_explicit(&m->disconnects[d], memory_order_relaxed);
	}
	v->store_errors = atomic_load_explicit(&m->store_errors, memory_order_relaxed);
	v->directory_errors = atomic_load_explicit(&m->directory_errors, memory_order_relaxed);
	v->has_decisions = v->has_disconnects = v->has_errors = true;
}

bool cb_metrics_escape(char const *in, char *out, size_t len)
{
	size_t o = 0;

	if (len == 0) return false;
	for (; in && *in; in++) {
		char const *rep = *in == '\\' ? "\\\\" : *in == '"' ? "\\\"" : *in == '\n' ? "\\n" : NULL;
		size_t n = rep ? 2 : 1;

		if (o + n >= len) {
			out[o] = '\0';
			return false;
		}
		if (rep) {
			memcpy(out + o, rep, 2);
		} else {
			out[o] = *in;
		}
		o += n;
	}
	out[o] = '\0';
	return true;
}

/*
 *	The text
 */
typedef struct {
	char	*buf;
	size_t	len, used;
	bool	full;
} text_t;

static void put(text_t *t, char const *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text_t *t, char const *fmt, ...)
{
	va_list ap;
	int n;

	if (t->full) return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->used, t->len - t->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t) n >= t->len - t->used) {
		t->full = true;
		return;
	}
	t->used += (size_t) n;
}

static void family(text_t *t, char const *name, char const *type, char const *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/** sample1 - name{label="value"} n, the value escaped. */
static void sample1(text_t *t, char const *name, char const *label, char const *value, uint64_t n)
{
	char esc[256];

	cb_metrics_escape(value, esc, sizeof(esc));
	put(t, "%s{%s=\"%s\"} %llu\n", name, label, esc, (unsigned long long) n);
}

static void format_decisions(text_t *t, cb_metrics_view_t const *v)
{
	char st[64], re[64];

	family(t, "cetbyod_decisions_total", "counter", "Decisions made, by status and reason.");
	for (unsigned int s = 0; s < CB_METRICS_STATUSES; s++) {
		for (unsigned int r = 0; r < CB_REASON_MAX; r++) {
			if (!v->decisions[s][r]) continue;
			cb_metrics_escape(cb_status_name((cb_status_t) s), st, sizeof(st));
			cb_metrics_escape(cb_reason_name((cb_reason_t) r), re, sizeof(re));
			put(t, "cetbyod_decisions_total{status=\"%s\",reason=\"%s\"} %llu\n", st, re,
			    (unsigned long long) v->decisions[s][r]);
		}
	}
}

static void format_sync(text_t *t, cb_metrics_view_t const *v)
{
	if (v->sync_source && v->sync_source[0]) {
		family(t, "cetbyod_sync_info", "gauge", "The acknowledgement source the module reads.");
		sample1(t, "cetbyod_sync_info", "source", v->sync_source, 1);
	}
	if (v->sync_last_success > 0) {
		family(t, "cetbyod_sync_age_seconds", "gauge", "Seconds since the last successful read of the source.");
		put(t, "cetbyod_sync_age_seconds %lld\n",
		    (long long) (v->now > v->sync_last_success ? v->now - v->sync_last_success : 0));
		family(t, "cetbyod_sync_last_success_timestamp_seconds", "gauge",
		       "When the source was last read successfully (Unix time).");
		put(t, "cetbyod_sync_last_success_timestamp_seconds %lld\n", (long long) v->sync_last_success);
	}
	if (v->sync_last_attempt > 0) {
		family(t, "cetbyod_sync_last_ok", "gauge", "1 when the last read of the source succeeded, 0 when it failed.");
		put(t, "cetbyod_sync_last_ok %d\n", v->sync_ok ? 1 : 0);
	}
	family(t, "cetbyod_sync_held", "gauge", "1 while a sync result is held for `cetbyodctl confirm-sync`.");
	if (v->sync_held && v->sync_held_kind && v->sync_held_kind[0]) {
		sample1(t, "cetbyod_sync_held", "kind", v->sync_held_kind, 1);
	} else {
		put(t, "cetbyod_sync_held %d\n", v->sync_held ? 1 : 0);
	}
}

static void format_disconnects(text_t *t, cb_metrics_view_t const *v)
{
	if (v->has_disconnects) {
		family(t, "cetbyod_disconnects_total", "counter", "Disconnect and CoA attempts, by outcome.");
		for (unsigned int d = 0; d < CB_METRICS_DISC_MAX; d++) {
			sample1(t, "cetbyod_disconnects_total", "outcome", disc_names[d], v->disconnects[d]);
		}
	}
	if (v->has_disc_queue) {
		family(t, "cetbyod_disconnects_queued", "gauge", "Disconnect requests in the store, by state.");
		sample1(t, "cetbyod_disconnects_queued", "state", "pending", v->disc_pending);
		sample1(t, "cetbyod_disconnects_queued", "state", "held", v->disc_held);
		sample1(t, "cetbyod_disconnects_queued", "state", "failed", v->disc_failed);
	}
}

static void format_audit(text_t *t, cb_metrics_view_t const *v)
{
	family(t, "cetbyod_audit_queued", "gauge", "Audit records waiting in memory to be written.");
	put(t, "cetbyod_audit_queued %llu\n", (unsigned long long) v->audit_queued);
	family(t, "cetbyod_audit_dropped_total", "counter", "Audit records dropped (fail_open, queue full).");
	put(t, "cetbyod_audit_dropped_total %llu\n", (unsigned long long) v->audit_dropped);
	family(t, "cetbyod_audit_refused_total", "counter", "Admissions refused because the trail failed (fail_closed).");
	put(t, "cetbyod_audit_refused_total %llu\n", (unsigned long long) v->audit_refused);
	family(t, "cetbyod_audit_failing", "gauge", "1 while the audit trail cannot be written.");
	put(t, "cetbyod_audit_failing %d\n", v->audit_failing ? 1 : 0);
	family(t, "cetbyod_audit_index_lag_records", "gauge", "Audit records in the file not yet in the store's index.");
	put(t, "cetbyod_audit_index_lag_records %llu\n", (unsigned long long) v->audit_index_lag);
	family(t, "cetbyod_audit_index_lag_seconds", "gauge", "How long the store's index has lacked records of the file.");
	put(t, "cetbyod_audit_index_lag_seconds %llu.%03llu\n", (unsigned long long) (v->audit_index_lag_ms / 1000),
	    (unsigned long long) (v->audit_index_lag_ms % 1000));
}

int cb_metrics_format(cb_metrics_view_t const *v, char *buf, size_t len)
{
	text_t t = { .buf = buf, .len = len };

	if (!buf || len == 0 || len > INT32_MAX) return -1;
	buf[0] = '\0';
	if (v->has_decisions) format_decisions(&t, v);
	if (v->has_sync) format_sync(&t, v);
	format_disconnects(&t, v);
	if (v->has_audit) format_audit(&t, v);
	if (v->has_errors) {
		family(&t, "cetbyod_store_errors_total", "counter", "Errors the state store reported.");
		put(&t, "cetbyod_store_errors_total %llu\n", (unsigned long long) v->store_errors);
		family(&t, "cetbyod_directory_errors_total", "counter", "Directory (LDAP) lookups that found it unavailable.");
		put(&t, "cetbyod_directory_errors_total %llu\n", (unsigned long long) v->directory_errors);
	}
	if (t.full) {
		buf[0] = '\0';
		return -1;
	}
	return (int) t.used;
}

/*
 *	The file
 */

/** dir_of - path's directory into out ("." when it has none). */
static bool dir_of(char const *path, char *out, size_t len)
{
	char const *slash = strrchr(path, '/');
	size_t n;

	if (!slash) return snprintf(out, len, ".") < (int) len;
	n = slash == path ? 1 : (size_t) (slash - path);
	if (n >= len) return false;
	memcpy(out, path, n);
	out[n] = '\0';
	return true;
}

bool cb_metrics_check_dir(char const *path, char *err, size_t errlen)
{
	char dir[4096];
	struct stat sb;
	char const *base = path ? strrchr(path, '/') : NULL;

	if (!path || !path[0] || path[strlen(path) - 1] == '/' || (base && !base[1])) {
		snprintf(err, errlen, "\"%s\" is not a file name", path ? path : "");
		return false;
	}
	if (!dir_of(path, dir, sizeof(dir))) {
		snprintf(err, errlen, "\"%s\" is too long", path);
		return false;
	}
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "directory %s does not exist", dir);
		return false;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		snprintf(err, errlen, "directory %s is not writable: %s", dir, strerror(errno));
		return false;
	}
	return true;
}

int cb_metrics_write_file(char const *path, char const *text, size_t len, char *err, size_t errlen)
{
	char dir[4096], tmp[4096 + 64];
	char const *base = strrchr(path, '/');
	int fd;
	size_t off = 0;

	if (!dir_of(path, dir, sizeof(dir)) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, base ? base + 1 : path) >= (int) sizeof(tmp)) {
		snprintf(err, errlen, "%s: name too long", path);
		return -1;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a file in %s: %s", dir, strerror(errno));
		return -1;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		off += (size_t) n;
	}
	if (off < len || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno ? errno : EIO));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot put %s in place: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/*
 *	The writer's thread
 */
struct cb_metrics_writer {
	cb_worker_t		*worker;
	char			*path;
	unsigned int		interval;
	cb_metrics_collect_fn_t	collect;
	void			*ctx;
	cb_log_fn_t		log;
	void			*log_ctx;
	bool			failing;	/* The last write failed: the next failure is not logged again. */
	char			text[CB_METRICS_TEXT_MAX];
};

static void write_once(cb_metrics_writer_t *w)
{
	cb_metrics_view_t v = { 0 };
	char err[512];
	int n;

	v.now = time(NULL);
	w->collect(w->ctx, &v);
	n = cb_metrics_format(&v, w->text, sizeof(w->text));
	if (n < 0) {
		snprintf(err, sizeof(err), "the metrics text is over %d bytes", CB_METRICS_TEXT_MAX);
	} else if (cb_metrics_write_file(w->path, w->text, (size_t) n, err, sizeof(err)) == 0) {
		if (w->failing && w->log) w->log(w->log_ctx, CB_LOG_INFO, "metrics: %s written again", w->path);
		w->failing = false;
		return;
	}
	if (!w->failing && w->log) w->log(w->log_ctx, CB_LOG_ERROR, "metrics: %s", err);
	w->failing = true;
}

static void writer_main(cb_worker_t *worker, void *arg)
{
	cb_metrics_writer_t *w = arg;

	do {
		write_once(w);
	} while (cb_worker_wait(worker, (int64_t) w->interval * 1000));
	write_once(w);
}

cb_metrics_writer_t *cb_metrics_writer_start(char const *path, unsigned int interval, cb_metrics_collect_fn_t collect,
					     void *ctx, cb_log_fn_t log, void *log_ctx, char *err, size_t errlen)
{
	cb_metrics_writer_t *w = calloc(1, sizeof(*w));

	if (!w || !(w->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		free(w);
		return NULL;
	}
	w->interval = interval ? interval : 1;
	w->collect = collect;
	w->ctx = ctx;
	w->log = log;
	w->log_ctx = log_ctx;
	w->worker = cb_worker_start("metrics", writer_main, w, err, errlen);
	if (!w->worker) {
		free(w->path);
		free(w);
		return NULL;
	}
	return w;
}

void cb_metrics_writer_stop(cb_metrics_writer_t *w)
{
	if (!w) return;
	cb_worker_stop(w->worker);
	free(w->path);
	free(w);
}
