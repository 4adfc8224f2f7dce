-- audit.sql - the audit table in cetbyod's state store (SQLite): a copy of
-- the hash-chained audit trail, indexed for cetbyodctl's queries.
--
-- The JSON lines file the module writes is the record of authority; this
-- table is an index of it.  The module's audit writer (lib/audit/audit.c)
-- inserts each record here after the file holds it, on its own connection
-- to the store's database, and runs this file (make turns it into a C
-- string) when it attaches to a store that lacks the table.  Every
-- statement is idempotent.
--
-- Conventions as in cetbyod.sql: times are UTC seconds; '' means absent.
-- mac is the Calling-Station-Id normalised to AA-BB-CC-DD-EE-FF ('' when it
-- is not a MAC); session_start/session_stop are the session's bounds as
-- the record knows them (NULL when it does not), so that "who had this
-- address at that moment" needs no join with sessions, which are purged
-- on their own schedule.  A summary of coalesced refusals (a decision with
-- "count", lib/audit/runs.c) has session_start = its "first" and
-- session_stop = its "last" (its time), so that a query for a moment inside
-- the run finds it.
CREATE TABLE IF NOT EXISTS audit (
	seq		INTEGER PRIMARY KEY,		-- the record's seq in the chain
	time		INTEGER NOT NULL,
	type		TEXT NOT NULL,			-- decision, session_start, ...
	identity	TEXT NOT NULL DEFAULT '',
	outer_identity	TEXT NOT NULL DEFAULT '',
	calling_station	TEXT NOT NULL DEFAULT '',
	mac		TEXT NOT NULL DEFAULT '',
	nas		TEXT NOT NULL DEFAULT '',
	ap		TEXT NOT NULL DEFAULT '',
	ssid		TEXT NOT NULL DEFAULT '',
	framed_ip	TEXT NOT NULL DEFAULT '',
	acct_session_id	TEXT NOT NULL DEFAULT '',
	status		TEXT NOT NULL DEFAULT '',
	reason		TEXT NOT NULL DEFAULT '',
	by		TEXT NOT NULL DEFAULT '',
	session_start	INTEGER,
	session_stop	INTEGER,
	hash		TEXT NOT NULL CHECK (length(hash) = 64),
	record		TEXT NOT NULL			-- the whole line, as written to the file
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
CREATE INDEX IF NOT EXISTS audit_identity ON audit (identity, time);
CREATE INDEX IF NOT EXISTS audit_mac ON audit (mac, time);
CREATE INDEX IF NOT EXISTS audit_framed_ip ON audit (framed_ip, time);
CREATE INDEX IF NOT EXISTS audit_nas ON audit (nas, time);
CREATE INDEX IF NOT EXISTS audit_ssid ON audit (ssid, time);
CREATE INDEX IF NOT EXISTS audit_session ON audit (nas, acct_session_id);

-- The administrative actions the trail holds, by a reference that names the
-- row and the instant: "revocation:<id>:revoke:<revoked_at>",
-- "revocation:<id>:reinstate:<reinstated_at>", "exception:<id>:grant:<granted_at>",
-- "exception:<id>:end:<instant>".  cetbyodctl makes these changes in the
-- store, not in the trail; the module records each change it finds here
-- missing, and the writer adds its reference in the same transaction as the
-- record, after the file holds it.  So each action is recorded once, whether
-- made in the same second as another or while radiusd was down (issue 15,
-- item 6).  Not purged: one short row per action, no personal data.
CREATE TABLE IF NOT EXISTS audit_refs (
	ref		TEXT PRIMARY KEY NOT NULL,
	seq		INTEGER NOT NULL		-- the record that holds it
) WITHOUT ROWID;
