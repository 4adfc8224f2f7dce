/*
 * store_int.h - what the files of the store share, and nobody else sees:
 * the table of operations a backend fills, the cb_store_t they all work
 * on, the deferred-decision batch (batch.c), and the value checks the
 * front and the backends both apply (values.c).
 *
 * Layering.  store.c is the front: it checks every argument, takes the
 * store's mutex and calls the backend through cb_store_ops_t, so a
 * backend only ever sees valid input, one call at a time.  sqlite*.c is
 * one backend (private header sqlite_int.h), pg*.c the PostgreSQL one
 * (pg_int.h); both fill the same table.  Nothing outside lib/store/ includes this
 * header, and nothing outside the backend knows how the state is kept.
 */
#ifndef CETBYOD_STORE_INT_H
#define CETBYOD_STORE_INT_H

#include <pthread.h>

#include "base/name.h"
#include "store/store.h"

/*
 *	Backends.  A backend fills a cb_store_ops_t; each operation has the
 *	contract of the public function of the same name, except:
 *	close_stale gets the cut-off instant (now - max_age);
 *	disconnect_release is confirm_held (confirm) or discard_held
 *	(!confirm); status_get fills a record; audit_* and export_person are
 *	cb_store_audit_* and cb_store_export_person.  Output pointers are
 *	never NULL.
 */
typedef struct cb_store_backend cb_store_backend_t;

typedef enum { CB_SPOOL_START, CB_SPOOL_UPDATE, CB_SPOOL_STOP, CB_SPOOL_DECISION, CB_SPOOL_DEVICE } cb_spool_op_t;

/* One session write of a group commit (batch.c): the backend fills rc (the single op's result). */
typedef struct {
	cb_spool_op_t		op;
	cb_store_acct_t const	*a;
	int			rc;
} cb_store_sw_t;

typedef struct {
	char const *name;
	void (*close)(cb_store_backend_t *be);
	int (*decisions_put)(cb_store_backend_t *be, cb_store_decision_t const *d, size_t n);	/* One transaction. */
	int (*decision_get)(cb_store_backend_t *be, char const *class_id, cb_store_decision_t *out);
	/* Each session write fills a->result (when not NULL) with the row as written, inside its own
	 * transaction (acct.c); a repeated Stop with the key's latest session. */
	int (*session_start)(cb_store_backend_t *be, cb_store_acct_t const *a);
	int (*session_update)(cb_store_backend_t *be, cb_store_acct_t const *a);
	int (*session_stop)(cb_store_backend_t *be, cb_store_acct_t const *a);
	/* w[0..n) in one transaction, in order, each w[i].rc as its single op would return it; 0 when it
	 * committed, -1 when it did not (nothing of it is written; one write that fails fails them all). */
	int (*sessions_write)(cb_store_backend_t *be, cb_store_sw_t *w, size_t n);
	int (*session_get)(cb_store_backend_t *be, char const *nas, char const *acct_session_id,
			   cb_store_session_t *out);
	int (*nas_reboot)(cb_store_backend_t *be, char const *nas, char const *cause, time_t now, size_t *closed,
			  cb_store_sessions_t *out);
	int (*close_stale)(cb_store_backend_t *be, time_t before, time_t now, size_t *closed,
			   cb_store_sessions_t *out);
	int (*sessions_active)(cb_store_backend_t *be, cb_store_filter_t const *filter, cb_store_sessions_t *out);
	int (*revoke)(cb_store_backend_t *be, char const *identity, char const *reason, char const *by, time_t now);
	int (*reinstate)(cb_store_backend_t *be, char const *identity, char const *by, time_t now);
	int (*is_revoked)(cb_store_backend_t *be, char const *identity, cb_store_revocation_t *out);
	int (*revocations)(cb_store_backend_t *be, bool history, cb_store_revocations_t *out);
	int (*disconnect_enqueue)(cb_store_backend_t *be, char const *nas, char const *acct_session_id,
				  char const *identity, char const *reason, cb_disc_kind_t kind, bool held,
				  time_t now, int64_t *id);
	int (*disconnect_due)(cb_store_backend_t *be, time_t now, size_t limit, cb_store_disconnects_t *out);
	int (*disconnect_claim)(cb_store_backend_t *be, int64_t id, time_t until);
	/* NULL: nothing to watch (SQLite: one server; the enforcer's pass re-reads). */
	cb_store_watch_t *(*watch_start)(cb_store_backend_t *be, cb_store_change_fn fn, void *ctx, char *err,
					 size_t errlen);
	/* NULL: disconnect_due then disconnect_claim of each, under the front's lock (one server). */
	int (*disconnect_take)(cb_store_backend_t *be, time_t now, time_t until, size_t limit,
			       cb_store_disconnects_t *out);
	int (*disconnect_mark)(cb_store_backend_t *be, int64_t id, cb_disc_result_t result, unsigned int error_cause,
			       char const *detail, time_t next_attempt, time_t now);
	int (*disconnect_hold)(cb_store_backend_t *be, int64_t const *ids, size_t n, size_t *held);
	int (*disconnect_release)(cb_store_backend_t *be, bool confirm, time_t now, size_t *count);
	int (*disconnects)(cb_store_backend_t *be, cb_disc_state_t state, size_t limit, cb_store_disconnects_t *out);
	int (*command_enqueue)(cb_store_backend_t *be, cb_cmd_t cmd, char const *arg, char const *by, time_t now);
	int (*commands_take)(cb_store_backend_t *be, cb_store_commands_t *out);
	int (*status_put)(cb_store_backend_t *be, char const *key, char const *value, time_t now);
	int (*status_get)(cb_store_backend_t *be, char const *key, cb_store_status_t *out);
	int (*statuses)(cb_store_backend_t *be, cb_store_statuses_t *out);
	int (*counts)(cb_store_backend_t *be, cb_store_counts_t *out);
	int (*purge)(cb_store_backend_t *be, time_t before, size_t *removed);
	int (*exception_add)(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
			     char const *approved_by, char const *by, time_t until, time_t now, int64_t *id);
	int (*exception_end)(cb_store_backend_t *be, char const *identity, char const *mac, char const *by,
			     time_t now, size_t *ended);
	int (*exceptions)(cb_store_backend_t *be, bool history, cb_store_exceptions_t *out);
	int (*people_update)(cb_store_backend_t *be, bool replace, char const *const *removed, size_t n_removed,
			     cb_store_person_next_fn next, void *ctx);
	int (*people)(cb_store_backend_t *be, cb_store_people_t *out);
	int (*reminder_put)(cb_store_backend_t *be, cb_store_reminder_t const *r);
	int (*reminder_sent)(cb_store_backend_t *be, char const *email, time_t ack_expiry, unsigned int window_days);
	/* NULL (one server): claim is reminder_sent, unclaim nothing. */
	int (*reminder_claim)(cb_store_backend_t *be, cb_store_reminder_t const *r);
	int (*reminder_unclaim)(cb_store_backend_t *be, char const *email, time_t ack_expiry, unsigned int window_days);
	int (*reminders)(cb_store_backend_t *be, time_t since, cb_store_reminders_t *out);
	int (*devices)(cb_store_backend_t *be, char const *identity, time_t since, cb_store_devices_t *out);
	int (*sessions_since)(cb_store_backend_t *be, time_t since, size_t limit, cb_store_sessions_t *out);
	int (*device_seen)(cb_store_backend_t *be, char const *identity, char const *mac, char const *nas, bool counted,
			   time_t now);
	int (*devices_seen)(cb_store_backend_t *be, cb_store_seen_t const *items, size_t n);	/* In one transaction. */
	int (*devices_known)(cb_store_backend_t *be, char const *identity, time_t since, cb_store_known_devices_t *out);
	int (*devices_forget)(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
			      char const *by, time_t now, size_t *removed);
	int (*device_forgets)(cb_store_backend_t *be, int64_t after, cb_store_device_forgets_t *out);

	/* The audit index and the subject access export. */
	int (*audit_attach)(cb_store_backend_t *be);
	int (*audit_put)(cb_store_backend_t *be, cb_store_audit_entry_t const *entries, size_t n);
	int (*audit_last)(cb_store_backend_t *be, uint64_t *seq, char hash[CB_STORE_HASH_HEX + 1]);
	int (*audit_count)(cb_store_backend_t *be, uint64_t from, uint64_t to, uint64_t *count, uint64_t *first);
	int (*audit_has_ref)(cb_store_backend_t *be, char const *ref);
	int (*audit_tally)(cb_store_backend_t *be, char const *type, cb_store_tally_fn fn, void *ctx);
	int (*audit_query)(cb_store_backend_t *be, cb_store_audit_filter_t const *f, cb_store_audit_rows_t *out);
	int (*audit_sessions)(cb_store_backend_t *be, char const *ip, char const *nas, cb_store_audit_rows_t *out);
	int (*audit_purge)(cb_store_backend_t *be, time_t before, size_t *removed);
	int (*export_person)(cb_store_backend_t *be, char const *identity, cb_store_export_fn fn, void *ctx);

	/* cb_store_copy (copy.c): the source's rows of one table (SQLite; fn(table, NULL) first, no rows when
	 * it has no such table); the target's load, in one transaction (PostgreSQL): load_begin (the tables
	 * empty, or emptied when replace; 1: not empty), load_row per row, load_end (commit when rc >= 0). */
	int (*table_rows)(cb_store_backend_t *be, char const *table, cb_store_export_fn fn, void *ctx);
	int (*load_begin)(cb_store_backend_t *be, char const *const *tables, size_t n, bool replace);
	int (*load_row)(cb_store_backend_t *be, char const *table, cb_store_field_t const *fields, size_t n);
	int (*load_end)(cb_store_backend_t *be, int rc, char const *const *tables, size_t n);

	/* Write failures: whether the last one may pass by itself (a full disk, an I/O error, a lock), so
	 * that what failed is worth keeping and retrying; and cb_store_check_writable. */
	bool (*transient)(cb_store_backend_t *be);
	int (*check_writable)(cb_store_backend_t *be, char *why, size_t len);
	/* cb_store_write_contended, called WITHOUT store->mutex (it touches no connection); NULL: never
	 * (PostgreSQL locks rows, not the database). */
	bool (*write_contended)(cb_store_backend_t *be, unsigned int within_ms);

	/* Spooled writes (store_spool.c), exactly once: in one transaction, apply(be, ctx, after) (which
	 * writes the records of the run whose sequence numbers are above after: the mark's, 0 when it names
	 * another generation) and the mark that records up to last of spool generation gen are in; 1 (apply
	 * not called) when the mark says they already were, 0 applied, -1.  name tells a handle's spool from
	 * the others' ("": the request path's store.spool; each file has its own mark).  NULL: the backend
	 * has no spool (SQLite). */
	int (*spool_apply)(cb_store_backend_t *be, char const *name, char const *gen, uint64_t last,
			   int (*apply)(cb_store_backend_t *be, void *ctx, uint64_t after), void *ctx);
	/* Whether the database answers at all, called WITHOUT store->mutex (it touches no connection), so
	 * that a replay waiting for a server that does not answer (a timeout) holds no lock; NULL: assume so. */
	bool (*reachable)(cb_store_backend_t *be);
	/* What messages call the store: the SQLite file's path, or "PostgreSQL <db> at <host>:<port>" (never
	 * the conninfo, which may hold a password). */
	char const *(*where)(cb_store_backend_t *be);
} cb_store_ops_t;

typedef struct cb_store_batch cb_store_batch_t;
typedef struct cb_store_group cb_store_group_t;

/* A store: the front's state (store.c). */
/* What a backend's watcher starts with: the front stops it through stop. */
struct cb_store_watch {
	void	(*stop)(cb_store_watch_t *w);
};

struct cb_store {
	pthread_mutex_t		mutex;		/* One call at a time reaches the backend. */
	cb_store_ops_t const	*ops;
	cb_store_backend_t	*be;
	cb_log_fn_t		log;
	void			*log_ctx;
	cb_store_batch_t	*batch;		/* defer_decisions; NULL otherwise. */
	cb_store_group_t	*group;		/* group_commit; NULL otherwise. */
	struct cb_store_spool	*spool;		/* spool_path set (PostgreSQL): store_spool.c; NULL otherwise. */
	bool			quiet;		/* The backend's complaints are not passed on (store->mutex held):
						 * the batch's retries while the disk is full, which it reports
						 * itself, once. */
};

/**
 * cb_store_sqlite_open - the SQLite backend on conf->path (sqlite.c), with
 * its operations in *ops.  NULL with err set (the file untouched) on
 * failure.
 */
cb_store_backend_t *cb_store_sqlite_open(cb_store_conf_t const *conf, cb_store_ops_t const **ops, char *err,
					 size_t errlen);

/**
 * cb_store_pg_open - the PostgreSQL backend on conf->pg_conninfo (pg.c),
 * with its operations in *ops.  NULL with err set (no password in it) when
 * the server cannot be reached, refuses the login, or holds a schema this
 * cetbyod does not know.
 */
cb_store_backend_t *cb_store_pg_open(cb_store_conf_t const *conf, cb_store_ops_t const **ops, char *err,
				     size_t errlen);

/*
 *	Deferred decisions (batch.c).
 */

/** cb_store_batch_start - the queue and the thread that commits it; NULL with err set. */
cb_store_batch_t *cb_store_batch_start(cb_store_t *store, char *err, size_t errlen);

/** cb_store_batch_put - queue d; false when the queue is full (the caller commits d itself). */
bool cb_store_batch_put(cb_store_batch_t *batch, cb_store_decision_t const *d);

/** cb_store_batch_flush - commit what is queued (store->mutex held; no batch: nothing to do). */
void cb_store_batch_flush(cb_store_t *store);

/** cb_store_batch_stop - stop the thread, commit what is left, free.  NULL is fine. */
void cb_store_batch_stop(cb_store_batch_t *batch);

/*
 *	The group commit of accounting (batch.c).
 */

/** cb_store_group_start - the queue (no thread: its waiters commit it); NULL with err set. */
cb_store_group_t *cb_store_group_start(cb_store_t *store, char *err, size_t errlen);

/**
 * cb_store_group_write - queue the session write (op, a) and wait until it
 * is committed with the others queued meanwhile (by the calling thread when
 * it is the leader, else by the leader of its group); the
 * write's rc (the single op's), or -1 when its commit failed (nothing of it
 * written: the NAS retries).  Called WITHOUT store->mutex.
 */
int cb_store_group_write(cb_store_group_t *g, cb_spool_op_t op, cb_store_acct_t const *a);

/** cb_store_group_stop - free the queue once a commit under way is done (no writer may be left).  NULL is fine. */
void cb_store_group_stop(cb_store_group_t *g);

/**
 * cb_store_sessions_commit - (store->mutex held, decisions flushed; store.c)
 * w[0..n) in one transaction, each w[i].rc and w[i].a->result filled.  A
 * commit that fails for a reason that may pass (a full disk, a lock) fails
 * them all (-1); with the PostgreSQL spool they are spooled instead, as a
 * single write would be; a write refused for good is retried alone, so it
 * fails alone.
 */
void cb_store_sessions_commit(cb_store_t *store, cb_store_sw_t *w, size_t n);

/*
 *	The spool (store_spool.c): writes kept on disk while the database is unreachable.
 */

/** cb_store_spool_start - open conf->spool_path and start its replay thread; 0, or -1 with err set. */
int cb_store_spool_start(cb_store_t *store, cb_store_conf_t const *conf, char *err, size_t errlen);

/** cb_store_spool_stop - stop the replay thread and close the spool (what is left stays on disk). */
void cb_store_spool_stop(cb_store_t *store);

/** cb_store_spool_waiting - (store->mutex held) records wait in the spool: later writes queue behind them. */
bool cb_store_spool_waiting(cb_store_t *store);

/**
 * cb_store_spool_session - (store->mutex held) the session write a, spooled
 * when records already wait (order) or after call failed for a reason that
 * passes (the database unreachable).  Returns the write's rc: call's, or 0
 * when spooled (a->result filled from a), or -1 when the spool is full or
 * cannot be written (said loudly).
 */
int cb_store_spool_session(cb_store_t *store, cb_spool_op_t op, cb_store_acct_t const *a);

/**
 * cb_store_spool_decisions - (store->mutex held) decision rows d[0..n)
 * into the spool, all or none (one fsync).  0, or -1 when the spool is
 * full or cannot be written (said loudly; the caller keeps them).
 */
int cb_store_spool_decisions(cb_store_t *store, cb_store_decision_t const *d, size_t n);

/** cb_store_spool_devices - (store->mutex held) devices seen, as cb_store_spool_decisions. */
int cb_store_spool_devices(cb_store_t *store, cb_store_seen_t const *items, size_t n);

/*
 *	Values (values.c).
 */
extern cb_name_t const cb_store_disc_kind_names[];
extern cb_name_t const cb_store_disc_state_names[];
extern cb_name_t const cb_store_disc_result_names[];

/** cb_store_class_id_valid - 32 lower-case hex digits. */
bool cb_store_class_id_valid(char const *s);

/* What a backend adds to an Accounting-Request before it writes it (cb_store_acct_resolve). */
typedef struct {
	char	identity[CB_STORE_TEXT_MAX + 1];
	char	status[CB_STORE_NAME_MAX + 1];
	char	ap[CB_STORE_TEXT_MAX + 1];
	char	ssid[CB_STORE_TEXT_MAX + 1];
	time_t	valid_until;	/* Of a->class_id's decision (a->decision's, or the one read); 0: none. */
} cb_store_acct_extra_t;

/**
 * cb_store_acct_resolve - identity and status from the decision of
 * a->class_id (read with the backend's decision_get), AP and SSID from
 * Called-Station-Id; 0, or -1 when the decision could not be read.
 */
int cb_store_acct_resolve(cb_store_backend_t *be,
			  int (*decision_get)(cb_store_backend_t *be, char const *class_id, cb_store_decision_t *out),
			  cb_store_acct_t const *a, cb_store_acct_extra_t *x);

/*
 *	One accounting write (acct.c): the rules every backend follows, with its statements.
 */

/*
 * The text columns an accounting update keeps when the request has no value
 * for them (parameters 3 to 13 of both backends' session statements),
 * through the including backend's NONEMPTY(n, col) for its SQL dialect.
 */
#define CB_SES_KEEP_TEXT NONEMPTY(3, "class_id") ", " NONEMPTY(4, "identity") ", " \
	NONEMPTY(5, "outer_identity") ", " NONEMPTY(6, "calling_station") ", " \
	NONEMPTY(7, "called_station") ", " NONEMPTY(8, "ap") ", " NONEMPTY(9, "ssid") ", " \
	NONEMPTY(10, "framed_ip") ", " NONEMPTY(11, "nas_ip") ", " NONEMPTY(12, "nas_identifier") ", " \
	NONEMPTY(13, "status")

/* Which row statement cb_store_acct_ops_t.write runs. */
typedef enum {
	CB_ACCT_UPDATE,		/* The key's open session(s). */
	CB_ACCT_UPDATE_SAME,	/* The same, only when it already names a->class_id (a keyed Class's Interim or Stop). */
	CB_ACCT_INSERT		/* A new row. */
} cb_store_acct_row_t;

typedef struct {
	int (*decision_get)(cb_store_backend_t *be, char const *class_id, cb_store_decision_t *out);
	/* A keyed Class's decision, recorded when its class id has none yet; 0 or -1. */
	int (*decision_new)(cb_store_backend_t *be, cb_store_decision_t const *d);
	/* The row statement (how) with a's values (stopped < 0: open) and x's; the row as written into
	 * a->result (when not NULL).  1 a row written, 0 none, -1. */
	int (*write)(cb_store_backend_t *be, cb_store_acct_row_t how, cb_store_acct_t const *a,
		     cb_store_acct_extra_t const *x, int64_t stopped);
	/* The key's open session, else its latest, into a->result: 0 none, 1 open, 2 closed, 3 closed as
	 * stale (its id in *id), -1. */
	int (*find)(cb_store_backend_t *be, cb_store_acct_t const *a, int64_t *id);
	/* Reopen the session id (closed as stale); 0 or -1. */
	int (*reopen)(cb_store_backend_t *be, int64_t id);
} cb_store_acct_ops_t;

/**
 * cb_store_acct_apply - a Start, Interim-Update or Stop (op) inside the
 * backend's transaction, a->result filled from the writes themselves: 0
 * when an open session was updated, 1 otherwise (a new or reopened
 * session, a repeated Stop), -1 on error (roll back).
 */
int cb_store_acct_apply(cb_store_backend_t *be, cb_store_acct_ops_t const *ops, cb_store_acct_t const *a,
			cb_spool_op_t op);

/** cb_store_person_valid - a people row the store accepts (checked by the backend, row by row). */
bool cb_store_person_valid(cb_store_person_t const *p);

#endif
