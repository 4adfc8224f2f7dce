/*
 * audit.h - the audit trail: one hash-chained JSON line per event, written
 * by a background thread to a file logrotate can rotate, optionally copied
 * to syslog, and indexed in the store's database for cetbyodctl's queries.
 *
 * Two halves.
 *
 * The writer (cb_audit_t) belongs to the module.  Request threads call
 * cb_audit_record(), which builds the record and puts it on a bounded
 * in-memory queue in a few microseconds; it never waits for the disk.  A
 * writer thread takes records off the queue, numbers and chains them,
 * appends them to the file (O_APPEND), fsyncs them (per policy), and only
 * then "acknowledges" them: takes them off the queue and copies them to
 * the database and syslog.  A record is never acknowledged before the
 * file holds it, and an acknowledged record is never lost.  When the file
 * cannot be written (disk full), records stay queued and are retried; the
 * module is told loudly, and cb_audit_admit_ok() says whether it may go on
 * admitting people (fail_open) or must refuse (fail_closed).
 *
 * The reader (cb_audit_verify_*, cb_audit_query, ...) belongs to cetbyodctl
 * and the tests: verification of the chain across rotated files, queries
 * by person, device, address at a moment, NAS, SSID and time, and a
 * subject access export.  Everything in the database (the index, the
 * export, the retention purge) is reached through the store
 * (store/store.h: cb_store_audit_*): this unit never opens the database.
 *
 * Files: chain.c (records, canonical form, hash chain; its top comment
 * has the design, the record format and a worked example), writer.c (the
 * writer thread), verify.c, query.c (queries, export, CSV); the index's
 * table is schema/sql/audit.sql, run by the store.
 *
 * Failure contract, unless a function says otherwise: 0 on success, -1 on
 * error with the reason in err (or the log callback), and nothing changed.
 * Returned lists are owned by the caller and freed with their *_free
 * function (NULL-safe).
 */
#ifndef CETBYOD_AUDIT_H
#define CETBYOD_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include <json-c/json.h>

#include "base/log.h"
#include "store/store.h"

#define CB_AUDIT_HASH_HEX	CB_STORE_HASH_HEX /* SHA-256 as lower-case hex (64). */
#define CB_AUDIT_FIELD_MAX	1024		/* Longest text field; longer values are cut and marked. */
#define CB_AUDIT_LINE_MAX	65536		/* Longest line verify accepts. */
#define CB_AUDIT_QUEUE_DEFAULT	10000		/* Records held in memory while the file cannot be written. */
#define CB_AUDIT_COALESCE_EVERY_DEFAULT	3600	/* Seconds between a run's summaries (runs.c). */
#define CB_AUDIT_COALESCE_MAX_DEFAULT	10000	/* Runs followed at once. */
#define CB_AUDIT_INDEX_BUSY_RATE_DEFAULT	500	/* Records a second: a trail written this fast defers its index. */
#define CB_AUDIT_RETRY_MAX_MS	5000		/* Longest wait between retries of a failing file. */
#define CB_AUDIT_STATUS_FILE	"audit.file"	 /* Status key: the trail's path, for cetbyodctl. */
#define CB_AUDIT_STATUS_TZ	"module.timezone" /* Status key: the module's timezone, for cetbyodctl. */
#define CB_AUDIT_STATUS_KEY	"audit.hmac_key_file" /* Status key: the keyed chain's key file ("": unkeyed). */
#define CB_AUDIT_DEFAULT_FILE	"/var/log/freeradius/cetbyod-audit.jsonl"

/*
 *	Events
 */
typedef enum {
	CB_AUDIT_DECISION = 0,		/* post-auth decided (admit, onboard, restricted, reject). */
	CB_AUDIT_SESSION_START,		/* Accounting Start. */
	CB_AUDIT_SESSION_STOP,		/* Accounting Stop, NAS reboot, stale close. */
	CB_AUDIT_REVOKE,		/* IT revoked a person's access. */
	CB_AUDIT_REINSTATE,		/* IT ended a revocation. */
	CB_AUDIT_EXCEPTION_GRANT,	/* An exception was granted (or changed). */
	CB_AUDIT_EXCEPTION_END,		/* An exception ended (expired or ended by IT). */
	CB_AUDIT_SYNC,			/* A sync of the acknowledgement source finished. */
	CB_AUDIT_DISCONNECT,		/* One RFC 5176 attempt and its outcome. */
	CB_AUDIT_AUDIT_START,		/* Written by the writer itself when it starts. */
	CB_AUDIT_AUDIT_GAP,		/* Written by the writer: records refused while the file failed. */
	CB_AUDIT_REMINDER,		/* A reminder email sent (or refused for good). */
	CB_AUDIT_SHARING,		/* A person beyond a device limit, or at two NASes at once. */
	CB_AUDIT_DEVICES_FORGET,	/* IT forgot a person's devices (cetbyodctl devices forget). */
	CB_AUDIT_TYPE_MAX
} cb_audit_type_t;

/** cb_audit_type_name - "decision", "session_start", ...; "?" when out of range. */
char const *cb_audit_type_name(cb_audit_type_t type);

/** cb_audit_type_from_name - the type of a name, or -1. */
int cb_audit_type_from_name(char const *name);

/*
 * One event.  A field left NULL (text), 0 (time) or false (flags) is
 * absent and not written.  Which fields each type uses:
 *
 *   decision        identity, outer_identity, calling_station, called_station,
 *                   nas, class_id, status, reason, ack_time, policy_version,
 *                   (a summary of coalesced refusals: count, first, last),
 *                   expiry (the decision's valid_until), role (the person's:
 *                   "staff", "governors", "pupil"), vlan and vlan_why (the
 *                   setting that chose it)
 *   session_start   identity, outer_identity, calling_station, called_station,
 *                   nas, acct_session_id, class_id, framed_ip, session_started
 *   session_stop    as session_start, plus session_stopped (0: time), stop_cause,
 *                   has_octets, in_octets, out_octets
 *   revoke          identity, by, why
 *   reinstate       identity, by
 *   exception_*     identity, by, why, approved_by, until, calling_station
 *   sync            result ("ok", "unchanged", "retry", "error", "held"),
 *                   has_counts, people, agreed, added, removed, errors, detail
 *   reminder        identity, why (the address), until (when the acknowledgement
 *                   lapses), attempt (the window, in days), result ("sent",
 *                   "refused"), detail (the relay's answer)
 *   sharing         identity, calling_station, called_station, nas, reason
 *                   ("device_limit", "concurrent_limit", "two_nases"), result
 *                   (the action: "report", "onboard", "reject"; two_nases:
 *                   "report"), status (the decision the person got), detail
 *                   (what was counted, in words); the daily summary to IT:
 *                   reason "summary", result "sent", why (the address),
 *                   detail ("2 people: bob, carol")
 *   devices_forget  identity, by, why, calling_station (the one device, or
 *                   absent for all), detail (how many were removed)
 *   disconnect      identity, nas, acct_session_id, kind (the request sent:
 *                   "Disconnect-Request", "CoA-Request"),
 *                   result ("acked", "nak", "timeout", "failed"), attempt,
 *                   error_cause, detail, why (why it was sent)
 *
 * called_station is written as given and, when it is "AP-MAC:SSID", also
 * split into ap and ssid.  Strings may hold anything RADIUS carried:
 * invalid UTF-8 becomes U+FFFD, values longer than CB_AUDIT_FIELD_MAX are
 * cut and the record gets "truncated": true.
 */
typedef struct {
	cb_audit_type_t	type;
	time_t		time;			/* When it happened; 0: now. */

	char const	*identity;		/* Inner identity, normalised. */
	char const	*outer_identity;
	char const	*calling_station;	/* The device's MAC as the NAS sent it. */
	char const	*called_station;
	char const	*nas;			/* NAS-IP-Address, else NAS-Identifier. */
	char const	*class_id;
	char const	*acct_session_id;
	char const	*framed_ip;

	char const	*status;		/* decision: cb_status_name(). */
	char const	*reason;		/* decision: cb_reason_name(). */
	time_t		ack_time;
	char const	*policy_version;
	time_t		expiry;
	char const	*role;			/* decision: cb_roles_name(). */
	char const	*vlan;			/* decision: the VLAN it puts the device on. */
	char const	*vlan_why;		/* decision: which setting chose it ("roles { governors { vlan } }"). */

	time_t		session_started;
	time_t		session_stopped;
	char const	*stop_cause;
	bool		has_octets;
	uint64_t	in_octets;
	uint64_t	out_octets;

	char const	*by;			/* Who did it (an admin's login name). */
	char const	*why;			/* Why (free text). */
	char const	*approved_by;
	time_t		until;

	char const	*result;
	bool		has_counts;
	int64_t		people, agreed, added, removed, errors;

	char const	*kind;
	unsigned int	attempt;
	unsigned int	error_cause;
	char const	*detail;

	char const	*ref;			/* revoke, reinstate, exception_*: the action's reference
						 * (cb_audit_record_once); written as "ref". */

	uint64_t	count;			/* decision: a summary of coalesced refusals (runs.c): how many,
						 * the first and last of them; 0: not a summary. */
	time_t		first, last;

	bool		admission;		/* decision: it lets someone on.  Under fail_closed while the
						 * trail fails it is refused and not queued (cb_audit_record). */
} cb_audit_event_t;

/*
 *	The key of a keyed chain (audit { hmac_key_file })
 */
#define CB_AUDIT_KEY_MIN	16		/* Bytes; 32 random bytes are the norm. */
#define CB_AUDIT_KEY_MAX	1024
#define CB_AUDIT_CHAIN_HMAC	"hmac-sha256"	/* A keyed record's "chain" member. */

typedef struct {
	unsigned char	bytes[CB_AUDIT_KEY_MAX];
	size_t		len;
} cb_audit_key_t;

/**
 * cb_audit_key_load - the key in the file at path: its bytes as they are
 * (a trailing newline included), CB_AUDIT_KEY_MIN to CB_AUDIT_KEY_MAX.
 * With service (the module at start-up) the file must also be out of the
 * running user's reach: not owned by it, not writable by its groups or by
 * others, not readable by others, in a directory it cannot write (else it
 * could replace the key and rewrite history with it).  Running as root,
 * which can write anything, is allowed with a warning in err.  Returns 0,
 * 1 (loaded, a warning in err), or -1 with err set (nothing loaded).
 */
int cb_audit_key_load(char const *path, bool service, cb_audit_key_t *key, char *err, size_t errlen);

/** cb_audit_key_wipe - forget the key's bytes. */
void cb_audit_key_wipe(cb_audit_key_t *key);

/*
 *	The writer
 */
typedef enum {
	CB_AUDIT_FSYNC_BATCH = 0,	/* fsync after every batch, before acknowledging it (default). */
	CB_AUDIT_FSYNC_NONE		/* Acknowledge after write(); the kernel flushes when it likes. */
} cb_audit_fsync_t;

typedef enum {
	CB_AUDIT_FAIL_OPEN = 0,		/* Keep admitting while the trail fails; queue up to queue_max. */
	CB_AUDIT_FAIL_CLOSED		/* Refuse admissions while the trail fails or the queue is full. */
} cb_audit_failure_t;

/*
 * The file operations, pluggable so that tests can inject failures.  Each
 * has the contract of the system call of the same name (write may write
 * less than asked; -1 with errno set on error).  NULL members: the system
 * call.
 */
typedef struct {
	ssize_t	(*write)(void *ctx, int fd, void const *buf, size_t len);
	int	(*fsync)(void *ctx, int fd);
	void	*ctx;
} cb_audit_io_t;

typedef struct {
	char const		*path;		/* The JSON lines file.  Required. */
	unsigned int		mode;		/* Of a new file; 0: 0600. */
	char const		*db_path;	/* The store's database (must exist): the writer opens it with
						 * cb_store_open for the index; NULL: no index. */
	cb_store_conf_t const	*db_conf;	/* Set: the store to open for the index instead (the PostgreSQL
						 * store; its strings must outlive the writer); db_path then only
						 * names it in messages. */
	cb_audit_fsync_t	fsync;
	unsigned int		batch_wait_ms;	/* fsync batch: while records keep coming, the writer waits this long
						 * after its last write to take more in one write and fsync; 0: it
						 * writes whatever is queued at once. */
	cb_audit_failure_t	on_failure;
	size_t			queue_max;	/* 0: CB_AUDIT_QUEUE_DEFAULT. */
	bool			syslog;		/* Copy each acknowledged line to syslog. */
	int			syslog_facility; /* LOG_AUTHPRIV, ...; 0: LOG_AUTHPRIV. */
	unsigned int		retry_ms;	/* First retry delay after a failed write; 0: 1000. */
	unsigned int		retry_max_ms;	/* Longest delay between retries; 0: CB_AUDIT_RETRY_MAX_MS. */
	cb_audit_io_t		io;
	cb_audit_key_t const	*key;		/* Keyed chain: each record's hash is HMAC-SHA256 under it and the
						 * record says "chain": "hmac-sha256" (copied); NULL: SHA-256. */
	unsigned int		coalesce_window; /* Seconds: identical refusals at most this far apart are one run,
						 * summarised (runs.c); 0: off, every refusal its own record. */
	unsigned int		coalesce_every;	/* Seconds: a run's repeats are summarised at least this often;
						 * 0: CB_AUDIT_COALESCE_EVERY_DEFAULT. */
	size_t			coalesce_max;	/* Runs followed at once; 0: CB_AUDIT_COALESCE_MAX_DEFAULT. */
	bool			log_summaries;	/* Each run's summary, once written, also as one INFO line
						 * through log (cb_audit_runs_describe): the module's
						 * radius.log shows a run's first refusal and its summaries. */
	unsigned int		index_defer;	/* Seconds the index may lag while the trail is written at
						 * index_busy_rate or more (indexer.c); 0: it never waits. */
	unsigned int		index_busy_rate; /* Records a second; 0: CB_AUDIT_INDEX_BUSY_RATE_DEFAULT. */
	unsigned int		index_yield_ms;	/* After a store writer waited for the index's lock: how long the
						 * copy steps back (indexer.c); 0: 50. */
	time_t			(*now)(void *ctx); /* The clock (tests); NULL: time(). */
	void			*now_ctx;
	cb_log_fn_t		log;		/* Errors go here (loudly); NULL: nowhere. */
	void			*log_ctx;
} cb_audit_conf_t;

typedef struct cb_audit cb_audit_t;

typedef enum {
	CB_AUDIT_QUEUED = 0,		/* On the queue; the writer acknowledges it when written. */
	CB_AUDIT_REFUSE,		/* fail_closed and the trail is failing: the caller must refuse.
					 * (*see* cb_audit_record for what was queued). */
	CB_AUDIT_DROPPED,		/* fail_open and the queue is full: not recorded (counted; an
					 * audit_gap record says how many once writing resumes). */
	CB_AUDIT_COUNTED		/* A repeat of an open run of identical refusals (runs.c): counted,
					 * written in the run's summary. */
} cb_audit_rc_t;

/**
 * cb_audit_open - open (create, mode conf->mode) the trail and start the
 * writer thread.  When the store's index holds fewer records than the file
 * (the store failed, or a crash came between the two), the missing ones
 * are copied from the file first (index.c; at most 4096, the writer copies
 * the rest).  The chain continues from the file's last record; from
 * the database's last record when the file is empty (just rotated); from
 * "<path>.1" when both are; else it starts at seq 1.  A last line without
 * its newline (a crash in the middle of a write, never acknowledged) is
 * cut off, and that is logged.  An audit_start record is queued.  Returns
 * NULL with err set when the file cannot be opened or its last record
 * cannot be read; nothing is started then.
 */
cb_audit_t *cb_audit_open(cb_audit_conf_t const *conf, char *err, size_t errlen);

/**
 * cb_audit_close - write what is queued (waiting at most timeout_ms for a
 * failing file; what is still queued then is reported as lost), stop the
 * thread, close and free.  NULL is fine.
 */
void cb_audit_close(cb_audit_t *audit, unsigned int timeout_ms);

/**
 * cb_audit_record - queue one event.  Never blocks on I/O: it copies the
 * event into one allocation, takes a mutex for a moment, and returns (the
 * writer thread builds the record).
 *   CB_AUDIT_QUEUED   queued (fail_open, or fail_closed with a healthy trail).
 *   CB_AUDIT_REFUSE   fail_closed and the trail is failing or full: the caller
 *                     must not admit.  An event marked admission is then
 *                     not queued (the caller records the reject it makes
 *                     instead); any other record is queued when there is room.
 *   CB_AUDIT_DROPPED  fail_open and the queue is full: not recorded.
 *   CB_AUDIT_COUNTED  a refusal repeating an open run (audit { coalesce_window }):
 *                     counted, written in the run's summary.
 * An event of an unknown type, or that cannot be built (out of memory),
 * is logged and counts as dropped (fail_open) or refused (fail_closed).
 */
cb_audit_rc_t cb_audit_record(cb_audit_t *audit, cb_audit_event_t const *ev);

/**
 * cb_audit_record_once - queue ev unless the trail already holds (or has
 * queued) a record of the action ev->ref names: for the actions cetbyodctl
 * makes in the store (revocations, reinstatements, exceptions), which the
 * module finds there and records.  "Holds" is the store's index
 * (cb_store_audit_has_ref on store, the caller's handle) or this writer's
 * memory of what it queued and has not yet copied there; the writer copies
 * the reference to the index in the same transaction as the record, after
 * the file holds it (and, when the store failed, the writer's memory
 * keeps it until the catch-up has copied it from the file).  So an action
 * is recorded once, whatever the clock says and across restarts: after a
 * crash between the file's write and the index's commit, cb_audit_open
 * copies the record to the index before anything is queued.  Returns 1
 * queued now, 0 already held, -1 not recorded (no ref, the store failed,
 * or the queue is full: try again at the next pass).
 */
int cb_audit_record_once(cb_audit_t *audit, cb_store_t *store, cb_audit_event_t const *ev);

/**
 * cb_audit_session_closed - a session_stop record for a session the store
 * closed without an accounting Stop (the NAS's Accounting-On/Off, or no
 * accounting for stale_session_after): cause and times from the session.
 */
void cb_audit_session_closed(cb_audit_t *audit, cb_store_session_t const *s);

/**
 * cb_audit_admit_ok - whether the module may admit someone now: always
 * true under fail_open; under fail_closed, false while the last write
 * failed or the queue is full.  Call it before deciding, then record the
 * decision actually made.
 */
bool cb_audit_admit_ok(cb_audit_t *audit);

/** cb_audit_reopen - reopen the file at the next moment the writer is free (SIGHUP, after logrotate). */
void cb_audit_reopen(cb_audit_t *audit);

/**
 * cb_audit_flush - wait until everything queued before the call is
 * acknowledged, and then copied to the store's index (unless the index's
 * last attempt failed: it lags, and catches up later), or timeout_ms
 * passes.  Returns 0 when flushed, -1 on timeout (the trail or the index
 * is failing, or the index is that far behind).  For shutdown and tests.
 */
int cb_audit_flush(cb_audit_t *audit, unsigned int timeout_ms);

/**
 * cb_audit_index_update - copy to store's index the records of the trail
 * at path (and its rotated files) that it lacks, at most max (the module's
 * index thread does this at idle priority; cetbyodctl does it before a
 * query so that a record just written is found).  key: the trail's HMAC key
 * (NULL: unkeyed).  *copied: how many.  Returns 0 (the index holds every
 * complete line), 1 (max copied, more remain), -1 (the store refused: err
 * says why), -2 (a file cannot be read or its chain does not follow the
 * index's: err names the file and byte).
 */
int cb_audit_index_update(cb_store_t *store, char const *path, cb_audit_key_t const *key, size_t max,
			  uint64_t *copied, char *err, size_t errlen);

typedef struct {
	uint64_t	queued;		/* Records on the queue now. */
	uint64_t	written;	/* Acknowledged since open. */
	uint64_t	dropped;	/* Dropped (fail_open, queue full) since open. */
	uint64_t	refused;	/* CB_AUDIT_REFUSE answers since open. */
	uint64_t	write_failures;	/* Failed write or fsync attempts since open. */
	uint64_t	last_seq;	/* Of the last acknowledged record. */
	uint64_t	coalesced;	/* Refusals counted in a run instead of written (runs.c) since open. */
	uint64_t	runs;		/* Runs open now. */
	uint64_t	runs_full;	/* Refusals written on their own because coalesce_max runs were open. */
	uint64_t	index_lag;	/* Records the file holds and the store's index does not yet (indexer.c). */
	uint64_t	index_lag_ms;	/* How long the index has lacked some (0: it holds every record). */
	bool		failing;	/* The last write attempt failed. */
	char		last_error[256];
} cb_audit_stats_t;

void cb_audit_stats(cb_audit_t *audit, cb_audit_stats_t *out);

/*
 *	Verification
 */
typedef enum {
	CB_AUDIT_OK = 0,
	CB_AUDIT_BAD_SYNTAX,		/* Not a JSON object, or a field missing or of the wrong kind. */
	CB_AUDIT_BAD_TRUNCATED,		/* The last line has no newline: cut short. */
	CB_AUDIT_BAD_HASH,		/* The record's hash does not match its content: altered. */
	CB_AUDIT_BAD_LINK,		/* prev is not the previous record's hash: that one was altered or replaced. */
	CB_AUDIT_BAD_GAP,		/* seq jumps forward: records removed (or moved later). */
	CB_AUDIT_BAD_ORDER,		/* seq goes back or repeats: records moved or duplicated. */
	CB_AUDIT_BAD_START,		/* seq 1 without the all-zero prev. */
	CB_AUDIT_BAD_TAIL,		/* The database holds a later record than the files (lines removed at the
					 * end), or its copy of a record differs from the file's. */
	CB_AUDIT_BAD_IO,		/* A file could not be read. */
	CB_AUDIT_BAD_KEY		/* Verified with a key: an unkeyed record after keyed ones, or the last
					 * record not keyed (history rewritten without the key). */
} cb_audit_bad_t;

typedef struct {
	cb_audit_bad_t	bad;		/* CB_AUDIT_OK when the chain holds. */
	char		file[4096];	/* Where it broke. */
	uint64_t	line;		/* 1-based line in file. */
	uint64_t	seq;		/* The seq that line should have held. */
	uint64_t	found_seq;	/* The seq it holds; 0 when unreadable. */
	char		message[512];	/* One sentence for the admin. */

	bool		pending;	/* The last file ends in a line without its newline, not counted: being
					 * written (cb_audit_verify_trail with allow_pending). */
	uint64_t	pending_line;	/* Its line number, and its length so far. */
	size_t		pending_len;
	bool		anchored;	/* The store's copy was compared (cb_audit_verify_trail with an anchor). */
	uint64_t	keyed;		/* Keyed records seen ("chain": "hmac-sha256"). */
	uint64_t	unchecked;	/* Of those, checked without a key: links and order only. */

	uint64_t	records;	/* Records checked. */
	uint64_t	first_seq;	/* Of the first record checked; > 1 when older files are gone. */
	uint64_t	last_seq;
	char		last_hash[CB_AUDIT_HASH_HEX + 1];
	size_t		files;
} cb_audit_verify_t;

/**
 * cb_audit_verify_files - check the chain through paths[0..n), oldest
 * first: every line complete, parseable, hashed as its content says,
 * linked to the one before and numbered one more, across file boundaries.
 * The first record may start later than seq 1 (older files rotated away).
 * Stops at the first bad record and describes it in out.  Returns 0 when
 * the chain holds, 1 when it is broken, -1 when a file cannot be read
 * (out->bad = CB_AUDIT_BAD_IO).
 */
int cb_audit_verify_files(char const *const *paths, size_t n, cb_audit_verify_t *out);

/** The store's last record, read before the files (cb_store_audit_last). */
typedef struct {
	uint64_t	seq;		/* 0: none. */
	char		hash[CB_AUDIT_HASH_HEX + 1];
} cb_audit_anchor_t;

/**
 * cb_audit_verify_trail - cb_audit_verify_files on a trail a running
 * writer may be appending to.  anchor (may be NULL) is the store's last
 * record, read BEFORE the files: the writer puts a record in the file
 * before the store, so the files then hold at least that record, and
 * records written meanwhile lie after it and are not mistaken for removed
 * ones.  The record at anchor->seq must carry anchor->hash, and the files
 * must reach it (else CB_AUDIT_BAD_TAIL: lines removed from the end, or
 * the last one altered).  With allow_pending, a last line of the last file
 * without its newline is taken as being written (out->pending, not
 * counted) rather than cut short; the caller looks again to tell a line
 * being written from one cut short for good.  With key, keyed records are
 * checked under it (a wrong key fails at the first), and from the first
 * keyed record on every record must be keyed, the last one included
 * (CB_AUDIT_BAD_KEY); without it, keyed records are checked for order and
 * links only and counted in out->unchecked.
 */
int cb_audit_verify_trail(char const *const *paths, size_t n, cb_audit_anchor_t const *anchor, bool allow_pending,
			  cb_audit_key_t const *key, cb_audit_verify_t *out);

/** One line of a trail, as cb_audit_line_parse reads it. */
typedef struct {
	bool		is_object;	/* The line is a JSON object (of whatever content). */
	bool		keyed;		/* "chain": "hmac-sha256". */
	bool		unchecked;	/* Keyed, parsed without a key: the hash was not checked. */
	uint64_t	seq;		/* > 0 once seq, prev and hash are valid. */
	char		prev[CB_AUDIT_HASH_HEX + 1];
	char		hash[CB_AUDIT_HASH_HEX + 1];
} cb_audit_line_t;

/**
 * cb_audit_line_parse - one line of a trail (text[0..len), without its
 * newline, not NUL-terminated): a JSON object and nothing else, with a
 * positive integer seq and valid prev and hash, whose content matches its
 * hash.  Pure: no I/O, no state; the part of verify that reads hostile
 * bytes.  Returns CB_AUDIT_OK (out filled); CB_AUDIT_BAD_SYNTAX (not an
 * object, or a field missing or of the wrong kind: out->is_object says
 * which); CB_AUDIT_BAD_HASH (out->seq, prev and hash filled);
 * CB_AUDIT_BAD_IO (out of memory).
 */
cb_audit_bad_t cb_audit_line_parse(char const *text, size_t len, cb_audit_line_t *out);

/** cb_audit_line_parse_key - cb_audit_line_parse, a keyed record's HMAC checked under key (NULL: not checked). */
cb_audit_bad_t cb_audit_line_parse_key(char const *text, size_t len, cb_audit_key_t const *key, cb_audit_line_t *out);

/**
 * cb_audit_rotated_files - the files of a trail, oldest first: path.N ...
 * path.2, path.1, path (those that exist; rotated files compressed by
 * logrotate (.gz) are not readable here and are reported in *skipped).
 * Returns 0 and a malloc'd array of malloc'd strings (free with
 * cb_audit_files_free), or -1 on allocation failure.
 */
int cb_audit_rotated_files(char const *path, char ***files, size_t *n, size_t *skipped);
void cb_audit_files_free(char **files, size_t n);

/**
 * cb_audit_line_hash - the SHA-256 of a record's canonical form (every
 * member but "hash", keys sorted, json-c's plain serialisation) as hex.
 * Returns 0, or -1 when rec is not an object of strings, integers,
 * booleans and nulls.
 */
int cb_audit_line_hash(json_object *rec, char out[CB_AUDIT_HASH_HEX + 1]);

/** cb_audit_line_mac - HMAC-SHA256 under key of the canonical form (key NULL: cb_audit_line_hash). */
int cb_audit_line_mac(json_object *rec, cb_audit_key_t const *key, char out[CB_AUDIT_HASH_HEX + 1]);

/*
 *	Queries, of the index in the store (cb_store_audit_*)
 */

/** What cb_audit_query selects; zeroed: everything.  All given fields must match. */
typedef struct {
	char const	*identity;
	char const	*mac;		/* Any spelling base/mac.h accepts; compared as AA-BB-CC-DD-EE-FF. */
	char const	*nas;
	char const	*ssid;
	char const	*ip;		/* Framed-IP-Address, as text. */
	time_t		from, to;	/* Inclusive; 0: open. */
	int		type;		/* A cb_audit_type_t; -1 (or zeroed with any_type): every type. */
	bool		any_type;
	size_t		limit;		/* 0: 100000. */
} cb_audit_query_t;

/* One record of the index, as the store returns it (store/store.h). */
typedef cb_store_audit_row_t cb_audit_row_t;
typedef cb_store_audit_rows_t cb_audit_rows_t;

/** cb_audit_query - matching records, oldest first.  0 (out filled, perhaps empty) or -1 (err). */
int cb_audit_query(cb_store_t *store, cb_audit_query_t const *q, cb_audit_rows_t *out, char *err, size_t errlen);
void cb_audit_rows_free(cb_audit_rows_t *rows);

/** One session that held an address, rebuilt from session_start and session_stop records. */
typedef struct {
	char		identity[256], outer_identity[256], calling_station[256], nas[256],
			acct_session_id[256], ssid[256], framed_ip[64];
	time_t		started;
	time_t		stopped;	/* 0: no stop recorded. */
	time_t		superseded;	/* No stop, but another session took the address then; 0: not. */
	bool		certain;	/* Started and stopped records both seen and it is the only match. */
} cb_audit_holder_t;

typedef struct {
	cb_audit_holder_t	*items;
	size_t			count;
} cb_audit_holders_t;

/**
 * cb_audit_ip_at - who held ip at some moment in [at, at_end] (at_end <
 * at: at_end = at), optionally at one NAS only.  A session holds the
 * address from its start to its stop; a session without a stop holds it
 * until another session with the same address (at the same NAS, when nas
 * is given) starts, and then it is "superseded".  Sessions that held it
 * and were superseded before the moment are left out.  Most recent start
 * first.  0 (out filled, perhaps empty) or -1 (err).
 */
int cb_audit_ip_at(cb_store_t *store, char const *ip, char const *nas, time_t at, time_t at_end,
		   cb_audit_holders_t *out, char *err, size_t errlen);
void cb_audit_holders_free(cb_audit_holders_t *list);

/**
 * cb_audit_export_person - everything the store holds about identity:
 * {"identity", "people", "decisions", "sessions", "revocations",
 * "disconnects", "exceptions", "reminders" (those the store has), "audit":
 * [records]}.  Rows are copied column by column (cb_store_export_person),
 * so a column added later is exported too.  Returns a new object (the
 * caller puts it), or NULL with err set.
 */
json_object *cb_audit_export_person(cb_store_t *store, char const *identity, char *err, size_t errlen);

/*
 *	Output helpers shared by cetbyodctl and the tests
 */

/**
 * cb_audit_csv_cell - s as one RFC 4180 CSV field into out.  First every
 * control character (C0 including TAB, CR, LF and ESC; DEL; C1
 * U+0080..U+009F) and every invalid UTF-8 byte becomes "\xHH" (as in
 * cetbyodctl's tables), so no cell can move a terminal's cursor, clear its
 * screen or break a row: the outer identity, for one, is whatever the
 * device sent.  Then a value starting with '=', '+', '-' or '@' gets a
 * leading "'" so that a spreadsheet shows it as text instead of running
 * it, and a value holding a comma or quote is quoted (quotes doubled).
 * Returns false (out "") when out is too short or memory runs out:
 * CB_AUDIT_CSV_LEN(strlen(s)) bytes always suffice.
 */
#define CB_AUDIT_CSV_LEN(n)	(4 * (n) + 4)
bool cb_audit_csv_cell(char const *s, char *out, size_t outlen);

#endif
