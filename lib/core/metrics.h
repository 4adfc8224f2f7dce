/*
 * metrics.h - the module's health in Prometheus's text format (exposition
 * format 0.0.4), for node_exporter's textfile collector and
 * `cetbyodctl metrics`.
 *
 * Three parts:
 *   - cb_metrics_t: counters the request path, the enforcer and the store's
 *     log only increment (atomics, no lock);
 *   - cb_metrics_view_t and cb_metrics_format: one picture of the figures,
 *     filled by the module (from its counters, the sync's and the audit
 *     trail's own status) or by cetbyodctl (from the store), written as
 *     text.  A family the view does not have is left out, not written as 0;
 *   - cb_metrics_writer_*: a background thread (base/worker.h) that writes
 *     the file atomically (a temporary file in the same directory, fsync,
 *     rename) every interval seconds and once more when stopped.
 */
#ifndef CETBYOD_CORE_METRICS_H
#define CETBYOD_CORE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/log.h"
#include "core/policy.h"

#define CB_METRICS_STATUSES	4	/* cb_status_t: reject, admit, onboard, restricted. */
#define CB_METRICS_TEXT_MAX	65536	/* The text is at most this long. */
#define CB_METRICS_INTERVAL_MIN	1
#define CB_METRICS_INTERVAL_MAX	3600

/** A disconnect attempt's outcome, as the enforcer records it in the trail. */
typedef enum {
	CB_METRICS_DISC_ACKED = 0,	/* Disconnect-/CoA-ACK. */
	CB_METRICS_DISC_NAK,		/* A NAK (with an Error-Cause). */
	CB_METRICS_DISC_TIMEOUT,	/* No answer; tried again later. */
	CB_METRICS_DISC_FAILED,		/* No answer at the last attempt: given up, not enforced. */
	CB_METRICS_DISC_MAX
} cb_metrics_disc_t;

/** cb_metrics_disc_name - "acked", "nak", "timeout", "failed" (the trail's result names). */
char const *cb_metrics_disc_name(cb_metrics_disc_t outcome);

/** The module's counters, since radiusd started it.  Zeroed by calloc or = { 0 }. */
typedef struct {
	atomic_uint_fast64_t	decisions[CB_METRICS_STATUSES][CB_REASON_MAX];
	atomic_uint_fast64_t	disconnects[CB_METRICS_DISC_MAX];
	atomic_uint_fast64_t	store_errors;
	atomic_uint_fast64_t	directory_errors;
} cb_metrics_t;

/* Each is NULL-safe (no metrics configured) and ignores values out of range. */
void cb_metrics_decision(cb_metrics_t *m, cb_status_t status, cb_reason_t reason);
void cb_metrics_disconnect(cb_metrics_t *m, cb_metrics_disc_t outcome);
void cb_metrics_store_error(cb_metrics_t *m);
void cb_metrics_directory_error(cb_metrics_t *m);

/** The figures one text shows.  The has_* flags say which families are there. */
typedef struct {
	bool		has_decisions;
	uint64_t	decisions[CB_METRICS_STATUSES][CB_REASON_MAX];
	bool		has_sync;
	time_t		now;			/* For the sync's age. */
	time_t		sync_last_success;	/* 0: never (no age is written). */
	time_t		sync_last_attempt;	/* 0: never. */
	bool		sync_ok;		/* The last attempt succeeded. */
	bool		sync_held;
	char const	*sync_held_kind;	/* "mass-removal", "rebind"; NULL/"" when not held. */
	char const	*sync_source;		/* "file", "forms", "sheets"; NULL: unknown. */
	bool		has_disconnects;	/* Attempts by outcome (the module's counters). */
	uint64_t	disconnects[CB_METRICS_DISC_MAX];
	bool		has_disc_queue;		/* Requests by state now (the store). */
	uint64_t	disc_pending, disc_held, disc_failed;
	bool		has_audit;
	uint64_t	audit_queued, audit_dropped, audit_refused;
	uint64_t	audit_index_lag, audit_index_lag_ms;	/* The index behind the file: records, ms. */
	bool		audit_failing;
	bool		has_errors;		/* store_errors and directory_errors (the module's counters). */
	uint64_t	store_errors, directory_errors;
} cb_metrics_view_t;

/** cb_metrics_snapshot - the counters into v (has_decisions, has_disconnects, has_errors set). */
void cb_metrics_snapshot(cb_metrics_t *m, cb_metrics_view_t *v);

/**
 * cb_metrics_escape - a label value as the text format writes it between
 * double quotes: \ as \\, " as \", newline as \n.  Returns false (out
 * holds a truncated, still well-formed value) when out is too small.
 */
bool cb_metrics_escape(char const *in, char *out, size_t len);

/**
 * cb_metrics_format - v as Prometheus text (# HELP, # TYPE, samples; one
 * newline after each line).  Returns the length written (NUL-terminated),
 * or -1 when buf is too small.
 */
int cb_metrics_format(cb_metrics_view_t const *v, char *buf, size_t len);

/**
 * cb_metrics_check_dir - whether the file's directory exists and this
 * process can create files in it.  false with err set otherwise.
 */
bool cb_metrics_check_dir(char const *path, char *err, size_t errlen);

/**
 * cb_metrics_write_file - text into path atomically: path's directory gets
 * a temporary file (.NAME.XXXXXX), mode 0644, written, fsync'd and renamed
 * over path.  0, or -1 with err set (nothing left behind).
 */
int cb_metrics_write_file(char const *path, char const *text, size_t len, char *err, size_t errlen);

/** What the writer calls to fill the view before each write (from its thread). */
typedef void (*cb_metrics_collect_fn_t)(void *ctx, cb_metrics_view_t *v);

typedef struct cb_metrics_writer cb_metrics_writer_t;

/**
 * cb_metrics_writer_start - a thread that writes path every interval
 * seconds (at once, then on the interval), the view filled by collect.
 * path is copied.  NULL with err set when the thread could not start.
 */
cb_metrics_writer_t *cb_metrics_writer_start(char const *path, unsigned int interval, cb_metrics_collect_fn_t collect,
					     void *ctx, cb_log_fn_t log, void *log_ctx, char *err, size_t errlen);

/** cb_metrics_writer_stop - one last write, then stop the thread and free it.  NULL-safe. */
void cb_metrics_writer_stop(cb_metrics_writer_t *w);

#endif
