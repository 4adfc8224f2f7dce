/*
 * store.c - the state store: the checks every backend shares, and the
 * SQLite backend.
 *
 * Two layers.  The front (cb_store_*) owns a cb_store_t: a mutex, the
 * backend's operations and handle, and the log callback.  Each public
 * function checks its arguments (lengths, UTF-8, names, class ids), so that
 * no backend ever sees invalid input, then takes the mutex and calls the
 * backend.  One mutex per cb_store_t makes every call thread-safe; a
 * process that wants parallel writers opens several stores.
 *
 * The SQLite backend (sq_*) keeps one connection and a cache of prepared
 * statements, prepared on first use.  Every call that changes more than one
 * row, or reads before it writes, runs in a BEGIN IMMEDIATE transaction, so
 * it is atomic with respect to other processes (cetbyodctl) and rolled back
 * as a whole on error: "nothing is changed" holds across processes.
 *
 * Opening a file:
 *   1. missing: created here with open(O_EXCL, 0600) (and given to the
 *      directory's owner when we are root), never by SQLite with its 0644;
 *   2. journal_mode = WAL (SQLite creates -wal and -shm with the database's
 *      mode and, as root, its owner), synchronous = FULL, foreign_keys = ON,
 *      busy_timeout;
 *   3. in one BEGIN IMMEDIATE transaction: user_version 0 and no tables ->
 *      run the schema (a byte-for-byte copy of schema/sql/cetbyod.sql);
 *      an older version -> the migrations in order; a newer version, a
 *      foreign application_id, or tables without a version -> refused,
 *      file untouched.
 * A file that is not a database at all fails at step 2 or 3 with SQLite's
 * "file is not a database", which we report with the path.
 *
 * Example, one session's life:
 *   Access-Accept     decision_put(class_id c, identity alice, status admit)
 *   Acct Start        session_start(nas 10.0.0.2, id 5F3A, class c, identity NULL)
 *                       -> identity and status copied from decision c
 *   Interim-Update    session_update(...)  last_seen, octets
 *   revoke alice      revoke(); enqueue(10.0.0.2, 5F3A, disconnect)
 *   Disconnect-ACK    disconnect_mark(id, ACKED) -> done
 *   Acct Stop         session_stop(..., cause Admin-Reset) -> stopped
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
#include <unistd.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "base/utf8.h"
#include "core/policy.h"
#include "store/store.h"

#define STORE_APPLICATION_ID	1128421700	/* 'CBYD' */
#define STORE_BUSY_DEFAULT_MS	5000
#define STORE_LIST_MAX		100000		/* Rows one list may hold. */
#define STORE_PATH_MAX		4096

/*
 *	The schema: schema/sql/cetbyod.sql, byte for byte (test_store checks).
 */
/*
 *	The schema: schema/sql/cetbyod.sql, turned into a C string by make
 *	(mk/store.am), so there is one copy to edit.
 */
#include "store/store_schema.h"
#include "store/store_schema_2.h"

char const *cb_store_schema(void)
{
	return store_schema;
}

/*
 *	Migrations: migrations[v - 1] takes a store from version v to v + 1.
 *	1 -> 2: schema/sql/cetbyod-2.sql (exceptions register, people,
 *	reminders).  A new store runs cetbyod.sql and then these, so the two
 *	paths give the same schema.
 */
static char const *const migrations[CB_STORE_SCHEMA_VERSION] = { store_schema_2, NULL };

/*
 *	Names
 */
static char const *const disc_kind_names[] = { "disconnect", "coa" };
static char const *const disc_state_names[] = { "pending", "held", "done", "failed", "cancelled" };
static char const *const disc_result_names[] = { "", "acked", "nak", "timeout" };
static char const *const cmd_names[CB_CMD_MAX] = {
	"sync", "sync-full", "confirm", "accept-mass-removal", "enforce"
};

#define NUM_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

char const *cb_disc_kind_name(cb_disc_kind_t kind)
{
	return (unsigned int) kind < NUM_ELEMENTS(disc_kind_names) ? disc_kind_names[kind] : "?";
}

char const *cb_disc_state_name(cb_disc_state_t state)
{
	return (unsigned int) state < NUM_ELEMENTS(disc_state_names) ? disc_state_names[state] : "?";
}

char const *cb_disc_result_name(cb_disc_result_t result)
{
	return (unsigned int) result < NUM_ELEMENTS(disc_result_names) ? disc_result_names[result] : "?";
}

char const *cb_cmd_name(cb_cmd_t cmd)
{
	return (unsigned int) cmd < CB_CMD_MAX ? cmd_names[cmd] : "?";
}

/** name_index - position of name in names[0..n), or -1. */
static int name_index(char const *const *names, size_t n, char const *name)
{
	size_t i;

	if (!name) return -1;
	for (i = 0; i < n; i++) {
		if (strcmp(names[i], name) == 0) return (int) i;
	}
	return -1;
}

int cb_cmd_from_name(char const *name)
{
	return name_index(cmd_names, CB_CMD_MAX, name);
}

/*
 *	Text checks
 */

/** utf8_char - length of the valid UTF-8 sequence at p (before end), 0 when invalid; *cp gets the code point. */
static size_t utf8_char(unsigned char const *p, unsigned char const *end, uint32_t *cp)
{
	return cb_utf8_decode(p, end, cp);
}

bool cb_store_text_valid(char const *s, size_t max)
{
	unsigned char const *p, *end;
	size_t len;

	if (!s) return false;
	len = strlen(s);
	if (len == 0 || len > max) return false;
	p = (unsigned char const *) s;
	end = p + len;
	while (p < end) {
		uint32_t cp;
		size_t n = utf8_char(p, end, &cp);

		if (n == 0) return false;
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return false;
		p += n;
	}
	return true;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/** class_id_valid - 32 lower-case hex digits. */
static bool class_id_valid(char const *s)
{
	size_t i;

	if (!s) return false;
	for (i = 0; i < CB_CLASS_ID_LEN; i++) {
		if (!is_hex(s[i]) || (s[i] >= 'A' && s[i] <= 'F')) return false;
	}
	return s[CB_CLASS_ID_LEN] == '\0';
}

static bool empty(char const *s)
{
	return !s || !*s;
}

/*
 *	Class values
 */
int cb_store_new_class_id(char out[CB_CLASS_ID_LEN + 1])
{
	static char const hex[] = "0123456789abcdef";
	unsigned char raw[CB_CLASS_ID_LEN / 2];
	size_t i;

	out[0] = '\0';
	if (RAND_bytes(raw, sizeof(raw)) != 1) return -1;
	for (i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 0x0f];
	}
	out[CB_CLASS_ID_LEN] = '\0';
	return 0;
}

bool cb_store_class_format(char const *class_id, char *buf, size_t len)
{
	size_t plen = sizeof(CB_CLASS_PREFIX) - 1;

	if (!class_id_valid(class_id) || len < CB_CLASS_ATTR_LEN + 1) return false;
	memcpy(buf, CB_CLASS_PREFIX, plen);
	memcpy(buf + plen, class_id, CB_CLASS_ID_LEN + 1);
	return true;
}

bool cb_store_class_parse(char const *value, size_t len, char out[CB_CLASS_ID_LEN + 1])
{
	size_t plen = sizeof(CB_CLASS_PREFIX) - 1, i;

	out[0] = '\0';
	if (!value || len != CB_CLASS_ATTR_LEN || memcmp(value, CB_CLASS_PREFIX, plen) != 0) return false;
	for (i = 0; i < CB_CLASS_ID_LEN; i++) {
		char c = value[plen + i];

		if (!is_hex(c)) {
			out[0] = '\0';
			return false;
		}
		out[i] = (c >= 'A' && c <= 'F') ? (char) (c - 'A' + 'a') : c;
	}
	out[CB_CLASS_ID_LEN] = '\0';
	return true;
}

/*
 *	Called-Station-Id
 */

/** mac_at - parse a MAC at the start of s into 12 upper-case hex digits; returns its length, 0 if none. */
static size_t mac_at(char const *s, char digits[12])
{
	size_t n = 0, pos = 0, group = 2;
	char sep = '\0';

	if (!is_hex(s[0]) || !is_hex(s[1])) return 0;
	if (is_hex(s[2]) && is_hex(s[3]) && s[4] == '.') {
		sep = '.';		/* aabb.ccdd.eeff */
		group = 4;
	} else if (s[2] == '-' || s[2] == ':') {
		sep = s[2];		/* aa-bb-cc-dd-ee-ff, aa:bb:cc:dd:ee:ff */
	}
	while (n < 12) {
		if (!is_hex(s[pos])) return 0;
		digits[n++] = (char) ((s[pos] >= 'a' && s[pos] <= 'f') ? s[pos] - 'a' + 'A' : s[pos]);
		pos++;
		if (sep && n < 12 && n % group == 0) {
			if (s[pos] != sep) return 0;
			pos++;
		}
	}
	return pos;
}

bool cb_store_split_called_station(char const *called, char *ap, char *ssid)
{
	char digits[12];
	size_t len, i, o = 0;

	ap[0] = ssid[0] = '\0';
	if (!called || strlen(called) > CB_STORE_TEXT_MAX) return false;
	len = mac_at(called, digits);
	if (!len || (called[len] != '\0' && called[len] != ':')) return false;
	for (i = 0; i < 12; i++) {
		ap[o++] = digits[i];
		if (i % 2 == 1 && i < 11) ap[o++] = '-';
	}
	ap[o] = '\0';
	if (called[len] == ':') {
		size_t slen = strlen(called + len + 1);

		memcpy(ssid, called + len + 1, slen + 1);
	}
	return true;
}

bool cb_store_path(char const *state_dir, char *buf, size_t len)
{
	int n;

	if (!state_dir || !*state_dir) return false;
	n = snprintf(buf, len, "%s%s%s", state_dir,
		     state_dir[strlen(state_dir) - 1] == '/' ? "" : "/", CB_STORE_FILE);
	return n > 0 && (size_t) n < len;
}

/*
 *	The SQLite backend
 */
typedef enum {
	S_BEGIN = 0, S_COMMIT, S_ROLLBACK,
	S_DEC_PUT, S_DEC_GET,
	S_SES_INSERT, S_SES_UPDATE, S_SES_REOPEN_STALE, S_SES_LATEST, S_SES_GET,
	S_SES_NAS_REBOOT, S_SES_STALE, S_SES_ACTIVE,
	S_REV_UPDATE, S_REV_INSERT, S_REV_REINSTATE, S_REV_GET, S_REV_LIST,
	S_DISC_FIND_OPEN, S_DISC_SESSION_ID, S_DISC_INSERT, S_DISC_DUE, S_DISC_MARK, S_DISC_HOLD,
	S_DISC_RELEASE, S_DISC_LIST,
	S_CMD_INSERT, S_CMD_LIST, S_CMD_DELETE,
	S_ST_PUT, S_ST_GET, S_ST_LIST,
	S_COUNTS,
	S_PURGE_DISC, S_PURGE_SES, S_PURGE_DEC, S_PURGE_REV, S_PURGE_EXC, S_PURGE_REM,
	S_EXC_UPDATE, S_EXC_INSERT, S_EXC_END, S_EXC_LIST,
	S_PEOPLE_CLEAR, S_PEOPLE_DELETE, S_PEOPLE_INSERT, S_PEOPLE_LIST,
	S_REM_INSERT, S_REM_GET, S_REM_LIST, S_DEVICES,
	S_MAX
} stmt_id_t;

#define DEC_COLS "class_id, identity, outer_identity, status, reason, decided_at, valid_until, ack_time, " \
		 "policy_version, nas, calling_station, ack_email"
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
#define NONEMPTY(n, col) col " = COALESCE(NULLIF(?" #n ", ''), " col ")"

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

	[S_DEC_PUT] = "INSERT INTO decisions (" DEC_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[S_DEC_GET] = "SELECT " DEC_COLS " FROM decisions WHERE class_id = ?1",

	[S_SES_INSERT] = "INSERT INTO sessions (nas, acct_session_id, class_id, identity, outer_identity, "
		"calling_station, called_station, ap, ssid, framed_ip, nas_ip, nas_identifier, status, started, "
		"last_seen, stopped, stop_cause, in_octets, out_octets) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
		"?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, CASE WHEN ?18 THEN ?19 ELSE 0 END, "
		"CASE WHEN ?18 THEN ?20 ELSE 0 END)",
	[S_SES_UPDATE] = "UPDATE sessions SET " NONEMPTY(3, "class_id") ", " NONEMPTY(4, "identity") ", "
		NONEMPTY(5, "outer_identity") ", " NONEMPTY(6, "calling_station") ", "
		NONEMPTY(7, "called_station") ", " NONEMPTY(8, "ap") ", " NONEMPTY(9, "ssid") ", "
		NONEMPTY(10, "framed_ip") ", " NONEMPTY(11, "nas_ip") ", " NONEMPTY(12, "nas_identifier") ", "
		NONEMPTY(13, "status") ", last_seen = max(last_seen, ?15), stopped = ?16, "
		NONEMPTY(17, "stop_cause") ", in_octets = CASE WHEN ?18 THEN ?19 ELSE in_octets END, "
		"out_octets = CASE WHEN ?18 THEN ?20 ELSE out_octets END "
		"WHERE nas = ?1 AND acct_session_id = ?2 AND stopped IS NULL",
	[S_SES_REOPEN_STALE] = "UPDATE sessions SET stopped = NULL, stop_cause = '' WHERE id = "
		"(SELECT id FROM sessions WHERE nas = ?1 AND acct_session_id = ?2 ORDER BY id DESC LIMIT 1) "
		"AND stop_cause = 'Stale' AND stopped IS NOT NULL",
	[S_SES_LATEST] = "SELECT stopped IS NOT NULL FROM sessions WHERE nas = ?1 AND acct_session_id = ?2 "
		"ORDER BY id DESC LIMIT 1",
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
	[S_DISC_MARK] = "UPDATE disconnects SET attempts = attempts + 1, last_attempt = ?2, updated_at = ?2, "
		"last_result = ?3, error_cause = ?4, detail = ?5, "
		"state = CASE WHEN ?3 = 'acked' THEN 'done' WHEN ?6 = 0 THEN 'failed' ELSE 'pending' END, "
		"next_attempt = CASE WHEN ?3 = 'acked' OR ?6 = 0 THEN next_attempt ELSE ?6 END "
		"WHERE id = ?1 AND state = 'pending'",
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
};

struct cb_store_backend {
	sqlite3		*db;
	char		path[STORE_PATH_MAX];
	sqlite3_stmt	*stmts[S_MAX];
	cb_log_fn_t	log;
	void		*log_ctx;
};

#define BE_ERR(be, ...) do { if ((be)->log) (be)->log((be)->log_ctx, CB_LOG_ERROR, __VA_ARGS__); } while (0)

/** sq_fail - log what failed, with SQLite's message and the path; returns -1. */
static int sq_fail(cb_store_backend_t *be, char const *what)
{
	BE_ERR(be, "store %s: %s: %s", be->path, what, sqlite3_errmsg(be->db));
	return -1;
}

/** sq_stmt - the prepared statement id, reset and unbound; NULL (logged) on failure. */
static sqlite3_stmt *sq_stmt(cb_store_backend_t *be, stmt_id_t id)
{
	sqlite3_stmt *st = be->stmts[id];

	if (!st) {
		if (sqlite3_prepare_v3(be->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
			sq_fail(be, "preparing a statement");
			return NULL;
		}
		be->stmts[id] = st;
		return st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static int bind_text(sqlite3_stmt *st, int i, char const *s)
{
	return sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

static int bind_int(sqlite3_stmt *st, int i, int64_t v)
{
	return sqlite3_bind_int64(st, i, v);
}

/** sq_done - step a statement that returns no rows; 0, or -1 logged with what. */
static int sq_done(cb_store_backend_t *be, sqlite3_stmt *st, char const *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) return sq_fail(be, what);
	return 0;
}

/** sq_exec - run a statement without rows; 0 or -1. */
static int sq_exec(cb_store_backend_t *be, stmt_id_t id, char const *what)
{
	sqlite3_stmt *st = sq_stmt(be, id);

	return st ? sq_done(be, st, what) : -1;
}

static int sq_begin(cb_store_backend_t *be)
{
	return sq_exec(be, S_BEGIN, "starting a transaction");
}

/** sq_end - commit when rc >= 0, else roll back; returns rc, or -1 when the commit fails. */
static int sq_end(cb_store_backend_t *be, int rc)
{
	if (rc >= 0) {
		if (sq_exec(be, S_COMMIT, "committing") == 0) return rc;
	}
	if (!sqlite3_get_autocommit(be->db)) {
		sqlite3_stmt *st = sq_stmt(be, S_ROLLBACK);

		if (st) {
			sqlite3_step(st);
			sqlite3_reset(st);
		}
	}
	return -1;
}

/** sq_changes - rows changed by the last statement. */
static size_t sq_changes(cb_store_backend_t *be)
{
	int n = sqlite3_changes(be->db);

	return n > 0 ? (size_t) n : 0;
}

/** col_text - copy text column col into buf[size]; false when it does not fit (an edited store). */
static bool col_text(sqlite3_stmt *st, int col, char *buf, size_t size)
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

#define COL_TEXT(st, col, field) col_text((st), (col), (field), sizeof(field))

static time_t col_time(sqlite3_stmt *st, int col)
{
	return (time_t) sqlite3_column_int64(st, col);
}

/*
 *	Row readers: each returns false when a row does not fit its record,
 *	which only an edit outside cetbyod can cause.
 */
static bool read_decision(sqlite3_stmt *st, void *row)
{
	cb_store_decision_t *d = row;

	d->decided_at = col_time(st, 5);
	d->valid_until = col_time(st, 6);
	d->ack_time = col_time(st, 7);
	return COL_TEXT(st, 0, d->class_id) && COL_TEXT(st, 1, d->identity) && COL_TEXT(st, 2, d->outer_identity) &&
	       COL_TEXT(st, 3, d->status) && COL_TEXT(st, 4, d->reason) && COL_TEXT(st, 8, d->policy_version) &&
	       COL_TEXT(st, 9, d->nas) && COL_TEXT(st, 10, d->calling_station) && COL_TEXT(st, 11, d->ack_email);
}

static bool read_session(sqlite3_stmt *st, void *row)
{
	cb_store_session_t *s = row;

	s->id = sqlite3_column_int64(st, 0);
	s->valid_until = col_time(st, 14);
	s->started = col_time(st, 15);
	s->last_seen = col_time(st, 16);
	s->stopped = col_time(st, 17);
	s->in_octets = (uint64_t) sqlite3_column_int64(st, 19);
	s->out_octets = (uint64_t) sqlite3_column_int64(st, 20);
	return COL_TEXT(st, 1, s->nas) && COL_TEXT(st, 2, s->acct_session_id) && COL_TEXT(st, 3, s->class_id) &&
	       COL_TEXT(st, 4, s->identity) && COL_TEXT(st, 5, s->outer_identity) &&
	       COL_TEXT(st, 6, s->calling_station) && COL_TEXT(st, 7, s->called_station) &&
	       COL_TEXT(st, 8, s->ap) && COL_TEXT(st, 9, s->ssid) && COL_TEXT(st, 10, s->framed_ip) &&
	       COL_TEXT(st, 11, s->nas_ip) && COL_TEXT(st, 12, s->nas_identifier) &&
	       COL_TEXT(st, 13, s->status) && COL_TEXT(st, 18, s->stop_cause);
}

static bool read_revocation(sqlite3_stmt *st, void *row)
{
	cb_store_revocation_t *r = row;

	r->id = sqlite3_column_int64(st, 0);
	r->revoked_at = col_time(st, 4);
	r->reinstated_at = col_time(st, 6);
	return COL_TEXT(st, 1, r->identity) && COL_TEXT(st, 2, r->reason) && COL_TEXT(st, 3, r->by) &&
	       COL_TEXT(st, 5, r->reinstated_by);
}

static bool read_exception(sqlite3_stmt *st, void *row)
{
	cb_store_exception_t *x = row;

	x->id = sqlite3_column_int64(st, 0);
	x->granted_at = col_time(st, 6);
	x->until = col_time(st, 7);
	x->ended_at = col_time(st, 9);
	return COL_TEXT(st, 1, x->identity) && COL_TEXT(st, 2, x->mac) && COL_TEXT(st, 3, x->reason) &&
	       COL_TEXT(st, 4, x->approved_by) && COL_TEXT(st, 5, x->granted_by) && COL_TEXT(st, 8, x->ended_by);
}

static bool read_person(sqlite3_stmt *st, void *row)
{
	cb_store_person_t *p = row;

	p->disabled = sqlite3_column_int(st, 3) != 0;
	p->exception_until = col_time(st, 6);
	p->ack_time = col_time(st, 7);
	p->ack_expiry = col_time(st, 8);
	p->ack_revoked = sqlite3_column_int(st, 9) != 0;
	p->refreshed_at = col_time(st, 13);
	return COL_TEXT(st, 0, p->identity) && COL_TEXT(st, 1, p->email) && COL_TEXT(st, 2, p->role) &&
	       COL_TEXT(st, 4, p->exception_reason) && COL_TEXT(st, 5, p->exception_approved_by) &&
	       COL_TEXT(st, 10, p->policy_version) && COL_TEXT(st, 11, p->status) && COL_TEXT(st, 12, p->reason);
}

static bool read_reminder(sqlite3_stmt *st, void *row)
{
	cb_store_reminder_t *r = row;

	r->ack_expiry = col_time(st, 2);
	r->window_days = (unsigned int) sqlite3_column_int(st, 3);
	r->sent_at = col_time(st, 4);
	return COL_TEXT(st, 0, r->identity) && COL_TEXT(st, 1, r->email) && COL_TEXT(st, 5, r->result) &&
	       COL_TEXT(st, 6, r->detail);
}

static bool read_device(sqlite3_stmt *st, void *row)
{
	cb_store_device_t *d = row;
	int64_t n = sqlite3_column_int64(st, 2), active = sqlite3_column_int64(st, 3);

	d->sessions = n > 0 ? (size_t) n : 0;
	d->active = active > 0 ? (size_t) active : 0;
	d->first_seen = col_time(st, 4);
	d->last_seen = col_time(st, 5);
	return COL_TEXT(st, 0, d->identity) && COL_TEXT(st, 1, d->device);
}

static bool read_disconnect(sqlite3_stmt *st, void *row)
{
	cb_store_disconnect_t *d = row;
	char kind[16], state[16], result[16];
	int k, s, r;

	d->id = sqlite3_column_int64(st, 0);
	d->attempts = (unsigned int) sqlite3_column_int(st, 7);
	d->created_at = col_time(st, 8);
	d->next_attempt = col_time(st, 9);
	d->last_attempt = col_time(st, 10);
	d->error_cause = (unsigned int) sqlite3_column_int(st, 12);
	if (!COL_TEXT(st, 1, d->nas) || !COL_TEXT(st, 2, d->acct_session_id) || !COL_TEXT(st, 3, d->identity) ||
	    !COL_TEXT(st, 4, d->reason) || !COL_TEXT(st, 5, kind) || !COL_TEXT(st, 6, state) ||
	    !COL_TEXT(st, 11, result) || !COL_TEXT(st, 13, d->detail)) return false;
	k = name_index(disc_kind_names, NUM_ELEMENTS(disc_kind_names), kind);
	s = name_index(disc_state_names, NUM_ELEMENTS(disc_state_names), state);
	r = name_index(disc_result_names, NUM_ELEMENTS(disc_result_names), result);
	if (k < 0 || s < 0 || r < 0) return false;
	d->kind = (cb_disc_kind_t) k;
	d->state = (cb_disc_state_t) s;
	d->last_result = (cb_disc_result_t) r;
	return true;
}

static bool read_command(sqlite3_stmt *st, void *row)
{
	cb_store_command_t *c = row;
	char name[CB_STORE_NAME_MAX + 1];
	int cmd;

	c->id = sqlite3_column_int64(st, 0);
	c->created_at = col_time(st, 4);
	if (!COL_TEXT(st, 1, name) || !COL_TEXT(st, 2, c->arg) || !COL_TEXT(st, 3, c->by)) return false;
	cmd = cb_cmd_from_name(name);
	if (cmd < 0) return false;
	c->cmd = (cb_cmd_t) cmd;
	return true;
}

static bool read_status(sqlite3_stmt *st, void *row)
{
	cb_store_status_t *s = row;

	s->updated_at = col_time(st, 2);
	return COL_TEXT(st, 0, s->key) && COL_TEXT(st, 1, s->value);
}

typedef bool (*row_reader_t)(sqlite3_stmt *st, void *row);

/**
 * sq_one - step st for at most one row into row.  Returns 0 (row filled),
 * 1 (no row), -1 (error or a row that does not fit, logged).
 */
static int sq_one(cb_store_backend_t *be, sqlite3_stmt *st, row_reader_t read, void *row, char const *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 1;
	}
	if (rc != SQLITE_ROW) {
		sq_fail(be, what);
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
 * sq_list - step st for every row, appending records of size bytes to a
 * growing array.  On 0, *items and *count hold the rows (NULL/0 when none); on
 * -1 nothing is allocated.
 */
static int sq_list(cb_store_backend_t *be, sqlite3_stmt *st, row_reader_t read, size_t size,
		   void **items, size_t *count, char const *what)
{
	unsigned char *arr = NULL;
	size_t n = 0, alloc = 0;
	int rc;

	*items = NULL;
	*count = 0;
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
			BE_ERR(be, "store %s: %s: a row holds a value cetbyod never writes (was the database edited?)",
			       be->path, what);
			goto fail;
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		sq_fail(be, what);
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
 *	Decisions
 */
static int sq_decision_insert(cb_store_backend_t *be, cb_store_decision_t const *d)
{
	sqlite3_stmt *st = sq_stmt(be, S_DEC_PUT);

	if (!st) return -1;
	bind_text(st, 1, d->class_id);
	bind_text(st, 2, d->identity);
	bind_text(st, 3, d->outer_identity);
	bind_text(st, 4, d->status);
	bind_text(st, 5, d->reason);
	bind_int(st, 6, d->decided_at);
	bind_int(st, 7, d->valid_until);
	bind_int(st, 8, d->ack_time);
	bind_text(st, 9, d->policy_version);
	bind_text(st, 10, d->nas);
	bind_text(st, 11, d->calling_station);
	bind_text(st, 12, d->ack_email);
	return sq_done(be, st, "recording a decision");
}

/** sq_decisions_put - n decisions in one transaction; one that fails (logged) does not stop the others. */
static int sq_decisions_put(cb_store_backend_t *be, cb_store_decision_t const *d, size_t n)
{
	int rc = 0;

	if (n == 1) return sq_decision_insert(be, d);
	if (sq_begin(be) < 0) return -1;
	for (size_t i = 0; i < n; i++) {
		if (sq_decision_insert(be, &d[i]) < 0) rc = 1;
	}
	return sq_end(be, 0) < 0 ? -1 : -rc;
}

static int sq_decision_get(cb_store_backend_t *be, char const *class_id, cb_store_decision_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_DEC_GET);
	cb_store_decision_t d;
	int rc;

	if (!st) return -1;
	memset(&d, 0, sizeof(d));
	bind_text(st, 1, class_id);
	rc = sq_one(be, st, read_decision, &d, "reading a decision");
	if (rc == 0) *out = d;
	return rc;
}

/*
 *	Sessions
 */

/* What the store adds to an Accounting-Request before it writes it. */
typedef struct {
	char	identity[CB_STORE_TEXT_MAX + 1];
	char	status[CB_STORE_NAME_MAX + 1];
	char	ap[CB_STORE_TEXT_MAX + 1];
	char	ssid[CB_STORE_TEXT_MAX + 1];
} acct_extra_t;

/** acct_resolve - identity and status from the decision of a->class_id, AP and SSID from Called-Station-Id. */
static int acct_resolve(cb_store_backend_t *be, cb_store_acct_t const *a, acct_extra_t *x)
{
	memset(x, 0, sizeof(*x));
	if (!empty(a->identity)) memcpy(x->identity, a->identity, strlen(a->identity) + 1);
	if (!empty(a->class_id)) {
		cb_store_decision_t d;
		int rc = sq_decision_get(be, a->class_id, &d);

		if (rc < 0) return -1;
		if (rc == 0) {
			if (!x->identity[0]) memcpy(x->identity, d.identity, sizeof(x->identity));
			memcpy(x->status, d.status, sizeof(x->status));
		}
	}
	cb_store_split_called_station(a->called_station, x->ap, x->ssid);
	return 0;
}

/** bind_acct - the shared session parameters; stopped < 0 binds NULL (open). */
static void bind_acct(sqlite3_stmt *st, cb_store_acct_t const *a, acct_extra_t const *x, int64_t stopped)
{
	bind_text(st, 1, a->nas);
	bind_text(st, 2, a->acct_session_id);
	bind_text(st, 3, a->class_id);
	bind_text(st, 4, x->identity);
	bind_text(st, 5, a->outer_identity);
	bind_text(st, 6, a->calling_station);
	bind_text(st, 7, a->called_station);
	bind_text(st, 8, x->ap);
	bind_text(st, 9, x->ssid);
	bind_text(st, 10, a->framed_ip);
	bind_text(st, 11, a->nas_ip);
	bind_text(st, 12, a->nas_identifier);
	bind_text(st, 13, x->status);
	bind_int(st, 14, a->started ? a->started : a->event_time);
	bind_int(st, 15, a->event_time);
	if (stopped < 0) {
		sqlite3_bind_null(st, 16);
	} else {
		bind_int(st, 16, stopped);
	}
	bind_text(st, 17, a->stop_cause);
	bind_int(st, 18, a->has_octets);
	bind_int(st, 19, (int64_t) a->in_octets);
	bind_int(st, 20, (int64_t) a->out_octets);
}

/** ses_write - run the session statement id with the request's values; 0, or -1. */
static int ses_write(cb_store_backend_t *be, stmt_id_t id, cb_store_acct_t const *a, acct_extra_t const *x,
		     int64_t stopped)
{
	sqlite3_stmt *st = sq_stmt(be, id);

	if (!st) return -1;
	bind_acct(st, a, x, stopped);
	return sq_done(be, st, id == S_SES_INSERT ? "recording a session" : "updating a session");
}

/** ses_reopen_stale - reopen the latest session of the key when it was closed as stale; 0 or -1. */
static int ses_reopen_stale(cb_store_backend_t *be, cb_store_acct_t const *a)
{
	sqlite3_stmt *st = sq_stmt(be, S_SES_REOPEN_STALE);

	if (!st) return -1;
	bind_text(st, 1, a->nas);
	bind_text(st, 2, a->acct_session_id);
	return sq_done(be, st, "reopening a stale session");
}

/** ses_latest_closed - 1 when the latest session of the key is closed, 0 when open or none, -1. */
static int ses_latest_closed(cb_store_backend_t *be, cb_store_acct_t const *a)
{
	sqlite3_stmt *st = sq_stmt(be, S_SES_LATEST);
	int rc, closed;

	if (!st) return -1;
	bind_text(st, 1, a->nas);
	bind_text(st, 2, a->acct_session_id);
	rc = sqlite3_step(st);
	closed = (rc == SQLITE_ROW) ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sq_fail(be, "looking up a session");
	return closed ? 1 : 0;
}

/**
 * ses_apply - the body of start, update and stop, inside a transaction.
 * Update the open session; when there is none, reopen one closed as stale
 * and update it; else insert (a stop inserts a closed session, unless the
 * key's latest session is already closed: a repeated Stop).  Returns 0
 * when an open session was updated, 1 otherwise, -1 on error.
 */
static int ses_apply(cb_store_backend_t *be, cb_store_acct_t const *a, bool stop)
{
	acct_extra_t x;
	int64_t stopped = stop ? (int64_t) a->event_time : -1;
	int rc;

	if (acct_resolve(be, a, &x) < 0) return -1;
	if (ses_write(be, S_SES_UPDATE, a, &x, stopped) < 0) return -1;
	if (sq_changes(be) > 0) return 0;

	if (ses_reopen_stale(be, a) < 0) return -1;
	if (sq_changes(be) > 0) {
		if (ses_write(be, S_SES_UPDATE, a, &x, stopped) < 0) return -1;
		return 1;
	}
	if (stop) {
		rc = ses_latest_closed(be, a);
		if (rc != 0) return rc;		/* 1: a repeated Stop, nothing to do. */
	}
	return ses_write(be, S_SES_INSERT, a, &x, stopped) < 0 ? -1 : 1;
}

static int sq_session_start(cb_store_backend_t *be, cb_store_acct_t const *a)
{
	int rc;

	if (sq_begin(be) < 0) return -1;
	rc = sq_end(be, ses_apply(be, a, false));
	return rc < 0 ? -1 : 0;
}

static int sq_session_update(cb_store_backend_t *be, cb_store_acct_t const *a)
{
	if (sq_begin(be) < 0) return -1;
	return sq_end(be, ses_apply(be, a, false));
}

static int sq_session_stop(cb_store_backend_t *be, cb_store_acct_t const *a)
{
	if (sq_begin(be) < 0) return -1;
	return sq_end(be, ses_apply(be, a, true));
}

static int sq_session_get(cb_store_backend_t *be, char const *nas, char const *acct_session_id,
			  cb_store_session_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_SES_GET);
	cb_store_session_t *s;
	int rc;

	if (!st) return -1;
	s = calloc(1, sizeof(*s));	/* 3 KB: not on a request thread's stack. */
	if (!s) {
		BE_ERR(be, "store %s: out of memory", be->path);
		return -1;
	}
	bind_text(st, 1, nas);
	bind_text(st, 2, acct_session_id);
	rc = sq_one(be, st, read_session, s, "reading a session");
	if (rc == 0) *out = *s;
	free(s);
	return rc;
}

/** sq_close_returning - run an UPDATE ... RETURNING of sessions; the closed ones go to out. */
static int sq_close_returning(cb_store_backend_t *be, sqlite3_stmt *st, char const *what, size_t *closed,
			      cb_store_sessions_t *out)
{
	void *items;
	int rc;

	if (sq_begin(be) < 0) return -1;
	rc = sq_list(be, st, read_session, sizeof(cb_store_session_t), &items, &out->count, what);
	out->items = items;
	rc = sq_end(be, rc);
	if (rc < 0) {
		cb_store_sessions_free(out);
		return -1;
	}
	*closed = out->count;
	return *closed ? 0 : 1;
}

static int sq_nas_reboot(cb_store_backend_t *be, char const *nas, char const *cause, time_t now, size_t *closed,
			 cb_store_sessions_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_SES_NAS_REBOOT);

	if (!st) return -1;
	bind_text(st, 1, nas);
	bind_int(st, 2, now);
	bind_text(st, 3, cause);
	return sq_close_returning(be, st, "closing the sessions of a NAS", closed, out);
}

static int sq_close_stale(cb_store_backend_t *be, time_t before, time_t now, size_t *closed,
			  cb_store_sessions_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_SES_STALE);

	(void) now;
	if (!st) return -1;
	bind_int(st, 1, before);
	return sq_close_returning(be, st, "closing stale sessions", closed, out);
}

static int sq_sessions_active(cb_store_backend_t *be, cb_store_filter_t const *f, cb_store_sessions_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_SES_ACTIVE);
	void *items;
	int rc;

	if (!st) return -1;
	bind_text(st, 1, f->identity);
	bind_text(st, 2, f->status);
	bind_int(st, 3, f->expired_by);
	bind_int(st, 4, f->revoked);
	bind_int(st, 5, f->limit ? (int64_t) f->limit : -1);
	rc = sq_list(be, st, read_session, sizeof(cb_store_session_t), &items, &out->count, "listing sessions");
	out->items = items;
	return rc;
}

/*
 *	Revocations
 */
static int sq_command_enqueue(cb_store_backend_t *be, cb_cmd_t cmd, char const *arg, char const *by, time_t now);

static int sq_revoke(cb_store_backend_t *be, char const *identity, char const *reason, char const *by, time_t now)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (sq_begin(be) < 0) return -1;
	st = sq_stmt(be, S_REV_UPDATE);
	if (!st) goto done;
	bind_text(st, 1, identity);
	bind_text(st, 2, reason);
	bind_text(st, 3, by);
	bind_int(st, 4, now);
	if (sq_done(be, st, "updating a revocation") < 0) goto done;
	if (sq_changes(be) > 0) {
		rc = 1;
		goto done;
	}
	st = sq_stmt(be, S_REV_INSERT);
	if (!st) goto done;
	bind_text(st, 1, identity);
	bind_text(st, 2, reason);
	bind_text(st, 3, by);
	bind_int(st, 4, now);
	rc = sq_done(be, st, "recording a revocation");
done:
	if (rc >= 0 && sq_command_enqueue(be, CB_CMD_ENFORCE, identity, by, now) < 0) rc = -1;
	return sq_end(be, rc);
}

static int sq_reinstate(cb_store_backend_t *be, char const *identity, char const *by, time_t now)
{
	sqlite3_stmt *st = sq_stmt(be, S_REV_REINSTATE);

	if (!st) return -1;
	bind_text(st, 1, identity);
	bind_text(st, 2, by);
	bind_int(st, 3, now);
	if (sq_done(be, st, "reinstating") < 0) return -1;
	return sq_changes(be) ? 0 : 1;
}

static int sq_is_revoked(cb_store_backend_t *be, char const *identity, cb_store_revocation_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_REV_GET);
	cb_store_revocation_t r;
	int rc;

	if (!st) return -1;
	memset(&r, 0, sizeof(r));
	bind_text(st, 1, identity);
	rc = sq_one(be, st, read_revocation, &r, "reading a revocation");
	if (rc < 0) return -1;
	if (rc == 1) return 0;
	if (out) *out = r;
	return 1;
}

static int sq_revocations(cb_store_backend_t *be, bool history, cb_store_revocations_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_REV_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	bind_int(st, 1, history);
	rc = sq_list(be, st, read_revocation, sizeof(cb_store_revocation_t), &items, &out->count,
		     "listing revocations");
	out->items = items;
	return rc;
}

/*
 *	Exceptions register
 */
static int sq_exceptions(cb_store_backend_t *be, bool history, cb_store_exceptions_t *out);

static void bind_exception(sqlite3_stmt *st, char const *identity, char const *mac, char const *reason,
			   char const *approved_by, char const *by, time_t now, time_t until)
{
	bind_text(st, 1, identity);
	bind_text(st, 2, mac);
	bind_text(st, 3, reason);
	bind_text(st, 4, approved_by);
	bind_text(st, 5, by);
	bind_int(st, 6, now);
	bind_int(st, 7, until);
}

static int sq_exception_add(cb_store_backend_t *be, char const *identity, char const *mac, char const *reason,
			    char const *approved_by, char const *by, time_t until, time_t now, int64_t *id)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (sq_begin(be) < 0) return -1;
	st = sq_stmt(be, S_EXC_UPDATE);
	if (!st) goto done;
	bind_exception(st, identity, mac, reason, approved_by, by, now, until);
	if (sq_done(be, st, "updating an exception") < 0) goto done;
	if (sq_changes(be) > 0) {
		rc = 1;
	} else {
		st = sq_stmt(be, S_EXC_INSERT);
		if (!st) goto done;
		bind_exception(st, identity, mac, reason, approved_by, by, now, until);
		rc = sq_done(be, st, "recording an exception");
	}
	if (rc >= 0 && id) {
		cb_store_exceptions_t list = { 0 };

		*id = 0;
		if (sq_exceptions(be, false, &list) == 0) {
			for (size_t i = 0; i < list.count; i++) {
				if (strcmp(list.items[i].identity, identity) == 0 && strcmp(list.items[i].mac, mac) == 0) {
					*id = list.items[i].id;
				}
			}
		}
		cb_store_exceptions_free(&list);
	}
	if (rc >= 0 && sq_command_enqueue(be, CB_CMD_ENFORCE, identity, by, now) < 0) rc = -1;
done:
	return sq_end(be, rc);
}

static int sq_exception_end(cb_store_backend_t *be, char const *identity, char const *mac, char const *by,
			    time_t now, size_t *ended)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (sq_begin(be) < 0) return -1;
	st = sq_stmt(be, S_EXC_END);
	if (!st) goto done;
	bind_text(st, 1, identity);
	bind_text(st, 2, mac);
	bind_text(st, 3, by);
	bind_int(st, 4, now);
	if (sq_done(be, st, "ending an exception") < 0) goto done;
	*ended = sq_changes(be);
	rc = *ended ? 0 : 1;
	if (rc == 0 && sq_command_enqueue(be, CB_CMD_ENFORCE, identity, by, now) < 0) rc = -1;
done:
	return sq_end(be, rc);
}

static int sq_exceptions(cb_store_backend_t *be, bool history, cb_store_exceptions_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_EXC_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	bind_int(st, 1, history);
	rc = sq_list(be, st, read_exception, sizeof(cb_store_exception_t), &items, &out->count, "listing exceptions");
	out->items = items;
	return rc;
}

/*
 *	People and reminders
 */
static int sq_person_insert(cb_store_backend_t *be, cb_store_person_t const *p)
{
	sqlite3_stmt *st = sq_stmt(be, S_PEOPLE_INSERT);

	if (!st) return -1;
	bind_text(st, 1, p->identity);
	bind_text(st, 2, p->email);
	bind_text(st, 3, p->role);
	bind_int(st, 4, p->disabled);
	bind_text(st, 5, p->exception_reason);
	bind_text(st, 6, p->exception_approved_by);
	bind_int(st, 7, p->exception_until);
	bind_int(st, 8, p->ack_time);
	bind_int(st, 9, p->ack_expiry);
	bind_int(st, 10, p->ack_revoked);
	bind_text(st, 11, p->policy_version);
	bind_text(st, 12, p->status);
	bind_text(st, 13, p->reason);
	bind_int(st, 14, p->refreshed_at);
	return sq_done(be, st, "recording a person");
}

static bool person_ok(cb_store_person_t const *p);

static int sq_people_update(cb_store_backend_t *be, bool replace, char const *const *removed, size_t n_removed,
			    cb_store_person_next_fn next, void *ctx)
{
	cb_store_person_t row;
	int rc = 0;

	if (sq_begin(be) < 0) return -1;
	if (replace) rc = sq_exec(be, S_PEOPLE_CLEAR, "clearing the people");
	for (size_t i = 0; i < n_removed && rc == 0; i++) {
		sqlite3_stmt *st = sq_stmt(be, S_PEOPLE_DELETE);

		if (!st) {
			rc = -1;
			break;
		}
		bind_text(st, 1, removed[i]);
		rc = sq_done(be, st, "removing a person");
	}
	while (rc == 0 && next(ctx, &row)) {
		if (!person_ok(&row)) {
			BE_ERR(be, "store %s: a person with invalid text (%.64s): the list of people is not updated",
			       be->path, row.identity);
			rc = -1;
			break;
		}
		rc = sq_person_insert(be, &row);
	}
	return sq_end(be, rc);
}

static int sq_people(cb_store_backend_t *be, cb_store_people_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_PEOPLE_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	rc = sq_list(be, st, read_person, sizeof(cb_store_person_t), &items, &out->count, "listing people");
	out->items = items;
	return rc;
}

static int sq_reminder_put(cb_store_backend_t *be, cb_store_reminder_t const *r)
{
	sqlite3_stmt *st = sq_stmt(be, S_REM_INSERT);

	if (!st) return -1;
	bind_text(st, 1, r->identity);
	bind_text(st, 2, r->email);
	bind_int(st, 3, r->ack_expiry);
	bind_int(st, 4, r->window_days);
	bind_int(st, 5, r->sent_at);
	bind_text(st, 6, r->result);
	bind_text(st, 7, r->detail);
	if (sq_done(be, st, "recording a reminder") < 0) return -1;
	return sq_changes(be) ? 0 : 1;
}

static int sq_reminder_sent(cb_store_backend_t *be, char const *email, time_t ack_expiry, unsigned int window_days)
{
	sqlite3_stmt *st = sq_stmt(be, S_REM_GET);
	int rc;

	if (!st) return -1;
	bind_text(st, 1, email);
	bind_int(st, 2, ack_expiry);
	bind_int(st, 3, window_days);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) return 1;
	if (rc == SQLITE_DONE) return 0;
	return sq_fail(be, "reading the reminders");
}

static int sq_reminders(cb_store_backend_t *be, time_t since, cb_store_reminders_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_REM_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	bind_int(st, 1, since);
	rc = sq_list(be, st, read_reminder, sizeof(cb_store_reminder_t), &items, &out->count, "listing reminders");
	out->items = items;
	return rc;
}

static int sq_devices(cb_store_backend_t *be, char const *identity, time_t since, cb_store_devices_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_DEVICES);
	void *items;
	int rc;

	if (!st) return -1;
	bind_text(st, 1, identity);
	bind_int(st, 2, since);
	rc = sq_list(be, st, read_device, sizeof(cb_store_device_t), &items, &out->count, "listing devices");
	out->items = items;
	return rc;
}

/*
 *	Disconnect queue
 */

/** disc_find_open - id of the pending or held request of that kind for the session: 0 (*id), 1 none, -1. */
static int disc_find_open(cb_store_backend_t *be, char const *nas, char const *acct_session_id,
			  cb_disc_kind_t kind, int64_t *id)
{
	sqlite3_stmt *st = sq_stmt(be, S_DISC_FIND_OPEN);
	int rc;

	if (!st) return -1;
	bind_text(st, 1, nas);
	bind_text(st, 2, acct_session_id);
	bind_text(st, 3, cb_disc_kind_name(kind));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) return 0;
	if (rc == SQLITE_DONE) return 1;
	return sq_fail(be, "looking up the disconnect queue");
}

/** disc_session_id - the session's row id (0 when unknown), or -1. */
static int64_t disc_session_id(cb_store_backend_t *be, char const *nas, char const *acct_session_id)
{
	sqlite3_stmt *st = sq_stmt(be, S_DISC_SESSION_ID);
	int64_t id = 0;
	int rc;

	if (!st) return -1;
	bind_text(st, 1, nas);
	bind_text(st, 2, acct_session_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sq_fail(be, "looking up a session");
	return id;
}

static int disc_insert(cb_store_backend_t *be, char const *nas, char const *acct_session_id, char const *identity,
		       char const *reason, cb_disc_kind_t kind, bool held, time_t now, int64_t *id)
{
	int64_t sid = disc_session_id(be, nas, acct_session_id);
	sqlite3_stmt *st;

	if (sid < 0) return -1;
	st = sq_stmt(be, S_DISC_INSERT);
	if (!st) return -1;
	if (sid > 0) {
		bind_int(st, 1, sid);
	} else {
		sqlite3_bind_null(st, 1);
	}
	bind_text(st, 2, nas);
	bind_text(st, 3, acct_session_id);
	bind_text(st, 4, identity);
	bind_text(st, 5, reason);
	bind_text(st, 6, cb_disc_kind_name(kind));
	bind_text(st, 7, held ? "held" : "pending");
	bind_int(st, 8, now);
	if (sq_done(be, st, "queueing a disconnect") < 0) return -1;
	*id = sqlite3_last_insert_rowid(be->db);
	return 0;
}

static int sq_disconnect_enqueue(cb_store_backend_t *be, char const *nas, char const *acct_session_id,
				 char const *identity, char const *reason, cb_disc_kind_t kind, bool held,
				 time_t now, int64_t *id)
{
	int rc;

	if (sq_begin(be) < 0) return -1;
	rc = disc_find_open(be, nas, acct_session_id, kind, id);
	if (rc == 1) rc = disc_insert(be, nas, acct_session_id, identity, reason, kind, held, now, id);
	else if (rc == 0) rc = 1;
	return sq_end(be, rc);
}

static int sq_disconnect_due(cb_store_backend_t *be, time_t now, size_t limit, cb_store_disconnects_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_DISC_DUE);
	void *items;
	int rc;

	if (!st) return -1;
	bind_int(st, 1, now);
	bind_int(st, 2, limit ? (int64_t) limit : -1);
	rc = sq_list(be, st, read_disconnect, sizeof(cb_store_disconnect_t), &items, &out->count,
		     "listing due disconnects");
	out->items = items;
	return rc;
}

static int sq_disconnect_mark(cb_store_backend_t *be, int64_t id, cb_disc_result_t result, unsigned int error_cause,
			      char const *detail, time_t next_attempt, time_t now)
{
	sqlite3_stmt *st = sq_stmt(be, S_DISC_MARK);

	if (!st) return -1;
	bind_int(st, 1, id);
	bind_int(st, 2, now);
	bind_text(st, 3, cb_disc_result_name(result));
	bind_int(st, 4, error_cause);
	bind_text(st, 5, detail);
	bind_int(st, 6, next_attempt);
	if (sq_done(be, st, "recording a disconnect attempt") < 0) return -1;
	return sq_changes(be) ? 0 : 1;
}

static int sq_disconnect_hold(cb_store_backend_t *be, int64_t const *ids, size_t n, size_t *held)
{
	size_t i, moved = 0;
	int rc = 0;

	if (sq_begin(be) < 0) return -1;
	for (i = 0; i < n && rc == 0; i++) {
		sqlite3_stmt *st = sq_stmt(be, S_DISC_HOLD);

		if (!st) {
			rc = -1;
			break;
		}
		bind_int(st, 1, ids[i]);
		rc = sq_done(be, st, "holding a disconnect");
		if (rc == 0) moved += sq_changes(be);
	}
	if (sq_end(be, rc) < 0) return -1;
	*held = moved;
	return moved ? 0 : 1;
}

static int sq_disconnect_release(cb_store_backend_t *be, bool confirm, time_t now, size_t *count)
{
	sqlite3_stmt *st = sq_stmt(be, S_DISC_RELEASE);

	if (!st) return -1;
	bind_text(st, 1, confirm ? "pending" : "cancelled");
	bind_int(st, 2, now);
	if (sq_done(be, st, "releasing held disconnects") < 0) return -1;
	*count = sq_changes(be);
	return *count ? 0 : 1;
}

static int sq_disconnects(cb_store_backend_t *be, cb_disc_state_t state, size_t limit, cb_store_disconnects_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_DISC_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	bind_text(st, 1, cb_disc_state_name(state));
	bind_int(st, 2, limit ? (int64_t) limit : -1);
	rc = sq_list(be, st, read_disconnect, sizeof(cb_store_disconnect_t), &items, &out->count,
		     "listing disconnects");
	out->items = items;
	return rc;
}

/*
 *	Commands
 */
static int sq_command_enqueue(cb_store_backend_t *be, cb_cmd_t cmd, char const *arg, char const *by, time_t now)
{
	sqlite3_stmt *st = sq_stmt(be, S_CMD_INSERT);

	if (!st) return -1;
	bind_text(st, 1, cb_cmd_name(cmd));
	bind_text(st, 2, arg);
	bind_text(st, 3, by);
	bind_int(st, 4, now);
	return sq_done(be, st, "queueing a command");
}

/** cmd_list - every queued command into out; 0 or -1. */
static int cmd_list(cb_store_backend_t *be, cb_store_commands_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_CMD_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	rc = sq_list(be, st, read_command, sizeof(cb_store_command_t), &items, &out->count, "reading commands");
	out->items = items;
	return rc;
}

static int sq_commands_take(cb_store_backend_t *be, cb_store_commands_t *out)
{
	sqlite3_stmt *st;
	int rc;

	/* The module asks every second: look without taking the write lock first. */
	if (cmd_list(be, out) < 0) return -1;
	if (out->count == 0) return 0;
	cb_store_commands_free(out);

	if (sq_begin(be) < 0) return -1;
	rc = cmd_list(be, out);
	if (rc == 0 && out->count > 0) {
		st = sq_stmt(be, S_CMD_DELETE);
		if (!st) {
			rc = -1;
		} else {
			bind_int(st, 1, out->items[out->count - 1].id);
			rc = sq_done(be, st, "taking commands");
		}
	}
	rc = sq_end(be, rc);
	if (rc < 0) cb_store_commands_free(out);
	return rc;
}

/*
 *	Status
 */
static int sq_status_put(cb_store_backend_t *be, char const *key, char const *value, time_t now)
{
	sqlite3_stmt *st = sq_stmt(be, S_ST_PUT);

	if (!st) return -1;
	bind_text(st, 1, key);
	bind_text(st, 2, value);
	bind_int(st, 3, now);
	return sq_done(be, st, "writing status");
}

static int sq_status_get(cb_store_backend_t *be, char const *key, cb_store_status_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_ST_GET);

	if (!st) return -1;
	bind_text(st, 1, key);
	return sq_one(be, st, read_status, out, "reading status");
}

static int sq_statuses(cb_store_backend_t *be, cb_store_statuses_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_ST_LIST);
	void *items;
	int rc;

	if (!st) return -1;
	rc = sq_list(be, st, read_status, sizeof(cb_store_status_t), &items, &out->count, "reading status");
	out->items = items;
	return rc;
}

/*
 *	Counts and housekeeping
 */
static int sq_counts(cb_store_backend_t *be, cb_store_counts_t *out)
{
	sqlite3_stmt *st = sq_stmt(be, S_COUNTS);
	size_t *fields[] = { &out->decisions, &out->sessions, &out->sessions_active, &out->people_active,
			     &out->revocations, &out->disc_pending, &out->disc_held, &out->disc_failed,
			     &out->commands };
	size_t i;
	int rc;

	if (!st) return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return sq_fail(be, "counting");
	}
	for (i = 0; i < NUM_ELEMENTS(fields); i++) {
		int64_t v = sqlite3_column_int64(st, (int) i);

		*fields[i] = v > 0 ? (size_t) v : 0;
	}
	sqlite3_reset(st);
	return 0;
}

static int sq_purge(cb_store_backend_t *be, time_t before, size_t *removed)
{
	static stmt_id_t const steps[] = {
		S_PURGE_DISC, S_PURGE_SES, S_PURGE_DEC, S_PURGE_REV, S_PURGE_EXC, S_PURGE_REM
	};
	size_t i, n = 0;
	int rc = 0;

	if (sq_begin(be) < 0) return -1;
	for (i = 0; i < NUM_ELEMENTS(steps) && rc == 0; i++) {
		sqlite3_stmt *st = sq_stmt(be, steps[i]);

		if (!st) {
			rc = -1;
			break;
		}
		bind_int(st, 1, before);
		rc = sq_done(be, st, "purging old records");
		if (rc == 0) n += sq_changes(be);
	}
	if (sq_end(be, rc) < 0) return -1;
	*removed = n;
	return n ? 0 : 1;
}

/*
 *	Opening and closing
 */
static void sq_close(cb_store_backend_t *be)
{
	size_t i;

	if (!be) return;
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
	snprintf(err, errlen, "%s: %s: %s", path, what, msg ? msg : sqlite3_errmsg(db));
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
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
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
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if (geteuid() == 0 && (st.st_uid != 0 || st.st_gid != 0) && fchown(fd, st.st_uid, st.st_gid) < 0) {
		snprintf(err, errlen, "cannot give %s to the owner of %s: %s", path, dir, strerror(errno));
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

/** sq_configure - per-connection settings; 0 or -1 (err set). */
static int sq_configure(sqlite3 *db, char const *path, unsigned int busy_ms, bool fast_sync, char *err,
			size_t errlen)
{
	sqlite3_stmt *st;
	int ok;

	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, (int) (busy_ms ? busy_ms : STORE_BUSY_DEFAULT_MS));
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

static cb_store_ops_t const sq_ops = {
	.name = "sqlite",
	.close = sq_close,
	.decisions_put = sq_decisions_put,
	.decision_get = sq_decision_get,
	.session_start = sq_session_start,
	.session_update = sq_session_update,
	.session_stop = sq_session_stop,
	.session_get = sq_session_get,
	.nas_reboot = sq_nas_reboot,
	.close_stale = sq_close_stale,
	.sessions_active = sq_sessions_active,
	.revoke = sq_revoke,
	.reinstate = sq_reinstate,
	.is_revoked = sq_is_revoked,
	.revocations = sq_revocations,
	.disconnect_enqueue = sq_disconnect_enqueue,
	.disconnect_due = sq_disconnect_due,
	.disconnect_mark = sq_disconnect_mark,
	.disconnect_hold = sq_disconnect_hold,
	.disconnect_release = sq_disconnect_release,
	.disconnects = sq_disconnects,
	.command_enqueue = sq_command_enqueue,
	.commands_take = sq_commands_take,
	.status_put = sq_status_put,
	.status_get = sq_status_get,
	.statuses = sq_statuses,
	.counts = sq_counts,
	.purge = sq_purge,
	.exception_add = sq_exception_add,
	.exception_end = sq_exception_end,
	.exceptions = sq_exceptions,
	.people_update = sq_people_update,
	.people = sq_people,
	.reminder_put = sq_reminder_put,
	.reminder_sent = sq_reminder_sent,
	.reminders = sq_reminders,
	.devices = sq_devices,
};

/** sq_open - the SQLite backend on conf->path; NULL with err set (file untouched) on failure. */
static cb_store_backend_t *sq_open(cb_store_conf_t const *conf, char *err, size_t errlen)
{
	cb_store_backend_t *be;
	size_t plen = strlen(conf->path);

	if (plen == 0 || plen >= STORE_PATH_MAX) {
		snprintf(err, errlen, "store path is empty or too long");
		return NULL;
	}
	if (create_file(conf->path, conf->create, err, errlen) < 0) return NULL;
	if (access(conf->path, R_OK | W_OK) < 0) {
		snprintf(err, errlen, "cannot read and write %s: %s (run as root, or as the user radiusd runs as, "
			 "who owns the state directory)", conf->path, strerror(errno));
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
	if (sq_configure(be->db, conf->path, conf->busy_timeout_ms, conf->fast_sync, err, errlen) < 0) goto fail;
	if (sq_schema(be->db, conf->path, err, errlen) < 0) goto fail;
	return be;

fail:
	sq_close(be);
	return NULL;
}

/*
 *	The front: argument checks, the mutex, dispatch.
 */
struct cb_store {
	pthread_mutex_t		mutex;
	cb_store_ops_t const	*ops;
	cb_store_backend_t	*be;
	cb_log_fn_t		log;
	void			*log_ctx;

	/* defer_decisions: the queue, its lock, and the thread that commits it. */
	bool			defer;
	pthread_mutex_t		qmu;		/* Guards q, qlen, stop; taken after mutex, never before. */
	pthread_cond_t		qcond;
	cb_store_decision_t	*q;		/* CB_STORE_DEFER_MAX places, oldest first. */
	cb_store_decision_t	*spare;		/* The batch being committed (mutex held). */
	size_t			qlen;
	bool			stop;
	pthread_t		flusher;
};

cb_store_t *cb_store_wrap(cb_store_ops_t const *ops, cb_store_backend_t *be, cb_log_fn_t log, void *log_ctx)
{
	cb_store_t *store = calloc(1, sizeof(*store));

	if (!store || pthread_mutex_init(&store->mutex, NULL) != 0) {
		free(store);
		ops->close(be);
		return NULL;
	}
	store->ops = ops;
	store->be = be;
	store->log = log;
	store->log_ctx = log_ctx;
	return store;
}

/*
 *	Deferred decisions.  cb_store_decision_put queues; flush_locked
 *	commits the queue in one transaction, called by the flusher thread
 *	every CB_STORE_DEFER_MS and by every other call on the handle before
 *	its own work (LOCKED), so the handle never misses its own decisions.
 */

/** flush_locked - commit the queued decisions (store->mutex held). */
static void flush_locked(cb_store_t *store)
{
	cb_store_decision_t *batch;
	size_t n;

	if (!store->defer) return;
	pthread_mutex_lock(&store->qmu);
	n = store->qlen;
	batch = store->q;
	store->q = store->spare;
	store->spare = batch;
	store->qlen = 0;
	pthread_mutex_unlock(&store->qmu);
	if (n && store->ops->decisions_put(store->be, batch, n) < 0 && store->log) {
		store->log(store->log_ctx, CB_LOG_ERROR, "store: %zu decision(s) could not be recorded: their sessions "
			   "will not be tied to them", n);
	}
}

static void *flusher_thread(void *arg)
{
	cb_store_t *store = arg;

	pthread_mutex_lock(&store->qmu);
	while (!store->stop) {
		struct timespec deadline;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += CB_STORE_DEFER_MS * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&store->qcond, &store->qmu, &deadline);
		if (!store->qlen) continue;
		pthread_mutex_unlock(&store->qmu);
		pthread_mutex_lock(&store->mutex);
		flush_locked(store);
		pthread_mutex_unlock(&store->mutex);
		pthread_mutex_lock(&store->qmu);
	}
	pthread_mutex_unlock(&store->qmu);
	return NULL;
}

/** start_deferring - the queue and its thread; false (err set) on failure. */
static bool start_deferring(cb_store_t *store, char *err, size_t errlen)
{
	store->q = calloc(CB_STORE_DEFER_MAX, sizeof(*store->q));
	store->spare = calloc(CB_STORE_DEFER_MAX, sizeof(*store->spare));
	if (!store->q || !store->spare) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	pthread_mutex_init(&store->qmu, NULL);
	pthread_cond_init(&store->qcond, NULL);
	if (pthread_create(&store->flusher, NULL, flusher_thread, store) != 0) {
		snprintf(err, errlen, "cannot start the store's decision writer: %s", strerror(errno));
		pthread_cond_destroy(&store->qcond);
		pthread_mutex_destroy(&store->qmu);
		return false;
	}
	store->defer = true;
	return true;
}

static void stop_deferring(cb_store_t *store)
{
	if (store->defer) {
		pthread_mutex_lock(&store->qmu);
		store->stop = true;
		pthread_cond_signal(&store->qcond);
		pthread_mutex_unlock(&store->qmu);
		pthread_join(store->flusher, NULL);
		pthread_mutex_lock(&store->mutex);
		flush_locked(store);
		pthread_mutex_unlock(&store->mutex);
		pthread_cond_destroy(&store->qcond);
		pthread_mutex_destroy(&store->qmu);
		store->defer = false;
	}
	free(store->q);
	free(store->spare);
	store->q = store->spare = NULL;
}

/** defer_decision - queue d; false when the queue is full (the caller commits it itself). */
static bool defer_decision(cb_store_t *store, cb_store_decision_t const *d)
{
	bool queued = false;

	pthread_mutex_lock(&store->qmu);
	if (store->qlen < CB_STORE_DEFER_MAX) {
		store->q[store->qlen++] = *d;
		queued = true;
		if (store->qlen == CB_STORE_DEFER_MAX / 2) pthread_cond_signal(&store->qcond);
	}
	pthread_mutex_unlock(&store->qmu);
	return queued;
}

cb_store_t *cb_store_open(cb_store_conf_t const *conf, char *err, size_t errlen)
{
	cb_store_backend_t *be;
	cb_store_t *store;

	if (!conf || !conf->path) {
		snprintf(err, errlen, "no store path");
		return NULL;
	}
	be = sq_open(conf, err, errlen);
	if (!be) return NULL;
	store = cb_store_wrap(&sq_ops, be, conf->log, conf->log_ctx);
	if (!store) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (conf->defer_decisions && !start_deferring(store, err, errlen)) {
		cb_store_close(store);
		return NULL;
	}
	return store;
}

void cb_store_close(cb_store_t *store)
{
	if (!store) return;
	stop_deferring(store);
	store->ops->close(store->be);
	pthread_mutex_destroy(&store->mutex);
	free(store);
}

#define LOCKED(store, call) do { \
		int _rc; \
		pthread_mutex_lock(&(store)->mutex); \
		flush_locked(store); \
		_rc = (call); \
		pthread_mutex_unlock(&(store)->mutex); \
		return _rc; \
	} while (0)

/* The *_free function of a list type: frees its items; the list is empty after. */
#define LIST_FREE(fn, type) \
	void fn(type *list) \
	{ \
		if (!list) return; \
		free(list->items); \
		list->items = NULL; \
		list->count = 0; \
	}

/** bad - log a refused argument; returns -1. */
static int bad(cb_store_t *store, char const *fn, char const *what)
{
	if (store && store->log) store->log(store->log_ctx, CB_LOG_ERROR, "store: %s: %s", fn, what);
	return -1;
}

/** opt_len_ok - NULL, or at most max bytes. */
static bool opt_len_ok(char const *s, size_t max)
{
	return !s || strlen(s) <= max;
}

/** opt_text_ok - NULL, "", or cb_store_text_valid. */
static bool opt_text_ok(char const *s, size_t max)
{
	return empty(s) || cb_store_text_valid(s, max);
}

static bool identity_ok(char const *s)
{
	return cb_store_text_valid(s, CB_STORE_TEXT_MAX);
}

/** key_ok - a session key: nas and acct_session_id, both 1..253 bytes. */
static bool key_ok(char const *nas, char const *acct_session_id)
{
	return !empty(nas) && !empty(acct_session_id) && opt_len_ok(nas, CB_STORE_TEXT_MAX) &&
	       opt_len_ok(acct_session_id, CB_STORE_TEXT_MAX);
}

static bool status_name_ok(char const *s)
{
	int i;

	if (!s) return false;
	for (i = CB_STATUS_REJECT; i <= CB_STATUS_RESTRICTED; i++) {
		if (strcmp(s, cb_status_name((cb_status_t) i)) == 0) return true;
	}
	return false;
}

int cb_store_decision_put(cb_store_t *store, cb_store_decision_t const *d)
{
	if (!d || !class_id_valid(d->class_id)) return bad(store, "decision_put", "invalid class id");
	if (!identity_ok(d->identity)) return bad(store, "decision_put", "invalid identity");
	if (!status_name_ok(d->status)) return bad(store, "decision_put", "unknown status");
	if (cb_reason_from_name(d->reason) < 0) return bad(store, "decision_put", "unknown reason");
	if (store->defer && defer_decision(store, d)) return 0;
	LOCKED(store, store->ops->decisions_put(store->be, d, 1));
}

int cb_store_decision_get(cb_store_t *store, char const *class_id, cb_store_decision_t *out)
{
	if (!class_id_valid(class_id) || !out) return bad(store, "decision_get", "invalid class id");
	LOCKED(store, store->ops->decision_get(store->be, class_id, out));
}

/** acct_ok - an accounting request's fields are within bounds; NULL, or what is wrong. */
static char const *acct_ok(cb_store_acct_t const *a)
{
	if (!a || !key_ok(a->nas, a->acct_session_id)) return "NAS and Acct-Session-Id are required, 1..253 bytes";
	if (!empty(a->class_id) && !class_id_valid(a->class_id)) return "invalid class id";
	if (!empty(a->identity) && !identity_ok(a->identity)) return "invalid identity";
	if (!opt_len_ok(a->outer_identity, CB_STORE_TEXT_MAX) || !opt_len_ok(a->calling_station, CB_STORE_TEXT_MAX) ||
	    !opt_len_ok(a->called_station, CB_STORE_TEXT_MAX) || !opt_len_ok(a->nas_identifier, CB_STORE_TEXT_MAX))
		return "an attribute is longer than 253 bytes";
	if (!opt_len_ok(a->framed_ip, CB_STORE_IP_MAX) || !opt_len_ok(a->nas_ip, CB_STORE_IP_MAX))
		return "an address is longer than 45 bytes";
	if (!opt_text_ok(a->stop_cause, CB_STORE_CAUSE_MAX)) return "invalid stop cause";
	return NULL;
}

int cb_store_session_start(cb_store_t *store, cb_store_acct_t const *a)
{
	char const *why = acct_ok(a);

	if (why) return bad(store, "session_start", why);
	LOCKED(store, store->ops->session_start(store->be, a));
}

int cb_store_session_update(cb_store_t *store, cb_store_acct_t const *a)
{
	char const *why = acct_ok(a);

	if (why) return bad(store, "session_update", why);
	LOCKED(store, store->ops->session_update(store->be, a));
}

int cb_store_session_stop(cb_store_t *store, cb_store_acct_t const *a)
{
	char const *why = acct_ok(a);

	if (why) return bad(store, "session_stop", why);
	LOCKED(store, store->ops->session_stop(store->be, a));
}

int cb_store_session_get(cb_store_t *store, char const *nas, char const *acct_session_id, cb_store_session_t *out)
{
	if (!key_ok(nas, acct_session_id) || !out) return bad(store, "session_get", "invalid session key");
	LOCKED(store, store->ops->session_get(store->be, nas, acct_session_id, out));
}

int cb_store_nas_reboot(cb_store_t *store, char const *nas, char const *cause, time_t now, size_t *closed,
			cb_store_sessions_t *list)
{
	cb_store_sessions_t mine = { 0 };
	size_t dummy;
	int rc;

	if (!closed) closed = &dummy;
	*closed = 0;
	if (list) *list = mine;
	if (empty(nas) || !opt_len_ok(nas, CB_STORE_TEXT_MAX)) return bad(store, "nas_reboot", "invalid NAS");
	if (!opt_text_ok(cause, CB_STORE_CAUSE_MAX)) return bad(store, "nas_reboot", "invalid cause");
	pthread_mutex_lock(&store->mutex);
	flush_locked(store);
	rc = store->ops->nas_reboot(store->be, nas, empty(cause) ? "NAS-Reboot" : cause, now, closed,
				    list ? list : &mine);
	pthread_mutex_unlock(&store->mutex);
	cb_store_sessions_free(&mine);
	return rc;
}

int cb_store_close_stale(cb_store_t *store, unsigned int max_age, time_t now, size_t *closed,
			 cb_store_sessions_t *list)
{
	cb_store_sessions_t mine = { 0 };
	size_t dummy;
	int rc;

	if (!closed) closed = &dummy;
	*closed = 0;
	if (list) *list = mine;
	if (max_age == 0) return bad(store, "close_stale", "max_age must be positive");
	pthread_mutex_lock(&store->mutex);
	flush_locked(store);
	rc = store->ops->close_stale(store->be, now - (time_t) max_age, now, closed, list ? list : &mine);
	pthread_mutex_unlock(&store->mutex);
	cb_store_sessions_free(&mine);
	return rc;
}

int cb_store_sessions_active(cb_store_t *store, cb_store_filter_t const *filter, cb_store_sessions_t *out)
{
	cb_store_filter_t all = { 0 };

	if (!out) return bad(store, "sessions_active", "no output list");
	out->items = NULL;
	out->count = 0;
	if (!filter) filter = &all;
	if (!empty(filter->identity) && !identity_ok(filter->identity))
		return bad(store, "sessions_active", "invalid identity");
	if (!empty(filter->status) && !status_name_ok(filter->status))
		return bad(store, "sessions_active", "unknown status");
	LOCKED(store, store->ops->sessions_active(store->be, filter, out));
}

int cb_store_active_for_user(cb_store_t *store, char const *identity, cb_store_sessions_t *out)
{
	cb_store_filter_t f = { .identity = identity };

	if (!identity_ok(identity)) {
		if (out) {
			out->items = NULL;
			out->count = 0;
		}
		return bad(store, "active_for_user", "invalid identity");
	}
	return cb_store_sessions_active(store, &f, out);
}

LIST_FREE(cb_store_sessions_free, cb_store_sessions_t)

int cb_store_revoke(cb_store_t *store, char const *identity, char const *reason, char const *by, time_t now)
{
	if (!identity_ok(identity)) return bad(store, "revoke", "invalid identity");
	if (!cb_store_text_valid(reason, CB_STORE_REASON_MAX)) return bad(store, "revoke", "invalid reason");
	if (!cb_store_text_valid(by, CB_STORE_BY_MAX)) return bad(store, "revoke", "invalid name of who revoked");
	LOCKED(store, store->ops->revoke(store->be, identity, reason, by, now));
}

int cb_store_reinstate(cb_store_t *store, char const *identity, char const *by, time_t now)
{
	if (!identity_ok(identity)) return bad(store, "reinstate", "invalid identity");
	if (!cb_store_text_valid(by, CB_STORE_BY_MAX)) return bad(store, "reinstate", "invalid name of who reinstated");
	LOCKED(store, store->ops->reinstate(store->be, identity, by, now));
}

int cb_store_is_revoked(cb_store_t *store, char const *identity, cb_store_revocation_t *out)
{
	if (!identity_ok(identity)) return bad(store, "is_revoked", "invalid identity");
	LOCKED(store, store->ops->is_revoked(store->be, identity, out));
}

int cb_store_revocations(cb_store_t *store, bool history, cb_store_revocations_t *out)
{
	if (!out) return bad(store, "revocations", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->revocations(store->be, history, out));
}

LIST_FREE(cb_store_revocations_free, cb_store_revocations_t)

int cb_store_disconnect_enqueue(cb_store_t *store, char const *nas, char const *acct_session_id,
				char const *identity, char const *reason, cb_disc_kind_t kind, bool held,
				time_t now, int64_t *id)
{
	int64_t dummy;

	if (!key_ok(nas, acct_session_id)) return bad(store, "disconnect_enqueue", "invalid session key");
	if (!empty(identity) && !identity_ok(identity)) return bad(store, "disconnect_enqueue", "invalid identity");
	if (!opt_text_ok(reason, CB_STORE_REASON_MAX)) return bad(store, "disconnect_enqueue", "invalid reason");
	if (kind != CB_DISC_DISCONNECT && kind != CB_DISC_COA) return bad(store, "disconnect_enqueue", "unknown kind");
	if (!id) id = &dummy;
	*id = 0;
	LOCKED(store, store->ops->disconnect_enqueue(store->be, nas, acct_session_id, identity, reason, kind, held,
						      now, id));
}

int cb_store_disconnect_due(cb_store_t *store, time_t now, size_t limit, cb_store_disconnects_t *out)
{
	if (!out) return bad(store, "disconnect_due", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->disconnect_due(store->be, now, limit, out));
}

int cb_store_disconnect_mark(cb_store_t *store, int64_t id, cb_disc_result_t result, unsigned int error_cause,
			     char const *detail, time_t next_attempt, time_t now)
{
	if (result != CB_DISC_ACKED && result != CB_DISC_NAK && result != CB_DISC_TIMEOUT)
		return bad(store, "disconnect_mark", "result must be acked, nak or timeout");
	if (!opt_text_ok(detail, CB_STORE_DETAIL_MAX)) return bad(store, "disconnect_mark", "invalid detail");
	if (next_attempt < 0) return bad(store, "disconnect_mark", "invalid next attempt");
	LOCKED(store, store->ops->disconnect_mark(store->be, id, result, error_cause, detail, next_attempt, now));
}

int cb_store_disconnect_hold(cb_store_t *store, int64_t const *ids, size_t n, size_t *held)
{
	size_t dummy;

	if (!held) held = &dummy;
	*held = 0;
	if (n == 0) return 1;
	if (!ids) return bad(store, "disconnect_hold", "no ids");
	LOCKED(store, store->ops->disconnect_hold(store->be, ids, n, held));
}

int cb_store_disconnect_confirm_held(cb_store_t *store, time_t now, size_t *released)
{
	size_t dummy;

	if (!released) released = &dummy;
	*released = 0;
	LOCKED(store, store->ops->disconnect_release(store->be, true, now, released));
}

int cb_store_disconnect_discard_held(cb_store_t *store, time_t now, size_t *discarded)
{
	size_t dummy;

	if (!discarded) discarded = &dummy;
	*discarded = 0;
	LOCKED(store, store->ops->disconnect_release(store->be, false, now, discarded));
}

int cb_store_disconnects(cb_store_t *store, cb_disc_state_t state, size_t limit, cb_store_disconnects_t *out)
{
	if (!out) return bad(store, "disconnects", "no output list");
	out->items = NULL;
	out->count = 0;
	if ((unsigned int) state >= NUM_ELEMENTS(disc_state_names)) return bad(store, "disconnects", "unknown state");
	LOCKED(store, store->ops->disconnects(store->be, state, limit, out));
}

int cb_store_list_held(cb_store_t *store, cb_store_disconnects_t *out)
{
	return cb_store_disconnects(store, CB_DISC_HELD, 0, out);
}

LIST_FREE(cb_store_disconnects_free, cb_store_disconnects_t)

int cb_store_command_enqueue(cb_store_t *store, cb_cmd_t cmd, char const *arg, char const *by, time_t now)
{
	if ((unsigned int) cmd >= CB_CMD_MAX) return bad(store, "command_enqueue", "unknown command");
	if (!opt_text_ok(arg, CB_STORE_TEXT_MAX)) return bad(store, "command_enqueue", "invalid argument");
	if (!opt_text_ok(by, CB_STORE_BY_MAX)) return bad(store, "command_enqueue", "invalid name of who asked");
	LOCKED(store, store->ops->command_enqueue(store->be, cmd, arg, by, now));
}

int cb_store_commands_take(cb_store_t *store, cb_store_commands_t *out)
{
	if (!out) return bad(store, "commands_take", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->commands_take(store->be, out));
}

LIST_FREE(cb_store_commands_free, cb_store_commands_t)

/** key_name_ok - a status key: 1..64 of [a-z0-9._-]. */
static bool key_name_ok(char const *key)
{
	size_t i;

	if (empty(key)) return false;
	for (i = 0; key[i]; i++) {
		char c = key[i];

		if (i >= CB_STORE_KEY_MAX) return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) return false;
	}
	return true;
}

int cb_store_status_put(cb_store_t *store, char const *key, char const *value, time_t now)
{
	if (!key_name_ok(key)) return bad(store, "status_put", "invalid key");
	if (!value || strlen(value) > CB_STORE_VALUE_MAX) return bad(store, "status_put", "value missing or too long");
	LOCKED(store, store->ops->status_put(store->be, key, value, now));
}

/** status_get_locked - one status value into buf; see cb_store_status_get. */
static int status_get_locked(cb_store_t *store, char const *key, char *buf, size_t len, time_t *updated_at)
{
	cb_store_status_t st;
	int rc;

	pthread_mutex_lock(&store->mutex);
	rc = store->ops->status_get(store->be, key, &st);
	pthread_mutex_unlock(&store->mutex);
	if (rc != 0) return rc;
	if (strlen(st.value) >= len) return bad(store, "status_get", "buffer too short");
	memcpy(buf, st.value, strlen(st.value) + 1);
	if (updated_at) *updated_at = st.updated_at;
	return 0;
}

int cb_store_status_get(cb_store_t *store, char const *key, char *buf, size_t len, time_t *updated_at)
{
	if (!buf || len == 0) return bad(store, "status_get", "no buffer");
	buf[0] = '\0';
	if (updated_at) *updated_at = 0;
	if (!key_name_ok(key)) return bad(store, "status_get", "invalid key");
	return status_get_locked(store, key, buf, len, updated_at);
}

time_t cb_store_status_time(cb_store_t *store, char const *key)
{
	char buf[32], *end;
	long long v;

	if (cb_store_status_get(store, key, buf, sizeof(buf), NULL) != 0) return 0;
	v = strtoll(buf, &end, 10);
	return (*end || end == buf || v < 0) ? 0 : (time_t) v;
}

int cb_store_status_put_time(cb_store_t *store, char const *key, time_t t, time_t now)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long) t);
	return cb_store_status_put(store, key, buf, now);
}

int cb_store_statuses(cb_store_t *store, cb_store_statuses_t *out)
{
	if (!out) return bad(store, "statuses", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->statuses(store->be, out));
}

LIST_FREE(cb_store_statuses_free, cb_store_statuses_t)

int cb_store_counts(cb_store_t *store, cb_store_counts_t *out)
{
	if (!out) return bad(store, "counts", "no output");
	memset(out, 0, sizeof(*out));
	LOCKED(store, store->ops->counts(store->be, out));
}

/*
 *	Exceptions register, people, reminders
 */
bool cb_store_exception_in_force(cb_store_exception_t const *x, time_t now)
{
	return x && x->ended_at == 0 && now < x->until;
}

bool cb_store_mac_normalise(char const *in, char out[CB_STORE_MAC_MAX + 1])
{
	char digits[12];
	size_t len, o = 0;

	out[0] = '\0';
	if (!in || strlen(in) > CB_STORE_TEXT_MAX) return false;
	len = mac_at(in, digits);
	if (!len) {	/* aabbccddeeff */
		if (strlen(in) != 12) return false;
		for (size_t i = 0; i < 12; i++) {
			if (!is_hex(in[i])) return false;
			digits[i] = (char) ((in[i] >= 'a' && in[i] <= 'f') ? in[i] - 'a' + 'A' : in[i]);
		}
		len = 12;
	}
	if (in[len] != '\0') return false;
	for (size_t i = 0; i < 12; i++) {
		out[o++] = digits[i];
		if (i % 2 == 1 && i < 11) out[o++] = '-';
	}
	out[o] = '\0';
	return true;
}

/** mac_arg_ok - NULL, "", or already in the store's AA-BB-CC-DD-EE-FF form. */
static bool mac_arg_ok(char const *mac)
{
	char norm[CB_STORE_MAC_MAX + 1];

	return empty(mac) || (cb_store_mac_normalise(mac, norm) && strcmp(norm, mac) == 0);
}

int cb_store_exception_add(cb_store_t *store, char const *identity, char const *mac, char const *reason,
			   char const *approved_by, char const *by, time_t until, time_t now, int64_t *id)
{
	if (!identity_ok(identity)) return bad(store, "exception_add", "invalid identity");
	if (!mac_arg_ok(mac)) return bad(store, "exception_add", "invalid MAC (want AA-BB-CC-DD-EE-FF)");
	if (!cb_store_text_valid(reason, CB_STORE_REASON_MAX)) return bad(store, "exception_add", "invalid reason");
	if (!cb_store_text_valid(approved_by, CB_STORE_BY_MAX)) {
		return bad(store, "exception_add", "invalid name of who approved");
	}
	if (!cb_store_text_valid(by, CB_STORE_BY_MAX)) return bad(store, "exception_add", "invalid name of who granted");
	if (until <= now) return bad(store, "exception_add", "the end is not in the future");
	LOCKED(store, store->ops->exception_add(store->be, identity, mac ? mac : "", reason, approved_by, by, until,
						now, id));
}

int cb_store_exception_end(cb_store_t *store, char const *identity, char const *mac, char const *by, time_t now,
			   size_t *ended)
{
	size_t dummy;

	if (!identity_ok(identity)) return bad(store, "exception_end", "invalid identity");
	if (!mac_arg_ok(mac)) return bad(store, "exception_end", "invalid MAC (want AA-BB-CC-DD-EE-FF)");
	if (!cb_store_text_valid(by, CB_STORE_BY_MAX)) return bad(store, "exception_end", "invalid name of who ended it");
	LOCKED(store, store->ops->exception_end(store->be, identity, mac ? mac : "", by, now, ended ? ended : &dummy));
}

int cb_store_exceptions(cb_store_t *store, bool history, cb_store_exceptions_t *out)
{
	if (!out) return bad(store, "exceptions", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->exceptions(store->be, history, out));
}

LIST_FREE(cb_store_exceptions_free, cb_store_exceptions_t)

static bool person_ok(cb_store_person_t const *p)
{
	static char const *const roles[] = { "", "staff", "pupil", "other" };

	return identity_ok(p->identity) && opt_text_ok(p->email, CB_STORE_TEXT_MAX) &&
	       name_index(roles, NUM_ELEMENTS(roles), p->role) >= 0 &&
	       opt_text_ok(p->exception_reason, CB_STORE_REASON_MAX) &&
	       opt_text_ok(p->exception_approved_by, CB_STORE_BY_MAX) &&
	       opt_text_ok(p->policy_version, CB_STORE_NAME_MAX) && opt_text_ok(p->status, CB_STORE_NAME_MAX) &&
	       opt_text_ok(p->reason, CB_STORE_NAME_MAX);
}

int cb_store_people_update(cb_store_t *store, bool replace, char const *const *removed, size_t n_removed,
			   cb_store_person_next_fn next, void *ctx)
{
	if (!next) return bad(store, "people_update", "no rows");
	for (size_t i = 0; i < n_removed; i++) {
		if (!identity_ok(removed[i])) return bad(store, "people_update", "an invalid identity to remove");
	}
	LOCKED(store, store->ops->people_update(store->be, replace, removed, n_removed, next, ctx));
}

int cb_store_people(cb_store_t *store, cb_store_people_t *out)
{
	if (!out) return bad(store, "people", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->people(store->be, out));
}

LIST_FREE(cb_store_people_free, cb_store_people_t)

int cb_store_reminder_put(cb_store_t *store, cb_store_reminder_t const *r)
{
	if (!r || !identity_ok(r->identity)) return bad(store, "reminder_put", "invalid identity");
	if (!cb_store_text_valid(r->email, CB_STORE_TEXT_MAX)) return bad(store, "reminder_put", "invalid address");
	if (strcmp(r->result, "sent") != 0 && strcmp(r->result, "failed") != 0) {
		return bad(store, "reminder_put", "result is not sent or failed");
	}
	if (!opt_text_ok(r->detail, CB_STORE_DETAIL_MAX)) return bad(store, "reminder_put", "invalid detail");
	LOCKED(store, store->ops->reminder_put(store->be, r));
}

int cb_store_reminder_sent(cb_store_t *store, char const *email, time_t ack_expiry, unsigned int window_days)
{
	if (!cb_store_text_valid(email, CB_STORE_TEXT_MAX)) return bad(store, "reminder_sent", "invalid address");
	LOCKED(store, store->ops->reminder_sent(store->be, email, ack_expiry, window_days));
}

int cb_store_reminders(cb_store_t *store, time_t since, cb_store_reminders_t *out)
{
	if (!out) return bad(store, "reminders", "no output list");
	out->items = NULL;
	out->count = 0;
	LOCKED(store, store->ops->reminders(store->be, since, out));
}

int cb_store_devices(cb_store_t *store, char const *identity, time_t since, cb_store_devices_t *out)
{
	if (!out) return bad(store, "devices", "no output list");
	out->items = NULL;
	out->count = 0;
	if (!empty(identity) && !identity_ok(identity)) return bad(store, "devices", "invalid identity");
	LOCKED(store, store->ops->devices(store->be, identity ? identity : "", since, out));
}

LIST_FREE(cb_store_devices_free, cb_store_devices_t)

LIST_FREE(cb_store_reminders_free, cb_store_reminders_t)

int cb_store_purge(cb_store_t *store, time_t before, size_t *removed)
{
	size_t dummy;

	if (!removed) removed = &dummy;
	*removed = 0;
	LOCKED(store, store->ops->purge(store->be, before, removed));
}
