/*
 * pg_int.h - what the files of the PostgreSQL backend share: the
 * connection (struct cb_store_backend), the query helpers (every value a
 * parameter of a statement prepared once per connection, pg.c: no SQL is
 * ever built from values), the row
 * readers' helpers, and each file's operations for the table in pg.c.
 *
 *	pg.c		connection, reconnection, schema and migrations, helpers, the ops table
 *	pg_sessions.c	decisions, sessions, the disconnect queue
 *	pg_admin.c	revocations, exceptions, people, reminders, commands, status, counts, purge
 *	pg_devices.c	the devices seen per person, and IT's forgetting of them
 *	pg_audit.c	the audit index and the subject access export
 *	pg_notify.c	NOTIFY of changes, and the thread that LISTENs for them
 *
 * Every operation runs under the front's mutex (store.c), so the backend
 * needs no lock of its own.  Only lib/store/pg*.c include this.
 */
#ifndef CETBYOD_STORE_PG_INT_H
#define CETBYOD_STORE_PG_INT_H

#include <libpq-fe.h>

#include "store/store_int.h"

#define PG_PARAMS_MAX		24		/* Parameters of one statement. */
#define PG_LIST_MAX		100000		/* Rows one list may hold. */
#define PG_SCHEMA_LOCK_KEY	"1128421700"	/* pg_advisory_xact_lock key of schema changes: 'CBYD'. */
#define PG_PEOPLE_LOCK		"1128421701"	/* pg_try_advisory_lock key of the people list's keeper. */
#define PG_DISC_LOCK_CLASS	"1128421702"	/* pg_advisory_xact_lock(class, hash of the session key): queueing its disconnects. */
#define PG_CLAIM_MARK		"sending: "	/* detail of a reminder being sent (pg_admin.c). */
#define PG_WHERE_MAX		256		/* "host:port" of the server, for messages. */
#define PG_STMTS_MAX		128		/* Statements prepared on one connection, at most (pg.c). */
#define PG_BATCH_MAX		512		/* Statements cb_pg_exec_many sends in one pipeline, at most. */

struct cb_store_backend {
	PGconn		*conn;
	char		where[PG_WHERE_MAX];	/* "PostgreSQL at host:port/dbname": no password, ever. */
	char		server_id[CB_STORE_NAME_MAX + 1];
	cb_log_fn_t	log;
	void		*log_ctx;
	char		sqlstate[6];		/* SQLSTATE of the last failure ("" when the connection failed). */
	bool		conn_lost;		/* The last failure was the connection's. */
	bool		down_logged;		/* "unreachable" logged once per outage. */
	bool		in_tx;
	bool		people_lead;		/* Holds PG_PEOPLE_LOCK (on this connection: reset with it). */
	char		*conninfo;		/* For the listening connection (pg_notify.c). */
	char		*password;		/* NULL when none; wiped at close. */
	unsigned int	tx_depth;		/* cb_pg_begin inside a transaction: nested (store_spool.c's replay). */
	bool		tx_failed;		/* A nested part failed: the whole transaction rolls back. */
	struct {
		uint64_t	hash;		/* FNV-1a of sql. */
		char		*sql;		/* Prepared as "cb<index>" on this connection. */
	}		stmts[PG_STMTS_MAX];	/* Forgotten when the connection is reset (the server forgets them). */
	size_t		n_stmts;
};

#define PG_ERR(be, ...) do { if ((be)->log) (be)->log((be)->log_ctx, CB_LOG_ERROR, __VA_ARGS__); } while (0)

/* The parameters of one statement, as text (NULL: SQL NULL). */
typedef struct {
	int		n;
	char const	*v[PG_PARAMS_MAX];
	char		num[PG_PARAMS_MAX][24];
} cb_pg_params_t;

void cb_pg_text(cb_pg_params_t *p, char const *s);	/* NULL binds '' (as the SQLite backend). */
void cb_pg_int(cb_pg_params_t *p, int64_t v);
void cb_pg_null(cb_pg_params_t *p);
void cb_pg_bool(cb_pg_params_t *p, bool v);

/**
 * cb_pg_query - run sql with p (NULL: none); the result (rows or none), or
 * NULL with the failure logged with what.  Reconnects first when the
 * connection was lost (outside a transaction).
 */
PGresult *cb_pg_query(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, char const *what);

/** cb_pg_exec - run a statement without rows; 0 or -1 (logged).  changed (may be NULL): rows it changed. */
int cb_pg_exec(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, char const *what, size_t *changed);

/**
 * cb_pg_exec_many - run sql once with each of p[0..n-1] (n <= PG_BATCH_MAX),
 * in one round trip (libpq's pipeline mode), inside the caller's
 * transaction (cb_pg_begin); 0, or -1 (the first failure logged with what:
 * the statements after it were not run, and the transaction must roll back).
 * changed (may be NULL): changed[i], the rows the statement with p[i] changed.
 */
int cb_pg_exec_many(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, size_t n, char const *what,
		    size_t *changed);

/** cb_pg_script - run statements without values (a schema file); 0 or -1 (logged). */
int cb_pg_script(cb_store_backend_t *be, char const *sql, char const *what);

/** cb_pg_begin - BEGIN (inside a transaction: joins it); 0 or -1. */
int cb_pg_begin(cb_store_backend_t *be);

/** cb_pg_end - COMMIT when rc >= 0, else ROLLBACK; rc, or -1 when the commit fails. */
int cb_pg_end(cb_store_backend_t *be, int rc);

/** cb_pg_col_text - copy column col of row into buf[size]; false when it does not fit. */
bool cb_pg_col_text(PGresult const *r, int row, int col, char *buf, size_t size);
int64_t cb_pg_col_int(PGresult const *r, int row, int col);	/* NULL reads 0. */

#define PG_TEXT(r, row, col, field) cb_pg_col_text((r), (row), (col), (field), sizeof(field))

typedef bool (*cb_pg_reader_t)(PGresult const *r, int row, void *out);

/** cb_pg_one - at most one row into out: 0 (filled), 1 (no row), -1 (logged). */
int cb_pg_one(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, cb_pg_reader_t read, void *out,
	      char const *what);

/** cb_pg_list - every row, as records of size bytes: 0 with *items and *count (NULL and 0 when none), or -1. */
int cb_pg_list(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, cb_pg_reader_t read, size_t size,
	       void **items, size_t *count, char const *what);

/** cb_pg_list_skipping - cb_pg_list leaving out rows read refuses: *skipped counts them (first: column 0). */
int cb_pg_list_skipping(cb_store_backend_t *be, char const *sql, cb_pg_params_t const *p, cb_pg_reader_t read,
			size_t size, void **items, size_t *count, size_t *skipped, int64_t *first_skipped,
			char const *what);

/* The columns read by the shared readers (pg_sessions.c). */
#define PG_SES_COLS "s.id, s.nas, s.acct_session_id, s.class_id, s.identity, s.outer_identity, s.calling_station, " \
		    "s.called_station, s.ap, s.ssid, s.framed_ip, s.nas_ip, s.nas_identifier, s.status, " \
		    "COALESCE(d.valid_until, 0), s.started, s.last_seen, s.stopped, s.stop_cause, s.in_octets, " \
		    "s.out_octets FROM sessions s LEFT JOIN decisions d ON d.class_id = s.class_id "
bool cb_pg_read_session(PGresult const *r, int row, void *out);

/*
 *	Decisions, sessions, disconnect queue (pg_sessions.c)
 */
int cb_pg_decisions_put(cb_store_backend_t *be, cb_store_decision_t const *d, size_t n);
int cb_pg_decision_get(cb_store_backend_t *be, char const *class_id, cb_store_decision_t *out);
int cb_pg_session_start(cb_store_backend_t *be, cb_store_acct_t const *a);
int cb_pg_session_update(cb_store_backend_t *be, cb_store_acct_t const *a);
int cb_pg_session_stop(cb_store_backend_t *be, cb_store_acct_t const *a);
int cb_pg_sessions_write(cb_store_backend_t *be, cb_store_sw_t *w, size_t n);
int cb_pg_session_get(cb_store_backend_t *be, char const *nas, char const *acct_session_id, cb_store_session_t *out);
int cb_pg_nas_reboot(cb_store_backend_t *be, char const *nas, char const *cause, time_t now, size_t *closed,
		     cb_store_sessions_t *out);
int cb_pg_close_stale(cb_store_backend_t *be, time_t before, time_t now, size_t *closed, cb_store_sessions_t *out);
int cb_pg_sessions_active(cb_store_backend_t *be, cb_store_filter_t const *f, cb_store_sessions_t *out);
int cb_pg_disconnect_enqueue(cb_store_backend_t *be, char const *nas, char const *acct_session_id,
			     char const *identity, char const *reason, cb_disc_kind_t kind, bool held, time_t now,
			     int64_t *id);
int cb_pg_disconnect_due(cb_store_backend_t *be, time_t now, size_t limit, cb_store_disconnects_t *out);
int cb_pg_disconnect_claim(cb_store_backend_t *be, int64_t id, time_t until);
int cb_pg_disconnect_take(cb_store_backend_t *be, time_t now, time_t until, size_t limit,
			  cb_store_disconnects_t *out);
int cb_pg_disconnect_mark(cb_store_backend_t *be, int64_t id, cb_disc_result_t result, unsigned int error_cause,
			  char const *detail, time_t next_attempt, time_t now);
int cb_pg_disconnect_hold(cb_store_backend_t *be, int64_t const *ids, size_t n, size_t *held);
int cb_pg_disconnect_release(cb_store_backend_t *be, bool confirm, time_t now, size_t *count);
int cb_pg_disconnects(cb_store_backend_t *be, cb_disc_state_t state, size_t limit, cb_store_disconnects_t *out);

/*
 *	Revocations, exceptions, people, reminders, commands, status, counts, purge (pg_admin.c)
 */
int cb_pg_revoke(cb_store_backend_t *be, char const *identity, char const *reason, char const *by, time_t now);
int cb_pg_reinstate(cb_store_backend_t *be, char const *identity, char const *by, time_t now);
int cb_pg_is_revoked(cb_store_backend_t *be, char const *identity, cb_store_revocation_t *out);
int cb_pg_revocations(cb_store_backend_t *be, bool history, cb_store_revocations_t *out);
int cb_pg_exception_add(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
			char const *approved_by, char const *by, time_t until, time_t now, int64_t *id);
int cb_pg_exception_end(cb_store_backend_t *be, char const *identity, char const *mac, char const *by, time_t now,
			size_t *ended);
int cb_pg_exceptions(cb_store_backend_t *be, bool history, cb_store_exceptions_t *out);
int cb_pg_people_update(cb_store_backend_t *be, bool replace, char const *const *removed, size_t n_removed,
			cb_store_person_next_fn next, void *ctx);
int cb_pg_people(cb_store_backend_t *be, cb_store_people_t *out);
int cb_pg_reminder_put(cb_store_backend_t *be, cb_store_reminder_t const *r);
int cb_pg_reminder_sent(cb_store_backend_t *be, char const *email, time_t ack_expiry, unsigned int window_days);
int cb_pg_reminder_claim(cb_store_backend_t *be, cb_store_reminder_t const *r);
int cb_pg_reminder_unclaim(cb_store_backend_t *be, char const *email, time_t ack_expiry, unsigned int window_days);
int cb_pg_reminders(cb_store_backend_t *be, time_t since, cb_store_reminders_t *out);
int cb_pg_command_enqueue(cb_store_backend_t *be, cb_cmd_t cmd, char const *arg, char const *by, time_t now);
int cb_pg_commands_take(cb_store_backend_t *be, cb_store_commands_t *out);
int cb_pg_status_put(cb_store_backend_t *be, char const *key, char const *value, time_t now);
int cb_pg_status_get(cb_store_backend_t *be, char const *key, cb_store_status_t *out);
int cb_pg_statuses(cb_store_backend_t *be, cb_store_statuses_t *out);
int cb_pg_counts(cb_store_backend_t *be, cb_store_counts_t *out);
int cb_pg_purge(cb_store_backend_t *be, time_t before, size_t *removed);

/*
 *	Devices (pg_devices.c)
 */
int cb_pg_decision_device(cb_store_backend_t *be, cb_store_decision_t const *d);
int cb_pg_devices(cb_store_backend_t *be, char const *identity, time_t since, cb_store_devices_t *out);
int cb_pg_sessions_since(cb_store_backend_t *be, time_t since, size_t limit, cb_store_sessions_t *out);
int cb_pg_device_seen(cb_store_backend_t *be, char const *identity, char const *mac, char const *nas, bool counted,
		      time_t now);
int cb_pg_devices_seen(cb_store_backend_t *be, cb_store_seen_t const *items, size_t n);
int cb_pg_devices_known(cb_store_backend_t *be, char const *identity, time_t since, cb_store_known_devices_t *out);
int cb_pg_devices_forget(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
			 char const *by, time_t now, size_t *removed);
int cb_pg_device_forgets(cb_store_backend_t *be, int64_t after, cb_store_device_forgets_t *out);

/*
 *	The audit index and the export (pg_audit.c)
 */
int cb_pg_audit_attach(cb_store_backend_t *be);
int cb_pg_audit_put(cb_store_backend_t *be, cb_store_audit_entry_t const *entries, size_t n);
int cb_pg_audit_last(cb_store_backend_t *be, uint64_t *seq, char hash[CB_STORE_HASH_HEX + 1]);
int cb_pg_audit_count(cb_store_backend_t *be, uint64_t from, uint64_t to, uint64_t *count, uint64_t *first);
int cb_pg_audit_has_ref(cb_store_backend_t *be, char const *ref);
int cb_pg_audit_tally(cb_store_backend_t *be, char const *type, cb_store_tally_fn fn, void *ctx);
int cb_pg_audit_query(cb_store_backend_t *be, cb_store_audit_filter_t const *f, cb_store_audit_rows_t *out);
int cb_pg_audit_sessions(cb_store_backend_t *be, char const *ip, char const *nas, cb_store_audit_rows_t *out);
int cb_pg_audit_purge(cb_store_backend_t *be, time_t before, size_t *removed);
int cb_pg_export_person(cb_store_backend_t *be, char const *identity, cb_store_export_fn fn, void *ctx);

/*
 *	Loading a copy of another store (pg_load.c, for cb_store_copy)
 */
int cb_pg_load_begin(cb_store_backend_t *be, char const *const *tables, size_t n, bool replace);
int cb_pg_load_row(cb_store_backend_t *be, char const *table, cb_store_field_t const *fields, size_t n);
int cb_pg_load_end(cb_store_backend_t *be, int rc, char const *const *tables, size_t n);

/*
 *	Changes (pg_notify.c)
 */
#define CB_PG_CHANNEL		"cetbyod_change"	/* LISTEN/NOTIFY channel. */

typedef struct cb_pg_watch cb_pg_watch_t;

/** cb_pg_notify - NOTIFY the servers of a change (what: its kind), in the current transaction; 0 or -1. */
int cb_pg_notify(cb_store_backend_t *be, char const *what);

/** cb_pg_watch_start - a thread that LISTENs on a connection of its own and calls fn on each change. */
cb_store_watch_t *cb_pg_watch_start(cb_store_backend_t *be, cb_store_change_fn fn, void *ctx, char *err,
				    size_t errlen);

/** cb_pg_spool_apply - a spooled write, once: see cb_store_ops_t.spool_apply (pg_spool.c). */
int cb_pg_spool_apply(cb_store_backend_t *be, char const *name, char const *gen, uint64_t last,
		      int (*apply)(cb_store_backend_t *be, void *ctx, uint64_t after), void *ctx);

#endif
