-- cetbyod.sql - the schema of cetbyod's state store (SQLite), version 1.
--
-- make turns this file into a C string that lib/store/store.c runs, in
-- one transaction, when it creates a store.  A store is recognised by its application_id ('CBYD')
-- and its user_version (the schema version); a store of a newer version is
-- refused, an older one is migrated when it is opened.
--
-- Conventions: times are UTC seconds since 1970 (0 means none); text that
-- came from RADIUS is at most 253 bytes; identities are normalised as the
-- module's identity { } section says, and compared byte for byte.  The
-- module and cetbyodctl open the file with foreign_keys = ON, journal_mode
-- = WAL and synchronous = FULL.

-- One row per Access-Accept.  The reply carries Class = "cetbyod:<class_id>";
-- accounting echoes it, which ties a session, even one that shows only an
-- anonymous outer identity, to the person and the decision that admitted it.
CREATE TABLE decisions (
	class_id	TEXT PRIMARY KEY NOT NULL CHECK (length(class_id) = 32),
	identity	TEXT NOT NULL,			-- inner identity
	outer_identity	TEXT NOT NULL DEFAULT '',
	status		TEXT NOT NULL CHECK (status IN ('admit', 'onboard', 'restricted', 'reject')),
	reason		TEXT NOT NULL,			-- cb_reason_name(): acknowledged, ...
	decided_at	INTEGER NOT NULL,
	valid_until	INTEGER NOT NULL DEFAULT 0,	-- when the decision stops holding
	ack_time	INTEGER NOT NULL DEFAULT 0,
	policy_version	TEXT NOT NULL DEFAULT '',
	nas		TEXT NOT NULL DEFAULT '',	-- NAS-IP-Address, else NAS-Identifier
	calling_station	TEXT NOT NULL DEFAULT '',
	ack_email	TEXT NOT NULL DEFAULT ''	-- the address the acknowledgement was looked up under
);
CREATE INDEX decisions_decided_at ON decisions (decided_at);
CREATE INDEX decisions_identity ON decisions (identity);

-- One row per accounting session.  The key is (nas, acct_session_id): nas is
-- the address of the RADIUS client that sent the accounting (its source
-- address, which its secret vouches for), not what the packet names; the
-- packet's NAS-IP-Address and NAS-Identifier are nas_ip and nas_identifier,
-- shown and sent in Disconnect-Requests.  (Stores of earlier versions hold
-- the NAS-IP-Address there; it is the same address for most NASes, and a
-- session recorded under another is closed as stale.)  stopped is NULL while the
-- session is open; at most one open session has a given key.  Octet counters
-- are 64-bit unsigned (Acct-*-Gigawords included), stored as the signed
-- integer with the same bits.
CREATE TABLE sessions (
	id		INTEGER PRIMARY KEY,
	nas		TEXT NOT NULL,
	acct_session_id	TEXT NOT NULL,
	class_id	TEXT NOT NULL DEFAULT '',	-- '' when accounting carried no Class of ours
	identity	TEXT NOT NULL DEFAULT '',	-- inner identity; '' when unknown
	outer_identity	TEXT NOT NULL DEFAULT '',	-- User-Name in accounting
	calling_station	TEXT NOT NULL DEFAULT '',	-- the device's MAC
	called_station	TEXT NOT NULL DEFAULT '',
	ap		TEXT NOT NULL DEFAULT '',	-- AA-BB-CC-DD-EE-FF, from called_station
	ssid		TEXT NOT NULL DEFAULT '',	-- from called_station "MAC:SSID"
	framed_ip	TEXT NOT NULL DEFAULT '',
	nas_ip		TEXT NOT NULL DEFAULT '',
	nas_identifier	TEXT NOT NULL DEFAULT '',
	status		TEXT NOT NULL DEFAULT '',	-- status at admission, from the decision
	started		INTEGER NOT NULL,
	last_seen	INTEGER NOT NULL,
	stopped		INTEGER,
	stop_cause	TEXT NOT NULL DEFAULT '',	-- Acct-Terminate-Cause, NAS-Reboot, Stale
	in_octets	INTEGER NOT NULL DEFAULT 0,
	out_octets	INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX sessions_open ON sessions (nas, acct_session_id) WHERE stopped IS NULL;
CREATE INDEX sessions_key ON sessions (nas, acct_session_id);
CREATE INDEX sessions_open_identity ON sessions (identity) WHERE stopped IS NULL;
CREATE INDEX sessions_open_last_seen ON sessions (last_seen) WHERE stopped IS NULL;
CREATE INDEX sessions_stopped ON sessions (stopped);
CREATE INDEX sessions_class ON sessions (class_id);

-- Revocations by IT (cetbyodctl revoke).  reinstated_at is NULL while the
-- revocation is in force; ended ones are kept as history.
CREATE TABLE revocations (
	id		INTEGER PRIMARY KEY,
	identity	TEXT NOT NULL,
	reason		TEXT NOT NULL,
	revoked_by	TEXT NOT NULL,
	revoked_at	INTEGER NOT NULL,
	reinstated_by	TEXT NOT NULL DEFAULT '',
	reinstated_at	INTEGER
);
CREATE UNIQUE INDEX revocations_in_force ON revocations (identity) WHERE reinstated_at IS NULL;

-- The queue of RFC 5176 requests.  pending: to send at next_attempt; held:
-- part of a burst an admin must confirm; done: ACKed; failed: given up;
-- cancelled: a held request the admin discarded.  At most one pending or
-- held request of each kind per session.
CREATE TABLE disconnects (
	id		INTEGER PRIMARY KEY,
	session_id	INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
	nas		TEXT NOT NULL,
	acct_session_id	TEXT NOT NULL,
	identity	TEXT NOT NULL DEFAULT '',
	reason		TEXT NOT NULL DEFAULT '',
	kind		TEXT NOT NULL CHECK (kind IN ('disconnect', 'coa')),
	state		TEXT NOT NULL CHECK (state IN ('pending', 'held', 'done', 'failed', 'cancelled')),
	attempts	INTEGER NOT NULL DEFAULT 0,
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL,
	next_attempt	INTEGER NOT NULL,
	last_attempt	INTEGER NOT NULL DEFAULT 0,
	last_result	TEXT NOT NULL DEFAULT '' CHECK (last_result IN ('', 'acked', 'nak', 'timeout')),
	error_cause	INTEGER NOT NULL DEFAULT 0,	-- RFC 5176 Error-Cause of the last NAK
	detail		TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX disconnects_open ON disconnects (nas, acct_session_id, kind) WHERE state IN ('pending', 'held');
CREATE INDEX disconnects_state ON disconnects (state, next_attempt);
CREATE INDEX disconnects_session ON disconnects (session_id);

-- Commands from cetbyodctl to the running module, which takes them (and
-- deletes them) every second.
CREATE TABLE commands (
	id		INTEGER PRIMARY KEY,
	command		TEXT NOT NULL CHECK (command IN ('sync', 'sync-full', 'confirm', 'accept-mass-removal', 'enforce')),
	arg		TEXT NOT NULL DEFAULT '',
	requested_by	TEXT NOT NULL DEFAULT '',
	created_at	INTEGER NOT NULL
);

-- What the module reports for cetbyodctl status: sync.last_success, ...
CREATE TABLE status (
	key		TEXT PRIMARY KEY NOT NULL,
	value		TEXT NOT NULL,
	updated_at	INTEGER NOT NULL
) WITHOUT ROWID;

PRAGMA application_id = 1128421700;	-- 0x43425944, 'CBYD'
PRAGMA user_version = 1;
