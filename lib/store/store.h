/*
 * store.h - the state store: decisions, sessions, revocations, the queue of
 * disconnects, commands from cetbyodctl to a running module, and status.
 *
 * Everything that must survive a radiusd restart, or pass between radiusd
 * and cetbyodctl, lives here, and so does the audit trail's index: nothing
 * else opens the database or knows its tables.  The store is an opaque
 * cb_store_t behind a table of operations (cb_store_ops_t, in the private
 * store_int.h) so that a PostgreSQL backend, for several RADIUS servers
 * sharing state, can be added beside the SQLite one without changing any
 * caller.  SQLite is the default:
 * one file (CB_STORE_FILE) in the state directory, mode 0600, WAL journal.
 *
 * Threads: every function may be called from any thread at any time; each
 * cb_store_t serialises its own calls.  Several cb_store_t (the module's
 * request threads, the enforcer, cetbyodctl in another process) may have
 * the same database open at once.
 *
 * Failure contract, unless a function says otherwise: it returns 0 on
 * success, 1 when there was nothing to act on (no such row, nothing
 * changed), and -1 on error, in which case nothing was changed and the
 * reason went to the store's log callback.  Output records are filled only
 * on 0.  Lists are allocated by the store and owned by the caller, who
 * frees them with the matching *_free function (NULL-safe; an empty list
 * holds no allocation).
 *
 * Identities given to the store must already be normalised
 * (cb_identity_normalise with the module's configuration): the store
 * compares them byte for byte.  All times are UTC seconds (time_t), passed
 * in by the caller so that tests control the clock.
 *
 * How the module uses it:
 *   post-auth, on Access-Accept: the decision sealed into a keyed Class
 *     (classtok.h), no store write; only when it does not fit:
 *     cb_store_new_class_id, cb_store_decision_put, and Class =
 *     "cetbyod:<class_id>" in the reply (cb_store_class_format).  The device
 *     for the limits: cb_store_device_seen, when new or not written lately.
 *   accounting: cb_classtok_open or cb_store_class_parse on Class, then
 *     cb_store_session_start / _update / _stop (a keyed Class's decision in
 *     cb_store_acct_t.decision, the session as written in .result; with
 *     group_commit committed with the others in flight, each call returning
 *     once its own write is committed); Accounting-On/Off:
 *     cb_store_nas_reboot.
 *   enforcer: cb_store_sessions_active (revoked, expired, onboarding people),
 *     cb_store_disconnect_enqueue / _hold, cb_store_disconnect_due,
 *     cb_store_disconnect_mark; every second cb_store_commands_take; now
 *     and then cb_store_close_stale and cb_store_purge; status for
 *     cetbyodctl with cb_store_status_put.
 */
#ifndef CETBYOD_STORE_H
#define CETBYOD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/log.h"

#define CB_STORE_FILE		"cetbyod.db"	/* The SQLite database, in the state directory. */
#define CB_STORE_DEFAULT_DIR	"/var/lib/cetbyod"
#define CB_STORE_SCHEMA_VERSION	5		/* PRAGMA user_version of a current database. */

/* Bounds.  Text beyond them is refused (-1), never truncated. */
#define CB_STORE_TEXT_MAX	253	/* Any RADIUS-borne string: identities, ids, NAS names. */
#define CB_STORE_REASON_MAX	200	/* Revocation and disconnect reasons, in bytes. */
#define CB_STORE_BY_MAX		64	/* Who did it: an admin's login name. */
#define CB_STORE_CAUSE_MAX	64	/* A stop cause: "User-Request", "NAS-Reboot", "Stale". */
#define CB_STORE_IP_MAX		45	/* Longest IPv6 text form. */
#define CB_STORE_NAME_MAX	32	/* Status names, reason names, decision status. */
#define CB_STORE_KEY_MAX	64	/* Status keys: [a-z0-9._-]. */
#define CB_STORE_VALUE_MAX	1024	/* Status values. */
#define CB_STORE_DETAIL_MAX	200	/* A disconnect attempt's detail ("no response from 10.0.0.2:3799"). */
#define CB_STORE_MAC_MAX	17	/* A MAC as the store keeps it: AA-BB-CC-DD-EE-FF. */
#define CB_STORE_DEFER_MS	10	/* defer_decisions: how long a decision waits for its batch, at most. */
#define CB_STORE_DEFER_MAX	512	/* defer_decisions: decisions queued at most; beyond, the put commits. */
#define CB_STORE_GROUP_MAX	256	/* group_commit: session writes committed in one transaction, at most. */
#define CB_STORE_GROUP_WAIT_MS	10000	/* group_commit: a write not yet taken by then fails (-1). */

#define CB_CLASS_ID_LEN		32		/* 128 random bits as lower-case hex. */
#define CB_CLASS_PREFIX		"cetbyod:"	/* Class = CB_CLASS_PREFIX <class id>. */
#define CB_CLASS_ATTR_LEN	(sizeof(CB_CLASS_PREFIX) - 1 + CB_CLASS_ID_LEN)

/*
 *	Status keys.  The module writes them (cb_store_status_put), cetbyodctl
 *	reads them.  Times are decimal UTC seconds; "" means none.
 */
#define CB_STATUS_MODULE_STARTED	"module.started_at"	/* When radiusd instantiated the module. */
#define CB_STATUS_MODULE_HEARTBEAT	"module.heartbeat"	/* Written every CB_HEARTBEAT_INTERVAL s while running. */
#define CB_STATUS_MODULE_VERSION	"module.version"
#define CB_STATUS_SOURCE		"sync.source"		/* "file", "forms", "sheets". */
#define CB_STATUS_SYNC_ATTEMPT		"sync.last_attempt"
#define CB_STATUS_SYNC_SUCCESS		"sync.last_success"
#define CB_STATUS_SYNC_ERROR		"sync.last_error"	/* "" after a success. */
#define CB_STATUS_SYNC_PEOPLE		"sync.people"		/* People with a record in the index in force. */
#define CB_STATUS_SYNC_AGREED		"sync.agreed"		/* ... whose latest record is an agreement. */
#define CB_STATUS_SYNC_HELD		"sync.held"		/* Why a sync is held; "" when none. */
#define CB_STATUS_SYNC_HELD_KIND	"sync.held_kind"	/* "mass-removal", "rebind" (cb_sync_hold_name); "" when none. */
#define CB_STATUS_SYNC_SKIPPED		"sync.skipped"		/* Records the last complete read skipped, and the first; "" when none. */
#define CB_STATUS_SYNC_RATE_LIMITED	"sync.rate_limited"	/* Passes refused by Google's quota (429) in the last hour. */
#define CB_STATUS_SYNC_NEXT_TRY		"sync.next_try"		/* When a failed or deferred pass is tried again; "0": on the interval. */
#define CB_STATUS_SYNC_DEFERRED		"sync.deferred_until"	/* The request budget deferred the last pass until then; "0": not. */
#define CB_STATUS_SNAPSHOT_SYNCED	"snapshot.synced_at"	/* synced_at of the persisted snapshot. */
#define CB_STATUS_ENFORCER_ERROR	"enforcer.last_error"
#define CB_STATUS_PURGE_LAST		"purge.last"		/* When the module last ran the retention purge. */
#define CB_STATUS_PURGE_DAYS		"purge.retention_days"	/* audit { retention_days }; "0": never. */
#define CB_STATUS_AUDIT_FAILING		"audit.failing"		/* "yes"/"no": the trail cannot be written now. */
#define CB_STATUS_AUDIT_ERROR		"audit.last_error"	/* The last write error ("" when none). */
#define CB_STATUS_AUDIT_QUEUED		"audit.queued"		/* Records waiting in memory. */
#define CB_STATUS_AUDIT_DROPPED		"audit.dropped"		/* Dropped (fail_open, queue full) since start. */
#define CB_STATUS_AUDIT_REFUSED		"audit.refused"		/* Admissions refused (fail_closed) since start. */
#define CB_STATUS_AUDIT_INDEX_LAG	"audit.index_lag"	/* Records the file has and the index not yet. */
#define CB_STATUS_AUDIT_INDEX_LAG_MS	"audit.index_lag_ms"	/* For how long (ms) the index has lacked some. */
#define CB_STATUS_PEOPLE_LISTED		"people.listed_at"	/* When the module last listed the people. */
#define CB_STATUS_PEOPLE_COUNT		"people.count"
#define CB_STATUS_PEOPLE_ERROR		"people.last_error"	/* Why the last listing failed; "" after a success. */
#define CB_STATUS_REMINDERS_MODE	"reminders.mode"	/* "off", "dry_run", "on". */
#define CB_STATUS_REMINDERS_ERROR	"reminders.last_error"	/* Why the last send failed; "" after a success. */
#define CB_STATUS_IDENTITY_STRIP_REALMS	"identity.strip_realms"	 /* Names separated by spaces: how the module */
#define CB_STATUS_IDENTITY_STRIP_DOMAINS "identity.strip_domains" /* normalises, so cetbyodctl does the same. */
#define CB_STATUS_IDENTITY_MAX_LENGTH	"identity.max_length"
#define CB_STATUS_LIMITS_MAX_DEVICES	"limits.max_devices"	/* policy { max_devices }: the sharing report's */
#define CB_STATUS_SHARING_SUMMARY_DAY	"sharing.summary_day"	/* Local date of the last sharing summary mailed (updated_at: when). */
#define CB_STATUS_LIMITS_WINDOW		"limits.device_window"	/* threshold and window by default. */

#define CB_HEARTBEAT_INTERVAL		5	/* cetbyodctl calls radiusd down after 3 missed heartbeats. */

typedef struct cb_store cb_store_t;

typedef enum {
	CB_STORE_SQLITE = 0,			/* The default: one file in state_dir. */
	CB_STORE_POSTGRESQL			/* A PostgreSQL database (lib/store/pg*.c). */
} cb_store_backend_kind_t;

typedef struct {
	cb_store_backend_kind_t backend;
	char const	*path;			/* The database file (SQLite). */
	char const	*pg_conninfo;		/* PostgreSQL: a libpq connection string or postgresql:// URI. */
	char const	*pg_password;		/* PostgreSQL: the password (read from a file); NULL: the conninfo's
						 * own, or ~/.pgpass.  Never logged. */
	char const	*server_id;		/* PostgreSQL: the name of this RADIUS server in the rows it
						 * writes; NULL: "". */
	bool		create;			/* Create it (and its schema) when missing. */
	unsigned int	busy_timeout_ms;	/* How long a call waits for another writer; 0: 5000. */
	unsigned int	busy_note_ms;		/* SQLite: once a call has waited this long for another writer,
						 * say so (log, CB_LOG_WARN), once per wait; 0: never.
						 * cetbyodctl's, whose user would otherwise see it hang. */
	bool		fast_sync;		/* synchronous = NORMAL: no fsync per commit (crash-safe in WAL,
						 * the last commits may be lost on power loss).  The module's request
						 * path uses it; cetbyodctl does not. */
	bool		defer_decisions;	/* cb_store_decision_put only queues the decision; a thread of
						 * the store commits the queue in batches every CB_STORE_DEFER_MS,
						 * and every other call on this handle commits it first, so this
						 * handle always sees its own decisions.  Other handles see them
						 * within CB_STORE_DEFER_MS; a crash loses at most that much.  The
						 * module's request path uses it (an Access-Accept must not wait for
						 * a commit). */
	bool		group_commit;		/* Accounting's session writes (cb_store_session_start, _update,
						 * _stop) are queued; the first waiting caller commits the queue in
						 * one transaction, and each call returns once its write is
						 * committed (or failed), so "answered only when recorded" holds
						 * and N commits become one.  The module's request path uses it
						 * (64 requests in flight would otherwise queue on the store's
						 * mutex, each with its own commit).  SQLite: WAL checkpoints then
						 * run in a thread of the store, on a connection of their own. */
	char const	*spool_path;		/* PostgreSQL: the spool (store_spool.c) for session writes while
						 * the database is unreachable; NULL: none (such writes fail). */
	uint64_t	spool_max;		/* Its size cap in bytes; 0: 64 MB. */
	cb_log_fn_t	log;			/* Where errors go; NULL: nowhere. */
	void		*log_ctx;
} cb_store_conf_t;

/**
 * cb_store_open - open (and when conf->create, create) the SQLite store at
 * conf->path, or connect to the PostgreSQL store conf->pg_conninfo (its
 * schema created in an empty schema whatever conf->create says), and bring
 * its schema to CB_STORE_SCHEMA_VERSION.  A new file
 * is mode 0600; when root creates it, it is given to the owner of its
 * directory, so that radiusd (which runs as that owner) can write it.
 * Returns NULL with err set when the file is missing (and !create), is not
 * a cetbyod database, is corrupt, or was written by a newer schema; the
 * file is then left exactly as it was.
 */
cb_store_t *cb_store_open(cb_store_conf_t const *conf, char *err, size_t errlen);

/* How err begins when cb_store_open failed because PostgreSQL cannot be reached (down, refused, a timeout). */
#define CB_STORE_UNREACHABLE	"cannot connect to PostgreSQL"

/**
 * cb_store_name - the store as messages name it: the SQLite file's path, or
 * "PostgreSQL <db> at <host>:<port>" (never the conninfo: it may hold a
 * password).  Owned by the store, valid until cb_store_close.
 */
char const *cb_store_name(cb_store_t *store);


/**
 * cb_store_check_writable - whether a write can reach the disk now: the
 * file system holding the store has room, and a transaction that writes
 * and removes one row commits (it leaves nothing behind).  Returns 0, or
 * -1 with why set ("the disk holding /var/lib/cetbyod is full (no space
 * left on device)", SQLite's message otherwise); logs nothing.
 * cetbyodctl status reports it: while the store cannot be written, the
 * module cannot record its heartbeat either.
 */
int cb_store_check_writable(cb_store_t *store, char *why, size_t len);

/** The spool's state (cb_store_spool_info). */
typedef struct {
	bool		down;		/* Writes are going to the spool: the database was unreachable. */
	uint64_t	records;	/* Waiting to be replayed. */
	uint64_t	bytes;		/* The file's size. */
	uint64_t	max_bytes;	/* Its cap. */
	uint64_t	spooled;	/* Written to it since the store was opened. */
	uint64_t	replayed;	/* Replayed from it since. */
} cb_store_spool_info_t;

/**
 * cb_store_spool_info - the spool of a store opened with spool_path: 0
 * (out filled), or 1 when it has none (out zeroed).
 *
 * While PostgreSQL is unreachable, cb_store_session_start/_update/_stop
 * append what they would have written to the spool (fsync'ed; at most
 * spool_max bytes) and return 0 with a->result filled from a; a thread of
 * the store replays the spool in order, each record exactly once, when the
 * database is back.  A full spool fails the write (-1), logged.
 */
int cb_store_spool_info(cb_store_t *store, cb_store_spool_info_t *out);

/**
 * cb_store_write_contended - whether a connection of this process had to
 * wait for the database's write lock within the last within_ms (SQLite,
 * any store file: one connection was writing while another wanted to).
 * A writer that can wait, the audit trail's index, asks after each of its
 * transactions and steps back while it is true, so that the request
 * path's writers (accounting, decisions, devices) do not queue behind it.
 * Always false on PostgreSQL, which locks rows, not the database.  Cheap:
 * no lock, no connection.
 */
bool cb_store_write_contended(cb_store_t *store, unsigned int within_ms);

/** cb_store_close - close the store and free it (NULL is fine). */
void cb_store_close(cb_store_t *store);

/**
 * cb_store_path - the database path in state_dir ("<dir>/cetbyod.db").
 * Returns false when buf is too short.
 */
bool cb_store_path(char const *state_dir, char *buf, size_t len);

/**
 * cb_store_text_valid - whether s is usable as store text: 1..max bytes of
 * valid UTF-8 without control characters (C0, DEL, C1).  cetbyodctl
 * applies it to reasons and names before they reach the store.
 */
bool cb_store_text_valid(char const *s, size_t max);

/** cb_store_role_valid - "" or a role's name: a-z first, then a-z, 0-9, '_', '-', 32 bytes at most. */
bool cb_store_role_valid(char const *s);

/*
 *	Class values and decisions
 */

/**
 * cb_store_new_class_id - 128 bits from OpenSSL's RAND_bytes as 32
 * lower-case hex digits, NUL-terminated, in out.  Returns 0, or -1 (out is
 * "") when the random generator fails.
 */
int cb_store_new_class_id(char out[CB_CLASS_ID_LEN + 1]);

/**
 * cb_store_class_format - "cetbyod:<class_id>" into buf.  Returns false
 * when class_id is not a class id or buf is shorter than
 * CB_CLASS_ATTR_LEN + 1.
 */
bool cb_store_class_format(char const *class_id, char *buf, size_t len);

/**
 * cb_store_class_parse - the class id in a Class attribute value (value[0..len),
 * arbitrary octets as the NAS echoed them), lower-cased into out.  Returns
 * false (out "") when it is not "cetbyod:" and 32 hex digits: a Class set by
 * someone else.
 */
bool cb_store_class_parse(char const *value, size_t len, char out[CB_CLASS_ID_LEN + 1]);

typedef struct {
	char		class_id[CB_CLASS_ID_LEN + 1];
	char		identity[CB_STORE_TEXT_MAX + 1];	/* Inner identity, normalised. */
	char		outer_identity[CB_STORE_TEXT_MAX + 1];	/* "" when the same or unknown. */
	char		status[CB_STORE_NAME_MAX + 1];		/* cb_status_name(). */
	char		reason[CB_STORE_NAME_MAX + 1];		/* cb_reason_name(). */
	time_t		decided_at;
	time_t		valid_until;				/* 0: no planned end. */
	time_t		ack_time;				/* 0: none. */
	char		policy_version[CB_STORE_TEXT_MAX + 1];
	char		nas[CB_STORE_TEXT_MAX + 1];		/* NAS-IP-Address, else NAS-Identifier. */
	char		calling_station[CB_STORE_TEXT_MAX + 1];
	char		ack_email[CB_STORE_TEXT_MAX + 1];	/* Address the acknowledgement was looked up under; "" none. */
	char		role[CB_STORE_NAME_MAX + 1];		/* cb_roles_name(): "staff", "governors"; "" unknown. */
} cb_store_decision_t;

/**
 * cb_store_decision_put - record a decision that an Access-Accept will carry
 * as Class, and its device for the person (cb_store_device_seen).  status must be a cb_status_name() and reason a
 * cb_reason_name().  Returns 0, or -1 (also when the class id exists).
 * With defer_decisions the decision is queued (0 once it is valid and
 * queued), and committed with its batch; a batch that cannot be committed
 * is logged.
 */
int cb_store_decision_put(cb_store_t *store, cb_store_decision_t const *d);

/** cb_store_decision_get - the decision with that class id: 0 (filled), 1 none, -1 error. */
int cb_store_decision_get(cb_store_t *store, char const *class_id, cb_store_decision_t *out);

/*
 *	Sessions, from accounting
 */

/** What one Accounting-Request says.  NULL or "" for what it does not carry. */
typedef struct {
	char const	*nas;			/* Required: the RADIUS client's source address (not the packet's NAS). */
	char const	*acct_session_id;	/* Required. */
	char const	*class_id;		/* From Class (cb_store_class_parse). */
	char const	*identity;		/* Inner identity; NULL: taken from the decision of class_id. */
	char const	*outer_identity;	/* User-Name as sent. */
	char const	*calling_station;	/* Calling-Station-Id (the device's MAC). */
	char const	*called_station;	/* Called-Station-Id; "AP-MAC:SSID" is split into ap and ssid. */
	char const	*framed_ip;		/* Framed-IP-Address or Framed-IPv6-Address, as text. */
	char const	*nas_ip;		/* NAS-IP-Address or NAS-IPv6-Address, as text. */
	char const	*nas_identifier;
	char const	*stop_cause;		/* Stop: Acct-Terminate-Cause by name. */
	bool		has_octets;		/* The two counters below are present. */
	uint64_t	in_octets;		/* cb_store_octets(Acct-Input-Octets, Acct-Input-Gigawords). */
	uint64_t	out_octets;
	time_t		started;		/* When the session began; 0: at event_time. */
	time_t		event_time;		/* Event-Timestamp, else now - Acct-Delay-Time. */
	/*
	 * The decision a verified keyed Class carries (lib/store/classtok.h),
	 * its class_id equal to class_id; NULL: none.  The backend takes the
	 * session's identity and status from it (no decision read) and, in the
	 * same transaction, records it as the decision of class_id when none
	 * has that id yet (what the enforcer reads later).
	 */
	cb_store_decision_t const *decision;
	/* Not NULL: filled with the session as it is after the write (under the same lock); 1 when none. */
	struct cb_store_session *result;
} cb_store_acct_t;

typedef struct cb_store_session {
	int64_t		id;
	char		nas[CB_STORE_TEXT_MAX + 1];		/* With acct_session_id: the session's key. */
	char		acct_session_id[CB_STORE_TEXT_MAX + 1];
	char		class_id[CB_CLASS_ID_LEN + 1];		/* "" when accounting carried none of ours. */
	char		identity[CB_STORE_TEXT_MAX + 1];	/* "" when unknown. */
	char		outer_identity[CB_STORE_TEXT_MAX + 1];
	char		calling_station[CB_STORE_TEXT_MAX + 1];
	char		called_station[CB_STORE_TEXT_MAX + 1];
	char		ap[CB_STORE_TEXT_MAX + 1];		/* AA-BB-CC-DD-EE-FF, from called_station; "" when not that form. */
	char		ssid[CB_STORE_TEXT_MAX + 1];
	char		framed_ip[CB_STORE_IP_MAX + 1];
	char		nas_ip[CB_STORE_IP_MAX + 1];
	char		nas_identifier[CB_STORE_TEXT_MAX + 1];
	char		status[CB_STORE_NAME_MAX + 1];		/* Status at admission, from the decision; "" unknown. */
	time_t		valid_until;				/* The decision's; 0: none or unknown. */
	time_t		started;
	time_t		last_seen;
	time_t		stopped;				/* 0 while active. */
	char		stop_cause[CB_STORE_CAUSE_MAX + 1];
	uint64_t	in_octets;
	uint64_t	out_octets;
} cb_store_session_t;

typedef struct {
	cb_store_session_t	*items;
	size_t			count;
} cb_store_sessions_t;

/** cb_store_octets - a 64-bit counter from Acct-*-Octets and Acct-*-Gigawords. */
static inline uint64_t cb_store_octets(uint32_t octets, uint32_t gigawords)
{
	return ((uint64_t) gigawords << 32) | octets;
}

/**
 * cb_store_split_called_station - split "AP-MAC:SSID" (RFC 3580 3.20; the
 * MAC as 12 hex digits with '-', ':' or '.' separators or none) into ap
 * (AA-BB-CC-DD-EE-FF) and ssid.  A bare MAC gives ap and ssid "".  Returns
 * false (both "") when called does not start with a MAC; ap and ssid must
 * hold CB_STORE_TEXT_MAX + 1 bytes.
 */
bool cb_store_split_called_station(char const *called, char *ap, char *ssid);

/**
 * cb_store_session_start - Accounting-Request Start.  Opens the session; a
 * repeated Start for a session still open refreshes it.  When a->identity
 * is NULL or "", the identity (and the status at admission) come from the
 * decision of a->class_id.  Returns 0, or -1 (nothing written; with
 * group_commit, also when the transaction of its group failed, or when it
 * waited CB_STORE_GROUP_WAIT_MS without being taken).
 */
int cb_store_session_start(cb_store_t *store, cb_store_acct_t const *a);

/**
 * cb_store_session_update - Interim-Update: last_seen, counters and any
 * attribute the Start lacked.  Returns 0; 1 when no such session was open
 * and it was opened now (a lost Start, or one closed as stale); -1.
 */
int cb_store_session_update(cb_store_t *store, cb_store_acct_t const *a);

/**
 * cb_store_session_stop - Stop: closes the open session with its cause and
 * final counters.  Returns 0; 1 when none was open (a repeated Stop changes
 * nothing; a Stop for an unknown session is recorded as a closed one); -1.
 */
int cb_store_session_stop(cb_store_t *store, cb_store_acct_t const *a);

/**
 * cb_store_session_get - the latest session with that key, open or not:
 * 0 (filled), 1 none, -1.
 */
int cb_store_session_get(cb_store_t *store, char const *nas, char const *acct_session_id,
			 cb_store_session_t *out);

/**
 * cb_store_nas_reboot - Accounting-On/Off from the RADIUS client nas (the
 * sessions' key): every open session of that client is closed at now with cause (NULL: "NAS-Reboot").  *closed (may
 * be NULL) gets the number closed, list (may be NULL) the sessions closed,
 * as they are now (for the audit trail; valid_until is not filled).
 * Returns 0, 1 when none was open, -1.
 */
int cb_store_nas_reboot(cb_store_t *store, char const *nas, char const *cause, time_t now, size_t *closed,
			cb_store_sessions_t *list);

/**
 * cb_store_close_stale - close every open session with no accounting since
 * now - max_age, as stopped at its last_seen (the last moment it was known
 * to be alive) with cause "Stale".  closed and list as for
 * cb_store_nas_reboot.  Returns 0, 1 when none, -1.
 */
int cb_store_close_stale(cb_store_t *store, unsigned int max_age, time_t now, size_t *closed,
			 cb_store_sessions_t *list);

/** Which open sessions cb_store_sessions_active lists; zeroed: all of them. */
typedef struct {
	char const	*identity;	/* Only this person's. */
	char const	*status;	/* Only those admitted with this status ("onboard"). */
	time_t		expired_by;	/* Only those whose decision's valid_until is in (0, expired_by]. */
	bool		revoked;	/* Only people with a revocation in force. */
	size_t		limit;		/* At most this many; 0: no limit. */
} cb_store_filter_t;

/**
 * cb_store_sessions_active - open sessions, oldest first.  filter may be
 * NULL.  Returns 0 (out filled, perhaps empty), or -1 (out empty).
 */
int cb_store_sessions_active(cb_store_t *store, cb_store_filter_t const *filter, cb_store_sessions_t *out);

/** cb_store_active_for_user - cb_store_sessions_active for one identity. */
int cb_store_active_for_user(cb_store_t *store, char const *identity, cb_store_sessions_t *out);

void cb_store_sessions_free(cb_store_sessions_t *list);

/*
 *	Revocations by IT
 */
typedef struct {
	int64_t		id;
	char		identity[CB_STORE_TEXT_MAX + 1];
	char		reason[CB_STORE_REASON_MAX + 1];
	char		by[CB_STORE_BY_MAX + 1];
	time_t		revoked_at;
	char		reinstated_by[CB_STORE_BY_MAX + 1];	/* "" while in force. */
	time_t		reinstated_at;				/* 0 while in force. */
} cb_store_revocation_t;

typedef struct {
	cb_store_revocation_t	*items;
	size_t			count;
	size_t			skipped;	/* Rows whose identity cannot be read (an edited store): left out. */
	int64_t			first_skipped;	/* The id of the first of them. */
} cb_store_revocations_t;

/**
 * cb_store_revoke - revoke identity's BYOD access.  reason and by must pass
 * cb_store_text_valid (CB_STORE_REASON_MAX, CB_STORE_BY_MAX).  In the same
 * transaction it queues CB_CMD_ENFORCE with the identity, so that a running
 * module disconnects that person within a second (and one that is down
 * does so when it starts).  Returns 0 for a new revocation, 1 when one was
 * already in force (its reason, by and time are replaced), -1.
 */
int cb_store_revoke(cb_store_t *store, char const *identity, char const *reason, char const *by, time_t now);

/** cb_store_reinstate - end the revocation in force (kept as history): 0, 1 none in force, -1. */
int cb_store_reinstate(cb_store_t *store, char const *identity, char const *by, time_t now);

/**
 * cb_store_is_revoked - 1 when a revocation of identity is in force (out,
 * which may be NULL, is filled), 0 when not, -1 on error.
 */
int cb_store_is_revoked(cb_store_t *store, char const *identity, cb_store_revocation_t *out);

/**
 * cb_store_revocations - revocations in force (history: also ended ones),
 * newest first.  One unreadable row does not hide the others: a row whose
 * identity cannot be read is left out and counted in skipped (the caller
 * reports it: first_skipped is its id); a row whose reason or names cannot
 * be read is kept, those fields reading "(unreadable in the store)".
 * Returns 0, or -1 (out empty).
 */
int cb_store_revocations(cb_store_t *store, bool history, cb_store_revocations_t *out);

void cb_store_revocations_free(cb_store_revocations_t *list);

/*
 *	The exceptions register (cetbyodctl exception add/list/end)
 */
typedef struct {
	int64_t		id;
	char		identity[CB_STORE_TEXT_MAX + 1];
	char		mac[CB_STORE_MAC_MAX + 1];		/* "" for any device. */
	char		reason[CB_STORE_REASON_MAX + 1];
	char		approved_by[CB_STORE_BY_MAX + 1];
	char		granted_by[CB_STORE_BY_MAX + 1];
	time_t		granted_at;
	time_t		until;					/* Exclusive end. */
	char		ended_by[CB_STORE_BY_MAX + 1];		/* "" unless IT ended it. */
	time_t		ended_at;				/* 0 unless IT ended it. */
} cb_store_exception_t;

typedef struct {
	cb_store_exception_t	*items;
	size_t			count;
} cb_store_exceptions_t;

/** cb_store_exception_in_force - not ended by IT and not lapsed at now. */
bool cb_store_exception_in_force(cb_store_exception_t const *x, time_t now);

/**
 * cb_store_exception_add - grant identity an exception until (exclusive,
 * after now), on the device mac (cb_mac_normalise form) or, with
 * NULL/"", any device.  reason must pass cb_store_text_valid with
 * CB_STORE_REASON_MAX, approved_by and by with CB_STORE_BY_MAX.  An
 * exception already open for the same person and device is replaced (its
 * reason, approval, end and grant time).  Returns 0 for a new one, 1 for a
 * replaced one, -1.  *id (may be NULL) gets its id.
 */
int cb_store_exception_add(cb_store_t *store, char const *identity, char const *mac, char const *reason,
			   char const *approved_by, char const *by, time_t until, time_t now, int64_t *id);

/**
 * cb_store_exception_end - end identity's open exceptions (on mac only,
 * when mac is not NULL/""), kept as history.  *ended (may be NULL): how
 * many.  0, 1 when none was open, -1.
 */
int cb_store_exception_end(cb_store_t *store, char const *identity, char const *mac, char const *by, time_t now,
			   size_t *ended);

/**
 * cb_store_exceptions - the register, newest grant first: every exception
 * not ended by IT (lapsed ones too: callers tell with
 * cb_store_exception_in_force), or with history also the ended ones.
 */
int cb_store_exceptions(cb_store_t *store, bool history, cb_store_exceptions_t *out);

void cb_store_exceptions_free(cb_store_exceptions_t *list);

/*
 *	People (reports and reminders).  The module rebuilds the list; a
 *	person row says what the directory and the acknowledgements said at
 *	refreshed_at.
 */
typedef struct {
	char		identity[CB_STORE_TEXT_MAX + 1];
	char		email[CB_STORE_TEXT_MAX + 1];		/* "" when unknown. */
	char		role[CB_STORE_NAME_MAX + 1];		/* "staff", "pupil", "other", a role's name; "" unknown. */
	bool		disabled;
	char		exception_reason[CB_STORE_REASON_MAX + 1];	/* A directory-held exception. */
	char		exception_approved_by[CB_STORE_BY_MAX + 1];
	time_t		exception_until;
	time_t		ack_time;				/* 0: no acknowledgement on record. */
	time_t		ack_expiry;				/* 0: never lapses, or none. */
	bool		ack_revoked;
	char		policy_version[CB_STORE_NAME_MAX + 1];
	char		status[CB_STORE_NAME_MAX + 1];		/* cb_status_name() now. */
	char		reason[CB_STORE_NAME_MAX + 1];		/* cb_reason_name() now. */
	time_t		refreshed_at;
} cb_store_person_t;

typedef struct {
	cb_store_person_t	*items;
	size_t			count;
} cb_store_people_t;

/** Gives the next row to write into *row; false when there are no more. */
typedef bool (*cb_store_person_next_fn)(void *ctx, cb_store_person_t *row);

/**
 * cb_store_people_update - in one transaction: with replace, empty the
 * table first; delete the rows of the n_removed identities in removed;
 * then write (insert or replace) each row next gives, one at a time, so
 * that a long list never has to be in memory.  A row that does not pass
 * the text checks refuses the whole update (-1, nothing changed).  0, -1,
 * or 1 when another server sharing the store keeps the list (PostgreSQL:
 * the server holding an advisory lock writes it, one at a time, not all;
 * when it stops, its lock goes with its connection and the next server to
 * try takes the list over; nothing written here).
 */
int cb_store_people_update(cb_store_t *store, bool replace, char const *const *removed, size_t n_removed,
			   cb_store_person_next_fn next, void *ctx);

/** cb_store_people - the people table, by identity. */
int cb_store_people(cb_store_t *store, cb_store_people_t *out);

void cb_store_people_free(cb_store_people_t *list);

/*
 *	Devices seen per person (from the sessions table).
 */
typedef struct {
	char		identity[CB_STORE_TEXT_MAX + 1];
	char		device[CB_STORE_TEXT_MAX + 1];	/* Calling-Station-Id, ':' as '-', upper case. */
	size_t		sessions;
	size_t		active;				/* Open now. */
	time_t		first_seen;
	time_t		last_seen;
} cb_store_device_t;

typedef struct {
	cb_store_device_t	*items;
	size_t			count;
} cb_store_devices_t;

/**
 * cb_store_devices - each (person, device) with sessions seen at or after
 * since, by person then most recently seen; identity NULL/"" for everyone.
 */
int cb_store_devices(cb_store_t *store, char const *identity, time_t since, cb_store_devices_t *out);

void cb_store_devices_free(cb_store_devices_t *list);

/**
 * cb_store_sessions_since - every session with a known person that was
 * open at or after since (open now, or stopped at or after it), by person
 * then start, at most limit (0: all): the sharing report's overlaps.
 */
int cb_store_sessions_since(cb_store_t *store, time_t since, size_t limit, cb_store_sessions_t *out);

/*
 *	Devices known per person (policy { max_devices }, the sharing report)
 *	and IT's forgetting of them (cetbyodctl devices forget).
 */
typedef struct {
	char		identity[CB_STORE_TEXT_MAX + 1];
	char		mac[CB_STORE_MAC_MAX + 1];		/* AA-BB-CC-DD-EE-FF. */
	time_t		first_seen;
	time_t		last_seen;
	char		nas[CB_STORE_TEXT_MAX + 1];		/* Where it was last seen. */
	bool		counted;				/* Let in by the device limit. */
} cb_store_known_device_t;

typedef struct {
	cb_store_known_device_t	*items;
	size_t			count;
} cb_store_known_devices_t;

#define CB_STORE_DEVICES_PER_PERSON 100	/* Rows kept per person; a new one beyond replaces the least recently seen. */

/**
 * cb_store_device_seen - identity was seen (refused by a device limit:
 * !counted) on the device mac (cb_mac_normalise form) at NAS nas (may be
 * "") at now.  A new device is added (replacing the person's least recently
 * seen one when they have CB_STORE_DEVICES_PER_PERSON); a known one gets
 * last_seen and nas; counted only ever goes from false to true (forgetting
 * is the way back).  Admissions need not call it: cb_store_decision_put
 * records the decision's device (its calling_station, when a MAC), counted
 * unless its reason is device_limit or concurrent_limit.  Returns 0 or -1.
 */
int cb_store_device_seen(cb_store_t *store, char const *identity, char const *mac, char const *nas, bool counted,
			 time_t now);

/** One device seen, for cb_store_devices_seen. */
typedef struct {
	char		identity[CB_STORE_TEXT_MAX + 1];
	char		mac[18];			/* AA-BB-CC-DD-EE-FF (cb_mac_normalise). */
	char		nas[CB_STORE_TEXT_MAX + 1];
	bool		counted;
	time_t		when;
} cb_store_seen_t;

/**
 * cb_store_devices_seen - cb_store_device_seen for n devices in one
 * transaction (the module's devices writer batches them off the request
 * path).  An invalid item is logged and skipped.  Returns 0 or -1.
 */
int cb_store_devices_seen(cb_store_t *store, cb_store_seen_t const *items, size_t n);

/**
 * cb_store_devices_known - the devices of identity (NULL/"": everyone's)
 * last seen at or after since, by person then most recently seen.
 */
int cb_store_devices_known(cb_store_t *store, char const *identity, time_t since, cb_store_known_devices_t *out);

void cb_store_known_devices_free(cb_store_known_devices_t *list);

/**
 * cb_store_person_now - for the request path's device limits, in one call:
 * identity's devices (as cb_store_devices_known with since 0; devices NULL:
 * not read) and open sessions (as cb_store_active_for_user).  Unlike every other call it
 * does not commit the deferred decisions first (defer_decisions), so an
 * Access-Accept never waits for that commit; neither list depends on
 * them.  0, or -1 (both empty).
 */
int cb_store_person_now(cb_store_t *store, char const *identity, cb_store_known_devices_t *devices,
			cb_store_sessions_t *sessions);

/**
 * cb_store_devices_forget - forget identity's devices (only mac, when not
 * NULL/""), and record who did it and why (reason: CB_STORE_REASON_MAX, by:
 * CB_STORE_BY_MAX, both cb_store_text_valid) in one transaction; the
 * running module copies the record into the audit trail.  *removed (may
 * be NULL): devices removed.  Returns 0, 1 when there was none to forget
 * (nothing recorded), -1.
 */
int cb_store_devices_forget(cb_store_t *store, char const *identity, char const *mac, char const *reason,
			    char const *by, time_t now, size_t *removed);

typedef struct {
	int64_t		id;
	char		identity[CB_STORE_TEXT_MAX + 1];
	char		mac[CB_STORE_MAC_MAX + 1];		/* "" for all of the person's devices. */
	char		reason[CB_STORE_REASON_MAX + 1];
	char		by[CB_STORE_BY_MAX + 1];
	time_t		at;
	size_t		removed;
} cb_store_device_forget_t;

typedef struct {
	cb_store_device_forget_t	*items;
	size_t				count;
} cb_store_device_forgets_t;

/** cb_store_device_forgets - the forgets recorded with an id above after, oldest first. */
int cb_store_device_forgets(cb_store_t *store, int64_t after, cb_store_device_forgets_t *out);

void cb_store_device_forgets_free(cb_store_device_forgets_t *list);

/*
 *	Reminders sent (each at most once per address, expiry and window).
 */
typedef struct {
	char		identity[CB_STORE_TEXT_MAX + 1];
	char		email[CB_STORE_TEXT_MAX + 1];
	time_t		ack_expiry;
	unsigned int	window_days;
	time_t		sent_at;
	char		result[CB_STORE_NAME_MAX + 1];		/* "sent", "failed". */
	char		detail[CB_STORE_DETAIL_MAX + 1];
} cb_store_reminder_t;

typedef struct {
	cb_store_reminder_t	*items;
	size_t			count;
} cb_store_reminders_t;

/**
 * cb_store_reminder_put - record a reminder (result "sent" or "failed").
 * Returns 0, 1 when one for the same address, expiry and window is
 * already recorded (nothing changed), -1.
 */
int cb_store_reminder_put(cb_store_t *store, cb_store_reminder_t const *r);

/**
 * cb_store_reminder_claim - before sending r (r->result ignored): claim
 * the reminder for (email, ack_expiry, window_days), so that of the
 * servers sharing a store exactly one sends it.  0: claimed, send it, then
 * record the outcome with cb_store_reminder_put, or give the claim back
 * with cb_store_reminder_unclaim when the relay failed for now; 1: sent, or
 * claimed by another server (a claim older than 10 minutes, of a server
 * that died while sending, may be taken over); -1.  On SQLite (one server)
 * as cb_store_reminder_sent.
 */
int cb_store_reminder_claim(cb_store_t *store, cb_store_reminder_t const *r);

/** cb_store_reminder_unclaim - give back a claim not followed by a sent or failed reminder: 0 or -1. */
int cb_store_reminder_unclaim(cb_store_t *store, char const *email, time_t ack_expiry, unsigned int window_days);

/** cb_store_reminder_sent - 1 when a reminder for (email, ack_expiry, window_days) is recorded, 0 not, -1. */
int cb_store_reminder_sent(cb_store_t *store, char const *email, time_t ack_expiry, unsigned int window_days);

/** cb_store_reminders - reminders recorded since since, newest first. */
int cb_store_reminders(cb_store_t *store, time_t since, cb_store_reminders_t *out);

void cb_store_reminders_free(cb_store_reminders_t *list);

/*
 *	Disconnect queue (RFC 5176): what the enforcer must send, retries
 *	and held bursts included.
 */
typedef enum {
	CB_DISC_DISCONNECT = 0,		/* Disconnect-Request. */
	CB_DISC_COA			/* CoA-Request. */
} cb_disc_kind_t;

typedef enum {
	CB_DISC_PENDING = 0,		/* To send at next_attempt. */
	CB_DISC_HELD,			/* Part of a burst held for an admin (cetbyodctl confirm). */
	CB_DISC_DONE,			/* ACKed. */
	CB_DISC_FAILED,			/* Given up. */
	CB_DISC_CANCELLED		/* A held entry the admin discarded. */
} cb_disc_state_t;

typedef enum {
	CB_DISC_NONE = 0,		/* Not attempted yet. */
	CB_DISC_ACKED,
	CB_DISC_NAK,			/* With an Error-Cause. */
	CB_DISC_TIMEOUT
} cb_disc_result_t;

typedef struct {
	int64_t		id;
	char		nas[CB_STORE_TEXT_MAX + 1];
	char		acct_session_id[CB_STORE_TEXT_MAX + 1];
	char		identity[CB_STORE_TEXT_MAX + 1];
	char		reason[CB_STORE_REASON_MAX + 1];
	cb_disc_kind_t	kind;
	cb_disc_state_t	state;
	unsigned int	attempts;
	time_t		created_at;
	time_t		next_attempt;
	time_t		last_attempt;		/* 0: never. */
	cb_disc_result_t last_result;
	unsigned int	error_cause;		/* RFC 5176 Error-Cause of the last NAK; 0: none. */
	char		detail[CB_STORE_DETAIL_MAX + 1];
} cb_store_disconnect_t;

typedef struct {
	cb_store_disconnect_t	*items;
	size_t			count;
} cb_store_disconnects_t;

char const *cb_disc_kind_name(cb_disc_kind_t kind);		/* "disconnect", "coa". */
char const *cb_disc_state_name(cb_disc_state_t state);		/* "pending", "held", ... */
char const *cb_disc_result_name(cb_disc_result_t result);	/* "", "acked", "nak", "timeout". */

/**
 * cb_store_disconnect_enqueue - queue a request for the session (nas,
 * acct_session_id), due at now; held: straight into the held state.
 * *id (may be NULL) gets its id.  Returns 0; 1 when one of that kind is
 * already pending or held for that session (*id is that one; nothing
 * changes); -1.
 */
int cb_store_disconnect_enqueue(cb_store_t *store, char const *nas, char const *acct_session_id,
				char const *identity, char const *reason, cb_disc_kind_t kind, bool held,
				time_t now, int64_t *id);

/** cb_store_disconnect_due - pending requests with next_attempt <= now, oldest first, at most limit (0: all). */
int cb_store_disconnect_due(cb_store_t *store, time_t now, size_t limit, cb_store_disconnects_t *out);

/**
 * cb_store_disconnect_claim - a pending request was handed to the sender:
 * it is not due again before until (when its outcome is marked first, the
 * mark sets the next attempt).  A request whose sender went away (radiusd
 * stopped) is thus tried again at until.  Returns 0, 1 when id is not
 * pending, -1.
 */
int cb_store_disconnect_claim(cb_store_t *store, int64_t id, time_t until);

/**
 * cb_store_disconnect_take - the due requests (as cb_store_disconnect_due),
 * each claimed until until in the same step, so that servers sharing a
 * store never take the same request: PostgreSQL claims them with FOR
 * UPDATE SKIP LOCKED and names this server in claimed_by.  A server that
 * dies holding claims leaves them due again at until (the lease), for
 * another server to take.  Returns 0 or -1.
 */
typedef struct cb_store_watch cb_store_watch_t;
typedef void (*cb_store_change_fn)(void *ctx);

/**
 * cb_store_watch_start - call fn(ctx), on a thread of the store's own, as
 * soon as a revocation, reinstatement, exception or command is committed
 * by any server or cetbyodctl sharing the store, and again whenever the
 * watch had to reconnect (re-read everything then).  PostgreSQL: LISTEN on
 * a connection of its own.  NULL when the backend has nothing to watch
 * (SQLite: the enforcer's periodic re-read is the way) or on failure (err
 * set; err[0] is '\0' for the former).
 */
cb_store_watch_t *cb_store_watch_start(cb_store_t *store, cb_store_change_fn fn, void *ctx, char *err,
				       size_t errlen);

/** cb_store_watch_stop - stop and free the watch (fn is not called after it returns).  NULL-safe. */
void cb_store_watch_stop(cb_store_watch_t *w);

int cb_store_disconnect_take(cb_store_t *store, time_t now, time_t until, size_t limit,
			     cb_store_disconnects_t *out);

/**
 * cb_store_disconnect_mark - record an attempt's outcome.  ACKED: done.
 * NAK with Error-Cause 503 (Session Context Not Found): done too, and the
 * session still open under that key is closed (stop cause
 * "Session-Context-Not-Found"): the NAS has nothing left to disconnect.
 * Other NAKs, and TIMEOUT: pending again at next_attempt, or failed when
 * next_attempt is 0.  error_cause is the NAK's Error-Cause (0 otherwise);
 * detail may be NULL.  Returns 0, 1 when id is not pending, -1.
 */
int cb_store_disconnect_mark(cb_store_t *store, int64_t id, cb_disc_result_t result, unsigned int error_cause,
			     char const *detail, time_t next_attempt, time_t now);

/** cb_store_disconnect_hold - move these pending requests to held.  *held (may be NULL): how many moved.  0, 1 none, -1. */
int cb_store_disconnect_hold(cb_store_t *store, int64_t const *ids, size_t n, size_t *held);

/** cb_store_disconnect_confirm_held - every held request becomes pending, due at now: 0, 1 none held, -1. */
int cb_store_disconnect_confirm_held(cb_store_t *store, time_t now, size_t *released);

/** cb_store_disconnect_discard_held - every held request is cancelled: 0, 1 none held, -1. */
int cb_store_disconnect_discard_held(cb_store_t *store, time_t now, size_t *discarded);

/**
 * cb_store_disconnects - requests in one state, oldest first (failed and
 * done: newest first), at most limit (0: all).  cb_store_list_held is this
 * with CB_DISC_HELD.
 */
int cb_store_disconnects(cb_store_t *store, cb_disc_state_t state, size_t limit, cb_store_disconnects_t *out);
int cb_store_list_held(cb_store_t *store, cb_store_disconnects_t *out);

void cb_store_disconnects_free(cb_store_disconnects_t *list);

/*
 *	Commands from cetbyodctl to the running module
 */
typedef enum {
	CB_CMD_SYNC = 0,		/* Sync the acknowledgement source now. */
	CB_CMD_SYNC_FULL,		/* ... with a complete re-read. */
	CB_CMD_CONFIRM,			/* Held disconnects were released: send them now. */
	CB_CMD_ACCEPT_MASS_REMOVAL,	/* Apply the held sync: arg "" the mass-removal guard's, "rebind" a
					 * re-created question's (confirm --rebind). */
	CB_CMD_ENFORCE,			/* Revocations changed (arg: the identity): disconnect now. */
	CB_CMD_MAX
} cb_cmd_t;

typedef struct {
	int64_t		id;
	cb_cmd_t	cmd;
	char		arg[CB_STORE_TEXT_MAX + 1];	/* "" when none. */
	char		by[CB_STORE_BY_MAX + 1];
	time_t		created_at;
} cb_store_command_t;

typedef struct {
	cb_store_command_t	*items;
	size_t			count;
} cb_store_commands_t;

char const *cb_cmd_name(cb_cmd_t cmd);		/* "sync", "sync-full", "confirm", "accept-mass-removal", "enforce". */
int cb_cmd_from_name(char const *name);		/* -1 when unknown. */

/** cb_store_command_enqueue - queue a command (arg, by may be NULL).  0 or -1. */
int cb_store_command_enqueue(cb_store_t *store, cb_cmd_t cmd, char const *arg, char const *by, time_t now);

/**
 * cb_store_commands_take - every queued command, oldest first, removed from
 * the queue in the same transaction (each is taken by one caller only).
 * 0 (out filled, perhaps empty), -1 (out empty, queue unchanged).
 */
int cb_store_commands_take(cb_store_t *store, cb_store_commands_t *out);

void cb_store_commands_free(cb_store_commands_t *list);

/*
 *	Status
 */
typedef struct {
	char		key[CB_STORE_KEY_MAX + 1];
	char		value[CB_STORE_VALUE_MAX + 1];
	time_t		updated_at;
} cb_store_status_t;

typedef struct {
	cb_store_status_t	*items;
	size_t			count;
} cb_store_statuses_t;

/** cb_store_status_put - set key ([a-z0-9._-], 1..64) to value (no NUL, <= 1024 bytes).  0 or -1. */
int cb_store_status_put(cb_store_t *store, char const *key, char const *value, time_t now);

/** cb_store_status_get - value of key into buf (<= CB_STORE_VALUE_MAX + 1 needed): 0, 1 unset, -1. */
int cb_store_status_get(cb_store_t *store, char const *key, char *buf, size_t len, time_t *updated_at);

/** cb_store_status_time - a status value holding decimal UTC seconds; 0 when unset or not a time. */
time_t cb_store_status_time(cb_store_t *store, char const *key);

/** cb_store_status_put_time - set key to t as decimal UTC seconds.  0 or -1. */
int cb_store_status_put_time(cb_store_t *store, char const *key, time_t t, time_t now);

/** cb_store_statuses - every key, sorted.  0 or -1. */
int cb_store_statuses(cb_store_t *store, cb_store_statuses_t *out);

void cb_store_statuses_free(cb_store_statuses_t *list);

/*
 *	Counts and housekeeping
 */
typedef struct {
	size_t	decisions;
	size_t	sessions;		/* Open and closed. */
	size_t	sessions_active;
	size_t	people_active;		/* Distinct identities with an open session. */
	size_t	revocations;		/* In force. */
	size_t	disc_pending;
	size_t	disc_held;
	size_t	disc_failed;
	size_t	commands;		/* Queued, not yet taken. */
} cb_store_counts_t;

int cb_store_counts(cb_store_t *store, cb_store_counts_t *out);

/**
 * cb_store_purge - delete what is older than before: closed sessions
 * (stopped before it), decisions no open session refers to, finished
 * disconnects, ended revocations, exceptions ended or lapsed before it,
 * reminders sent before it, devices last seen before it and devices
 * forgotten before it.  *removed (may be NULL): rows
 * deleted.  0, 1 nothing to delete, -1.
 */
int cb_store_purge(cb_store_t *store, time_t before, size_t *removed);

/** cb_store_schema - the SQL that creates a current SQLite store (schema/sql/cetbyod.sql). */
char const *cb_store_schema(void);

/*
 *	The audit index (schema/sql/audit.sql): a copy of the audit trail's
 *	records, indexed for cetbyodctl's queries.  The trail (lib/audit)
 *	copies each record here once its file holds it, and reads it back
 *	only through these functions; the file stays the record of
 *	authority.  In the database of the store, so that one backend holds
 *	all the state.
 */
#define CB_STORE_HASH_HEX	64	/* An audit record's hash: SHA-256 as lower-case hex. */
#define CB_STORE_AUDIT_LIMIT	100000	/* Rows one audit query returns at most. */

/** cb_store_hash_valid - whether s is an audit record's hash: CB_STORE_HASH_HEX lower-case hex digits. */
bool cb_store_hash_valid(char const *s);

/** One audit record, as the index keeps it.  Text left NULL is stored as "". */
typedef struct {
	int64_t		seq;			/* > 0. */
	time_t		time;
	char const	*type;			/* cb_audit_type_name(); required. */
	char const	*identity;
	char const	*outer_identity;
	char const	*calling_station;
	char const	*mac;			/* calling_station by cb_mac_normalise; "" when not a MAC. */
	char const	*nas;
	char const	*ap;
	char const	*ssid;
	char const	*framed_ip;
	char const	*acct_session_id;
	char const	*status;
	char const	*reason;
	char const	*by;
	time_t		session_start;		/* A session record's bounds as it knows them; 0: unknown. */
	time_t		session_stop;
	char const	*hash;			/* CB_STORE_HASH_HEX lower-case hex digits; required. */
	char const	*record;		/* The whole line as written, without its newline; required. */
	size_t		record_len;
	char const	*ref;			/* The action the record holds (audit.sql: audit_refs); NULL: none. */
} cb_store_audit_entry_t;

/** What cb_store_audit_query selects; each field given (not NULL, not 0) must match exactly. */
typedef struct {
	char const	*identity;
	char const	*mac;			/* AA-BB-CC-DD-EE-FF (cb_mac_normalise). */
	char const	*nas;
	char const	*ssid;
	char const	*ip;			/* Framed-IP-Address, as text. */
	char const	*type;			/* A cb_audit_type_name(). */
	time_t		from, to;		/* Inclusive; 0: open. */
	size_t		limit;			/* 0: CB_STORE_AUDIT_LIMIT. */
} cb_store_audit_filter_t;

/** One row of the index.  Strings are malloc'd ("" when empty) and freed with the list. */
typedef struct {
	int64_t		seq;
	time_t		time;
	char		type[32];
	char		*identity, *outer_identity, *calling_station, *nas, *ssid, *framed_ip,
			*acct_session_id, *status, *reason, *by;
	char		*record;		/* The whole JSON line as written (minus its newline). */
	time_t		session_start;		/* 0: unknown. */
	time_t		session_stop;
	char		server_id[CB_STORE_NAME_MAX + 1]; /* PostgreSQL: the server whose trail holds it; SQLite: "". */
} cb_store_audit_row_t;

typedef struct {
	cb_store_audit_row_t	*items;
	size_t			count;
} cb_store_audit_rows_t;

/**
 * cb_store_audit_attach - make the store ready to take audit records
 * (create the index when it is missing).  A store that never had this
 * call reads as an empty index.  0 or -1.
 */
int cb_store_audit_attach(cb_store_t *store);

/**
 * cb_store_audit_put - add n records to the index in one transaction: all
 * or none.  Needs cb_store_audit_attach first.  0 or -1.
 */
int cb_store_audit_put(cb_store_t *store, cb_store_audit_entry_t const *entries, size_t n);

/** cb_store_audit_last - seq and hash of the index's last record: 0 (filled), 1 none, -1. */
int cb_store_audit_last(cb_store_t *store, uint64_t *seq, char hash[CB_STORE_HASH_HEX + 1]);

/**
 * cb_store_audit_count - how many records the index holds with seq in
 * [from, to] (*count), and the lowest of them (*first; 0: none): a range
 * scan of the primary key, for audit verify's check that the index holds
 * every record of the files.  0, or -1.  A store without the table holds
 * none.
 */
int cb_store_audit_count(cb_store_t *store, uint64_t from, uint64_t to, uint64_t *count, uint64_t *first);

/** What cb_store_audit_tally calls once per group: its two names and how many records it has. */
typedef void (*cb_store_tally_fn)(void *ctx, char const *first, char const *second, uint64_t n);

/**
 * cb_store_audit_tally - the index's records of one type, counted in
 * groups: "decision" by status and reason (a summary of coalesced
 * refusals counts as the refusals it stands for); "disconnect" by the attempt's
 * result (acked, nak, timeout, failed; second is "").  fn is called under
 * the store's lock: it must not call the store.  A full scan of the index
 * (for cetbyodctl metrics).  0, or -1 (type not one of those, or an error).
 */
int cb_store_audit_tally(cb_store_t *store, char const *type, cb_store_tally_fn fn, void *ctx);

/**
 * cb_store_audit_has_ref - whether the index holds a record of the action
 * ref (schema/sql/audit.sql, audit_refs): 1 yes, 0 no (also when the store
 * has no index yet), -1 error.
 */
int cb_store_audit_has_ref(cb_store_t *store, char const *ref);

/**
 * cb_store_audit_query - matching records, oldest first (PostgreSQL: of
 * every server, each row naming its server_id).  0 (out filled, perhaps empty) or -1 (out empty). */
int cb_store_audit_query(cb_store_t *store, cb_store_audit_filter_t const *filter, cb_store_audit_rows_t *out);

/**
 * cb_store_audit_sessions - the session_start and session_stop records of
 * every session (nas, acct_session_id) that had the address ip (at nas
 * only, when nas is not NULL/""), by session and then in chain order.
 * 0 (out filled, perhaps empty) or -1.
 */
int cb_store_audit_sessions(cb_store_t *store, char const *ip, char const *nas, cb_store_audit_rows_t *out);

void cb_store_audit_rows_free(cb_store_audit_rows_t *rows);

/** cb_store_audit_purge - delete index rows older than before.  *removed (may be NULL): how many.  0, 1 none, -1. */
int cb_store_audit_purge(cb_store_t *store, time_t before, size_t *removed);

/**
 * cb_store_retention_purge - the retention purge: the audit index's rows,
 * then the store's old records (cb_store_purge), older than before.  The
 * counts go to *audit_removed and *store_removed.  0, or -1 with err
 * saying which part failed (what was purged before it stays purged; the
 * reason went to the log).  The audit files are logrotate's, not touched.
 */
int cb_store_retention_purge(cb_store_t *store, time_t before, size_t *store_removed, size_t *audit_removed,
			     char *err, size_t errlen);

/** cb_store_audit_schema - the SQL of the audit index (schema/sql/audit.sql). */
char const *cb_store_audit_schema(void);

/*
 *	Subject access: everything the store holds about one person.
 */
typedef enum {
	CB_STORE_FIELD_NULL = 0,
	CB_STORE_FIELD_INT,
	CB_STORE_FIELD_REAL,
	CB_STORE_FIELD_TEXT
} cb_store_field_type_t;

/** One column of one row: its name and value. */
typedef struct {
	char const		*name;
	cb_store_field_type_t	type;
	int64_t			i;
	double			real;
	char const		*text;		/* Any bytes the row holds, NUL-terminated. */
} cb_store_field_t;

/**
 * What cb_store_export_person calls: for each kind of record the store
 * keeps ("people", "decisions", "sessions", "revocations", "disconnects",
 * "exceptions", "reminders", then "audit"), once with fields NULL (the
 * kind exists, perhaps with no rows), then once per row with its n
 * columns (every column, so a column added later is exported too; an
 * "audit" row has one column, "record", the line as written).  Returns 0
 * to go on, -1 to stop the export.
 */
typedef int (*cb_store_export_fn)(void *ctx, char const *kind, cb_store_field_t const *fields, size_t n);

/** cb_store_export_person - every record of identity, through fn.  0, or -1 (logged, or fn stopped it). */
int cb_store_export_person(cb_store_t *store, char const *identity, cb_store_export_fn fn, void *ctx);

/** What cb_store_copy reports per table, in order: its name and how many rows it copied. */
typedef void (*cb_store_copy_fn)(void *ctx, char const *table, uint64_t rows);

/**
 * cb_store_copy - copy everything the SQLite store src holds into the
 * PostgreSQL store dst (cetbyodctl migrate), in one transaction of dst:
 * every row of every table (sessions, decisions, revocations with their
 * history, exceptions, disconnects, commands, people, reminders, devices,
 * device_forgets, status, the audit index and its references), with its
 * ids; audit rows get dst's server_id.  A column dst has no place for
 * fails the copy (nothing lost silently).  dst must be empty unless
 * replace (then its rows are deleted first, in the same transaction).
 * fn (may be NULL) is called per table after the copy committed.
 * Returns 0; 1 when dst is not empty and !replace (nothing written); -1
 * with err set (nothing written).
 */
int cb_store_copy(cb_store_t *src, cb_store_t *dst, bool replace, cb_store_copy_fn fn, void *ctx, char *err,
		  size_t errlen);

#endif
