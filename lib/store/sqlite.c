/*
 * sqlite.c - the SQLite backend of the store: opening the file, the schema
 * and its migrations, the cache of prepared statements and the helpers
 * that step them, and the table of operations (the operations themselves
 * are in sqlite_sessions.c, sqlite_admin.c and sqlite_audit.c).
 *
 * The backend keeps one connection and a cache of prepared statements,
 * prepared on first use.  Every call that changes more than one row, or
 * reads before it writes, runs in a BEGIN IMMEDIATE transaction, so it is
 * atomic with respect to other processes (cetbyodctl) and rolled back as a
 * whole on error: "nothing is changed" holds across processes.
 *
 * Opening a file:
 *   1. missing: created here with open(O_EXCL, 0600) (and given to the
 *      directory's owner when we are root), never by SQLite with its 0644;
 *   2. journal_mode = WAL (SQLite creates -wal and -shm with the database's
 *      mode and, as root, its owner), synchronous = FULL, foreign_keys = ON,
 *      a busy handler (sq_busy) bounded by busy_timeout;
 *   3. in one BEGIN IMMEDIATE transaction: user_version 0 and no tables ->
 *      run the schema (a byte-for-byte copy of schema/sql/cetbyod.sql);
 *      an older version -> the migrations in order; a newer version, a
 *      foreign application_id, or tables without a version -> refused,
 *      file untouched.
 *   4. with group_commit (the module's request path): WAL checkpoints run
 *      on a second connection in a thread of their own (ckpt_main, every
 *      CKPT_MS, PASSIVE: it never takes the write lock), not in the commit
 *      that crosses SQLite's 1,000 pages, where its fdatasync of the
 *      database held the store's mutex and every accounting request of the
 *      next group waited for it; the request connection still checkpoints
 *      itself past CKPT_BACKSTOP pages, should the thread fall behind.
 * A file that is not a database at all fails at step 2 or 3 with SQLite's
 * "file is not a database", which we report with the path.  The audit
 * index (schema/sql/audit.sql) is created by cb_sqlite_audit_attach when
 * the audit trail first attaches to the store.
 *
 * Example, one session's life:
 *   Access-Accept     decision_put(class_id c, identity alice, status admit)
 *   Acct Start        session_start(nas 10.0.0.2, id 5F3A, class c, identity NULL)
 *                       -> identity and status copied from decision c
 *   Interim-Update    session_update(...)  last_seen, octets
 *   revoke alice      revoke(); enqueue(10.0.0.2, 5F3A, disconnect)
 *   sent to the NAS   disconnect_claim(id, until): not due again while in flight
 *   Disconnect-ACK    disconnect_mark(id, ACKED) -> done
 *   (or Disconnect-NAK 503: done, and the session closed: the NAS has no such session)
 *   Acct Stop         session_stop(..., cause Admin-Reset) -> stopped
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/worker.h"
#include "store/sqlite_int.h"

#define STORE_APPLICATION_ID	1128421700	/* 'CBYD' */
#define STORE_BUSY_DEFAULT_MS	5000

/*
 *	The schema: schema/sql/cetbyod.sql, turned into a C string by make
 *	(mk/store.am), so there is one copy to edit.
 */
#include "store/store_schema.h"
#include "store/store_schema_2.h"
#include "store/store_schema_3.h"
#include "store/store_schema_4.h"
#include "store/store_schema_5.h"
#include "store/store_schema_audit.h"

char const *cb_store_schema(void)
{
	return store_schema;
}

/*
 *	Migrations: migrations[v - 1] takes a store from version v to v + 1.
 *	1 -> 2: schema/sql/cetbyod-2.sql (exceptions register, people,
 *	reminders); 2 -> 3: cetbyod-3.sql (decisions.role, any role name in
 *	people); 3 -> 4: cetbyod-4.sql (devices seen per person, devices
 *	forgotten by IT); 4 -> 5: cetbyod-5.sql (no index of sessions by
 *	class id).  A new store runs cetbyod.sql and then these, so the two
 *	paths give the same schema.
 */
static char const *const migrations[CB_STORE_SCHEMA_VERSION] = { store_schema_2, store_schema_3, store_schema_4,
								  store_schema_5, NULL };

char const *cb_store_audit_schema(void)
{
	return store_schema_audit;
}

/*
 *	The statements
 */
#define DEC_COLS "class_id, identity, outer_identity, status, reason, decided_at, valid_until, ack_time, " \
		 "policy_version, nas, calling_station, ack_email, role"
#define SES_COLS "s.id, s.nas, s.acct_session_id, s.class_id, s.identity, s.outer_identity, s.calling_station, " \
		 "s.called_station, s.ap, s.ssid, s.framed_ip, s.nas_ip, s.nas_identifier, s.status, " \
		 "COALESCE(d.valid_until, 0), s.started, s.last_seen, s.stopped, s.stop_cause, s.in_octets, s.out_octets " \
		 "FROM sessions s LEFT JOIN decisions d ON d.class_id = s.class_id "
/* The columns of SES_COLS, for a RETURNING clause (no join: valid_until is 0). */
#define CLOSED_COLS "id, nas, acct_session_id, class_id, identity, outer_identity, calling_station, " \
		    "called_station, ap, ssid, framed_ip, nas_ip, nas_identifier, status, 0, started, last_seen, " \
		    "stopped, stop_cause, in_octets, out_octets"
#define REV_COLS "id, identity, reason, revoked_by, revoked_at, reinstated_by, COALESCE(reinstated_at, 0)"
#define DISC_COLS "id, nas, acct_session_id, identity, reason, kind, state, attempts, created_at, next_attempt, " \
		  "last_attempt, last_result, error_cause, detail"
#define EXC_COLS "id, identity, mac, reason, approved_by, granted_by, granted_at, until, ended_by, " \
		 "COALESCE(ended_at, 0)"
#define PEOPLE_COLS "identity, email, role, disabled, exception_reason, exception_approved_by, exception_until, " \
		    "ack_time, ack_expiry, ack_revoked, policy_version, status, reason, refreshed_at"
#define AUDIT_COLS CB_SQLITE_AUDIT_COLS
#define NONEMPTY(n, col) col " = COALESCE(NULLIF(?" #n ", ''), " col ")"

/* The update of the key's open session (S_SES_UPDATE, S_SES_UPDATE_SAME). */
#define SES_UPDATE "UPDATE sessions SET " CB_SES_KEEP_TEXT ", last_seen = max(last_seen, ?15), stopped = ?16, " \
	NONEMPTY(17, "stop_cause") ", in_octets = CASE WHEN ?18 THEN ?19 ELSE in_octets END, " \
	"out_octets = CASE WHEN ?18 THEN ?20 ELSE out_octets END " \
	"WHERE nas = ?1 AND acct_session_id = ?2 AND stopped IS NULL"

/*
 * Session statements share their parameters (bind_acct):
 * ?1 nas ?2 acct_session_id ?3 class_id ?4 identity ?5 outer_identity
 * ?6 calling_station ?7 called_station ?8 ap ?9 ssid ?10 framed_ip ?11 nas_ip
 * ?12 nas_identifier ?13 status ?14 started ?15 event time ?16 stopped (NULL: open)
 * ?17 stop_cause ?18 has_octets ?19 in_octets ?20 out_octets
 */
static char const *const stmt_sql[S_MAX] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",

	[S_DEC_PUT] = "INSERT INTO decisions (" DEC_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	/* A keyed Class's decision, recorded by its first accounting (a repeat changes nothing). */
	[S_DEC_PUT_NEW] = "INSERT OR IGNORE INTO decisions (" DEC_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
		"?10, ?11, ?12, ?13)",
	[S_DEC_GET] = "SELECT " DEC_COLS " FROM decisions WHERE class_id = ?1",

	[S_SES_INSERT] = "INSERT INTO sessions (nas, acct_session_id, class_id, identity, outer_identity, "
		"calling_station, called_station, ap, ssid, framed_ip, nas_ip, nas_identifier, status, started, "
		"last_seen, stopped, stop_cause, in_octets, out_octets) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
		"?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, CASE WHEN ?18 THEN ?19 ELSE 0 END, "
		"CASE WHEN ?18 THEN ?20 ELSE 0 END)",
	[S_SES_BYID] = "SELECT " CLOSED_COLS " FROM sessions WHERE id = ?1",
	[S_SES_UPDATE] = SES_UPDATE,
	/* A keyed Class's Interim or Stop: only a row that names its class id already (acct.c). */
	[S_SES_UPDATE_SAME] = SES_UPDATE " AND class_id = ?3",
	[S_SES_REOPEN] = "UPDATE sessions SET stopped = NULL, stop_cause = '' WHERE id = ?1",
	/* The open session of the key, else its latest (S_SES_GET's order, without the join): two index
	 * probes, no sorter (ORDER BY stopped IS NULL DESC, id DESC cost a fifth of a write's instructions). */
	[S_SES_FIND] = "SELECT " CLOSED_COLS " FROM sessions WHERE id = COALESCE((SELECT id FROM sessions "
		"WHERE nas = ?1 AND acct_session_id = ?2 AND stopped IS NULL), (SELECT max(id) FROM sessions "
		"WHERE nas = ?1 AND acct_session_id = ?2))",
	[S_SES_GET] = "SELECT " SES_COLS "WHERE s.nas = ?1 AND s.acct_session_id = ?2 "
		"ORDER BY s.stopped IS NULL DESC, s.id DESC LIMIT 1",
	[S_SES_NAS_REBOOT] = "UPDATE sessions SET stopped = max(last_seen, ?2), stop_cause = ?3 "
		"WHERE nas = ?1 AND stopped IS NULL RETURNING " CLOSED_COLS,
	[S_SES_STALE] = "UPDATE sessions SET stopped = last_seen, stop_cause = 'Stale' "
		"WHERE stopped IS NULL AND last_seen < ?1 RETURNING " CLOSED_COLS,
	[S_SES_ACTIVE] = "SELECT " SES_COLS "WHERE s.stopped IS NULL "
		"AND (?1 = '' OR s.identity = ?1) AND (?2 = '' OR s.status = ?2) "
		"AND (?3 = 0 OR (d.valid_until > 0 AND d.valid_until <= ?3)) "
		"AND (?4 = 0 OR EXISTS (SELECT 1 FROM revocations r WHERE r.identity = s.identity "
		"AND r.reinstated_at IS NULL AND s.identity <> '')) "
		"ORDER BY s.started, s.id LIMIT ?5",

	[S_REV_UPDATE] = "UPDATE revocations SET reason = ?2, revoked_by = ?3, revoked_at = ?4 "
		"WHERE identity = ?1 AND reinstated_at IS NULL",
	[S_REV_INSERT] = "INSERT INTO revocations (identity, reason, revoked_by, revoked_at) VALUES (?1, ?2, ?3, ?4)",
	[S_REV_REINSTATE] = "UPDATE revocations SET reinstated_by = ?2, reinstated_at = ?3 "
		"WHERE identity = ?1 AND reinstated_at IS NULL",
	[S_REV_GET] = "SELECT " REV_COLS " FROM revocations WHERE identity = ?1 AND reinstated_at IS NULL",
	[S_REV_LIST] = "SELECT " REV_COLS " FROM revocations WHERE ?1 OR reinstated_at IS NULL "
		"ORDER BY revoked_at DESC, id DESC",

	[S_DISC_FIND_OPEN] = "SELECT id FROM disconnects WHERE nas = ?1 AND acct_session_id = ?2 AND kind = ?3 "
		"AND state IN ('pending', 'held')",
	[S_DISC_SESSION_ID] = "SELECT id FROM sessions WHERE nas = ?1 AND acct_session_id = ?2 "
		"ORDER BY stopped IS NULL DESC, id DESC LIMIT 1",
	[S_DISC_INSERT] = "INSERT INTO disconnects (session_id, nas, acct_session_id, identity, reason, kind, state, "
		"created_at, updated_at, next_attempt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?8)",
	[S_DISC_DUE] = "SELECT " DISC_COLS " FROM disconnects WHERE state = 'pending' AND next_attempt <= ?1 "
		"ORDER BY next_attempt, id LIMIT ?2",
	[S_DISC_CLAIM] = "UPDATE disconnects SET next_attempt = ?2 WHERE id = ?1 AND state = 'pending'",
	/* A NAK with Error-Cause 503 (Session Context Not Found): nothing is left to disconnect. */
	[S_DISC_MARK] = "UPDATE disconnects SET attempts = attempts + 1, last_attempt = ?2, updated_at = ?2, "
		"last_result = ?3, error_cause = ?4, detail = ?5, "
		"state = CASE WHEN ?3 = 'acked' OR (?3 = 'nak' AND ?4 = 503) THEN 'done' "
		"WHEN ?6 = 0 THEN 'failed' ELSE 'pending' END, "
		"next_attempt = CASE WHEN ?3 = 'acked' OR (?3 = 'nak' AND ?4 = 503) OR ?6 = 0 THEN next_attempt "
		"ELSE ?6 END "
		"WHERE id = ?1 AND state = 'pending'",
	[S_DISC_GONE] = "UPDATE sessions SET stopped = max(last_seen, ?2), stop_cause = 'Session-Context-Not-Found' "
		"WHERE stopped IS NULL AND (nas, acct_session_id) = "
		"(SELECT nas, acct_session_id FROM disconnects WHERE id = ?1)",
	[S_DISC_HOLD] = "UPDATE disconnects SET state = 'held' WHERE id = ?1 AND state = 'pending'",
	[S_DISC_RELEASE] = "UPDATE disconnects SET state = ?1, next_attempt = ?2, updated_at = ?2 WHERE state = 'held'",
	[S_DISC_LIST] = "SELECT " DISC_COLS " FROM disconnects WHERE state = ?1 "
		"ORDER BY CASE WHEN ?1 IN ('pending', 'held') THEN id ELSE -id END LIMIT ?2",

	[S_CMD_INSERT] = "INSERT INTO commands (command, arg, requested_by, created_at) VALUES (?1, ?2, ?3, ?4)",
	[S_CMD_LIST] = "SELECT id, command, arg, requested_by, created_at FROM commands ORDER BY id",
	[S_CMD_DELETE] = "DELETE FROM commands WHERE id <= ?1",

	[S_ST_PUT] = "INSERT OR REPLACE INTO status (key, value, updated_at) VALUES (?1, ?2, ?3)",
	[S_ST_GET] = "SELECT key, value, updated_at FROM status WHERE key = ?1",
	[S_ST_LIST] = "SELECT key, value, updated_at FROM status ORDER BY key",

	[S_COUNTS] = "SELECT (SELECT count(*) FROM decisions), (SELECT count(*) FROM sessions), "
		"(SELECT count(*) FROM sessions WHERE stopped IS NULL), "
		"(SELECT count(DISTINCT identity) FROM sessions WHERE stopped IS NULL AND identity <> ''), "
		"(SELECT count(*) FROM revocations WHERE reinstated_at IS NULL), "
		"(SELECT count(*) FROM disconnects WHERE state = 'pending'), "
		"(SELECT count(*) FROM disconnects WHERE state = 'held'), "
		"(SELECT count(*) FROM disconnects WHERE state = 'failed'), "
		"(SELECT count(*) FROM commands)",

	[S_PURGE_DISC] = "DELETE FROM disconnects WHERE state IN ('done', 'failed', 'cancelled') AND updated_at < ?1",
	[S_PURGE_SES] = "DELETE FROM sessions WHERE stopped IS NOT NULL AND stopped < ?1",
	[S_PURGE_DEC] = "DELETE FROM decisions WHERE decided_at < ?1 AND class_id NOT IN "
		"(SELECT class_id FROM sessions WHERE stopped IS NULL)",
	[S_PURGE_REV] = "DELETE FROM revocations WHERE reinstated_at IS NOT NULL AND reinstated_at < ?1",
	[S_PURGE_EXC] = "DELETE FROM exceptions WHERE COALESCE(ended_at, until) < ?1",
	[S_PURGE_REM] = "DELETE FROM reminders WHERE sent_at < ?1",

	[S_EXC_UPDATE] = "UPDATE exceptions SET reason = ?3, approved_by = ?4, granted_by = ?5, granted_at = ?6, "
		"until = ?7 WHERE identity = ?1 AND mac = ?2 AND ended_at IS NULL",
	[S_EXC_INSERT] = "INSERT INTO exceptions (identity, mac, reason, approved_by, granted_by, granted_at, until) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_EXC_END] = "UPDATE exceptions SET ended_by = ?3, ended_at = ?4 "
		"WHERE identity = ?1 AND (?2 = '' OR mac = ?2) AND ended_at IS NULL",
	[S_EXC_LIST] = "SELECT " EXC_COLS " FROM exceptions WHERE ?1 OR ended_at IS NULL "
		"ORDER BY granted_at DESC, id DESC",

	[S_PEOPLE_CLEAR] = "DELETE FROM people",
	[S_PEOPLE_DELETE] = "DELETE FROM people WHERE identity = ?1",
	[S_PEOPLE_INSERT] = "INSERT OR REPLACE INTO people (" PEOPLE_COLS ") "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[S_PEOPLE_LIST] = "SELECT " PEOPLE_COLS " FROM people ORDER BY identity",

	[S_REM_INSERT] = "INSERT OR IGNORE INTO reminders (identity, email, ack_expiry, window_days, sent_at, result, "
		"detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_DEVICES] = "SELECT identity, upper(replace(calling_station, ':', '-')) AS dev, count(*), "
		"sum(stopped IS NULL), min(started), max(COALESCE(stopped, last_seen)) AS seen FROM sessions "
		"WHERE identity <> '' AND calling_station <> '' AND (?1 = '' OR identity = ?1) "
		"AND COALESCE(stopped, last_seen) >= ?2 GROUP BY identity, dev ORDER BY identity, seen DESC",
	[S_REM_GET] = "SELECT 1 FROM reminders WHERE email = ?1 AND ack_expiry = ?2 AND window_days = ?3",
	[S_REM_LIST] = "SELECT identity, email, ack_expiry, window_days, sent_at, result, detail FROM reminders "
		"WHERE sent_at >= ?1 ORDER BY sent_at DESC, id DESC",

	[S_KDEV_LIST] = "SELECT identity, mac, first_seen, last_seen, nas, counted FROM devices "
		"WHERE (?1 = '' OR identity = ?1) AND last_seen >= ?2 ORDER BY identity, last_seen DESC, mac",
	[S_KDEV_PUT] = "INSERT INTO devices (identity, mac, first_seen, last_seen, nas, counted) "
		"VALUES (?1, ?2, ?3, ?3, ?4, ?5) ON CONFLICT (identity, mac) DO UPDATE SET "
		"last_seen = max(last_seen, excluded.last_seen), nas = excluded.nas, "
		"counted = max(counted, excluded.counted)",
	[S_KDEV_TOUCH] = "UPDATE devices SET last_seen = max(last_seen, ?3), nas = ?4, counted = max(counted, ?5) "
		"WHERE identity = ?1 AND mac = ?2",
	[S_KDEV_COUNT] = "SELECT count(*), COALESCE(sum(mac = ?2), 0) FROM devices WHERE identity = ?1",
	[S_KDEV_DROP_OLDEST] = "DELETE FROM devices WHERE identity = ?1 AND mac = "
		"(SELECT mac FROM devices WHERE identity = ?1 ORDER BY last_seen, mac LIMIT 1)",
	[S_KDEV_FORGET] = "DELETE FROM devices WHERE identity = ?1 AND (?2 = '' OR mac = ?2)",
	[S_FORGET_INSERT] = "INSERT INTO device_forgets (identity, mac, reason, forgotten_by, forgotten_at, removed) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[S_FORGET_LIST] = "SELECT id, identity, mac, reason, forgotten_by, forgotten_at, removed FROM device_forgets "
		"WHERE id > ?1 ORDER BY id",
	[S_SES_SINCE] = "SELECT " SES_COLS "WHERE s.identity <> '' AND (s.stopped IS NULL OR s.stopped >= ?1) "
		"ORDER BY s.identity, s.started, s.id LIMIT ?2",
	[S_PURGE_KDEV] = "DELETE FROM devices WHERE last_seen < ?1",
	[S_PURGE_FORGET] = "DELETE FROM device_forgets WHERE forgotten_at < ?1",

	[S_HAS_TABLE] = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",

	[S_AUDIT_INSERT] = "INSERT INTO audit (seq, time, type, identity, outer_identity, calling_station, mac, nas, "
		"ap, ssid, framed_ip, acct_session_id, status, reason, by, session_start, session_stop, hash, record) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
	[S_AUDIT_REF_INSERT] = "INSERT OR IGNORE INTO audit_refs (ref, seq) VALUES (?1, ?2)",
	[S_AUDIT_REF_GET] = "SELECT 1 FROM audit_refs WHERE ref = ?1",
	[S_AUDIT_LAST] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
	[S_AUDIT_PURGE] = "DELETE FROM audit WHERE time < ?1",
	[S_AUDIT_SESSIONS] = "SELECT " AUDIT_COLS " FROM audit WHERE type IN ('session_start', 'session_stop') AND "
		"(nas, acct_session_id) IN (SELECT nas, acct_session_id FROM audit WHERE framed_ip = ?1 AND "
		"type IN ('session_start', 'session_stop') AND (?2 = '' OR nas = ?2)) ORDER BY nas, acct_session_id, seq",
	[S_AUDIT_RECORDS] = "SELECT record FROM audit WHERE identity = ?1 ORDER BY seq",
};
/*
 *	Helpers
 */
/** busy_hint - what to add to SQLite's "database is locked", which names neither who nor what to do. */
static char const *busy_hint(sqlite3 *db)
{
	return (sqlite3_extended_errcode(db) & 0xff) == SQLITE_BUSY ?
	       " (another process, radiusd or cetbyodctl, held its write lock for longer than this one waits; "
	       "nothing was changed: try again)" : "";
}

/** cb_sqlite_fail - log what failed, with SQLite's message and the path; returns -1. */
int cb_sqlite_fail(cb_store_backend_t *be, char const *what)
{
	be->last_rc = sqlite3_extended_errcode(be->db);
	BE_ERR(be, "store %s: %s: %s%s", be->path, what, sqlite3_errmsg(be->db), busy_hint(be->db));
	return -1;
}

/** cb_sqlite_stmt - the prepared statement id, reset and unbound; NULL (logged) on failure. */
sqlite3_stmt *cb_sqlite_stmt(cb_store_backend_t *be, stmt_id_t id)
{
	sqlite3_stmt *st = be->stmts[id];

	if (!st) {
		if (sqlite3_prepare_v3(be->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
			cb_sqlite_fail(be, "preparing a statement");
			return NULL;
		}
		be->stmts[id] = st;
		return st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

int cb_sqlite_bind_text(sqlite3_stmt *st, int i, char const *s)
{
	return sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

int cb_sqlite_bind_int(sqlite3_stmt *st, int i, int64_t v)
{
	return sqlite3_bind_int64(st, i, v);
}

/** cb_sqlite_done - step a statement that returns no rows; 0, or -1 logged with what. */
int cb_sqlite_done(cb_store_backend_t *be, sqlite3_stmt *st, char const *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) return cb_sqlite_fail(be, what);
	return 0;
}

/** cb_sqlite_exec - run a statement without rows; 0 or -1. */
int cb_sqlite_exec(cb_store_backend_t *be, stmt_id_t id, char const *what)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, id);

	return st ? cb_sqlite_done(be, st, what) : -1;
}

int cb_sqlite_begin(cb_store_backend_t *be)
{
	return cb_sqlite_exec(be, S_BEGIN, "starting a transaction");
}

/** cb_sqlite_end - commit when rc >= 0, else roll back; returns rc, or -1 when the commit fails. */
int cb_sqlite_end(cb_store_backend_t *be, int rc)
{
	if (rc >= 0) {
		if (cb_sqlite_exec(be, S_COMMIT, "committing") == 0) return rc;
	}
	if (!sqlite3_get_autocommit(be->db)) {
		sqlite3_stmt *st = cb_sqlite_stmt(be, S_ROLLBACK);

		if (st) {
			sqlite3_step(st);
			sqlite3_reset(st);
		}
	}
	return -1;
}

/** cb_sqlite_changes - rows changed by the last statement. */
size_t cb_sqlite_changes(cb_store_backend_t *be)
{
	int n = sqlite3_changes(be->db);

	return n > 0 ? (size_t) n : 0;
}

int cb_sqlite_exists(cb_store_backend_t *be, stmt_id_t id, char const *arg, char const *what)
{
	sqlite3_stmt *st = cb_sqlite_stmt(be, id);
	int rc;

	if (!st) return -1;
	cb_sqlite_bind_text(st, 1, arg);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) return 1;
	if (rc == SQLITE_DONE) return 0;
	return cb_sqlite_fail(be, what);
}

int cb_sqlite_has_table(cb_store_backend_t *be, char const *name)
{
	return cb_sqlite_exists(be, S_HAS_TABLE, name, "looking up a table");
}

/** cb_sqlite_col_text - copy text column col into buf[size]; false when it does not fit (an edited store). */
bool cb_sqlite_col_text(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	unsigned char const *t = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (!t || n <= 0) {
		buf[0] = '\0';
		return true;
	}
	if ((size_t) n >= size || memchr(t, '\0', (size_t) n)) {
		buf[0] = '\0';
		return false;
	}
	memcpy(buf, t, (size_t) n);
	buf[n] = '\0';
	return true;
}

time_t cb_sqlite_col_time(sqlite3_stmt *st, int col)
{
	return (time_t) sqlite3_column_int64(st, col);
}
/**
 * cb_sqlite_one - step st for at most one row into row.  Returns 0 (row filled),
 * 1 (no row), -1 (error or a row that does not fit, logged).
 */
int cb_sqlite_one(cb_store_backend_t *be, sqlite3_stmt *st, cb_sqlite_reader_t read, void *row, char const *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 1;
	}
	if (rc != SQLITE_ROW) {
		cb_sqlite_fail(be, what);
		sqlite3_reset(st);
		return -1;
	}
	if (!read(st, row)) {
		BE_ERR(be, "store %s: %s: a row holds a value cetbyod never writes (was the database edited?)",
		       be->path, what);
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

/**
 * cb_sqlite_list - step st for every row, appending records of size bytes to a
 * growing array.  On 0, *items and *count hold the rows (NULL/0 when none); on
 * -1 nothing is allocated.
 */
int cb_sqlite_list(cb_store_backend_t *be, sqlite3_stmt *st, cb_sqlite_reader_t read, size_t size,
		   void **items, size_t *count, char const *what)
{
	return cb_sqlite_list_skipping(be, st, read, size, items, count, NULL, NULL, what);
}

int cb_sqlite_list_skipping(cb_store_backend_t *be, sqlite3_stmt *st, cb_sqlite_reader_t read, size_t size,
			    void **items, size_t *count, size_t *skipped, int64_t *first_skipped, char const *what)
{
	unsigned char *arr = NULL;
	size_t n = 0, alloc = 0;
	int rc;

	*items = NULL;
	*count = 0;
	if (skipped) *skipped = 0;
	if (first_skipped) *first_skipped = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == alloc) {
			size_t nalloc = alloc ? alloc * 2 : 16;
			unsigned char *narr;

			if (n >= STORE_LIST_MAX) {
				BE_ERR(be, "store %s: %s: more than %d rows", be->path, what, STORE_LIST_MAX);
				goto fail;
			}
			if (nalloc > STORE_LIST_MAX) nalloc = STORE_LIST_MAX;
			narr = realloc(arr, nalloc * size);
			if (!narr) {
				BE_ERR(be, "store %s: %s: out of memory", be->path, what);
				goto fail;
			}
			arr = narr;
			alloc = nalloc;
		}
		memset(arr + n * size, 0, size);
		if (!read(st, arr + n * size)) {
			if (skipped) {
				if (*skipped == 0 && first_skipped) *first_skipped = sqlite3_column_int64(st, 0);
				(*skipped)++;
				continue;
			}
			BE_ERR(be, "store %s: %s: a row holds a value cetbyod never writes (was the database edited?)",
			       be->path, what);
			goto fail;
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		cb_sqlite_fail(be, what);
		goto fail;
	}
	sqlite3_reset(st);
	if (n == 0) {
		free(arr);
		arr = NULL;
	}
	*items = arr;
	*count = n;
	return 0;

fail:
	sqlite3_reset(st);
	free(arr);
	return -1;
}
/*
 *	Opening and closing
 */

/** errtext - strerror, reentrant. */
static char const *errtext(int e, char *buf, size_t len)
{
	if (strerror_r(e, buf, len) != 0) snprintf(buf, len, "error %d", e);
	return buf;
}
static void sq_close(cb_store_backend_t *be)
{
	size_t i;

	if (!be) return;
	cb_worker_stop(be->ckpt);
	sqlite3_close_v2(be->ckpt_db);
	for (i = 0; i < S_MAX; i++) sqlite3_finalize(be->stmts[i]);
	sqlite3_close_v2(be->db);
	free(be);
}

/** pragma_int - the integer a PRAGMA (or any one-value query) returns, or -1 with err set. */
static int64_t pragma_int(sqlite3 *db, char const *sql, char *err, size_t errlen, char const *path)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		v = sqlite3_column_int64(st, 0);
	} else {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	return v;
}

/** exec_sql - run sql (several statements allowed); 0, or -1 with err set. */
static int exec_sql(sqlite3 *db, char const *sql, char const *what, char *err, size_t errlen, char const *path)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
	snprintf(err, errlen, "%s: %s: %s%s", path, what, msg ? msg : sqlite3_errmsg(db), busy_hint(db));
	sqlite3_free(msg);
	return -1;
}

/**
 * schema_check - decide what to do with the version found: 0 current, 1
 * create, 2 migrate; -1 (err set) when the file must be refused.
 */
static int schema_check(sqlite3 *db, char const *path, int64_t version, char *err, size_t errlen)
{
	int64_t appid, tables;

	appid = pragma_int(db, "PRAGMA application_id", err, errlen, path);
	if (appid < 0) return -1;
	if (version == 0) {
		tables = pragma_int(db, "SELECT count(*) FROM sqlite_master", err, errlen, path);
		if (tables < 0) return -1;
		if (tables > 0 || (appid != 0 && appid != STORE_APPLICATION_ID)) {
			snprintf(err, errlen, "%s is an SQLite database but not a cetbyod store (it has tables "
				 "and no cetbyod schema version); refusing to touch it", path);
			return -1;
		}
		return 1;
	}
	if (appid != STORE_APPLICATION_ID) {
		snprintf(err, errlen, "%s is an SQLite database but not a cetbyod store (application_id %" PRId64
			 "); refusing to touch it", path, appid);
		return -1;
	}
	if (version > CB_STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s has schema version %" PRId64 ", written by a newer cetbyod; this one "
			 "knows version %d and will not change it", path, version, CB_STORE_SCHEMA_VERSION);
		return -1;
	}
	return version < CB_STORE_SCHEMA_VERSION ? 2 : 0;
}

/** sq_migrate - run the migrations from version up; 0 or -1 (err set).  In a transaction. */
static int sq_migrate(sqlite3 *db, char const *path, int64_t version, char *err, size_t errlen)
{
	char sql[64];

	for (; version < CB_STORE_SCHEMA_VERSION; version++) {
		char const *m = migrations[version - 1];

		if (!m) {
			snprintf(err, errlen, "%s: no migration from schema version %" PRId64, path, version);
			return -1;
		}
		if (exec_sql(db, m, "migrating the schema", err, errlen, path) < 0) return -1;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %" PRId64, version + 1);
		if (exec_sql(db, sql, "migrating the schema", err, errlen, path) < 0) return -1;
	}
	return 0;
}

/** sq_schema - create or migrate the schema in one transaction; 0 or -1 (err set, nothing changed). */
static int sq_schema(sqlite3 *db, char const *path, char *err, size_t errlen)
{
	int64_t version;
	int what, rc = -1;

	if (exec_sql(db, "BEGIN IMMEDIATE", "starting a transaction", err, errlen, path) < 0) return -1;
	version = pragma_int(db, "PRAGMA user_version", err, errlen, path);
	if (version < 0) goto done;
	what = schema_check(db, path, version, err, errlen);
	if (what < 0) goto done;
	if (what == 1) {
		rc = exec_sql(db, store_schema, "creating the schema", err, errlen, path);
		if (rc == 0) rc = sq_migrate(db, path, 1, err, errlen);
	} else if (what == 2) {
		rc = sq_migrate(db, path, version, err, errlen);
	} else {
		rc = 0;
	}
done:
	if (rc == 0) {
		if (exec_sql(db, "COMMIT", "committing the schema", err, errlen, path) == 0) return 0;
	}
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/**
 * create_file - create path with mode 0600 when missing; when root, give it
 * to the owner of its directory.  0 (exists or created), or -1 with err set.
 */
static int create_file(char const *path, bool create, char *err, size_t errlen)
{
	char ebuf[128];
	struct stat st;
	char dir[STORE_PATH_MAX];
	char const *slash;
	int fd;

	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s is not a regular file", path);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, errtext(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	if (!create) {
		snprintf(err, errlen, "no store at %s (radiusd with the cetbyod module has not created it yet, "
			 "or the state directory is wrong)", path);
		return -1;
	}
	slash = strrchr(path, '/');
	if (!slash) {
		memcpy(dir, ".", 2);
	} else {
		size_t n = (size_t) (slash - path);

		if (n == 0) n = 1;
		if (n >= sizeof(dir)) {
			snprintf(err, errlen, "%s: path too long", path);
			return -1;
		}
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state directory %s does not exist: create it, owned by the user radiusd "
			 "runs as (freerad on Debian), mode 0700", dir);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		if (errno == EEXIST) return 0;	/* Another process was quicker. */
		snprintf(err, errlen, "cannot create %s: %s", path, errtext(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	if (geteuid() == 0 && (st.st_uid != 0 || st.st_gid != 0) && fchown(fd, st.st_uid, st.st_gid) < 0) {
		snprintf(err, errlen, "cannot give %s to the owner of %s: %s", path, dir,
			 errtext(errno, ebuf, sizeof(ebuf)));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

/** tighten_mode - make an existing store mode 0600 when it is ours and looser. */
static void tighten_mode(char const *path, cb_log_fn_t log, void *log_ctx)
{
	struct stat st;

	if (stat(path, &st) < 0 || (st.st_mode & 077) == 0 || st.st_uid != geteuid()) return;
	if (chmod(path, 0600) == 0 && log) {
		log(log_ctx, CB_LOG_WARN, "store %s was mode %03o: now 0600", path, (unsigned int) (st.st_mode & 0777));
	}
}

/* cb_clock_ms() when a connection of this process last waited for the write lock (sq_write_contended). */
static _Atomic int64_t sq_waited_ms;

/** sq_write_contended - cb_store_write_contended: any connection of this process, any file. */
static bool sq_write_contended(cb_store_backend_t *be, unsigned int within_ms)
{
	int64_t at = atomic_load_explicit(&sq_waited_ms, memory_order_relaxed);

	(void) be;
	return at && cb_clock_ms() - at < (int64_t) within_ms;
}

/**
 * sq_busy - the busy handler: while another connection holds the write
 * lock (the audit writer's index, the devices writer: transactions of a
 * few hundred microseconds; cetbyodctl; a commit waiting on a slow disk),
 * retry every 100 us for the first 2 ms, then every millisecond, until
 * the busy timeout has passed since this wait began (count 0); then give
 * up (0: SQLITE_BUSY).  SQLite's own handler sleeps 1, 2, 5, 10 ms ...
 * from the first retry, which leaves the accounting group's leader asleep
 * long after the lock was released.  With note_ms (cetbyodctl), a wait
 * that long is reported once, so an admin's command that waits says why.
 * Each call notes the time in sq_waited_ms (cb_store_write_contended).
 */
static int sq_busy(void *arg, int count)
{
	cb_sqlite_busy_t *b = arg;
	int64_t now = cb_clock_ms();

	atomic_store_explicit(&sq_waited_ms, now, memory_order_relaxed);

	if (count == 0) {
		b->since_ms = now;
		b->noted = false;
	}
	if (now - b->since_ms >= (int64_t) b->timeout_ms) return 0;
	if (b->note_ms && !b->noted && now - b->since_ms >= (int64_t) b->note_ms && b->log) {
		b->noted = true;
		b->log(b->log_ctx, CB_LOG_WARN, "store %s: another process is writing to it (radiusd, or another "
		       "cetbyodctl): waiting up to %u s for it", b->path, b->timeout_ms / 1000);
	}
	usleep(count < 20 ? 100 : 1000);
	return 1;
}

/** sq_busy_init - b for a connection of be, as conf asks. */
static cb_sqlite_busy_t *sq_busy_init(cb_sqlite_busy_t *b, cb_store_backend_t const *be,
				      cb_store_conf_t const *conf)
{
	*b = (cb_sqlite_busy_t) {
		.timeout_ms = conf->busy_timeout_ms ? conf->busy_timeout_ms : STORE_BUSY_DEFAULT_MS,
		.note_ms = conf->busy_note_ms, .log = be->log, .log_ctx = be->log_ctx, .path = be->path,
	};
	return b;
}

/** sq_configure - per-connection settings; 0 or -1 (err set). */
static int sq_configure(sqlite3 *db, char const *path, cb_sqlite_busy_t *busy, bool fast_sync, char *err,
			size_t errlen)
{
	sqlite3_stmt *st;
	int ok;

	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_handler(db, sq_busy, busy);
	if (exec_sql(db, "PRAGMA foreign_keys = ON", "enabling foreign keys", err, errlen, path) < 0) return -1;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
	     strcmp((char const *) sqlite3_column_text(st, 0), "wal") == 0;
	if (!ok) snprintf(err, errlen, "%s: cannot use WAL journal mode: %s", path, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	if (!ok) return -1;
	/*
	 *	FULL: every commit is on disk before it returns.  NORMAL (fast_sync,
	 *	for the module's request path): in WAL mode a commit survives a
	 *	crash of the process, but the last ones may be lost on power loss.
	 */
	return exec_sql(db, fast_sync ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL",
			"setting synchronous", err, errlen, path);
}

/*
 *	Checkpoints off the request path (group_commit)
 */
#define CKPT_MS		100	/* The checkpointer's pace. */
#define CKPT_BACKSTOP	10000	/* WAL pages past which the request connection checkpoints itself. */

/** ckpt_main - the checkpointer: a PASSIVE checkpoint every CKPT_MS; a failure logged when it starts and ends. */
static void ckpt_main(cb_worker_t *w, void *arg)
{
	cb_store_backend_t *be = arg;

	while (cb_worker_wait(w, CKPT_MS)) {
		int rc = sqlite3_wal_checkpoint_v2(be->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

		if (rc == SQLITE_OK || rc == SQLITE_BUSY) {
			if (be->ckpt_failing && be->log) be->log(be->log_ctx, CB_LOG_INFO, "store %s: WAL checkpoints work "
								      "again", be->path);
			be->ckpt_failing = false;
		} else if (!be->ckpt_failing) {
			be->ckpt_failing = true;
			BE_ERR(be, "store %s: WAL checkpoint failed: %s (retried every %d ms; the -wal file grows "
			       "meanwhile)", be->path, sqlite3_errmsg(be->ckpt_db), CKPT_MS);
		}
	}
}

/** ckpt_start - the checkpointer's connection and thread; 0, or -1 with err set. */
static int ckpt_start(cb_store_backend_t *be, cb_store_conf_t const *conf, char *err, size_t errlen)
{
	char werr[256];

	if (sqlite3_open_v2(conf->path, &be->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", conf->path, be->ckpt_db ? sqlite3_errmsg(be->ckpt_db) : "out of memory");
		return -1;
	}
	if (sq_configure(be->ckpt_db, conf->path, sq_busy_init(&be->ckpt_busy, be, conf), conf->fast_sync, err,
			 errlen) < 0) {
		return -1;
	}
	sqlite3_wal_autocheckpoint(be->ckpt_db, 0);
	be->ckpt = cb_worker_start("store-ckpt", ckpt_main, be, werr, sizeof(werr));
	if (!be->ckpt) {
		snprintf(err, errlen, "cannot start the store's checkpointer: %s", werr);
		return -1;
	}
	sqlite3_wal_autocheckpoint(be->db, CKPT_BACKSTOP);
	return 0;
}

/*
 *	Write failures
 */

/** sq_transient - whether the last failure may pass by itself: a full disk, an I/O error, a busy or locked file. */
static bool sq_transient(cb_store_backend_t *be)
{
	switch (be->last_rc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_NOMEM:
		return true;
	default:
		return false;
	}
}

/* A write that leaves nothing behind: the row is written and deleted in one transaction. */
#define WRITE_CHECK_SQL "BEGIN IMMEDIATE; " \
	"INSERT OR REPLACE INTO status (key, value, updated_at) VALUES ('store.write_check', '', 0); " \
	"DELETE FROM status WHERE key = 'store.write_check'; COMMIT"

/**
 * sq_check_writable - whether a commit can reach the disk now: the file
 * system holding the database has room (statvfs: SQLite may still have
 * pages it can reuse, but the next one that needs space fails), and a
 * transaction that writes and deletes one status row commits.  0, or -1
 * with why set.  Logs nothing: the caller reports.
 */
static int sq_check_writable(cb_store_backend_t *be, char *why, size_t len)
{
	char dir[STORE_PATH_MAX];
	char const *slash = strrchr(be->path, '/');
	struct statvfs v;
	char *msg = NULL;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int) (slash - be->path) + (slash == be->path) : 1,
		 slash ? be->path : ".");
	if (statvfs(dir, &v) == 0 && v.f_bavail == 0 && !(v.f_flag & ST_RDONLY)) {
		snprintf(why, len, "the disk holding %s is full (no space left on device)", dir);
		return -1;
	}
	if (sqlite3_exec(be->db, WRITE_CHECK_SQL, NULL, NULL, &msg) == SQLITE_OK) return 0;
	snprintf(why, len, "%s: %s", be->path, msg ? msg : sqlite3_errmsg(be->db));
	sqlite3_free(msg);
	if (!sqlite3_get_autocommit(be->db)) sqlite3_exec(be->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static char const *sq_name(cb_store_backend_t *be)
{
	return be->path;
}

static cb_store_ops_t const sq_ops = {
	.name = "sqlite",
	.close = sq_close,
	.decisions_put = cb_sqlite_decisions_put,
	.decision_get = cb_sqlite_decision_get,
	.session_start = cb_sqlite_session_start,
	.session_update = cb_sqlite_session_update,
	.session_stop = cb_sqlite_session_stop,
	.sessions_write = cb_sqlite_sessions_write,
	.session_get = cb_sqlite_session_get,
	.nas_reboot = cb_sqlite_nas_reboot,
	.close_stale = cb_sqlite_close_stale,
	.sessions_active = cb_sqlite_sessions_active,
	.revoke = cb_sqlite_revoke,
	.reinstate = cb_sqlite_reinstate,
	.is_revoked = cb_sqlite_is_revoked,
	.revocations = cb_sqlite_revocations,
	.disconnect_enqueue = cb_sqlite_disconnect_enqueue,
	.disconnect_due = cb_sqlite_disconnect_due,
	.disconnect_claim = cb_sqlite_disconnect_claim,
	.disconnect_mark = cb_sqlite_disconnect_mark,
	.disconnect_hold = cb_sqlite_disconnect_hold,
	.disconnect_release = cb_sqlite_disconnect_release,
	.disconnects = cb_sqlite_disconnects,
	.command_enqueue = cb_sqlite_command_enqueue,
	.commands_take = cb_sqlite_commands_take,
	.status_put = cb_sqlite_status_put,
	.status_get = cb_sqlite_status_get,
	.statuses = cb_sqlite_statuses,
	.counts = cb_sqlite_counts,
	.purge = cb_sqlite_purge,
	.exception_add = cb_sqlite_exception_add,
	.exception_end = cb_sqlite_exception_end,
	.exceptions = cb_sqlite_exceptions,
	.people_update = cb_sqlite_people_update,
	.people = cb_sqlite_people,
	.reminder_put = cb_sqlite_reminder_put,
	.reminder_sent = cb_sqlite_reminder_sent,
	.reminders = cb_sqlite_reminders,
	.devices = cb_sqlite_devices,
	.sessions_since = cb_sqlite_sessions_since,
	.device_seen = cb_sqlite_device_seen,
	.devices_seen = cb_sqlite_devices_seen,
	.devices_known = cb_sqlite_devices_known,
	.devices_forget = cb_sqlite_devices_forget,
	.device_forgets = cb_sqlite_device_forgets,
	.audit_attach = cb_sqlite_audit_attach,
	.audit_put = cb_sqlite_audit_put,
	.audit_last = cb_sqlite_audit_last,
	.audit_count = cb_sqlite_audit_count,
	.audit_has_ref = cb_sqlite_audit_has_ref,
	.audit_tally = cb_sqlite_audit_tally,
	.audit_query = cb_sqlite_audit_query,
	.audit_sessions = cb_sqlite_audit_sessions,
	.audit_purge = cb_sqlite_audit_purge,
	.export_person = cb_sqlite_export_person,
	.table_rows = cb_sqlite_table_rows,
	.transient = sq_transient,
	.write_contended = sq_write_contended,
	.where = sq_name,
	.check_writable = sq_check_writable,
};

cb_store_backend_t *cb_store_sqlite_open(cb_store_conf_t const *conf, cb_store_ops_t const **ops, char *err,
					 size_t errlen)
{
	char ebuf[128];
	cb_store_backend_t *be;
	size_t plen = strlen(conf->path);

	if (plen == 0 || plen >= STORE_PATH_MAX) {
		snprintf(err, errlen, "store path is empty or too long");
		return NULL;
	}
	if (create_file(conf->path, conf->create, err, errlen) < 0) return NULL;
	if (access(conf->path, R_OK | W_OK) < 0) {
		snprintf(err, errlen, "cannot read and write %s: %s (run as root, or as the user radiusd runs as, "
			 "who owns the state directory)", conf->path, errtext(errno, ebuf, sizeof(ebuf)));
		return NULL;
	}
	tighten_mode(conf->path, conf->log, conf->log_ctx);

	be = calloc(1, sizeof(*be));
	if (!be) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(be->path, conf->path, plen + 1);
	be->log = conf->log;
	be->log_ctx = conf->log_ctx;
	if (sqlite3_open_v2(conf->path, &be->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", conf->path, be->db ? sqlite3_errmsg(be->db) : "out of memory");
		goto fail;
	}
	if (sq_configure(be->db, conf->path, sq_busy_init(&be->busy, be, conf), conf->fast_sync, err, errlen) < 0) {
		goto fail;
	}
	if (sq_schema(be->db, conf->path, err, errlen) < 0) goto fail;
	if (conf->group_commit && ckpt_start(be, conf, err, errlen) < 0) goto fail;
	*ops = &sq_ops;
	return be;

fail:
	sq_close(be);
	return NULL;
}
