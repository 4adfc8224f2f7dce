/*
 * audit_int.h - what the files of the audit trail share, and nobody else
 * sees: building a record, chaining it into a line, checking a hash.
 *
 *	chain.c		records, the canonical form, the hash chain (design and worked example)
 *	writer.c	the writer thread, the file, the copy to the store's index
 *	verify.c	verification of the chain across rotated files
 *	index.c		the copy in the store's index, and its catch-up
 *	query.c		queries and the export (through the store), CSV
 */
#ifndef CETBYOD_AUDIT_INT_H
#define CETBYOD_AUDIT_INT_H

#include "audit/audit.h"

#define CB_AUDIT_ZERO_HASH	"0000000000000000000000000000000000000000000000000000000000000000"

/**
 * cb_audit_event_json - the record for ev, without seq, prev and hash; an
 * absent time is now.  NULL on allocation failure.
 */
json_object *cb_audit_event_json(cb_audit_event_t const *ev, time_t now);

/**
 * cb_audit_event_copy - ev and its strings in one malloc'd block (free()
 * frees it), time set to now when 0; what request threads queue, so that
 * the record is built by the writer.  NULL on allocation failure.
 */
cb_audit_event_t *cb_audit_event_copy(cb_audit_event_t const *ev, time_t now);

/**
 * cb_audit_jtext - s as a JSON string: invalid UTF-8 as U+FFFD, at most
 * CB_AUDIT_FIELD_MAX bytes (cut at a character; *cut set).  NULL on
 * allocation failure.
 */
json_object *cb_audit_jtext(char const *s, bool *cut);

/**
 * cb_audit_chain_line - the line (with its newline) for fields at seq
 * after prev, malloc'd into *line; its hash into hash (with key: keyed,
 * HMAC-SHA256, and "chain": "hmac-sha256" added); with recp (may be
 * NULL), the record as an object, "hash" included, into *recp, for the
 * index (the caller puts it).  fields is not changed.  Returns 0 or -1
 * (allocation failure, or a value the canonical form refuses).
 */
int cb_audit_chain_line(json_object *fields, uint64_t seq, char const *prev, cb_audit_key_t const *key, char **line,
			size_t *len, char hash[CB_AUDIT_HASH_HEX + 1], json_object **recp);

/**
 * cb_audit_scratch_t - what one thread keeps from one record to the next
 * for cb_audit_chain_event: the record's object, emptied after each line
 * (its hash table and its text buffer keep their size, so no record
 * regrows them), and the digest's and the MAC's contexts.  One thread's
 * own; cb_audit_scratch_new gives NULL on allocation failure (then each
 * record makes its own, as with s NULL).
 */
typedef struct cb_audit_scratch cb_audit_scratch_t;

cb_audit_scratch_t *cb_audit_scratch_new(void);
void cb_audit_scratch_free(cb_audit_scratch_t *s);

/**
 * cb_audit_chain_event - the line of ev's record (cb_audit_event_json's
 * members; time: ev->time) at seq after prev, as cb_audit_chain_line
 * makes it, built as one object in canonical order (s's object, when
 * given): appended, with its newline, to the growable *buf (*len bytes
 * used of *alloc, realloc'd as needed; the caller frees it); its hash
 * into hash.  Returns 0 or -1
 * (allocation failure; *len as it was).
 */
int cb_audit_chain_event(cb_audit_event_t const *ev, uint64_t seq, char const *prev, cb_audit_key_t const *key,
			 cb_audit_scratch_t *s, char **buf, size_t *len, size_t *alloc, char hash[CB_AUDIT_HASH_HEX + 1]);

/**
 * cb_audit_line_parse_obj - cb_audit_line_parse_key; on CB_AUDIT_OK, with
 * objp, the parsed record into *objp (the caller puts it), so that the
 * index takes its fields without parsing the line again.
 */
cb_audit_bad_t cb_audit_line_parse_obj(char const *text, size_t len, cb_audit_key_t const *key, cb_audit_line_t *out,
				       json_object **objp);

/** cb_audit_line_parse_tok - cb_audit_line_parse_obj with the caller's tokener (reset here), reused line after line. */
cb_audit_bad_t cb_audit_line_parse_tok(json_tokener *tok, char const *text, size_t len, cb_audit_key_t const *key,
				       cb_audit_line_t *out, json_object **objp);

/*
 *	runs.c: refusal coalescing (its top comment has the rules)
 */
typedef struct cb_audit_runs cb_audit_runs_t;

#define CB_AUDIT_RUNS_KEY_MAX	2048	/* A longer key (identity, MAC, NAS, status, reason) is not coalesced. */

/** Takes a summary (an event copy; NULL: it could not be made) standing for count repeats. */
typedef void (*cb_audit_emit_fn)(void *ctx, cb_audit_event_t *rec, uint64_t count);

/** cb_audit_runs_new - window 0: NULL (coalescing off); every, max 0: the defaults. */
cb_audit_runs_t *cb_audit_runs_new(unsigned int window, unsigned int every, size_t max);
void cb_audit_runs_free(cb_audit_runs_t *runs);
size_t cb_audit_runs_count(cb_audit_runs_t const *runs);

/** cb_audit_runs_key - the run key of ev into buf; false: ev is not coalesced (not a refusal, or too long). */
bool cb_audit_runs_key(cb_audit_event_t const *ev, char *buf, size_t len);

/**
 * cb_audit_runs_repeat - a refusal at t with key: 1 a repeat of an open
 * run (counted; a summary emitted when one is due); 0 not (the caller
 * writes it and opens a run; a run that had ended was summarised and
 * closed).
 */
int cb_audit_runs_repeat(cb_audit_runs_t *runs, char const *key, time_t t, cb_audit_emit_fn emit, void *ctx);

/** cb_audit_runs_start - open a run at t whose first record was queued; takes tmpl (an event copy, free()).  0, 1 (open already), 2 (at the cap), -1. */
int cb_audit_runs_start(cb_audit_runs_t *runs, char const *key, time_t t, cb_audit_event_t *tmpl);

/** cb_audit_runs_sweep - summaries due at now; runs quiet for longer than the window (all: every run) ended. */
void cb_audit_runs_sweep(cb_audit_runs_t *runs, time_t now, bool all, cb_audit_emit_fn emit, void *ctx);

/**
 * cb_audit_runs_describe - a summary (ev->count > 0) as the one line an
 * admin reads in radius.log: who was refused, why, how many more times,
 * the device, the NAS and the span, the packet's text escaped.  Returns buf.
 */
char const *cb_audit_runs_describe(cb_audit_event_t const *ev, char *buf, size_t len);

/*
 *	index.c: the copy in the store's index
 */

/** Where the index fell behind: the line holding seq starts at off in the file (dev, ino). */
typedef struct {
	bool		set;		/* false: not known (start-up); the files are searched by seq. */
	dev_t		dev;
	ino_t		ino;
	off_t		off;
	uint64_t	seq;
	bool		resync;		/* Start at seq whatever the index's last (past a broken line: a hole verify reports). */
} cb_audit_mark_t;

/** Told of the entries the index took, in the transaction's order (the writer forgets their references). */
typedef void (*cb_audit_indexed_fn)(void *ctx, cb_store_audit_entry_t const *e, size_t n);

/**
 * cb_audit_index_lines - lines buf[0..ends[n-1]) (line i ends, newline
 * included, at ends[i]) into the store's index in one transaction, all or
 * none; then fn (may be NULL).  0, or -1: the store failed (its log says
 * why; *why NULL) or *why says what else did.
 */
int cb_audit_index_lines(cb_store_t *store, char const *buf, size_t const *ends, size_t n, cb_audit_indexed_fn fn,
			 void *ctx, char const **why);

/**
 * cb_audit_index_recs - cb_audit_index_lines for lines the writer has just
 * made, with recs[i] the object line i was written from (cb_audit_chain_line's
 * *recp): the fields are read from it, the line is not parsed again.
 */
int cb_audit_index_recs(cb_store_t *store, char const *buf, size_t const *ends, json_object *const *recs, size_t n,
			cb_audit_indexed_fn fn, void *ctx, char const **why);

/**
 * cb_audit_index_catch_up - copy to the index the records of the trail at
 * path (its rotated files, oldest first, then path) after the index's last
 * one, in order, at most max in this pass: each line checked with
 * cb_audit_line_parse_key (under key), numbered one more than the one
 * before and linked to it, the first to the index's last.  Starts at mark
 * when set (it names the file by dev and inode), else at the newest file
 * whose first record is not after the one wanted; with an empty index,
 * only from a set mark (else there is nothing to follow, 0).  mark is moved
 * past what was copied; *copied: how many.  Returns 0 (the index holds
 * every complete line of the files), 1 (max copied, more may follow), -1
 * (the store failed: try again later; err says what), -2 (the files cannot
 * be read or their chain does not follow the index's: err names the file
 * and byte; what came before was copied; trying again will not help).
 */
int cb_audit_index_catch_up(cb_store_t *store, char const *path, cb_audit_key_t const *key, cb_audit_mark_t *mark,
			    size_t max, cb_audit_indexed_fn fn, void *ctx, uint64_t *copied, char *err, size_t errlen);

/*
 *	refscan.c: the references of records not yet in the index
 */
typedef void (*cb_audit_ref_fn)(void *ctx, char const *ref);

/**
 * cb_audit_refs_unindexed - each "ref" of the trail's records from mark on
 * (path's rotated files, oldest first, then path; every file when mark is
 * unset or names none of them) to fn; *found: how many.  0, or -1 with
 * err set (a file that cannot be read; what came before was passed on).
 */
int cb_audit_refs_unindexed(char const *path, cb_audit_mark_t const *mark, cb_audit_ref_fn fn, void *ctx,
			    size_t *found, char *err, size_t errlen);

/*
 *	indexer.c: the thread that copies the file into the index
 */
typedef struct cb_audit_indexer cb_audit_indexer_t;

typedef struct {
	cb_store_t		*store;		/* The writer's handle, for the index; used by the thread only. */
	char const		*path;		/* The trail's file (its rotated copies are read too). */
	char const		*db_path;	/* For messages. */
	cb_audit_key_t const	*key;		/* NULL: unkeyed.  Outlives the indexer, as the strings do. */
	cb_audit_indexed_fn	fn;		/* Told of what the index took (may be NULL). */
	void			*ctx;
	unsigned int		retry_ms, retry_max_ms;
	unsigned int		defer_ms;	/* While busy, how long the index may lag (0: never defers). */
	unsigned int		busy_rate;	/* Records a second from which the writer counts as busy. */
	unsigned int		yield_ms;	/* Stepping back for the store's writers (indexer.c); 0: YIELD_MS. */
	cb_log_fn_t		log;
	void			*log_ctx;
	cb_audit_mark_t		mark;		/* Where to start reading (unset: the files are searched by seq). */
} cb_audit_indexer_conf_t;

/**
 * cb_audit_indexer_start - the index thread (its design: indexer.c's top
 * comment), the file holding records up to seq written.  NULL with err set
 * when the thread cannot start.
 */
cb_audit_indexer_t *cb_audit_indexer_start(cb_audit_indexer_conf_t const *conf, uint64_t written, char *err,
					   size_t errlen);

/**
 * cb_audit_indexer_note - the file holds records up to seq written now and
 * ends at end (the writer, after a batch: where a resync past a broken
 * line starts).  NULL-safe.
 */
void cb_audit_indexer_note(cb_audit_indexer_t *ix, uint64_t written, cb_audit_mark_t const *end);

/** cb_audit_indexer_lag - records the index lacks, and for how long (ms) it has lacked some.  NULL: 0, 0. */
void cb_audit_indexer_lag(cb_audit_indexer_t *ix, uint64_t *records, uint64_t *ms);

/**
 * cb_audit_indexer_wait - until the index holds seq (or went past it, a
 * broken line), or its last pass failed (0), or timeout_ms passed (-1).
 * NULL-safe (0).
 */
int cb_audit_indexer_wait(cb_audit_indexer_t *ix, uint64_t seq, unsigned int timeout_ms);

/** cb_audit_indexer_stop - copy what it can within timeout_ms, stop the thread, free.  NULL-safe. */
void cb_audit_indexer_stop(cb_audit_indexer_t *ix, unsigned int timeout_ms);

/** cb_audit_strerror - strerror(e), reentrant, into buf. */
char const *cb_audit_strerror(int e, char *buf, size_t len);

#endif
