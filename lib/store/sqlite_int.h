/*
 * sqlite_int.h - what the files of the SQLite backend share: the
 * connection (struct cb_store_backend), the cache of prepared statements
 * and the helpers that step them, and each file's operations for the
 * table in sqlite.c.
 *
 *	sqlite.c		opening, schema and migrations, statements, helpers, the ops table
 *	sqlite_sessions.c	decisions, sessions, the disconnect queue
 *	sqlite_admin.c		revocations, exceptions, people, reminders, commands, status, purge
 *	sqlite_audit.c		the audit index and the subject access export
 *	sqlite_devices.c	the devices seen per person, and IT's forgetting of them
 *
 * Every operation runs under the front's mutex (store.c), so the backend
 * needs no lock of its own.  Only lib/store/sqlite*.c include this.
 */
#ifndef CETBYOD_STORE_SQLITE_INT_H
#define CETBYOD_STORE_SQLITE_INT_H

#include <sqlite3.h>

#include "store/store_int.h"

#define STORE_LIST_MAX		100000		/* Rows one list may hold. */
#define STORE_PATH_MAX		4096

/* The columns an audit row is read from (cb_sqlite_audit_row), in order. */
#define CB_SQLITE_AUDIT_COLS "seq, time, type, identity, outer_identity, calling_station, nas, ssid, framed_ip, " \
			     "acct_session_id, status, reason, by, record, session_start, session_stop"

/* The prepared statements, by name; their SQL is in sqlite.c. */
typedef enum {
	S_BEGIN = 0, S_COMMIT, S_ROLLBACK,
	S_DEC_PUT, S_DEC_PUT_NEW, S_DEC_GET,
	S_SES_INSERT, S_SES_BYID, S_SES_UPDATE, S_SES_UPDATE_SAME, S_SES_REOPEN, S_SES_FIND, S_SES_GET,
	S_SES_NAS_REBOOT, S_SES_STALE, S_SES_ACTIVE,
	S_REV_UPDATE, S_REV_INSERT, S_REV_REINSTATE, S_REV_GET, S_REV_LIST,
	S_DISC_FIND_OPEN, S_DISC_SESSION_ID, S_DISC_INSERT, S_DISC_DUE, S_DISC_CLAIM, S_DISC_MARK, S_DISC_GONE, S_DISC_HOLD,
	S_DISC_RELEASE, S_DISC_LIST,
	S_CMD_INSERT, S_CMD_LIST, S_CMD_DELETE,
	S_ST_PUT, S_ST_GET, S_ST_LIST,
	S_COUNTS,
	S_PURGE_DISC, S_PURGE_SES, S_PURGE_DEC, S_PURGE_REV, S_PURGE_EXC, S_PURGE_REM,
	S_EXC_UPDATE, S_EXC_INSERT, S_EXC_END, S_EXC_LIST,
	S_PEOPLE_CLEAR, S_PEOPLE_DELETE, S_PEOPLE_INSERT, S_PEOPLE_LIST,
	S_REM_INSERT, S_REM_GET, S_REM_LIST, S_DEVICES,
	S_KDEV_LIST, S_KDEV_PUT, S_KDEV_TOUCH, S_KDEV_COUNT, S_KDEV_DROP_OLDEST, S_KDEV_FORGET, S_FORGET_INSERT, S_FORGET_LIST, S_SES_SINCE, S_PURGE_KDEV,
	S_PURGE_FORGET,
	S_HAS_TABLE,
	S_AUDIT_INSERT, S_AUDIT_REF_INSERT, S_AUDIT_REF_GET, S_AUDIT_LAST, S_AUDIT_PURGE, S_AUDIT_SESSIONS, S_AUDIT_RECORDS,
	S_MAX
} stmt_id_t;

/*
 * A connection's busy handler (sq_busy): how long it waits for another
 * writer, and when it tells the user it is waiting.  One per connection:
 * each is used by one thread at a time.
 */
typedef struct {
	unsigned int	timeout_ms;	/* Give up (SQLITE_BUSY) after this long. */
	unsigned int	note_ms;	/* Say that it waits once it has waited this long; 0: never. */
	int64_t		since_ms;	/* cb_clock_ms() when the current wait began. */
	bool		noted;		/* The current wait was reported. */
	cb_log_fn_t	log;
	void		*log_ctx;
	char const	*path;		/* The backend's. */
} cb_sqlite_busy_t;

struct cb_store_backend {
	sqlite3		*db;
	char		path[STORE_PATH_MAX];
	sqlite3_stmt	*stmts[S_MAX];
	cb_log_fn_t	log;
	void		*log_ctx;
	int		last_rc;	/* SQLite's (extended) code of the last failure cb_sqlite_fail logged. */
	/* group_commit: checkpoints on a connection and a thread of their own (sqlite.c). */
	sqlite3		*ckpt_db;
	struct cb_worker *ckpt;
	bool		ckpt_failing;	/* The last checkpoint failed (logged once); the checkpointer's. */
	cb_sqlite_busy_t busy, ckpt_busy;	/* db's and ckpt_db's busy handlers. */
};

#define BE_ERR(be, ...) do { if ((be)->log) (be)->log((be)->log_ctx, CB_LOG_ERROR, __VA_ARGS__); } while (0)

/*
 *	Helpers (sqlite.c)
 */

/** cb_sqlite_fail - log what failed, with SQLite's message and the path; returns -1. */
int cb_sqlite_fail(cb_store_backend_t *be, char const *what);

/** cb_sqlite_stmt - the prepared statement id, reset and unbound; NULL (logged) on failure. */
sqlite3_stmt *cb_sqlite_stmt(cb_store_backend_t *be, stmt_id_t id);

int cb_sqlite_bind_text(sqlite3_stmt *st, int i, char const *s);
int cb_sqlite_bind_int(sqlite3_stmt *st, int i, int64_t v);

/** cb_sqlite_done - step a statement that returns no rows; 0, or -1 logged with what. */
int cb_sqlite_done(cb_store_backend_t *be, sqlite3_stmt *st, char const *what);

/** cb_sqlite_exec - run a statement without rows; 0 or -1. */
int cb_sqlite_exec(cb_store_backend_t *be, stmt_id_t id, char const *what);

/** cb_sqlite_begin - BEGIN IMMEDIATE; 0 or -1. */
int cb_sqlite_begin(cb_store_backend_t *be);

/** cb_sqlite_end - commit when rc >= 0, else roll back; returns rc, or -1 when the commit fails. */
int cb_sqlite_end(cb_store_backend_t *be, int rc);

/** cb_sqlite_changes - rows changed by the last statement. */
size_t cb_sqlite_changes(cb_store_backend_t *be);

/** cb_sqlite_exists - whether statement id (one text parameter, arg) returns a row: 1, 0, or -1 logged with what. */
int cb_sqlite_exists(cb_store_backend_t *be, stmt_id_t id, char const *arg, char const *what);

/** cb_sqlite_has_table - 1 when the table exists, 0 when not, -1. */
int cb_sqlite_has_table(cb_store_backend_t *be, char const *name);

/** cb_sqlite_col_text - copy text column col into buf[size]; false when it does not fit (an edited store). */
bool cb_sqlite_col_text(sqlite3_stmt *st, int col, char *buf, size_t size);

#define COL_TEXT(st, col, field) cb_sqlite_col_text((st), (col), (field), sizeof(field))

time_t cb_sqlite_col_time(sqlite3_stmt *st, int col);

/* A row reader: fills row from the current row; false when it does not fit its record. */
typedef bool (*cb_sqlite_reader_t)(sqlite3_stmt *st, void *row);

/**
 * cb_sqlite_one - step st for at most one row into row.  Returns 0 (row
 * filled), 1 (no row), -1 (error or a row that does not fit, logged).
 */
int cb_sqlite_one(cb_store_backend_t *be, sqlite3_stmt *st, cb_sqlite_reader_t read, void *row, char const *what);

/**
 * cb_sqlite_list - step st for every row, appending records of size bytes
 * to a growing array.  On 0, *items and *count hold the rows (NULL/0 when
 * none); on -1 nothing is allocated.
 */
int cb_sqlite_list(cb_store_backend_t *be, sqlite3_stmt *st, cb_sqlite_reader_t read, size_t size,
		   void **items, size_t *count, char const *what);

/**
 * cb_sqlite_list_skipping - cb_sqlite_list, except that a row read refuses
 * is left out instead of failing the whole list: *skipped counts them and
 * *first_skipped (may be NULL) is the first one's first column, its id.
 * The caller reports them (it knows how often it reads).
 */
int cb_sqlite_list_skipping(cb_store_backend_t *be, sqlite3_stmt *st, cb_sqlite_reader_t read, size_t size,
			    void **items, size_t *count, size_t *skipped, int64_t *first_skipped, char const *what);

/*
 *	Decisions, sessions, disconnect queue (sqlite_sessions.c)
 */
int cb_sqlite_decisions_put(cb_store_backend_t *be, cb_store_decision_t const *d, size_t n);
int cb_sqlite_decision_get(cb_store_backend_t *be, char const *class_id, cb_store_decision_t *out);
int cb_sqlite_session_start(cb_store_backend_t *be, cb_store_acct_t const *a);
int cb_sqlite_session_update(cb_store_backend_t *be, cb_store_acct_t const *a);
int cb_sqlite_session_stop(cb_store_backend_t *be, cb_store_acct_t const *a);
int cb_sqlite_sessions_write(cb_store_backend_t *be, cb_store_sw_t *w, size_t n);
int cb_sqlite_session_get(cb_store_backend_t *be, char const *nas, char const *acct_session_id,
			  cb_store_session_t *out);
int cb_sqlite_nas_reboot(cb_store_backend_t *be, char const *nas, char const *cause, time_t now, size_t *closed,
			 cb_store_sessions_t *out);
int cb_sqlite_close_stale(cb_store_backend_t *be, time_t before, time_t now, size_t *closed,
			  cb_store_sessions_t *out);
int cb_sqlite_sessions_active(cb_store_backend_t *be, cb_store_filter_t const *f, cb_store_sessions_t *out);
int cb_sqlite_disconnect_enqueue(cb_store_backend_t *be, char const *nas, char const *acct_session_id,
				 char const *identity, char const *reason, cb_disc_kind_t kind, bool held,
				 time_t now, int64_t *id);
int cb_sqlite_disconnect_due(cb_store_backend_t *be, time_t now, size_t limit, cb_store_disconnects_t *out);
int cb_sqlite_disconnect_claim(cb_store_backend_t *be, int64_t id, time_t until);
int cb_sqlite_disconnect_mark(cb_store_backend_t *be, int64_t id, cb_disc_result_t result, unsigned int error_cause,
			      char const *detail, time_t next_attempt, time_t now);
int cb_sqlite_disconnect_hold(cb_store_backend_t *be, int64_t const *ids, size_t n, size_t *held);
int cb_sqlite_disconnect_release(cb_store_backend_t *be, bool confirm, time_t now, size_t *count);
int cb_sqlite_disconnects(cb_store_backend_t *be, cb_disc_state_t state, size_t limit, cb_store_disconnects_t *out);

/*
 *	Revocations, exceptions, people, reminders, commands, status,
 *	counts and purge (sqlite_admin.c)
 */
int cb_sqlite_revoke(cb_store_backend_t *be, char const *identity, char const *reason, char const *by, time_t now);
int cb_sqlite_reinstate(cb_store_backend_t *be, char const *identity, char const *by, time_t now);
int cb_sqlite_is_revoked(cb_store_backend_t *be, char const *identity, cb_store_revocation_t *out);
int cb_sqlite_revocations(cb_store_backend_t *be, bool history, cb_store_revocations_t *out);
int cb_sqlite_exception_add(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
			    char const *approved_by, char const *by, time_t until, time_t now, int64_t *id);
int cb_sqlite_exception_end(cb_store_backend_t *be, char const *identity, char const *mac, char const *by,
			    time_t now, size_t *ended);
int cb_sqlite_exceptions(cb_store_backend_t *be, bool history, cb_store_exceptions_t *out);
int cb_sqlite_people_update(cb_store_backend_t *be, bool replace, char const *const *removed, size_t n_removed,
			    cb_store_person_next_fn next, void *ctx);
int cb_sqlite_people(cb_store_backend_t *be, cb_store_people_t *out);
int cb_sqlite_reminder_put(cb_store_backend_t *be, cb_store_reminder_t const *r);
int cb_sqlite_reminder_sent(cb_store_backend_t *be, char const *email, time_t ack_expiry, unsigned int window_days);
int cb_sqlite_reminders(cb_store_backend_t *be, time_t since, cb_store_reminders_t *out);
int cb_sqlite_devices(cb_store_backend_t *be, char const *identity, time_t since, cb_store_devices_t *out);
int cb_sqlite_sessions_since(cb_store_backend_t *be, time_t since, size_t limit, cb_store_sessions_t *out);

/* sqlite_devices.c */
/** cb_sqlite_decision_device - the device of an admission d (its Calling-Station-Id, when a MAC) into devices. */
int cb_sqlite_decision_device(cb_store_backend_t *be, cb_store_decision_t const *d);
int cb_sqlite_devices_seen(cb_store_backend_t *be, cb_store_seen_t const *items, size_t n);
int cb_sqlite_device_seen(cb_store_backend_t *be, char const *identity, char const *mac, char const *nas, bool counted,
			  time_t now);
int cb_sqlite_devices_known(cb_store_backend_t *be, char const *identity, time_t since,
			    cb_store_known_devices_t *out);
int cb_sqlite_devices_forget(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
			     char const *by, time_t now, size_t *removed);
int cb_sqlite_device_forgets(cb_store_backend_t *be, int64_t after, cb_store_device_forgets_t *out);
int cb_sqlite_command_enqueue(cb_store_backend_t *be, cb_cmd_t cmd, char const *arg, char const *by, time_t now);
int cb_sqlite_commands_take(cb_store_backend_t *be, cb_store_commands_t *out);
int cb_sqlite_status_put(cb_store_backend_t *be, char const *key, char const *value, time_t now);
int cb_sqlite_status_get(cb_store_backend_t *be, char const *key, cb_store_status_t *out);
int cb_sqlite_statuses(cb_store_backend_t *be, cb_store_statuses_t *out);
int cb_sqlite_counts(cb_store_backend_t *be, cb_store_counts_t *out);
int cb_sqlite_purge(cb_store_backend_t *be, time_t before, size_t *removed);

/*
 *	The audit index and the export (sqlite_audit.c)
 */
int cb_sqlite_audit_attach(cb_store_backend_t *be);
int cb_sqlite_audit_put(cb_store_backend_t *be, cb_store_audit_entry_t const *entries, size_t n);
int cb_sqlite_audit_last(cb_store_backend_t *be, uint64_t *seq, char hash[CB_STORE_HASH_HEX + 1]);
int cb_sqlite_audit_tally(cb_store_backend_t *be, char const *type, cb_store_tally_fn fn, void *ctx);
int cb_sqlite_audit_count(cb_store_backend_t *be, uint64_t from, uint64_t to, uint64_t *count, uint64_t *first);
int cb_sqlite_audit_has_ref(cb_store_backend_t *be, char const *ref);
int cb_sqlite_audit_query(cb_store_backend_t *be, cb_store_audit_filter_t const *f, cb_store_audit_rows_t *out);
int cb_sqlite_audit_sessions(cb_store_backend_t *be, char const *ip, char const *nas, cb_store_audit_rows_t *out);
int cb_sqlite_audit_purge(cb_store_backend_t *be, time_t before, size_t *removed);
int cb_sqlite_export_person(cb_store_backend_t *be, char const *identity, cb_store_export_fn fn, void *ctx);
int cb_sqlite_table_rows(cb_store_backend_t *be, char const *table, cb_store_export_fn fn, void *ctx);

#endif
